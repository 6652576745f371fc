"""Every answered survey with its context, as a CSV file for a spreadsheet (GET /v1/responses.csv):
one row per survey (its score, the score's class, every comment with its time), over a period of days (`from`..`to`
in the reporting time zone, default the last 30), filtered by procedure, branch, agent, channel,
locale and scale. Columns and encoding: domain/exports.py.

Each role reads what it may see, as in GET /v1/comments (domain/principal.narrowed): a branch
manager their branch's answers, an agent the answers on their own service; a filter outside that
scope answers a file with the header row only (never a 403: no existence leak).

Size: Lambda returns at most 6 MB from a synchronous invocation, measured on the JSON it serialises
the response into (domain/exports.payload_bytes). Rows are added while the body stays within
`budget`; the rest is another request away: the answer names the last row's position as an opaque
cursor (X-Koe-Next-Cursor, and a Link rel="next" that repeats the period and the filters), and the
next request resumes right after it.

Cost: the answers of the period are read once each (and the kept answers' comments), whatever the
table holds besides (adapters/dynamo/answers.py); `items_read` says how many.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from chalicelib.domain import channels
from chalicelib.domain.events import PROCEDURE  # as the event schema has it
from chalicelib.domain.exports import (
    Position,
    Selection,
    UnreadableCursor,
    csv_line,
    decode_cursor,
    encode_cursor,
    file_name,
    file_start,
    payload_bytes,
    position,
    row,
)
from chalicelib.domain.principal import Principal, narrowed
from chalicelib.domain.questions import Scale
from chalicelib.errors import InvalidRequest
from chalicelib.observability import logger
from chalicelib.services.ports import AnswerArchive, AnswerPeriod
from chalicelib.services.query_params import day_bounds, one_of, period, refuse_unknown

QUERY_PARAMETERS = frozenset({"from", "to", "procedure", "branch", "agent", "channel", "locale", "scale", "cursor"})
# Under Lambda's 6 MB (6,291,456 bytes) with room for the headers and the response's JSON envelope.
BODY_BUDGET = 5_000_000
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")     # BCP 47, as the event schema has it
MAX_CONTEXT_VALUE = 256                                        # a context value's length in the event schema
# Selection field -> its query parameter, in the order the next page's link repeats them.
FILTERS = {"procedure": "procedure", "branch": "branch", "agent_id": "agent", "channel": "channel",
           "locale": "locale", "scale": "scale"}


class InvalidExportQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


class InvalidExportCursor(InvalidExportQuery):
    """A cursor this export did not give out: start again without it (400 at the edge)."""


@dataclass(frozen=True)
class ExportDeps:
    archive: AnswerArchive
    reporting_tz: ZoneInfo
    budget: int = BODY_BUDGET            # the body's payload_bytes at most (tests make it small)


@dataclass(frozen=True)
class ExportQuery:
    from_day: str
    to_day: str
    selection: Selection = Selection()
    after: Position | None = None        # resume after this row (the previous page's cursor)


@dataclass(frozen=True)
class Export:
    body: str                            # BOM, header row, rows (CRLF)
    file_name: str
    rows: int
    items_read: int
    next_cursor: str | None              # None: this was the last page
    next_query: str | None               # the next page's query string: the period, the filters, the cursor


def parse_query(params: Mapping[str, str] | None, today: date) -> ExportQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidExportQuery)
    from_day, to_day = period(params, today, InvalidExportQuery)
    try:
        channel = one_of(params, "channel", list(channels.names()))
        scale = one_of(params, "scale", [s.value for s in Scale])
    except InvalidRequest as exc:
        raise InvalidExportQuery(str(exc)) from exc
    procedure, locale = params.get("procedure") or None, params.get("locale") or None
    if procedure is not None and not PROCEDURE.fullmatch(procedure):
        raise InvalidExportQuery("procedure is lower_snake_case, e.g. claim_payment")
    if locale is not None and not LOCALE.match(locale):
        raise InvalidExportQuery("locale is a BCP 47 tag, e.g. ja-JP")
    branch, agent = params.get("branch") or None, params.get("agent") or None
    if any(value is not None and len(value) > MAX_CONTEXT_VALUE for value in (branch, agent)):
        raise InvalidExportQuery(f"branch and agent are at most {MAX_CONTEXT_VALUE} characters")
    selection = Selection(procedure, branch, agent, channel, locale, scale)
    return ExportQuery(from_day, to_day, selection, _after(params.get("cursor")))


def _after(cursor: str | None) -> Position | None:
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except UnreadableCursor as exc:
        raise InvalidExportCursor("cursor is not one this export gave out: start again without it") from exc


def export(principal: Principal, query: ExportQuery, deps: ExportDeps) -> Export:
    """The page of the export that starts after `query.after` and fits `deps.budget`."""
    parts = [file_start()]
    size, rows, read_before = payload_bytes(parts[0]), 0, deps.archive.items_read
    last: Position | None = None
    more = False
    scope = narrowed(principal, query.selection.branch, query.selection.agent_id)
    if scope is not None:
        selection = replace(query.selection, branch=scope[0], agent_id=scope[1])
        start, end = day_bounds(query.from_day, query.to_day, deps.reporting_tz)
        for answered in deps.archive.answers_between(AnswerPeriod(start, end, selection, query.after)):
            line = csv_line(row(answered.score, answered.comments, deps.reporting_tz))
            weight = payload_bytes(line)
            if rows and size + weight > deps.budget:     # a page has a row at least: it always moves on
                more = True
                break
            parts.append(line)
            size, rows, last = size + weight, rows + 1, position(answered.score)
    cursor = encode_cursor(last) if more and last else None
    items_read = deps.archive.items_read - read_before
    logger.info("responses exported", extra={"subject": principal.subject, "rows": rows, "items_read": items_read,
                                             "payload_bytes": size, "more": cursor is not None})
    return Export("".join(parts), file_name(query.from_day, query.to_day), rows, items_read, cursor,
                  _next_query(query, cursor) if cursor else None)


def _next_query(query: ExportQuery, cursor: str) -> str:
    """The same period (explicit: a default period would move with the day) and filters, resumed."""
    filters = [(name, getattr(query.selection, field)) for field, name in FILTERS.items()]
    return urlencode([("from", query.from_day), ("to", query.to_day),
                      *[(name, value) for name, value in filters if value is not None], ("cursor", cursor)])
