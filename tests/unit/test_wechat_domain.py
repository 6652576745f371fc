"""WeChat rules without the network (chalicelib/domain/wechat.py): openids, the template book and its
check when configuration is read (unknown placeholders, missing messages), filling a template, the
client_msg_id, the TEMPLATESENDJOBFINISH status, and the account's plaintext webhook pushes read into
WeChatNotice with their dedupe keys (malformed ones refused by name), and the opt-out words.

Fictional data only: openids made up in WeChat's shape (oKoe + 24 characters), made-up template ids and
account id, sample pushes written here in the shape of WeChat's documentation.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import wechat
from chalicelib.domain.wechat import (
    DEFAULT_TEMPLATES,
    DeliveryOutcome,
    InvalidOpenId,
    InvalidTemplateBook,
    MissingValues,
    NoticeKind,
    TemplateBook,
    UnknownTemplate,
    UnreadableWebhook,
)

CUSTOMER = "oKoe4f2b9c1d7e3a5b6c8d0e2f4a"           # 28 characters, as WeChat writes openids
ACCOUNT = "gh_0000k0e00000"
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
CREATED = str(int(AT.timestamp()))
VALUES = {"brand": "示例人寿", "procedure": "理赔", "date": "2026年12月1日"}


def push(msg_type: str, **fields: str) -> bytes:
    """A plaintext push in WeChat's shape: strings as CDATA, CreateTime and message ids as numbers."""
    numbers = {"CreateTime", "MsgId", "MsgID"}
    head = {"ToUserName": ACCOUNT, "FromUserName": CUSTOMER, "CreateTime": CREATED, "MsgType": msg_type}
    body = "".join(f"<{k}>{v}</{k}>" if k in numbers else f"<{k}><![CDATA[{v}]]></{k}>"
                   for k, v in {**head, **fields}.items())
    return f"<xml>{body}</xml>".encode()


def book(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEFAULT_TEMPLATES)
    for path, value in changes.items():
        *where, last = path.split("__")
        node = document
        for key in where:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return document


# --- openids ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("openid", [CUSTOMER, "o" * 20, "oKoe_-" + "A1" * 29, "oia2TjuEGTNoeX76QEjQNrcURxG8"])
def test_an_openid_is_20_to_64_characters_of_its_alphabet(openid):
    assert wechat.valid_openid(openid) and wechat.check_openid(openid) == openid


@pytest.mark.parametrize("openid", [
    "", "o" * 19, "o" * 65, "oKoe4f2b9c1d7e3a5b6c8d0e2f4+", "+8613800138000", "customer@example.com",
    "oKoe4f2b9c1d7e3a5b6c 8d0e2f4a", "оKoe4f2b9c1d7e3a5b6c8d0e2f4a"])      # the last one's о is Cyrillic
def test_anything_else_is_not_an_openid_and_the_error_does_not_repeat_it(openid):
    assert not wechat.valid_openid(openid)
    with pytest.raises(InvalidOpenId) as refused:
        wechat.check_openid(openid)
    assert openid not in str(refused.value) or not openid


def test_an_openid_is_logged_as_its_first_four_characters():
    assert wechat.mask(CUSTOMER) == "oKoe***"
    assert wechat.mask(None) is None


# --- the template book ------------------------------------------------------------------------------

def test_the_local_stacks_book_is_read_and_fills_each_keyword():
    templates = TemplateBook.from_config(DEFAULT_TEMPLATES)
    invitation = templates.template("invitation")
    assert invitation.title == "服务评价邀请"
    assert invitation.keywords == ("first", "keyword1", "keyword2", "remark")
    assert invitation.placeholders == {"brand", "procedure", "date"}
    assert invitation.render(VALUES) == {"first": "感谢您选择示例人寿。", "keyword1": "理赔",
                                         "keyword2": "2026年12月1日", "remark": "点击查看并评价本次服务，约需1分钟。"}


def test_the_book_is_read_from_its_json_text_as_the_setting_holds_it():
    assert TemplateBook.from_config(json.dumps(DEFAULT_TEMPLATES)).templates() == \
        TemplateBook.from_config(DEFAULT_TEMPLATES).templates()


def test_english_is_optional_and_a_message_it_lacks_is_sent_in_chinese():
    templates = TemplateBook.from_config(DEFAULT_TEMPLATES)
    assert templates.template("invitation", "en").title == "Tell us how we did"
    assert templates.template("reminder", "en") == templates.template("reminder", "zh-CN")


def test_a_message_no_locale_has_is_unknown():
    with pytest.raises(UnknownTemplate, match="'why'"):
        TemplateBook.from_config(DEFAULT_TEMPLATES).template("why")


