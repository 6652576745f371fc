"""China SMS receipts: what Alibaba Cloud SMS pushes back (its HTTP batch push, one JSON array per push,
read by domain/cn_sms.py), acted on.

- A delivery report (SmsReport) is the delivery record Twilio's status callbacks make
  (services/record_status.py): its OutId is the survey id koe gave SendSms, its BizId the message id
  the sender recorded; success is `delivered`, a failure `undelivered` with Alibaba's code (DELIVERED,
  MK:..., UNDELIV ...). The ranks keep a pushed-twice or late report from changing anything; a failure
  leads where the lifecycle says (the survey by email, to a customer with a usable address; else failed).
- A reply (SmsUp): answers come by the survey page, so a reply is read for the opt-out words alone
  (退订, TD, T, 取消订阅 and their variants, read as Chinese). One opts the phone out of every survey
  (its contact: the one China SMS surveys are keyed by), ending its open survey `opted_out`; any other
  text is kept for the CX team as an SMS outside a conversation is (`keep_inbound`), keyed by the
  reply's sequence id, so a reply pushed twice is kept once.

Logs name the survey, the BizId and the sequence id; never the phone number or the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain import cn_sms
from chalicelib.domain import sms as sms_rules
from chalicelib.domain.cn_sms import SmsReport, SmsUp
from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.model import SurveyStatus
from chalicelib.observability import count, logger
from chalicelib.services import contacts
from chalicelib.services.handle_reply import AUDIT_WORDS, ReplyDeps, open_survey, opt_out
from chalicelib.services.ports import Inbound
from chalicelib.services.record_status import StatusCallback, StatusDeps, record_status

DELIVERED, UNDELIVERED = "delivered", "undelivered"
CHANNEL = "sms_cn"
REPLY_ID_PREFIX = "alibaba-up-"         # the inbox key of a reply: its sequence id, unique per reply
KEPT_REASON = "china_sms_reply"         # a reply that is not an opt-out: answers come by the page


@dataclass(frozen=True)
class ReceiptDeps:
    status: StatusDeps
    replies: ReplyDeps


def record_reports(reports: Sequence[SmsReport], deps: ReceiptDeps) -> list[dict[str, str]]:
    """Each delivery report of one push recorded on its survey; the outcome of each (no personal data)."""
    return [_report(report, deps) for report in reports]


def _report(report: SmsReport, deps: ReceiptDeps) -> dict[str, str]:
    if report.out_id is None or len(report.out_id) > MAX_EVENT_ID_CHARS:
        # koe always gives an OutId, a survey (event) id: a message sent by someone else
        count("CnSmsReportUnmatched")
        logger.warning("china sms report without a survey id as OutId", extra={"biz_id": report.biz_id})
        return {"biz_id": report.biz_id, "outcome": "no_survey"}
    status = DELIVERED if report.success else UNDELIVERED
    outcome = record_status(StatusCallback(report.out_id, report.biz_id, status,
                                           None if report.success else report.err_code), deps.status)
    count("CnSmsReport", status=status)
    logger.info("china sms report", extra={"survey_id": report.out_id, "biz_id": report.biz_id, "status": status,
                                           "err_code": None if report.success else report.err_code,
                                           "outcome": outcome, "sms_size": report.sms_size})
    return {"survey_id": report.out_id, "biz_id": report.biz_id, "status": status, "outcome": outcome}


def record_replies(ups: Sequence[SmsUp], deps: ReceiptDeps) -> list[dict[str, str]]:
    """Each reply of one push: an opt-out acted on, anything else kept for CX."""
    return [_reply(up, deps.replies) for up in ups]


def _reply(up: SmsUp, deps: ReplyDeps) -> dict[str, str]:
    now = deps.clock()
    message_id = f"{REPLY_ID_PREFIX}{up.sequence_id}"
    found = contacts.read(deps.store, up.phone, deps.contact_key, deps.contact_keys)
    survey = open_survey(found, now, deps)
    if cn_sms.is_opt_out(up.content):
        audit = f"{CHANNEL}:opt_out:{up.content.strip()[:AUDIT_WORDS]}"
        changed = opt_out(found, survey, message_id, audit, now, deps)
        count("OptOut", channel=CHANNEL, changed=str(changed).lower())
        logger.info("china sms opt-out", extra={"sequence_id": up.sequence_id, "changed": changed,
                                                "survey_id": survey.survey_id if survey else None})
        return {"sequence_id": str(up.sequence_id), "outcome": "opted_out" if changed else "already_opted_out"}
    body, cut = sms_rules.kept_reply(up.content)
    waiting = survey is not None and survey.status is not SurveyStatus.SCHEDULED
    deps.store.keep_inbound(Inbound(message_id, found.key, body, now, KEPT_REASON,
                                    survey_id=survey.survey_id if waiting and survey else None, truncated=cut))
    count("ReplyUnmatched", channel=CHANNEL)
    logger.info("china sms reply kept for CX", extra={"sequence_id": up.sequence_id, "length": len(up.content)})
    return {"sequence_id": str(up.sequence_id), "outcome": "kept"}
