"""The one send path: any service that sends a survey message (dispatch today; deferred sends,
the reminder and the closing message from the schedule later) comes through `send_survey`.

Each channel has one `SurveySender` (services/ports.py), chosen by the channel recorded on the
survey. What the carrier answers is carried out the same way for every channel: the survey moves
to `sent` with the carrier's message id, or ends as `failed` with its reason, freeing the contact's
slot (and opting the contact out when the carrier says the customer did).

Every send is made under a claim: the survey is `sending` with a lease (domain/survey_lifecycle.py),
written on condition that nobody claimed it meanwhile (`claim`, or the write that opens or releases
the survey). Once the carrier has taken the message, its record is the one write that must not be
lost: it is tried again in the function a few times; if the store still fails, the survey stays
claimed and the carrier's status callback records the message (services/record_status.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from chalicelib.domain import cn_sms, line, wechat
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.domain.questions import Scale, scale_of, scores
from chalicelib.errors import (
    NoSender,
    RecipientOptedOut,
    RetryableError,
    SendNotRecorded,
    StaleSurvey,
    TemplateRejected,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.ports import (
    CnSms,
    ConversationStore,
    EmailSender,
    EmailTemplates,
    LineMessenger,
    Messages,
    OutgoingEmail,
    SmsSender,
    SurveyLinks,
    SurveySender,
    WeChatMessenger,
)

INVITATION = "invitation"
# The messages that ask for the score: on LINE, a push with one quick-reply button per score.
ASKS_FOR_A_SCORE = frozenset({INVITATION, "reminder"})
# After the carrier took the message: the record is written again after these pauses (seconds)
# while the store throttles or fails, before the survey is left to its lease.
RECORD_RETRIES = (0.2, 0.5, 1.0)


@dataclass(frozen=True)
class SmsSurveySender:
    """Two-way SMS: the `sms` templates, worded for the survey's scale ("Reply 1-5"), sent to the
    survey's phone with a status callback that names the survey (the callback route finds the survey by it)."""

    sms: SmsSender
    messages: Messages
    status_callback_url: str

    def send(self, survey: Survey, message: str) -> str:
        body = self.messages.render("sms", survey.locale, message, scale=survey.scale, procedure=survey.procedure)
        return self.sms.send(survey.phone or "", body, _callback(self.status_callback_url, survey))


@dataclass(frozen=True)
class SmsLinkSurveySender:
    """One-way SMS with a link to the web survey, where carriers take no replies (Japan): the
    `sms_link` templates, the survey's signed link, the same status callback as two-way SMS."""

    sms: SmsSender
    messages: Messages
    status_callback_url: str
    link_for: Callable[[Survey], str]

    def send(self, survey: Survey, message: str) -> str:
        body = self.messages.render("sms_link", survey.locale, message, scale=survey.scale,
                                    procedure=survey.procedure, link=self.link_for(survey))
        return self.sms.send(survey.phone or "", body, _callback(self.status_callback_url, survey))


@dataclass(frozen=True)
class EmailSurveySender:
    """Email (SES): the `email` templates in the survey's language, with one-tap buttons for the
    survey's scale (0-10, 1-5 or 1-7, its end labels beside them) that open the web survey with
    `?score=N` (the page pre-selects the score; it counts only when the customer sends the form,
    since mail scanners open every link) and an unsubscribe link, also
    given as the List-Unsubscribe header with one-click POST (RFC 8058). The closing message asks
    nothing: its template has no buttons and no survey link, the unsubscribe link and header stay."""

    email: EmailSender
    templates: EmailTemplates
    link_for: Callable[[Survey], str]
    unsubscribe_link_for: Callable[[Survey], str]
    contact_key: Callable[[str], str]        # the address's contact, when SES says it opted out

    def send(self, survey: Survey, message: str) -> str:
        if not survey.email:        # the channel policy picks email only with an address: a bug
            raise UndeliverableRecipient("no_address", "the survey has no email address", carrier="email")
        links = score_links(self.link_for(survey), self.unsubscribe_link_for(survey), scale_of(survey.scale))
        content = self.templates.render(message, survey.locale, survey.procedure, links, scale=survey.scale)
        try:
            return self.email.send(OutgoingEmail(survey.email, content, links.unsubscribe, survey.survey_id))
        except RecipientOptedOut as exc:     # the address's contact opts out, not the phone's
            raise RecipientOptedOut(str(exc), contact_key=self.contact_key(survey.email),
                                    audit=exc.audit) from exc


@dataclass(frozen=True)
class LineSurveySender:
    """LINE: the `line` templates in the survey's language, worded for its scale, pushed to the
    survey's LINE user id. The invitation and the reminder carry one quick-reply button per score of
    the scale (NPS 0-10: 11 buttons, CSAT 1-5, CES 1-7; a tap sends the score as the customer's
    message); the closing message asks nothing. Each push carries a retry key named by the survey and
    the message (`line.retry_key`): a send replayed after a timeout within 24 hours delivers nothing
    twice. LINE reports no delivery: the request id is the message id."""

    line: LineMessenger
    messages: Messages

    def send(self, survey: Survey, message: str) -> str:
        if not survey.line_user_id:     # the channel policy picks LINE only with a user id: a bug
            raise UndeliverableRecipient("no_address", "the survey has no LINE user id", carrier="line")
        text = self.messages.render("line", survey.locale, message, scale=survey.scale, procedure=survey.procedure)
        key = line.retry_key(survey.survey_id, message)
        if message in ASKS_FOR_A_SCORE:
            return self.line.push_survey(survey.line_user_id, text, score_choices(survey.scale), key)
        return self.line.push_text(survey.line_user_id, text, key)