@pytest.mark.parametrize("changes, problem", [
    ({"zh-CN__invitation__fields__keyword1": "{name}"},
     r"zh-CN.invitation.fields.keyword1: unknown placeholder\(s\) \{name\}"),
    ({"en__invitation__fields__first": "Dear {customer}, {brand}"},
     r"en.invitation.fields.first: unknown .*\{customer\}"),
    ({"zh-CN__reminder__fields__remark": "点击{ }评价"}, r"unknown placeholder\(s\) \{ \}"),
    ({"zh-CN__closing__fields__remark": "点击}评价"}, "a brace that is not a"),
    ({"zh-CN__closing": None}, "zh-CN: no template for closing"),
    ({"zh-CN__invitation__template_id": "short"}, "zh-CN.invitation.template_id: not a WeChat template id"),
    ({"zh-CN__invitation__title": ""}, r"zh-CN.invitation.title: missing"),
    ({"zh-CN__invitation__fields": {}}, r"zh-CN.invitation.fields: missing"),
    ({"zh-CN__invitation__fields": {"1keyword": "{brand}"}}, "not a keyword name"),
    ({"zh-CN__invitation__fields": {"keyword1": 7}}, "zh-CN.invitation.fields.keyword1: not a text"),
    ({"zh-CN__thanks": {"template_id": "koeLocalThanks000000001", "title": "谢谢", "fields": {"first": "谢谢"}}},
     "zh-CN.thanks: not a message"),
    ({"ja": {}}, "ja: not a locale"),
])
def test_a_book_koe_could_not_send_stops_the_function_at_start_up(changes, problem):
    with pytest.raises(InvalidTemplateBook, match=problem):
        TemplateBook.from_config(book(**changes))


@pytest.mark.parametrize("document", ["", "not json", "[]", {}, [], None])
def test_a_book_that_is_not_an_object_of_locales_is_refused(document):
    with pytest.raises(InvalidTemplateBook):
        TemplateBook.from_config(document)


def test_a_send_without_a_value_for_a_placeholder_its_template_uses_is_refused_by_name():
    invitation = TemplateBook.from_config(DEFAULT_TEMPLATES).template("invitation")
    with pytest.raises(MissingValues) as refused:
        invitation.render({"brand": "示例人寿", "procedure": ""})
    assert refused.value.missing == ("date", "procedure")
    assert "理赔" not in str(refused.value) and "示例人寿" not in str(refused.value)


def test_the_client_msg_id_is_the_same_for_the_same_survey_and_message_only():
    key = wechat.client_msg_id("claims-2026-000123-paid", "invitation")
    assert key == wechat.client_msg_id("claims-2026-000123-paid", "invitation")
    assert key != wechat.client_msg_id("claims-2026-000123-paid", "reminder")
    assert key != wechat.client_msg_id("claims-2026-000124-paid", "invitation")
    assert len(key) == 32 and int(key, 16) >= 0


# --- delivery outcomes --------------------------------------------------------------------------------

@pytest.mark.parametrize("status, outcome", [
    ("success", DeliveryOutcome.DELIVERED),
    ("failed:user block", DeliveryOutcome.BLOCKED),
    ("failed: user block", DeliveryOutcome.BLOCKED),
    ("failed: system failed", DeliveryOutcome.FAILED),
    ("failed:system failed", DeliveryOutcome.FAILED),
    ("something new", DeliveryOutcome.FAILED),
])
def test_a_send_job_status_is_delivered_blocked_or_failed(status, outcome):
    assert wechat.delivery_outcome(status) is outcome


# --- webhook pushes -----------------------------------------------------------------------------------

def test_a_follow_is_a_subscribe_notice_keyed_by_who_when_and_what_without_the_openid():
    notice = wechat.parse_notice(push("event", Event="subscribe", EventKey=""))
    assert (notice.kind, notice.openid, notice.at, notice.msg_id, notice.status, notice.text) == \
        (NoticeKind.SUBSCRIBE, CUSTOMER, AT, None, None, None)
    assert notice.dedupe_key.startswith("event:") and CUSTOMER not in notice.dedupe_key
    assert notice.dedupe_key == wechat.parse_notice(push("event", Event="subscribe", EventKey="")).dedupe_key
    assert CUSTOMER not in repr(notice)


def test_a_follow_from_a_qr_code_is_a_subscribe_too():
    notice = wechat.parse_notice(push("event", Event="subscribe", EventKey="qrscene_branch-tokyo-01",
                                      Ticket="gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2tvZQ"))
    assert notice.kind is NoticeKind.SUBSCRIBE


def test_an_unfollow_is_an_unsubscribe_notice_with_a_key_of_its_own():
    follow = wechat.parse_notice(push("event", Event="subscribe"))
    unfollow = wechat.parse_notice(push("event", Event="unsubscribe", EventKey=""))
    assert unfollow.kind is NoticeKind.UNSUBSCRIBE and unfollow.dedupe_key != follow.dedupe_key


def test_a_text_is_keyed_by_its_msgid_and_carries_the_words_out_of_its_repr():
    notice = wechat.parse_notice(push("text", Content="9 服务很好", MsgId="24000000000000001"))
    assert (notice.kind, notice.text, notice.msg_id, notice.dedupe_key) == \
        (NoticeKind.TEXT, "9 服务很好", "24000000000000001", "msg:24000000000000001")
    assert "服务很好" not in repr(notice)


