"""Email on the local AWS (moto server, provisioned by devstack.provision like the local stack): the SES
adapter as bootstrap builds it sends the raw MIME message, and what moto stores has the headers and
both parts; the carrier lists the emails, renders them on its mailbox page, makes SES report a bounce
or a complaint on the configuration set's topic, and unsubscribes in one click as a mail client does."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from chalicelib import resources
from chalicelib.bootstrap import Components
from chalicelib.domain.email_feedback import SURVEY_TAG, FeedbackKind, read, survey_tag
from chalicelib.errors import RetryableSendError, UndeliverableRecipient
from chalicelib.services.ports import EmailContent, OutgoingEmail
from chalicelib.settings import from_env
from devstack import mailbox
from devstack.carrier import Carrier
from devstack.provision import client, consumer_queue_name
from tests.unit.test_wiring import REQUIRED

TO = "hanako@example.jp"
SUBJECT = "【Example Life】保険金のお支払いに関するアンケートのお願い（1分）"


@pytest.fixture
def env(fresh_aws: dict[str, str]) -> dict[str, str]:
    return {**REQUIRED, **fresh_aws, "KOE_PUBLIC_BASE_URL": "http://127.0.0.1:9/api"}


@pytest.fixture
def components(env: dict[str, str]) -> Components:
    return Components(from_env(env))


def outgoing(to: str = TO, unsubscribe: str = "http://127.0.0.1:9/api/u/tok.mac") -> OutgoingEmail:
    return OutgoingEmail(to, EmailContent(SUBJECT, "<p>0〜10: <a href=\"http://127.0.0.1:9/api/s/t?score=9\">9</a></p>",
                                          "0〜10"), unsubscribe)


def stored(moto_server: Any, message_id: str) -> email.message.EmailMessage:
    data = json.loads(urllib.request.urlopen(f"{moto_server.endpoint}/moto-api/data.json", timeout=5).read())
    (raw,) = [m["raw_data"] for m in data["ses"]["RawMessage"] if m["id"] == message_id]
    parsed = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_bootstrap_sends_through_moto_and_moto_keeps_the_headers_and_both_parts(components, moto_server):
    assert "email" in components.senders             # KOE_EMAIL_FROM is set by provisioning
    message_id = components.email.send(outgoing())

    message = stored(moto_server, message_id)
    assert message["From"] == "Example Life <survey@example.jp>" and message["To"] == TO
    assert message["Subject"] == SUBJECT
    assert message["List-Unsubscribe"] == "<http://127.0.0.1:9/api/u/tok.mac>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "?score=9" in message.get_body(("html",)).get_content()


def test_the_mailbox_reads_it_back_with_its_html_and_unsubscribe_link(components, moto_server):
    message_id = components.email.send(outgoing(to="ren@example.jp"))
    (sent,) = mailbox.sent_emails(moto_server.endpoint, "REN@example.jp")
    assert (sent["message_id"], sent["subject"], sent["body"].strip()) == (message_id, SUBJECT, "0〜10")
    assert sent["list_unsubscribe"] == "http://127.0.0.1:9/api/u/tok.mac" and "?score=9" in sent["html"]


def test_a_sender_moto_does_not_hold_is_a_configuration_fault(env, moto_server):
    components = Components(from_env({**env, "KOE_EMAIL_FROM": "survey@not-ours.example"}))
    with pytest.raises(RetryableSendError, match="cannot send from survey@not-ours.example"):
        components.email.send(outgoing())


def test_an_address_ses_cannot_read_fails_the_recipient(components):
    with pytest.raises(UndeliverableRecipient) as refused:
        components.email.send(outgoing(to="nobody-at-example.jp"))
    assert refused.value.carrier == "ses"


# --- the carrier: the mailbox page, SES's feedback, the one-click unsubscribe -------------------------

class OneClickApp:
    """Where the List-Unsubscribe URL points: records the POSTs a mail client would make."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                app.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def one_click() -> Iterator[OneClickApp]:
    app = OneClickApp()
    thread = threading.Thread(target=app.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield app
    app.server.shutdown()
    app.server.server_close()


@pytest.fixture
def carrier(env: dict[str, str], moto_server: Any) -> Iterator[Carrier]:
    running = Carrier(account_sid="AC" + "5a1e" * 8, auth_token="0" * 32, number="+15550009999",
                      app_sms_url="http://127.0.0.1:9/twilio/sms", moto_url=moto_server.endpoint,
                      ses_events_topic_arn=env[resources.topic(resources.EMAIL.events_topic).env or ""],
                      ses_configuration_set=env[resources.EMAIL.env], region=env["AWS_REGION"])
    running.start()
    yield running
    running.stop()


def test_the_mailbox_page_renders_each_email_in_a_sandboxed_frame(components, carrier):
    components.email.send(outgoing(to="aoi@example.jp"))
    page = requests.get(f"{carrier.url}/mailbox", params={"to": "aoi@example.jp"}, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.text
    assert html.count("<article") == 1 and SUBJECT in html
    assert f'sandbox="{mailbox.IFRAME_SANDBOX}"' in html and "allow-same-origin" not in html
    assert 'srcdoc="&lt;base target=&quot;_top&quot;&gt;&lt;p&gt;' in html   # its links open on the whole tab
    assert "?score=9" in html and "List-Unsubscribe=One-Click" in html
    assert requests.get(f"{carrier.url}/mailbox", params={"to": "nobody@example.jp"}, timeout=5).text.count(
        "<article") == 0


def test_a_simulated_bounce_reaches_the_events_topic_as_ses_would_publish_it(components, carrier, env, moto_server):
    message_id = components.email.send(outgoing(to="kenji@example.jp"))

    answer = requests.post(f"{carrier.url}/emails/feedback", json={"to": "kenji@example.jp", "kind": "bounce"},
                           timeout=10)

    assert answer.status_code == 200 and answer.json()["ses_message_id"] == message_id
    send, bounce = published_events(env, moto_server)          # SES's own Send first, then the bounce
    feedback = read(bounce)              # what on_ses_event reads
    assert (feedback.kind, feedback.recipients, feedback.message_id) == (
        FeedbackKind.HARD_BOUNCE, ("kenji@example.jp",), message_id)
    assert json.loads(bounce)["mail"]["tags"]["ses:configuration-set"] == [env[resources.EMAIL.env]]
    assert read(send).kind is FeedbackKind.SEND


def published_events(env: dict[str, str], moto_server: Any) -> list[str]:
    """The SES events published to the configuration set's topic so far (the messages on_ses_event
    reads, out of their SNS envelopes), in order."""
    sqs = client("sqs", moto_server.endpoint, env["AWS_REGION"])
    url = sqs.get_queue_url(QueueName=consumer_queue_name(env["KOE_RESOURCE_PREFIX"],
                                                          resources.EMAIL.events_topic))["QueueUrl"]
    found: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        found.extend(json.loads(m["Body"])["Message"] for m in messages)
    return found


def test_ses_publishes_send_of_each_email_it_takes_with_the_survey_it_was_tagged_with(components, env, moto_server):
    """As SES's event publishing does for a configuration set whose destination matches `send`: what
    on_ses_event records an unrecorded send from."""
    message_id = components.email.send(replace(outgoing(to="yui@example.jp"), survey_id="保険-2026/11"))
    components.email.send(outgoing(to="sora@example.jp"))          # no survey named: no tag
    tagged, untagged = (read(event) for event in published_events(env, moto_server))
    assert (tagged.kind, tagged.message_id, tagged.survey_id) == (FeedbackKind.SEND, message_id, "保険-2026/11")
    assert tagged.records_a_send and (untagged.kind, untagged.survey_id) == (FeedbackKind.SEND, None)
    (sent,) = mailbox.sent_emails(moto_server.endpoint, "yui@example.jp")
    assert sent["tags"] == {SURVEY_TAG: [survey_tag("保険-2026/11")]}


@pytest.mark.parametrize(("kind", "expected"), [("soft-bounce", FeedbackKind.SOFT_BOUNCE),
                                                ("complaint", FeedbackKind.COMPLAINT),
                                                ("delivery", FeedbackKind.DELIVERY)])
def test_each_kind_the_carrier_simulates_is_read_as_that_kind(kind, expected):
    sent = {"from": "survey@example.jp", "message_id": "m-1", "subject": "s"}
    notification = mailbox.feedback_notification(kind, sent, "a@example.jp", configuration_set="c")
    assert read(json.dumps(notification)).kind is expected


def test_feedback_for_an_address_that_got_no_email_or_of_an_unknown_kind_is_refused(components, carrier):
    components.email.send(outgoing(to="mio@example.jp"))
    assert requests.post(f"{carrier.url}/emails/feedback", json={"to": "nobody@example.jp", "kind": "bounce"},
                         timeout=5).status_code == 404
    assert requests.post(f"{carrier.url}/emails/feedback", json={"to": "mio@example.jp", "kind": "lost"},
                         timeout=5).status_code == 400


def test_the_mailbox_pages_buttons_post_forms_and_come_back_with_a_notice(components, carrier):
    components.email.send(outgoing(to="sora@example.jp"))
    answer = requests.post(f"{carrier.url}/emails/feedback", data={"to": "sora@example.jp", "kind": "complaint"},
                           timeout=5, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/mailbox?notice=")


def test_one_click_unsubscribe_posts_the_rfc_8058_body_to_the_list_unsubscribe_url(components, carrier, one_click):
    message_id = components.email.send(outgoing(to="yui@example.jp", unsubscribe=f"{one_click.url}/u/tok.mac"))

    answer = requests.post(f"{carrier.url}/emails/unsubscribe", json={"message_id": message_id}, timeout=10)

    assert answer.json() == {"unsubscribe_status": 200}
    assert one_click.posts == [("/u/tok.mac", "application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click")]
