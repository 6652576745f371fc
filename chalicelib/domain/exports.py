"""The answers export (GET /v1/responses.csv), pure: where a score answer is indexed by month, the
position a page of the export resumes after (its opaque cursor), which answers a request selects,
and each answered survey as a CSV row that a spreadsheet opens safely.

Reading by period: the responses table's sparse `by-month` index holds the score answers only (one
item per answered survey), keyed `YYYY-MM#k` (the UTC month of `received_at`; k, a stable hash of
the survey id modulo MONTH_SHARDS, spreads a busy month over several partitions) and sorted by
`received_at`. A period is read as one query per month and shard, merged in (received_at,
survey_id) order; each survey's comment is then read by key.

One row per answered survey, whatever it holds: every comment the customer sent is in its row (the
`comment` cell: one as written, several each on a line after its time), so the score is counted once
by a spreadsheet's sums.

The file: UTF-8 with a byte order mark (Excel reads it as UTF-8 only then), the csv module's
default dialect (CRLF rows, minimal quoting), a header row of stable English names (COLUMNS). A
cell that starts like a formula gets a leading apostrophe: comments are customers' free text.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.model import Answer
from chalicelib.domain.questions import Scale, scale_of
from chalicelib.domain.scoring import counts_for, stable_shard

# Partitions per month of the by-month index. Changing it moves every future answer to other
# partitions: answers already stored keep theirs, and a reader must then query both layouts.
MONTH_SHARDS = 8

COLUMNS = ("survey_id", "received_at", "received_local", "procedure", "scale", "definition_version", "score",
           "class", "comment", "comment_received_at", "late", "locale", "channel", "branch", "agent_id",
           "phone_masked", "context")
# The score's class per scale, named as in domain/scoring.py (high, mid, low).
CLASS_NAMES: Mapping[Scale, tuple[str, str, str]] = {
    Scale.NPS: ("promoter", "passive", "detractor"),
    Scale.CSAT: ("satisfied", "neutral", "dissatisfied"),
    Scale.CES: ("easy", "neutral", "difficult"),
}
SCOPE_KEYS = ("branch", "agent_id")         # context keys with columns of their own
BOM = "\ufeff"
# A spreadsheet reads a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The longest cursor encode_cursor gives out: base64 of a UTC time with microseconds (32 characters),
# "|" and an event id of MAX_EVENT_ID_CHARS characters of 4 bytes of UTF-8 each (emoji): 727.
MAX_CURSOR_CHARS = -(-(32 + 1 + 4 * MAX_EVENT_ID_CHARS) * 4 // 3)
_CURSOR = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_CHARS}}}$")


class UnreadableCursor(ValueError):
    """A cursor this export did not give out (or one damaged on the way)."""


# --- reading by month -----------------------------------------------------------------------------

def month_of(at: datetime) -> str:
    utc = at.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def month_shard(survey_id: str, received_at: datetime) -> str:
    """The by-month index partition of a survey's score answer: `YYYY-MM#k`."""
    return f"{month_of(received_at)}#{stable_shard(survey_id, MONTH_SHARDS)}"


def months(start: datetime, end: datetime) -> list[str]:
    """The UTC months the period [start, end) touches, oldest first; none when it is empty."""
    if start >= end:
        return []
    first, last = start.astimezone(UTC), (end - timedelta(microseconds=1)).astimezone(UTC)
    found, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def partition(month: str, shard: int) -> str:
    return f"{month}#{shard}"


# --- where a page resumes -------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Position:
    """An answered survey's place in the export: by received_at, then survey_id (ties)."""

    received_at: datetime
    survey_id: str


def position(answer: Answer) -> Position:
    return Position(answer.received_at, answer.survey_id)


