"""Quiet hours and holidays: an event outside the customer's send window is scheduled, never
dropped, and the schedule sends it at the next opening, once, in order."""

from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import NoSender, RetryableSendError
from chalicelib.services.tick import release_scheduled, tick
from tests.services.conftest import HOURS, PLACES

JP = {"phone": "+819012345678", "locale": "ja-JP", "email": None, "timezone": None}
SURVEY = "claims-2026-000123-paid"


def at(world, iso):
    world.clock.now = datetime.fromisoformat(iso).astimezone(UTC)
    return world.clock.now.isoformat()


def test_an_event_at_23_00_in_tokyo_is_sent_at_09_00_the_next_non_holiday_morning(world):
    completed = at(world, "2026-11-22T23:00:00+09:00")         # Sunday night; Monday 23 Nov is a holiday
    outcome = world.dispatch(customer=JP, completed_at=completed)
    assert outcome == {"survey_id": SURVEY, "status": "scheduled", "reason": "outside_send_window",
                       "send_at": "2026-11-24T00:00:00+00:00"}                 # Tuesday 09:00 in Tokyo
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.channel, world.sms.sent) == (SurveyStatus.SCHEDULED, "sms_link", [])
    at(world, "2026-11-24T08:59:00+09:00")
    assert tick(world.tick_deps)["released"] == 0
    at(world, "2026-11-24T09:00:00+09:00")
    assert tick(world.tick_deps)["released"] == 1
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SENT and len(world.sms.sent) == 1
    assert tick(world.tick_deps)["released"] == 0                              # sent once


@pytest.mark.parametrize("local, expected", [
    ("2026-11-24T08:59:00+09:00", "2026-11-24T00:00:00+00:00"),   # before 09:00: today at 09:00
    ("2026-11-24T20:00:00+09:00", "2026-11-25T00:00:00+00:00"),   # 20:00 is closed: tomorrow
    ("2026-12-31T21:00:00+09:00", "2027-01-02T00:00:00+00:00"),   # 1 January is a public holiday
])
def test_the_next_opening_skips_the_night_and_holidays(world, local, expected):
    completed = at(world, local)
    assert world.dispatch(customer=JP, completed_at=completed)["send_at"] == expected


def test_inside_the_window_the_survey_is_sent_at_once(world):
    completed = at(world, "2026-11-24T10:00:00+09:00")
    assert world.dispatch(customer=JP, completed_at=completed)["status"] == "sent"


def test_the_events_timezone_wins_over_the_phone_numbers(world):
    completed = at(world, "2026-11-24T10:00:00+09:00")        # 01:00 UTC: 20:00 the day before in New York
    outcome = world.dispatch(customer={**JP, "timezone": "America/New_York"}, completed_at=completed)
    assert outcome["status"] == "scheduled"


def test_deferred_surveys_are_released_in_their_order_and_a_scheduled_one_holds_the_slot(world):
    completed = at(world, "2026-11-24T22:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    second = world.dispatch(event_id="policy-2026-000600", procedure="new_policy", customer=JP, completed_at=completed)
    assert (second["status"], second["reason"]) == ("suppressed", "conversation_open")
    other = {**JP, "phone": "+819012345679"}
    at(world, "2026-11-24T22:30:00+09:00")
    world.dispatch(event_id="policy-2026-000601", procedure="new_policy", customer=other, completed_at=completed)
    at(world, "2026-11-25T09:05:00+09:00")
    assert tick(world.tick_deps)["released"] == 2
    assert [m["to"] for m in world.sms.sent] == ["+819012345678", "+819012345679"]


def test_two_overlapping_ticks_send_a_scheduled_survey_once(world):
    completed = at(world, "2026-11-24T22:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    at(world, "2026-11-25T09:00:00+09:00")
    due = world.store.scheduled_due(world.clock(), 10)        # both ticks read the same due list
    world.store.scheduled_due = lambda now, limit: due
    first = release_scheduled(world.store, world.tick_deps.senders, world.clock(), HOURS, PLACES)
    second = release_scheduled(world.store, world.tick_deps.senders, world.clock(), HOURS, PLACES)
    assert (first["released"], second["released"], second["release_raced"]) == (1, 0, 1)
    assert len(world.sms.sent) == 1


def test_a_throttled_release_waits_for_the_next_tick_and_a_missing_sender_fails_with_its_reason(world):
    completed = at(world, "2026-11-24T22:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    at(world, "2026-11-25T09:00:00+09:00")
    world.sms.fail_with = RetryableSendError("twilio 20429")
    assert tick(world.tick_deps)["postponed"] == 1
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SCHEDULED
    world.clock.advance(minutes=1)
    assert tick(world.tick_deps)["released"] == 1 and len(world.sms.sent) == 1

    world.dispatch(event_id="policy-2026-000700", procedure="new_policy",
                   customer={**JP, "phone": "+819012345670"}, completed_at=at(world, "2026-11-25T22:00:00+09:00"))
    at(world, "2026-11-26T09:00:00+09:00")
    release_scheduled(world.store, {}, world.clock(), HOURS, PLACES)
    failed = world.store.get_survey("policy-2026-000700")
    assert (failed.status, failed.reason) == (SurveyStatus.FAILED, f"release_failed:{NoSender.__name__}")


def test_a_replayed_event_of_a_scheduled_survey_is_a_duplicate(world):
    completed = at(world, "2026-11-24T22:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    assert world.dispatch(customer=JP, completed_at=completed) == {
        "survey_id": SURVEY, "status": "scheduled", "reason": "duplicate_event"}


def test_a_text_before_the_scheduled_survey_is_sent_is_kept_for_cx_not_taken_as_its_answer(world):
    """Found through the local stack: the customer texts "2 ..." while their survey waits for the
    send window; the reply was taken as the survey's answer (scheduled -> answered, not a move the
    lifecycle allows) and the webhook answered 500, which Twilio retries. Nothing was asked yet."""
    completed = at(world, "2026-11-22T23:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    assert world.reply("2 I want to cancel my policy", sender=JP["phone"]) is None
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SCHEDULED
    [kept] = world.store.inbox.values()
    assert kept.reason == "survey_not_sent_yet"
    world.reply("STOP", sender=JP["phone"])                                  # STOP still opts out
    assert world.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT


def test_a_tick_out_of_time_releases_what_fits_and_leaves_the_rest_due_for_the_next(world):
    from chalicelib.services.budget import Budget

    completed = at(world, "2026-11-24T22:00:00+09:00")
    world.dispatch(customer=JP, completed_at=completed)
    other = {**JP, "phone": "+819012345679"}
    world.dispatch(event_id="policy-2026-000601", procedure="new_policy", customer=other, completed_at=completed)
    at(world, "2026-11-25T09:05:00+09:00")
    left = iter([20_000, 5_000])                    # time for one send, then not
    assert tick(world.tick_deps, Budget(lambda: next(left), reserve_ms=12_000))["released"] == 1
    assert [m["to"] for m in world.sms.sent] == ["+819012345678"]
    assert tick(world.tick_deps)["released"] == 1       # the next tick sends the other
    assert [m["to"] for m in world.sms.sent] == ["+819012345678", "+819012345679"]
