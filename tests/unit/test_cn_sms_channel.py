"""China SMS as a channel: its row, CN's order, its settings (the sender only with both the secret and the
approved templates; a template book that cannot be used stops start-up) and its secret's shape. Pure."""

from __future__ import annotations

import json

import pytest

from chalicelib.credentials import Credentials
from chalicelib.domain import channels, send_pace
from chalicelib.domain.channel_policy import ChannelPolicy
from chalicelib.domain.channels import AddressKind, CostClass, ReplyRoute
from chalicelib.errors import SettingsError
from chalicelib.settings import from_env, secret_ids
from tests.fakes import secrets
from tests.unit.test_credentials import REQUIRED

TEMPLATES = {"zh-CN": {"invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["link"],
                                      "text": "请评价我们的服务：${link} 回T退订"}}}
TOKEN = "k3J9x2Qm7Lp4Vt8Rb6Nc1Zs5Hd0Wf2Ya"


def test_the_row():
    row = channels.get("sms_cn")
    assert (row.address, row.two_way, row.reports_delivery, row.cost, row.transport, row.reply_arrives_by,
            row.falls_back_to) == (AddressKind.PHONE, False, True, CostClass.SMS, "alibaba_sms", ReplyRoute.WEB_PAGE,
                                   ("wechat", "email"))
    assert send_pace.SENDER_OF["sms_cn"] == "alibaba_sms" and "alibaba_sms" in send_pace.SENDERS


def test_china_is_china_sms_then_wechat_then_email():
    assert ChannelPolicy().for_country("CN") == ("sms_cn", "wechat", "email")


@pytest.mark.parametrize("env, enabled", [
    ({}, False),
    ({"KOE_ALIBABA_SMS_SECRET_ID": "koe-alibaba-sms"}, False),                   # no templates: off
    ({"KOE_CN_SMS_TEMPLATES": json.dumps(TEMPLATES)}, False),                     # no secret: off
    ({"KOE_ALIBABA_SMS_SECRET_ID": "koe-alibaba-sms", "KOE_CN_SMS_TEMPLATES": json.dumps(TEMPLATES)}, True),
])
def test_china_sms_is_on_only_with_its_secret_and_its_templates(env, enabled):
    settings = from_env({**REQUIRED, **env})
    assert settings.cn_sms_enabled is enabled
    assert (settings.alibaba_sms_endpoint, settings.alibaba_sms_protocol) == ("dysmsapi.aliyuncs.com", "https")


def test_a_template_book_that_cannot_be_used_stops_start_up_naming_the_template():
    broken = {"zh-CN": {"invitation": {**TEMPLATES["zh-CN"]["invitation"], "text": "请评价：${link}"}}}
    with pytest.raises(SettingsError, match="KOE_CN_SMS_TEMPLATES: zh-CN.invitation.text: does not end with"):
        from_env({**REQUIRED, "KOE_CN_SMS_TEMPLATES": json.dumps(broken)})
    with pytest.raises(SettingsError, match="KOE_ALIBABA_SMS_PROTOCOL"):
        from_env({**REQUIRED, "KOE_ALIBABA_SMS_PROTOCOL": "ftp"})


def test_a_template_with_the_token_must_write_the_survey_pages_url_before_it():
    def book(text: str) -> str:
        return json.dumps({"zh-CN": {"invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000021",
                                                    "params": ["token"], "text": text}}})

    page = f"{REQUIRED['KOE_PUBLIC_BASE_URL'].rstrip('/')}/s"
    assert from_env({**REQUIRED, "KOE_CN_SMS_TEMPLATES": book(f"请评价：{page}/${{token}} 回T退订")}).cn_sms_templates
    short = {"KOE_SURVEY_LINK_BASE_URL": "https://k.example.cn"}
    templates = book("请评价：https://k.example.cn/s/${token} 回T退订")
    assert from_env({**REQUIRED, **short, "KOE_CN_SMS_TEMPLATES": templates}).cn_sms_enabled is False  # no secret
    with pytest.raises(SettingsError, match=r"zh-CN.invitation.text: \$\{token\} is not written after"):
        from_env({**REQUIRED, "KOE_CN_SMS_TEMPLATES": book("请评价：https://elsewhere.example.com/s/${token} 回T退订")})


def credentials(value: object) -> Credentials:
    settings = from_env({**REQUIRED, **secrets.SECRET_ENV})
    return Credentials(secrets.FakeSecrets({secrets.ALIBABA_SMS: value}), secret_ids(settings))


def test_the_alibaba_secret_gives_the_key_and_the_receipt_token_and_shows_neither_secret():
    read = credentials({"access_key_id": "LTAIkqzwvxmrtpbnhdfg", "access_key_secret": "qWmZrTbXkPlNvHsYdJgFcAeUoIy",
                        "receipt_token": TOKEN}).alibaba_sms()
    assert (read.access_key_id, read.receipt_token) == ("LTAIkqzwvxmrtpbnhdfg", TOKEN)
    assert "qWmZ" not in repr(read) and TOKEN not in repr(read)


@pytest.mark.parametrize("token", ["short", "x" * 31, "has-a-dash-" + "x" * 32])
def test_a_receipt_token_too_short_or_not_letters_and_digits_is_refused(token):
    with pytest.raises(SettingsError, match="receipt_token is at least 32 letters and digits"):
        credentials({"access_key_id": "LTAIkqzwvxmrtpbnhdfg", "access_key_secret": "s", "receipt_token": token}
                    ).alibaba_sms()
