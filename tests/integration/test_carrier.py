"""The local carrier, driven by the real Twilio SDK and checked by a tiny app that validates signatures.

Fictional data only: 555-01xx numbers, made-up credentials in Twilio's format."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from devstack.carrier import Carrier, count_segments, mask
from devstack.time_machine import StackClock, TimeMachine

ACCOUNT_SID = "AC" + "5a1e" * 8
AUTH_TOKEN = "0123456789abcdef" * 2
KOE_NUMBER = "+15550009999"
SERVICE_SID = "MG" + "b0b0" * 8
CUSTOMER = "+15550100123"
THANKS = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks</Message></Response>'


@dataclass
class Hit:
    path: str
    params: dict[str, str]
    signature_ok: bool


@dataclass
class FakeApp:
    """What koe's HTTP routes look like from the carrier's side; it checks every signature it gets."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    sms_answer: tuple[int, str] = (200, THANKS)

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


def _app_handler(app: FakeApp) -> type[BaseHTTPRequestHandler]:
    validator = RequestValidator(AUTH_TOKEN)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
            # keep_blank_values: Twilio signs the empty fields too (ToCity=, FromZip=, ...)
            params = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            ok = validator.validate(app.url + self.path, params, self.headers.get("X-Twilio-Signature", ""))
            app.hits.append(Hit(self.path, params, ok))
            status, body = app.sms_answer if self.path == "/twilio/sms" else (204, "")
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def app() -> Iterator[FakeApp]:
    fake = FakeApp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _app_handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@contextlib.contextmanager
def faulty_carrier(app: FakeApp, fault: str) -> Iterator[Carrier]:
    """A carrier that meets `fault` (devstack/carrier.py's --carrier-faults) on every call."""
    running = _carrier(app, faults={fault: 1.0})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _carrier(app: FakeApp, **extra: Any) -> Carrier:
    return Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, number=KOE_NUMBER,
                   app_sms_url=f"{app.url}/twilio/sms", callback_delay_s=0.01, **extra)


@pytest.fixture
def carrier(app: FakeApp) -> Iterator[Carrier]:
    running = _carrier(app)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(carrier: Carrier) -> Client:
    twilio = Client(ACCOUNT_SID, AUTH_TOKEN)
    twilio.api.base_url = carrier.url  # the line koe's adapter uses
    return twilio


def wait_for(condition: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def send(client: Client, to: str, app: FakeApp | None = None, body: str = "How did it go? Reply 0-10"):
    callback = f"{app.url}/twilio/status" if app else None
    return client.messages.create(to=to, from_=KOE_NUMBER, body=body, status_callback=callback,
                                  validity_period=3600)


def reply(carrier: Carrier, body: str, **extra: Any) -> dict[str, Any]:
    response = requests.post(f"{carrier.url}/reply", json={"from": CUSTOMER, "body": body, **extra}, timeout=5)
    assert response.status_code == 200
    return response.json()


def statuses(app: FakeApp, count: int) -> list[Hit]:
    return wait_for(lambda: app.on("/twilio/status") if len(app.on("/twilio/status")) >= count else None)


# --- the Messages API -----------------------------------------------------------------------------


def test_the_real_sdk_sends_through_the_carrier(carrier: Carrier, client: Client) -> None:
    # Given the SDK pointed at the carrier
    # When koe sends a survey question
    message = send(client, CUSTOMER)
    # Then the SDK parses a real MessageInstance
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.direction) == (CUSTOMER, KOE_NUMBER, "outbound-api")
    assert message.num_segments == "1" and message.error_code is None and message.date_created
    # And the carrier lists it for that number
    listed = requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5).json()
    assert [(m["sid"], m["body"], m["from"]) for m in listed] == [(message.sid, message.body, KOE_NUMBER)]
    # And the SDK can fetch it back
    assert client.messages(message.sid).fetch().sid == message.sid


