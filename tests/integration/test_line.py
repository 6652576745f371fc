"""koe's LINE adapter through the real SDK (line-bot-sdk 3.x) against the local LINE stand-in
(devstack/line.py): quick replies on each scale, the retry key, reply tokens and their minute on the
stand-in's clock (moved by the test, never the wall clock), LINE's refusals as named errors, and the
signed webhooks the stand-in posts as the customer's side, read back by koe.

Fictional data only: made-up user ids in LINE's format (U + 32 hex digits), made-up credentials.
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
from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApi

from chalicelib.adapters.line_messaging import LineMessaging, read_webhook, user_ref
from chalicelib.domain import line
from chalicelib.domain.line import LineEventKind
from chalicelib.domain.questions import Scale, scores
from chalicelib.errors import (
    CredentialsRejected,
    InvalidSignature,
    PermanentError,
    ReplyTokenExpired,
    RetryableSendError,
    UndeliverableRecipient,
)
from devstack.line import LinePlatform

TOKEN = "koe-local-channel-access-token-0123456789"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CUSTOMER = "U4af4980629e3b7d6c5f2a1b0c9d8e7f6"
STRANGER = "U00000000000000000000000000000001"     # never followed koe's account
QUESTION = "今回のお手続きについて、友人や家族にすすめる可能性はどのくらいありますか？"


@dataclass
class Clock:
    now: datetime = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Webhook:
    body: bytes
    signature: str | None


@dataclass
class App:
    """koe's webhook route as the stand-in sees it: it keeps each POST as received and answers 200."""

    url: str = ""
    received: list[Webhook] = field(default_factory=list)


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    app = App()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            app.received.append(Webhook(body, self.headers.get("x-line-signature")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}/line/webhook"
    yield app
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def platform_with(app: App, clock: Clock, **options: Any) -> LinePlatform:
    return LinePlatform(channel_access_token=TOKEN, channel_secret=SECRET, app_webhook_url=app.url,
                        clock=clock, **options)


@pytest.fixture
def platform(app: App, clock: Clock) -> Iterator[LinePlatform]:
    platform = platform_with(app, clock)
    platform.start()
    platform.follow(CUSTOMER)
    yield platform
    platform.stop()


def adapter(url: str, token: str = TOKEN, timeout_s: tuple[float, float] = (3.0, 5.0)) -> LineMessaging:
    return LineMessaging(MessagingApi(ApiClient(Configuration(access_token=token, host=url))), timeout_s)


def choices(scale: Scale) -> list[str]:
    return [str(score) for score in scores(scale)]


def key(message: str = "invitation", survey: str = "claims-2026-000123-paid") -> str:
    return line.retry_key(survey, message)


def last_event(app: App) -> Any:
    """The last webhook the stand-in posted, read as koe reads it (the signature checked)."""
    webhook = app.received[-1]
    [event] = read_webhook(SECRET, webhook.body, webhook.signature)
    return event


# --- pushes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, labels", [
    (Scale.NPS, ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")),
    (Scale.CSAT, ("1", "2", "3", "4", "5")),
    (Scale.CES, ("1", "2", "3", "4", "5", "6", "7")),
])
def test_the_survey_is_pushed_with_a_quick_reply_button_per_score(platform, scale, labels):
    request_id = adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(scale), key(scale.value))
    [sent] = platform.sent_to(CUSTOMER)
    assert (sent.direction, sent.text, sent.choices, sent.delivered) == ("push", QUESTION, labels, True)
    assert sent.request_id == request_id and sent.retry_key == key(scale.value)
    assert platform.pushes == 1


def test_a_replayed_push_with_the_same_retry_key_is_not_delivered_again(platform):
    sender = adapter(platform.url)
    first = sender.push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())
    again = sender.push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())
    assert again == first                     # the accepted request's id, as if sent now
    assert len(platform.sent_to(CUSTOMER)) == 1 and platform.pushes == 1
    # another message of the survey has a key of its own
    sender.push_text(CUSTOMER, "ありがとうございました。", key("thanks"))
    assert [s.text for s in platform.sent_to(CUSTOMER)] == [QUESTION, "ありがとうございました。"]


