"""The functional tier: app.py driven in-process through `chalice.test.Client`.

Every route and event handler in app.py is invoked the way its trigger invokes it (an HTTP request
through Chalice's local gateway and middleware, an SQS batch, a DynamoDB stream batch, the
schedule), with koe's fakes handed in through the composition root: `Components(settings, clock,
**fakes)` then `install(...)`. What stays real is what the edge itself is made of: settings read
from an env dict, API-key authentication, the Twilio signature check (requests are signed here
exactly as Twilio signs them), JSON Schema validation, templates, Chalice's routing and errors.

No network, no sleeps, no mocks of koe's own code; the clock is settable. Every name, number and
credential below is fictional (US +1555010xxxx numbers, example.com).

Services are tested on fakes in tests/services; this tier checks the wiring between a trigger and
its service: status codes, the one error shape, authentication, signatures, batch failure reports.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import chalice.test
import pytest
from chalice.local import LambdaContext
from chalice.test import Client, HTTPResponse
from twilio.request_validator import RequestValidator

import app as app_module
from chalicelib.bootstrap import Components, install
from chalicelib.resources import DEFAULT_PREFIX, consumed_by, physical
from chalicelib.settings import from_env
from tests.fakes import secrets
from tests.fakes.alert_delivery import FakeVisibility
from tests.fakes.answers import FakeAnswerArchive
from tests.fakes.insights import FakeCommentAnalyser, FakeCommentSource, FakeInsightRequests, FakeInsightStore
from tests.fakes.messaging import (
    FakeAlerts,
    FakeDeadLetterMarks,
    FakeDeadLetters,
    FakeFollowUps,
    FakeIntakeQueue,
    FakeLine,
    FakeSms,
)
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.services.conftest import EVENTS, PHONE, Clock, event

# Chalice's test client gives every invocation 3 s whatever the function's timeout; Lambda gives the
# configured one (.chalice/config.json, 30 s): the handlers' time budget (services/budget.py) reads it.
LAMBDA_TIMEOUT_MS = 30_000


class ConfiguredTimeout(LambdaContext):
    def __init__(self, function_name: str, memory_size: int, max_runtime_ms: int = LAMBDA_TIMEOUT_MS,
                 time_source: Any = None) -> None:
        super().__init__(function_name, memory_size, max_runtime_ms, time_source)


chalice.test.LambdaContext = ConfiguredTimeout    # type: ignore[misc]

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ops-key-2-0123456789"
PUBLIC_BASE_URL = "https://koe.example.com/api"
AUTH_TOKEN = "feedface" * 4                     # 32 characters, as Twilio's auth tokens are
SURVEY = event()["event_id"]                    # the survey a dispatched sample event opens
DISPATCH_QUEUE = physical(DEFAULT_PREFIX, consumed_by("dispatch").name)
RESPONSES_STREAM = ("arn:aws:dynamodb:us-east-1:000000000000:table/koe-responses/"
                    "stream/2026-11-01T00:00:00.000")
UTC_DATETIME = "%Y-%m-%dT%H:%M:%S.%f+0000"      # how PynamoDB's UTCDateTimeAttribute serialises

CONTACT_KEY = "functional-contact-hash-key-0123456789"
LINE_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"      # a LINE channel secret: 32 hex digits (fictional)
WECHAT_TOKEN = "koeFunctionalWeChatToken2026"           # the service account's server Token (fictional)
# The secrets as Secrets Manager holds them (tests/fakes/secrets.py); the settings carry their ids.
SECRETS = {
    secrets.TWILIO: {"account_sid": "AC" + "0123456789abcdef" * 2, "auth_token": AUTH_TOKEN, "from": "+15550100999"},
    secrets.API_KEYS: {"keys": ["ops-key-1-0123456789", "ops-key-2-0123456789"]},
    secrets.CONTACT_KEYS: {"current": "2026-11", "keys": {"2026-11": CONTACT_KEY}},
    secrets.LINE: {"channel_access_token": "functional-line-channel-access-token", "channel_secret": LINE_SECRET},
    secrets.WECHAT: {"appid": "wx0123456789abcdef", "appsecret": "functional-wechat-appsecret", "token": WECHAT_TOKEN},
}
ENV = {
    "AWS_REGION": "us-east-1",
    # Every secret named, LINE's too: surveys go out on LINE to customers with a LINE user id (FakeLine).
    **secrets.SECRET_ENV,
    "KOE_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "KOE_INTAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/koe-intake",
    "KOE_INTAKE_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/koe-intake-dlq",
    "KOE_FOLLOW_UP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/koe-follow-ups",
    "KOE_CX_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:koe-cx-alerts",
    # The local stack's bearer tokens are on (tests/functional/test_authorisation.py mints them).
    "KOE_LOCAL_TOKEN_SECRET": "functional-local-token-secret-0123",
    # A one-day window and no reminder: the handlers' tests read the conversation's end at 24 h.
    "KOE_RESPONSE_WINDOW_DAYS": "1",
    "KOE_REMINDER_HOURS": "0",
    # Cases: agent A-102 of tokyo-chuo owns the sample event's case; tokyo-chuo's manager is mgr-tokyo.
    "KOE_CASE_ROUTING": json.dumps({
        "branches": {"tokyo-chuo": {"manager": "mgr-tokyo", "timezone": "Asia/Tokyo"}, "osaka-kita": {}},
        "agents": {"A-102": {"branch": "tokyo-chuo"}, "A-777": {"branch": "tokyo-chuo"}}}),
}


@dataclass
class PassThroughIdempotency:
    """Stands in for Powertools idempotency (a DynamoDB table): calls straight through. The survey's
    own conditional write still makes a replayed event a duplicate."""

    contexts: list[Any] = field(default_factory=list)

    def wrap(self, function: Callable[[dict[str, Any]], dict[str, str]]) -> Callable[[dict[str, Any]], dict[str, str]]:
        return function

    def register_context(self, context: Any) -> None:
        self.contexts.append(context)


@dataclass
class Koe:
    """app.py in-process: the Chalice test client and the installed components with their fakes."""

    client: Client
    components: Components
    clock: Clock

    # --- the fakes (Given / Then)
    @property
    def store(self) -> FakeConversationStore:
        return self.components.conversations

    @property
    def cases(self) -> FakeCaseStore:
        return self.components.cases

    @property
    def scores(self) -> FakeScoreStore:
        return self.components.scores

    @property
    def sms(self) -> FakeSms:
        return self.components.sms

    @property
    def line(self) -> FakeLine:
        return self.components.line

    @property
    def intake(self) -> FakeIntakeQueue:
        return self.components.intake_queue

    @property
    def dead_letters(self) -> FakeDeadLetters:
        return self.components.dead_letters

    @property
    def follow_ups(self) -> FakeFollowUps:
        return self.components.follow_ups

    @property
    def alerts(self) -> FakeAlerts:
        return self.components.alerts

    def contact(self, phone: str = PHONE) -> Any:
        return self.store.get_contact(self.components.contact_key(phone))

    # --- HTTP
    def post_json(self, path: str, body: Any, *, key: str | None = API_KEY,
                  content_type: str = "application/json") -> HTTPResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": content_type, **({"x-api-key": key} if key is not None else {})}
        return self.client.http.post(path, headers=headers, body=raw)

    def get(self, path: str, *, key: str | None = API_KEY) -> HTTPResponse:
        return self.client.http.get(path, headers={"x-api-key": key} if key is not None else {})

    def sign(self, path: str, form: dict[str, str], *, token: str = AUTH_TOKEN,
             base: str = PUBLIC_BASE_URL) -> str:
        """X-Twilio-Signature as Twilio computes it for the public URL of `path` (query included)."""
        return RequestValidator(token).compute_signature(base + path, form)

    def twilio(self, path: str, form: dict[str, str], *, signature: str | None | bool = True) -> HTTPResponse:
        """POST a Twilio form to `path`: signed correctly by default, `signature=None` for none,
        or a given (forged) signature."""
        if signature is True:
            signature = self.sign(path, form)
        headers = {"content-type": "application/x-www-form-urlencoded",
                   **({"x-twilio-signature": signature} if signature else {})}
        return self.client.http.post(path, headers=headers, body=urlencode(form).encode())

    def reply(self, body: str, *, sid: str = "SM" + "1" * 32, sender: str = PHONE) -> HTTPResponse:
        """The customer's SMS, as Twilio's signed messaging webhook delivers it."""
        return self.twilio("/twilio/sms", inbound_form(Body=body, MessageSid=sid, SmsSid=sid,
                                                       SmsMessageSid=sid, From=sender))

    # --- event sources
    def dispatch(self, *bodies: Any, receive_count: int = 1) -> dict[str, Any]:
        """One SQS batch to the dispatch handler; each record gets its own id msg-0, msg-1, ..."""
        raw = [b if isinstance(b, str) else json.dumps(b) for b in bodies]
        batch = self.client.events.generate_sqs_event(message_bodies=raw, queue_name=DISPATCH_QUEUE)
        for n, record in enumerate(batch["Records"]):      # the generator gives every record one id
            record["messageId"] = f"msg-{n}"
            record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return self.client.lambda_.invoke("dispatch", batch).payload

    def stream(self, *images: dict[str, Any], event_name: str = "INSERT") -> dict[str, Any]:
        """One DynamoDB stream batch of responses-table items to the on_response handler."""
        return self.client.lambda_.invoke("on_response", stream_batch(images, event_name)).payload

    def tick(self) -> dict[str, Any]:
        scheduled = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={},
            resources=["arn:aws:events:us-east-1:000000000000:rule/koe-tick"], region="us-east-1")
        return self.client.lambda_.invoke("tick", scheduled).payload


def inbound_form(**changes: str) -> dict[str, str]:
    """Twilio's inbound-SMS form (tests/events/twilio-inbound-sms.txt, blank fields kept), changed."""
    lines = (EVENTS / "twilio-inbound-sms.txt").read_text().splitlines()
    form = dict(line.split("=", 1) for line in lines if line)
    return {**form, **changes}