def test_status_callbacks_arrive_signed_and_in_order(app: FakeApp, carrier: Carrier, client: Client) -> None:
    # Given a send with a status callback
    message = send(client, CUSTOMER, app)
    # When the carrier delivers it
    hits = statuses(app, 2)
    # Then the app got sent, then delivered, each signed, with the sample's fields
    assert [hit.params["MessageStatus"] for hit in hits] == ["sent", "delivered"]
    assert all(hit.signature_ok for hit in hits)
    assert hits[0].params.keys() == {"MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "To", "From",
                                     "AccountSid", "ApiVersion"}
    assert hits[1].params["MessageSid"] == message.sid
    # And the carrier's own record moved with them
    listed = wait_for(lambda: requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5).json())
    assert listed[0]["status"] == "delivered"


def test_a_messaging_service_send_is_accepted_and_named_in_callbacks(
        app: FakeApp, carrier: Carrier, client: Client) -> None:
    # When koe sends through a Messaging Service instead of a From number
    message = client.messages.create(to=CUSTOMER, messaging_service_sid=SERVICE_SID, body="Hi",
                                     status_callback=f"{app.url}/twilio/status")
    # Then Twilio's shape: accepted, sender not chosen yet; callbacks name the service
    assert (message.status, message.from_, message.messaging_service_sid) == ("accepted", None, SERVICE_SID)
    hits = statuses(app, 2)
    assert {hit.params["MessagingServiceSid"] for hit in hits} == {SERVICE_SID}
    assert {hit.params["From"] for hit in hits} == {KOE_NUMBER}


def test_wrong_credentials_are_refused_with_20003(carrier: Carrier) -> None:
    # Given an SDK with a wrong auth token
    intruder = Client(ACCOUNT_SID, "f" * 32)
    intruder.api.base_url = carrier.url
    # When it sends, Then Twilio's authentication error comes back
    with pytest.raises(TwilioRestException) as raised:
        send(intruder, CUSTOMER)
    assert (raised.value.status, raised.value.code) == (401, 20003)


@pytest.mark.parametrize(("to", "status", "code"), [
    ("+15550100190", 400, 21614),   # not a mobile number
    ("+15550100192", 429, 20429),   # too many requests
    ("15550100123", 400, 21211),    # not E.164
])
def test_refused_sends_raise_twilio_codes(carrier: Carrier, client: Client, to: str, status: int, code: int) -> None:
    # When koe sends to a number the carrier refuses
    with pytest.raises(TwilioRestException) as raised:
        send(client, to)
    # Then the SDK raises the code, and nothing counts as sent
    assert (raised.value.status, raised.value.code) == (status, code)
    assert requests.get(f"{carrier.url}/messages", params={"to": to}, timeout=5).json() == []


@pytest.mark.parametrize(("to", "expected"), [
    ("+15550100191", [("sent", None), ("undelivered", "30003")]),
    ("+15550100193", [("failed", "21610")]),
])
def test_delivery_faults_arrive_as_callbacks(app: FakeApp, carrier: Carrier, client: Client,
                                             to: str, expected: list[tuple[str, str | None]]) -> None:
    # When koe sends to a number whose delivery fails later
    send(client, to, app)
    # Then the callbacks carry the status and ErrorCode (only on the failure)
    hits = statuses(app, len(expected))
    assert [(hit.params["MessageStatus"], hit.params.get("ErrorCode")) for hit in hits] == expected
    assert all(hit.signature_ok for hit in hits)


def test_a_message_taken_then_answered_500_goes_out_and_reports_its_callbacks(app: FakeApp) -> None:
    """`taken500`: the send koe cannot tell from a refusal, the window the send lease is for."""
    with faulty_carrier(app, "taken500") as carrier:
        twilio = Client(ACCOUNT_SID, AUTH_TOKEN)
        twilio.api.base_url = carrier.url
        with pytest.raises(TwilioRestException) as raised:
            send(twilio, CUSTOMER, app)
        assert raised.value.status == 500
        [message] = requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5).json()
        hits = statuses(app, 2)
        assert {hit.params["MessageSid"] for hit in hits} == {message["sid"]}
        assert carrier.faults_injected == {"taken500": 1}


