"""The HTTP edge: who is calling (a Principal), which roles each route is open to, the one table
that maps koe's named errors to status codes, and the one JSON error shape every route answers
with, Chalice's own errors (unsupported media type, unparseable JSON, ...) included:

    {"error": "<what is wrong, for a person>", "code": "<stable machine code>", ...details}

Also the helpers for Twilio's signed form posts and TwiML answers, and for the web survey's pages.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from chalice.app import Chalice, ChaliceViewError, Request, Response

from chalicelib.auth import Authenticator, authenticate
from chalicelib.domain import sms
from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import (
    CaseNotFound,
    Forbidden,
    InvalidCaseState,
    InvalidRequest,
    InvalidSignature,
    InvalidWebhook,
    RetryableError,
    SettingsError,
    Unauthenticated,
    UnknownOwner,
    UnsupportedMediaType,
    VersionConflict,
)
from chalicelib.observability import count, logger

T = TypeVar("T")

TWIML: dict[str, str | list[str]] = {"Content-Type": "text/xml; charset=utf-8"}
PRINCIPAL = "koe.principal"      # where the authenticated principal rides on the request context
UNAUTHENTICATED = ("missing or invalid credentials: operations systems send x-api-key, "
                   "the CX team Authorization: Bearer <ID token>")

# Named error -> (status, code). The first class an error is an instance of wins: list the more
# specific first. Anything not listed is a bug: Chalice answers 500 (reshaped below) and logs it.
ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (Unauthenticated, 401, "unauthenticated"),
    (CaseNotFound, 404, "case_not_found"),
    (VersionConflict, 409, "version_conflict"),
    (InvalidCaseState, 409, "invalid_state"),
    (Forbidden, 403, "forbidden"),
    (InvalidSignature, 403, "invalid_signature"),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
    (UnknownOwner, 400, "unknown_owner"),
    (InvalidRequest, 400, "invalid_request"),
    (RetryableError, 503, "retry_later"),
    # A missing or malformed setting, secret or configuration document: the named error goes to the
    # logs (and the ConfigurationRefused metric); the caller learns only that koe cannot answer now.
    (SettingsError, 503, "misconfigured"),
)
MISCONFIGURED = "koe cannot read its configuration; its operators are alerted"

# What a path no route has answers (404), in the one shape: locally (devstack/local_http.py) and in
# AWS, where API Gateway answers it itself (infra/stack.py sets this as its gateway response).
NO_ROUTE: Final[Mapping[str, str]] = MappingProxyType(
    {"error": "no such route: see docs/api.md for koe's routes", "code": "not_found"})

# The intake's outcome per request -> status (services/ingest.py names the outcome).
INGEST_STATUS: Mapping[str, int] = {"accepted": 202, "retry": 503, "conflict": 409, "rejected": 400}

# The web survey page's outcome -> status (services/web_survey.py and services/unsubscribe.py name it).
WEB_STATUS: Mapping[str, int] = {"form": 200, "thanks": 200, "invalid": 400, "closed": 410, "not_found": 404,
                                 "unsubscribe": 200, "unsubscribed": 200}

# In front of every route: a body larger than this is refused before anything reads it. 100 events
# of a few hundred bytes each fit many times over; API Gateway's own limit is 10 MB.
MAX_BODY_BYTES = 1024 * 1024
# JSON deeper than this is refused: koe's event is 3 levels deep; a deeper body is an attack or a bug.
MAX_JSON_DEPTH = 32

View = Callable[..., Any]


class _Public:
    def __repr__(self) -> str:
        return "PUBLIC"


# A route open without credentials: it checks its own proof (a Twilio signature, a signed token).
PUBLIC: Final = _Public()


def error_body(status: int, code: str, message: str, **details: Any) -> Response:
    return Response({"error": message, "code": code, **details}, status_code=status)


def error_response(exc: Exception) -> Response | None:
    """The response for a named error, or None when koe has no mapping for it."""
    for kind, status, code in ERRORS:
        if isinstance(exc, kind):
            details = exc.details if isinstance(exc, InvalidRequest) else {}
            if isinstance(exc, VersionConflict) and exc.current_version is not None:
                details = {"current_version": exc.current_version}
            if isinstance(exc, SettingsError):
                count("ConfigurationRefused")
                logger.error("configuration refused", extra={"error": str(exc)})
                return error_body(status, code, MISCONFIGURED)
            return error_body(status, code, str(exc), **details)
    if isinstance(exc, ChaliceViewError):      # e.g. BadRequestError from an unparseable JSON body
        return error_body(exc.STATUS_CODE, _snake(type(exc).__name__), str(exc))
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).lower() or "error"


class Edge:
    """Routes with declared roles, authentication in one middleware, errors in one shape.

    `route(path, roles=...)` is `app.route` plus the roles the route is open to (or PUBLIC); the
    middleware authenticates every request to a protected route before anything else runs (401),
    checks the role (403) and leaves the principal on the request for the view (`principal()`).
    Adding a role-protected route touches neither the middleware nor this class.
    """

    def __init__(self, app: Chalice, authenticators: Callable[[], Sequence[Authenticator]]):
        self._app = app
        self._authenticators = authenticators          # built on first use, not at import
        self._roles: dict[tuple[str, str], frozenset[Role]] = {}
        app.register_middleware(self._middleware, "http")

    def route(self, path: str, *, roles: Iterable[Role] | _Public, methods: Sequence[str] = ("GET",),
              **options: Any) -> Callable[[View], View]:
        def register(view: View) -> View:
            if not isinstance(roles, _Public):
                allowed = frozenset(roles)
                if not allowed:
                    raise ValueError(f"{path}: name the roles it is open to, or PUBLIC")
                self._roles.update({(path, method.upper()): allowed for method in methods})
            self._app.route(path, methods=list(methods), **options)(_mapping_errors(view))
            return view
        return register

    def protected_routes(self) -> Mapping[tuple[str, str], frozenset[Role]]:
        """(path, METHOD) -> the roles it is open to, for every role-protected route (read-only): what
        infra/ attaches the Cognito authorizer by, and what the authorisation tests iterate."""
        return MappingProxyType(dict(self._roles))

    def request(self) -> Request:
        """The request being handled (a view runs only while there is one)."""
        request = self._app.current_request
        if request is None:
            raise RuntimeError("no request is being handled")
        return request

    def principal(self) -> Principal:
        """The authenticated caller of the current (protected) request."""
        principal = self.request().context.get(PRINCIPAL)
        if not isinstance(principal, Principal):
            raise Unauthenticated("this route has no authenticated caller")
        return principal

    def _middleware(self, request: Any, get_response: Callable[[Any], Response]) -> Response:
        refused = _too_large(request) or self._authorise(request)
        response = refused or get_response(request)
        # Answers carry personal data (scores, cases, comments, a customer's page) or say who may
        # see them: no cache keeps one, unless the route says otherwise (the dashboard's scripts).
        response.headers.setdefault("Cache-Control", "no-store")
        return _one_error_shape(response)

    def _authorise(self, request: Any) -> Response | None:
        context = request.context
        allowed = self._roles.get((context.get("resourcePath", ""), request.method.upper()))
        if allowed is None:
            return None
        principal = authenticate(self._authenticators(), request.headers, context)
        if principal is None:
            count("RequestUnauthenticated")
            return error_body(401, "unauthenticated", UNAUTHENTICATED)
        if principal.role not in allowed:
            count("RequestForbidden")
            logger.warning("role refused", extra={"subject": principal.subject, "role": principal.role.value,
                                                  "route": context.get("resourcePath")})
            return error_body(403, "forbidden", f"this route is not open to the role {principal.role.value}")
        context[PRINCIPAL] = principal
        return None


def _too_large(request: Any) -> Response | None:
    size = len(request.raw_body or b"")
    if size <= MAX_BODY_BYTES:
        return None
    count("RequestTooLarge")
    return error_body(413, "payload_too_large", f"the body is {size} bytes; at most {MAX_BODY_BYTES} are accepted")


def json_body(request: Request) -> Any:
    """The request's JSON body, or InvalidRequest saying exactly what is wrong with it: no content
    type, another content type, not UTF-8, not JSON, NaN or Infinity (not JSON, and could not be
    echoed back as JSON), nested deeper than MAX_JSON_DEPTH."""
    content_type = request.headers.get("content-type")
    if not content_type:
        raise UnsupportedMediaType("the request has no Content-Type: send Content-Type: application/json")
    if not content_type.split(";")[0].strip().lower() == "application/json":
        raise UnsupportedMediaType(f"Content-Type is {content_type!r}: send application/json")
    raw = request.raw_body or b""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        body = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the body is not UTF-8") from exc
    except RecursionError as exc:
        raise InvalidRequest(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:      # json.JSONDecodeError, and _refuse_constant's
        raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:          # deeper than that is refused anyway: stop counting
            stack.extend((child, level + 1) for child in children)
    return deepest


def _mapping_errors(view: View) -> View:
    @functools.wraps(view)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            response = error_response(exc)
            if response is None:
                raise            # a bug: Chalice logs it and answers 500
            return response
    return mapped


def _one_error_shape(response: Response) -> Response:
    """Chalice answers its own errors (415, 405, 500, ...) as {"Code", "Message"}: reshape them."""
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        response.body = {"error": str(body["Message"]), "code": _snake(str(body["Code"]))}
    return response


# --- Twilio webhooks ------------------------------------------------------------------------------

def form_params(raw_body: str | bytes | None) -> dict[str, str]:
    """Twilio's form fields, blanks kept: the signature covers every field, empty ones too.
    Twilio sends UTF-8 only: other bytes are a named 400, before anything else is read."""
    try:
        text = raw_body.decode("utf-8") if isinstance(raw_body, bytes) else (raw_body or "")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the form body is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def signed_url(base_url: str, query: Mapping[str, str] | None) -> str:
    """The URL Twilio signed: the configured public URL plus the query string we gave it."""
    return f"{base_url}?{urlencode(query)}" if query else base_url


def verify_twilio(check: Any, url: str, params: dict[str, str], headers: Mapping[str, str]) -> None:
    """Returns when the request is Twilio's; raises InvalidSignature (403, nothing changed) otherwise."""
    try:
        check.verify(url, params, headers.get("x-twilio-signature"))
    except InvalidSignature:
        count("WebhookForged")
        logger.warning("rejected webhook with a bad signature", extra={"url": url.split("?")[0]})
        raise