def response_image(*, survey_id: str = SURVEY, question: str = "score", score: int | None = 3,
                   threshold: int = 6, received_at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A responses-table item as its stream carries it: DynamoDB JSON (NewImage)."""
    at = received_at or Clock().now
    image: dict[str, Any] = {
        "survey_id": {"S": survey_id},
        "question": {"S": question},
        "received_at": {"S": at.strftime(UTC_DATETIME)},
        "procedure": {"S": "claim_payment"},
        "customer_id": {"S": "C-88123"},
        "locale": {"S": "en"},
        "context": {"M": {"branch": {"S": "tokyo-chuo"}, "agent_id": {"S": "A-102"}}},
        "threshold": {"N": str(threshold)},
        "phone_masked": {"S": "+1******0123"},
        **extra,
    }
    if score is not None:
        image["score"] = {"N": str(score)}
    return image


def stream_batch(images: tuple[dict[str, Any], ...], event_name: str = "INSERT") -> dict[str, Any]:
    return {"Records": [{
        "eventID": f"event-{n}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": RESPONSES_STREAM,
        "dynamodb": {
            "ApproximateCreationDateTime": 1795224300,     # 2026-11-21T01:25Z
            "Keys": {"survey_id": image["survey_id"], "question": image["question"]},
            "NewImage": copy.deepcopy(image),
            "SequenceNumber": f"{100000000000000000000 + n}",
            "SizeBytes": 321,
            "StreamViewType": "NEW_IMAGE",
        },
    } for n, image in enumerate(images)]}


def fake_components(env: Mapping[str, str] = ENV, stored: Mapping[str, Any] | None = None,
                    **extra: Any) -> Components:
    """koe's components on the settings above (or `env`), with a fake for every store, queue and sender
    (and `extra`), on the secrets above (or `stored`)."""
    store = FakeConversationStore()
    return Components(
        from_env(env), Clock(), **extra,
        conversations=store, outcomes=store, cases=FakeCaseStore(), scores=FakeScoreStore(),
        intake_queue=FakeIntakeQueue(), dead_letters=FakeDeadLetters(), follow_ups=FakeFollowUps(),
        alerts=FakeAlerts(), sms=FakeSms(), line=FakeLine(), idempotency=PassThroughIdempotency(),
        event_ledger=FakeEventLedger(), insight_requests=FakeInsightRequests(), comment_insights=FakeInsightStore(),
        insight_dead_letters=FakeDeadLetters(), comment_source=FakeCommentSource(store.answers, store.comment_threads),
        comment_analyser=FakeCommentAnalyser(), answer_archive=FakeAnswerArchive(store.answers, store.comment_threads),
        intake_marks=FakeDeadLetterMarks(), intake_visibility=FakeVisibility(),
        secrets=fake_secrets() if stored is None else secrets.FakeSecrets(copy.deepcopy(dict(stored))))


def fake_secrets() -> secrets.FakeSecrets:
    return secrets.FakeSecrets(copy.deepcopy(SECRETS))


@contextmanager
def serving(built: Components) -> Iterator[Koe]:
    """app.py in-process on `built`, installed as the process's components for the block (the
    previous ones restored after): for a test tier that needs other components than the default."""
    previous = install(built)
    try:
        with Client(app_module.app, project_dir=str(REPO_ROOT)) as client:
            yield Koe(client, built, built.clock)
    finally:
        install(previous)


@pytest.fixture
def components() -> Iterator[Components]:
    """Components of fakes, installed as the process's for this test; the previous ones restored."""
    built = fake_components()
    previous = install(built)
    try:
        yield built
    finally:
        install(previous)


@pytest.fixture
def client(components: Components) -> Iterator[Client]:
    with Client(app_module.app, project_dir=str(REPO_ROOT)) as test_client:
        yield test_client


@pytest.fixture
def koe(client: Client, components: Components) -> Koe:
    return Koe(client, components, components.clock)
