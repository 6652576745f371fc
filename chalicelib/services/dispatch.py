"""Dispatch: one completed procedure -> a recorded survey, sent, scheduled or suppressed with a reason.

Idempotent on event_id twice over: Powertools idempotency wraps `dispatch_event` (adapters/
idempotency.py), and the survey itself is keyed by event_id with a conditional write, so a replay
that slips past the first guard finds the survey and either resumes an unfinished send or stops.

Where the customer is (country and time zone) is decided here, once (domain/customer_place.py), and
stored on the survey: the send window, the reminder, the case's business hours and the closing
message all read that place later.

An eligible event outside the customer's send window (quiet hours, a public holiday) is recorded as
`scheduled` with its send time; the schedule releases it (services/tick.py).

A survey to send now is recorded `sending` under a send lease (domain/survey_lifecycle.py): a
replay while the lease holds sends nothing (the first attempt may have reached the carrier; its
status callback records the message), and once the lease is over it claims the survey again and
sends. A refusal the carrier is sure of (throttled) ends the lease at once, so the replay sends.

The survey asks what its procedure's definition says (KOE_SURVEY_DEFINITIONS: NPS, CSAT or CES) and
keeps the scale and the definition's version for its whole life: a reminder, a reply or a web answer
after the definition changed still reads and records on the scale the customer was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import channel_policy, eligibility, fatigue, identity
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.channel_policy import Channel, ChannelPolicy, Reach
from chalicelib.domain.channels import AddressKind
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.eligibility import Send, Suppress
from chalicelib.domain.events import Customer, ProcedureCompleted, from_payload
from chalicelib.domain.model import Contact, Place, Survey, SurveyStatus
from chalicelib.domain.questions import Definitions
from chalicelib.domain.send_window import SendHours
from chalicelib.errors import ConversationOpen, RetryableError, RetryableSendError, StaleSurvey, SurveyExists
from chalicelib.observability import count, logger
from chalicelib.services import contacts, survey_moves
from chalicelib.services.contacts import ContactKeys
from chalicelib.services.ports import ConversationStore, SurveySender
from chalicelib.services.send_survey import claim, send_survey

OUTSIDE_SEND_WINDOW = "outside_send_window"
SEND_IN_DOUBT = "send_in_doubt"     # a replay while the first send's lease holds: nothing sent again


@dataclass(frozen=True)
class DispatchDeps:
    store: ConversationStore
    senders: Mapping[str, SurveySender]     # channel -> its sender
    contact_key: Callable[[str], str]       # keyed hash of a phone number or email
    policy: eligibility.Policy
    channels: ChannelPolicy
    places: PlaceRules                      # where the customer is: country and zone (and a phone's country)
    hours: SendHours                        # the send window of a country, its holidays
    cooldown_days: Callable[[str], int]     # per procedure
    response_window: Callable[[str], timedelta]   # per procedure: how long a survey takes an answer
    clock: Callable[[], datetime]
    history_days: int = 30                  # how far back the contact's survey history is kept
    reminder_after: timedelta | None = None  # the one reminder, if still unanswered (None: no reminder)
    definitions: Definitions = Definitions()   # what each procedure asks first (default: NPS, version 1)
    contact_keys: ContactKeys | None = None    # every listed key version (None: contact_key's only)
    send_lease: timedelta = lifecycle.SEND_LEASE   # KOE_SEND_LEASE_S


def dispatch_event(event: dict[str, Any], deps: DispatchDeps) -> dict[str, str]:
    """Survey one valid event. Returns the outcome (stored by the idempotency layer: no personal data)."""
    procedure = from_payload(event)
    now = deps.clock()
    customer = procedure.customer
    # The customer's contact: by phone when there is one, else by email, else by LINE user id. It holds
    # the opt-out, the one open conversation and the fatigue record, whatever the channel; a survey
    # sent on LINE is keyed by the LINE user id's own contact instead (`_keyed`).
    found = contacts.read(deps.store, customer.contact_address, deps.contact_key, deps.contact_keys)
    line = _line_contact(customer, found, deps)
    chosen = _channel(procedure, deps, line if line is not found else None)
    key, contact = _keyed(chosen, found, line)
    place = deps.places.decide(customer.phone, customer.locale, customer.timezone)
    policy = replace(deps.policy, cooldown_days=deps.cooldown_days(procedure.procedure))
    decision = eligibility.decide(procedure, contact, chosen, now, policy)
    send_at, remind_at = _send_times(procedure, place, now, deps) if isinstance(decision, Send) else (now, None)
    survey = _new_survey(procedure, key, decision, now, send_at, deps, place, remind_at)
    try:
        if isinstance(decision, Suppress):
            return _suppress(survey, decision.reason, deps)
        try:
            history = fatigue.after_survey(contact.surveyed if contact else (), procedure.procedure, now,
                                           deps.history_days)
            deps.store.open_survey(survey, now, history, contact.history_version if contact else 0)
        except ConversationOpen:
            return _suppress(replace(survey, open_until=None, send_at=None, remind_at=None), "conversation_open", deps)
    except SurveyExists:
        return _resume(procedure, deps)
    if survey.status is SurveyStatus.SCHEDULED:
        return _scheduled(survey)
    return _send(survey, deps, now)


def _send(claimed: Survey, deps: DispatchDeps, now: datetime) -> dict[str, str]:
    """Send a claimed survey. A refusal the carrier is sure of ends the lease before the event is
    retried, so the replay sends at once; anything in doubt keeps it (see the module docstring)."""
    try:
        return send_survey(claimed, deps.senders, deps.store, now)
    except RetryableSendError as exc:
        if not exc.in_doubt:
            _end_lease(claimed, deps, now)
        raise


def _end_lease(claimed: Survey, deps: DispatchDeps, now: datetime) -> None:
    try:
        survey_moves.move(deps.store, claimed, replace(claimed, send_at=now), now)
    except RetryableError as exc:      # the lease ends by itself: the send is only later
        logger.warning("send lease kept after a refusal", extra={"survey_id": claimed.survey_id,
                                                                  "error": type(exc).__name__})


def _line_contact(customer: Customer, found: contacts.AddressContact,
                  deps: DispatchDeps) -> contacts.AddressContact | None:
    """The LINE user id's own contact (its opt-out: the customer blocked koe's account; its
    conversation; its history), when the customer has one: `found` itself when the LINE user id is
    the customer's only address. One more read, for customers with a LINE user id only."""
    if not customer.line_user_id:
        return None
    if customer.line_user_id == customer.contact_address:
        return found
    return contacts.read(deps.store, customer.line_user_id, deps.contact_key, deps.contact_keys)