def test_a_chat_webhook_can_fail_on_purpose(app: FakeApp) -> None:
    with faulty_carrier(app, "chat500") as carrier:
        answer = requests.post(f"{carrier.url}/chat/cx-central", json={"text": "new case"}, timeout=5)
        assert answer.status_code == 500 and carrier.chat_messages() == []


def test_a_send_answered_after_the_clients_timeout_still_goes_out(app: FakeApp) -> None:
    """`timeout`: the carrier took it but the sender stopped waiting: in doubt, as a real timeout is."""
    from twilio.http.http_client import TwilioHttpClient

    with faulty_carrier(app, "timeout") as carrier:
        twilio = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=1))
        twilio.api.base_url = carrier.url
        with pytest.raises(Exception) as raised:        # requests' ReadTimeout, as TwilioHttpClient lets it through
            send(twilio, CUSTOMER, app)
        assert "timed out" in str(raised.value).lower() or "timeout" in type(raised.value).__name__.lower()
        assert len(requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5).json()) == 1


def test_callbacks_to_an_app_that_is_down_do_not_break_the_carrier(app: FakeApp, carrier: Carrier,
                                                                   client: Client) -> None:
    # Given a status callback URL where nothing listens
    dead_url = "http://127.0.0.1:9/twilio/status"
    # When koe sends
    message = client.messages.create(to=CUSTOMER, from_=KOE_NUMBER, body="Hi", status_callback=dead_url)
    # Then the message is still delivered in the carrier's records
    wait_for(lambda: client.messages(message.sid).fetch().status == "delivered")


# --- customers' replies ---------------------------------------------------------------------------


def test_a_reply_reaches_the_app_signed_and_the_twiml_answer_is_recorded(app: FakeApp, carrier: Carrier) -> None:
    # When the customer answers
    outcome = reply(carrier, "9 the payout came fast")
    # Then the app got Twilio's full, signed inbound webhook
    (hit,) = app.on("/twilio/sms")
    assert hit.signature_ok
    assert hit.params["Body"] == "9 the payout came fast"
    assert (hit.params["From"], hit.params["To"], hit.params["SmsStatus"]) == (CUSTOMER, KOE_NUMBER, "received")
    assert hit.params["MessageSid"] == hit.params["SmsSid"] == hit.params["SmsMessageSid"] == outcome["message_sid"]
    assert hit.params["ToCity"] == "" and hit.params["FromCountry"] == "US" and hit.params["NumMedia"] == "0"
    # And the app's TwiML reply is recorded as delivered to the customer
    assert outcome["app_status"] == 200 and outcome["replies"] == ["Thanks"]
    conversation = requests.get(f"{carrier.url}/messages", params={"number": CUSTOMER}, timeout=5).json()
    assert [(m["direction"], m["body"], m["status"]) for m in conversation] == [
        ("inbound", "9 the payout came fast", "received"), ("outbound-reply", "Thanks", "delivered")]


def test_a_redelivered_reply_keeps_its_sid(app: FakeApp, carrier: Carrier) -> None:
    # Given a reply the app has seen
    first = reply(carrier, "10")
    # When Twilio delivers it again
    again = reply(carrier, "10", message_sid=first["message_sid"])
    # Then the app sees the same MessageSid twice, and the carrier stored the customer's text once
    assert [hit.params["MessageSid"] for hit in app.on("/twilio/sms")] == [first["message_sid"]] * 2
    assert again["message_sid"] == first["message_sid"]
    inbound = [m for m in requests.get(f"{carrier.url}/messages", timeout=5).json() if m["direction"] == "inbound"]
    assert len(inbound) == 1


