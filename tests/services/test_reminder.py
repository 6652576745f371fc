"""The one reminder and the response window: a day later, inside the send window, on the same
channel, once; a survey that is answered (or has a score) gets none."""

from datetime import UTC, datetime, timedelta

from chalicelib.domain.model import SurveyStatus
from chalicelib.services.tick import send_reminders, tick
from tests.services.conftest import HOURS, PLACES

SURVEY = "claims-2026-000123-paid"
JP = {"phone": "+819012345678", "locale": "ja-JP", "email": None, "timezone": None}


def at(world, iso):
    world.clock.now = datetime.fromisoformat(iso).astimezone(UTC)
    return world.clock.now.isoformat()


def dispatch_with_reminder(world, **changes):
    """The defaults: a reminder after 24 hours, a 7-day response window."""
    world.reminder_after, world.response_window = timedelta(hours=24), timedelta(days=7)
    return world.dispatch(**changes)


def test_an_unanswered_survey_gets_one_reminder_a_day_later_inside_the_send_window(world):
    completed = at(world, "2026-11-24T19:30:00+09:00")          # Tuesday evening in Tokyo
    dispatch_with_reminder(world, customer=JP, completed_at=completed)
    survey = world.store.get_survey(SURVEY)
    assert survey.remind_at == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)    # 24 h later: 19:30 Wednesday
    at(world, "2026-11-25T19:29:00+09:00")
    assert tick(world.tick_deps)["reminded"] == 0
    at(world, "2026-11-25T19:30:00+09:00")
    assert tick(world.tick_deps)["reminded"] == 1
    assert world.store.get_survey(SURVEY).status is SurveyStatus.REMINDED
    assert len(world.sms.sent) == 2 and "先日の" in world.sms.sent[1]["body"]          # the sms_link reminder
    assert world.link(survey) in world.sms.sent[1]["body"]
    world.clock.advance(hours=1)
    assert tick(world.tick_deps)["reminded"] == 0 and len(world.sms.sent) == 2        # once


def test_a_reminder_that_would_fall_at_night_waits_for_the_morning(world):
    completed = at(world, "2026-11-24T20:30:00+09:00")      # closed: sent at 09:00 Wednesday
    dispatch_with_reminder(world, customer=JP, completed_at=completed)
    at(world, "2026-11-25T09:00:00+09:00")
    tick(world.tick_deps)
    assert world.store.get_survey(SURVEY).remind_at == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # Thursday 09:00


def test_an_answered_survey_or_one_with_a_score_gets_no_reminder(world):
    us = {"timezone": "America/New_York"}
    at(world, "2026-11-24T10:00:00-05:00")
    dispatch_with_reminder(world, customer=us, completed_at=world.clock.now.isoformat())
    world.reply("8")                                  # a score, the "why?" still to come
    world.clock.advance(hours=24)
    assert send_reminders(world.store, world.tick_deps.senders, world.clock(), HOURS, PLACES)["reminded"] == 0
    assert world.store.get_survey(SURVEY).remind_at is None and len(world.sms.sent) == 1


def test_no_reminder_when_it_would_come_as_the_window_ends(world):
    world.reminder_after = timedelta(hours=24)             # and the World's window is 24 h
    at(world, "2026-11-24T10:00:00-05:00")
    world.dispatch(customer={"timezone": "America/New_York"}, completed_at=world.clock.now.isoformat())
    assert world.store.get_survey(SURVEY).remind_at is None


def test_a_reminded_survey_expires_at_the_end_of_its_window(world):
    at(world, "2026-11-24T10:00:00-05:00")
    dispatch_with_reminder(world, customer={"timezone": "America/New_York"}, completed_at=world.clock.now.isoformat())
    world.clock.advance(days=1)
    assert tick(world.tick_deps)["reminded"] == 1
    world.clock.advance(days=6, seconds=1)
    assert tick(world.tick_deps)["closed"] == 1
    assert (world.store.get_survey(SURVEY).status, world.store.get_survey(SURVEY).reason) == (
        SurveyStatus.EXPIRED, "no_reply")


def test_a_reminder_within_the_window_then_an_answer(world):
    world.reminder_after, world.response_window = timedelta(hours=12), timedelta(days=7)
    us = {"timezone": "America/New_York"}
    at(world, "2026-11-24T08:00:00-05:00")
    world.dispatch(customer=us, completed_at=world.clock.now.isoformat())
    world.clock.advance(hours=12, minutes=5)              # 20:05 New York: closed; the reminder waits
    assert tick(world.tick_deps)["reminded"] == 0
    at(world, "2026-11-25T09:00:00-05:00")
    assert tick(world.tick_deps)["reminded"] == 1
    assert "a reminder" in world.sms.sent[-1]["body"]
    assert world.reply("9") == "Thank you. What is the main reason for your score?"
    assert world.store.get_survey(SURVEY).status is SurveyStatus.REMINDED


