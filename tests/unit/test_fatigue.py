"""Fatigue: claim open, cooldown per procedure, a cap across procedures, sampling; a bounded history."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.fatigue import FatigueRules, after_survey, sample_point, skip_reason

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
RULES = FatigueRules(cap=2, cap_days=30)


def reason(history=(), procedure="claim_payment", context=None, cooldown=30, rules=RULES, event_id="ev-1"):
    return skip_reason(procedure, event_id, context or {}, history, NOW, cooldown, rules)


def days_ago(n, procedure="claim_payment"):
    return (procedure, NOW - timedelta(days=n))


@pytest.mark.parametrize("value", ["true", "True", "yes", "1", "open"])
def test_no_survey_while_the_claim_is_open(value):
    assert reason(context={"claim_open": value}) == "claim_open"
    assert reason(context={"claim_open": "false"}) is None


def test_cooldown_per_procedure():
    assert reason([days_ago(29)]) == "cooldown"
    assert reason([days_ago(31)]) is None
    assert reason([days_ago(1, "new_policy")]) is None


def test_a_cap_across_procedures_in_a_rolling_period():
    assert reason([days_ago(5, "new_policy"), days_ago(20, "address_change")]) == "fatigue_cap"
    assert reason([days_ago(5, "new_policy"), days_ago(31, "address_change")]) is None
    assert reason([days_ago(5, "new_policy")], rules=FatigueRules(cap=1)) == "fatigue_cap"


def test_sampling_is_a_share_decided_by_the_event_id_alone():
    rules = FatigueRules(sampling={"call_center": 0.25})
    ids = [f"call-{n}" for n in range(4000)]
    sampled = [i for i in ids if reason(procedure="call_center", rules=rules, event_id=i) is None]
    assert 0.22 < len(sampled) / len(ids) < 0.28
    assert all(reason(procedure="call_center", rules=rules, event_id=i) is None for i in sampled)   # replays agree
    assert reason(procedure="claim_payment", rules=rules) is None                                   # default: all
    assert reason(procedure="call_center", rules=FatigueRules(sampling={"call_center": 0.0})) == "not_sampled"


@given(st.text(min_size=1))
def test_a_sample_point_is_in_0_1(event_id):
    assert 0.0 <= sample_point(event_id) < 1.0


def test_the_history_keeps_the_horizon_and_the_newest_per_procedure_only():
    history = [days_ago(400, "address_change"), days_ago(200), days_ago(100), days_ago(10, "new_policy")]
    kept = after_survey(history, "claim_payment", NOW, horizon_days=90)
    assert kept == (days_ago(400, "address_change"), days_ago(10, "new_policy"), ("claim_payment", NOW))


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000)), max_size=60))
def test_the_history_stays_bounded_however_long_a_contact_is_surveyed(entries):
    history: tuple = ()
    for procedure, day in sorted(entries, key=lambda e: e[1]):
        history = after_survey(history, procedure, NOW + timedelta(days=day), horizon_days=30)
    # at most the surveys of the last 30 days (one a day here) and the newest of each procedure
    assert len(history) <= 31 + 3