def encode_cursor(at: Position) -> str:
    """Opaque to clients: base64url (unpadded) of `<received_at UTC ISO 8601>|<survey_id>`."""
    raw = f"{at.received_at.astimezone(UTC).isoformat()}|{at.survey_id}"
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Position:
    """The position a cursor names; UnreadableCursor when it is not one encode_cursor gives."""
    if not _CURSOR.match(text):
        raise UnreadableCursor("not base64url")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True).decode("utf-8")
        moment, bar, survey_id = raw.partition("|")
        received_at = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableCursor(str(exc)) from exc
    if not bar or not survey_id or received_at.tzinfo is None:
        raise UnreadableCursor("no position in it")
    try:
        return Position(received_at.astimezone(UTC), survey_id)
    except OverflowError as exc:      # "9999-12-31T23:59-01:00": no UTC instant a datetime holds
        raise UnreadableCursor("no position in it") from exc


# --- which answers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """The filters of an export, each optional (exact values; scale: absent on old answers is nps)."""

    procedure: str | None = None
    branch: str | None = None
    agent_id: str | None = None
    channel: str | None = None
    locale: str | None = None
    scale: str | None = None

    def matches(self, answer: Answer) -> bool:
        found = {"procedure": answer.procedure, "branch": answer.context.get("branch"),
                 "agent_id": answer.context.get("agent_id"), "channel": answer.channel,
                 "locale": answer.locale, "scale": scale_of(answer.scale).value}
        return all(wanted is None or found[name] == wanted for name, wanted in vars(self).items())


# --- the file -------------------------------------------------------------------------------------

def score_class(score: int | None, scale: Scale) -> str:
    """promoter / passive / detractor (nps), satisfied / neutral / dissatisfied (csat), easy /
    neutral / difficult (ces), by domain/scoring's classes; empty without a score."""
    if score is None:
        return ""
    counts = counts_for(score, scale)
    high, mid, low = CLASS_NAMES[scale]
    return high if counts.promoters else mid if counts.passives else low


def safe_cell(value: str) -> str:
    """The cell as text a spreadsheet will not evaluate: a leading apostrophe when it starts like
    a formula (Excel shows the apostrophe-led cell as the text after it)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def comment_cells(comments: Sequence[Answer]) -> tuple[str, str]:
    """The `comment` and `comment_received_at` cells: one comment as it was written and its time;
    several (a customer may add to what they said) each on its own line after its time in brackets,
    oldest first, and every time, space-separated."""
    said = [c for c in comments if c.text]
    if len(said) == 1:
        return said[0].text or "", _utc(said[0].received_at)
    return ("\n".join(f"[{_utc(c.received_at)}] {c.text}" for c in said),
            " ".join(_utc(c.received_at) for c in said))


def row(score: Answer, comments: Sequence[Answer], tz: ZoneInfo) -> list[str]:
    """One answered survey: its score answer, its comments if any, times in UTC and in `tz`. The
    phone is the masked one the answer carries (the raw number is only ever on the survey)."""
    scale = scale_of(score.scale)
    rest = {key: value for key, value in score.context.items() if key not in SCOPE_KEYS}
    comment, comment_received_at = comment_cells(comments)
    cells = [
        score.survey_id, _utc(score.received_at), score.received_at.astimezone(tz).isoformat(timespec="seconds"),
        score.procedure, scale.value, str(score.definition_version),
        "" if score.score is None else str(score.score), score_class(score.score, scale),
        comment, comment_received_at,
        "true" if score.late else "false", score.locale, score.channel,
        score.context.get("branch", ""), score.context.get("agent_id", ""), score.phone_masked or "",
        json.dumps(rest, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    ]
    return [safe_cell(cell) for cell in cells]


def csv_line(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)        # the excel dialect: CRLF, quotes only where needed
    return buffer.getvalue()


def file_start() -> str:
    """What every page of the export begins with: the byte order mark, then the header row."""
    return BOM + csv_line(COLUMNS)


def file_name(from_day: str, to_day: str) -> str:
    return f"koe-responses-{from_day}-{to_day}.csv"


def payload_bytes(text: str) -> int:
    """What `text` weighs in a Lambda response. The python3.11 runtime serialises the handler's
    result as JSON with non-ASCII escaped: a kana (3 bytes of UTF-8) takes 6, an emoji 12, a quote
    or a CR 2. Lambda's 6 MB limit is on that payload, not on the UTF-8 the client receives."""
    return len(json.dumps(text)) - 2


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
