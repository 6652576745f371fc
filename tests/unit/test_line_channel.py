"""LINE as a channel: its row, the policy choosing it (or passing over it, and saying why), the
event's `customer.line_user_id`, and the contact a LINE survey is keyed by. Pure."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.schema import SCHEMA_PATH, event_errors
from chalicelib.domain import channels
from chalicelib.domain.channel_policy import ChannelPolicy, Reach, choose
from chalicelib.domain.channels import AddressKind, CostClass, ReplyRoute
from chalicelib.domain.events import LINE_USER_ID, from_payload
from chalicelib.domain.identity import beside
from chalicelib.domain.model import Contact

LINE_ID = "U" + "4af49806292a4b3c8d1e0f5a6b7c8d9e"
SAMPLE = json.loads((SCHEMA_PATH.parents[2] / "tests" / "events" / "procedure-completed.json").read_text())
NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
ALL = channels.names()
PHONE, EMAIL, LINE = AddressKind.PHONE, AddressKind.EMAIL, AddressKind.LINE_USER_ID


def reach(region: str | None = "JP", *held: AddressKind, blocked: frozenset[AddressKind] = frozenset()) -> Reach:
    return Reach(phone_region=region, addresses=frozenset(held), blocked=blocked)


# --- the row ----------------------------------------------------------------------------------------

def test_line_is_a_two_way_channel_that_answers_by_its_webhook_and_reports_no_delivery():
    row = channels.get("line")
    assert (row.address, row.two_way, row.reports_delivery, row.cost, row.transport, row.reply_arrives_by) == \
        (LINE, True, False, CostClass.LINE, "line", ReplyRoute.LINE_WEBHOOK)
    assert row.falls_back_to == ("sms_link", "email")
    assert channels.reaching(LINE) == (row,)


# --- the policy -------------------------------------------------------------------------------------

def test_a_japanese_customer_with_a_line_user_id_is_surveyed_on_line():
    chosen = choose(ChannelPolicy(), reach("JP", PHONE, EMAIL, LINE), ALL)
    assert (chosen.name, chosen.reason) == ("line", "JP:line")


@pytest.mark.parametrize("customer, senders, rule", [
    (reach("JP", PHONE), ALL, "JP:sms_link (line: none)"),                    # no LINE user id
    (reach("JP", PHONE, LINE, blocked=frozenset({LINE})), ALL, "JP:sms_link (line: blocked)"),   # unfollowed
    (reach("JP", PHONE, LINE), ("sms_link", "email"), "JP:sms_link (line: not available)"),      # no credentials
])
def test_without_line_a_japanese_customer_gets_the_link_sms_and_the_reason_says_why(customer, senders, rule):
    chosen = choose(ChannelPolicy(), customer, senders)
    assert (chosen.name, chosen.reason) == ("sms_link", rule)


def test_a_customer_with_a_line_user_id_but_no_phone_is_reached_on_line_before_email():
    assert choose(ChannelPolicy(), reach(None, LINE), ALL).reason == "no_phone:line"
    assert choose(ChannelPolicy(), reach(None, LINE, EMAIL), ALL).reason == "no_phone:line"
    # Blocked, or no LINE sender: email; without email either, the rule names LINE's obstacle
    assert choose(ChannelPolicy(), reach(None, LINE, EMAIL, blocked=frozenset({LINE})), ALL).reason == \
        "no_phone:email"
    assert choose(ChannelPolicy(), reach(None, LINE, blocked=frozenset({LINE})), ALL).reason == "no_phone:line_blocked"
    assert choose(ChannelPolicy(), reach(None, LINE), ("email",)).reason == "no_phone:line_not_available"
    # An email-only customer's obstacle is still email's, not LINE's
    assert choose(ChannelPolicy(), reach(None, EMAIL), ("line",)).reason == "no_phone:email_not_available"


def test_elsewhere_a_line_user_id_changes_nothing_by_default():
    assert choose(ChannelPolicy(), reach("US", PHONE, LINE), ALL).name == "sms_two_way"
    assert choose(ChannelPolicy.with_overrides({"TW": ["line", "email"]}), reach("TW", PHONE, LINE), ALL).name == "line"


def test_reach_blocks_one_kind_at_a_time():
    assert reach("JP", PHONE, LINE).block(LINE).block(EMAIL).blocked == {LINE, EMAIL}


# --- the event --------------------------------------------------------------------------------------

def test_an_event_may_carry_a_line_user_id_and_it_alone_is_an_address():
    event = copy.deepcopy(SAMPLE)
    event["customer"] = {"id": "C-1", "line_user_id": LINE_ID, "locale": "ja-JP"}
    assert event_errors(event) == []
    customer = from_payload(event).customer
    assert customer.line_user_id == LINE_ID and customer.addresses() == {LINE: LINE_ID}
    assert customer.contact_address == LINE_ID


def test_the_customer_is_keyed_by_phone_first_whatever_other_addresses_they_hold():
    event = copy.deepcopy(SAMPLE)
    event["customer"].update(line_user_id=LINE_ID, email="taro@example.jp")
    customer = from_payload(event).customer
    assert customer.contact_address == customer.phone and set(customer.addresses()) == {PHONE, EMAIL, LINE}


@pytest.mark.parametrize("bad", ["U123", "u" + "0" * 32, "U" + "G" * 32, "U" + "A" * 32, "U" + "0" * 33, "", 7])
def test_a_line_user_id_of_another_shape_is_refused_by_name(bad):
    event = copy.deepcopy(SAMPLE)
    event["customer"]["line_user_id"] = bad
    [error] = event_errors(event)
    assert error["field"] == "customer.line_user_id"
    if isinstance(bad, str) and bad:
        assert error["problem"] == \
            "has the wrong format: expected a LINE user id: U and 32 lower-case hexadecimal digits"


def test_the_schema_and_the_domain_agree_on_a_line_user_ids_shape():
    schema = json.loads(SCHEMA_PATH.read_text())["properties"]["customer"]["properties"]
    assert schema["line_user_id"]["pattern"] == f"^{LINE_USER_ID.pattern}$"


def test_a_customer_needs_one_address_of_any_kind():
    [error] = event_errors({**SAMPLE, "customer": {"id": "C-1"}})
    assert error == {"field": "customer", "problem": "needs a phone, an email or a LINE user id"}


# --- the contact a LINE survey reads ----------------------------------------------------------------

def test_beside_another_address_a_contact_keeps_its_own_opt_out_and_sees_the_others_history_and_slot():
    phone = Contact("k-phone", opted_out=True, active_survey_id="s-1", active_until=NOW + timedelta(hours=1),
                    surveyed=(("claim_payment", NOW - timedelta(days=3)),), history_version=4)
    line = Contact("k-line", surveyed=(("new_policy", NOW - timedelta(days=9)),), history_version=2)
    seen = beside("k-line", line, phone)
    assert seen is not None
    assert (seen.contact_key, seen.opted_out, seen.history_version) == ("k-line", False, 2)
    assert seen.has_open_conversation(NOW) and seen.active_survey_id == "s-1"
    assert seen.surveyed == (("new_policy", NOW - timedelta(days=9)), ("claim_payment", NOW - timedelta(days=3)))
    # Without a record of its own: a new one under its key, the other's history and slot
    fresh = beside("k-line", None, phone)
    assert fresh is not None and (fresh.contact_key, fresh.opted_out, fresh.history_version) == ("k-line", False, 0)
    assert beside("k-line", line, None) is line and beside("k-line", None, None) is None


def test_a_history_seen_from_both_addresses_counts_each_survey_once():
    when = NOW - timedelta(days=1)
    both = (("claim_payment", when),)
    seen = beside("k-line", Contact("k-line", surveyed=both), Contact("k-phone", surveyed=both))
    assert seen is not None and seen.surveyed == both


# --- the templates ----------------------------------------------------------------------------------

LINE_KEYS = ("invitation", "reminder", "why", "reprompt", "thanks", "help", "opted_out", "opted_in", "closing")


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("scale, top", [("nps", "10"), ("csat", "5"), ("ces", "7")])
def test_every_line_message_exists_in_every_language_worded_for_the_scale(language, scale, top):
    from chalicelib.adapters.templates import TomlMessages
    from chalicelib.settings import REPO_ROOT

    messages = TomlMessages(REPO_ROOT / "templates", "Example Life")
    for key in LINE_KEYS:
        text = messages.render("line", language, key, scale=scale, procedure="claim_payment")
        assert text.strip() and "{" not in text and len(text) <= 5000
    for key in ("invitation", "reprompt", "help"):      # they name the scale's top
        assert top in messages.render("line", language, key, scale=scale, procedure="claim_payment")
