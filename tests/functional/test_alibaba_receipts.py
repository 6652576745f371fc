"""China SMS end to end through app.py: a mainland customer's survey goes out as the approved template
(FakeCnSms stands for Alibaba), and Alibaba's receipt pushes reach POST /alibaba/sms/reports/{token} and
/alibaba/sms/replies/{token} through Chalice's local gateway: 403 without the token, 400 naming the field
of a push that is not a receipt, Alibaba's success body and each receipt's outcome otherwise.

Fictional data only: +86 138 0013 8000-style numbers, example.com addresses, made-up keys and token."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.model import SurveyStatus
from tests.fakes import secrets
from tests.fakes.messaging import FakeCnSms, FakeEmail
from tests.functional import conftest
from tests.functional.conftest import SURVEY, Koe, event, serving

TOKEN = "k3J9x2Qm7Lp4Vt8Rb6Nc1Zs5Hd0Wf2Ya"
CN_PHONE = "+8613800138000"
TEMPLATES = {"zh-CN": {
    "invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["link"],
                   "text": "您的理赔已办理完毕。请花一分钟评价我们的服务：${link} 回T退订"},
}}


@pytest.fixture
def koe() -> Iterator[Koe]:
    """The functional components with China SMS on (its secret named, its templates given) and email."""
    env = {**conftest.ENV, "KOE_CN_SMS_TEMPLATES": json.dumps(TEMPLATES, ensure_ascii=False),
           "KOE_EMAIL_FROM": "survey@example.com"}
    stored = {**copy.deepcopy(conftest.SECRETS), secrets.ALIBABA_SMS: {
        "access_key_id": "LTAIkqzwvxmrtpbnhdfg", "access_key_secret": "qWmZrTbXkPlNvHsYdJgFcAeUoIy",
        "receipt_token": TOKEN}}
    with serving(conftest.fake_components(env, stored, cn_sms=FakeCnSms(), email=FakeEmail())) as koe:
        yield koe


def cn_sms(koe: Koe) -> FakeCnSms:
    return koe.components.cn_sms        # type: ignore[return-value]


def dispatch_to_mainland(koe: Koe) -> str:
    payload = event()
    payload["customer"] = {"id": "C-86001", "phone": CN_PHONE, "email": "li.mei@example.com", "locale": "zh-CN"}
    assert koe.dispatch(payload) == {"batchItemFailures": []}
    return cn_sms(koe).sent[-1]["biz_id"]


def push(koe: Koe, kind: str, items: Any, token: str = TOKEN, body: bytes | None = None) -> Any:
    raw = body if body is not None else json.dumps(items, ensure_ascii=False).encode()
    return koe.client.http.post(f"/alibaba/sms/{kind}/{token}", headers={"content-type": "application/json"},
                                body=raw)


def report(biz_id: str, success: bool = True, err_code: str = "DELIVERED") -> dict[str, Any]:
    return {"phone_number": "13800138000", "send_time": "2026-11-21 10:25:00", "report_time": "2026-11-21 10:25:05",
            "success": success, "err_code": err_code, "err_msg": "用户接收成功" if success else "失败",
            "sms_size": "1", "biz_id": biz_id, "out_id": SURVEY}


def reply(text: str, sequence_id: int = 1001) -> dict[str, Any]:
    return {"phone_number": "13800138000", "send_time": "2026-11-21 10:30:00", "content": text,
            "sign_name": "示例人寿", "dest_code": "", "sequence_id": sequence_id}


def test_a_mainland_customer_is_surveyed_by_china_sms_and_its_delivery_report_is_recorded_once(koe):
    biz_id = dispatch_to_mainland(koe)
    survey = koe.store.get_survey(SURVEY)
    assert (survey.channel, survey.channel_reason, survey.message_sid) == ("sms_cn", "CN:sms_cn", biz_id)
    assert cn_sms(koe).sent[-1]["params"]["link"].startswith(conftest.PUBLIC_BASE_URL + "/s/")

    first = push(koe, "reports", [report(biz_id)])
    again = push(koe, "reports", [report(biz_id)])

    assert first.status_code == 200
    assert json.loads(first.body) == {"code": 0, "msg": "接收成功", "outcomes": [
        {"survey_id": SURVEY, "biz_id": biz_id, "status": "delivered", "outcome": "recorded"}]}
    assert json.loads(again.body)["outcomes"][0]["outcome"] == "ignored"
    assert koe.store.get_survey(SURVEY).delivery_status == "delivered"


def test_an_undelivered_report_sends_the_survey_by_email(koe):
    biz_id = dispatch_to_mainland(koe)

    assert push(koe, "reports", [report(biz_id, success=False, err_code="MK:0001")]).status_code == 200

    survey = koe.store.get_survey(SURVEY)
    assert survey.channel == "email" and survey.channel_reason == "CN:sms_cn; then email: undelivered_MK:0001"
    assert len(koe.components.email.sent) == 1


def test_tuiding_opts_the_phone_out_and_other_words_are_kept_for_cx(koe):
    dispatch_to_mainland(koe)

    kept = push(koe, "replies", [reply("链接打不开", 1001)])
    stop = push(koe, "replies", [reply("退订", 1002)])

    assert json.loads(kept.body)["outcomes"] == [{"sequence_id": "1001", "outcome": "kept"}]
    assert json.loads(stop.body)["outcomes"] == [{"sequence_id": "1002", "outcome": "opted_out"}]
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT
    assert list(koe.store.inbox) == ["alibaba-up-1001"]


@pytest.mark.parametrize("kind", ["reports", "replies"])
@pytest.mark.parametrize("token", ["x" * 32, TOKEN[:-1], TOKEN + "0"])
def test_a_push_without_the_token_is_403_and_changes_nothing(koe, kind, token):
    biz_id = dispatch_to_mainland(koe)
    items = [report(biz_id)] if kind == "reports" else [reply("退订")]

    answer = push(koe, kind, items, token=token)

    assert answer.status_code == 403 and json.loads(answer.body)["code"] == "invalid_signature"
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.SENT
    assert koe.store.get_survey(SURVEY).delivery_status is None


@pytest.mark.parametrize("kind, body, named", [
    ("reports", b"not json", "the body is not JSON"),
    ("reports", b'{"biz_id": "1^0"}', "not a JSON array"),
    ("reports", json.dumps([{"biz_id": "1^0", "success": "yes"}]).encode(), "[0].success"),
    ("replies", json.dumps([reply("退订") | {"sequence_id": "one"}]).encode(), "[0].sequence_id"),
    ("replies", json.dumps([reply("退订") | {"phone_number": "+15550100"}]).encode(), "[0].phone_number"),
])
def test_a_push_that_is_not_a_receipt_is_400_naming_the_field_and_changes_nothing(koe, kind, body, named):
    dispatch_to_mainland(koe)

    answer = push(koe, kind, None, body=body)

    assert answer.status_code == 400
    error = json.loads(answer.body)
    assert error["reason"] == "unreadable_receipt" and named in error["error"]
    assert "13800138000" not in error["error"]
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.SENT


def test_where_china_sms_is_off_a_push_is_403_not_a_configuration_fault():
    env = {k: v for k, v in conftest.ENV.items() if k != "KOE_ALIBABA_SMS_SECRET_ID"}
    with serving(conftest.fake_components(env)) as off:
        for kind, items in (("reports", [report("900000000000000001^0")]), ("replies", [reply("退订")])):
            answer = push(off, kind, items)
            assert answer.status_code == 403 and json.loads(answer.body)["code"] == "invalid_signature"
        assert off.store.opt_out_history == {}