# The parameters of a China SMS template that carry the survey page, given only to a template whose
# approved text has them: ${link}, the whole signed link (where Alibaba approved a link variable), or
# ${token}, its last part after the page's URL written as fixed text in the approved template
# (`https://<registered domain>/s/${token}`: how Alibaba approves links; settings check the URL).
CN_LINK_PARAM = "link"
CN_TOKEN_PARAM = "token"


@dataclass(frozen=True)
class CnSmsSurveySender:
    """China SMS (Alibaba Cloud SMS): each message is the approved template of its name (invitation,
    reminder, closing) in the template book (domain/cn_sms.py), in the survey's language where the book
    has it (TemplateBook.locale_for), else zh-CN. Only the template's approved parameters are given:
    the survey page's signed link where the approved text puts ${link}, or its token where the text
    writes the page's URL and then ${token}, and nothing else (a template with a variable koe does not
    fill is TemplateRejected `koe_params` before any call). The survey id is the OutId, so Alibaba's
    delivery report names its survey. A TemplateRejected is a deployment fault (the console or the
    template book must change): counted and logged as an error here, before the caller ends the survey
    or the message."""

    sms: CnSms
    templates: cn_sms.TemplateBook
    link_for: Callable[[Survey], str]

    def send(self, survey: Survey, message: str) -> str:
        if not survey.phone:        # the channel policy picks China SMS only with a phone: a bug
            raise UndeliverableRecipient("no_address", "the survey has no phone", carrier="alibaba")
        locale = self._locale(survey.locale, message)
        params = self._params(survey, message, locale)
        try:
            return self.sms.send(survey.phone, message, params, survey.survey_id, locale)
        except TemplateRejected as exc:
            count("CnSmsTemplateRejected", code=exc.code)
            logger.error("china sms template rejected: the template book or Alibaba's console must change",
                         extra={"survey_id": survey.survey_id, "template": message, "locale": locale,
                                "code": exc.code, "template_code": exc.template_code})
            raise

    def _locale(self, locale: str, message: str) -> str:
        return self.templates.locale_for(message, locale)

    def _params(self, survey: Survey, message: str, locale: str) -> dict[str, str]:
        try:
            wanted = set(self.templates.template(message, locale).params) & {CN_LINK_PARAM, CN_TOKEN_PARAM}
        except cn_sms.UnknownTemplate:
            return {}               # the transport names it (TemplateRejected koe_unknown_template)
        if not wanted:
            return {}
        link = self.link_for(survey)
        values = {CN_LINK_PARAM: link, CN_TOKEN_PARAM: link.rsplit("/", 1)[-1]}
        return {name: values[name] for name in wanted}


# The languages koe fills a WeChat template's values in (templates/wechat/): the service account's
# templates are Chinese unless the book has an English one (domain/wechat.TemplateBook).
WECHAT_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class WeChatSurveySender:
    """WeChat: the service account's template message of the message's name (invitation, reminder,
    closing) in the template book (domain/wechat.py), English for an English-speaking customer where
    the book has it, else Chinese. koe fills only the template's approved placeholders ({procedure},
    {brand}, {date}: templates/wechat/); the survey page's signed link is the message's `url` (a tap
    opens it), the closing message's too (the page says the survey is closed, or takes a comment). The
    `client_msg_id` is named by the survey and the message: a send replayed within WeChat's 10 minutes
    goes out once. WeChat's send-job report is not kept on the survey: the msgid is the message id."""

    transport: WeChatMessenger
    templates: wechat.TemplateBook
    messages: Messages
    link_for: Callable[[Survey], str]

    def send(self, survey: Survey, message: str) -> str:
        if not survey.wechat_openid:    # the channel policy picks WeChat only with an openid: a bug
            raise UndeliverableRecipient("no_address", "the survey has no WeChat openid", carrier="wechat")
        language = survey.locale if survey.locale in WECHAT_LANGUAGES else WECHAT_LANGUAGES[0]
        try:
            template = self.templates.template(message, "en" if language == "en" else wechat.DEFAULT_LOCALE)
            data = template.render(self._values(survey, language))
        except (wechat.UnknownTemplate, wechat.MissingValues) as exc:
            count("WeChatTemplateRejected", code="koe_template")
            raise TemplateRejected("koe_unknown_template" if isinstance(exc, wechat.UnknownTemplate) else "koe_params",
                                   template_code=message, carrier="wechat") from None
        return self.transport.send_template(survey.wechat_openid, template.template_id, data, self.link_for(survey),
                                         wechat.client_msg_id(survey.survey_id, message))

    def _values(self, survey: Survey, language: str) -> dict[str, str]:
        day = survey.completed_at.astimezone(cn_sms.BEIJING)
        return {"brand": self.messages.render("wechat", language, "brand"),
                "procedure": self.messages.render("wechat", language, "procedure", procedure=survey.procedure),
                "date": self.messages.render("wechat", language, "date", year=str(day.year), month=str(day.month),
                                             day=str(day.day), month_name=day.strftime("%b"))}