def _keyed(chosen: Channel, found: contacts.AddressContact,
           line: contacts.AddressContact | None) -> tuple[str, Contact | None]:
    """The key a survey on `chosen` is opened under, and the contact eligibility reads: the LINE
    user id's for a LINE survey (unfollow and a stop typed in LINE opt that address out, and its
    replies find the survey by it), the customer's contact otherwise. Each sees the other's open
    conversation and history (identity.beside): one conversation and one fatigue record per person."""
    if line is None or line is found:
        return found.key, found.contact
    if chosen.name == channel_policy.LINE:
        return line.key, identity.beside(line.key, line.contact, found.contact)
    return found.key, identity.beside(found.key, found.contact, line.contact)


# Channels whose address holds its own opt-out, read only when the policy would choose that channel
# and the address is not the customer's contact: an email unsubscribe or hard bounce blocks email only;
# a WeChat unfollow (or a template message WeChat reported blocked) blocks WeChat only.
_OWN_OPT_OUT = {channel_policy.EMAIL: AddressKind.EMAIL, channel_policy.WECHAT: AddressKind.WECHAT_OPENID}


def _channel(event: ProcedureCompleted, deps: DispatchDeps, line: contacts.AddressContact | None) -> Channel:
    """The channel policy's choice. A LINE user id whose own contact opted out (the customer blocked
    koe's account) is not tried. An email address's or WeChat openid's own contact is read only when
    the policy would choose that channel for a customer whose contact is another address (one more
    read in that case alone); when it opted out, the policy chooses again without it."""
    customer = event.customer
    reach = Reach(phone_region=deps.places.region_of(customer.phone) if customer.phone else None,
                  addresses=frozenset(customer.addresses()))
    if line is not None and line.contact is not None and line.contact.opted_out:
        reach = reach.block(AddressKind.LINE_USER_ID)
    chosen = channel_policy.choose(deps.channels, reach, deps.senders)
    while (kind := _OWN_OPT_OUT.get(chosen.name)) is not None and kind not in reach.blocked:
        address = customer.addresses().get(kind)
        if not address or address == customer.contact_address:
            break
        own = contacts.read(deps.store, address, deps.contact_key, deps.contact_keys).contact
        if own is None or not own.opted_out:
            break
        reach = reach.block(kind)
        chosen = channel_policy.choose(deps.channels, reach, deps.senders)
    return chosen


def _send_times(event: ProcedureCompleted, place: Place, now: datetime,
                deps: DispatchDeps) -> tuple[datetime, datetime | None]:
    """When to send: now, or the next opening of the customer's send window (their zone, their
    holidays); and when to remind, inside the window too (None: no reminder, or none before the
    response window ends)."""
    send_at = deps.hours.next_opening(now, place)
    if deps.reminder_after is None:
        return send_at, None
    remind_at = deps.hours.next_opening(send_at + deps.reminder_after, place)
    return send_at, remind_at if remind_at < send_at + deps.response_window(event.procedure) else None