def test_a_send_job_finished_names_the_template_message_and_its_outcome():
    notice = wechat.parse_notice(push("event", Event="TEMPLATESENDJOBFINISH", MsgID="2600000001",
                                      Status="failed:user block"))
    assert (notice.kind, notice.msg_id, notice.status, notice.dedupe_key) == \
        (NoticeKind.SEND_FINISHED, "2600000001", DeliveryOutcome.BLOCKED, "sendjob:2600000001")


@pytest.mark.parametrize("msg_type, fields, wechat_type", [
    ("image", {"PicUrl": "https://example.com/p.jpg", "MediaId": "m1", "MsgId": "24000000000000002"}, "image"),
    ("event", {"Event": "CLICK", "EventKey": "MENU_SURVEY"}, "event:CLICK"),
    ("event", {"Event": "VIEW", "EventKey": "https://example.com"}, "event:VIEW"),
])
def test_any_other_push_is_kept_with_wechats_own_type(msg_type, fields, wechat_type):
    notice = wechat.parse_notice(push(msg_type, **fields))
    assert (notice.kind, notice.wechat_type) == (NoticeKind.OTHER, wechat_type)


def test_a_push_with_nested_elements_is_read_by_its_top_level_fields():
    body = push("event", Event="scancode_push", EventKey="k").replace(
        b"</xml>", b"<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType></ScanCodeInfo></xml>")
    assert wechat.parse_notice(body).kind is NoticeKind.OTHER


@pytest.mark.parametrize("body, problem", [
    (b"", "not XML"),
    (b"{\"MsgType\": \"text\"}", "not XML"),
    (b"<root><MsgType>text</MsgType></root>", "root element"),
    (push("text", Content="hi", MsgId="1").replace(b"<FromUserName>", b"<Other>").replace(
        b"</FromUserName>", b"</Other>"), "FromUserName: missing"),
    (push("text", MsgId="1"), "Content: missing"),
    (push("event"), "Event: missing"),
    (push("event", Event="TEMPLATESENDJOBFINISH", MsgID="1"), "Status: missing"),
    (push("text", Content="hi").replace(CREATED.encode(), b"yesterday"), "CreateTime"),
    (push("text", Content="hi", MsgId="1").replace(b"</xml>", b"<MsgId>2</MsgId></xml>"), "MsgId: given twice"),
    (b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><MsgType>text</MsgType></xml>', "DOCTYPE"),
    ('<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><MsgType>&a;</MsgType></xml>'.encode("utf-16"), "not UTF-8"),
    (b"<xml><ToUserName><![CDATA[gh_0000k0e00000]]></ToUserName><Encrypt><![CDATA[c2VjcmV0]]></Encrypt></xml>",
     "encrypted"),
    (b"<xml>" + b"<a>x</a>" * 10000 + b"</xml>", "over"),
])
def test_a_push_that_is_not_wechats_plaintext_xml_is_refused_by_name(body, problem):
    with pytest.raises(UnreadableWebhook, match=problem) as refused:
        wechat.parse_notice(body)
    assert CUSTOMER not in str(refused.value)


@given(st.binary(max_size=400))
def test_any_body_is_a_notice_or_unreadable_never_another_error(body):
    try:
        wechat.parse_notice(body)
    except UnreadableWebhook:
        pass


@given(st.text(max_size=200))
def test_any_text_a_customer_writes_is_read_back_as_written(text):
    if "\r" in text or any(ord(c) < 0x20 and c not in "\t\n" for c in text) or any(
            0xD800 <= ord(c) <= 0xDFFF or ord(c) in (0xFFFE, 0xFFFF) for c in text):
        return          # not characters XML 1.0 can carry: WeChat sends none
    cdata = text.replace("]]>", "]]]]><![CDATA[>")
    assert wechat.parse_notice(push("text", Content=cdata, MsgId="1")).text == text


def test_a_signed_timestamp_is_taken_within_five_minutes_either_way():
    assert wechat.signed_recently(CREATED, AT + timedelta(minutes=5))
    assert wechat.signed_recently(CREATED, AT - timedelta(minutes=4))
    assert not wechat.signed_recently(CREATED, AT + timedelta(minutes=5, seconds=1))
    assert not wechat.signed_recently("-1", AT) and not wechat.signed_recently("", AT)


@pytest.mark.parametrize("text", ["退订", "TD", "T", "取消订阅", "ｔｄ", "回T退订", "退订谢谢"])
def test_the_opt_out_words_of_chinese_networks_stop_everything(text):
    assert wechat.is_opt_out(text)


@pytest.mark.parametrize("text", ["9", "9 服务很好", "谢谢", "订单在哪里"])
def test_a_score_or_a_comment_is_not_an_opt_out(text):
    assert not wechat.is_opt_out(text)


def test_the_opt_out_words_are_china_smss():
    assert wechat.OPT_OUT_WORDS == ("退订", "TD", "T", "取消订阅")
