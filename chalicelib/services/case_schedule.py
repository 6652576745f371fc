"""The schedule's work on cases (every tick): climb the escalation ladder, send the closing message,
ask the customer again.

Each due case is read, changed in memory, and written at the version read; two overlapping ticks
(or a schedule that fires twice) write one of the two changes, the other sees VersionConflict
and leaves the case alone.
- **Ladder alerts are published before the write**: a publish that fails leaves the case as it
  was, so the next tick tries again; a tick that loses the write has published an alert with the
  same `alert_id` as the winner's, which the alert subscriber delivers once.
- **The closing message is claimed by the write, then sent** (at most once: a customer must never
  get it twice). It waits for the customer's send window (the survey's stored place: country,
  zone, holidays, as the survey itself did); an opted-out customer is not messaged
  (the survey's contact, and for an email the address's own contact: its unsubscribe link). A
  passing carrier fault is tried again later, CLOSING_ATTEMPTS sends in all; then, or on a
  permanent fault, it is `failed`. The timeline says what happened, not what was claimed.
- **The re-survey** is an event on the intake queue with a stable event_id (`<survey>~resurvey`):
  the intake's idempotency makes a repeated enqueue one survey. It is enqueued before the write
  (a queue that refuses it leaves the case due) and waits while the closing message is still due:
  the customer hears what was done before being asked again. It carries the customer's place
  (zone, and country as the locale's region), so the new survey is placed as the first was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import case_ladder, channels
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.cases import ROBOT, Case, TimelineEntry
from chalicelib.domain.channels import AddressKind
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.model import Place, Survey
from chalicelib.domain.send_window import SendHours
from chalicelib.errors import (
    EnqueueFailed,
    KoeError,
    PermanentError,
    RecipientOptedOut,
    RetryableError,
    VersionConflict,
)
from chalicelib.observability import count, logger
from chalicelib.services.budget import UNLIMITED, Budget, schedule_cut_short
from chalicelib.services.contacts import ContactKeys, every_key
from chalicelib.services.on_answers import RESURVEY_OF, publish
from chalicelib.services.ports import Alerts, CaseStore, ConversationStore, IntakeQueue, SurveySender

BATCH = 100
CLOSING = "closing"                 # the template key of the closing message, on every channel
CLOSING_RETRY_AFTER = timedelta(minutes=10)
CLOSING_ATTEMPTS = 3                # sends in all: the first and two more after a passing fault
RESURVEY_SUFFIX = "~resurvey"
MAX_EVENT_ID = MAX_EVENT_ID_CHARS   # the event schema's maxLength (schemas/procedure-completed.schema.json)


@dataclass(frozen=True)
class CaseScheduleDeps:
    cases: CaseStore
    alerts: Alerts
    surveys: ConversationStore
    senders: Mapping[str, SurveySender]
    intake: IntakeQueue
    hours: SendHours                        # the send window of the customer's country, their holidays
    places: PlaceRules                      # the place of a survey stored before places were
    policy: CasePolicy
    clock: Callable[[], datetime]
    contact_key: Callable[[str], str]       # keyed hash of an email address: its own opt-out (unsubscribe)
    contact_keys: ContactKeys | None = None  # every listed key version (None: contact_key's only)


def work_cases(deps: CaseScheduleDeps, budget: Budget = UNLIMITED) -> dict[str, int]:
    now = deps.clock()
    totals = {"rungs": 0, "closings": 0, "resurveys": 0, "case_raced": 0, "case_failed": 0}
    for case in deps.cases.due(now, BATCH):
        if budget.exhausted():      # the rest stays due: the next tick works it
            schedule_cut_short("cases")
            break
        try:
            done = _work(case, now, deps)
        except VersionConflict:
            totals["case_raced"] += 1          # another tick, or a person, saved it first
            continue
        except KoeError as exc:                # this case waits for the next tick; the others go on
            totals["case_failed"] += 1
            logger.warning("case work postponed", extra={"case_id": case.case_id, "error": type(exc).__name__})
            continue
        for name, n in done.items():
            totals[name] += n
    if totals["rungs"]:
        count("CaseEscalated", value=totals["rungs"])
    logger.info("cases worked", extra=totals)
    return totals


def _work(case: Case, now: datetime, deps: CaseScheduleDeps) -> dict[str, int]:
    climb = case_ladder.climb(case, now)
    for step in climb.fired:
        publish(deps.alerts, case, step.name, deps.policy.routing.recipients(case, step.to), now,
                occurrence=step.at.isoformat())
    changed = climb.case
    claimed: Survey | None = None
    if changed.closing == "due" and changed.closing_at and changed.closing_at <= now:
        changed, claimed = _closing(changed, now, deps)
    resurveyed = 0
    if changed.resurvey_at and changed.resurvey_id is None and changed.resurvey_at <= now:
        if changed.closing == "due" and changed.closing_at:      # the closing message first
            changed = replace(changed, resurvey_at=max(changed.resurvey_at, changed.closing_at))
        else:
            changed, resurveyed = _resurvey(changed, now, deps)
    if changed != case:
        saved = deps.cases.save(changed, case.version)
        if claimed is not None:
            _send_closing(saved, claimed, now, deps)
    return {"rungs": len(climb.fired), "closings": int(claimed is not None), "resurveys": resurveyed}


def _entry(case: Case, now: datetime, kind: str, **detail: str) -> tuple[TimelineEntry, ...]:
    return case.timeline + (TimelineEntry(now, kind, ROBOT, detail),)


def _reachable(case: Case, deps: CaseScheduleDeps) -> tuple[Survey | None, str | None]:
    """The survey to message the customer through, or why not (gone, opted out, no channel)."""
    survey = deps.surveys.get_survey(case.survey_id)
    if survey is None or not (survey.phone or survey.email or survey.line_user_id or survey.wechat_openid):
        return None, "survey_expired"
    # The survey's contact as stored, and its address under every listed key version (an opt-out
    # written after a rotation is under the current one).
    primary = survey.phone or survey.email or survey.line_user_id or survey.wechat_openid or ""
    keys = [survey.contact_key, *every_key(primary, deps.contact_key, deps.contact_keys)]
    row = channels.find(survey.channel)
    if row is not None and row.address is AddressKind.EMAIL and survey.email:  # its unsubscribe blocks email
        keys.extend(every_key(survey.email, deps.contact_key, deps.contact_keys))
    if row is not None and row.address is AddressKind.LINE_USER_ID and survey.line_user_id:  # unfollow blocks LINE
        keys.extend(every_key(survey.line_user_id, deps.contact_key, deps.contact_keys))
    if row is not None and row.address is AddressKind.WECHAT_OPENID and survey.wechat_openid:  # unfollow blocks WeChat
        keys.extend(every_key(survey.wechat_openid, deps.contact_key, deps.contact_keys))
    for key in dict.fromkeys(keys):
        contact = deps.surveys.get_contact(key)
        if contact is not None and contact.opted_out:
            return None, "opted_out"
    if survey.channel not in deps.senders:
        return None, f"no_sender:{survey.channel}"
    return survey, None


def _closing(case: Case, now: datetime, deps: CaseScheduleDeps) -> tuple[Case, Survey | None]:
    survey, why_not = _reachable(case, deps)
    if survey is None:
        return replace(case, closing="skipped", closing_at=None,
                       timeline=_entry(case, now, "closing_skipped", reason=why_not or "")), None
    opens = deps.hours.next_opening(now, deps.places.of_survey(survey))
    if opens > now:                    # outside the customer's send window: wait for it
        return replace(case, closing_at=opens), None
    return replace(case, closing="sent", closing_at=None, channel=survey.channel,
                   timeline=_entry(case, now, "closing_sent", channel=survey.channel)), survey


def _send_closing(case: Case, survey: Survey, now: datetime, deps: CaseScheduleDeps) -> None:
    """Send the claimed closing message. When it fails, the claim's `closing_sent` entry is
    replaced by what happened: tried again later, or failed."""
    try:
        deps.senders[survey.channel].send(survey, CLOSING)
        count("ClosingSent", channel=survey.channel)
        return
    except RetryableError as exc:
        attempts = sum(1 for e in case.timeline if e.kind == "closing_retry") + 1
        failed = attempts >= CLOSING_ATTEMPTS
        after = _unclaimed(case, now, "failed" if failed else "due", None if failed else now + CLOSING_RETRY_AFTER,
                           "closing_failed" if failed else "closing_retry", type(exc).__name__)
    except PermanentError as exc:
        if isinstance(exc, RecipientOptedOut):      # the carrier says so: no survey goes there either
            deps.surveys.set_opt_out(exc.contact_key or survey.contact_key, True, exc.audit, now)
        after = _unclaimed(case, now, "failed", None, "closing_failed", type(exc).__name__)
    count("ClosingFailed" if after.closing == "failed" else "ClosingRetried", channel=survey.channel)
    logger.warning("closing message not sent", extra={"case_id": case.case_id, "closing": after.closing})
    deps.cases.save(after, case.version)


def _unclaimed(case: Case, now: datetime, closing: str, closing_at: datetime | None, kind: str, error: str) -> Case:
    claims = [i for i, e in enumerate(case.timeline) if e.kind == "closing_sent" and e.at == now]
    kept = tuple(e for i, e in enumerate(case.timeline) if i not in claims[-1:])
    return replace(case, closing=closing, closing_at=closing_at,
                   timeline=kept + (TimelineEntry(now, kind, ROBOT, {"channel": case.channel, "error": error}),))


def _resurvey(case: Case, now: datetime, deps: CaseScheduleDeps) -> tuple[Case, int]:
    survey, why_not = _reachable(case, deps)
    if survey is None:
        return replace(case, resurvey_at=None,
                       timeline=_entry(case, now, "resurvey_skipped", reason=why_not or "")), 0
    event = resurvey_event(survey, case, now, deps.places.of_survey(survey))
    if deps.intake.enqueue([event]):            # refused: the case stays due, the next tick tries again
        raise EnqueueFailed(f"the intake queue did not take the re-survey of case {case.case_id}")
    return replace(case, resurvey_id=event["event_id"],
                   timeline=_entry(case, now, "resurvey_sent", survey_id=event["event_id"])), 1


def resurvey_event(survey: Survey, case: Case, now: datetime, place: Place) -> dict[str, Any]:
    """A ProcedureCompleted event for the same procedure and customer, marked as a re-survey of the
    case (context `resurvey_of`): its answer tells whether the customer recovered. The customer's
    place goes with it (the zone, and the country as the locale's region: en-GB), so dispatch
    places the new survey where the first one was."""
    locale = f"{survey.locale}-{place.country}" if place.country else survey.locale
    customer: dict[str, Any] = {"id": survey.customer_id, "locale": locale, "timezone": place.timezone}
    if survey.phone:
        customer["phone"] = survey.phone
    if survey.email:
        customer["email"] = survey.email
    if survey.line_user_id:
        customer["line_user_id"] = survey.line_user_id
    if survey.wechat_openid:
        customer["wechat_openid"] = survey.wechat_openid
    context = {k: v for k, v in survey.context.items() if k != RESURVEY_OF}
    return {"event_id": resurvey_id(survey.survey_id), "procedure": survey.procedure,
            "completed_at": now.isoformat(), "customer": customer, "context": {**context, RESURVEY_OF: case.case_id}}


def resurvey_id(survey_id: str) -> str:
    """`<survey>~resurvey`; a survey id too long for that (event ids are at most 128 characters)
    is shortened to its hash, as stable."""
    event_id = survey_id + RESURVEY_SUFFIX
    if len(event_id) <= MAX_EVENT_ID:
        return event_id
    return hashlib.sha256(survey_id.encode()).hexdigest()[:64] + RESURVEY_SUFFIX