def test_a_push_lost_in_a_500_is_in_doubt_and_its_replay_is_not_delivered_twice(app, clock):
    platform = platform_with(app, clock, faults={"taken500": 1.0})
    platform.start()
    try:
        platform.follow(CUSTOMER)
        with pytest.raises(RetryableSendError) as raised:
            adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())
        assert raised.value.in_doubt                         # it went out: LINE accepted the key
        [sent] = platform.sent_to(CUSTOMER)
        assert adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key()) == sent.request_id
        assert len(platform.sent_to(CUSTOMER)) == 1
    finally:
        platform.stop()


@pytest.mark.parametrize("fault, in_doubt", [("429", False), ("500", True)])
def test_a_refused_push_is_retryable_and_its_key_stays_free(app, clock, fault, in_doubt):
    platform = platform_with(app, clock, faults={fault: 1.0})
    platform.start()
    try:
        platform.follow(CUSTOMER)
        with pytest.raises(RetryableSendError, match=f"line {fault}") as raised:
            adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(Scale.CSAT), key())
        assert raised.value.in_doubt is in_doubt
        assert platform.sent_to(CUSTOMER) == [] and platform.faults_injected[fault] == 1
    finally:
        platform.stop()
    # LINE took nothing, so the same key sends when LINE takes requests again
    healthy = platform_with(app, clock)
    healthy.start()
    try:
        healthy.follow(CUSTOMER)
        adapter(healthy.url).push_survey(CUSTOMER, QUESTION, choices(Scale.CSAT), key())
        assert len(healthy.sent_to(CUSTOMER)) == 1
    finally:
        healthy.stop()


@pytest.mark.parametrize("user", [STRANGER, "not-a-line-user-id"])
def test_a_user_line_does_not_know_is_undeliverable_for_good(platform, user):
    with pytest.raises(UndeliverableRecipient) as raised:
        adapter(platform.url).push_survey(user, QUESTION, choices(Scale.NPS), key(survey="claims-2026-000999"))
    assert (raised.value.carrier, raised.value.code) == ("line", "unknown_user")
    assert isinstance(raised.value, PermanentError) and platform.pushes == 0


def test_a_customer_who_blocked_the_account_is_not_an_error_at_push_time(platform):
    # As LINE: 200, nothing delivered; koe learns it from the unfollow webhook
    platform.unfollow(CUSTOMER)
    request_id = adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())
    [sent] = platform.sent_to(CUSTOMER)
    assert (sent.request_id, sent.delivered) == (request_id, False)


def test_a_wrong_channel_access_token_is_koes_fault_not_the_customers(platform):
    with pytest.raises(CredentialsRejected, match="line 401"):
        adapter(platform.url, token="a-rotated-token").push_text(CUSTOMER, "hello", key())
    assert platform.sent_to(CUSTOMER) == []


def test_an_unreachable_line_is_retryable_in_doubt():
    with pytest.raises(RetryableSendError) as raised:
        adapter("http://127.0.0.1:9", timeout_s=(1.0, 1.0)).push_text(CUSTOMER, "hello", key())
    assert raised.value.in_doubt        # a lost connection or a timeout may have sent it


def test_what_line_would_refuse_is_never_sent(platform):
    sender = adapter(platform.url)
    with pytest.raises(ValueError, match="13"):
        sender.push_survey(CUSTOMER, QUESTION, [str(n) for n in range(14)], key())
    with pytest.raises(ValueError, match="label"):
        sender.push_survey(CUSTOMER, QUESTION, ["10 (extremely likely to recommend)"], key())
    with pytest.raises(ValueError, match="UUID"):
        sender.push_text(CUSTOMER, "hello", "survey-1")
    assert platform.sent_to(CUSTOMER) == []


