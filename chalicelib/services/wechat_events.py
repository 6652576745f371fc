"""WeChat's event pushes to koe's service-account server URL (read by adapters/wechat.WeChatWebhook into
domain/wechat.WeChatNotice), acted on. WeChat is a one-way channel for koe: surveys are answered on the
page the template message opens, so what the account's followers send is read for what it means to koe:

- ``unsubscribe`` (the customer stopped following the account), a text with an opt-out word (退订, TD,
  T, 取消订阅, read as Chinese), or a template message WeChat reports ``failed:user block`` (the customer
  refused the account's messages): the openid's own contact opts out. WeChat is then passed over for
  this customer with the reason (``CN:email (wechat: blocked)``, services/dispatch.py), and no closing
  message goes there (services/case_schedule.py). Only WeChat: the phone and the email keep their own.
- Any other text is kept for the CX team, as an SMS outside a conversation is (``keep_inbound``, keyed
  by WeChat's MsgId: a push WeChat retries is kept once).
- ``subscribe``, a send-job report that is not a block, and any other event are counted and logged (a
  ``failed: system failed`` report is counted apart: an alarm can watch it); nothing else changes.
  Following again does not opt back in (as LINE's follow: an opt-out is undone by the customer's
  word only).

Every outcome is idempotent on its own (an opt-out written twice is one; a kept text is keyed), so a
push WeChat retries (no answer within 5 s: it retries three times) changes nothing more. Logs name the
kind and WeChat's ids, never the openid or the text.
"""

from __future__ import annotations

from chalicelib.domain import sms as sms_rules
from chalicelib.domain import wechat
from chalicelib.domain.model import SurveyStatus
from chalicelib.domain.wechat import DeliveryOutcome, NoticeKind, WeChatNotice
from chalicelib.observability import count, logger
from chalicelib.services import contacts
from chalicelib.services.handle_reply import AUDIT_WORDS, ReplyDeps, open_survey
from chalicelib.services.ports import Inbound

CHANNEL = "wechat"
MESSAGE_ID_PREFIX = "wechat-"           # the inbox key of a kept text: WeChat's MsgId, unique per message
KEPT_REASON = "wechat_message"          # a text that is not an opt-out: answers come by the page


def handle_notice(notice: WeChatNotice, deps: ReplyDeps) -> dict[str, str]:
    """Act on one push; what was done (no personal data), as the route answers it."""
    if _opts_out(notice):
        return _opt_out(notice, deps)
    if notice.kind is NoticeKind.TEXT:
        return _keep(notice, deps)
    outcome = notice.status.value if notice.kind is NoticeKind.SEND_FINISHED and notice.status else notice.kind.value
    count("WeChatNotice", kind=notice.kind.value, outcome=outcome)
    logger.info("wechat notice", extra={"kind": notice.kind.value, "wechat_type": notice.wechat_type,
                                        "msg_id": notice.msg_id, "outcome": outcome})
    return {"kind": notice.kind.value, "outcome": outcome}


def _opts_out(notice: WeChatNotice) -> bool:
    if notice.kind is NoticeKind.UNSUBSCRIBE:
        return True
    if notice.kind is NoticeKind.TEXT:
        return wechat.is_opt_out(notice.text or "")
    return notice.kind is NoticeKind.SEND_FINISHED and notice.status is DeliveryOutcome.BLOCKED


def _opt_out(notice: WeChatNotice, deps: ReplyDeps) -> dict[str, str]:
    found = contacts.read(deps.store, notice.openid, deps.contact_key, deps.contact_keys)
    already = found.contact is not None and found.contact.opted_out
    words = (notice.text or "").strip()[:AUDIT_WORDS] if notice.kind is NoticeKind.TEXT else notice.kind.value
    deps.store.set_opt_out(found.key, True, f"{CHANNEL}:opt_out:{words}", deps.clock())
    count("OptOut", channel=CHANNEL, changed=str(not already).lower())
    logger.info("wechat opt-out", extra={"kind": notice.kind.value, "msg_id": notice.msg_id, "changed": not already})
    return {"kind": notice.kind.value, "outcome": "already_opted_out" if already else "opted_out"}


def _keep(notice: WeChatNotice, deps: ReplyDeps) -> dict[str, str]:
    now = deps.clock()
    found = contacts.read(deps.store, notice.openid, deps.contact_key, deps.contact_keys)
    survey = open_survey(found, now, deps)
    body, cut = sms_rules.kept_reply(notice.text or "")
    waiting = survey is not None and survey.status is not SurveyStatus.SCHEDULED
    deps.store.keep_inbound(Inbound(f"{MESSAGE_ID_PREFIX}{notice.msg_id or notice.dedupe_key}", found.key, body, now,
                                    KEPT_REASON, survey_id=survey.survey_id if waiting and survey else None,
                                    truncated=cut))
    count("ReplyUnmatched", channel=CHANNEL)
    logger.info("wechat text kept for CX", extra={"msg_id": notice.msg_id, "length": len(notice.text or "")})
    return {"kind": notice.kind.value, "outcome": "kept"}
