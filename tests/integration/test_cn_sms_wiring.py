"""China SMS wired end to end, in-process: dispatch (app.py, Chalice's test client) chooses sms_cn for a
mainland customer and CnSmsSurveySender sends through koe's real transport (the Alibaba SDK, the Alibaba
secret read through koe's credentials) to the Alibaba SMS stand-in (devstack/alibaba_sms.py, which
verifies the SDK's signature); the stand-in's receipt pushes (its HTTP POSTs, as Alibaba pushes them) reach
POST /alibaba/sms/reports/{token} and /replies/{token} through a loopback server that hands each request
to Chalice's test client. Stores and the other senders are the functional fakes.

Fictional data only: +86 138 0013 8000-style numbers, made-up keys and token, example.com addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.domain.model import SurveyStatus
from devstack.alibaba_sms import AlibabaSmsPlatform
from tests.fakes import secrets
from tests.fakes.messaging import FakeEmail
from tests.functional import conftest
from tests.functional.conftest import SURVEY, Koe, event, serving

KEY_ID = "LTAIkqzwvxmrtpbnhdfg"
KEY_SECRET = "qWmZrTbXkPlNvHsYdJgFcAeUoIy"
TOKEN = "k3J9x2Qm7Lp4Vt8Rb6Nc1Zs5Hd0Wf2Ya"
CN_PHONE = "+8613800138000"
# As Alibaba approves a link: the page's URL as fixed text (a registered domain), the token a variable.
INVITATION = f"您的理赔已办理完毕。请评价我们的服务：{conftest.PUBLIC_BASE_URL}/s/${{token}} 回T退订"
TEMPLATES = {"zh-CN": {"invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["token"],
                                      "text": INVITATION}}}


class ToChalice:
    """A loopback HTTP server handing each POST to Chalice's test client (one at a time)."""

    def __init__(self) -> None:
        self.koe: Koe | None = None
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert outer.koe is not None
                with outer._lock:
                    answer = outer.koe.client.http.post(
                        self.path, headers={"content-type": self.headers["Content-Type"]}, body=body)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: Any) -> None:
                return None     # the request line carries the token: not printed

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ToChalice:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wired() -> Iterator[tuple[Koe, AlibabaSmsPlatform]]:
    with ToChalice() as gateway:
        platform = AlibabaSmsPlatform.from_template_book(
            TEMPLATES, access_key_id=KEY_ID, access_key_secret=KEY_SECRET,
            report_url=f"{gateway.url}/alibaba/sms/reports/{TOKEN}",
            reply_url=f"{gateway.url}/alibaba/sms/replies/{TOKEN}")
        platform.start()
        env = {**conftest.ENV, "KOE_CN_SMS_TEMPLATES": json.dumps(TEMPLATES, ensure_ascii=False),
               "KOE_ALIBABA_SMS_ENDPOINT": platform.endpoint, "KOE_ALIBABA_SMS_PROTOCOL": "http",
               "KOE_EMAIL_FROM": "survey@example.com"}
        stored = {**conftest.SECRETS, secrets.ALIBABA_SMS: {"access_key_id": KEY_ID, "access_key_secret": KEY_SECRET,
                                                             "receipt_token": TOKEN}}
        try:
            with serving(conftest.fake_components(env, stored, email=FakeEmail())) as koe:
                gateway.koe = koe
                yield koe, platform
        finally:
            platform.stop()


def dispatch_to_mainland(koe: Koe) -> None:
    payload = event()
    payload["customer"] = {"id": "C-86001", "phone": CN_PHONE, "email": "li.mei@example.com", "locale": "zh-CN"}
    assert koe.dispatch(payload) == {"batchItemFailures": []}


def test_a_survey_goes_out_through_the_sdk_and_alibabas_receipts_come_back_through_the_routes(wired):
    koe, platform = wired
    dispatch_to_mainland(koe)

    [sent] = platform.sent(CN_PHONE)
    survey = koe.store.get_survey(SURVEY)
    assert (survey.channel, survey.channel_reason, survey.message_sid) == ("sms_cn", "CN:sms_cn", sent.biz_id)
    assert (sent.out_id, sent.template_code) == (SURVEY, "SMS_480000011")
    assert sent.text.startswith("【示例人寿】您的理赔已办理完毕") and sent.text.endswith("回T退订")
    link = koe.components.survey_link(survey)                        # the page's signed link, whole on the phone
    assert link in sent.text and sent.params == {"token": link.rsplit("/", 1)[-1]}

    platform.report_for(sent.biz_id)
    platform.report_for(sent.biz_id)                                 # pushed twice
    assert [status for _, status in platform.pushes] == [200, 200]
    assert koe.store.get_survey(SURVEY).delivery_status == "delivered"

    platform.customer_replies(CN_PHONE, "链接打不开")
    platform.customer_replies(CN_PHONE, "退订")
    assert [status for _, status in platform.pushes[2:]] == [200, 200]
    assert [m.reason for m in koe.store.inbox.values()] == ["china_sms_reply"]
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT


def test_an_undelivered_report_sends_the_survey_by_email(wired):
    koe, platform = wired
    dispatch_to_mainland(koe)
    [sent] = platform.sent(CN_PHONE)

    platform.report_for(sent.biz_id, success=False, err_code="MK:0001", err_msg="用户手机关机")

    survey = koe.store.get_survey(SURVEY)
    assert survey.channel == "email" and survey.channel_reason == "CN:sms_cn; then email: undelivered_MK:0001"
    assert len(koe.components.email.sent) == 1


def test_a_template_alibaba_rejects_ends_the_survey_failed(wired):
    koe, platform = wired
    platform.templates.clear()               # the template is no longer approved at Alibaba

    dispatch_to_mainland(koe)

    survey = koe.store.get_survey(SURVEY)
    assert (survey.status, survey.reason) == (SurveyStatus.FAILED, "template_rejected_isv.SMS_TEMPLATE_ILLEGAL")
    assert koe.components.email.sent == []