def verify_line(webhook: Any, raw_body: str | bytes, headers: Mapping[str, str]) -> list[Any]:
    """The events of a webhook LINE signed (x-line-signature over the raw body); InvalidSignature
    (403, nothing changed) when the signature is missing or forged, InvalidWebhook (400) when the
    signed body is not LINE's shape. The signature is over the bytes LINE sent."""
    body = raw_body if isinstance(raw_body, bytes) else raw_body.encode("utf-8")
    try:
        return list(webhook.read(body, headers.get("x-line-signature")))
    except InvalidSignature:
        count("WebhookForged")
        logger.warning("rejected webhook with a bad signature", extra={"url": "/line/webhook"})
        raise


def verify_wechat(webhook: Any | None, params: Mapping[str, str], raw_body: str | bytes, now: datetime) -> Any:
    """The notice of a push the service account's Token signed (adapters/wechat.WeChatWebhook: the query's
    signature, timestamp and nonce, no older than 5 minutes); InvalidSignature (403, nothing changed)
    when forged, missing or stale, and where WeChat is off on this stage (`webhook` None); InvalidWebhook
    (400) when the signed body is not WeChat's plaintext XML."""
    body = raw_body if isinstance(raw_body, bytes) else raw_body.encode("utf-8")
    return _wechat_signed(lambda found: found.read(params, body, now=now), webhook)


