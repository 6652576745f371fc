"""The web survey page (`/s/{token}`): what a customer holding a signed link sees, and what a form
post is allowed to record. Pure: the survey and the current time come in as arguments.

A survey's page is in one of four states:

- `open`: the survey is open and its response window has not passed, and no score is recorded yet:
  the form (a score on the survey's scale, 0-10, 1-5 or 1-7: domain/questions.py, and a comment);
- `answered`: a score is recorded: a thank-you page that still takes a comment (each one is kept,
  with its time, up to MAX_COMMENTS) until `COMMENT_DAYS` after the survey was created;
- `closed`: anything else (expired, failed, opted out, an open survey past its window or one that
  cannot be answered yet): the survey is over (410);
- not found: the token is not one koe signed, or its survey does not exist (404).

The same pages serve an email's unsubscribe link (`/u/{token}`): `unsubscribe` asks to confirm (a
GET never unsubscribes: mail scanners open every link), `unsubscribed` says it is done.

A form post is read strictly (`read_form`): UTF-8, every %-escape whole, each field once. A body that
is none of these (`score=1&score=10`, `%E3%81`, `%zz`) is refused (UnreadableForm: the page again
with an error, 400), never half-read into a score or a comment of U+FFFD characters. Whatever
else goes wrong on a customer's page is a page too (`PageKind.ERROR`, in their language), never JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import unquote_to_bytes

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.languages import DEFAULT_LANGUAGE
from chalicelib.domain.languages import LANGUAGES as KOE_LANGUAGES
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.domain.questions import Scale, in_scale

# templates/web/<language>.toml; the default first, as the pages' language switchers list them
LANGUAGES = (DEFAULT_LANGUAGE, *(language for language in KOE_LANGUAGES if language != DEFAULT_LANGUAGE))
MAX_COMMENT = 1000                   # characters; the textarea says so too (maxlength)
COMMENT_DAYS = 7                     # an answered survey takes a (later) comment this long after it was created
MAX_COMMENTS = 20                    # comments kept per survey: 20 x 1,000 characters stay far below an item's 400 KB
FORM_FIELDS = ("score", "comment")   # what the form sends; anything else in a post is ignored


class PageKind(StrEnum):
    FORM = "form"                    # the question, a score on the survey's scale, "why?"
    THANKS = "thanks"                # answered; the comment box while comments are taken
    CLOSED = "closed"                # the survey is over: 410
    NOT_FOUND = "not_found"          # not a token koe signed, or no such survey: 404
    UNSUBSCRIBE = "unsubscribe"      # /u/{token}: "stop survey emails to this address?" and a button
    UNSUBSCRIBED = "unsubscribed"    # /u/{token} after the POST (or the one-click POST of a mail client)
    ERROR = "error"                  # a request the page cannot serve (too large, not a form, try later)


class PageError(StrEnum):
    """What was wrong with a post (shown on the form or the thank-you page again, 400), or why the
    error page (`PageKind.ERROR`) is shown."""

    SCORE_REQUIRED = "score_required"
    COMMENT_TOO_LONG = "comment_too_long"
    FORM_UNREADABLE = "form_unreadable"          # not UTF-8, a broken %-escape, a field twice
    TOO_MANY_COMMENTS = "too_many_comments"      # the survey holds MAX_COMMENTS already
    # The error page: what the edge refused, by its status (`error_for_status`).
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    NOT_A_FORM = "not_a_form"
    TRY_LATER = "try_later"


class UnreadableForm(ValueError):
    """A form post koe will not guess at; the message says why (for the logs: never the body)."""


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")        # a % not followed by two hex digits


def read_form(raw: str | bytes | None) -> dict[str, str]:
    """The form's fields (FORM_FIELDS), read strictly: a body that is not UTF-8, a %-escape that is
    cut short or not hex, escapes that decode to no UTF-8, or one of the fields given twice is
    UnreadableForm. Other fields are ignored; a field with no `=` is an empty one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableForm("the body is not UTF-8") from exc
    fields: dict[str, str] = {}
    for part in (raw or "").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = _unescape(name), _unescape(value)
        if name not in FORM_FIELDS:
            continue
        if name in fields:
            raise UnreadableForm(f"{name} is given more than once")
        fields[name] = value
    return fields