@pytest.mark.parametrize("status, body, error, in_doubt", [
    (403, {"message": "Access to this API is not available for your account"}, RetryableSendError, False),
    (413, {"message": "Request Entity Too Large"}, UndeliverableRecipient, None),
    (400, {"message": "The request body has 1 error(s)"}, UndeliverableRecipient, None),
    (502, None, RetryableSendError, True),
    (429, {"message": "You have reached your monthly limit."}, RetryableSendError, False),
])
def test_lines_other_answers_become_named_errors(status, body, error, in_doubt):
    # Answers the stand-in does not give: the SDK's client (a mock with its spec) raising the SDK's own
    # exception, as its REST layer builds it from LINE's answer
    exc = ApiException(status=status, reason="")
    exc.body = json.dumps(body).encode() if body else b"<html>Bad Gateway</html>"
    api = create_autospec(MessagingApi, instance=True)
    api.push_message_with_http_info.side_effect = exc
    with pytest.raises(error) as raised:
        LineMessaging(api).push_text(CUSTOMER, "hello", key())
    if in_doubt is not None:
        assert raised.value.in_doubt is in_doubt       # type: ignore[attr-defined]
    if status == 429:
        assert "monthly limit" in str(raised.value)


# --- replies ----------------------------------------------------------------------------------------

def test_a_reply_answers_the_customers_message_for_free(platform, clock, app):
    platform.user_says(CUSTOMER, "9")
    token = last_event(app).reply_token
    clock.advance(seconds=59)
    request_id = adapter(platform.url).reply(token, "ありがとうございます。理由を教えていただけますか？")
    [reply] = platform.sent_to(CUSTOMER)
    assert (reply.direction, reply.request_id) == ("reply", request_id)
    assert platform.pushes == 0


def test_a_reply_token_past_its_minute_is_expired_and_the_caller_pushes(platform, clock, app):
    platform.user_says(CUSTOMER, "9")
    token = last_event(app).reply_token
    clock.advance(seconds=60)
    sender = adapter(platform.url)
    with pytest.raises(ReplyTokenExpired):
        sender.reply(token, "理由を教えていただけますか？")
    assert platform.sent_to(CUSTOMER) == []
    sender.push_text(CUSTOMER, "理由を教えていただけますか？", key("why"))
    assert [s.direction for s in platform.sent_to(CUSTOMER)] == ["push"]


def test_a_reply_token_answers_once(platform, app):
    platform.user_says(CUSTOMER, "3")
    token = last_event(app).reply_token
    sender = adapter(platform.url)
    sender.reply(token, "理由を教えていただけますか？", choices=())
    with pytest.raises(ReplyTokenExpired):
        sender.reply(token, "理由を教えていただけますか？")
    assert len(platform.sent_to(CUSTOMER)) == 1


def test_a_re_prompt_by_reply_carries_the_buttons_again(platform, app):
    platform.user_says(CUSTOMER, "とても良い")
    sender = adapter(platform.url)
    sender.reply(last_event(app).reply_token, "0〜10の数字でお答えください。", choices(Scale.NPS))
    assert platform.sent_to(CUSTOMER)[0].choices == tuple(choices(Scale.NPS))


# --- the customer's side: signed webhooks -----------------------------------------------------------

def test_a_customers_message_arrives_signed_with_a_reply_token(platform, clock, app):
    outcome = platform.user_says(CUSTOMER, "9 早かった")
    event = last_event(app)
    assert outcome["app_status"] == 200
    assert (event.kind, event.user_id, event.text, event.redelivery) == \
        (LineEventKind.MESSAGE, CUSTOMER, "9 早かった", False)
    assert (event.event_id, event.reply_token) == (outcome["event_id"], outcome["reply_token"])
    assert event.timestamp == clock.now


def test_a_redelivered_event_has_the_same_id_and_says_so(platform, app):
    first = platform.user_says(CUSTOMER, "9")
    platform.redeliver(first["event_id"])
    again = last_event(app)
    assert (again.event_id, again.redelivery, again.text) == (first["event_id"], True, "9")


def test_event_ids_are_unique(platform):
    ids = [platform.user_says(CUSTOMER, str(n))["event_id"] for n in range(20)]
    assert len(set(ids)) == 20 and all(len(i) == 26 for i in ids)


