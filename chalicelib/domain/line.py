"""LINE (Japan's two-way channel): what its webhooks say, and the rules of its Messaging API that koe
decides by. Pure: the adapter (adapters/line_messaging.py) verifies the signature and talks to LINE.

The webhook (LINE's "Webhook event objects"): a JSON body `{"destination": ..., "events": [...]}`,
each event with `type`, `timestamp` (ms), `webhookEventId` (unique: koe's idempotency key),
`deliveryContext.isRedelivery` (LINE sends an event again when koe did not answer 2xx), `mode`, and
`source` (`{"type": "user", "userId": "U..."}` in a one-to-one chat). koe reads three types:

- `message`: the customer wrote (a text, or a sticker or image: `text` None), with a `replyToken`;
- `follow`: they added koe's account as a friend, or unblocked it (a `replyToken` too);
- `unfollow`: they blocked it: no LINE message reaches them any more (an opt-out of LINE).

Every other type (postback, unsend, join, a type LINE adds next year) is kept as IGNORED with its
type, never dropped unseen. An event from a group or a room is IGNORED too: koe surveys one person.

The rules (LINE's documentation): a text message holds at most 5,000 characters; a quick reply at most
13 buttons (NPS 0-10 fits) whose labels hold at most 20 characters; a reply token answers once, free,
and is guaranteed for one minute after the webhook; a retry key (`X-Line-Retry-Key`, a UUID) makes a
push happen once however often it is sent, for 24 hours after the first request.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

MAX_TEXT_CHARS = 5000
MAX_QUICK_REPLIES = 13
MAX_LABEL_CHARS = 20
MAX_ACTION_TEXT_CHARS = 300
REPLY_TOKEN_VALIDITY = timedelta(minutes=1)
# What is left of the minute for the reply call itself: a token older than this is not tried.
REPLY_TOKEN_MARGIN = timedelta(seconds=10)
RETRY_KEY_VALIDITY = timedelta(hours=24)

# Retry keys are UUIDs named in this namespace (uuid5): the same survey and message give the same key.
_RETRY_KEYS = uuid.UUID("5b0d6f3e-8a57-4c1e-9d3a-6f1c2b7e4a90")


class LineEventKind(StrEnum):
    MESSAGE = "message"        # the customer wrote to koe's account
    FOLLOW = "follow"          # added koe's account as a friend, or unblocked it
    UNFOLLOW = "unfollow"      # blocked koe's account
    IGNORED = "ignored"        # any other type, or not from one user: `event_type` says what it was


_KINDS = {"message": LineEventKind.MESSAGE, "follow": LineEventKind.FOLLOW, "unfollow": LineEventKind.UNFOLLOW}


@dataclass(frozen=True)
class LineEvent:
    """One webhook event. `user_id` and `text` are personal data: never in a repr, never logged."""

    kind: LineEventKind
    event_type: str                      # LINE's own type: "message", "postback", ...
    event_id: str                        # webhookEventId, the same on a redelivery
    timestamp: datetime                  # when the customer acted (UTC)
    redelivery: bool                     # deliveryContext.isRedelivery
    user_id: str | None = field(default=None, repr=False)
    reply_token: str | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)    # a text message's words; None for any other
    message_type: str | None = None      # "text", "sticker", "image" ... for a message


class UnreadableWebhook(ValueError):
    """Not a LINE webhook body: not JSON, or not its shape. Says which field, never a value."""


def parse_webhook(body: bytes) -> list[LineEvent]:
    """The events of a webhook body, in order; [] for LINE's "Verify" (no events). UnreadableWebhook
    when the body or one of its events is not what LINE sends."""
    try:
        payload = json.loads(body.decode("utf-8"))      # LINE sends UTF-8 (json.loads alone would guess UTF-16)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableWebhook("the body is not JSON in UTF-8") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise UnreadableWebhook("events: missing, or not a list")
    return [_event(raw, f"events[{n}]") for n, raw in enumerate(payload["events"])]


def _event(raw: Any, where: str) -> LineEvent:
    if not isinstance(raw, dict):
        raise UnreadableWebhook(f"{where}: not an object")
    event_type = _text(raw, "type", where)
    event_id = _text(raw, "webhookEventId", where)
    timestamp = raw.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise UnreadableWebhook(f"{where}.timestamp: not milliseconds since the epoch")
    context = raw.get("deliveryContext")
    redelivery = context.get("isRedelivery") if isinstance(context, dict) else None
    if not isinstance(redelivery, bool):
        raise UnreadableWebhook(f"{where}.deliveryContext.isRedelivery: missing, or not a boolean")
    at = datetime.fromtimestamp(timestamp / 1000, UTC)
    source = raw.get("source")
    user = source.get("userId") if isinstance(source, dict) and source.get("type") == "user" else None
    kind = _KINDS.get(event_type, LineEventKind.IGNORED)
    if kind is LineEventKind.IGNORED or not isinstance(user, str) or not user:
        return LineEvent(LineEventKind.IGNORED, event_type, event_id, at, redelivery)
    reply_token = raw.get("replyToken") if kind is not LineEventKind.UNFOLLOW else None
    if kind is not LineEventKind.UNFOLLOW and not (isinstance(reply_token, str) and reply_token):
        raise UnreadableWebhook(f"{where}.replyToken: missing")
    text = message_type = None
    if kind is LineEventKind.MESSAGE:
        message = raw.get("message")
        if not isinstance(message, dict):
            raise UnreadableWebhook(f"{where}.message: missing, or not an object")
        message_type = _text(message, "type", f"{where}.message")
        if message_type == "text":
            text = message.get("text")
            if not isinstance(text, str):
                raise UnreadableWebhook(f"{where}.message.text: missing, or not a string")
    return LineEvent(kind, event_type, event_id, at, redelivery, user, reply_token, text, message_type)


def _text(raw: dict[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise UnreadableWebhook(f"{where}.{name}: missing, or not a string")
    return value


def retry_key(survey_id: str, message: str) -> str:
    """The X-Line-Retry-Key of one push: the same for the same survey and message (`invitation`,
    `why`, `thanks` ...), so a replayed push is not delivered twice (LINE answers 409) as long as the
    replay comes within RETRY_KEY_VALIDITY of the first request."""
    return str(uuid.uuid5(_RETRY_KEYS, f"{survey_id}#{message}"))


def reply_token_usable(received_at: datetime, now: datetime) -> bool:
    """Whether a reply token from an event of `received_at` is still worth trying at `now`: within
    LINE's minute, less the margin for the call. Past it, answer by push (it costs a message)."""
    return now - received_at < REPLY_TOKEN_VALIDITY - REPLY_TOKEN_MARGIN


def user_ref(user_id: str) -> str:
    """How logs name a LINE user: a hash prefix (a user id is personal data; it is 128 random bits,
    so the prefix cannot be turned back into it, and it still tells one user's lines from another's)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:12]