def test_a_survey_answered_before_its_reminder_leaves_the_reminder_schedule_and_the_tick_runs_on(world):
    """Found through the local stack: an SMS conversation answered to its end kept its remind_at, and
    the tick then tried to move the answered survey (answered -> answered), failed, and failed again
    every minute after, blocking every other job of the schedule."""
    at(world, "2026-11-24T10:00:00+09:00")                     # Tuesday morning in Tokyo (the event's zone)
    dispatch_with_reminder(world, completed_at=world.clock.now.isoformat())
    world.reply("3")
    world.reply("nobody called me back")
    answered = world.store.get_survey(SURVEY)
    assert (answered.status, answered.remind_at) == (SurveyStatus.ANSWERED, None)
    world.clock.advance(days=2)
    assert tick(world.tick_deps)["reminded"] == 0


def test_an_ended_survey_still_on_the_reminder_schedule_is_taken_off_it(world):
    """Surveys stored before that fix: ended, with a remind_at. The tick takes them off quietly."""
    from dataclasses import replace

    at(world, "2026-11-24T10:00:00+09:00")
    dispatch_with_reminder(world, completed_at=world.clock.now.isoformat())
    survey = world.store.get_survey(SURVEY)
    world.store.surveys[SURVEY] = replace(survey, status=SurveyStatus.ANSWERED, remind_at=survey.remind_at)
    world.clock.advance(days=2)
    assert tick(world.tick_deps)["reminded"] == 0
    assert world.store.get_survey(SURVEY).remind_at is None


# --- a late tick: the response window decides, the customer's hours too --------------------------

def test_after_a_200_hour_clock_move_no_reminder_goes_to_a_survey_past_its_window(world):
    """Found by moving the local stack's clock 200 h: every survey past its 7-day window got its
    reminder (the reminder ran before expiry, and looked only at remind_at), then expired."""
    at(world, "2026-11-24T10:00:00-05:00")
    dispatch_with_reminder(world, customer={"timezone": "America/New_York"}, completed_at=world.clock.now.isoformat())
    world.clock.advance(hours=200)
    totals = tick(world.tick_deps)
    assert (totals["reminded"], totals["closed"]) == (0, 1)
    assert len(world.sms.sent) == 1                                       # the invitation alone
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.reason, survey.remind_at) == (SurveyStatus.EXPIRED, "no_reply", None)


def test_a_survey_past_its_window_that_expiry_has_not_reached_gets_no_reminder(world):
    """Expiry closes a batch at a time: a survey it has not reached yet is still open, and the
    reminder itself refuses it (and takes it off the reminder schedule)."""
    at(world, "2026-11-24T10:00:00-05:00")
    dispatch_with_reminder(world, customer={"timezone": "America/New_York"}, completed_at=world.clock.now.isoformat())
    world.clock.advance(days=7, hours=1)
    assert send_reminders(world.store, world.tick_deps.senders, world.clock(), HOURS, PLACES)["reminded"] == 0
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.remind_at, len(world.sms.sent)) == (SurveyStatus.SENT, None, 1)


def test_after_a_200_hour_clock_move_more_stale_surveys_than_one_expiry_batch_get_no_reminder(world):
    """Expiry closes BATCH surveys a tick; the rest, still open past their window, are refused by the
    reminder itself (before: every one of the first BATCH got a reminder)."""
    from chalicelib.services.tick import BATCH

    at(world, "2026-11-24T10:00:00-05:00")
    world.reminder_after, world.response_window = timedelta(hours=24), timedelta(days=7)
    surveys = BATCH + 50
    for n in range(surveys):
        world.dispatch(event_id=f"ev-{n:03d}", customer={"phone": f"+1555010{n:04d}", "timezone": "America/New_York"},
                       completed_at=world.clock.now.isoformat())
    world.clock.advance(hours=200)
    totals = tick(world.tick_deps)
    assert (totals["closed"], totals["reminded"], len(world.sms.sent)) == (BATCH, 0, surveys)
    assert all(s.remind_at is None for s in world.store.surveys.values())
    assert tick(world.tick_deps)["closed"] == 50