def _unescape(text: str) -> str:
    if _ESCAPE.search(text):
        raise UnreadableForm("a %-escape is not two hex digits")
    try:
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableForm("the %-escapes are not UTF-8") from exc


# The status of a request the edge refused -> what the error page says.
_STATUS_ERRORS: Mapping[int, PageError] = {400: PageError.BAD_REQUEST, 413: PageError.TOO_LARGE,
                                           415: PageError.NOT_A_FORM}


def error_for_status(status: int) -> PageError:
    """What a customer's error page says for an error status: a 4xx is named when koe knows it
    (another is a bad request); a 5xx asks them to try again later."""
    if status >= 500:
        return PageError.TRY_LATER
    return _STATUS_ERRORS.get(status, PageError.BAD_REQUEST)


@dataclass(frozen=True)
class Page:
    """Everything a page shows; the renderer adds the words of `language`."""

    kind: PageKind
    language: str = DEFAULT_LANGUAGE
    procedure: str = ""
    scale: Scale = Scale.NPS          # the form: the survey's scale (its question, scores and end labels)
    score: int | None = None          # the form: the score pre-selected (never recorded by showing it)
    comment: str = ""                 # the form: what the customer typed, shown again with an error
    error: PageError | None = None
    comment_open: bool = False        # the thank-you page: offer the comment box
    comment_saved: bool = False       # the thank-you page: a comment was just stored
    address: str = ""                 # the unsubscribe pages: the email address, masked


class State(StrEnum):
    OPEN = "open"
    LATE = "late"            # the window has passed, no score yet: an answer is kept as late
    ANSWERED = "answered"
    CLOSED = "closed"


LATE_DAYS = 30               # how long after the survey a late answer is still taken


def state(survey: Survey, now: datetime) -> State:
    """Where the survey's page stands at `now` (see the module docstring)."""
    answerable = lifecycle.is_open(survey.status) and SurveyStatus.ANSWERED in lifecycle.ALLOWED[survey.status]
    if answerable and survey.open_until is not None and now < survey.open_until:
        return State.ANSWERED if survey.score is not None else State.OPEN
    if survey.status in (SurveyStatus.ANSWERED, SurveyStatus.LATE) and survey.score is not None:
        return State.ANSWERED
    past_window = survey.status is SurveyStatus.EXPIRED or (answerable and survey.open_until is not None)
    if past_window and survey.score is None and now < survey.created_at + timedelta(days=LATE_DAYS):
        return State.LATE
    return State.CLOSED


def takes_comment(survey: Survey, now: datetime) -> bool:
    """An answered survey still takes a comment (or a new one) at `now`."""
    return state(survey, now) is State.ANSWERED and now < survey.created_at + timedelta(days=COMMENT_DAYS)


def read_score(raw: str | None, scale: Scale = Scale.NPS) -> int | None:
    """A score from the form or the link's `?score=` on the survey's scale ("0" to "10" on NPS, "1"
    to "5" on CSAT, "1" to "7" on CES; ASCII digits), else None: a "9" posted to a CSAT survey is
    no answer (the form again, asking for 1 to 5)."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 2):
        return None
    score = int(text)
    return score if in_scale(scale, score) else None


def masked_address(address: str | None) -> str:
    """hanako@example.jp -> h*****@example.jp: enough for its owner to recognise, no more."""
    local, at, domain = (address or "").strip().rpartition("@")
    if not at or not local:
        return ""
    return f"{local[0]}{'*' * max(len(local) - 1, 1)}@{domain}"


def read_comment(raw: str | None) -> str:
    """The comment as stored: surrounding blanks removed, Windows line ends as \\n."""
    return (raw or "").replace("\r\n", "\n").strip()


def page_language(locale: str | None) -> str:
    """ja-JP -> ja, zh-Hant-TW -> zh; anything without a web page falls back to English."""
    language = (locale or "").split("-")[0].split("_")[0].strip().lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def preferred_language(accept_language: str | None) -> str:
    """The first language of an Accept-Language header koe has a page in (by q-value, then order),
    else English. Used when there is no survey to take the language from."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().split("-")[0].lower()
        if quality > 0 and language in LANGUAGES:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
