"""LINE's webhook, read without the network: x-line-signature checked over the body as received, the
events koe reads (message, follow, unfollow, redeliveries) and the ones it keeps as ignored, malformed
bodies refused by name; and the pure rules koe sends by (retry keys, the reply token's minute).

The recorded payload (tests/events/line-webhook.json) follows LINE's "Webhook event objects"; fictional ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from linebot.v3 import SignatureValidator, WebhookParser

from chalicelib.adapters.line_messaging import read_webhook, user_ref, verify_signature
from chalicelib.domain import line
from chalicelib.domain.line import LineEventKind, UnreadableWebhook, parse_webhook
from chalicelib.errors import InvalidSignature, InvalidWebhook

SECRET = "8c3f2a1b0e9d8c7b6a5f4e3d2c1b0a99"
BODY = (Path(__file__).resolve().parents[1] / "events" / "line-webhook.json").read_bytes()
CUSTOMER = "U4af4980629e3b7d6c5f2a1b0c9d8e7f6"


def signed(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def event(**fields: object) -> dict[str, object]:
    """A text message event as LINE sends it, with `fields` changed (None removes one)."""
    base: dict[str, object] = {
        "type": "message", "message": {"type": "text", "id": "1", "quoteToken": "q", "text": "9"},
        "webhookEventId": "01H810YECXQQZ37VAXPF6H9E6T", "deliveryContext": {"isRedelivery": False},
        "timestamp": 1795420800000, "source": {"type": "user", "userId": CUSTOMER},
        "replyToken": "38ef843bde154d9b91c21320ffd17a0f", "mode": "active"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def body_of(*events: object) -> bytes:
    return json.dumps({"destination": "Ub0", "events": list(events)}).encode()


# --- the signature ----------------------------------------------------------------------------------

def test_a_body_signed_with_the_channel_secret_is_taken():
    assert verify_signature(SECRET, BODY, signed(BODY))
    # the SDK's own validator agrees on the same bytes (it takes the body as text)
    assert SignatureValidator(SECRET).validate(BODY.decode("utf-8"), signed(BODY))


@pytest.mark.parametrize("signature", [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param(signed(BODY, "another channel's secret"), id="forged with another secret"),
    pytest.param(signed(BODY)[:-4] + "AAA=", id="altered"),
    pytest.param("署名" + signed(BODY), id="not ascii"),
])
def test_a_missing_forged_or_altered_signature_is_refused(signature):
    assert not verify_signature(SECRET, BODY, signature)
    with pytest.raises(InvalidSignature):
        read_webhook(SECRET, BODY, signature)


def test_a_body_changed_after_signing_is_refused():
    signature = signed(BODY)
    tampered = BODY.replace(b'"text": "9 ', b'"text": "0 ')
    assert tampered != BODY
    assert not verify_signature(SECRET, tampered, signature)
    # re-encoding the same JSON changes the bytes, and so the signature: only the body as received counts
    reencoded = json.dumps(json.loads(BODY), ensure_ascii=True).encode()
    assert not verify_signature(SECRET, reencoded, signature)


def test_no_secret_configured_takes_nothing():
    assert not verify_signature("", BODY, signed(BODY, ""))


# --- the events -------------------------------------------------------------------------------------

def test_the_events_koe_reads_and_the_ones_it_keeps_as_ignored():
    events = read_webhook(SECRET, BODY, signed(BODY))
    assert [(e.kind, e.event_type) for e in events] == [
        (LineEventKind.MESSAGE, "message"), (LineEventKind.MESSAGE, "message"), (LineEventKind.FOLLOW, "follow"),
        (LineEventKind.UNFOLLOW, "unfollow"), (LineEventKind.IGNORED, "postback"),
        (LineEventKind.IGNORED, "message")]       # the last one: in a group, not from one customer
    text, sticker, follow, unfollow, postback, group = events
    assert (text.event_id, text.user_id, text.text, text.message_type, text.redelivery) == \
        ("01H810YECXQQZ37VAXPF6H9E6T", CUSTOMER, "9 手続きが早かった", "text", False)
    assert text.reply_token == "38ef843bde154d9b91c21320ffd17a0f"
    assert text.timestamp == datetime.fromtimestamp(1795420800, UTC)
    assert (sticker.text, sticker.message_type, sticker.reply_token) == \
        (None, "sticker", "4c1e7a9b2d3f4e5a6b7c8d9e0f1a2b3c")
    assert follow.redelivery and follow.reply_token and follow.user_id == "U1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
    assert unfollow.reply_token is None and unfollow.user_id == "U9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    assert (postback.user_id, postback.reply_token, postback.text) == (None, None, None)
    assert (group.user_id, group.text) == (None, None)


def test_the_sdks_parser_reads_the_same_events():
    # The SDK's WebhookParser (pydantic models, a heavier import) is not what koe runs; it is the
    # reference the standard-library parser must agree with on ids, types and redeliveries.
    ours = parse_webhook(BODY)
    theirs = WebhookParser(SECRET).parse(BODY.decode("utf-8"), signed(BODY))
    assert [(e.event_id, e.redelivery) for e in ours] == \
        [(e.webhook_event_id, e.delivery_context.is_redelivery) for e in theirs]
    assert [e.event_type for e in ours] == [e.type for e in theirs]


def test_lines_verify_request_has_no_events():
    empty = b'{"destination":"Ub0","events":[]}'
    assert read_webhook(SECRET, empty, signed(empty)) == []


def test_an_unknown_event_type_is_kept_as_ignored_with_its_type():
    [unknown] = parse_webhook(body_of(event(type="membership", message=None, replyToken=None)))
    assert (unknown.kind, unknown.event_type, unknown.event_id) == \
        (LineEventKind.IGNORED, "membership", "01H810YECXQQZ37VAXPF6H9E6T")


def test_a_redelivered_event_keeps_its_id():
    first = parse_webhook(body_of(event()))[0]
    again = parse_webhook(body_of(event(deliveryContext={"isRedelivery": True})))[0]
    assert (again.event_id, again.redelivery, first.redelivery) == (first.event_id, True, False)


@pytest.mark.parametrize("body, field", [
    (b"{not json", "not JSON"),
    ("{}".encode("utf-16"), "not JSON"),
    (b"[]", "events"),
    (b'{"events": {}}', "events"),
    (body_of("an event"), "events[0]: not an object"),
    (body_of(event(webhookEventId=None)), "events[0].webhookEventId"),
    (body_of(event(type=7)), "events[0].type"),
    (body_of(event(timestamp="yesterday")), "events[0].timestamp"),
    (body_of(event(timestamp=True)), "events[0].timestamp"),
    (body_of(event(deliveryContext=None)), "events[0].deliveryContext.isRedelivery"),
    (body_of(event(deliveryContext={"isRedelivery": "no"})), "events[0].deliveryContext.isRedelivery"),
    (body_of(event(), event(replyToken=None)), "events[1].replyToken"),
    (body_of(event(message=None)), "events[0].message"),
    (body_of(event(message={"type": "text", "id": "1"})), "events[0].message.text"),
])
def test_a_malformed_body_is_refused_naming_the_field_never_a_value(body, field):
    with pytest.raises(UnreadableWebhook, match=field.replace("[", r"\[").replace("]", r"\]")) as raised:
        parse_webhook(body)
    assert CUSTOMER not in str(raised.value)
    with pytest.raises(InvalidWebhook):        # at the edge: 400, once the signature holds
        read_webhook(SECRET, body, signed(body))


@given(st.binary(max_size=300))
def test_any_bytes_are_events_or_unreadable(body):
    try:
        events = parse_webhook(body)
    except UnreadableWebhook:
        return
    assert isinstance(events, list)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


@given(st.lists(st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["message", "follow", "unfollow", "postback"]) | _JSON,
    "webhookEventId": st.text(max_size=4) | _JSON, "timestamp": st.integers() | _JSON,
    "deliveryContext": st.fixed_dictionaries({"isRedelivery": st.booleans()}) | _JSON,
    "source": st.fixed_dictionaries({"type": st.just("user"), "userId": st.text(max_size=4)}) | _JSON,
    "replyToken": st.text(max_size=4) | _JSON,
    "message": st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=4)}) | _JSON,
}), max_size=3))
def test_events_of_any_shape_are_read_or_refused_by_name(events):
    body = body_of(*events)
    try:
        parsed = parse_webhook(body)
    except UnreadableWebhook as exc:
        assert str(exc).startswith("events[")
        return
    assert len(parsed) == len(events)


def test_reading_a_webhook_never_imports_the_sdk():
    # The SDK's import costs ~0.9 s, five times Twilio's (every model, sync and async): the API function
    # that takes webhooks must not pay for it. A fresh interpreter, as a cold start.
    probe = ("import sys; from chalicelib.adapters import line_messaging as m; "
             f"assert m.read_webhook({SECRET!r}, {BODY!r}, {signed(BODY)!r}); "
             "print(sorted(n for n in sys.modules if n.split('.')[0] in ('linebot', 'pydantic')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"       # (the lines before: the events logged)


# --- nothing personal in logs or reprs --------------------------------------------------------------

def test_events_are_logged_by_kind_type_and_id_never_by_user_or_words(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="koe")
    read_webhook(SECRET, BODY, signed(BODY))
    logged = " ".join(str(r.__dict__) for r in caplog.records if r.name == "koe")
    assert "postback" in logged and "01H810YECXQQZ37VAXPF6H9E6Y" in logged      # the ignored one is seen
    assert user_ref(CUSTOMER) in logged
    for personal in (CUSTOMER, "手続き", "hello everyone", "38ef843bde154d9b91c21320ffd17a0f", "action=buy"):
        assert personal not in logged


def test_an_events_repr_shows_no_user_words_or_token():
    [text] = parse_webhook(body_of(event()))
    assert CUSTOMER not in repr(text) and "38ef843bde" not in repr(text) and "text='9'" not in repr(text)


# --- the rules koe sends by -------------------------------------------------------------------------

def test_a_retry_key_is_the_same_uuid_for_the_same_survey_and_message():
    key = line.retry_key("claims-2026-000123-paid", "invitation")
    assert uuid.UUID(key).version == 5
    assert key == line.retry_key("claims-2026-000123-paid", "invitation")
    assert key != line.retry_key("claims-2026-000123-paid", "why")
    assert key != line.retry_key("claims-2026-000124-paid", "invitation")


def test_a_reply_token_is_tried_only_well_within_lines_minute():
    received = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert line.reply_token_usable(received, received + timedelta(seconds=49))
    assert not line.reply_token_usable(received, received + timedelta(seconds=50))
    assert not line.reply_token_usable(received, received + timedelta(minutes=5))
