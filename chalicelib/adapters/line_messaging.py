"""LINE: sending through the real SDK (`line-bot-sdk` 3.x, `linebot.v3.messaging.MessagingApi`) and
reading its signed webhooks.

bootstrap builds the SDK client and hands it in, as it does Twilio's::

    configuration = Configuration(access_token=token, host=base_url)   # base_url: a stand-in's, else LINE's
    LineMessaging(MessagingApi(ApiClient(configuration)))

The SDK is imported only where a message is sent (its import costs ~0.9 s, five times Twilio's: every
model of the API, sync and async, through pydantic). The webhook side (signature, parsing) needs only
the standard library, so the API function's cold start does not pay for it.

Sending:
- `push_survey` / `push_text`: a push message (costs a message), always with an X-Line-Retry-Key
  (domain/line.retry_key). LINE runs a request with a given key once; a repeat is answered 409 with
  the first request's id (x-line-accepted-request-id), which is returned as if sent now. The id
  returned is the request id (x-line-request-id), the one id both answers carry.
- `reply`: a reply message (free) with the token of a webhook event. LINE accepts a token once and
  within about a minute; it answers 400 "Invalid reply token" otherwise: ReplyTokenExpired, and the
  caller pushes instead.

LINE's answers become koe's named errors (LINE's "Status codes" and "Retrying a failed API request"):
- 429 (rate limit, monthly message limit): RetryableSendError, certain (nothing went out);
- 5xx, a timeout, a lost connection: RetryableSendError in doubt (the message may be out; a replay
  with the same retry key within 24 hours cannot deliver it twice);
- 401 (the channel access token): CredentialsRejected; 403 (the plan or channel may not use the API):
  RetryableSendError, a deployment fault retried and then dead-lettered with the reason, as Twilio's
  20003 and SES's SendingPaused;
- 400 "Failed to send messages", or a `to` LINE does not take: UndeliverableRecipient `line_unknown_user`
  (a user id LINE does not know for this channel's provider); any other 4xx: UndeliverableRecipient
  `line_<status>`.
A customer who blocked koe's account is not an error: LINE answers 200 and delivers nothing; the
`unfollow` webhook is how koe learns of it.

Logs name a LINE user by a hash prefix (`user_ref`), never by id, and never carry a message's text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.domain import line
from chalicelib.domain.line import LineEvent, LineEventKind, UnreadableWebhook, user_ref
from chalicelib.errors import (
    CredentialsRejected,
    InvalidSignature,
    InvalidWebhook,
    ReplyTokenExpired,
    RetryableSendError,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
INVALID_REPLY_TOKEN = "Invalid reply token"
UNKNOWN_USER = "Failed to send messages"        # LINE's answer for a user id it does not know


class LineMessaging:
    """Push and reply messages through the SDK's MessagingApi (built by bootstrap)."""

    def __init__(self, api: Any, timeout_s: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)):
        self._api = api
        self._timeout = timeout_s

    def push_survey(self, user_id: str, text: str, choices: Sequence[str], retry_key: str) -> str:
        """The survey's question with one quick-reply button per answer (label and text: the score),
        e.g. "0".."10" for NPS. Returns the request id."""
        return self._push(user_id, _text_message(text, choices), retry_key, "survey")

    def push_text(self, user_id: str, text: str, retry_key: str) -> str:
        """A follow-up ("why?", "thanks") when no reply token is usable. Returns the request id."""
        return self._push(user_id, _text_message(text, ()), retry_key, "text")

    def reply(self, reply_token: str, text: str, choices: Sequence[str] = ()) -> str:
        """Answer a webhook event (free). ReplyTokenExpired when LINE no longer takes the token."""
        from linebot.v3.messaging import ApiException, ReplyMessageRequest
        from urllib3.exceptions import HTTPError

        request = ReplyMessageRequest(reply_token=reply_token, messages=[_text_message(text, choices)])
        try:
            response = self._api.reply_message_with_http_info(request, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 400 and _error_message(exc) == INVALID_REPLY_TOKEN:
                count("LineReplyTokenRefused")
                raise ReplyTokenExpired("line 400 invalid reply token") from exc
            raise _named(exc) from exc
        except (HTTPError, OSError) as exc:        # a timeout, a lost connection (urllib3 under the SDK)
            raise RetryableSendError(f"line unreachable: {type(exc).__name__}", in_doubt=True) from exc
        request_id = _request_id(response.headers) or ""
        logger.info("line reply sent", extra={"request_id": request_id})
        return request_id

    def _push(self, user_id: str, message: Any, retry_key: str, what: str) -> str:
        from linebot.v3.messaging import ApiException, PushMessageRequest
        from urllib3.exceptions import HTTPError

        uuid.UUID(retry_key)        # LINE takes a UUID only: a caller's bug, never sent
        request = PushMessageRequest(to=user_id, messages=[message])
        try:
            response = self._api.push_message_with_http_info(
                request, x_line_retry_key=retry_key, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 409:          # this retry key was accepted before: sent then, not now
                accepted = _header(exc.headers, "x-line-accepted-request-id") or retry_key
                count("LinePushReplayed")
                logger.info("line push already accepted", extra={"user_ref": user_ref(user_id),
                                                                 "request_id": accepted, "sent": what})
                return accepted
            raise _named(exc) from exc
        except (HTTPError, OSError) as exc:        # a timeout, a lost connection (urllib3 under the SDK)
            raise RetryableSendError(f"line unreachable: {type(exc).__name__}", in_doubt=True) from exc
        request_id = _request_id(response.headers) or retry_key
        logger.info("line push sent", extra={"user_ref": user_ref(user_id), "request_id": request_id,
                                             "sent": what})
        return request_id


class RotatingLineMessaging:
    """LINE on the channel access token of the moment: read (through the secret's cache) on each
    call, one SDK client kept per token. When LINE refuses it (401: a token reissued since the cache
    last read it), the secret is read again once and, if the token changed, the call tried again."""

    def __init__(self, token: Callable[[bool], str], build: Callable[[str], LineMessaging]):
        self._token = token                       # fresh -> the channel access token
        self._build = build
        self._clients: dict[str, LineMessaging] = {}

    def push_survey(self, user_id: str, text: str, choices: Sequence[str], retry_key: str) -> str:
        return self._call(lambda api: api.push_survey(user_id, text, choices, retry_key))

    def push_text(self, user_id: str, text: str, retry_key: str) -> str:
        return self._call(lambda api: api.push_text(user_id, text, retry_key))

    def reply(self, reply_token: str, text: str, choices: Sequence[str] = ()) -> str:
        return self._call(lambda api: api.reply(reply_token, text, choices))

    def _call(self, call: Callable[[LineMessaging], str]) -> str:
        token = self._token(False)
        try:
            return call(self._client(token))
        except CredentialsRejected:
            fresh = self._token(True)
            if fresh == token:
                raise
            count("LineTokenReread")
            logger.info("line refused the cached channel access token; calling with the secret read again")
            return call(self._client(fresh))

    def _client(self, token: str) -> LineMessaging:
        if token not in self._clients:
            self._clients = {token: self._build(token)}      # only the newest is kept
        return self._clients[token]


def _text_message(text: str, choices: Sequence[str]) -> Any:
    from linebot.v3.messaging import MessageAction, QuickReply, QuickReplyItem, TextMessage

    if not 0 < len(text) <= line.MAX_TEXT_CHARS:
        raise ValueError(f"a LINE text message holds 1 to {line.MAX_TEXT_CHARS} characters, not {len(text)}")
    if len(choices) > line.MAX_QUICK_REPLIES:
        raise ValueError(f"a LINE quick reply holds at most {line.MAX_QUICK_REPLIES} buttons, not {len(choices)}")
    for choice in choices:
        if not 0 < len(choice) <= line.MAX_LABEL_CHARS:
            raise ValueError(f"a quick-reply label holds 1 to {line.MAX_LABEL_CHARS} characters")
    if not choices:
        return TextMessage(text=text)
    items = [QuickReplyItem(action=MessageAction(label=choice, text=choice)) for choice in choices]
    return TextMessage(text=text, quick_reply=QuickReply(items=items))


def _named(exc: Any) -> Exception:
    """koe's error for LINE's refusal `exc` (an ApiException: status, headers, JSON body)."""
    status = int(exc.status or 0)
    message = _error_message(exc)
    if status == 0:                      # the SDK's own wrapping of an SSL or transport fault
        return RetryableSendError("line unreachable", in_doubt=True)
    if status == 429:
        limit = "monthly limit" if "monthly limit" in message.lower() else "rate limit"
        return RetryableSendError(f"line 429 {limit}")              # refused: nothing went out
    if status >= 500:
        return RetryableSendError(f"line {status}", in_doubt=True)
    if status == 401:
        return CredentialsRejected("line 401")
    if status == 403:
        return RetryableSendError("line 403: the channel may not use this API")
    if status == 400 and (message == UNKNOWN_USER or "'to'" in message):
        return UndeliverableRecipient("unknown_user", "no such LINE user for this channel", carrier="line")
    return UndeliverableRecipient(str(status), "rejected by line", carrier="line")


def _error_message(exc: Any) -> str:
    """LINE's error body `{"message": ..., "details": [...]}`: its message ("" when unreadable)."""
    try:
        body = json.loads(exc.body or b"{}")
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if headers is not None else None
    return str(value) if value else None


def _request_id(headers: Any) -> str | None:
    return _header(headers, "x-line-request-id")


# --- the webhook ----------------------------------------------------------------------------------

def verify_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` (x-line-signature) is base64(HMAC-SHA256(channel secret, body)): the body
    as received, byte for byte. A missing or unreadable signature is a mismatch."""
    if not signature or not channel_secret:
        return False
    expected = base64.b64encode(hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest())
    try:
        given = signature.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, expected)


def read_webhook(channel_secret: str, body: bytes, signature: str | None) -> list[LineEvent]:
    """The events of a webhook LINE signed: InvalidSignature (403) when the signature does not match
    the body, InvalidWebhook (400) when the signed body is not LINE's shape. Every event is logged by
    kind, type and id (an ignored type too: a new LINE event type is seen, not lost), never its user
    or words."""
    if not verify_signature(channel_secret, body, signature):
        raise InvalidSignature("x-line-signature does not match the body")
    try:
        events = line.parse_webhook(body)
    except UnreadableWebhook as exc:
        raise InvalidWebhook(f"LINE webhook: {exc}") from exc
    for event in events:
        if event.kind is LineEventKind.IGNORED:
            count("LineEventIgnored", event_type=_metric_safe(event.event_type))
        logger.info("line event", extra={"kind": event.kind.value, "event_type": event.event_type,
                                         "event_id": event.event_id, "redelivery": event.redelivery,
                                         "user_ref": user_ref(event.user_id) if event.user_id else None})
    return events


class LineWebhook:
    """LINE's signed webhooks, read with the channel secret of the moment: on a mismatch against the
    cached secret it is read again once (`secret(True)`) before the request is refused, so a secret
    reissued in LINE's console is taken within one request; a forged request costs one extra read
    and still gets its 403."""

    def __init__(self, secret: Callable[[bool], str]):
        self._secret = secret                     # fresh -> the channel secret

    def read(self, body: bytes, signature: str | None) -> list[LineEvent]:
        if not signature:
            raise InvalidSignature("x-line-signature is missing")
        cached = self._secret(False)
        if not verify_signature(cached, body, signature):
            fresh = self._secret(True)
            if fresh == cached or not verify_signature(fresh, body, signature):
                raise InvalidSignature("x-line-signature does not match the body")
            count("LineSecretReread")
            cached = fresh
        return read_webhook(cached, body, signature)


def _metric_safe(event_type: str) -> str:
    """An event type as a metric dimension: LINE's types are short words; anything else is "other"."""
    return event_type if event_type.isascii() and event_type.isalpha() and len(event_type) <= 32 else "other"
