"""Twilio: sending through the real SDK and verifying webhook signatures.

Error codes (Twilio's documentation): 21610 opted out; 21211/21614/21612/21408 cannot be reached; 20429 or
HTTP 429 throttled; 5xx and network faults are passing. Everything else is a rejection we name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.errors import (
    CredentialsRejected,
    InvalidSignature,
    RecipientOptedOut,
    RetryableSendError,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger

if TYPE_CHECKING:
    from chalicelib.credentials import TwilioCredentials

UNREACHABLE = {21211, 21612, 21614, 21408, 21606}
THROTTLED = {20429}
# 20003 (authentication) is our configuration, not the customer: retry, then dead-letter with the
# reason so the records can be redriven once the credentials are fixed.
CONFIG_FAULTS = {20003}


class TwilioSms:
    def __init__(self, client: Any, sender: str, validity_period_s: int = 3600):
        self._client = client
        self._sender = sender
        self._validity = validity_period_s

    def send(self, to: str, body: str, status_callback: str) -> str:
        from requests import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        sender = ({"messaging_service_sid": self._sender} if self._sender.startswith("MG")
                  else {"from_": self._sender})
        try:
            message = self._client.messages.create(
                to=to, body=body, status_callback=status_callback,
                validity_period=self._validity, **sender)
        except TwilioRestException as exc:
            raise _named(exc) from exc
        except (TwilioException, RequestException) as exc:     # connection errors, timeouts
            raise RetryableSendError(f"twilio unreachable: {type(exc).__name__}", in_doubt=True) from exc
        return str(message.sid)


def _named(exc: Any) -> Exception:
    code = int(exc.code or 0)
    if code == 21610:
        return RecipientOptedOut("twilio 21610")
    if code in UNREACHABLE:
        return UndeliverableRecipient(str(code), "recipient cannot receive SMS")
    if code in CONFIG_FAULTS:
        return CredentialsRejected(f"twilio {code}")
    if code in THROTTLED or exc.status == 429:
        return RetryableSendError(f"twilio {code or exc.status}")       # refused: nothing went out
    if exc.status >= 500:
        return RetryableSendError(f"twilio {code or exc.status}", in_doubt=True)
    return UndeliverableRecipient(str(code or exc.status), "rejected by twilio")


class RotatingTwilioSms:
    """Twilio on the credentials of the moment: read (through the secret's cache) on each send, one
    SDK client kept per credentials. When Twilio refuses them (20003: a token rotated since the
    cache last read it), the secret is read again once and, if it changed, the send tried again."""

    def __init__(self, credentials: Callable[[bool], TwilioCredentials],
                 build: Callable[[TwilioCredentials], TwilioSms]):
        self._credentials = credentials           # fresh -> the Twilio secret
        self._build = build
        self._senders: dict[TwilioCredentials, TwilioSms] = {}

    def send(self, to: str, body: str, status_callback: str) -> str:
        credentials = self._credentials(False)
        try:
            return self._sender(credentials).send(to, body, status_callback)
        except CredentialsRejected:
            fresh = self._credentials(True)
            if fresh == credentials:
                raise
            count("TwilioCredentialsReread")
            logger.info("twilio refused the cached credentials; sending with the secret read again")
            return self._sender(fresh).send(to, body, status_callback)

    def _sender(self, credentials: TwilioCredentials) -> TwilioSms:
        if credentials not in self._senders:
            self._senders = {credentials: self._build(credentials)}     # only the newest is kept
        return self._senders[credentials]


class SignatureCheck:
    """X-Twilio-Signature over the URL Twilio was configured with and every POSTed field, against
    the current auth token or the previous one (during a rotation: Twilio signs with its primary
    token, and promoting the secondary one changes which that is before koe's cache has seen it).
    On a mismatch against cached tokens the secret is read again once (`tokens(True)`) before the
    request is refused: a forged request costs one extra read and still gets its 403."""

    def __init__(self, tokens: Callable[[bool], Sequence[str]]):
        self._tokens = tokens                     # fresh -> the auth tokens, current first

    def verify(self, url: str, params: Mapping[str, str], signature: str | None) -> None:
        if not signature:
            raise InvalidSignature("X-Twilio-Signature does not match")
        cached = tuple(self._tokens(False))
        if _signed_by(cached, url, params, signature):
            return
        fresh = tuple(self._tokens(True))
        if fresh != cached and _signed_by(fresh, url, params, signature):
            count("TwilioTokenReread")
            return
        raise InvalidSignature("X-Twilio-Signature does not match")


def _signed_by(tokens: Sequence[str], url: str, params: Mapping[str, str], signature: str) -> bool:
    from twilio.request_validator import RequestValidator

    return any(RequestValidator(token).validate(url, dict(params), signature) for token in tokens)