def test_follow_and_unfollow_arrive_as_such(platform, app):
    platform.unfollow(CUSTOMER)
    unfollow = last_event(app)
    platform.follow(CUSTOMER)
    follow = last_event(app)
    assert (unfollow.kind, unfollow.reply_token, unfollow.user_id) == (LineEventKind.UNFOLLOW, None, CUSTOMER)
    assert (follow.kind, follow.user_id) == (LineEventKind.FOLLOW, CUSTOMER) and follow.reply_token


def test_an_event_koe_does_not_handle_arrives_as_ignored(platform, app):
    platform.send_event({"type": "postback", "postback": {"data": "score=9"},
                         "source": {"type": "user", "userId": CUSTOMER}, "replyToken": "x" * 32})
    event = last_event(app)
    assert (event.kind, event.event_type, event.user_id) == (LineEventKind.IGNORED, "postback", None)


def test_a_webhook_signed_with_another_channels_secret_is_refused(app, clock):
    other = LinePlatform(channel_access_token=TOKEN, channel_secret="another-channel-secret",
                         app_webhook_url=app.url, clock=clock)
    try:
        other.user_says(CUSTOMER, "0")          # the customer's side needs no server of its own
    finally:
        other.stop()
    webhook = app.received[-1]
    with pytest.raises(InvalidSignature):
        read_webhook(SECRET, webhook.body, webhook.signature)


def test_a_blocked_customer_cannot_write(platform):
    platform.unfollow(CUSTOMER)
    with pytest.raises(ValueError, match="blocked"):
        platform.user_says(CUSTOMER, "9")


# --- the stand-in keeps LINE's rules where the SDK does not check them -----------------------------

def _post(platform: LinePlatform, path: str, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{platform.url}{path}", json=body, timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}", **headers})


def test_the_stand_in_refuses_what_line_refuses(platform):
    text = {"type": "text", "text": "?"}
    item = {"type": "action", "action": {"type": "message", "label": "1", "text": "1"}}
    push = {"to": CUSTOMER, "messages": [text]}
    assert requests.post(f"{platform.url}/v2/bot/message/push", json=push, timeout=5).status_code == 401
    assert _post(platform, "/v2/bot/message/push", push, **{"X-Line-Retry-Key": "not-a-uuid"}).status_code == 400
    too_many = _post(platform, "/v2/bot/message/push",
                     {"to": CUSTOMER, "messages": [{**text, "quickReply": {"items": [item] * 14}}]})
    assert too_many.status_code == 400
    assert too_many.json()["details"] == [{"message": "Size must be between 1 and 13",
                                          "property": "messages[0].quickReply.items"}]
    reply = {"replyToken": platform.user_says(CUSTOMER, "9")["reply_token"], "messages": [text]}
    assert _post(platform, "/v2/bot/message/reply", reply, **{"X-Line-Retry-Key": key()}).status_code == 400
    assert platform.sent_to(CUSTOMER) == []


def test_a_retry_key_holds_for_24_hours_on_the_stand_ins_clock(platform, clock):
    sender = adapter(platform.url)
    first = sender.push_text(CUSTOMER, "hello", key())
    clock.advance(hours=23, minutes=59)
    assert sender.push_text(CUSTOMER, "hello", key()) == first
    clock.advance(minutes=1)
    assert sender.push_text(CUSTOMER, "hello", key()) != first         # LINE forgot the key: sent again
    assert len(platform.sent_to(CUSTOMER)) == 2


# --- nothing personal in the logs -------------------------------------------------------------------

def test_nothing_personal_is_logged(platform: LinePlatform, app: App, caplog: pytest.LogCaptureFixture,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    sender = adapter(platform.url)
    sender.push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())
    sender.push_survey(CUSTOMER, QUESTION, choices(Scale.NPS), key())          # the replay, logged too
    platform.user_says(CUSTOMER, "2 説明が分かりにくかった")
    event = last_event(app)
    sender.reply(event.reply_token, "ご意見ありがとうございました。")
    with pytest.raises(UndeliverableRecipient):
        sender.push_text(STRANGER, "こんにちは", key(survey="other"))
    koe_logs = " ".join(str(r.__dict__) for r in caplog.records if r.name == "koe")
    stand_in_logs = capfd.readouterr().err
    assert "line push sent" in koe_logs and "line push already accepted" in koe_logs and "line event" in koe_logs
    assert user_ref(CUSTOMER) in koe_logs and user_ref(CUSTOMER) in stand_in_logs
    everything = koe_logs + " ".join(r.getMessage() for r in caplog.records) + stand_in_logs
    for personal in (CUSTOMER, STRANGER, QUESTION, "説明が分かりにくかった", "ご意見", "こんにちは", event.reply_token,
                     TOKEN):
        assert personal not in everything, personal


