"""The LINE Platform: a local stand-in for LINE's Messaging API and its webhooks (never deployed).

koe's LINE code and the real SDK (`line-bot-sdk` 3.x) run against it unchanged. Point the SDK at it::

    configuration = Configuration(access_token=channel_access_token, host=platform.url)
    api = MessagingApi(ApiClient(configuration))

What it does, as LINE does it (LINE's Messaging API reference, "Retrying a failed API request", FAQ):

* ``POST /v2/bot/message/push`` and ``POST /v2/bot/message/reply`` -- ``Authorization: Bearer
  <channel access token>`` (else 401); the body checked as LINE checks it (1 to 5 messages, a text of
  1 to 5,000 characters, at most 13 quick-reply buttons with labels of 1 to 20 characters: else 400
  "The request body has N error(s)" with ``details``). Answers 200 ``{"sentMessages": [{"id",
  "quoteToken"}]}`` with an ``x-line-request-id`` header.
* A push to a user id LINE does not know (no one who ever followed the account) is 400 "Failed to send
  messages"; a push to a user who blocked the account (``unfollow``) is accepted (200) and not
  delivered: LINE says nothing, and neither does this.
* ``X-Line-Retry-Key`` (a UUID) on a push: once a request with a key is accepted, a repeat within 24
  hours is answered 409 "The retry key is already accepted" with ``x-line-accepted-request-id`` (the
  first request's id) and its ``sentMessages``; nothing is sent again. A refused request (429, 500)
  accepts nothing, so its key may be sent again. A retry key on a reply is 400, as LINE answers.
* Reply tokens: issued with each ``message`` and ``follow`` event this platform sends; one reply each,
  within ``reply_token_ttl`` (60 s) of the event on this platform's clock (injectable: tests move it);
  else 400 "Invalid reply token". Replies are free, pushes are counted (``pushes``).
* The customer's side: ``user_says(user_id, text)``, ``follow(user_id)``, ``unfollow(user_id)`` POST a
  webhook to ``app_webhook_url`` as LINE does: ``{"destination", "events": [...]}`` signed
  ``x-line-signature`` = base64(HMAC-SHA256(channel secret, body)), a unique ``webhookEventId`` and
  ``deliveryContext.isRedelivery`` false; ``redeliver(event_id)`` posts an event again, the same event
  (same id, same reply token) with ``isRedelivery`` true.
* Faults drawn at random on a share of pushes (``faults={"429": 0.05, "500": 0.05, "taken500": 0.02}``):
  429 and 500 refuse the push (nothing sent, the retry key not accepted); ``taken500`` sends it and
  accepts the key, then answers 500 all the same (the sender is in doubt; its replay gets 409).

For scripts and the phone page (the customer's side over HTTP, what the methods above do):
``GET /messages?user=`` (each user's chat, both ways, oldest first), ``GET /chat?user=`` (one user's
chat and whether they follow the account: ``{"user", "follows", "messages"}``), ``POST /customer/follow``,
``/customer/unfollow``, ``/customer/say`` (JSON ``{"user", "text"}``: a typed message or a tapped quick
reply) and ``/customer/redeliver`` (``{"event_id"}``), each answering what the app answered
(``{"event_id", "reply_token", "app_status"}``); ``GET /health``. The local stack's carrier serves the
same customer's side under ``/line/`` for its phone page (``customer_action``).

Logs name a user by a hash prefix and never carry a message's text.

Run standalone::

    python -m devstack.line --port 8026 --app-webhook-url http://127.0.0.1:8000/line/webhook \\
        --channel-access-token ... --channel-secret ...
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devstack.stand_in import DrawnFaults, JsonHandler, Served, require_loopback, serve_until_signalled
from devstack.time_machine import utc_now

PUSH_PATH = "/v2/bot/message/push"
REPLY_PATH = "/v2/bot/message/reply"
WEBHOOK_TIMEOUT_S = 10.0
REPLY_TOKEN_TTL = timedelta(seconds=60)
RETRY_KEY_TTL = timedelta(hours=24)
# LINE's limits (Messaging API reference: message objects, quick reply).
MAX_MESSAGES, MAX_TEXT, MAX_ITEMS, MAX_LABEL, MAX_ACTION_TEXT = 5, 5000, 13, 20, 300
USER_ID = re.compile(r"U[0-9a-f]{32}")
# Faults on a share of pushes: (status, LINE's message), and whether the push went out all the same.
FAULTS: dict[str, tuple[int, str, bool]] = {
    "429": (429, "The API rate limit has been exceeded. Try again later.", False),
    "500": (500, "Internal server error", False),
    "taken500": (500, "Internal server error", True),
}
AUTH_FAILED = ("Authentication failed due to the following reason: invalid token. "
               "Confirm that the access token in the authorization header is valid.")


class LineError(Exception):
    """A refusal, rendered in LINE's error shape: {"message", "details"?} (what ErrorResponse reads)."""

    def __init__(self, status: int, message: str, details: list[dict[str, str]] | None = None,
                 headers: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or []
        self.headers, self.extra = dict(headers or {}), dict(extra or {})

    def payload(self) -> dict[str, Any]:
        return {"message": self.message, **({"details": self.details} if self.details else {}), **self.extra}


def user_ref(user_id: str) -> str:
    """A user in the logs: a hash prefix (a LINE user id is personal data)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:12]


def log(line: str) -> None:
    print(f"line: {line}", file=sys.stderr, flush=True)


def signature(channel_secret: str, body: bytes) -> str:
    """x-line-signature of `body`. Written out here, not taken from koe: a stand-in must not share the
    code it checks."""
    return base64.b64encode(hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass
class ChatLine:
    """One message of a chat: sent to the user (push, reply) or by them (user)."""

    user_id: str
    direction: str                       # "push", "reply" or "user"
    text: str
    at: datetime
    choices: tuple[str, ...] = ()        # the quick-reply buttons (their labels)
    delivered: bool = True               # False: accepted for a user who blocked the account
    message_id: str = ""
    request_id: str = ""
    retry_key: str | None = None
    choice_texts: tuple[str, ...] = ()   # what tapping each button sends (its message action's text)

    def public(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "direction": self.direction, "text": self.text,
                "at": self.at.isoformat(), "choices": list(self.choices), "choice_texts": list(self.choice_texts),
                "delivered": self.delivered,
                "message_id": self.message_id, "request_id": self.request_id, "retry_key": self.retry_key}


@dataclass
class _Accepted:
    request_id: str
    at: datetime
    sent: list[dict[str, str]]


@dataclass
class _ReplyToken:
    user_id: str
    issued_at: datetime
    used: bool = False


@dataclass
class _State:
    friends: dict[str, bool] = field(default_factory=dict)          # user id -> follows (False: blocked)
    chats: list[ChatLine] = field(default_factory=list)
    retry_keys: dict[str, _Accepted] = field(default_factory=dict)
    reply_tokens: dict[str, _ReplyToken] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhookEventId -> the event as sent


class LinePlatform:
    def __init__(self, *, channel_access_token: str, channel_secret: str, app_webhook_url: str,
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], datetime] = utc_now,
                 reply_token_ttl: timedelta = REPLY_TOKEN_TTL, faults: Mapping[str, float] | None = None,
                 faults_seed: int = 0, bot_user_id: str = "U" + "b0" * 16) -> None:
        require_loopback(host, "LINE")
        self._faults = DrawnFaults("LINE", FAULTS, faults, faults_seed)
        self.faults_injected = self._faults.injected
        self.app_webhook_url, self.bot_user_id = app_webhook_url, bot_user_id
        self.clock, self.reply_token_ttl = clock, reply_token_ttl
        self._token, self._secret = channel_access_token, channel_secret
        self.pushes = 0                  # pushes accepted: what LINE would count against the plan
        self._ids = itertools.count(461230966842064897)
        self._lock = threading.Lock()
        self._state = _State()
        self._served = Served("LINE", host, port, _Handler, self)

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        self._served.stop()

    # -- the Messaging API -------------------------------------------------------------------------

    def check_auth(self, authorization: str | None) -> None:
        given = authorization[7:] if authorization and authorization.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            raise LineError(401, AUTH_FAILED)

    def push(self, body: Any, retry_key: str | None) -> tuple[str, dict[str, Any]]:
        """Accept a push: (request id, response body); LineError for a refusal."""
        to = body.get("to") if isinstance(body, dict) else None
        if not isinstance(to, str) or not USER_ID.fullmatch(to):
            raise LineError(400, "The property, 'to', in the request body is invalid (line: -, column: -)")
        messages = _checked_messages(body)
        if retry_key is not None:
            _check_retry_key(retry_key)
        request_id = str(uuid.uuid4())
        with self._lock:
            now = self.clock()
            if retry_key is not None:
                self._replayed(retry_key, now)
            follows = self._state.friends.get(to)
            if follows is None:
                raise LineError(400, "Failed to send messages")
            fault = self._faults.draw()
            if fault is not None and not FAULTS[fault][2]:
                raise LineError(*FAULTS[fault][:2])
            sent = self._record(to, "push", messages, now, delivered=follows, request_id=request_id,
                                retry_key=retry_key)
            self.pushes += 1
            if retry_key is not None:
                self._state.retry_keys[retry_key] = _Accepted(request_id, now, sent)
        log(f"push to {user_ref(to)} -> {'delivered' if follows else 'accepted, not delivered (blocked)'}")
        if fault is not None:        # taken500: out, key accepted, and an error all the same
            raise LineError(*FAULTS[fault][:2])
        return request_id, {"sentMessages": sent}

    def reply(self, body: Any, retry_key: str | None) -> tuple[str, dict[str, Any]]:
        if retry_key is not None:
            raise LineError(400, "The X-Line-Retry-Key header is not supported by this API")
        token = body.get("replyToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise LineError(400, "The request body has 1 error(s)",
                            [{"message": "must be specified", "property": "replyToken"}])
        messages = _checked_messages(body)
        request_id = str(uuid.uuid4())
        with self._lock:
            now = self.clock()
            issued = self._state.reply_tokens.get(token)
            if issued is None or issued.used or now - issued.issued_at >= self.reply_token_ttl:
                raise LineError(400, "Invalid reply token")
            issued.used = True
            delivered = self._state.friends.get(issued.user_id, False)
            sent = self._record(issued.user_id, "reply", messages, now, delivered=delivered, request_id=request_id)
        log(f"reply to {user_ref(issued.user_id)}")
        return request_id, {"sentMessages": sent}

    def _replayed(self, retry_key: str, now: datetime) -> None:
        accepted = self._state.retry_keys.get(retry_key)
        if accepted is not None and now - accepted.at < RETRY_KEY_TTL:
            raise LineError(409, "The retry key is already accepted",
                            headers={"x-line-accepted-request-id": accepted.request_id},
                            extra={"sentMessages": accepted.sent})

    def _record(self, user_id: str, direction: str, messages: list[dict[str, Any]], now: datetime, *,
                delivered: bool, request_id: str, retry_key: str | None = None) -> list[dict[str, str]]:
        sent = []
        for message in messages:
            message_id = str(next(self._ids))
            items = (message.get("quickReply") or {}).get("items") or []
            self._state.chats.append(ChatLine(
                user_id, direction, message["text"], now, tuple(item["action"]["label"] for item in items),
                delivered, message_id, request_id, retry_key, tuple(item["action"]["text"] for item in items)))
            sent.append({"id": message_id, "quoteToken": uuid.uuid4().hex})
        return sent

    # -- what a test or a script reads -------------------------------------------------------------

    def chat(self, user_id: str | None = None) -> list[ChatLine]:
        """Messages with `user_id` (everyone's when None), both ways, oldest first."""
        with self._lock:
            return [c for c in self._state.chats if user_id is None or c.user_id == user_id]

    def follows(self, user_id: str) -> bool | None:
        """Whether the user follows the account: True, False (blocked it), None (never followed)."""
        with self._lock:
            return self._state.friends.get(user_id)

    def chat_of(self, user_id: str) -> dict[str, Any]:
        """One user's chat as the phone page shows it: whether they follow, and the messages."""
        return {"user": user_id, "follows": self.follows(user_id),
                "messages": [c.public() for c in self.chat(user_id)]}

    def sent_to(self, user_id: str) -> list[ChatLine]:
        """What koe sent the user (pushes and replies), delivered or not."""
        return [c for c in self.chat(user_id) if c.direction != "user"]

    # -- the customer's side: webhooks -------------------------------------------------------------

    def follow(self, user_id: str) -> dict[str, Any]:
        """The user adds koe's account as a friend (or unblocks it): a `follow` event with a reply token."""
        with self._lock:
            unblocked = self._state.friends.get(user_id) is False
            self._state.friends[user_id] = True
            event = self._event("follow", user_id, reply=True, follow={"isUnblocked": unblocked})
        return self._post(event)

    def unfollow(self, user_id: str) -> dict[str, Any]:
        """The user blocks koe's account: an `unfollow` event (no reply token); pushes are not delivered."""
        with self._lock:
            self._state.friends[user_id] = False
            event = self._event("unfollow", user_id, reply=False)
        return self._post(event)

    def user_says(self, user_id: str, text: str) -> dict[str, Any]:
        """The user writes to koe's account (tapping a quick reply sends its text the same way): a
        `message` event with a reply token. A user who never followed is made a friend first (without
        a follow event); a user who blocked the account cannot write to it."""
        with self._lock:
            if self._state.friends.get(user_id) is False:
                raise ValueError("a user who blocked the account cannot write to it")
            self._state.friends[user_id] = True
            now = self.clock()
            self._state.chats.append(ChatLine(user_id, "user", text, now))
            message = {"type": "text", "id": str(next(self._ids)), "quoteToken": uuid.uuid4().hex, "text": text}
            event = self._event("message", user_id, reply=True, message=message)
        return self._post(event)

    def send_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Any event as given (a postback, a type LINE adds later), stamped with an id and a delivery
        context like the others: for what koe must ignore without losing sight of it."""
        with self._lock:
            now = self.clock()
            stamped = {**event, "webhookEventId": _event_id(now), "deliveryContext": {"isRedelivery": False},
                       "timestamp": _millis(now), "mode": "active"}
            self._state.events[stamped["webhookEventId"]] = stamped
        return self._post(stamped)

    def redeliver(self, event_id: str) -> dict[str, Any]:
        """Post an event again as LINE's webhook redelivery does: same event, `isRedelivery` true."""
        with self._lock:
            event = self._state.events.get(event_id)
        if event is None:
            raise ValueError(f"no event {event_id!r} was sent")
        return self._post({**event, "deliveryContext": {"isRedelivery": True}})

    def _event(self, kind: str, user_id: str, *, reply: bool, **extra: Any) -> dict[str, Any]:
        """A new event (under the lock): its id, its reply token issued now on this platform's clock."""
        now = self.clock()
        event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": _millis(now),
                                 "source": {"type": "user", "userId": user_id},
                                 "webhookEventId": _event_id(now), "deliveryContext": {"isRedelivery": False},
                                 **extra}
        if reply:
            token = uuid.uuid4().hex
            self._state.reply_tokens[token] = _ReplyToken(user_id, now)
            event["replyToken"] = token
        self._state.events[event["webhookEventId"]] = event
        return event

    def _post(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one event to the app, signed; what the app answered (None when it could not be reached)."""
        body = json.dumps({"destination": self.bot_user_id, "events": [event]},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(self.app_webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0",
            "x-line-signature": signature(self._secret, body)})
        outcome = {"event_id": event["webhookEventId"], "reply_token": event.get("replyToken"), "app_status": None}
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
                outcome["app_status"] = answer.status
        except urllib.error.HTTPError as exc:
            outcome["app_status"] = exc.code
        except OSError as exc:       # the app is down: LINE would retry later if redelivery is on
            log(f"webhook {event['type']} failed: {type(exc).__name__}")
            return outcome
        log(f"webhook {event['type']} -> {outcome['app_status']}")
        return outcome


CUSTOMER_ACTIONS = ("follow", "unfollow", "say", "redeliver")


def customer_action(platform: LinePlatform, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The customer's side over HTTP (this server's ``/customer/<action>``, the carrier's ``/line/<action>``
    for the phone page): ValueError for what LINE's app would not let a user do, LookupError for no such
    action."""
    if action not in CUSTOMER_ACTIONS:
        raise LookupError(f"no action {action!r}: one of {', '.join(CUSTOMER_ACTIONS)}")
    if action == "redeliver":
        event_id = fields.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("send the event_id of an event this platform sent")
        return platform.redeliver(event_id)
    user = fields.get("user")
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise ValueError("user must be a LINE user id: U and 32 hex digits")
    if action == "follow":
        return platform.follow(user)
    if action == "unfollow":
        return platform.unfollow(user)
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise ValueError(f"text must be 1 to {MAX_TEXT} characters")
    return platform.user_says(user, text)


def _checked_messages(body: Any) -> list[dict[str, Any]]:
    """The messages of a push or reply body, or 400 with LINE's `details` naming each problem."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not 0 < len(messages) <= MAX_MESSAGES:
        raise LineError(400, "The request body has 1 error(s)",
                        [{"message": f"Size must be between 1 and {MAX_MESSAGES}", "property": "messages"}])
    problems = [problem for n, message in enumerate(messages)
                for problem in _message_problems(message, f"messages[{n}]")]
    if problems:
        raise LineError(400, f"The request body has {len(problems)} error(s)", problems)
    return messages


def _message_problems(message: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(message, dict) or message.get("type") != "text":
        return [{"message": "Only text messages are supported by this stand-in", "property": f"{where}.type"}]
    problems = []
    text = message.get("text")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
        problems.append({"message": f"Length must be between 1 and {MAX_TEXT}", "property": f"{where}.text"})
    quick = message.get("quickReply")
    if quick is None:
        return problems
    items = quick.get("items") if isinstance(quick, dict) else None
    if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
        return [*problems, {"message": f"Size must be between 1 and {MAX_ITEMS}",
                            "property": f"{where}.quickReply.items"}]
    for n, item in enumerate(items):
        action = item.get("action") if isinstance(item, dict) else None
        at = f"{where}.quickReply.items[{n}].action"
        if not isinstance(action, dict) or action.get("type") != "message":
            problems.append({"message": "Only message actions are supported by this stand-in",
                             "property": f"{at}.type"})
            continue
        label, words = action.get("label"), action.get("text")
        if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
            problems.append({"message": f"Length must be between 1 and {MAX_LABEL}", "property": f"{at}.label"})
        if not isinstance(words, str) or not 0 < len(words) <= MAX_ACTION_TEXT:
            problems.append({"message": f"Length must be between 1 and {MAX_ACTION_TEXT}", "property": f"{at}.text"})
    return problems


def _check_retry_key(retry_key: str) -> None:
    try:
        uuid.UUID(retry_key)
    except ValueError:
        raise LineError(400, "The value for the 'X-Line-Retry-Key' header is invalid") from None


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _event_id(at: datetime) -> str:
    """A webhookEventId as LINE writes them (a ULID: 48 bits of milliseconds, 80 random bits, 26 characters)."""
    value = (_millis(at) << 80) | (uuid.uuid4().int & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class _Handler(JsonHandler):
    server_version = "koe-line/1.0"
    say = staticmethod(log)

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/health":
            self._json(200, {"ok": True})
        elif parsed.path == "/messages":
            user = urllib.parse.parse_qs(parsed.query).get("user", [None])[0]
            self._json(200, [c.public() for c in self.server.platform.chat(user)])
        elif parsed.path == "/chat":
            user = urllib.parse.parse_qs(parsed.query).get("user", [""])[0]
            if not USER_ID.fullmatch(user):
                return self._json(400, {"message": "user must be a LINE user id: U and 32 hex digits"})
            self._json(200, self.server.platform.chat_of(user))
        else:
            self._json(404, {"message": "Not found"})

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        platform = self.server.platform
        if path.startswith("/customer/"):
            return self._customer(path.removeprefix("/customer/"), raw)
        action = {PUSH_PATH: platform.push, REPLY_PATH: platform.reply}.get(path)
        if action is None:
            return self._json(404, {"message": "Not found"})
        try:
            platform.check_auth(self.headers.get("Authorization"))
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise LineError(400, "The request body could not be parsed as JSON (line: -, column: -)") from None
            request_id, answer = action(body, self.headers.get("X-Line-Retry-Key"))
        except LineError as exc:
            return self._json(exc.status, exc.payload(), {"x-line-request-id": str(uuid.uuid4()), **exc.headers})
        self._json(200, answer, {"x-line-request-id": request_id})

    def _customer(self, action: str, raw: bytes) -> None:
        try:
            fields = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            self._json(200, customer_action(self.server.platform, action, fields))
        except LookupError as exc:
            self._json(404, {"message": str(exc).strip("'\"")})
        except (UnicodeDecodeError, ValueError) as exc:
            self._json(400, {"message": str(exc)})



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.line", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--app-webhook-url", default="http://127.0.0.1:8000/line/webhook")
    parser.add_argument("--channel-access-token", required=True)
    parser.add_argument("--channel-secret", required=True)
    args = parser.parse_args(argv)
    platform = LinePlatform(channel_access_token=args.channel_access_token, channel_secret=args.channel_secret,
                            app_webhook_url=args.app_webhook_url, host=args.host, port=args.port)
    serve_until_signalled(platform, log)


if __name__ == "__main__":
    main()
