"""WeChat on fakes: the template message of the survey's message, its values filled from koe's own
words, the survey page as its `url`, a client_msg_id per survey and message; China's order (China SMS,
then WeChat, then email) with an openid that unfollowed passed over; and the account's event pushes
(unsubscribe, 退订, a blocked report: the openid opts out of WeChat alone; other texts kept for CX).

Fictional data only: openids made up in WeChat's shape, +86 138 0013 8000-style numbers, example.com."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain import wechat
from chalicelib.domain.cn_sms import TemplateBook as CnBook
from chalicelib.domain.wechat import DeliveryOutcome, NoticeKind, TemplateBook, WeChatNotice
from chalicelib.errors import TemplateRejected, UndeliverableRecipient
from chalicelib.services.send_survey import CnSmsSurveySender, WeChatSurveySender
from chalicelib.services.wechat_events import handle_notice
from tests.fakes.messaging import FakeCnSms, FakeWeChat
from tests.services.conftest import World

SURVEY = "claims-2026-000123-paid"
OPENID = "oKoeTest0123456789abcdefABCD"          # 28 characters, as WeChat issues them (fictional)
CN_PHONE = "+8613800138000"
ADDRESS = "li.mei@example.com"
BOOK = TemplateBook.from_config(wechat.DEFAULT_TEMPLATES)
AT = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)


@pytest.fixture
def fake_wechat() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def world(fake_wechat: FakeWeChat) -> World:
    """The service world with a WeChat sender (as bootstrap builds it where KOE_WECHAT_SECRET_ID and
    KOE_WECHAT_TEMPLATES are set) and no China SMS sender unless a test adds one."""
    built = World()
    built.extra_senders["wechat"] = WeChatSurveySender(fake_wechat, BOOK, built.messages, built.link)
    return built


def chinese(**customer: Any) -> dict[str, Any]:
    return {"customer": {"phone": CN_PHONE, "email": ADDRESS, "wechat_openid": OPENID, "locale": "zh-CN",
                         **customer}}


def notice(kind: NoticeKind, *, text: str | None = None, status: DeliveryOutcome | None = None,
           msg_id: str | None = "5900000000000000001", openid: str = OPENID) -> WeChatNotice:
    return WeChatNotice(kind=kind, openid=openid, at=AT, msg_id=msg_id, status=status, text=text,
                        dedupe_key=f"msg:{msg_id}")


# --- sending ---------------------------------------------------------------------------------------

def test_a_follower_is_sent_the_invitation_template_opening_the_survey_page(world, fake_wechat):
    outcome = world.dispatch(**chinese())

    assert outcome == {"survey_id": SURVEY, "status": "sent", "reason": "CN:wechat (sms_cn: not available)"}
    [sent] = fake_wechat.sent
    survey = world.store.get_survey(SURVEY)
    template = BOOK.template("invitation")
    assert (sent["to"], sent["template_id"], sent["url"]) == (OPENID, template.template_id, world.link(survey))
    assert sent["data"]["keyword1"] == "理赔付款" and sent["data"]["first"] == "感谢您选择Example Life。"
    assert sent["data"]["keyword2"].endswith("日") and set(sent["data"]) == set(template.keywords)
    assert sent["client_msg_id"] == wechat.client_msg_id(SURVEY, "invitation")
    assert (survey.channel, survey.message_sid, survey.wechat_openid) == ("wechat", sent["msgid"], OPENID)
    assert world.sms.sent == []


def test_china_sms_goes_first_and_wechat_is_its_fallback(world, fake_wechat):
    cn = FakeCnSms()
    book = {"zh-CN": {"invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["link"],
                                     "text": "请评价我们的服务：${link} 回T退订"}}}
    world.extra_senders["sms_cn"] = CnSmsSurveySender(cn, CnBook.from_config(book), world.link)

    assert world.dispatch(**chinese())["reason"] == "CN:sms_cn"
    assert len(cn.sent) == 1 and fake_wechat.sent == []


def test_an_english_speaking_follower_gets_the_english_template_where_the_book_has_one(world, fake_wechat):
    world.dispatch(**chinese(locale="en-GB"))
    [sent] = fake_wechat.sent
    assert sent["template_id"] == BOOK.template("invitation", "en").template_id
    assert sent["data"]["first"] == "Thank you for choosing Example Life."
    assert sent["data"]["keyword1"] == "claim payment"


def test_a_message_the_book_has_no_template_for_is_rejected_by_name_before_any_call(world, fake_wechat):
    sender = WeChatSurveySender(fake_wechat, TemplateBook.from_config({"zh-CN": {
        name: wechat.DEFAULT_TEMPLATES["zh-CN"][name] for name in ("invitation", "reminder", "closing")}}),
        world.messages, world.link)
    world.dispatch(**chinese())
    survey = world.store.get_survey(SURVEY)
    with pytest.raises(TemplateRejected) as rejected:
        sender.send(survey, "goodbye")
    assert (rejected.value.code, rejected.value.carrier) == ("koe_unknown_template", "wechat")
    assert "wechat" in str(rejected.value) and len(fake_wechat.sent) == 1


def test_a_survey_without_an_openid_is_refused_by_name(world, fake_wechat):
    world.dispatch(**chinese())
    survey = world.store.get_survey(SURVEY)
    with pytest.raises(UndeliverableRecipient):
        world.extra_senders["wechat"].send(replace(survey, wechat_openid=None), "reminder")


# --- the account's event pushes ------------------------------------------------------------------

@pytest.mark.parametrize("pushed", [
    notice(NoticeKind.UNSUBSCRIBE, msg_id=None),
    notice(NoticeKind.TEXT, text="退订"),
    notice(NoticeKind.TEXT, text=" TD "),
    notice(NoticeKind.SEND_FINISHED, status=DeliveryOutcome.BLOCKED),
], ids=["unsubscribe", "tui-ding", "td", "blocked-report"])
def test_an_unfollow_an_opt_out_word_or_a_blocked_report_passes_wechat_over_for_that_customer(world, fake_wechat,
                                                                                             pushed):
    assert handle_notice(pushed, world.reply_deps)["outcome"] == "opted_out"
    assert handle_notice(pushed, world.reply_deps)["outcome"] == "already_opted_out"   # pushed again: nothing more

    world.dispatch(**chinese())

    # Only WeChat is passed over, with the reason (this world sends no email); the phone's contact is untouched
    survey = world.store.get_survey(SURVEY)
    assert survey.channel_reason == "CN:none (sms_cn: not available; wechat: blocked; email: not available)"
    assert fake_wechat.sent == []
    phone = world.store.get_contact(world.key(CN_PHONE))
    assert phone is None or not phone.opted_out


def test_other_texts_are_kept_for_the_cx_team_once_and_other_events_are_counted(world, fake_wechat):
    world.dispatch(**chinese())
    words = notice(NoticeKind.TEXT, text="什么时候到账？", msg_id="5900000000000000042")
    assert handle_notice(words, world.reply_deps) == {"kind": "text", "outcome": "kept"}
    assert handle_notice(words, world.reply_deps) == {"kind": "text", "outcome": "kept"}     # retried push
    [kept] = [m for m in world.store.inbound if m.message_sid.startswith("wechat-")]
    assert (kept.message_sid, kept.reason) == ("wechat-5900000000000000042", "wechat_message")
    assert kept.body == "什么时候到账？"
    assert handle_notice(notice(NoticeKind.SUBSCRIBE, msg_id=None), world.reply_deps) == {
        "kind": "subscribe", "outcome": "subscribe"}
    assert handle_notice(notice(NoticeKind.SEND_FINISHED, status=DeliveryOutcome.FAILED), world.reply_deps) == {
        "kind": "send_finished", "outcome": "failed"}
    assert world.dispatch(**chinese())["status"] != "failed"       # nothing of these opted anyone out