# --- the customer's side over HTTP: for scripts, the e2e tests and the phone page -----------------------

def test_the_customers_side_is_served_over_http(platform, app):
    customer = f"{platform.url}/customer"
    said = requests.post(f"{customer}/say", json={"user": CUSTOMER, "text": "3"}, timeout=5)
    assert said.status_code == 200 and said.json()["app_status"] == 200
    assert last_event(app).text == "3"
    again = requests.post(f"{customer}/redeliver", json={"event_id": said.json()["event_id"]}, timeout=5)
    assert again.status_code == 200 and last_event(app).redelivery
    assert requests.post(f"{customer}/unfollow", json={"user": CUSTOMER}, timeout=5).status_code == 200
    chat = requests.get(f"{platform.url}/chat", params={"user": CUSTOMER}, timeout=5).json()
    assert chat["follows"] is False and [m["text"] for m in chat["messages"]] == ["3"]
    # what LINE's app would not let a user do, and what is not an action
    assert requests.post(f"{customer}/say", json={"user": CUSTOMER, "text": "9"}, timeout=5).status_code == 400
    assert requests.post(f"{customer}/say", json={"user": "hanako", "text": "9"}, timeout=5).status_code == 400
    assert requests.post(f"{customer}/redeliver", json={"event_id": "nope"}, timeout=5).status_code == 400
    assert requests.post(f"{customer}/poke", json={"user": CUSTOMER}, timeout=5).status_code == 404
    assert requests.get(f"{platform.url}/chat", params={"user": "hanako"}, timeout=5).status_code == 400


def test_a_quick_reply_keeps_what_tapping_it_sends(platform):
    adapter(platform.url).push_survey(CUSTOMER, QUESTION, choices(Scale.CSAT), key())
    [sent] = platform.chat_of(CUSTOMER)["messages"]
    assert sent["choices"] == sent["choice_texts"] == ["1", "2", "3", "4", "5"]


def test_the_carrier_serves_the_line_users_side_to_its_phone_page(platform, app, capfd):
    from devstack.carrier import Carrier

    carrier = Carrier(account_sid="AC" + "0" * 32, auth_token="0" * 32, number="+15550009999",
                      app_sms_url=app.url, line=platform)
    alone = Carrier(account_sid="AC" + "0" * 32, auth_token="0" * 32, number="+15550009999", app_sms_url=app.url)
    carrier.start()
    alone.start()
    try:
        said = requests.post(f"{carrier.url}/line/say", json={"user": CUSTOMER, "text": "10"}, timeout=5)
        assert said.status_code == 200 and said.json()["app_status"] == 200
        chat = requests.get(f"{carrier.url}/line/chat", params={"user": CUSTOMER}, timeout=5).json()
        assert chat["follows"] is True and chat["messages"][-1]["text"] == "10"
        assert requests.post(f"{carrier.url}/line/say", data="user=x", timeout=5).status_code == 415
        assert requests.post(f"{carrier.url}/line/say", json={"user": "x", "text": "1"}, timeout=5).status_code == 400
        assert requests.get(f"{carrier.url}/", params={"line": CUSTOMER}, timeout=5).status_code == 200
        # a carrier started alone has no LINE: the page hides its LINE view
        assert requests.get(f"{alone.url}/line/chat", params={"user": CUSTOMER}, timeout=5).status_code == 404
    finally:
        carrier.stop()
        alone.stop()
    logged = capfd.readouterr().err
    assert "GET /line/chat -> 200" in logged and f"GET /?line=U***{CUSTOMER[-4:]} -> 200" in logged
    assert CUSTOMER not in logged                           # the page's and the chat's queries name the user