def test_an_app_error_is_reported_without_replies(app: FakeApp, carrier: Carrier) -> None:
    # Given an app that fails
    app.sms_answer = (500, THANKS)
    # When the customer answers, Then the carrier reports the status and records no reply
    outcome = reply(carrier, "7")
    assert (outcome["app_status"], outcome["replies"]) == (500, [])


def test_japanese_and_chinese_text_survive_the_round_trip(app: FakeApp, carrier: Carrier) -> None:
    # Given an app that answers in Japanese, with TwiML's <Body> form
    app.sms_answer = (200, "<Response><Message><Body>ありがとうございました</Body></Message></Response>")
    # When the phone page posts raw UTF-8 JSON, as a browser does
    raw = json.dumps({"from": CUSTOMER, "body": "とても良かった 谢谢"}, ensure_ascii=False).encode("utf-8")
    outcome = requests.post(f"{carrier.url}/reply", data=raw, timeout=5,
                            headers={"Content-Type": "application/json; charset=utf-8"}).json()
    # Then both directions keep their characters
    assert app.on("/twilio/sms")[0].params["Body"] == "とても良かった 谢谢"
    assert outcome["replies"] == ["ありがとうございました"]


def test_stop_opts_out_until_start(app: FakeApp, carrier: Carrier, client: Client) -> None:
    # Given a customer who texts STOP
    outcome = reply(carrier, " stop ")
    # Then the app still hears about it, but its TwiML answer is dropped
    assert app.on("/twilio/sms")[0].params["Body"] == " stop "
    assert outcome["dropped"] == ["Thanks"]
    # And koe's next send is refused as Twilio refuses it
    with pytest.raises(TwilioRestException) as raised:
        send(client, CUSTOMER)
    assert raised.value.code == 21610
    # When the customer texts START, Then sending works again
    reply(carrier, "START")
    assert send(client, CUSTOMER).status == "queued"
    # And the carrier's confirmations are in the conversation
    bodies = [m["body"] for m in requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5).json()]
    assert any("unsubscribed" in b for b in bodies) and any("re-subscribed" in b for b in bodies)