def verify_wechat_echo(webhook: Any | None, params: Mapping[str, str], now: datetime) -> str:
    """WeChat's server check (a GET when the URL is saved in its console): its echostr, once signed."""
    return str(_wechat_signed(lambda found: found.echo(params, now=now), webhook))


def _wechat_signed(read: Callable[[Any], T], webhook: Any | None) -> T:
    try:
        if webhook is None:
            raise InvalidSignature("WeChat is off on this stage")
        return read(webhook)
    except InvalidSignature:
        count("WebhookForged")
        logger.warning("rejected webhook with a bad signature", extra={"url": "/wechat/events"})
        raise


def text(body: str) -> Response:
    """A plain-text answer (what WeChat reads back)."""
    return Response(body, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"})


def verify_token(expected: str | None, given: str, route: str) -> None:
    """Returns when `given` (the last part of a receipt URL) is the configured token; InvalidSignature
    (403, nothing changed) otherwise, also where no token is configured (`expected` None: the feature is
    off on this stage). For a provider whose push carries no signature (Alibaba Cloud SMS): the URL given
    in its console is the secret. Compared in constant time; never logged."""
    if expected is not None and given and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        return
    count("WebhookForged")
    logger.warning("rejected a receipt push without the configured token", extra={"url": route})
    raise InvalidSignature("the receipt URL's token is not koe's")


def alibaba_receipts(raw_body: str | bytes, parse: Callable[[bytes], list[T]], route: str) -> list[T]:
    """The receipts of one Alibaba push (domain/cn_sms.parse_reports or parse_replies); InvalidWebhook
    (400, nothing changed, `reason` unreadable_receipt, the message naming the item and field, never a
    value) when the body is not their shape: counted and logged, so nothing is lost silently (Alibaba
    pushes again what was not answered with success)."""
    from chalicelib.domain.cn_sms import UnreadableReceipt

    body = raw_body if isinstance(raw_body, bytes) else raw_body.encode("utf-8")
    try:
        return parse(body)
    except UnreadableReceipt as exc:
        count("ReceiptUnreadable")
        logger.warning("unreadable receipt push", extra={"url": route, "error": str(exc), "length": len(body)})
        raise InvalidWebhook(f"not Alibaba's receipt push: {exc}", reason="unreadable_receipt") from exc


def twilio_ids(fields: Mapping[str, str]) -> None:
    """InvalidRequest naming an id no Twilio webhook carries, before any store is asked: MessageSid
    (always SM/MM and 32 hex digits) and the `survey` koe put in the status callback URL (an event id)."""
    if not sms.is_message_sid(fields["MessageSid"]):
        raise InvalidRequest("MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)")
    if len(fields.get("survey", "")) > MAX_EVENT_ID_CHARS:
        raise InvalidRequest(f"survey is at most {MAX_EVENT_ID_CHARS} characters (a survey is named by its event id)")


def require(params: Mapping[str, str | None], *names: str) -> None:
    """InvalidRequest naming the fields when any of `names` is missing or empty."""
    if not all(params.get(name) for name in names):
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        raise InvalidRequest(f"{listed} {'is' if len(names) == 1 else 'are'} required")


def twiml(message: str | None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    status_code=200, headers=TWIML)


# --- pages for people (the web survey) -----------------------------------------------------------

def html(body: str, status: int, content_security_policy: str) -> Response:
    """A page for a customer's browser: never cached (it shows a survey's state), never framed,
    no referrer sent on (the URL carries the survey's token), no scripts (the policy says so)."""
    return Response(body, status_code=status, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": content_security_policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
    })


def screen(shown: Any, content_security_policy: str) -> Response:
    """A dashboard answer (services/dashboard.Screen): a page, or a redirect (303), with its cookies."""
    if shown.location is not None:
        response = Response("", status_code=shown.status, headers={
            "Location": shown.location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    else:
        response = html(shown.html or "", shown.status, content_security_policy)
    if shown.cookies:
        response.headers["Set-Cookie"] = shown.cookies[0] if len(shown.cookies) == 1 else list(shown.cookies)
    return response


def asset(body: bytes, content_type: str) -> Response:
    """A static file the dashboard loads (its scripts, UTF-8 text): the same for everyone, cached an hour."""
    return Response(body.decode("utf-8"), status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff"})


# --- files for people (the answers export) -------------------------------------------------------

def csv_file(body: str, file_name: str, *, next_cursor: str | None = None, next_url: str | None = None) -> Response:
    """A CSV download (a str: the BOM and the text, not JSON), never cached (answers are personal
    data). More to read: the cursor in X-Koe-Next-Cursor, and the next page's URL as Link rel=next."""
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if next_cursor:
        headers["X-Koe-Next-Cursor"] = next_cursor
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return Response(body, status_code=200, headers=headers)
