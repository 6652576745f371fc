"""CX alerts to people against real local services: a loopback chat receiver (an HTTP server on
127.0.0.1, started and stopped here) takes the webhook POST with Slack's JSON; SES (moto) keeps the
email, read back as the local mailbox reads it; and the whole path from the cx-alerts topic runs on
the local AWS (moto's SNS -> SQS with the filter policy, app.py's deliver_alerts driven as Lambda's
event source mapping drives it, the ledger on DynamoDB Local, ChangeMessageVisibility on moto)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.adapters.chat_webhook import ChatWebhook
from chalicelib.bootstrap import Components, install
from chalicelib.domain import case_alerts
from chalicelib.domain.alert_delivery import AlertContent
from chalicelib.errors import RetryableSendError, UndeliverableRecipient
from chalicelib.settings import from_env
from devstack import mailbox
from devstack.provision import client
from tests.fakes.alert_delivery import ROUTING_JSON, an_alert
from tests.unit.test_wiring import REQUIRED

CONTENT = AlertContent("【koe】新しいフォロー案件：保険金のお支払い（tokyo-chuo）", "コメント：遅い <!channel>\n")


# --- a loopback chat receiver ------------------------------------------------------------------------

@dataclass
class ChatReceiver:
    """What a Slack-compatible incoming webhook sees; `answers[path]` sets the status it replies."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    delay_s: float = 0.0

    def hook(self, name: str) -> str:
        return f"{self.url}/hooks/{name}"

    def on(self, name: str) -> list[Any]:
        return [r["json"] for r in self.received if r["path"] == f"/hooks/{name}"]


@pytest.fixture
def receiver() -> Iterator[ChatReceiver]:
    state = ChatReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(state.delay_s)
            state.received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                   "json": json.loads(body.decode("utf-8"))})
            status = state.answers.get(self.path, 200)
            payload = b"ok" if status == 200 else b"no"
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass            # a client that timed out and hung up (the timeout test) is expected

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the chat webhook adapter -------------------------------------------------------------------------

def test_the_webhook_gets_slack_json_in_utf8(receiver: ChatReceiver) -> None:
    ChatWebhook().deliver(receiver.hook("tokyo"), CONTENT)
    [request] = receiver.received
    assert request["content_type"] == "application/json; charset=utf-8"
    assert request["json"] == {"text": "*【koe】新しいフォロー案件：保険金のお支払い（tokyo-chuo）*\n"
                                       "コメント：遅い &lt;!channel&gt;\n"}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable(receiver: ChatReceiver, status: int) -> None:
    receiver.answers["/hooks/busy"] = status
    with pytest.raises(RetryableSendError, match=f"answered {status}"):
        ChatWebhook().deliver(receiver.hook("busy"), CONTENT)


@pytest.mark.parametrize("status", [400, 403, 404, 410, 302])
def test_other_answers_are_permanent_and_never_name_the_url(receiver: ChatReceiver, status: int) -> None:
    receiver.answers["/hooks/gone"] = status
    with pytest.raises(UndeliverableRecipient) as caught:
        ChatWebhook().deliver(receiver.hook("gone"), CONTENT)
    assert (caught.value.code, caught.value.carrier) == (f"http_{status}", "chat")
    assert "127.0.0.1" not in str(caught.value) and "hooks" not in str(caught.value)
    assert [r["path"] for r in receiver.received] == ["/hooks/gone"]        # a redirect is not followed


def test_only_http_urls_are_posted_to() -> None:
    with pytest.raises(UndeliverableRecipient, match="not_http"):
        ChatWebhook().deliver("file:///etc/hostname", CONTENT)


def test_a_timeout_and_a_refused_connection_are_retryable(receiver: ChatReceiver) -> None:
    receiver.delay_s = 1.0
    with pytest.raises(RetryableSendError, match="unreachable"):
        ChatWebhook(timeout_s=0.2).deliver(receiver.hook("slow"), CONTENT)
    with pytest.raises(RetryableSendError, match="unreachable"):
        ChatWebhook().deliver("http://127.0.0.1:9/hooks/nobody", CONTENT)     # discard port: refused


# --- email through SES (moto) ---------------------------------------------------------------------------

