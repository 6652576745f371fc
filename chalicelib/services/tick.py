"""The every-minute schedule: close the conversations whose response window has passed, then
release the surveys whose send window has opened, then send the one reminder.

Expiry runs first: a tick that comes late (a stalled schedule, a clock moved forward) must not
release or remind a survey nobody can answer any more. The release and the reminder also ask
domain/survey_schedule.py, since expiry closes a batch at a time: a survey past its response window
is never sent, and a moment outside the customer's send window (their stored place: country, zone,
holidays) waits for its next opening.

Releasing is claim-then-send: the survey moves `scheduled` -> `sending` under a send lease, on
condition that it is still scheduled, so two ticks that overlap (or a schedule that fires twice) send
it once; earliest send time first, so deferred surveys keep their order. A release the carrier
throttles waits for the next tick. The lease lives in the same send time, so a survey left `sending`
(its function died, or the carrier's answer was in doubt, and no status callback recorded the message)
comes due again when its lease ends, and is claimed and sent again like a deferred one. How a window
ends is the lifecycle's decision (domain/survey_lifecycle.py); each frees the contact's slot. The
cases' schedule (ladder, closing message) is services/case_schedule.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain import survey_schedule as schedule
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.domain.send_pace import Pacer, SendRates
from chalicelib.domain.send_window import SendHours
from chalicelib.errors import NoSender, PermanentError, RetryableError, RetryableSendError, StaleSurvey
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.budget import UNLIMITED, Budget, schedule_cut_short
from chalicelib.services.ports import ConversationStore, SurveySender
from chalicelib.services.send_survey import claim, send_survey

BATCH = 100
# With a pace (KOE_SEND_RATES), a tick reads batch after batch while its time lasts: at 50 messages a
# second a batch of 100 is 2 s of a 30 s tick. At most this many batches (a tick's worth at 100/s).
PACED_BATCHES = 30
REMINDER = "reminder"       # the template key of the one reminder, on every channel
RETRY_RELEASE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class TickDeps:
    store: ConversationStore
    senders: Mapping[str, SurveySender]
    clock: Callable[[], datetime]
    hours: SendHours            # the send window of the customer's country, their holidays
    places: PlaceRules          # the place of a survey stored before places were
    rates: SendRates = field(default_factory=SendRates)      # KOE_SEND_RATES: each sender's messages a second
    monotonic: Callable[[], float] = time.monotonic          # what the pacing waits on
    sleep: Callable[[float], None] = time.sleep
    send_lease: timedelta = lifecycle.SEND_LEASE             # KOE_SEND_LEASE_S


def tick(deps: TickDeps, budget: Budget = UNLIMITED) -> dict[str, int]:
    """Expiry first (see the module docstring), then releases, then reminders; each job stops
    starting sends when the invocation's budget is spent (the next tick goes on where it stopped).
    Releases and reminders share each sender's pace (domain/send_pace.py)."""
    now = deps.clock()
    pacer = Pacer(deps.rates, deps.monotonic, deps.sleep)
    return run_jobs({"expire": lambda: expire_conversations(deps.store, now),
                     "release": lambda: release_scheduled(deps.store, deps.senders, now, deps.hours, deps.places,
                                                          budget, pacer, deps.send_lease),
                     "remind": lambda: send_reminders(deps.store, deps.senders, now, deps.hours, deps.places,
                                                      budget, pacer)})


def run_jobs(jobs: Mapping[str, Callable[[], dict[str, int]]]) -> dict[str, int]:
    """Every job of the schedule runs, whatever another one raised: a failing job is logged and
    counted (ScheduleJobFailed) and the first failure is raised once all have run, so the invocation
    still reports the error (and its alarm) without one bad item stopping every other job."""
    totals: dict[str, int] = {}
    failure: Exception | None = None
    for name, job in jobs.items():
        try:
            totals.update(job())
        except Exception as exc:      # re-raised below, after the other jobs
            count("ScheduleJobFailed", job=name)
            logger.exception("schedule job failed", extra={"job": name, "error": type(exc).__name__})
            failure = failure or exc
    if failure is not None:
        raise failure
    return totals


