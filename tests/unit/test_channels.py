"""The channel registry: each row is consistent with the others, with the channel policy, the send
pacing and the lifecycle that read it, and a registry with a wrong row is refused."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.domain import channels, send_pace
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.channel_policy import DEFAULT_PREFERENCES, ChannelPolicy, Reach, choose
from chalicelib.domain.channels import (
    AddressKind,
    ChannelSpec,
    CostClass,
    InvalidRegistry,
    Registry,
    ReplyRoute,
    UnknownChannel,
)
from chalicelib.domain.model import Survey, SurveyStatus

ROWS = channels.all_channels()
DASHBOARD_WORDS = Path(__file__).resolve().parents[2] / "templates" / "dashboard"
NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)


def row_ids(row: ChannelSpec) -> str:
    return row.name


# --- the rows ---------------------------------------------------------------------------------------

def test_the_channel_names_stored_on_surveys_stay_registered():
    # Surveys, answers and cases store these names: renaming one would orphan what is stored.
    assert set(channels.names()) >= {"sms_two_way", "sms_link", "email"}
    assert channels.names() == tuple(row.name for row in ROWS)
    assert len(set(channels.names())) == len(ROWS)


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_the_dashboard_names_every_channel_in_each_of_its_languages(language):
    words = tomllib.loads((DASHBOARD_WORDS / f"{language}.toml").read_text(encoding="utf-8"))
    assert set(words["channel_names"]) == set(channels.names())
    assert all(label.strip() for label in words["channel_names"].values())


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_every_fallback_names_a_registered_channel_other_than_itself(row):
    for name in row.falls_back_to:
        assert channels.find(name) is not None, f"{row.name} falls back to unknown {name}"
        assert name != row.name


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_following_fallbacks_never_comes_back_to_the_start(row):
    # Given a channel, when every path of fallbacks is followed, then none visits a channel twice
    # (two paths may meet: LINE falls back to link SMS and to email, and link SMS to email too).
    todo = [(row.name,)]
    while todo:
        path = todo.pop()
        for name in channels.get(path[-1]).falls_back_to:
            assert name not in path, f"fallback cycle: {' -> '.join([*path, name])}"
            todo.append((*path, name))


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_a_fallback_reaches_the_customer_at_another_address(row):
    # The address that could not take the message is not tried again under another channel's name.
    assert all(channels.get(name).address is not row.address for name in row.falls_back_to)


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_two_way_channels_take_replies_on_the_channel_and_one_way_ones_on_the_page(row):
    if row.two_way:
        assert row.reply_arrives_by.on_the_channel
    else:
        assert row.reply_arrives_by in (ReplyRoute.WEB_PAGE, ReplyRoute.NONE)


def test_the_rows_say_what_each_channel_is():
    two_way_sms, link_sms, email, line = (channels.get(n) for n in ("sms_two_way", "sms_link", "email", "line"))
    assert (two_way_sms.address, two_way_sms.two_way, two_way_sms.reply_arrives_by) == \
        (AddressKind.PHONE, True, ReplyRoute.SMS_WEBHOOK)
    assert (link_sms.address, link_sms.two_way, link_sms.reply_arrives_by) == \
        (AddressKind.PHONE, False, ReplyRoute.WEB_PAGE)
    assert (email.address, email.two_way, email.reply_arrives_by) == (AddressKind.EMAIL, False, ReplyRoute.WEB_PAGE)
    assert two_way_sms.reports_delivery and link_sms.reports_delivery and not email.reports_delivery
    assert two_way_sms.falls_back_to == link_sms.falls_back_to == ("email",) and email.falls_back_to == ()
    assert {two_way_sms.cost, link_sms.cost, email.cost} == {CostClass.SMS, CostClass.EMAIL}
    assert channels.two_way() == (two_way_sms, line)
    assert channels.reaching(AddressKind.PHONE) == (two_way_sms, link_sms, channels.get("sms_cn"))
    assert channels.reaching(AddressKind.EMAIL) == (email,)


def test_every_address_kind_is_reached_by_some_channel():
    assert {row.address for row in ROWS} == set(AddressKind)


# --- lookups ----------------------------------------------------------------------------------------

def test_an_unknown_name_is_a_named_error_on_get_and_nothing_on_find():
    with pytest.raises(UnknownChannel, match="fax"):
        channels.get("fax")
    assert channels.find("none") is None
    assert channels.falls_back_to("none") == ()


# --- the readers agree with the rows ----------------------------------------------------------------

@pytest.mark.parametrize("country", sorted(DEFAULT_PREFERENCES))
def test_every_channel_the_default_policy_names_is_registered(country):
    for name in DEFAULT_PREFERENCES[country]:
        channels.get(name)


def test_every_registered_channel_is_chosen_somewhere_by_default():
    named = {name for order in DEFAULT_PREFERENCES.values() for name in order}
    assert named == set(channels.names())


def test_every_channel_is_paced_as_a_sender_a_rate_can_be_given_for():
    assert set(send_pace.SENDERS) == {row.transport for row in ROWS}
    for row in ROWS:
        assert send_pace.SENDER_OF[row.name] == row.transport


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_the_policy_reaches_a_customer_only_at_an_address_of_the_channels_kind(row):
    # Given a policy that tries only this channel, and a customer in the US
    policy = ChannelPolicy.with_overrides({"US": [row.name]})
    holds_it = Reach(phone_region="US", addresses=frozenset({AddressKind.PHONE, row.address}))
    lacks_it = Reach(phone_region="US", addresses=frozenset({AddressKind.PHONE})) \
        if row.address is not AddressKind.PHONE else None
    # Then the channel is chosen when the customer holds its kind of address, and not otherwise
    assert choose(policy, holds_it, channels.names()).name == row.name
    if lacks_it is not None:
        assert choose(policy, lacks_it, channels.names()).reason == f"US:none ({row.name}: none)"


def survey_on(channel: str) -> Survey:
    return Survey(survey_id="claims-2026-000123-paid", procedure="claim_payment", customer_id="C-1",
                  contact_key="k", locale="en", channel=channel, channel_reason="US:" + channel,
                  status=SurveyStatus.SENT, created_at=NOW, completed_at=NOW, open_until=NOW + timedelta(hours=24),
                  email="c@example.com")


@pytest.mark.parametrize("row", ROWS, ids=row_ids)
def test_an_undelivered_invitation_goes_to_email_only_where_the_row_falls_back_to_it(row):
    step = lifecycle.after_delivery_failure(survey_on(row.name), "30006", email_possible=True)
    assert step == (lifecycle.TO_EMAIL if channels.EMAIL in row.falls_back_to else lifecycle.FAIL)


# --- a wrong row is refused -------------------------------------------------------------------------

SMS = ChannelSpec("sms", AddressKind.PHONE, two_way=True, reports_delivery=True, cost=CostClass.SMS,
                  transport="sms", reply_arrives_by=ReplyRoute.SMS_WEBHOOK, falls_back_to=("mail",))
MAIL = ChannelSpec("mail", AddressKind.EMAIL, two_way=False, reports_delivery=False, cost=CostClass.EMAIL,
                   transport="email", reply_arrives_by=ReplyRoute.WEB_PAGE)


def test_a_consistent_registry_is_taken():
    assert Registry([SMS, MAIL]).get("sms") is SMS


@pytest.mark.parametrize("rows, problem", [
    ([SMS], "falls back to mail, which is not a channel"),
    ([SMS, replace(MAIL, falls_back_to=("sms",))], "lead back"),
    ([replace(SMS, falls_back_to=("sms",))], "lead back"),
    ([replace(SMS, reply_arrives_by=ReplyRoute.WEB_PAGE), MAIL], "two_way=True"),
    ([SMS, replace(MAIL, reply_arrives_by=ReplyRoute.SMS_WEBHOOK)], "two_way=False"),
    ([SMS, MAIL, MAIL], "used twice"),
])
def test_a_registry_with_a_wrong_row_is_refused(rows, problem):
    with pytest.raises(InvalidRegistry, match=problem):
        Registry(rows)


def test_replies_by_line_webhook_are_a_conversation_on_the_channel():
    # Given LINE's route (its channel's row comes with its sender), then a two-way row may reply by it
    # and a one-way row may not
    assert ReplyRoute.LINE_WEBHOOK.on_the_channel and not ReplyRoute.WEB_PAGE.on_the_channel
    assert Registry([replace(SMS, reply_arrives_by=ReplyRoute.LINE_WEBHOOK, cost=CostClass.LINE), MAIL])
    with pytest.raises(InvalidRegistry, match="two_way=False"):
        Registry([SMS, replace(MAIL, reply_arrives_by=ReplyRoute.LINE_WEBHOOK)])
