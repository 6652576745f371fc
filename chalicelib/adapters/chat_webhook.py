"""Chat webhooks (Slack's incoming webhooks, and the many chat tools that read the same JSON): one
POST of `{"text": ...}` per alert, with the standard library (urllib), 5 s timeout.

What the answer means:
- 2xx -> delivered;
- 429, 5xx, a timeout, a connection error -> RetryableSendError (the record is retried with backoff);
- any other status (400 a payload the hook refuses, 403/404/410 a revoked or deleted hook) ->
  UndeliverableRecipient(`http_<status>`, carrier "chat"): retrying cannot help.

A webhook URL is a secret (whoever holds it can post to the channel): it never appears in an error,
a log line or the ledger (destinations are named by a hash, domain/alert_delivery.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from chalicelib.domain.alert_delivery import AlertContent, chat_payload
from chalicelib.errors import RetryableSendError, UndeliverableRecipient

TIMEOUT_S = 5.0
USER_AGENT = "koe-alerts/1"

Opener = Callable[..., Any]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook answers, it does not redirect: a 3xx is an answer to judge, not to follow (urllib
    would turn the POST into a GET elsewhere)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class ChatWebhook:
    def __init__(self, timeout_s: float = TIMEOUT_S, opener: Opener | None = None):
        self._timeout = timeout_s
        self._open = opener or _OPENER.open

    def deliver(self, address: str, content: AlertContent) -> None:
        self.post(address, chat_payload(content))

    def post(self, url: str, payload: dict[str, Any]) -> None:
        if not url.startswith(("https://", "http://")):     # never file:, ftp: ... (urllib opens those)
            raise UndeliverableRecipient("not_http", "a chat webhook is an http(s) URL", carrier="chat")
        request = urllib.request.Request(
            url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT})
        try:
            with self._open(request, timeout=self._timeout) as response:
                status = int(response.status)
                response.read(1024)             # let the connection finish cleanly; the body says "ok"
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RetryableSendError(f"chat webhook unreachable: {type(exc).__name__}") from exc
        _judge(status)


def _judge(status: int) -> None:
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500:
        raise RetryableSendError(f"chat webhook answered {status}")
    raise UndeliverableRecipient(f"http_{status}", "webhook refused the message", carrier="chat")
