"""China SMS on fakes: the policy picks sms_cn for a mainland number once its sender is registered; the
CnSmsSurveySender sends the approved template with the page's link only where its text has it and the
survey id as OutId; a template Alibaba (or koe) rejects ends the survey failed, counted; Alibaba's
delivery reports are the delivery record (a failure falls back to email); replies are read for the
opt-out words alone, anything else is kept for CX. Each receipt handled twice changes nothing more.

Fictional data only: +86 138 0013 8000-style numbers, example.com addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.cn_sms import SmsReport, SmsUp, TemplateBook
from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import TemplateRejected, UndeliverableRecipient
from chalicelib.services import send_survey as send_survey_module
from chalicelib.services.cn_sms_receipts import ReceiptDeps, record_replies, record_reports
from chalicelib.services.send_survey import CnSmsSurveySender
from tests.fakes.messaging import FakeCnSms, FakeEmail
from tests.services.conftest import World

CN_PHONE = "+8613800138000"
ADDRESS = "li.mei@example.com"
SURVEY = "claims-2026-000123-paid"
TEMPLATES = TemplateBook.from_config({"zh-CN": {
    "invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["link"],
                   "text": "您的理赔已办理完毕。请花一分钟评价我们的服务：${link} 回T退订"},
    "reminder": {"sign_name": "示例人寿", "template_code": "SMS_480000012", "params": [],
                 "text": "您还未评价本次服务，请打开上次短信中的链接。回T退订"},
    "closing": {"sign_name": "示例人寿", "template_code": "SMS_480000013", "params": ["case"],
                "text": "您反馈的问题${case}已处理。回T退订"},
}})
AT = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)


@pytest.fixture
def cn() -> FakeCnSms:
    return FakeCnSms()


@pytest.fixture
def world(cn: FakeCnSms) -> World:
    w = World()
    w.extra_senders["sms_cn"] = CnSmsSurveySender(cn, TEMPLATES, w.link)
    return w


def mainland(**changes: object) -> dict[str, object]:
    return {"customer": {"phone": CN_PHONE, "email": ADDRESS, "locale": "zh-CN", **changes}}


def deps(world: World) -> ReceiptDeps:
    return ReceiptDeps(status=world.status_deps, replies=world.reply_deps)


def report(biz_id: str, *, success: bool = True, err_code: str = "DELIVERED", out_id: str | None = SURVEY) -> SmsReport:
    return SmsReport(biz_id=biz_id, out_id=out_id, success=success, err_code=err_code,
                     err_msg="" if success else "用户手机关机", send_time=AT, report_time=AT, sms_size=1,
                     phone=CN_PHONE)


def up(text: str, sequence_id: int = 1001, phone: str = CN_PHONE) -> SmsUp:
    return SmsUp(sequence_id=sequence_id, send_time=AT, sign_name="示例人寿", dest_code="", phone=phone,
                 content=text)


# --- sending ---------------------------------------------------------------------------------------

def test_a_mainland_customer_gets_the_approved_invitation_with_the_pages_link_and_the_survey_as_out_id(world, cn):
    outcome = world.dispatch(**mainland())

    assert outcome == {"survey_id": SURVEY, "status": "sent", "reason": "CN:sms_cn"}
    [sent] = cn.sent
    assert (sent["to"], sent["message"], sent["out_id"], sent["locale"]) == (CN_PHONE, "invitation", SURVEY, "zh-CN")
    survey = world.store.get_survey(SURVEY)
    assert sent["params"] == {"link": world.link(survey)}
    assert (survey.channel, survey.message_sid) == ("sms_cn", sent["biz_id"])
    assert world.sms.sent == []                       # never Twilio for a mainland number


def test_a_template_without_the_link_in_its_text_is_given_no_link(world, cn):
    world.dispatch(**mainland())
    survey = world.store.get_survey(SURVEY)

    world.extra_senders["sms_cn"].send(survey, "reminder")

    assert cn.sent[-1]["message"] == "reminder" and cn.sent[-1]["params"] == {}


def test_a_template_writing_the_pages_url_before_token_is_given_the_links_token_alone(world, cn):
    book = TemplateBook.from_config({"zh-CN": {"invitation": {
        "sign_name": "示例人寿", "template_code": "SMS_480000021", "params": ["token"],
        "text": "请评价我们的服务：https://koe.example.jp/s/${token} 回T退订"}}})
    world.extra_senders["sms_cn"] = CnSmsSurveySender(cn, book, world.link)

    world.dispatch(**mainland())

    link = world.link(world.store.get_survey(SURVEY))
    assert cn.sent[0]["params"] == {"token": link.removeprefix("https://koe.example.jp/s/")}
    assert "/" not in cn.sent[0]["params"]["token"]


def test_a_customer_whose_locale_has_no_templates_gets_the_zh_cn_ones(world, cn):
    world.dispatch(**mainland(locale="en-US"))
    assert cn.sent[0]["locale"] == "zh-CN"


def test_a_customer_is_sent_the_template_of_their_language_whatever_the_books_region(world, cn):
    english = {"sign_name": "示例人寿", "template_code": "SMS_480000031", "params": ["link"],
               "text": "Please rate our service: ${link} 回T退订"}
    chinese = dict(english, template_code="SMS_480000032", text="请评价我们的服务：${link} 回T退订")
    book = TemplateBook.from_config({"zh-CN": {"invitation": chinese}, "en-US": {"invitation": english}})
    world.extra_senders["sms_cn"] = CnSmsSurveySender(cn, book, world.link)

    world.dispatch(**mainland(locale="en-GB"))        # the survey keeps the language: "en"

    assert (cn.sent[0]["locale"], cn.sent[0]["message"]) == ("en-US", "invitation")


def test_a_rejected_template_ends_the_survey_failed_frees_the_slot_and_is_counted(world, cn, monkeypatch):
    counted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(send_survey_module, "count", lambda name, **dims: counted.append((name, dims)))
    cn.fail_with = TemplateRejected("isv.SMS_TEMPLATE_ILLEGAL", template_code="SMS_480000011")

    outcome = world.dispatch(**mainland())

    assert outcome == {"survey_id": SURVEY, "status": "failed",
                       "reason": "template_rejected_isv.SMS_TEMPLATE_ILLEGAL"}
    survey = world.store.get_survey(SURVEY)
    assert survey.status is SurveyStatus.FAILED and survey.reason == "template_rejected_isv.SMS_TEMPLATE_ILLEGAL"
    assert not world.store.get_contact(world.key(CN_PHONE)).has_open_conversation(world.clock())
    assert ("CnSmsTemplateRejected", {"code": "isv.SMS_TEMPLATE_ILLEGAL"}) in counted
    assert world.dead_letters.letters == []          # a failed survey, not a dead letter


def test_a_template_with_a_variable_koe_does_not_fill_is_rejected_before_any_call(world, cn):
    world.dispatch(**mainland())
    survey = world.store.get_survey(SURVEY)
    sender = CnSmsSurveySender(_RealParamsCheck(), TEMPLATES, world.link)

    with pytest.raises(TemplateRejected) as rejected:
        sender.send(survey, "closing")          # ${case}: not a parameter koe gives
    assert rejected.value.code == "koe_params"


def test_a_number_alibaba_cannot_reach_fails_the_survey_as_alibaba_code(world, cn):
    cn.fail_with = UndeliverableRecipient("isv.MOBILE_NUMBER_ILLEGAL", "recipient cannot receive China SMS",
                                          carrier="alibaba")
    assert world.dispatch(**mainland())["reason"] == "alibaba_isv.MOBILE_NUMBER_ILLEGAL"


def test_without_the_china_sms_sender_a_mainland_customer_gets_email():
    world = World()
    email = FakeEmail()
    world.send_email_through(email)
    assert world.dispatch(**mainland())["reason"] == "CN:email (sms_cn: not available; wechat: none)"


class _RealParamsCheck:
    """The transport's own check of the parameters (adapters/alibaba_sms.py), without the SDK."""

    def send(self, phone_number, message_name, params, out_id, locale="zh-CN"):
        from chalicelib.domain import cn_sms

        template = TEMPLATES.template(message_name, locale)
        try:
            cn_sms.template_param(template, params)
        except cn_sms.TemplateParamsMismatch as exc:
            raise TemplateRejected("koe_params", str(exc), template_code=template.template_code) from exc
        return "never"