def score_choices(scale: str) -> tuple[str, ...]:
    """The quick-reply buttons of a scale, each a score as the customer sends it ("0".."10" for NPS)."""
    return tuple(str(n) for n in scores(scale_of(scale)))


def score_links(survey_link: str, unsubscribe_link: str, scale: Scale = Scale.NPS) -> SurveyLinks:
    """The survey page and one link per score of the scale (0 to 10, 1 to 5, 1 to 7): `<link>?score=N`."""
    separator = "&" if "?" in survey_link else "?"
    links = tuple((n, f"{survey_link}{separator}{urlencode({'score': n})}") for n in scores(scale))
    return SurveyLinks(survey_link, links, unsubscribe_link)


def _callback(status_callback_url: str, survey: Survey) -> str:
    return f"{status_callback_url}?{urlencode({'survey': survey.survey_id})}"


def claim(store: ConversationStore, survey: Survey, now: datetime,
          lease: timedelta = lifecycle.SEND_LEASE) -> Survey:
    """Claim a survey for one send (see the module docstring): the claimed survey, or StaleSurvey
    when another claim, a reply or the schedule changed it since it was read."""
    claimed = lifecycle.leased(survey, now, lease)
    survey_moves.move(store, survey, claimed, now)
    return claimed


def send_survey(survey: Survey, senders: Mapping[str, SurveySender], store: ConversationStore,
                now: datetime, message: str = INVITATION, *,
                sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """Send `message` of a claimed survey on its channel and record what happened. Returns the
    outcome (no personal data). Raises NoSender for a channel nobody sends on, lets
    RetryableSendError through (the caller's trigger retries; `in_doubt` says whether the lease
    must end first), and raises SendNotRecorded when the message went out but its record did not."""
    sender = senders.get(survey.channel)
    if sender is None:
        raise NoSender(survey.channel)
    try:
        sid = sender.send(survey, message)
    except RecipientOptedOut as exc:
        if exc.contact_key is not None and exc.contact_key != survey.contact_key:
            # Another contact of the customer's opted out (their email address, the survey being
            # keyed by phone): that contact alone is opted out; the survey fails and frees the slot.
            outcome = _failed(survey, "opted_out_at_carrier", store, now)
            store.set_opt_out(exc.contact_key, True, exc.audit, now)
            return outcome
        return _failed(survey, "opted_out_at_carrier", store, now,
                       opted_out=True, audit=exc.audit or f"carrier:{lifecycle.CARRIER_OPT_OUT}")
    except UndeliverableRecipient as exc:
        return _failed(survey, f"{exc.carrier}_{exc.code}", store, now)
    except TemplateRejected as exc:
        # China SMS: the approved template does not take this message. The customer is not at fault
        # and no retry helps: the survey ends failed with the code (the sender counted and logged it).
        return _failed(survey, f"template_rejected_{exc.code}", store, now)
    _record_sent(store, survey, sid, now, sleep)
    count("SurveySent", channel=survey.channel)
    logger.info("survey sent", extra={"survey_id": survey.survey_id, "channel": survey.channel,
                                      "locale": survey.locale, "template": message})
    return {"survey_id": survey.survey_id, "status": "sent", "reason": survey.channel_reason}


def _record_sent(store: ConversationStore, survey: Survey, sid: str, now: datetime,
                 sleep: Callable[[float], None]) -> None:
    """The survey moves to `sent` with the carrier's message id. A write refused because the survey
    changed is fine when the change is this very message recorded (the status callback overtook
    the write); a store that keeps failing leaves the survey claimed (SendNotRecorded)."""
    for pause in (*RECORD_RETRIES, None):
        try:
            survey_moves.move(store, survey, lifecycle.sent(survey, sid), now)
            return
        except StaleSurvey:
            stored = store.get_survey(survey.survey_id)
            if stored is not None and stored.message_sid == sid:
                return
            raise
        except RetryableError as exc:
            if pause is None:
                count("SendNotRecorded", channel=survey.channel)
                logger.error("message sent, its record not written: left to the send lease",
                             extra={"survey_id": survey.survey_id, "error": type(exc).__name__})
                raise SendNotRecorded(survey.survey_id) from exc
            sleep(pause)


def _failed(survey: Survey, reason: str, store: ConversationStore, now: datetime,
            opted_out: bool | None = None, audit: str | None = None) -> dict[str, str]:
    survey_moves.close(store, survey, SurveyStatus.FAILED, reason, now, opted_out=opted_out, audit=audit)
    count("SurveyFailed", reason=reason)
    logger.warning("survey send failed", extra={"survey_id": survey.survey_id, "reason": reason})
    return {"survey_id": survey.survey_id, "status": "failed", "reason": reason}
