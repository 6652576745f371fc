"""koe's China SMS adapter through the real SDK (alibabacloud-dysmsapi20170525 4.x) against the local
Alibaba Cloud SMS stand-in (devstack/alibaba_sms.py): SendSms signed as the SDK signs it (V3, and the
older RPC form) and verified by the stand-in with the secret; the approved template with its parameters
and the unsubscribe words; Alibaba's refusals as named errors (throttled, template rejected, a wrong key,
a server error, an unreachable endpoint); and the receipts the stand-in pushes, read back by koe's domain.

Fictional data only: 138 0013 8000-style test numbers, made-up keys (LTAI + letters), a made-up signature.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import create_autospec

import pytest
import requests
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.models import Config

from chalicelib.adapters.alibaba_sms import AlibabaSms
from chalicelib.domain import cn_sms
from chalicelib.domain.cn_sms import TemplateBook
from chalicelib.errors import (
    CredentialsRejected,
    PermanentError,
    RetryableSendError,
    TemplateRejected,
    UndeliverableRecipient,
)
from devstack.alibaba_sms import AlibabaSmsPlatform

KEY_ID = "LTAIkqzwvxmrtpbnhdfg"
SECRET = "qWmZrTbXkPlNvHsYdJgFcAeUoIy"
CUSTOMER = "+8613800138000"
OTHER = "+8613900139000"
SURVEY = "claims-2026-000123-paid"
INVITATION = "${name}您好，您的${procedure}已办理完毕。您向亲友推荐我们的可能性有多大？请回复0-10分。回T退订"
TEMPLATES = {"zh-CN": {
    "invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000001", "params": ["name", "procedure"],
                   "text": INVITATION},
    "why": {"sign_name": "示例人寿", "template_code": "SMS_480000002", "params": [],
            "text": "感谢您的评分。能告诉我们原因吗？直接回复即可。回T退订"},
}}
VALUES = {"name": "张先生", "procedure": "理赔"}


@dataclass
class Clock:
    now: datetime = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Receiver:
    """koe's receipt route as the stand-in sees it: keeps each push as received, answers Alibaba's 0."""

    url: str = ""
    received: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            answer = json.dumps({"code": 0, "msg": "接收成功"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def platform_with(receiver: Receiver, clock: Clock, **options: Any) -> AlibabaSmsPlatform:
    return AlibabaSmsPlatform.from_template_book(
        TEMPLATES, access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock,
        report_url=f"{receiver.url}/cn-sms/reports", reply_url=f"{receiver.url}/cn-sms/replies", **options)


@pytest.fixture
def platform(receiver: Receiver, clock: Clock) -> Iterator[AlibabaSmsPlatform]:
    platform = platform_with(receiver, clock)
    platform.start()
    yield platform
    platform.stop()


def adapter(endpoint: str, key_id: str = KEY_ID, secret: str = SECRET, templates: Any = TEMPLATES,
            **config: Any) -> AlibabaSms:
    client = Client(Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http",
                           **config))
    return AlibabaSms(client, TemplateBook.from_config(templates), timeouts_ms=(1000, 2000))


# --- sending ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("signature", [None, "v2"], ids=["v3 (the SDK's default)", "v2 rpc"])
def test_the_approved_template_is_sent_with_its_parameters_and_the_survey_id(platform, signature):
    options = {"signature_algorithm": signature} if signature else {}
    biz_id = adapter(platform.endpoint, **options).send(CUSTOMER, "invitation", VALUES, SURVEY)
    [sent] = platform.sent(CUSTOMER)
    assert (sent.biz_id, sent.phone, sent.out_id, sent.template_code) == (biz_id, "13800138000", SURVEY,
                                                                          "SMS_480000001")
    assert sent.text == "【示例人寿】" + INVITATION.replace("${name}", "张先生").replace("${procedure}", "理赔")
    assert cn_sms.carries_unsubscribe(sent.text) and cn_sms.segments(sent.text) == 1
    # what koe renders from its copy of the approved text is what the phone shows
    assert TemplateBook.from_config(TEMPLATES).template("invitation").render(VALUES) == sent.text


def test_a_template_without_variables_is_sent_with_an_empty_template_param(platform):
    adapter(platform.endpoint).send(CUSTOMER, "why", {}, SURVEY)
    assert platform.sent(CUSTOMER)[0].text == "【示例人寿】感谢您的评分。能告诉我们原因吗？直接回复即可。回T退订"


@pytest.mark.parametrize("values", [{"name": "张先生"}, {**VALUES, "link": "https://koe.example.com/s/abc"}])
def test_values_that_are_not_the_templates_parameters_never_reach_alibaba(platform, values):
    with pytest.raises(TemplateRejected) as raised:
        adapter(platform.endpoint).send(CUSTOMER, "invitation", values, SURVEY)
    assert (raised.value.code, raised.value.template_code) == ("koe_params", "SMS_480000001")
    assert isinstance(raised.value, PermanentError) and platform.sent() == []


def test_a_message_without_an_approved_template_is_refused_before_any_call(platform):
    with pytest.raises(TemplateRejected, match="koe_unknown_template"):
        adapter(platform.endpoint).send(CUSTOMER, "thanks", {}, SURVEY)
    assert platform.sent() == []


@pytest.mark.parametrize("number", ["+85291234567", "+15550100123", "+8602012345678"])
def test_a_number_that_is_no_mainland_mobile_is_undeliverable_before_any_call(platform, number):
    with pytest.raises(UndeliverableRecipient) as raised:
        adapter(platform.endpoint).send(number, "invitation", VALUES, SURVEY)
    assert (raised.value.carrier, raised.value.code) == ("alibaba", "not_mainland_mobile")
    assert platform.sent() == []


# --- Alibaba's refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault, code", [("throttled", "isv.BUSINESS_LIMIT_CONTROL"),
                                         ("api_throttled", "Throttling.User")])
def test_a_throttled_send_is_retryable_and_certain(receiver, clock, fault, code):
    platform = platform_with(receiver, clock, faults={fault: 1.0})
    platform.start()
    try:
        with pytest.raises(RetryableSendError, match=code) as raised:
            adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
        assert raised.value.in_doubt is False                 # refused: nothing went out
        assert platform.sent() == [] and platform.faults_injected[fault] == 1
    finally:
        platform.stop()


def test_the_per_number_daily_limit_throttles_on_the_stand_ins_clock(receiver, clock):
    platform = platform_with(receiver, clock, daily_limit=2)
    platform.start()
    try:
        sender = adapter(platform.endpoint)
        sender.send(CUSTOMER, "why", {}, "s-1")
        sender.send(CUSTOMER, "why", {}, "s-2")
        with pytest.raises(RetryableSendError, match="isv.BUSINESS_LIMIT_CONTROL"):
            sender.send(CUSTOMER, "why", {}, "s-3")
        sender.send(OTHER, "why", {}, "s-4")                  # another number has its own count
        clock.advance(hours=13)                               # 16:00 UTC is the next day in Beijing
        sender.send(CUSTOMER, "why", {}, "s-3")
        assert [s.out_id for s in platform.sent(CUSTOMER)] == ["s-1", "s-2", "s-3"]
    finally:
        platform.stop()


def test_a_template_alibaba_rejects_is_a_named_permanent_error(receiver, clock):
    platform = platform_with(receiver, clock, faults={"template_rejected": 1.0})
    platform.start()
    try:
        with pytest.raises(TemplateRejected) as raised:
            adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
        assert raised.value.code == "isv.SMS_TEMPLATE_ILLEGAL" and isinstance(raised.value, PermanentError)
        assert platform.sent() == []
    finally:
        platform.stop()


def test_a_template_or_signature_the_account_does_not_have_is_rejected_by_alibaba(platform):
    # koe's book names a template and a signature this account never had approved
    unapproved = {"zh-CN": {
        "invitation": {**TEMPLATES["zh-CN"]["invitation"], "template_code": "SMS_999999999"},
        "why": {**TEMPLATES["zh-CN"]["why"], "sign_name": "别家人寿"}}}
    sender = adapter(platform.endpoint, templates=unapproved)
    with pytest.raises(TemplateRejected, match="isv.SMS_TEMPLATE_ILLEGAL"):
        sender.send(CUSTOMER, "invitation", VALUES, SURVEY)
    with pytest.raises(TemplateRejected, match="isv.SMS_SIGNATURE_ILLEGAL"):
        sender.send(CUSTOMER, "why", {}, SURVEY)
    assert platform.sent() == []


@pytest.mark.parametrize("key_id, secret, code", [
    ("LTAIzzzzzzzzzzzzzzzz", SECRET, "InvalidAccessKeyId.NotFound"),
    (KEY_ID, "a-rotated-secret", "SignatureDoesNotMatch"),
])
def test_a_wrong_key_is_koes_fault_not_the_customers(platform, key_id, secret, code):
    with pytest.raises(CredentialsRejected, match=code) as raised:
        adapter(platform.endpoint, key_id=key_id, secret=secret).send(CUSTOMER, "invitation", VALUES, SURVEY)
    assert raised.value.in_doubt is False and platform.sent() == []


@pytest.mark.parametrize("fault, sent", [("500", 0), ("taken500", 1)])
def test_a_server_error_is_retryable_in_doubt(receiver, clock, fault, sent):
    platform = platform_with(receiver, clock, faults={fault: 1.0})
    platform.start()
    try:
        with pytest.raises(RetryableSendError, match="InternalError") as raised:
            adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
        assert raised.value.in_doubt                      # taken500: it went out all the same
        assert len(platform.sent()) == sent
    finally:
        platform.stop()


def test_an_unreachable_endpoint_is_retryable_in_doubt():
    with pytest.raises(RetryableSendError, match="unreachable") as raised:
        adapter("127.0.0.1:9").send(CUSTOMER, "invitation", VALUES, SURVEY)
    assert raised.value.in_doubt


@pytest.mark.parametrize("code, error, in_doubt", [
    ("isv.MOBILE_NUMBER_ILLEGAL", UndeliverableRecipient, None),
    ("isv.SMS_SIGNATURE_ILLEGAL", TemplateRejected, None),
    ("isv.TEMPLATE_MISSING_PARAMETERS", TemplateRejected, None),
    ("isv.DAY_LIMIT_CONTROL", RetryableSendError, False),
    ("isv.OUT_OF_SERVICE", RetryableSendError, False),
    ("isp.SYSTEM_ERROR", RetryableSendError, True),
    ("isv.SOMETHING_NEW", UndeliverableRecipient, None),
])
def test_alibabas_other_verdicts_become_named_errors(code, error, in_doubt):
    # Verdicts the stand-in does not give: the SDK's client (a mock with its spec) answering as Alibaba does
    client = create_autospec(Client, instance=True)
    client.send_sms_with_options.return_value.body.code = code
    with pytest.raises(error) as raised:
        AlibabaSms(client, TemplateBook.from_config(TEMPLATES)).send(CUSTOMER, "invitation", VALUES, SURVEY)
    if in_doubt is not None:
        assert raised.value.in_doubt is in_doubt          # type: ignore[attr-defined]
    if error is UndeliverableRecipient:
        assert raised.value.carrier == "alibaba"          # type: ignore[attr-defined]
    [request, _runtime] = client.send_sms_with_options.call_args.args
    assert (request.phone_numbers, request.out_id) == ("13800138000", SURVEY)


@pytest.mark.parametrize("exc, error, in_doubt", [
    (ClientException(status_code=400, code="Throttling.User", message="flow control"), RetryableSendError, False),
    (ClientException(status_code=403, code="isp.RAM_PERMISSION_DENY", message="ram"), CredentialsRejected, False),
    (ServerException(status_code=503, code="ServiceUnavailable", message="busy"), RetryableSendError, True),
])
def test_the_sdks_exceptions_become_named_errors(exc, error, in_doubt):
    client = create_autospec(Client, instance=True)
    client.send_sms_with_options.side_effect = exc
    with pytest.raises(error) as raised:
        AlibabaSms(client, TemplateBook.from_config(TEMPLATES)).send(CUSTOMER, "invitation", VALUES, SURVEY)
    assert raised.value.in_doubt is in_doubt               # type: ignore[attr-defined]


# --- the stand-in keeps Alibaba's rules where koe's adapter would not reach them ---------------------

def test_the_stand_in_refuses_a_request_without_a_signature_and_a_replayed_nonce(platform):
    unsigned = requests.post(f"{platform.url}/?Action=SendSms&Version=2017-05-25&PhoneNumbers=13800138000",
                             timeout=5)
    assert (unsigned.status_code, unsigned.json()["Code"]) == (400, "MissingSignature")
    captured: list[requests.PreparedRequest] = []
    real_send = requests.Session.send

    def keep(session: requests.Session, prepared: requests.PreparedRequest, **kwargs: Any) -> Any:
        captured.append(prepared.copy())
        return real_send(session, prepared, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "send", keep)
        adapter(platform.endpoint).send(CUSTOMER, "why", {}, SURVEY)
    replayed = requests.Session().send(captured[-1], timeout=5)        # the same signed request again
    assert (replayed.status_code, replayed.json()["Code"]) == (400, "SignatureNonceUsed")
    assert len(platform.sent()) == 1


@pytest.mark.parametrize("template_param, code", [
    ('{"name":"张先生"}', "isv.TEMPLATE_MISSING_PARAMETERS"),
    ('{"name":"张先生","procedure":9}', "isv.INVALID_JSON_PARAM"),
    ("not json", "isv.INVALID_JSON_PARAM"),
    ('{"name":"张先生","procedure":"理赔","link":"x"}', "isv.INVALID_PARAMETERS"),
])
def test_the_stand_in_checks_template_param_against_the_approved_template(platform, template_param, code):
    from alibabacloud_dysmsapi20170525.models import SendSmsRequest
    from darabonba.runtime import RuntimeOptions

    client = Client(Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=platform.endpoint,
                           protocol="http"))
    response = client.send_sms_with_options(SendSmsRequest(
        phone_numbers="13800138000", sign_name="示例人寿", template_code="SMS_480000001",
        template_param=template_param), RuntimeOptions(autoretry=False))
    assert response.body.code == code and platform.sent() == []


# --- receipts ---------------------------------------------------------------------------------------

def test_the_delivery_report_names_the_survey_and_reaches_koe_as_alibaba_pushes_it(platform, receiver, clock):
    biz_id = adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
    before = len(receiver.received)
    report = platform.report_for(biz_id)
    path, body = receiver.received[-1]
    assert len(receiver.received) == before + 1 and path == "/cn-sms/reports"
    assert json.loads(body) == [report]
    [read] = cn_sms.parse_reports(body)
    assert (read.biz_id, read.out_id, read.success, read.err_code, read.phone, read.sms_size) == \
        (biz_id, SURVEY, True, "DELIVERED", CUSTOMER, 1)
    assert read.send_time == clock.now and read.report_time == clock.now + timedelta(seconds=4)
    assert platform.pushes[-1][1] == 200


def test_a_failed_delivery_is_reported_as_such(platform):
    biz_id = adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
    report = platform.report_for(biz_id, success=False, err_code="MK:0001", err_msg="停机")
    [read] = cn_sms.parse_reports(json.dumps([report]).encode())
    assert (read.success, read.err_code) == (False, "MK:0001")


def test_a_customers_reply_reaches_koe_and_reads_as_an_opt_out_or_a_score(platform, receiver, clock):
    adapter(platform.endpoint).send(CUSTOMER, "invitation", VALUES, SURVEY)
    clock.advance(minutes=3)
    platform.customer_replies(CUSTOMER, "9分 办理很快")
    path, body = receiver.received[-1]
    [score] = cn_sms.parse_replies(body)
    platform.customer_replies(CUSTOMER, "T")
    [stop] = cn_sms.parse_replies(receiver.received[-1][1])
    assert path == "/cn-sms/replies"
    assert (score.phone, score.sign_name, score.send_time) == (CUSTOMER, "示例人寿", clock.now)
    assert (cn_sms.read_reply(score).kind, cn_sms.read_reply(score).score) == ("score_and_comment", 9)
    assert cn_sms.read_reply(stop).kind == "opt_out" and cn_sms.is_opt_out(stop.content)
    assert stop.sequence_id != score.sequence_id


def test_a_reply_from_a_number_never_sent_to_needs_its_signature(platform):
    with pytest.raises(ValueError, match="signature"):
        platform.customer_replies(OTHER, "退订")
    reply = platform.customer_replies(OTHER, "退订", sign_name="示例人寿")
    assert reply["phone_number"] == "13900139000"


# --- nothing personal in the logs -------------------------------------------------------------------

def test_nothing_personal_or_secret_is_logged(platform: AlibabaSmsPlatform, caplog: pytest.LogCaptureFixture,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    sender = adapter(platform.endpoint)
    biz_id = sender.send(CUSTOMER, "invitation", VALUES, SURVEY)
    with pytest.raises(TemplateRejected):
        sender.send(CUSTOMER, "invitation", {"name": "张先生"}, SURVEY)
    with pytest.raises(CredentialsRejected):
        adapter(platform.endpoint, secret="a-rotated-secret").send(CUSTOMER, "why", {}, SURVEY)
    platform.report_for(biz_id)
    platform.customer_replies(CUSTOMER, "2 说明不清楚")
    koe_logs = " ".join(str(r.__dict__) for r in caplog.records if r.name == "koe")
    stand_in_logs = capfd.readouterr().err
    assert "alibaba sms sent" in koe_logs and "alibaba sms refused" in koe_logs and biz_id in koe_logs
    assert "+86*******8000" in koe_logs and "+86*******8000" in stand_in_logs
    everything = koe_logs + " ".join(r.getMessage() for r in caplog.records) + stand_in_logs
    for personal in ("13800138000", "张先生", "理赔", "说明不清楚", "您好", SECRET, "a-rotated-secret"):
        assert personal not in everything, personal
