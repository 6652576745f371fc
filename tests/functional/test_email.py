"""Email through app.py in-process: with KOE_EMAIL_FROM set, dispatch sends a Chinese customer's survey
by email (the SES transport a fake); the email's links open `/s/{token}?score=N` (shown, not recorded)
and `/u/{token}` (GET asks, POST and the RFC 8058 one-click POST unsubscribe, idempotently; a tampered
token is a 404 page); SES's bounce and complaint notifications reach `on_ses_event` as SNS delivers
them (`chalice.test.Client` `generate_sns_event`) and opt the address out of email."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from chalicelib.bootstrap import Components
from chalicelib.domain import survey_token
from chalicelib.domain.model import SurveyStatus
from chalicelib.settings import from_env
from tests.fakes.messaging import FakeAlerts, FakeDeadLetters, FakeEmail, FakeFollowUps, FakeIntakeQueue, FakeSms
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.functional.conftest import (
    CONTACT_KEY,
    ENV,
    SURVEY,
    Clock,
    Koe,
    PassThroughIdempotency,
    event,
    fake_secrets,
    serving,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"
CN_PHONE = "+8613800138000"
ADDRESS = "li.mei@example.com"
EMAIL_ENV = {**ENV, "KOE_EMAIL_FROM": "survey@example.jp", "KOE_SES_CONFIGURATION_SET": "koe-ci-email"}
KEY = survey_token.link_key(CONTACT_KEY.encode())
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def koe() -> Iterator[Koe]:
    built = Components(
        from_env(EMAIL_ENV), Clock(),
        conversations=FakeConversationStore(), cases=FakeCaseStore(), scores=FakeScoreStore(),
        intake_queue=FakeIntakeQueue(), dead_letters=FakeDeadLetters(), follow_ups=FakeFollowUps(),
        alerts=FakeAlerts(), sms=FakeSms(), idempotency=PassThroughIdempotency(),
        event_ledger=FakeEventLedger(), email=FakeEmail(), secrets=fake_secrets())
    with serving(built) as koe:
        yield koe


def chinese_customer() -> dict:
    return event(customer={"phone": CN_PHONE, "email": ADDRESS, "locale": "zh-CN"})


def sent_email(koe: Koe):
    (email,) = koe.components.email.sent
    return email


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert url.startswith("https://koe.example.com/api/")
    return parts.path.removeprefix("/api") + (f"?{parts.query}" if parts.query else "")


def opt_outs(koe: Koe, address: str = ADDRESS) -> list[str]:
    key = koe.components.contact_key(address)
    return [h["audit"] for h in koe.store.opt_out_history.get(key, [])]


def sns(koe: Koe, message: str) -> object:
    event = koe.client.events.generate_sns_event(message=message)
    return koe.client.lambda_.invoke("on_ses_event", event).payload


def test_a_chinese_customer_gets_the_survey_by_email_with_score_links_to_the_page(koe):
    assert koe.dispatch(chinese_customer()) == {"batchItemFailures": []}

    email = sent_email(koe)
    survey = koe.store.get_survey(SURVEY)
    assert (survey.status, survey.channel_reason) == (SurveyStatus.SENT,
                                                      "CN:email (sms_cn: not available; wechat: none)")
    assert email.to == ADDRESS and "理赔付款" in email.content.subject
    links = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', email.content.html)]
    nine = next(link for link in links if link.endswith("?score=9"))
    page = koe.client.http.get(path_of(nine))
    assert page.status_code == 200 and 'value="9" checked>' in page.body.decode()
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.SENT             # opening it recorded nothing
    answered = koe.client.http.post(path_of(nine.split("?")[0]), headers=FORM,
                                    body=urlencode({"score": "9", "comment": "很快"}).encode())
    assert answered.status_code == 200
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.ANSWERED


def test_the_unsubscribe_page_asks_and_records_nothing(koe):
    koe.dispatch(chinese_customer())
    url = sent_email(koe).unsubscribe_url

    page = koe.client.http.get(path_of(url), headers={"accept-language": "en"})

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == koe.components.pages.content_security_policy
    assert (page.headers["Cache-Control"], page.headers["X-Frame-Options"]) == ("no-store", "DENY")
    html = page.body.decode()
    assert '<html lang="zh-Hans">' in html and "l*****@example.com" in html and "<form method=\"post\"" in html
    assert opt_outs(koe) == []


def test_the_pages_button_unsubscribes_the_address_once_and_leaves_sms_alone(koe):
    koe.dispatch(chinese_customer())
    path = path_of(sent_email(koe).unsubscribe_url)

    first = koe.client.http.post(path, headers=FORM, body=b"confirm=yes")
    again = koe.client.http.post(path, headers=FORM, body=b"confirm=yes")

    assert first.status_code == again.status_code == 200
    assert "您已成功退订" in first.body.decode()
    assert opt_outs(koe) == ["email:unsubscribe"]
    assert opt_outs(koe, CN_PHONE) == []


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
    ("multipart/form-data; boundary=koe", b'--koe\r\nContent-Disposition: form-data; name="List-Unsubscribe"'
                                          b'\r\n\r\nOne-Click\r\n--koe--\r\n'),
])
def test_a_mail_clients_one_click_post_unsubscribes(koe, content_type, body):
    koe.dispatch(chinese_customer())
    response = koe.client.http.post(path_of(sent_email(koe).unsubscribe_url),
                                    headers={"content-type": content_type}, body=body)
    assert response.status_code == 200
    assert opt_outs(koe) == ["email:unsubscribe"]


def test_a_post_that_is_not_a_form_is_refused_and_unsubscribes_nobody(koe):
    koe.dispatch(chinese_customer())
    response = koe.client.http.post(path_of(sent_email(koe).unsubscribe_url),
                                    headers={"content-type": "application/json", "accept-language": "zh-CN,zh"},
                                    body=b"{}")
    assert response.status_code == 415 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "本页面只接收通过页面表单提交的回答" in response.body.decode()        # a page in the browser's language
    assert opt_outs(koe) == []


@pytest.mark.parametrize("token", ["this-link-was-cut", survey_token.sign(KEY, SURVEY),
                                   survey_token.sign(KEY, SURVEY, "unsubscribe")[:-2] + "AA"])
def test_a_tampered_token_or_a_survey_token_is_a_404_page_and_changes_nothing(koe, token):
    koe.dispatch(chinese_customer())
    for response in (koe.client.http.get(f"/u/{token}", headers={"accept-language": "ja"}),
                     koe.client.http.post(f"/u/{token}", headers={**FORM, "accept-language": "ja"},
                                          body=b"List-Unsubscribe=One-Click")):
        assert response.status_code == 404
        assert '<html lang="ja">' in response.body.decode()
    assert opt_outs(koe) == []


def test_a_hard_bounce_delivered_by_sns_opts_the_address_out(koe):
    bounce = json.loads((EVENTS / "ses-event-bounce-permanent.json").read_text())

    assert sns(koe, json.dumps(bounce)) == {"kind": "hard_bounce", "recipients": 1, "opted_out": 1,
                                           "send_recorded": False}

    assert opt_outs(koe, "li.mei@example.com") == ["ses:bounce"]
    # ... and the next survey of that customer finds no channel (China SMS is off in these settings)
    koe.dispatch(chinese_customer())
    assert koe.store.get_survey(SURVEY).channel_reason == \
        "CN:none (sms_cn: not available; wechat: none; email: blocked)"
    assert koe.components.email.sent == [] and koe.sms.sent == []


def test_a_complaint_in_an_sns_envelope_and_a_soft_bounce(koe):
    envelope = (EVENTS / "sns-envelope-ses-complaint.json").read_text()
    assert sns(koe, envelope)["opted_out"] == 1
    assert opt_outs(koe, "taro.yamada@example.jp") == ["ses:complaint"]
    assert sns(koe, (EVENTS / "ses-event-bounce-transient.json").read_text())["opted_out"] == 0
    assert opt_outs(koe, "hanako@example.jp") == []


def test_something_that_is_not_from_ses_is_dropped(koe):
    assert sns(koe, "hello")["kind"] == "unreadable"
    assert koe.store.opt_out_history == {}


def test_without_a_sender_address_no_email_is_sent(components, client):
    koe = Koe(client, components, components.clock)
    koe.dispatch(chinese_customer())
    assert koe.store.get_survey(SURVEY).channel_reason == \
        "CN:none (sms_cn: not available; wechat: none; email: not available)"
