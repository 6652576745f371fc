"""China SMS rules without the network (chalicelib/domain/cn_sms.py): the approved templates and their
check when configuration is read (the unsubscribe words, the declared parameters), TemplateParam with the
approved parameters only, segments, +86 numbers, Alibaba's receipts (delivery reports and inbound
replies, recorded in tests/events/aliyun-sms-*.json from shared/samples) and malformed ones refused by
name, and the opt-out words of Chinese networks.

Fictional data only: 138 0013 8000-style test numbers, a made-up signature and template codes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import cn_sms, replies
from chalicelib.domain.cn_sms import (
    ApprovedTemplate,
    InvalidTemplateBook,
    NotMainlandMobile,
    TemplateBook,
    TemplateParamsMismatch,
    UnknownTemplate,
    UnreadableReceipt,
)
from chalicelib.domain.questions import Scale

EVENTS = Path(__file__).resolve().parents[1] / "events"
REPORT_PUSH = (EVENTS / "aliyun-sms-report.json").read_bytes()
UP_PUSH = (EVENTS / "aliyun-sms-up.json").read_bytes()
INVITATION = "${name}您好，您的${procedure}已办理完毕。您向亲友推荐我们的可能性有多大？请回复0-10分。回T退订"
WHY = "感谢您的评分。能告诉我们原因吗？直接回复即可。回T退订"


def config(**changes: Any) -> dict[str, Any]:
    """The template book's configuration, the invitation's entry changed by `changes` (None removes)."""
    invitation: dict[str, Any] = {"sign_name": "示例人寿", "template_code": "SMS_480000001",
                                  "params": ["name", "procedure"], "text": INVITATION}
    invitation.update(changes)
    return {"zh-CN": {
        "invitation": {k: v for k, v in invitation.items() if v is not None},
        "why": {"sign_name": "示例人寿", "template_code": "SMS_480000002", "params": [], "text": WHY}}}


@pytest.fixture
def book() -> TemplateBook:
    return TemplateBook.from_config(config())


# --- the template book --------------------------------------------------------------------------------

def test_the_book_gives_each_message_its_signature_template_and_parameters(book):
    invitation = book.template("invitation")
    assert (invitation.sign_name, invitation.template_code, invitation.params) == \
        ("示例人寿", "SMS_480000001", ("name", "procedure"))
    assert book.template("why", "zh-CN").params == ()
    assert set(book.approved()) == {("zh-CN", "invitation"), ("zh-CN", "why")}


def test_a_message_or_locale_without_an_approved_template_is_named(book):
    with pytest.raises(UnknownTemplate, match="thanks"):
        book.template("thanks")
    with pytest.raises(UnknownTemplate, match="en-US"):
        book.template("invitation", "en-US")


@pytest.mark.parametrize("ending", [
    "回T退订", "回TD退订", "回复TD退订", "回复T退订", "回R退订", "退订回T", "退订回复TD", "拒收请回复R",
    "回T退订。", "回Ｔ退订", "回td退订", "回T退订 ",
])
def test_a_template_ending_with_the_unsubscribe_words_is_taken(ending):
    text = "您的理赔已办理完毕，请回复0-10分评价。" + ending
    assert cn_sms.carries_unsubscribe(text)
    TemplateBook.from_config(config(params=[], text=text))


@pytest.mark.parametrize("text", [
    pytest.param("您的理赔已办理完毕，请回复0-10分评价。", id="no words"),
    pytest.param("回T退订。您的理赔已办理完毕，请回复0-10分评价。", id="words not at the end"),
    pytest.param("您的理赔已办理完毕，请回复0-10分评价。退订", id="no instruction"),
    pytest.param("您的理赔已办理完毕，请回复0-10分评价。回X退订", id="another letter"),
])
def test_a_template_without_the_unsubscribe_words_at_its_end_is_refused_when_configuration_is_read(text):
    assert not cn_sms.carries_unsubscribe(text)
    with pytest.raises(InvalidTemplateBook, match="zh-CN.invitation.text: does not end with the unsubscribe words"):
        TemplateBook.from_config(config(params=[], text=text))


@pytest.mark.parametrize("changes, problem", [
    ({"params": ["name"]}, "zh-CN.invitation.params"),                       # the text has ${procedure} too
    ({"params": ["name", "procedure", "amount"]}, "zh-CN.invitation.params"),
    ({"params": ["name", "name", "procedure"]}, "a name given twice"),
    ({"params": "name"}, "not a list of names"),
    ({"params": None}, "not a list of names"),
    ({"template_code": "480000001"}, "template_code: not an Alibaba template code"),
    ({"template_code": None}, "template_code: missing"),
    ({"sign_name": "【示例人寿】"}, "sign_name: the name alone"),
    ({"sign_name": " "}, "sign_name: missing"),
    ({"text": None}, "text: missing"),
    ({"text": "${name}您好，${ procedure}已办理。回T退订"}, "zh-CN.invitation"),
])
def test_a_template_koe_could_not_send_is_refused_by_name(changes, problem):
    with pytest.raises(InvalidTemplateBook, match=problem.replace("$", r"\$").replace("{", r"\{")) as raised:
        TemplateBook.from_config(config(**changes))
    assert "您好" not in str(raised.value)          # names, never the approved text


@pytest.mark.parametrize("document", [None, [], {}, {"zh-CN": {}}, {"zh-CN": []}, {"zh-CN": {"invitation": "x"}}])
def test_a_configuration_that_is_no_book_is_refused(document):
    with pytest.raises(InvalidTemplateBook):
        TemplateBook.from_config(document)


# --- TemplateParam ------------------------------------------------------------------------------------

def test_template_param_is_a_json_object_of_the_approved_parameters(book):
    param = cn_sms.template_param(book.template("invitation"), {"procedure": "理赔", "name": "张先生"})
    assert param == '{"name":"张先生","procedure":"理赔"}'            # UTF-8 as is, no spaces
    assert json.loads(param) == {"name": "张先生", "procedure": "理赔"}
    assert cn_sms.template_param(book.template("why"), {}) == "{}"


@pytest.mark.parametrize("values, missing, unexpected, not_text", [
    ({"name": "张先生"}, ("procedure",), (), ()),
    ({"name": "张先生", "procedure": ""}, ("procedure",), (), ()),
    ({"name": "张先生", "procedure": "理赔", "link": "https://koe.example.com/s/x"}, (), ("link",), ()),
    ({"name": "张先生", "procedure": 9}, (), (), ("procedure",)),
    ({}, ("name", "procedure"), (), ()),
])
def test_values_that_are_not_the_templates_parameters_are_refused_before_any_call(
        book, values, missing, unexpected, not_text):
    with pytest.raises(TemplateParamsMismatch) as raised:
        cn_sms.template_param(book.template("invitation"), values)
    error = raised.value
    assert (error.missing, error.unexpected, error.not_text, error.template_code) == \
        (missing, unexpected, not_text, "SMS_480000001")
    assert "张先生" not in str(error) and "https" not in str(error)


# --- what the customer's phone shows, and what it costs -----------------------------------------------

def test_a_rendered_message_starts_with_the_signature_and_keeps_the_unsubscribe_words(book):
    text = book.template("invitation").render({"name": "张先生", "procedure": "理赔"})
    assert text == "【示例人寿】张先生您好，您的理赔已办理完毕。您向亲友推荐我们的可能性有多大？请回复0-10分。回T退订"
    assert cn_sms.carries_unsubscribe(text)
    assert cn_sms.segments(text) == 1


@pytest.mark.parametrize("chars, expected", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_segments_are_70_characters_or_67_per_part(chars, expected):
    assert cn_sms.segments("评" * chars) == expected
    assert cn_sms.segments("a" * chars) == expected          # a Latin letter counts as one character too


# --- numbers ------------------------------------------------------------------------------------------

def test_a_mainland_mobile_number_goes_to_alibaba_as_its_11_digits():
    assert cn_sms.national_number("+8613800138000") == "13800138000"
    assert cn_sms.e164("13800138000") == cn_sms.e164("+8613800138000") == cn_sms.e164("008613800138000") \
        == "+8613800138000"


@pytest.mark.parametrize("number", ["+85291234567", "+81312345678", "+861380013800", "+86102345678901",
                                    "+8602012345678", "13800138000", "+86 138 0013 8000", ""])
def test_a_number_china_sms_cannot_take_is_named(number):
    with pytest.raises(NotMainlandMobile) as raised:
        cn_sms.national_number(number)
    assert "138" not in str(raised.value)


# --- receipts -----------------------------------------------------------------------------------------

def test_a_delivery_report_names_its_message_and_survey():
    [report] = cn_sms.parse_reports(REPORT_PUSH)
    assert (report.biz_id, report.out_id, report.success, report.err_code, report.sms_size) == \
        ("900000000000000000^0", "survey-EXAMPLE", True, "DELIVERED", 1)
    assert report.phone == "+8613800000000"
    # Beijing time in the receipt, UTC in koe
    assert report.send_time == datetime(2026, 12, 4, 2, 0, 1, tzinfo=UTC)
    assert report.report_time == datetime(2026, 12, 4, 2, 0, 5, tzinfo=UTC)
    assert "13800000000" not in repr(report)


def test_an_inbound_reply_is_read():
    [up] = cn_sms.parse_replies(UP_PUSH)
    assert (up.sequence_id, up.sign_name, up.dest_code, up.phone, up.content) == \
        (1234567890, "示例人寿", "1234", "+8613800000000", "退订")
    assert up.send_time == datetime(2026, 12, 4, 2, 3, 12, tzinfo=UTC)
    assert "13800000000" not in repr(up) and "退订" not in repr(up)


def test_a_failed_report_without_an_out_id_is_read():
    item = {**json.loads(REPORT_PUSH)[0], "success": False, "err_code": "MK:0001", "err_msg": "", "out_id": ""}
    [report] = cn_sms.parse_reports(json.dumps([item]).encode())
    assert (report.success, report.err_code, report.out_id) == (False, "MK:0001", None)
    assert cn_sms.parse_reports(b"[]") == []


def _report_with(**fields: Any) -> bytes:
    item = json.loads(REPORT_PUSH)[0]
    item.update(fields)
    return json.dumps([{k: v for k, v in item.items() if v is not None}]).encode()


def _up_with(**fields: Any) -> bytes:
    item = json.loads(UP_PUSH)[0]
    item.update(fields)
    return json.dumps([{k: v for k, v in item.items() if v is not None}]).encode()


@pytest.mark.parametrize("body, problem", [
    (b"\xff\xfe", "not JSON in UTF-8"),
    (b"{not json", "not JSON"),
    (b'{"phone_number": "13800000000"}', "not a JSON array"),
    (b'["x"]', r"\[0\]: not an object"),
    (_report_with(success="true"), r"\[0\].success"),
    (_report_with(biz_id=None), r"\[0\].biz_id"),
    (_report_with(err_code=""), r"\[0\].err_code"),
    (_report_with(report_time="2026-12-04T10:00:05Z"), r"\[0\].report_time: not a time"),
    (_report_with(send_time=None), r"\[0\].send_time"),
    (_report_with(sms_size="one"), r"\[0\].sms_size"),
    (_report_with(out_id=7), r"\[0\].out_id"),
    (_report_with(phone_number="1380000****"), r"\[0\].phone_number"),
    (_report_with(phone_number=None), r"\[0\].phone_number"),
])
def test_a_malformed_report_push_is_refused_by_field(body, problem):
    with pytest.raises(UnreadableReceipt, match=problem) as raised:
        cn_sms.parse_reports(body)
    assert "13800000000" not in str(raised.value)


@pytest.mark.parametrize("body, problem", [
    (_up_with(content=None), r"\[0\].content"),
    (_up_with(content=["退订"]), r"\[0\].content"),
    (_up_with(sequence_id="1234567890"), r"\[0\].sequence_id"),
    (_up_with(sequence_id=True), r"\[0\].sequence_id"),
    (_up_with(sign_name=None), r"\[0\].sign_name"),
    (_up_with(send_time="yesterday"), r"\[0\].send_time"),
    (_up_with(phone_number="+85291234567"), r"\[0\].phone_number"),
])
def test_a_malformed_reply_push_is_refused_by_field(body, problem):
    with pytest.raises(UnreadableReceipt, match=problem) as raised:
        cn_sms.parse_replies(body)
    assert "退订" not in str(raised.value)


@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_by_name(body):
    for parse in (cn_sms.parse_reports, cn_sms.parse_replies):
        try:
            parse(body)
        except UnreadableReceipt as refused:
            assert str(refused)             # the named refusal: says what is wrong


# --- the opt-out words ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["退订", "TD", "td", "T", "t", "Ｔ", "ＴＤ", "取消订阅", "取消訂閱", " T ", "退订。",
                                  "回T退订", "退订谢谢", "R", *cn_sms.OPT_OUT_WORDS])
def test_the_opt_out_words_of_chinese_networks_opt_out(text):
    assert cn_sms.is_opt_out(text)
    reading = cn_sms.read_reply(cn_sms.SmsUp(1, datetime(2026, 12, 4, tzinfo=UTC), "示例人寿", "", "+8613800138000",
                                             text))
    assert reading.kind == "opt_out" and reading.keyword is not None
    assert reading.keyword.language == "zh"


@pytest.mark.parametrize("text, kind, score", [
    ("9", "score", 9), ("九分", "score", 9), ("10分 服务很好", "score_and_comment", 10), ("谢谢", "unreadable", None),
])
def test_other_replies_are_read_as_the_sms_conversation_reads_them(text, kind, score):
    up = cn_sms.SmsUp(2, datetime(2026, 12, 4, tzinfo=UTC), "示例人寿", "", "+8613800138000", text)
    reading = cn_sms.read_reply(up, Scale.NPS)
    assert (reading.kind, reading.score) == (kind, score)
    assert not cn_sms.is_opt_out(text)


def test_a_lone_t_is_an_opt_out_in_chinese_only_and_answered_in_chinese():
    assert replies.read_keyword("T") is None
    keyword = replies.read_keyword("T", "zh")
    assert keyword is not None and (keyword.kind, keyword.language) == ("stop", "zh")


def test_an_approved_template_is_frozen_data():
    template = ApprovedTemplate("示例人寿", "SMS_480000002", (), WHY)
    assert "回T退订" not in repr(template)
