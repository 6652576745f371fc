"""The customer's pages (the web survey `/s/{token}`, the unsubscribe link `/u/{token}`) answer every
error as a page a person reads, in their browser's language (ja, zh or en, templates/web/), never as
the API's JSON error shape: a body too large (413), a post that is not a form (415), a method the
page does not take (405), the store busy (503), a fault (500). The status stays what it was.

One middleware, registered before the HTTP edge's (chalicelib/http.py) so that it is the outer one
and sees the edge's own refusals too; it leaves every other route alone. The pages themselves turn
what they can read into their own pages (services/web_survey.py): this is the net under them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib import http
from chalicelib.observability import count, logger

if TYPE_CHECKING:       # the ports import most of the domain: not at import time (app.py imports this)
    from chalicelib.services.ports import Pages

CUSTOMER_PAGES = frozenset({"/s/{token}", "/u/{token}"})      # Chalice's resource paths

Middleware = Callable[[Any, Callable[[Any], Response]], Response]


def error_pages(pages: Callable[[], Pages]) -> Middleware:
    """The middleware; `pages` gives the renderer when an error needs it (built lazily, not at import)."""

    def middleware(request: Any, get_response: Callable[[Any], Response]) -> Response:
        if request.context.get("resourcePath") not in CUSTOMER_PAGES:
            return get_response(request)
        try:
            response = get_response(request)
        except Exception:  # noqa: BLE001 - a fault: logged with its traceback, answered as a page (500)
            logger.exception("customer page failed", extra={"route": request.context.get("resourcePath")})
            return _page(500, request, pages())
        if response.status_code < 400 or not _is_json_error(response):
            return response
        return _page(response.status_code, request, pages())

    return middleware


def _is_json_error(response: Response) -> bool:
    """The API's error shape ({"error", "code"}), or Chalice's own ({"Code", "Message"})."""
    body = response.body
    return isinstance(body, dict) and ({"error", "code"} <= set(body) or {"Code", "Message"} <= set(body))


def _page(status: int, request: Any, renderer: Pages) -> Response:
    from chalicelib.services.web_survey import error_page

    count("CustomerPageError", status=str(status))
    html = error_page(status, request.headers.get("accept-language"), renderer)
    return http.html(html, status, renderer.content_security_policy)
