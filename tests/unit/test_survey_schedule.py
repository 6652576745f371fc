"""The schedule's decisions: release and remind only inside the response window, and only inside the
customer's send window (else at its next opening, if the response window is still open then)."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import survey_schedule as schedule
from chalicelib.domain.model import Survey, SurveyStatus

NOW = datetime(2026, 11, 24, 15, tzinfo=UTC)


def survey(**changes):
    base = dict(survey_id="s", procedure="p", customer_id="c", contact_key="k", locale="en", channel="sms_two_way",
                channel_reason="r", status=SurveyStatus.SENT, created_at=NOW, completed_at=NOW,
                open_until=NOW + timedelta(days=1))
    return Survey(**{**base, **changes})


def test_a_sent_unanswered_survey_in_both_windows_is_reminded_now():
    assert schedule.reminder(survey(), NOW, NOW) == schedule.Now()
    assert schedule.reminder(survey(status=SurveyStatus.DELIVERED), NOW, NOW) == schedule.Now()


@pytest.mark.parametrize("open_until", [NOW, NOW - timedelta(hours=100), None])
def test_no_reminder_once_the_response_window_has_passed(open_until):
    assert schedule.reminder(survey(open_until=open_until), NOW, NOW) == schedule.Never(schedule.WINDOW_OVER)


def test_outside_the_send_window_the_reminder_waits_for_its_opening_if_the_response_window_is_open_then():
    opens = NOW + timedelta(hours=10)
    assert schedule.reminder(survey(), NOW, opens) == schedule.Later(opens)
    assert schedule.reminder(survey(open_until=opens), NOW, opens) == schedule.Never(schedule.WINDOW_OVER)


@pytest.mark.parametrize("status", [SurveyStatus.SCHEDULED, SurveyStatus.SENDING, SurveyStatus.REMINDED,
                                    SurveyStatus.ANSWERED, SurveyStatus.EXPIRED])
def test_no_reminder_to_a_survey_not_awaiting_one(status):
    assert schedule.reminder(survey(status=status), NOW, NOW) == schedule.Never(schedule.NOT_AWAITING)


def test_no_reminder_to_a_survey_with_a_score():
    assert schedule.reminder(survey(score=8), NOW, NOW) == schedule.Never(schedule.ANSWERED)


def test_a_deferred_survey_is_released_inside_both_windows_only():
    scheduled = survey(status=SurveyStatus.SCHEDULED)
    assert schedule.release(scheduled, NOW, NOW) == schedule.Now()
    assert schedule.release(scheduled, NOW, NOW + timedelta(hours=3)) == schedule.Later(NOW + timedelta(hours=3))
    assert schedule.release(scheduled, NOW + timedelta(days=2), NOW + timedelta(days=2)) == schedule.Never(
        schedule.WINDOW_OVER)
    assert schedule.release(survey(), NOW, NOW) == schedule.Never(schedule.NOT_AWAITING)
