"""koe's WeChat adapter through the real SDK (wechatpy 1.8, WeChatClient) against the local WeChat stand-in
(devstack/wechat.py): the access token fetched and refreshed once when WeChat refuses it (its expiry on
the stand-in's clock, moved by the test, never the wall clock), template messages with koe's template
book, client_msg_id sending once, WeChat's refusals as named errors (each code koe maps, the rest through
a scripted WeChat), and the signed webhook pushes the stand-in posts as the customer's side, read back by
koe's WeChatWebhook.

Fictional data only: openids made up in WeChat's shape (oKoe + 24 characters), a made-up appid, secret,
webhook token and template ids (the local stack's book).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from wechatpy import parse_message
from wechatpy.utils import check_signature

from chalicelib.adapters.wechat import RotatingWeChatMessaging, WeChatMessaging, WeChatWebhook, wechat_client
from chalicelib.domain import wechat
from chalicelib.domain.wechat import DEFAULT_TEMPLATES, DeliveryOutcome, NoticeKind, TemplateBook
from chalicelib.errors import (
    CredentialsRejected,
    InvalidSignature,
    InvalidWebhook,
    PermanentError,
    RetryableSendError,
    TemplateRejected,
    UndeliverableRecipient,
)
from devstack.wechat import WeChatPlatform
from tests.services.conftest import Clock

APPID = "wxk0e0000000000001"
SECRET = "k0e5ecret0f7he5erv1ceacc0un7000"
TOKEN = "koeWebhookToken2026"
CUSTOMER = "oKoe4f2b9c1d7e3a5b6c8d0e2f4a"
STRANGER = "oKoe000000000000000000000001"     # never followed koe's account
SURVEY = "claims-2026-000123-paid"
PAGE = "https://survey.example.com/s/7Hq2xKp9"
VALUES = {"brand": "示例人寿", "procedure": "理赔", "date": "2026年12月1日"}
BOOK = TemplateBook.from_config(DEFAULT_TEMPLATES)
START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)      # the stand-in's and the webhook's clock starts here
INVITATION = BOOK.template("invitation")
DATA = INVITATION.render(VALUES)


@dataclass
class Push:
    params: dict[str, str]
    body: bytes


@dataclass
class App:
    """koe's webhook route as the stand-in sees it: it keeps each POST as received and answers
    "success"; it answers WeChat's server check with koe's WeChatWebhook."""

    url: str = ""
    received: list[Push] = field(default_factory=list)


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    app = App()
    webhook = WeChatWebhook(lambda fresh: TOKEN)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            app.received.append(Push(_query(self.path), body))
            self._answer(200, b"success")

        def do_GET(self) -> None:
            try:
                self._answer(200, webhook.echo(_query(self.path)).encode())
            except InvalidSignature:
                self._answer(403, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}/wechat/webhook"
    yield app
    server.shutdown()
    server.server_close()


def _query(path: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def platform_with(app: App, clock: Clock, **options: Any) -> WeChatPlatform:
    return WeChatPlatform.from_template_book(DEFAULT_TEMPLATES, appid=APPID, secret=SECRET, token=TOKEN,
                                             app_webhook_url=app.url, clock=clock, **options)


@pytest.fixture
def platform(app: App, clock: Clock) -> Iterator[WeChatPlatform]:
    platform = platform_with(app, clock)
    platform.start()
    platform.follow(CUSTOMER)
    yield platform
    platform.stop()


def adapter(url: str, appid: str = APPID, secret: str = SECRET,
            timeout_s: tuple[float, float] = (3.0, 5.0)) -> WeChatMessaging:
    return WeChatMessaging(wechat_client(appid, secret, base_url=url, timeout_s=timeout_s))


def send(sender: WeChatMessaging | RotatingWeChatMessaging, openid: str = CUSTOMER, message: str = "invitation",
         data: dict[str, str] | None = None, template_id: str | None = None) -> str:
    return sender.send_template(openid, template_id or BOOK.template(message).template_id,
                                DATA if data is None else data, PAGE, wechat.client_msg_id(SURVEY, message))


def read(push: Push, *, now: datetime | None = None) -> wechat.WeChatNotice:
    return WeChatWebhook(lambda fresh: TOKEN).read(push.params, push.body, now=now)


# --- the access token -------------------------------------------------------------------------------

def test_the_first_send_fetches_a_token_and_the_next_ones_reuse_it(platform):
    sender = adapter(platform.url)
    send(sender)
    send(sender, message="reminder")
    assert platform.token_fetches == 1 and len(platform.sent(CUSTOMER)) == 2


def test_a_token_past_its_two_hours_on_wechats_clock_is_fetched_again_once(platform, clock):
    sender = adapter(platform.url)
    send(sender)
    clock.advance(seconds=7200)
    assert send(sender, message="reminder") == str(platform.sent()[-1].msgid)
    assert platform.token_fetches == 2


def test_a_token_another_server_replaced_works_five_minutes_then_is_fetched_again(platform, clock):
    first, second = adapter(platform.url), adapter(platform.url)
    send(first)
    send(second, message="reminder")            # WeChat issues a new token: the first one has 5 minutes
    clock.advance(minutes=4)
    send(first, message="closing")
    assert platform.token_fetches == 2
    clock.advance(minutes=1)
    platform.follow(STRANGER)
    send(first, openid=STRANGER)
    assert platform.token_fetches == 3 and len(platform.sent()) == 4


@pytest.mark.parametrize("appid, secret, errcode", [
    (APPID, "a-reset-secret", "40125"), ("wxk0e0000000000099", SECRET, "40013")])
def test_a_wrong_appid_or_secret_is_credentials_rejected_and_nothing_is_sent(platform, appid, secret, errcode):
    with pytest.raises(CredentialsRejected, match=errcode) as refused:
        send(adapter(platform.url, appid=appid, secret=secret))
    assert not refused.value.in_doubt and platform.sent() == []
    assert secret not in str(refused.value)


def test_a_secret_reset_in_the_console_is_read_again_once(platform):
    reads: list[bool] = []

    def keys(fresh: bool) -> tuple[str, str]:
        reads.append(fresh)
        return (APPID, SECRET) if fresh else (APPID, "the-secret-before-the-reset")

    sender = RotatingWeChatMessaging(keys, lambda appid, secret: adapter(platform.url, appid, secret))
    assert send(sender) == str(platform.sent()[-1].msgid)
    assert reads == [False, True]


def test_a_secret_that_is_still_wrong_after_reading_it_again_is_refused(platform):
    sender = RotatingWeChatMessaging(lambda fresh: (APPID, "wrong"), lambda a, s: adapter(platform.url, a, s))
    with pytest.raises(CredentialsRejected):
        send(sender)


# --- template messages ------------------------------------------------------------------------------

def test_the_customer_sees_the_templates_title_its_filled_keywords_and_the_survey_link(platform):
    msgid = send(adapter(platform.url))
    [sent] = platform.sent(CUSTOMER)
    assert str(sent.msgid) == msgid
    assert (sent.title, sent.fields, sent.url) == ("服务评价邀请", DATA, PAGE)
    assert sent.shown.split("\n") == ["服务评价邀请", "感谢您选择示例人寿。", "理赔", "2026年12月1日",
                                      "点击查看并评价本次服务，约需1分钟。", PAGE]
    assert sent.client_msg_id == wechat.client_msg_id(SURVEY, "invitation")
    listed = requests.get(f"{platform.url}/messages", params={"openid": CUSTOMER}, timeout=5).json()
    assert [m["msgid"] for m in listed] == [sent.msgid]
    assert requests.get(f"{platform.url}/health", timeout=5).json() == {"ok": True}


def test_the_english_template_is_sent_when_the_customer_reads_english(platform):
    english = BOOK.template("invitation", "en")
    send(adapter(platform.url), template_id=english.template_id, data=english.render(VALUES))
    assert platform.sent(CUSTOMER)[0].title == "Tell us how we did"


def test_a_send_replayed_with_the_same_client_msg_id_goes_out_once(platform, clock):
    sender = adapter(platform.url)
    first = send(sender)
    clock.advance(minutes=9)
    assert send(sender) == first
    assert len(platform.sent(CUSTOMER)) == 1
    clock.advance(minutes=2)             # past WeChat's 10 minutes: the id no longer holds it back
    assert send(sender) != first and len(platform.sent(CUSTOMER)) == 2


def test_a_send_wechat_answered_500_after_sending_is_in_doubt_and_its_replay_sends_nothing(app, clock):
    platform = platform_with(app, clock, faults={"taken500": 1.0})
    platform.start()
    try:
        platform.follow(CUSTOMER)
        sender = adapter(platform.url)
        with pytest.raises(RetryableSendError) as refused:
            send(sender)
        assert refused.value.in_doubt and len(platform.sent()) == 1
        assert send(sender) == str(platform.sent()[0].msgid) and len(platform.sent()) == 1
    finally:
        platform.stop()


@pytest.mark.parametrize("fault, in_doubt, named", [
    ("system_busy", True, "-1 system busy"), ("rate_limited", False, "45009 rate limit"), ("500", True, "http 500")])
def test_wechats_passing_faults_are_retried_and_nothing_was_sent(app, clock, fault, in_doubt, named):
    platform = platform_with(app, clock, faults={fault: 1.0})
    platform.start()
    try:
        platform.follow(CUSTOMER)
        with pytest.raises(RetryableSendError, match=named) as refused:
            send(adapter(platform.url))
        assert refused.value.in_doubt is in_doubt and not isinstance(refused.value, CredentialsRejected)
        assert platform.sent() == [] and platform.faults_injected[fault] == 1
    finally:
        platform.stop()


def test_a_customer_who_never_followed_or_unfollowed_cannot_be_sent_to(platform):
    sender = adapter(platform.url)
    with pytest.raises(UndeliverableRecipient) as never:
        send(sender, openid=STRANGER)
    platform.unfollow(CUSTOMER)
    with pytest.raises(UndeliverableRecipient) as unfollowed:
        send(sender)
    for refused in (never.value, unfollowed.value):
        assert (refused.carrier, refused.code) == ("wechat", "43004") and isinstance(refused, PermanentError)
    assert platform.sent() == []


def test_what_is_not_an_openid_is_refused_before_any_call(platform):
    with pytest.raises(UndeliverableRecipient) as refused:
        send(adapter(platform.url), openid="+8613800138000")
    assert refused.value.code == "invalid_openid" and platform.token_fetches == 0


@pytest.mark.parametrize("template_id, data, errcode", [
    ("koeNoSuchTemplate000000000000000000000001", DATA, "40037"),
    (None, {k: v for k, v in DATA.items() if k != "keyword2"}, "47003"),
    (None, {**DATA, "keyword9": "多余"}, "47003"),
    (None, {**DATA, "keyword1": ""}, "47003"),
])
def test_a_template_wechat_does_not_take_is_rejected_and_dead_lettered(platform, template_id, data, errcode):
    with pytest.raises(TemplateRejected, match=f"^wechat wechat_{errcode}$") as refused:
        send(adapter(platform.url), template_id=template_id, data=data)
    assert refused.value.code == f"wechat_{errcode}" and "alibaba" not in str(refused.value)
    assert platform.sent() == []


# --- every code koe maps, through a scripted WeChat ----------------------------------------------------

@dataclass
class Scripted:
    """A WeChat that issues tokens and answers every send with `answer` (errcode and, for 0, a msgid)."""

    url: str = ""
    answer: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    sends: int = 0
    token_fetches: int = 0
    delay_s: float = 0.0


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[Scripted]:
    scripted = Scripted()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            scripted.token_fetches += 1
            self._answer(200, {"access_token": f"token-{scripted.token_fetches}", "expires_in": 7200})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            scripted.sends += 1
            time.sleep(scripted.delay_s)
            self._answer(scripted.status, scripted.answer)

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):      # the client timed out first
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield scripted
    server.shutdown()
    server.server_close()


@pytest.fixture
def scripted(scripted_server: Scripted) -> Scripted:
    scripted_server.answer, scripted_server.status, scripted_server.delay_s = {}, 200, 0.0
    scripted_server.sends = scripted_server.token_fetches = 0
    return scripted_server


@pytest.mark.parametrize("errcode, error, in_doubt", [
    (43004, UndeliverableRecipient, None), (43101, UndeliverableRecipient, None),
    (40003, UndeliverableRecipient, None), (45015, UndeliverableRecipient, None),
    (99999, UndeliverableRecipient, None),
    (40037, TemplateRejected, None), (47003, TemplateRejected, None),
    (40013, CredentialsRejected, False), (40125, CredentialsRejected, False), (40002, CredentialsRejected, False),
    (45009, RetryableSendError, False), (45011, RetryableSendError, False), (45047, RetryableSendError, False),
    (40164, RetryableSendError, False), (48001, RetryableSendError, False),
    (-1, RetryableSendError, True),
])
def test_each_errcode_is_the_named_error_koe_maps_it_to(scripted, errcode, error, in_doubt):
    scripted.answer = {"errcode": errcode, "errmsg": "scripted rid: 0000"}
    with pytest.raises(error) as refused:
        send(adapter(scripted.url))
    assert type(refused.value) is error
    if isinstance(refused.value, UndeliverableRecipient):
        assert (refused.value.carrier, refused.value.code) == ("wechat", str(errcode))
    if isinstance(refused.value, RetryableSendError):
        assert refused.value.in_doubt is in_doubt
    assert scripted.sends == 1


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_token_wechat_keeps_refusing_is_fetched_again_once_then_credentials_rejected(scripted, errcode):
    scripted.answer = {"errcode": errcode, "errmsg": "access_token is invalid or not latest"}
    with pytest.raises(CredentialsRejected, match=str(errcode)):
        send(adapter(scripted.url))
    # wechatpy's own auto_retry would fetch and resend until the recursion limit: koe does it once.
    assert (scripted.token_fetches, scripted.sends) == (2, 2)


@pytest.mark.parametrize("answer, status", [({"errcode": 0, "errmsg": "ok"}, 200), ({"html": "busy"}, 502)])
def test_an_answer_without_a_msgid_or_a_5xx_is_in_doubt(scripted, answer, status):
    scripted.answer, scripted.status = answer, status
    with pytest.raises(RetryableSendError) as refused:
        send(adapter(scripted.url))
    assert refused.value.in_doubt


def test_a_send_that_times_out_is_in_doubt(scripted):
    scripted.answer, scripted.delay_s = {"errcode": 0, "errmsg": "ok", "msgid": 1}, 3.0
    with pytest.raises(RetryableSendError, match="unreachable: ReadTimeout") as refused:
        send(adapter(scripted.url, timeout_s=(2.0, 1.0)))       # the token comes at once, the send never
    assert refused.value.in_doubt
    assert refused.value.__cause__ is None and refused.value.__suppress_context__      # the URL holds the token


def test_wechat_unreachable_while_fetching_the_token_is_certain(scripted):
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()                # a port nothing listens on
    with pytest.raises(RetryableSendError, match="token unreachable") as refused:
        send(adapter(f"http://127.0.0.1:{port}", timeout_s=(0.5, 0.5)))
    assert not refused.value.in_doubt


# --- the webhook: the customer's side ------------------------------------------------------------------

def test_follow_say_and_unfollow_arrive_signed_and_are_read(platform, app, clock):
    follow = read(app.received[-1], now=clock.now)
    assert (follow.kind, follow.openid, follow.at) == (NoticeKind.SUBSCRIBE, CUSTOMER, clock.now)
    assert app.received[-1].params["openid"] == CUSTOMER
    clock.advance(seconds=30)
    assert platform.say(CUSTOMER, "9 服务很好") == 200
    said = read(app.received[-1], now=clock.now)
    assert (said.kind, said.text, said.at) == (NoticeKind.TEXT, "9 服务很好", clock.now)
    assert said.dedupe_key == f"msg:{said.msg_id}" and not wechat.is_opt_out(said.text or "")
    platform.say(CUSTOMER, "退订")
    assert wechat.is_opt_out(read(app.received[-1]).text or "")
    platform.unfollow(CUSTOMER)
    assert read(app.received[-1]).kind is NoticeKind.UNSUBSCRIBE
    with pytest.raises(ValueError, match="follower"):
        platform.say(CUSTOMER, "还在吗")


def test_each_accepted_send_is_followed_by_its_send_job_finished_event(platform, app):
    msgid = send(adapter(platform.url))
    finished = read(app.received[-1])
    assert (finished.kind, finished.msg_id, finished.status) == (NoticeKind.SEND_FINISHED, msgid,
                                                                 DeliveryOutcome.DELIVERED)
    assert finished.dedupe_key == f"sendjob:{msgid}"


def test_a_customer_who_unfollowed_before_delivery_is_reported_blocked(app, clock):
    platform = platform_with(app, clock, auto_finish=False)
    platform.start()
    try:
        platform.follow(CUSTOMER)
        platform.follow(STRANGER)
        sender = adapter(platform.url)
        blocked_msgid = send(sender)
        send(sender, openid=STRANGER)
        platform.unfollow(CUSTOMER)
        platform.finish_sends()
        outcomes = {n.msg_id: n.status for n in map(read, app.received[-2:])}
        assert outcomes[blocked_msgid] is DeliveryOutcome.BLOCKED
        assert sorted(outcomes.values()) == sorted([DeliveryOutcome.BLOCKED, DeliveryOutcome.DELIVERED])
        platform.follow(CUSTOMER)
        send(sender, message="reminder")
        platform.finish_sends(system_failed=True)
        assert read(app.received[-1]).status is DeliveryOutcome.FAILED
    finally:
        platform.stop()


def test_wechats_server_check_is_echoed_when_signed(platform):
    assert platform.check_app()


def test_koes_signature_and_reading_agree_with_wechatpys(platform, app):
    platform.say(CUSTOMER, "8 <还行> & ]]> 谢谢")
    push = app.received[-1]
    check_signature(TOKEN, push.params["signature"], push.params["timestamp"], push.params["nonce"])
    theirs, ours = parse_message(push.body), read(push)
    assert (ours.openid, ours.text, ours.msg_id, int(ours.at.timestamp())) == \
        (theirs.source, theirs.content, str(theirs.id), int(theirs.create_time.timestamp()))
    assert ours.text == "8 <还行> & ]]> 谢谢"


def test_a_forged_or_missing_signature_is_refused(platform, app):
    push = app.received[-1]
    forged = {**push.params, "signature": "0" * 40}
    hook = WeChatWebhook(lambda fresh: TOKEN)
    with pytest.raises(InvalidSignature):
        hook.read(forged, push.body)
    with pytest.raises(InvalidSignature):
        hook.read({k: v for k, v in push.params.items() if k != "signature"}, push.body)
    with pytest.raises(InvalidSignature):
        WeChatWebhook(lambda fresh: "another-token").read(push.params, push.body)
    with pytest.raises(InvalidSignature):
        hook.echo({**forged, "echostr": "123"})


def test_a_signed_query_older_than_five_minutes_is_refused_when_the_time_is_given(platform, app, clock):
    push = app.received[-1]
    assert read(push, now=clock.now + timedelta(minutes=5)).kind is NoticeKind.SUBSCRIBE
    with pytest.raises(InvalidSignature, match="timestamp"):
        read(push, now=clock.now + timedelta(minutes=6))


def test_a_webhook_token_changed_in_the_console_is_read_again_once(platform, app):
    reads: list[bool] = []

    def token(fresh: bool) -> str:
        reads.append(fresh)
        return TOKEN if fresh else "the-token-before"

    assert WeChatWebhook(token).read(app.received[-1].params, app.received[-1].body).kind is NoticeKind.SUBSCRIBE
    assert reads == [False, True]


def test_a_signed_body_koe_cannot_read_is_invalid_webhook(platform, app):
    push = app.received[-1]
    with pytest.raises(InvalidWebhook, match="not XML"):
        read(Push(push.params, b"not xml"))
    with pytest.raises(InvalidWebhook, match="plaintext"):
        read(Push({**push.params, "encrypt_type": "aes", "msg_signature": "0" * 40}, push.body))


# --- the stand-in itself --------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_the_stand_in_binds_loopback_only(host):
    with pytest.raises(ValueError, match="loopback"):
        WeChatPlatform.from_template_book(DEFAULT_TEMPLATES, appid=APPID, secret=SECRET, token=TOKEN, host=host)


def test_nothing_personal_or_secret_is_logged(platform: WeChatPlatform, app: App, caplog: pytest.LogCaptureFixture,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    sender = adapter(platform.url)
    msgid = send(sender)
    with pytest.raises(UndeliverableRecipient):
        send(sender, openid=STRANGER)
    with pytest.raises(CredentialsRejected):
        send(adapter(platform.url, secret="a-reset-secret"))
    platform.say(CUSTOMER, "9 服务很好")
    read(app.received[-1])
    koe_logs = " ".join(str(r.__dict__) for r in caplog.records if r.name == "koe")
    stand_in_logs = capfd.readouterr().err
    assert "wechat template sent" in koe_logs and "wechat template refused" in koe_logs and msgid in koe_logs
    assert "oKoe***" in koe_logs and "oKoe***" in stand_in_logs
    everything = koe_logs + " ".join(r.getMessage() for r in caplog.records) + stand_in_logs
    access_token = sender._client.access_token
    for personal in (CUSTOMER, STRANGER, "理赔", "示例人寿", "服务很好", SECRET, "a-reset-secret", TOKEN, access_token):
        assert personal not in everything, personal



# --- the phone page's WeChat view (the carrier's /wechat/ routes) ---------------------------------------

def test_the_carrier_serves_the_wechat_customers_side_to_its_phone_page(platform, app, clock, capfd):
    from devstack.carrier import Carrier

    carrier = Carrier(account_sid="AC" + "0" * 32, auth_token="0" * 32, number="+15550009999",
                      app_sms_url=app.url, wechat=platform)
    alone = Carrier(account_sid="AC" + "0" * 32, auth_token="0" * 32, number="+15550009999", app_sms_url=app.url)
    carrier.start()
    alone.start()
    try:
        # Given koe sent the follower a template message, then they wrote to the account
        send(adapter(platform.url))
        clock.advance(seconds=5)
        said = requests.post(f"{carrier.url}/wechat/say", json={"openid": CUSTOMER, "text": "9 服务很好"}, timeout=5)
        assert said.status_code == 200 and said.json() == {"app_status": 200}
        # Then their chat lists both, oldest first: the card as WeChat shows it, with its send-job status
        chat = requests.get(f"{carrier.url}/wechat/chat", params={"openid": CUSTOMER}, timeout=5).json()
        assert (chat["openid"], chat["follows"]) == (CUSTOMER, True)
        card, text = chat["messages"]
        assert (card["direction"], card["title"], card["fields"], card["url"], card["finished"]) == (
            "template", "服务评价邀请", DATA, PAGE, "success")
        assert (text["direction"], text["text"]) == ("customer", "9 服务很好")
        # An unfollow reaches koe; what WeChat would not let a customer do is refused
        unfollowed = requests.post(f"{carrier.url}/wechat/unfollow", json={"openid": CUSTOMER}, timeout=5)
        assert unfollowed.json() == {"app_status": 200} and platform.follows(CUSTOMER) is False
        assert read(app.received[-1]).kind is NoticeKind.UNSUBSCRIBE
        def post(action: str, **kwargs: Any) -> requests.Response:
            return requests.post(f"{carrier.url}/wechat/{action}", timeout=5, **kwargs)

        for refused, status in ((post("say", json={"openid": CUSTOMER, "text": "在吗"}), 400),   # no longer a follower
                                (post("follow", data="openid=x"), 415),
                                (post("follow", json={"openid": "x"}), 400),
                                (post("block", json={"openid": CUSTOMER}), 404),
                                (requests.get(f"{carrier.url}/wechat/chat", params={"openid": "o+1"}, timeout=5), 400)):
            assert refused.status_code == status and refused.json()["error"], refused.text
        assert requests.get(f"{carrier.url}/", params={"wechat": CUSTOMER}, timeout=5).status_code == 200
        # a carrier started alone has no WeChat: the page hides its WeChat view
        assert requests.get(f"{alone.url}/wechat/chat", params={"openid": CUSTOMER}, timeout=5).status_code == 404
        assert requests.post(f"{alone.url}/wechat/follow", json={"openid": CUSTOMER}, timeout=5).status_code == 404
    finally:
        carrier.stop()
        alone.stop()
    logged = capfd.readouterr().err
    assert "GET /wechat/chat -> 200" in logged and "GET /?wechat=oKoe*** -> 200" in logged
    assert CUSTOMER not in logged and "服务很好" not in logged     # the page's and the chat's queries name the customer