# --- segments, emails, pages ----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "segments"), [
    ("a" * 160, 1), ("a" * 161, 2), ("あ" * 70, 1), ("あ" * 71, 2),
    ("a" * 306, 2), ("a" * 307, 3),   # 153 per part once split
    ("€" * 80, 1), ("€" * 81, 2),     # extension characters cost two septets
    ("a" * 69 + "😀", 2),              # an emoji is two UCS-2 units
])
def test_segments_are_counted_like_a_handset(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_the_sdk_sees_the_segment_count(client: Client) -> None:
    assert send(client, CUSTOMER, body="あ" * 71).num_segments == "2"


@pytest.fixture
def moto() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_emails_sent_through_moto_ses_are_listed(app: FakeApp, moto: str) -> None:
    # Given an email koe sent through SES (moto)
    ses = boto3.client("sesv2", endpoint_url=moto, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("ses", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").verify_email_identity(EmailAddress="survey@example.com")
    ses.send_email(FromEmailAddress="survey@example.com", Destination={"ToAddresses": ["ann@example.org"]},
                   Content={"Simple": {"Subject": {"Data": "ご感想"}, "Body": {"Text": {"Data": "0-10?"}}}})
    # And a raw MIME one
    raw = EmailMessage()
    raw["From"], raw["To"], raw["Subject"] = "survey@example.com", "Bob <bob@example.org>", "您的反馈"
    raw.set_content("请回复0-10")
    ses.send_email(FromEmailAddress="survey@example.com", Destination={"ToAddresses": ["bob@example.org"]},
                   Content={"Raw": {"Data": raw.as_bytes()}})
    running = _carrier(app, moto_url=moto)
    running.start()
    try:
        # When a script asks the carrier for an address
        ann, bob, nobody = (requests.get(f"{running.url}/emails", params={"to": to}, timeout=5).json()
                            for to in ("ann@example.org", "Bob@Example.org", "cy@example.org"))
    finally:
        running.stop()
    # Then each email is there, decoded, and only for its recipient
    assert [{k: e[k] for k in ("to", "from", "subject", "body", "html")} for e in ann] == [
        {"to": "ann@example.org", "from": "survey@example.com", "subject": "ご感想", "body": "0-10?", "html": ""}]
    assert ann[0]["message_id"]
    assert [(e["subject"], e["body"].strip()) for e in bob] == [("您的反馈", "请回复0-10")]
    assert nobody == []


def test_health_phone_page_and_no_moto(carrier: Carrier) -> None:
    assert requests.get(f"{carrier.url}/health", timeout=5).json() == {"ok": True}
    page = requests.get(f"{carrier.url}/", timeout=5)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8" and "/reply" in page.text
    assert requests.get(f"{carrier.url}/emails", params={"to": "ann@example.org"}, timeout=5).json() == []


def test_the_carrier_log_never_shows_an_address_or_a_number_in_clear(
        carrier: Carrier, capsys: pytest.CaptureFixture[str]) -> None:
    # Given requests naming a customer's address (in clear and URL-encoded) and number
    requests.get(f"{carrier.url}/emails", params={"to": "hanako.sato@example.jp"}, timeout=5)
    requests.get(f"{carrier.url}/mailbox?to=ann%40example.org", timeout=5)
    requests.get(f"{carrier.url}/messages", params={"to": CUSTOMER}, timeout=5)
    # Then the carrier's log masks each, keeping what tells them apart for a developer
    logged = capsys.readouterr().err
    assert "/emails?to=h***@example.jp" in logged and "/mailbox?to=a***@example.org" in logged
    for secret in ("hanako.sato", "ann@", "ann%40", CUSTOMER):
        assert secret not in logged
    assert mask("from +15550100123 to Bob.Smith+koe@example.com") == "from ***0123 to B***@example.com"


def test_the_carrier_log_never_shows_a_wechat_openid(carrier: Carrier, capsys: pytest.CaptureFixture[str]) -> None:
    # Given requests naming a follower's openid: the phone page's query, the chat's, one in a path
    openid = "oKoe4f2b9c1d7e3a5b6c8d0e2f4a"
    requests.get(f"{carrier.url}/", params={"number": CUSTOMER, "wechat": openid}, timeout=5)
    requests.get(f"{carrier.url}/wechat/chat", params={"openid": openid}, timeout=5)
    requests.post(f"{carrier.url}/wechat/{openid}/follow", json={}, timeout=5)
    # Then the carrier's log shows its first 4 characters only, as koe's logs do (oKoe***)
    logged = capsys.readouterr().err
    assert "GET /?number=***" in logged and "&wechat=oKoe*** -> 200" in logged
    assert "GET /wechat/chat -> 404" in logged and "POST /wechat/oKoe***/follow -> 404" in logged
    assert openid not in logged and openid[4:12] not in logged
    assert mask("?openid=oKoe4f2b9c1d7e3a5b6c8d0e2f4a&x=1") == "?openid=oKoe***&x=1"


# --- the local stack's clock and schedule (the stack hands them to the carrier) -------------------


def test_a_carrier_alone_has_no_clock_and_no_schedule(carrier: Carrier) -> None:
    assert requests.get(f"{carrier.url}/clock", timeout=5).status_code == 404
    assert requests.get(f"{carrier.url}/scheduled", timeout=5).status_code == 404
    assert requests.post(f"{carrier.url}/clock/advance", json={"hours": 1}, timeout=5).status_code == 404


@pytest.fixture
def stack_carrier(app: FakeApp) -> Iterator[tuple[Carrier, StackClock, list[Any]]]:
    """A carrier as the local stack starts it: the stack's clock (frozen wall clock here) and a
    schedule that records when it fires, and a list of scheduled surveys."""
    wall = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)          # 23:00 in Tokyo
    clock, fired = StackClock(wall=lambda: wall), []

    def fire() -> dict[str, int]:
        fired.append(clock())
        return {"released": 1}

    listed = [{"survey_id": "ev-1", "send_at": "2026-11-24T00:00:00Z", "to": "+81******5678"}]
    running = _carrier(app, time_machine=TimeMachine(clock, fire), scheduled=lambda: listed)
    running.start()
    yield running, clock, fired
    running.stop()


def test_the_time_machine_moves_the_stack_clock_forward_and_fires_the_schedule_once(
        stack_carrier: tuple[Carrier, StackClock, list[Any]]) -> None:
    carrier, clock, fired = stack_carrier
    assert requests.get(f"{carrier.url}/clock", timeout=5).json() == {
        "now": "2026-11-21T14:00:00Z", "wall_clock": "2026-11-21T14:00:00Z", "offset_hours": 0.0}
    # When moving by hours, then to a time, then to a time already passed
    by = requests.post(f"{carrier.url}/clock/advance", json={"hours": 10}, timeout=5).json()
    to = requests.post(f"{carrier.url}/clock/advance", json={"to": "2026-11-24T09:00:00+09:00"}, timeout=5).json()
    back = requests.post(f"{carrier.url}/clock/advance", json={"to": "2026-11-22T00:00:00Z"}, timeout=5).json()
    # Then the clock moved forward only, and each move fired the schedule once, after moving
    assert (by["now"], by["moved_hours"], by["tick"]) == ("2026-11-22T00:00:00Z", 10.0, {"released": 1})
    assert (to["now"], to["offset_hours"], to["moved_hours"]) == ("2026-11-24T00:00:00Z", 58.0, 48.0)
    assert (back["now"], back["moved_hours"]) == ("2026-11-24T00:00:00Z", 0.0)
    assert fired == [datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC),
                     datetime(2026, 11, 24, tzinfo=UTC)]
    assert clock() == datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize(("request_kwargs", "status"), [
    ({"json": {"hours": -1}}, 400),                        # never backwards
    ({"json": {"hours": 1, "to": "2026-11-24T00:00:00Z"}}, 400),
    ({"json": {}}, 400),
    ({"json": {"hours": "1"}}, 400),
    ({"json": {"hours": 24 * 400}}, 400),                  # a typo does not throw the stack into next year
    ({"json": {"to": "2026-11-24T00:00:00"}}, 400),        # a time without its offset is ambiguous
    ({"json": ["hours", 1]}, 400),
    ({"data": "hours=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
    ({"data": '{"hours": 1}', "headers": {"Content-Type": "text/plain"}}, 415),   # what another site's page could post
])
def test_the_time_machine_refuses_what_is_not_a_forward_move_in_json(
        stack_carrier: tuple[Carrier, StackClock, list[Any]], request_kwargs: dict[str, Any], status: int) -> None:
    carrier, clock, fired = stack_carrier
    answer = requests.post(f"{carrier.url}/clock/advance", timeout=5, **request_kwargs)
    assert answer.status_code == status and answer.json()["error"]
    assert clock.offset == timedelta(0) and fired == []


def test_the_scheduled_surveys_are_listed_for_the_phone_page(
        stack_carrier: tuple[Carrier, StackClock, list[Any]]) -> None:
    carrier, _, _ = stack_carrier
    assert requests.get(f"{carrier.url}/scheduled", timeout=5).json() == [
        {"survey_id": "ev-1", "send_at": "2026-11-24T00:00:00Z", "to": "+81******5678"}]
    page = requests.get(f"{carrier.url}/", params={"number": "+819012345678"}, timeout=5).text
    assert 'id="scheduled"' in page and "/clock/advance" in page


def test_the_phone_page_never_renders_a_text_as_html(carrier: Carrier) -> None:
    # Bubbles are built from text nodes and <a> elements whose href is an http(s) URL (checked in
    # Chromium by tests/browser/test_phone_page.py); here: no HTML-parsing sink anywhere in the page.
    page = requests.get(f"{carrier.url}/", timeout=5).text
    assert not any(sink in page for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"))
