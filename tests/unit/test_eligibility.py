"""Whether to survey: every "no" has a reason (the channel comes from the channel policy)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.channel_policy import Channel
from chalicelib.domain.eligibility import Policy, Send, Suppress, decide, language
from chalicelib.domain.events import Customer, ProcedureCompleted
from chalicelib.domain.model import Contact

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
POLICY = Policy(cooldown_days=30, max_event_age_hours=72, default_locale="en-US")
EVENT = ProcedureCompleted("ev-1", "claim_payment", NOW - timedelta(minutes=5),
                           Customer("C-1", phone="+15550100123", locale="en-US"))
SMS = Channel("sms_two_way", "US:sms_two_way")


def test_a_new_customer_is_surveyed_on_the_chosen_channel():
    assert decide(EVENT, None, SMS, NOW, POLICY) == Send(SMS)


def test_no_channel_is_no_supported_channel_with_the_policy_reason():
    none = Channel("none", "CN:none (email: none; sms_link: not available)")
    assert decide(EVENT, None, none, NOW, POLICY) == Suppress("no_supported_channel", none)


@pytest.mark.parametrize("contact, reason", [
    (Contact("k", opted_out=True), "opted_out"),
    (Contact("k", surveyed=(("claim_payment", NOW - timedelta(days=29)),)), "cooldown"),
    (Contact("k", active_survey_id="other", active_until=NOW + timedelta(hours=1)), "conversation_open"),
])
def test_suppressed_with_a_reason(contact, reason):
    assert decide(EVENT, contact, SMS, NOW, POLICY).reason == reason


@pytest.mark.parametrize("contact", [
    Contact("k", surveyed=(("claim_payment", NOW - timedelta(days=31)),)),
    Contact("k", surveyed=(("new_policy", NOW - timedelta(days=1)),)),     # cooldown is per procedure
    Contact("k", active_survey_id="old", active_until=NOW - timedelta(seconds=1)),
])
def test_sent_when_nothing_stands_in_the_way(contact):
    assert isinstance(decide(EVENT, contact, SMS, NOW, POLICY), Send)


def test_a_stale_event_is_not_surveyed():
    old = replace(EVENT, completed_at=NOW - timedelta(hours=73))
    assert decide(old, None, SMS, NOW, POLICY).reason == "stale_event"


@pytest.mark.parametrize("locale, expected", [("ja-JP", "ja"), ("zh-Hans-CN", "zh"), ("en-GB", "en"),
                                              ("fr-FR", "en"), (None, "en")])
def test_language_from_locale(locale, expected):
    assert language(locale, "en-US") == expected
