"""A message from a customer on a two-way channel (SMS, LINE): a keyword (STOP/START/HELP), the next
turn of the conversation, or a message kept for the CX team. `answer` returns what to answer with
(the text, its template key, the survey it is about), or None for no answer; each route delivers it
its own way (TwiML for Twilio; a LINE reply or push: services/line_webhook.py).

One conversation for every two-way channel: the message names its channel, which says where its
sender's contact is found (the phone's, the LINE user id's: each address its own opt-out and
conversation), which templates answer it (`templates/<channel>/`) and which keyword rules apply
(Twilio answers its own STOP words by SMS; LINE answers none).

Replays of the same message id (Twilio's MessageSid, LINE's webhookEventId) change nothing and get the
same answer again, marked `replayed`: the survey remembers the last inbound id and what koe replied
to it. A reply also says whether it `changed` anything (a keyword that finds the state it asks for
changes nothing): a LINE redelivery that changed nothing is not answered twice.

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
SMS = "sms"      # replies by SMS are answered with the sms templates
LINE = "line"    # ... in LINE, with the line templates
AUDIT_WORDS = 160


@dataclass(frozen=True)
class InboundMessage:
    """One message on a two-way channel, as its route read it."""

    channel: str                 # "sms" or "line": its templates, its keyword rules
    message_id: str              # Twilio's MessageSid, LINE's webhookEventId: the replay guard
    sender: str                  # the address: E.164 phone, LINE user id; never logged
    body: str
    truncated: bool = False      # the body is the start of a longer one (kept_reply)


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    sender: str          # E.164; never logged
    body: str
    truncated: bool = False      # the body is the start of a longer one (kept_reply)


@dataclass(frozen=True)
class Reply:
    """What koe answers a message with: the text, its template key and the survey it is about."""

    text: str
    key: str                     # why, thanks, reprompt, help, opted_out, opted_in
    survey_id: str | None        # None: no open survey (a keyword)
    scale: str = Scale.NPS       # the survey's scale (a re-prompt's buttons on LINE)
    replayed: bool = False       # the same message id again: answered before
    changed: bool = True         # the message changed something (a turn, an opt-out or opt-in)


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
    """An SMS (Twilio's webhook): the text to answer with in TwiML, or None."""
    reply = answer(InboundMessage(SMS, sms.message_sid, sms.sender, sms.body, sms.truncated), deps)
    return reply.text if reply is not None else None


def answer(sms: InboundMessage, deps: ReplyDeps) -> Reply | None:
    """A message on any two-way channel: the conversation's next step, and what to answer."""
    body, cut = sms_rules.kept_reply(sms.body)
    if cut:
        count("ReplyTruncated")
        logger.info("reply longer than any SMS, cut", extra={"message_sid": sms.message_id,
                                                               "length": len(sms.body)})
        sms = replace(sms, body=body, truncated=True)
    for _ in range(ATTEMPTS - 1):
        try:
            return _handle(sms, deps)
        except StaleSurvey:
            logger.info("survey changed under a reply, reading again", extra={"message_sid": sms.message_id})
    return _handle(sms, deps)       # the last attempt lets StaleSurvey through


def _handle(sms: InboundMessage, deps: ReplyDeps) -> Reply | None:
    now = deps.clock()
    found = contacts.read(deps.store, sms.sender, deps.contact_key, deps.contact_keys)
    key = found.key
    survey = open_survey(found, now, deps)
    keyword = read_keyword(sms.body, conversation_language=survey.locale if survey else None)
    if keyword is not None:
        return _keyword(keyword, sms, found, survey, now, deps)
    if survey is None or survey.status is SurveyStatus.SCHEDULED:
        # Nothing asked yet (no survey, or one still waiting for the send window): not an answer.
        reason = "no_open_conversation" if survey is None else "survey_not_sent_yet"
        deps.store.keep_inbound(Inbound(sms.message_id, key, sms.body, now, reason, truncated=sms.truncated))
        count("ReplyUnmatched")
        logger.info("reply without an open conversation kept for CX",
                    extra={"message_sid": sms.message_id, "reason": reason, "channel": sms.channel})
        return None
    if survey.last_inbound_sid == sms.message_id and survey.last_reply_key:
        count("ReplyReplayed")
        return _reply(sms, survey.locale, survey.last_reply_key, deps, survey, replayed=True, changed=False)
    return _turn(sms, survey, now, deps)


def _reply(sms: InboundMessage, language: str, key: str, deps: ReplyDeps, survey: Survey | None = None, *,
           replayed: bool = False, changed: bool = True) -> Reply:
    scale = survey.scale if survey is not None else Scale.NPS
    return Reply(deps.messages.render(sms.channel, language, key, scale=scale), key,
                 survey.survey_id if survey is not None else None, scale, replayed=replayed, changed=changed)


def _turn(sms: InboundMessage, survey: Survey, now: datetime, deps: ReplyDeps) -> Reply:
    turn = conversation.next_turn(survey, sms.body)
    new = replace(survey, step=turn.step, status=turn.status, score=turn.score, reprompts=turn.reprompts,
                  last_inbound_sid=sms.message_id, last_reply_key=turn.reply,
                  open_until=None if turn.closes else survey.open_until)
    answers = [_answer(survey, r.question, r.score, r.text, now, deps, sms.truncated) for r in turn.recorded]
    survey_moves.move(deps.store, survey, new, now, answers=answers)
    if turn.unread_text is not None:
        deps.store.keep_inbound(Inbound(sms.message_id, survey.contact_key, turn.unread_text, now,
                                        "unreadable", survey.survey_id, truncated=sms.truncated))
    count("ReplyUnparsed" if turn.reply == "reprompt" or turn.unread_text else "ReplyRecorded")
    logger.info("reply handled", extra={"survey_id": survey.survey_id, "step": turn.step.value, "channel": sms.channel,
                                        "status": turn.status.value, "answered": [a.question for a in answers]})
    return _reply(sms, survey.locale, turn.reply, deps, survey)


def _answer(survey: Survey, question: str, score: int | None, text: str | None, now: datetime,
            deps: ReplyDeps, truncated: bool) -> Answer:
    return conversation.recorded_answer(survey, question, score, text, now,
                                        deps.threshold_for(survey.procedure, survey.scale),
                                        deps.places.of_survey(survey), truncated=truncated)


def _keyword(keyword: Keyword, sms: InboundMessage, found: contacts.AddressContact, survey: Survey | None,
             now: datetime, deps: ReplyDeps) -> Reply | None:
    language = survey.locale if survey else keyword.language
    # The customer's own words stay in the consent record (the contacts table, never the logs).
    audit = f"{sms.channel}:{keyword.kind}:{sms.body.strip()[:AUDIT_WORDS]}"
    count(f"Keyword{keyword.kind.capitalize()}")
    logger.info("keyword received", extra={"kind": keyword.kind, "message_sid": sms.message_id,
                                           "channel": sms.channel})
    if keyword.kind == "help":       # "reply with a score 1-5" on the open survey's scale
        return _reply(sms, language, "help", deps, survey, changed=False)
    if keyword.kind == "stop":
        changed = opt_out(found, survey, sms.message_id, audit, now, deps)
    else:
        # Written under the current key version; an opt-in also clears an opt-out an older version holds.
        changed = bool(found.opted_out_keys)
        for key in dict.fromkeys((found.key, *found.opted_out_keys)):
            deps.store.set_opt_out(key, False, audit, now)
    if keyword.carrier_answers and sms.channel == SMS:     # Twilio's own opt-out handling answered
        return None
    return _reply(sms, language, "opted_out" if keyword.kind == "stop" else "opted_in", deps, survey, changed=changed)


def opt_out(found: contacts.AddressContact, survey: Survey | None, message_id: str, audit: str, now: datetime,
            deps: ReplyDeps) -> bool:
    """The address opts out (a STOP, a LINE unfollow): its open survey ends `opted_out` and frees the
    slot, in the same write; else the contact alone is marked, under the current key version.
    Returns whether anything changed (False: the contact had opted out already)."""
    if survey is not None:
        survey_moves.close(deps.store, survey, SurveyStatus.OPTED_OUT, "opted_out_by_reply", now,
                           opted_out=True, audit=audit, last_inbound_sid=message_id, last_reply_key=None)
        return True
    already = found.contact is not None and found.contact.opted_out
    deps.store.set_opt_out(found.key, True, audit, now)
    return not already


def open_survey(found: contacts.AddressContact, now: datetime, deps: ReplyDeps) -> Survey | None:
    """The survey whose conversation the address holds now, if any."""
    contact = found.contact
    if contact is None or not contact.has_open_conversation(now) or not contact.active_survey_id:
        return None
    survey = deps.store.get_survey(contact.active_survey_id)
    return survey if survey is not None and lifecycle.is_open(survey.status) else None