def _new_survey(event: ProcedureCompleted, key: str, decision: Send | Suppress, now: datetime,
                send_at: datetime, deps: DispatchDeps, place: Place, remind_at: datetime | None = None) -> Survey:
    sending = isinstance(decision, Send)
    later = sending and send_at > now
    reason = decision.reason if isinstance(decision, Suppress) else OUTSIDE_SEND_WINDOW if later else None
    definition = deps.definitions.for_procedure(event.procedure)
    return Survey(
        survey_id=event.event_id,
        procedure=event.procedure,
        customer_id=event.customer.id,
        contact_key=key,
        locale=eligibility.language(event.customer.locale, deps.policy.default_locale),
        channel=decision.channel.name,
        channel_reason=decision.channel.reason,
        status=SurveyStatus.SCHEDULED if later else SurveyStatus.SENDING if sending else SurveyStatus.SUPPRESSED,
        created_at=now,
        completed_at=event.completed_at,
        phone=event.customer.phone,
        email=event.customer.email,
        line_user_id=event.customer.line_user_id,
        wechat_openid=event.customer.wechat_openid,
        context=dict(event.context),
        reason=reason,
        open_until=send_at + deps.response_window(event.procedure) if sending else None,
        # deferred: when the schedule releases it; sent now: the end of the send's lease
        send_at=send_at if later else now + deps.send_lease if sending else None,
        remind_at=remind_at if sending else None,
        scale=definition.scale.value,
        definition_version=definition.version,
        place=place,
    )


def _scheduled(survey: Survey) -> dict[str, str]:
    send_at = (survey.send_at or survey.created_at).isoformat()
    count("SurveyScheduled", channel=survey.channel)
    logger.info("survey scheduled for the send window", extra={"survey_id": survey.survey_id, "send_at": send_at})
    return {"survey_id": survey.survey_id, "status": "scheduled", "reason": OUTSIDE_SEND_WINDOW, "send_at": send_at}


def _suppress(survey: Survey, reason: str, deps: DispatchDeps) -> dict[str, str]:
    deps.store.record_suppressed(replace(survey, status=SurveyStatus.SUPPRESSED, reason=reason))
    count("SurveySkipped", reason=reason)
    logger.info("survey suppressed", extra={"survey_id": survey.survey_id, "reason": reason})
    return {"survey_id": survey.survey_id, "status": "suppressed", "reason": reason}


def _resume(event: ProcedureCompleted, deps: DispatchDeps) -> dict[str, str]:
    """The survey exists: a replay. An interrupted send is sent again once its lease is over (under
    a new claim); while the lease holds, nothing is sent (the schedule ends it); otherwise do
    nothing again."""
    survey = deps.store.get_survey(event.event_id)
    now = deps.clock()
    if survey is not None and survey.status is SurveyStatus.SENDING and survey.message_sid is None:
        if lifecycle.lease_held(survey, now):
            return _in_doubt(survey)
        try:
            claimed = claim(deps.store, survey, now, deps.send_lease)
        except StaleSurvey:          # the schedule, a callback or another replay got there first
            return _in_doubt(survey)
        logger.info("resuming interrupted send", extra={"survey_id": survey.survey_id})
        return _send(claimed, deps, now)
    count("EventDuplicate")
    status = survey.status.value if survey else "unknown"
    return {"survey_id": event.event_id, "status": status, "reason": "duplicate_event"}


def _in_doubt(survey: Survey) -> dict[str, str]:
    count("SendInDoubt", channel=survey.channel)
    logger.info("replay while a send may be under way: left to its lease", extra={"survey_id": survey.survey_id})
    return {"survey_id": survey.survey_id, "status": "sending", "reason": SEND_IN_DOUBT}


def settled(event_id: str, deps: DispatchDeps) -> bool:
    """Whether an event that kept failing needs no dead letter: its survey is recorded and koe owns
    what is left: sent or ended, or `sending` on the schedule's send index (`send_at`), whose lease
    the schedule waits out and then sends again, or ends with its reason once the response window has
    passed (services/tick.release_scheduled). A send whose lease ended is not the dead letter's: the
    carrier may have taken it before a crash, its callback recording it later, and a dead letter
    would end that event twice (sent and dead-lettered). Only a survey never recorded, or one
    `sending` off the schedule (claimed before leases were), is the dead letter's to report."""
    survey = deps.store.get_survey(event_id)
    if survey is None:
        return False
    return survey.status is not SurveyStatus.SENDING or survey.send_at is not None


def give_up(event_id: str, error: Exception, deps: DispatchDeps) -> dict[str, str] | None:
    """The event was dead-lettered: a survey it opened but never sent ends as failed with the
    reason, and the customer's slot is free for the next procedure. Returns the outcome, or None
    when there was nothing to end (no survey, sent or closed meanwhile, or a send under its lease:
    the carrier may have taken it)."""
    survey = deps.store.get_survey(event_id)
    if (survey is None or survey.status is not SurveyStatus.SENDING or survey.message_sid is not None
            or lifecycle.lease_held(survey, deps.clock())):
        return None
    reason = f"dead_lettered:{type(error).__name__}"
    survey_moves.close(deps.store, survey, SurveyStatus.FAILED, reason, deps.clock())
    count("SurveyFailed", reason=reason)
    logger.warning("unsent survey ended after its event was dead-lettered",
                   extra={"survey_id": survey.survey_id, "reason": reason})
    return {"survey_id": survey.survey_id, "status": "failed", "reason": reason}