def send_reminders(store: ConversationStore, senders: Mapping[str, SurveySender], now: datetime,
                   hours: SendHours, places: PlaceRules, budget: Budget = UNLIMITED,
                   pacer: Pacer | None = None) -> dict[str, int]:
    """The one reminder, on the survey's channel, to a customer who has not answered by its time
    (set inside their send window when the survey opened). domain/survey_schedule.reminder decides:
    none past the response window or to an answered survey (taken off the reminder schedule), and
    a moment outside the customer's send window moves it to the next opening. Claimed first
    (`reminded`, on condition the survey is unchanged), so it goes out once; a reminder the carrier
    refuses is not retried: one reminder is a courtesy, two would be a nuisance."""
    reminded = skipped = waiting = raced = failed = 0
    for survey in _due(store.reminders_due, now, pacer):
        if budget.exhausted():
            schedule_cut_short("remind")
            break
        decision = schedule.reminder(survey, now, hours.next_opening(now, places.of_survey(survey)))
        try:
            if isinstance(decision, schedule.Never):
                _off_the_reminder_schedule(store, survey, now)
                skipped += 1
                continue
            if isinstance(decision, schedule.Later):
                survey_moves.move(store, survey, replace(survey, remind_at=decision.at), now)
                waiting += 1
                continue
            if not _paced(pacer, survey.channel, budget):
                schedule_cut_short("remind")
                break
            claimed = replace(survey, status=SurveyStatus.REMINDED, remind_at=None)
            survey_moves.move(store, survey, claimed, now)
        except StaleSurvey:
            raced += 1
            continue
        sender = senders.get(survey.channel)
        try:
            if sender is None:
                raise NoSender(survey.channel)
            sender.send(claimed, REMINDER)
            reminded += 1
        except (RetryableError, PermanentError) as exc:
            failed += 1
            logger.warning("reminder not sent", extra={"survey_id": survey.survey_id, "error": type(exc).__name__})
    if reminded:
        count("ReminderSent", value=reminded)
    if failed:
        count("ReminderFailed", value=failed)
    logger.info("reminders", extra={"reminded": reminded, "skipped": skipped, "waiting": waiting, "raced": raced,
                                    "failed": failed})
    return {"reminded": reminded, "reminder_failed": failed}


def _off_the_reminder_schedule(store: ConversationStore, survey: Survey, now: datetime) -> None:
    """No reminder for this survey: its remind_at goes (an open survey by a move; one that ended
    before ending cleared it, by a cleanup that is not a move)."""
    if lifecycle.is_open(survey.status):
        survey_moves.move(store, survey, replace(survey, remind_at=None), now)
    else:
        store.update_survey(survey, replace(survey, remind_at=None), (), None, now)


def release_scheduled(store: ConversationStore, senders: Mapping[str, SurveySender], now: datetime,
                      hours: SendHours, places: PlaceRules, budget: Budget = UNLIMITED,
                      pacer: Pacer | None = None, lease: timedelta = lifecycle.SEND_LEASE) -> dict[str, int]:
    """The deferred surveys whose send time has come, and the sends whose lease ended unrecorded,
    inside the customer's send window and their response window (domain/survey_schedule.release):
    sent, moved to the next opening of the send window, or ended as never released (or never sent)."""
    released = raced = postponed = failed = waiting = ended = in_doubt = 0
    for survey in _due(store.scheduled_due, now, pacer):
        if budget.exhausted():
            schedule_cut_short("release")
            break
        decision = schedule.release(survey, now, hours.next_opening(now, places.of_survey(survey)))
        try:
            if isinstance(decision, schedule.Later):
                later = replace(survey, status=SurveyStatus.SCHEDULED, send_at=decision.at)
                survey_moves.move(store, survey, later, now)
                waiting += 1
                continue
            if isinstance(decision, schedule.Never):
                ended += _not_released(store, survey, decision, now)
                continue
            if not _paced(pacer, survey.channel, budget):
                schedule_cut_short("release")
                break
            if survey.status is SurveyStatus.SENDING:
                count("SendReclaimed", channel=survey.channel)
                logger.warning("send lease ended with no record of the message: sending again",
                               extra={"survey_id": survey.survey_id})
            sending = claim(store, survey, now, lease)
        except StaleSurvey:
            raced += 1          # another tick claimed it, or it ended meanwhile
            continue
        try:
            send_survey(sending, senders, store, now)
            released += 1
        except RetryableSendError as exc:
            if exc.in_doubt:
                in_doubt += 1       # the carrier may have it: the lease decides
            else:
                postponed += _postpone(store, sending, now, exc)
        except RetryableError:
            in_doubt += 1           # sent, not recorded; or changed meanwhile: the lease decides
        except PermanentError as exc:
            failed += _fail(store, sending, now, exc)
    if released or postponed or failed:
        count("ScheduledReleased", value=released)
    logger.info("scheduled surveys", extra={"released": released, "raced": raced, "postponed": postponed,
                                            "failed": failed, "waiting": waiting, "ended": ended,
                                            "in_doubt": in_doubt})
    return {"released": released, "release_raced": raced, "postponed": postponed, "release_failed": failed}


