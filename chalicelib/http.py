"""The HTTP edge: API keys, Twilio's signed form posts, TwiML, and the one mapping of errors to
HTTP status codes."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from chalice import Response

from chalicelib.errors import InvalidSignature
from chalicelib.observability import count, logger

TWIML = {"Content-Type": "text/xml; charset=utf-8"}


def api_key_valid(presented: str | None, keys: Sequence[str]) -> bool:
    if not presented:
        return False
    # compare_digest against every key: no early exit that would time which one nearly matched
    return any([hmac.compare_digest(presented.encode(), key.encode()) for key in keys])


def unauthorized() -> Response:
    return Response({"error": "missing or invalid x-api-key"}, status_code=401)


def bad_request(message: str, **extra: Any) -> Response:
    return Response({"error": message, **extra}, status_code=400)


def form_params(raw_body: bytes | None) -> dict[str, str]:
    """Twilio's form fields, blanks kept: the signature covers every field, empty ones too."""
    return dict(parse_qsl((raw_body or b"").decode("utf-8"), keep_blank_values=True))


def signed_url(base_url: str, query: dict[str, str] | None) -> str:
    """The URL Twilio signed: the configured public URL plus the query string we gave it."""
    return f"{base_url}?{urlencode(query)}" if query else base_url


def verify_twilio(check: Any, url: str, params: dict[str, str], headers: Any) -> Response | None:
    """None when the request is Twilio's; otherwise the 403 to answer (and nothing is changed)."""
    try:
        check.verify(url, params, headers.get("x-twilio-signature"))
    except InvalidSignature:
        count("WebhookForged")
        logger.warning("rejected webhook with a bad signature", extra={"url": url.split("?")[0]})
        return Response({"error": "invalid signature"}, status_code=403)
    return None


def twiml(message: str | None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    status_code=200, headers=TWIML)