def test_the_alert_email_is_plain_text_from_koe_and_readable_in_the_mailbox(fresh_aws: dict[str, str],
                                                                           moto_server: Any) -> None:
    components = Components(from_env({**REQUIRED, **fresh_aws}))
    components.alert_email.deliver("mgr-alerts@example.jp", CONTENT)
    (sent,) = mailbox.sent_emails(moto_server.endpoint, "mgr-alerts@example.jp")
    assert sent["subject"] == CONTENT.subject and sent["body"].replace("\r\n", "\n") == CONTENT.body
    assert sent["from"] == "survey@example.jp" and not sent.get("list_unsubscribe") and not sent.get("html")


def test_a_sender_ses_does_not_hold_is_retryable_for_alerts_too(fresh_aws: dict[str, str]) -> None:
    components = Components(from_env({**REQUIRED, **fresh_aws, "KOE_EMAIL_FROM": "koe@not-ours.example"}))
    with pytest.raises(RetryableSendError, match="cannot send from koe@not-ours.example"):
        components.alert_email.deliver("mgr-tokyo@example.jp", CONTENT)


# --- the whole path: topic -> queue -> deliver_alerts -> mailbox, chat, ledger --------------------------

@dataclass
class LocalAlerts:
    env: dict[str, str]
    components: Components
    moto_url: str
    receiver: ChatReceiver
    sqs: Any = None
    sns: Any = None
    source: Any = None

    def publish(self, message: dict[str, Any] | str, attributes: dict[str, str] | None = None) -> None:
        """As the publisher does (SnsAlerts): the JSON alert, its attributes (empty ones left out)."""
        if isinstance(message, dict):
            attributes = case_alerts.attributes(message) if attributes is None else attributes
            message = json.dumps(message, ensure_ascii=False)
        self.sns.publish(TopicArn=self.env["KOE_CX_TOPIC_ARN"], Message=message, MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items() if v})

    def drain(self) -> int:
        return int(self.source.poll(wait_s=0))

    def depth(self, variable: str = "KOE_ALERT_DELIVERIES_QUEUE_URL") -> tuple[int, int]:
        a = self.sqs.get_queue_attributes(QueueUrl=self.env[variable], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def emails(self, to: str, case_id: str) -> list[dict[str, Any]]:
        """The emails sent to `to` about one case (moto keeps every test's email)."""
        return [e for e in mailbox.sent_emails(self.moto_url, to) if case_id in e["body"]]


def unique_case() -> str:
    return f"claims-{uuid.uuid4().hex[:12]}"


def until(condition: Callable[[], Any], step: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step()
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"condition not met within {timeout_s} s")


@pytest.fixture
def local(fresh_aws: dict[str, str], moto_server: Any, receiver: ChatReceiver) -> Iterator[LocalAlerts]:
    import app as app_module
    from devstack.runner import QueueSource

    routing = json.loads(json.dumps(ROUTING_JSON))
    routing["branches"]["tokyo-chuo"]["chat"] = receiver.hook("tokyo")
    routing["central"]["chat"] = receiver.hook("cx")
    env = {**REQUIRED, **fresh_aws, "KOE_CASE_ROUTING": json.dumps(routing), "KOE_ALERT_RETRY_SECONDS": "3"}
    components = Components(from_env(env))
    previous = install(components)
    region = fresh_aws["AWS_REGION"]
    sqs = client("sqs", moto_server.endpoint, region)
    sns = client("sns", moto_server.endpoint, region)
    world = LocalAlerts(env, components, moto_server.endpoint, receiver, sqs, sns)
    # Lambda's event source mapping for the queue; failed messages would be visible again after 1 s.
    world.source = QueueSource(sqs, env["KOE_ALERT_DELIVERIES_QUEUE_URL"], app_module.deliver_alerts,
                               "koe-deliver_alerts", region, retry_visibility_s=1)
    try:
        yield world
    finally:
        install(previous)


def test_a_published_alert_reaches_the_mailbox_and_the_chat_once(local: LocalAlerts) -> None:
    case = unique_case()
    alert = an_alert("opened", to=("agent:A-102", "branch:tokyo-chuo"), case_id=case)
    local.publish(alert)
    until(lambda: local.emails("tokyo-chuo@example.jp", case) and local.receiver.on("tokyo"), local.drain)
    (agent,) = local.emails("a-102@example.jp", case)
    assert agent["subject"] == "【koe】新しいフォロー案件：保険金のお支払い（tokyo-chuo）スコア3・重要度高"
    assert "初回連絡の期限：2026-11-21 18:20（Asia/Tokyo）／お客さまの現地時間 2026-11-21 04:20（America/New_York）" \
        in agent["body"].splitlines()
    (chat,) = local.receiver.on("tokyo")
    assert chat["text"].startswith("*【koe】新しいフォロー案件")

    local.publish(alert)                                          # published again: a replay
    until(lambda: local.depth() == (0, 0), local.drain)
    assert len(local.emails("a-102@example.jp", case)) == 1 and len(local.receiver.on("tokyo")) == 1


def test_only_case_alerts_reach_the_queue_and_an_unreadable_one_is_dead_lettered(local: LocalAlerts) -> None:
    local.publish('{"AlarmName": "koe-dev-intake-dlq-not-empty"}', {})            # an alarm: no attributes
    local.publish("koe: score 3", {"event": "opened", "procedure": "claim_payment"})
    until(lambda: local.depth("KOE_ALERT_DELIVERIES_DLQ_URL")[0] == 1, local.drain)
    assert local.depth() == (0, 0)
    (letter,) = local.sqs.receive_message(QueueUrl=local.env["KOE_ALERT_DELIVERIES_DLQ_URL"],
                                          MessageAttributeNames=["All"])["Messages"]
    assert json.loads(letter["Body"])["Message"] == "koe: score 3"        # the envelope, as it came
    reason = letter["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "InvalidAlert: (message): the SNS Message is not JSON"


def test_the_local_stack_reads_the_alert_dead_letters_with_their_reasons(
        local: LocalAlerts, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.integration.test_devstack_cli import ready_file, run

    local.publish("koe: score 3", {"event": "opened"})
    until(lambda: local.depth("KOE_ALERT_DELIVERIES_DLQ_URL")[0] == 1, local.drain)
    capsys.readouterr()                 # the handler's own log lines
    code, lines, _ = run(capsys, "alert-dead-letters", "--ready-file",
                         str(ready_file(tmp_path, local.env, type("Moto", (), {"endpoint": local.moto_url})())))
    assert code == 0
    [letter] = lines
    assert letter["attributes"]["reason"] == "InvalidAlert: (message): the SNS Message is not JSON"


def test_a_failing_webhook_backs_off_then_only_the_chat_is_delivered_again(local: LocalAlerts) -> None:
    case = unique_case()
    local.receiver.answers["/hooks/tokyo"] = 503
    local.publish(an_alert("breach", to=("branch:tokyo-chuo",), case_id=case))
    until(lambda: local.receiver.on("tokyo"), local.drain)
    assert len(local.emails("tokyo-chuo@example.jp", case)) == 1
    time.sleep(1.5)             # past the receive's own 1 s: still hidden, by the 3 s backoff
    assert local.depth() == (0, 1)
    local.receiver.answers.pop("/hooks/tokyo")
    until(lambda: len(local.receiver.on("tokyo")) == 2, local.drain, timeout_s=20)
    until(lambda: local.depth() == (0, 0), local.drain)
    assert len(local.emails("tokyo-chuo@example.jp", case)) == 1             # the email is not sent twice


# --- the local stack's chat channel (the carrier) --------------------------------------------------

def test_the_carrier_is_a_local_chat_webhook_the_adapter_posts_to() -> None:
    import requests

    from devstack.carrier import Carrier
    from devstack.local_routing import CENTRAL_CHANNEL, routing

    carrier = Carrier(account_sid="AC" + "0" * 32, auth_token="token", number="+15550009999",
                      app_sms_url="http://127.0.0.1:9/twilio/sms")
    carrier.start()
    try:
        hook = carrier.chat_webhook_url(CENTRAL_CHANNEL)
        assert routing(carrier.chat_webhook_url)["central"]["chat"] == hook
        ChatWebhook().deliver(hook, CONTENT)
        listed = requests.get(f"{carrier.url}/chat", params={"channel": CENTRAL_CHANNEL}, timeout=5).json()
        assert [m["payload"]["text"] for m in listed] == [
            "*【koe】新しいフォロー案件：保険金のお支払い（tokyo-chuo）*\nコメント：遅い &lt;!channel&gt;\n"]
        with pytest.raises(UndeliverableRecipient, match="http_400"):
            ChatWebhook().post(hook, {"blocks": []})            # Slack answers invalid_payload
        assert requests.get(f"{carrier.url}/chat", params={"channel": "other"}, timeout=5).json() == []
    finally:
        carrier.stop()