# --- delivery reports -------------------------------------------------------------------------------

def test_a_delivery_report_is_recorded_on_its_survey_once(world, cn):
    world.dispatch(**mainland())
    biz_id = cn.sent[0]["biz_id"]

    first = record_reports([report(biz_id)], deps(world))
    again = record_reports([report(biz_id)], deps(world))          # Alibaba pushed it twice

    assert first == [{"survey_id": SURVEY, "biz_id": biz_id, "status": "delivered", "outcome": "recorded"}]
    assert again[0]["outcome"] == "ignored"
    assert world.store.get_survey(SURVEY).delivery_status == "delivered"


def test_an_undelivered_message_sends_the_survey_by_email(world, cn):
    email = FakeEmail()
    world.send_email_through(email)
    world.dispatch(**mainland())

    record_reports([report(cn.sent[0]["biz_id"], success=False, err_code="MK:0001")], deps(world))

    survey = world.store.get_survey(SURVEY)
    assert survey.channel == "email" and survey.status is SurveyStatus.SENT
    assert survey.channel_reason == "CN:sms_cn; then email: undelivered_MK:0001"
    assert len(email.sent) == 1


def test_an_undelivered_message_without_email_ends_the_survey_failed(world, cn):
    world.dispatch(**mainland(email=None))

    record_reports([report(cn.sent[0]["biz_id"], success=False, err_code="UNDELIV")], deps(world))

    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.reason) == (SurveyStatus.FAILED, "undelivered_UNDELIV")


