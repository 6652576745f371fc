"""An SMS from a customer: a keyword (STOP/START/HELP), the next turn of the conversation, or a
message kept for the CX team. Returns the text to answer with (TwiML), or None for no answer.

Replays of the same MessageSid (Twilio retries a webhook that timed out) change nothing and get
the same answer again: the survey remembers the last inbound sid and what koe replied to it.

A body longer than any SMS (domain/sms.py) is cut to that length and handled as usual: what it
records (the answers, the message kept for CX) carries `truncated`, so nothing is dropped and no
item outgrows DynamoDB's 400 KB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain import conversation
from chalicelib.domain import sms as sms_rules
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.model import Answer, Survey, SurveyStatus
from chalicelib.domain.questions import Scale
from chalicelib.domain.replies import Keyword, read_keyword
from chalicelib.errors import StaleSurvey
from chalicelib.observability import count, logger
from chalicelib.services import contacts, survey_moves
from chalicelib.services.contacts import ContactKeys
from chalicelib.services.ports import ConversationStore, Inbound, Messages

ATTEMPTS = 2     # a concurrent reply for the same survey: read again once
CHANNEL = "sms"  # replies arrive by SMS and are answered with the sms templates
AUDIT_WORDS = 160


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    sender: str          # E.164; never logged
    body: str
    truncated: bool = False      # the body is the start of a longer one (kept_reply)


@dataclass(frozen=True)
class ReplyDeps:
    store: ConversationStore
    messages: Messages
    contact_key: Callable[[str], str]
    threshold_for: Callable[[str, str], int]   # (procedure, scale) -> escalation threshold
    clock: Callable[[], datetime]
    places: PlaceRules                          # the place an answer carries (older surveys: worked out)
    contact_keys: ContactKeys | None = None     # every listed key version (None: contact_key's only)


def handle_reply(sms: InboundSms, deps: ReplyDeps) -> str | None:
    body, cut = sms_rules.kept_reply(sms.body)
    if cut:
        count("ReplyTruncated")
        logger.info("reply longer than any SMS, cut", extra={"message_sid": sms.message_sid,
                                                               "length": len(sms.body)})
        sms = replace(sms, body=body, truncated=True)
    for _ in range(ATTEMPTS - 1):
        try:
            return _handle(sms, deps)
        except StaleSurvey:
            logger.info("survey changed under a reply, reading again", extra={"message_sid": sms.message_sid})
    return _handle(sms, deps)       # the last attempt lets StaleSurvey through


def _handle(sms: InboundSms, deps: ReplyDeps) -> str | None:
    now = deps.clock()
    found = contacts.read(deps.store, sms.sender, deps.contact_key, deps.contact_keys)
    key, contact = found.key, found.contact
    survey = None
    if contact is not None and contact.has_open_conversation(now) and contact.active_survey_id:
        survey = deps.store.get_survey(contact.active_survey_id)
        if survey is not None and not lifecycle.is_open(survey.status):
            survey = None
    keyword = read_keyword(sms.body, conversation_language=survey.locale if survey else None)
    if keyword is not None:
        return _keyword(keyword, sms, found, survey, now, deps)
    if survey is None or survey.status is SurveyStatus.SCHEDULED:
        # Nothing asked yet (no survey, or one still waiting for the send window): not an answer.
        reason = "no_open_conversation" if survey is None else "survey_not_sent_yet"
        deps.store.keep_inbound(Inbound(sms.message_sid, key, sms.body, now, reason, truncated=sms.truncated))
        count("ReplyUnmatched")
        logger.info("reply without an open conversation kept for CX",
                    extra={"message_sid": sms.message_sid, "reason": reason})
        return None
    if survey.last_inbound_sid == sms.message_sid and survey.last_reply_key:
        count("ReplyReplayed")
        return deps.messages.render(CHANNEL, survey.locale, survey.last_reply_key, scale=survey.scale)
    return _turn(sms, survey, now, deps)


def _turn(sms: InboundSms, survey: Survey, now: datetime, deps: ReplyDeps) -> str:
    turn = conversation.next_turn(survey, sms.body)
    new = replace(survey, step=turn.step, status=turn.status, score=turn.score, reprompts=turn.reprompts,
                  last_inbound_sid=sms.message_sid, last_reply_key=turn.reply,
                  open_until=None if turn.closes else survey.open_until)
    answers = [_answer(survey, r.question, r.score, r.text, now, deps, sms.truncated) for r in turn.recorded]
    survey_moves.move(deps.store, survey, new, now, answers=answers)
    if turn.unread_text is not None:
        deps.store.keep_inbound(Inbound(sms.message_sid, survey.contact_key, turn.unread_text, now,
                                        "unreadable", survey.survey_id, truncated=sms.truncated))
    count("ReplyUnparsed" if turn.reply == "reprompt" or turn.unread_text else "ReplyRecorded")
    logger.info("reply handled", extra={"survey_id": survey.survey_id, "step": turn.step.value,
                                        "status": turn.status.value, "answered": [a.question for a in answers]})
    return deps.messages.render(CHANNEL, survey.locale, turn.reply, scale=survey.scale)


def _answer(survey: Survey, question: str, score: int | None, text: str | None, now: datetime,
            deps: ReplyDeps, truncated: bool) -> Answer:
    return conversation.recorded_answer(survey, question, score, text, now,
                                        deps.threshold_for(survey.procedure, survey.scale),
                                        deps.places.of_survey(survey), truncated=truncated)


def _keyword(keyword: Keyword, sms: InboundSms, found: contacts.AddressContact, survey: Survey | None,
             now: datetime, deps: ReplyDeps) -> str | None:
    language = survey.locale if survey else keyword.language
    # The customer's own words stay in the consent record (the contacts table, never the logs).
    audit = f"sms:{keyword.kind}:{sms.body.strip()[:AUDIT_WORDS]}"
    count(f"Keyword{keyword.kind.capitalize()}")
    logger.info("keyword received", extra={"kind": keyword.kind, "message_sid": sms.message_sid})
    if keyword.kind == "help":       # "reply with a score 1-5" on the open survey's scale
        return deps.messages.render(CHANNEL, language, "help", scale=survey.scale if survey else Scale.NPS)
    if keyword.kind == "stop" and survey is not None:
        survey_moves.close(deps.store, survey, SurveyStatus.OPTED_OUT, "opted_out_by_reply", now,
                           opted_out=True, audit=audit, last_inbound_sid=sms.message_sid, last_reply_key=None)
    else:
        # Written under the current key version; an opt-in also clears an opt-out an older version holds.
        opting_in = keyword.kind != "stop"
        for key in dict.fromkeys((found.key, *(found.opted_out_keys if opting_in else ()))):
            deps.store.set_opt_out(key, not opting_in, audit, now)
    if keyword.carrier_answers:
        return None
    return deps.messages.render(CHANNEL, language, "opted_out" if keyword.kind == "stop" else "opted_in")