def _due(read: Callable[[datetime, int], list[Survey]], now: datetime, pacer: Pacer | None) -> Iterator[Survey]:
    """What is due, a batch at a time: one batch unpaced; paced, the next batch while the last one
    was full (each survey taken leaves the index: sent, moved later, or ended), never one twice."""
    seen: set[str] = set()
    for _ in range(PACED_BATCHES if pacer is not None and pacer.paced else 1):
        batch = [s for s in read(now, BATCH) if s.survey_id not in seen]
        yield from batch
        seen.update(s.survey_id for s in batch)
        if len(batch) < BATCH:
            return


def _paced(pacer: Pacer | None, channel: str, budget: Budget) -> bool:
    """Wait for the sender's next slot; False (nothing claimed, nothing sent) when the wait would not
    leave time to send before the invocation ends: the survey stays due for the next tick."""
    if pacer is None:
        return True
    delay = pacer.next_slot(channel)
    if delay > 0 and not budget.allows_wait(delay):
        return False
    pacer.wait(channel)
    return True


def _not_released(store: ConversationStore, survey: Survey, decision: schedule.Never, now: datetime) -> int:
    """Past its response window before it could go: ended as the lifecycle ends a survey never
    released. Not scheduled any more (it ended meanwhile): only its send time goes."""
    if decision.reason != schedule.WINDOW_OVER or survey.status not in schedule.RELEASABLE:
        store.update_survey(survey, replace(survey, send_at=None), (), None, now)
        return 0
    status, reason = lifecycle.at_window_end(survey)
    survey_moves.close(store, survey, status, reason, now)
    count("SurveyFailed", reason=reason)
    logger.warning("deferred survey past its response window", extra={"survey_id": survey.survey_id,
                                                                      "reason": reason})
    return 1


def _postpone(store: ConversationStore, survey: Survey, now: datetime, exc: Exception) -> int:
    """Back to `scheduled` for the next tick: the carrier is throttling, not refusing. If that write
    fails too, the send's lease brings the survey back all the same, a little later."""
    later = replace(survey, status=SurveyStatus.SCHEDULED, send_at=now + RETRY_RELEASE_AFTER)
    try:
        survey_moves.move(store, survey, later, now)
    except RetryableError as write_error:
        logger.warning("release postponed by its lease", extra={"survey_id": survey.survey_id,
                                                                 "error": type(write_error).__name__})
        return 1
    logger.warning("release postponed", extra={"survey_id": survey.survey_id, "error": type(exc).__name__})
    return 1


def _fail(store: ConversationStore, survey: Survey, now: datetime, exc: Exception) -> int:
    reason = f"release_failed:{type(exc).__name__}"
    survey_moves.close(store, survey, SurveyStatus.FAILED, reason, now)
    count("SurveyFailed", reason=reason)
    logger.error("scheduled survey could not be sent", extra={"survey_id": survey.survey_id, "reason": reason})
    return 1


def expire_conversations(store: ConversationStore, now: datetime) -> dict[str, int]:
    closed = raced = 0
    for survey in store.open_surveys_due(now, BATCH):
        status, reason = lifecycle.at_window_end(survey)
        try:
            survey_moves.close(store, survey, status, reason, now)
            closed += 1
        except StaleSurvey:
            raced += 1      # a reply arrived meanwhile; the next tick sees the new state
    if closed:
        count("ConversationsClosed", value=closed)
    logger.info("tick", extra={"closed": closed, "raced": raced})
    return {"closed": closed, "raced": raced}
