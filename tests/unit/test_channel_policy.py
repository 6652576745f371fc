"""The channel policy: per country, the first channel that reaches the customer, with its rule."""

import pytest

from chalicelib.domain.channel_policy import (
    CHANNELS,
    ChannelPolicy,
    Reach,
    UnknownChannel,
    choose,
)
from chalicelib.domain.channels import AddressKind

PHONE, EMAIL, LINE_USER_ID = AddressKind.PHONE, AddressKind.EMAIL, AddressKind.LINE_USER_ID
WECHAT_OPENID = AddressKind.WECHAT_OPENID
ALL = CHANNELS
POLICY = ChannelPolicy()


def reach(region="US", phone=True, email=False, blocked=False, line=False, line_blocked=False, wechat=False,
          wechat_blocked=False):
    held = {PHONE: phone, EMAIL: email, LINE_USER_ID: line, WECHAT_OPENID: wechat}
    closed = {EMAIL: blocked, LINE_USER_ID: line_blocked, WECHAT_OPENID: wechat_blocked}
    return Reach(phone_region=region if phone else None, addresses=frozenset(k for k, v in held.items() if v),
                 blocked=frozenset(k for k, v in closed.items() if v))


@pytest.mark.parametrize("region, email, channel, rule", [
    ("US", False, "sms_two_way", "US:sms_two_way"),
    ("CA", True, "sms_two_way", "CA:sms_two_way"),
    ("GB", False, "sms_two_way", "GB:sms_two_way"),
    ("AU", False, "sms_two_way", "AU:sms_two_way"),
    ("JP", True, "sms_link", "JP:sms_link (line: none)"),           # a JP customer without a LINE user id
    ("JP", False, "sms_link", "JP:sms_link (line: none)"),
    ("CN", True, "sms_cn", "CN:sms_cn"),                           # China SMS (Alibaba), then email
    ("CN", False, "sms_cn", "CN:sms_cn"),
    ("FR", True, "email", "FR:email"),                             # elsewhere: email, then a link
    ("FR", False, "sms_link", "FR:sms_link (email: none)"),
])
def test_the_defaults_per_country(region, email, channel, rule):
    chosen = choose(POLICY, reach(region, email=email), ALL)
    assert (chosen.name, chosen.reason) == (channel, rule)


def test_china_is_china_sms_then_wechat_then_email_never_twilios_link_sms():
    assert POLICY.for_country("CN") == ("sms_cn", "wechat", "email")
    nothing = choose(POLICY, reach("CN", email=False), {"sms_two_way", "sms_link", "email"})
    assert (nothing.name, nothing.reason) == ("none", "CN:none (sms_cn: not available; wechat: none; email: none)")


def test_a_follower_of_the_wechat_account_is_reached_there_when_china_sms_cannot():
    without_china_sms = {"sms_two_way", "sms_link", "wechat", "email"}
    chosen = choose(POLICY, reach("CN", email=True, wechat=True), without_china_sms)
    assert (chosen.name, chosen.reason) == ("wechat", "CN:wechat (sms_cn: not available)")
    chosen = choose(POLICY, reach("CN", email=True, wechat=True, wechat_blocked=True), without_china_sms)
    assert (chosen.name, chosen.reason) == ("email", "CN:email (sms_cn: not available; wechat: blocked)")
    assert choose(POLICY, reach("CN", wechat=True), ALL).name == "sms_cn"       # China SMS first
    assert choose(POLICY, reach(phone=False, email=True, wechat=True), ALL).reason == "no_phone:wechat"


def test_no_phone_means_email():
    assert choose(POLICY, reach(phone=False, email=True), ALL).reason == "no_phone:email"
    assert choose(POLICY, reach(phone=False, email=False), ALL).name == "none"
    assert choose(POLICY, reach(phone=False, email=True, blocked=True), ALL).reason == "no_phone:email_blocked"


def test_an_unsubscribed_or_bounced_email_falls_to_the_next_channel():
    chosen = choose(POLICY, reach("FR", email=True, blocked=True), ALL)
    assert (chosen.name, chosen.reason) == ("sms_link", "FR:sms_link (email: blocked)")


def test_a_channel_without_a_sender_is_skipped_and_said():
    chosen = choose(POLICY, reach("FR", email=True), {"sms_two_way", "sms_link"})
    assert (chosen.name, chosen.reason) == ("sms_link", "FR:sms_link (email: not available)")
    chosen = choose(POLICY, reach("CN", email=True), {"sms_two_way", "sms_link", "email"})
    assert (chosen.name, chosen.reason) == ("email", "CN:email (sms_cn: not available; wechat: none)")
    nothing = choose(POLICY, reach("JP", email=True), {"sms_two_way"})
    assert nothing.name == "none" and nothing.reason == \
        "JP:none (line: none; sms_link: not available; email: not available)"


def test_configuration_overrides_a_country_and_the_default():
    policy = ChannelPolicy.with_overrides({"jp": ["email", "sms_link"], "*": ["sms_link"]})
    assert choose(policy, reach("JP", email=True, line=True), ALL).reason == "JP:email"
    assert choose(policy, reach("FR", email=True), ALL).reason == "FR:sms_link"
    assert choose(policy, reach("US"), ALL).name == "sms_two_way"          # the other defaults stay


@pytest.mark.parametrize("bad", [{"JP": ["fax"]}, {"JP": []}])
def test_an_unknown_channel_in_configuration_is_a_named_error(bad):
    with pytest.raises(UnknownChannel):
        ChannelPolicy.with_overrides(bad)
