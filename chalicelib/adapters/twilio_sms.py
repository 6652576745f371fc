"""Twilio: sending through the real SDK and verifying webhook signatures.

Error codes (Twilio's documentation): 21610 opted out; 21211/21614/21612/21408 cannot be reached; 20429 or
HTTP 429 throttled; 5xx and network faults are passing. Everything else is a rejection we name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.errors import InvalidSignature, RecipientOptedOut, RetryableSendError, UndeliverableRecipient

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
            raise RetryableSendError(f"twilio unreachable: {type(exc).__name__}") from exc
        return str(message.sid)


def _named(exc: Any) -> Exception:
    code = int(exc.code or 0)
    if code == 21610:
        return RecipientOptedOut("twilio 21610")
    if code in UNREACHABLE:
        return UndeliverableRecipient(str(code), "recipient cannot receive SMS")
    if code in THROTTLED | CONFIG_FAULTS or exc.status == 429 or exc.status >= 500:
        return RetryableSendError(f"twilio {code or exc.status}")
    return UndeliverableRecipient(str(code or exc.status), "rejected by twilio")


class SignatureCheck:
    """X-Twilio-Signature over the URL Twilio was configured with and every POSTed field."""

    def __init__(self, auth_token: str):
        from twilio.request_validator import RequestValidator

        self._validator = RequestValidator(auth_token)

    def verify(self, url: str, params: Mapping[str, str], signature: str | None) -> None:
        if not signature or not self._validator.validate(url, dict(params), signature):
            raise InvalidSignature("X-Twilio-Signature does not match")