def test_a_report_of_an_older_message_or_of_no_survey_changes_nothing(world, cn):
    world.dispatch(**mainland())

    assert record_reports([report("123^0")], deps(world))[0]["outcome"] == "ignored"
    assert record_reports([report("124^0", out_id=None)], deps(world)) == [{"biz_id": "124^0", "outcome": "no_survey"}]
    assert record_reports([report("125^0", out_id="x" * 2000)], deps(world))[0]["outcome"] == "no_survey"
    assert world.store.get_survey(SURVEY).delivery_status is None


# --- replies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["退订", "TD", "t", "取消订阅", "回T退订"])
def test_an_opt_out_word_ends_the_open_survey_and_opts_the_phone_out_of_everything(world, cn, text):
    world.dispatch(**mainland())

    first = record_replies([up(text)], deps(world))
    again = record_replies([up(text)], deps(world))                 # pushed twice

    assert first == [{"sequence_id": "1001", "outcome": "opted_out"}]
    assert again == [{"sequence_id": "1001", "outcome": "already_opted_out"}]
    assert world.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT
    assert world.store.get_contact(world.key(CN_PHONE)).opted_out
    # ... and the next procedure of this customer is not surveyed on any channel
    world.clock.advance(days=40)
    world.send_email_through(FakeEmail())                        # email is no way round it either
    later = world.dispatch(event_id="claims-2026-000300", completed_at=world.clock().isoformat(), **mainland())
    assert (later["status"], later["reason"]) == ("suppressed", "opted_out") and len(cn.sent) == 1


def test_an_opt_out_without_an_open_survey_opts_the_phone_out(world):
    assert record_replies([up("退订")], deps(world)) == [{"sequence_id": "1001", "outcome": "opted_out"}]
    assert world.store.get_contact(world.key(CN_PHONE)).opted_out


def test_any_other_reply_is_kept_for_cx_once_and_changes_no_survey(world, cn):
    world.dispatch(**mainland())

    record_replies([up("9分，服务很好")], deps(world))
    record_replies([up("9分，服务很好")], deps(world))

    assert list(world.store.inbox) == ["alibaba-up-1001"]
    kept = world.store.inbox["alibaba-up-1001"]
    assert (kept.reason, kept.survey_id, kept.body) == ("china_sms_reply", SURVEY, "9分，服务很好")
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SENT      # answers come by the page


# --- the schedule's sends ----------------------------------------------------------------------------

def test_the_reminder_goes_out_as_its_own_approved_template_and_a_rejected_one_is_counted_not_fatal(world, cn):
    from datetime import timedelta

    from chalicelib.services.tick import tick

    world.reminder_after, world.response_window = timedelta(hours=24), timedelta(days=7)
    world.clock.now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)                 # 10:00 in Shanghai
    world.dispatch(completed_at=world.clock().isoformat(), **mainland())
    world.clock.advance(hours=24)

    assert tick(world.tick_deps)["reminded"] == 1
    assert (cn.sent[-1]["message"], cn.sent[-1]["params"], cn.sent[-1]["out_id"]) == ("reminder", {}, SURVEY)

    # A second survey whose reminder Alibaba refuses: counted as a failed reminder, the survey stays open
    world.clock.advance(days=40)
    world.dispatch(event_id="claims-2026-000400", completed_at=world.clock().isoformat(), **mainland())
    world.clock.advance(hours=24)
    cn.fail_with = TemplateRejected("isv.SMS_TEMPLATE_ILLEGAL", template_code="SMS_480000012")
    assert tick(world.tick_deps)["reminder_failed"] == 1
    assert world.store.get_survey("claims-2026-000400").status is SurveyStatus.REMINDED
