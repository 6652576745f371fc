"""The survey lifecycle table: statuses, allowed moves, and what each does to the contact's slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Step, Survey, SurveyStatus
from chalicelib.domain.survey_lifecycle import IllegalTransition, SlotEffect

S = SurveyStatus
NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)


def survey(status: SurveyStatus = S.SENT, **changes) -> Survey:
    base = Survey(survey_id="claims-2026-000123-paid", procedure="claim_payment", customer_id="C-1",
                  contact_key="k", locale="en", channel="sms_two_way", channel_reason="two_way_sms_supported:US",
                  status=status, created_at=NOW, completed_at=NOW, open_until=NOW + timedelta(hours=24))
    return Survey(**{**base.__dict__, **changes})


def test_every_status_is_in_the_tables():
    assert set(lifecycle.SLOT) == set(S) == set(lifecycle.ALLOWED)
    assert lifecycle.OPEN_STATUSES | lifecycle.TERMINAL_STATUSES == set(S)
    assert not lifecycle.OPEN_STATUSES & lifecycle.TERMINAL_STATUSES


def test_open_statuses_hold_the_slot_and_terminal_ones_free_it():
    assert lifecycle.OPEN_STATUSES == {S.SCHEDULED, S.SENDING, S.SENT, S.DELIVERED, S.REMINDED}
    assert all(lifecycle.is_open(s) for s in lifecycle.OPEN_STATUSES)
    assert not any(lifecycle.is_open(s) for s in lifecycle.TERMINAL_STATUSES)


@pytest.mark.parametrize("old", sorted(lifecycle.OPEN_STATUSES - {S.SCHEDULED}))
@pytest.mark.parametrize("new", sorted(lifecycle.TERMINAL_STATUSES - {S.SUPPRESSED, S.LATE}))
def test_closing_an_open_survey_releases_the_slot(old, new):
    assert lifecycle.slot_effect(old, new) is SlotEffect.RELEASE


@pytest.mark.parametrize("new", [S.OPTED_OUT, S.FAILED, S.EXPIRED])
def test_a_scheduled_survey_that_ends_before_its_release_frees_the_slot(new):
    assert lifecycle.slot_effect(S.SCHEDULED, new) is SlotEffect.RELEASE


@pytest.mark.parametrize("new", [S.ANSWERED, S.UNREADABLE, S.SENT, S.DELIVERED, S.SUPPRESSED])
def test_a_scheduled_survey_is_released_before_anything_can_be_answered(new):
    with pytest.raises(IllegalTransition):
        lifecycle.check(S.SCHEDULED, new)


def test_releasing_a_scheduled_survey_keeps_the_slot():
    assert lifecycle.slot_effect(S.SCHEDULED, S.SENDING) is SlotEffect.KEEP


@pytest.mark.parametrize("old, new", [(S.SENDING, S.SENT), (S.SENT, S.DELIVERED), (S.SENT, S.SENT),
                                      (S.DELIVERED, S.DELIVERED), (S.SENDING, S.DELIVERED)])
def test_moves_between_open_statuses_keep_the_slot(old, new):
    assert lifecycle.slot_effect(old, new) is SlotEffect.KEEP


@pytest.mark.parametrize("old", sorted(lifecycle.TERMINAL_STATUSES))
@pytest.mark.parametrize("new", sorted(S))
def test_a_closed_survey_never_moves_again_but_an_expired_one_may_be_answered_late(old, new):
    if (old, new) == (S.EXPIRED, S.LATE):
        assert lifecycle.slot_effect(old, new) is SlotEffect.KEEP       # the slot was freed at expiry
        return
    with pytest.raises(IllegalTransition):
        lifecycle.slot_effect(old, new)


@pytest.mark.parametrize("old", [S.SENT, S.DELIVERED])
def test_the_reminder_keeps_the_survey_open_and_it_can_still_be_answered(old):
    assert lifecycle.slot_effect(old, S.REMINDED) is SlotEffect.KEEP
    assert lifecycle.slot_effect(S.REMINDED, S.ANSWERED) is SlotEffect.RELEASE
    with pytest.raises(IllegalTransition):
        lifecycle.check(S.REMINDED, S.SENT)


@pytest.mark.parametrize("old, new", [(S.DELIVERED, S.SENT), (S.REMINDED, S.SENT), (S.SENDING, S.SUPPRESSED)])
def test_no_move_backwards_and_an_open_survey_is_never_suppressed(old, new):
    with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
        lifecycle.check(old, new)


def test_a_survey_starts_scheduled_sending_or_suppressed():
    assert lifecycle.INITIAL_STATUSES == {S.SCHEDULED, S.SENDING, S.SUPPRESSED}


def test_close_ends_the_conversation_and_leaves_the_open_index():
    closed = lifecycle.close(survey(S.DELIVERED, step=Step.AWAIT_COMMENT), S.ANSWERED, "no_comment")
    assert (closed.status, closed.step, closed.reason, closed.open_until) == (
        S.ANSWERED, Step.DONE, "no_comment", None)


def test_close_refuses_an_open_status_and_a_closed_survey():
    with pytest.raises(ValueError, match="does not end a survey"):
        lifecycle.close(survey(), S.DELIVERED, None)
    with pytest.raises(IllegalTransition):
        lifecycle.close(survey(S.ANSWERED), S.EXPIRED, "no_reply")


@pytest.mark.parametrize("given, expected", [
    (survey(S.SENT, score=8), (S.ANSWERED, "no_comment")),
    (survey(S.SENDING), (S.FAILED, "send_not_confirmed")),
    (survey(S.DELIVERED), (S.EXPIRED, "no_reply")),
    (survey(S.SENT), (S.EXPIRED, "no_reply")),
    (survey(S.SCHEDULED), (S.FAILED, "never_released")),
])
def test_how_a_survey_ends_when_its_window_passes(given, expected):
    assert lifecycle.at_window_end(given) == expected


def test_delivery_ranks_never_let_a_late_callback_move_backwards():
    ranks = lifecycle.DELIVERY_RANKS
    assert ranks["queued"] < ranks["sending"] < ranks["sent"] < ranks["delivered"] < ranks["read"]
    assert {ranks[s] for s in lifecycle.DELIVERY_FAILURES} == {ranks["delivered"]}
    assert lifecycle.delivery_failure_reason("undelivered", None) == "undelivered_unknown"
    assert lifecycle.delivery_failure_reason("failed", "30003") == "failed_30003"


@pytest.mark.parametrize("old, new, expected", [
    (None, survey(S.SENT), ("sent",)),
    (survey(S.SENT), survey(S.ANSWERED), ("answered", "delivered")),          # the answer proves it arrived
    (survey(S.REMINDED), survey(S.ANSWERED), ("answered", "delivered")),
    (survey(S.SENT, delivery_status="delivered"), survey(S.ANSWERED, delivery_status="delivered"), ("answered",)),
    (survey(S.EXPIRED), survey(S.LATE), ("late", "delivered")),
    (survey(S.SENT), survey(S.EXPIRED), ("expired",)),                        # no answer, no report: unknown
    (survey(S.SENT, delivery_status="undelivered"), survey(S.FAILED, reason="undelivered_30006"),
     ("failed:undelivered_30006",)),
    (survey(S.SENT), survey(S.DELIVERED), ()),                                # the status alone counts nothing
    (survey(S.ANSWERED), survey(S.ANSWERED), ()),
])
def test_each_outcome_and_delivered_are_counted_once(old, new, expected):
    assert lifecycle.counts_as_new_outcomes(old, new) == expected


def test_the_carriers_delivered_counts_unless_the_customer_replied_first():
    assert lifecycle.counts_as_delivered("delivered", survey(S.SENT, delivery_status="delivered"))
    assert not lifecycle.counts_as_delivered("delivered", survey(S.ANSWERED, delivery_status="delivered"))
    assert not lifecycle.counts_as_delivered("undelivered", survey(S.SENT, delivery_status="undelivered"))
