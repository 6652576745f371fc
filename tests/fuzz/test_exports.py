"""The answers export at volume (domain/exports.py): whatever customers and operations systems wrote,
each answered survey is one CSV row that reads back, field for field, with every cell that starts
like a formula defused; and any cursor a client sends back is a position or UnreadableCursor."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.domain.exports import (
    COLUMNS,
    FORMULA_STARTS,
    SCOPE_KEYS,
    Position,
    UnreadableCursor,
    csv_line,
    decode_cursor,
    encode_cursor,
    file_start,
    row,
)
from chalicelib.domain.model import Answer
from chalicelib.domain.questions import Scale, scores
from tests.fuzz.harness import fuzz
from tests.fuzz.text import NOISE

# Cells as customers and source systems write them: anything, formulas and their look-alikes,
# quotes, separators and line ends of every kind, noise, and long text.
FORMULAS = ["=1+1", "+15550100123", "-2", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(\"https://example.com\",\"x\")",
            "'=already quoted", "＝1+1", " =1", "\n=1", '"=1"', "=cmd|'/C calc'!A0", ";=1", ",=1"]
TEXT = st.one_of(st.text(), st.sampled_from(FORMULAS), st.sampled_from(NOISE),
                 st.tuples(st.sampled_from(FORMULAS + ['"', ",", "\r\n", "\n", "漢字"]), st.text(max_size=8))
                 .map("".join),
                 st.tuples(st.sampled_from(['"', ",\r\n", "あ", "x"]), st.integers(1, 3000)).map(lambda t: t[0] * t[1]))
ZONES = st.sampled_from([ZoneInfo(name) for name in ("Asia/Tokyo", "Asia/Shanghai", "America/New_York", "UTC",
                                                       "Pacific/Kiritimati", "Pacific/Pago_Pago")])
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC))


@st.composite
def answered(draw: st.DrawFn) -> tuple[Answer, list[Answer]]:
    """A score answer with text anywhere text can be, and zero to three comments."""
    scale = draw(st.sampled_from(list(Scale)))
    context = draw(st.dictionaries(st.sampled_from([*SCOPE_KEYS, "policy_id", "channel"]) | st.text(max_size=10),
                                   TEXT, max_size=5))
    score = Answer(survey_id=draw(TEXT), question="score", received_at=draw(MOMENTS), procedure=draw(TEXT),
                   customer_id=draw(TEXT), locale=draw(TEXT), context=context,
                   score=draw(st.none() | st.sampled_from(list(scores(scale)))), text=draw(TEXT),
                   phone_masked=draw(st.none() | TEXT), late=draw(st.booleans()), channel=draw(TEXT),
                   scale=scale.value, definition_version=draw(st.integers(1, 10**6)))
    comments = [Answer(survey_id=score.survey_id, question="comment", received_at=draw(MOMENTS),
                       procedure=score.procedure, customer_id=score.customer_id, locale=score.locale,
                       context=context, score=score.score, text=draw(st.none() | TEXT))
                for _ in range(draw(st.integers(0, 3)))]
    return score, comments


def written(value: str) -> str:
    """A cell as the module defines it: as written, or after an apostrophe when it starts like a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


@fuzz("exports", share=0.12)
@given(st.lists(answered(), min_size=1, max_size=3), ZONES)
def test_every_answer_is_one_row_that_reads_back_field_for_field_with_formulas_defused(answers, zone):
    lines = [csv_line(row(score, comments, zone)) for score, comments in answers]
    header, *rows = list(csv.reader(io.StringIO(file_start().removeprefix("\ufeff") + "".join(lines), newline="")))
    assert tuple(header) == COLUMNS and len(rows) == len(answers)
    for read, (score, comments) in zip(rows, answers, strict=True):
        assert len(read) == len(COLUMNS)
        assert not any(cell.startswith(FORMULA_STARTS) for cell in read), read
        cells = dict(zip(COLUMNS, read, strict=True))
        for column, value in [("survey_id", score.survey_id), ("procedure", score.procedure),
                              ("locale", score.locale), ("channel", score.channel),
                              ("branch", score.context.get("branch", "")),
                              ("agent_id", score.context.get("agent_id", "")),
                              ("phone_masked", score.phone_masked or "")]:
            assert cells[column] == written(value), column
        said = [c.text for c in comments if c.text]
        if len(said) == 1:
            assert cells["comment"] == written(said[0])
        else:
            assert all(text in cells["comment"] for text in said)
        rest = {k: v for k, v in score.context.items() if k not in SCOPE_KEYS}
        assert json.loads(cells["context"]) == rest


OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
# Any moment, and moments at the two ends of the calendar, where a time zone's offset can carry the
# UTC instant out of the range a datetime holds.
MOMENTS_AT_ALL = st.one_of(st.datetimes(timezones=OFFSETS | st.none()),
                           st.datetimes(max_value=datetime(1, 1, 2), timezones=OFFSETS),
                           st.datetimes(min_value=datetime(9999, 12, 31), timezones=OFFSETS))
RAW_POSITIONS = st.one_of(
    st.tuples(MOMENTS_AT_ALL.map(datetime.isoformat), st.sampled_from(["|"]), st.text(max_size=40)).map("".join),
    st.tuples(st.text(max_size=30), st.sampled_from(["|", ""]), st.text(max_size=20)).map("".join),
)
CURSORS = st.one_of(
    st.text(),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/\n", max_size=620),
    RAW_POSITIONS.map(lambda raw: base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")),
)


@fuzz("exports", share=0.08)
@given(CURSORS)
@example("OTk5OS0xMi0zMVQyMzo1OTo1OS0wMTowMHxldi0x")     # found by fuzzing: past UTC's range, OverflowError
def test_any_cursor_is_a_position_that_encodes_back_or_unreadable(cursor):
    try:
        at = decode_cursor(cursor)
    except UnreadableCursor as refused:
        assert str(refused)
        return
    assert isinstance(at, Position) and at.received_at.utcoffset() == timedelta(0) and at.survey_id
    assert decode_cursor(encode_cursor(at)) == at


# What a survey is named by: an event id the schema accepts (up to 128 characters, of any plane).
EVENT_IDS = st.one_of(st.text(st.characters(exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]), min_size=1,
                              max_size=128),
                      st.text(st.characters(min_codepoint=0x10000, exclude_categories=["Cs", "Cn"]), min_size=100,
                              max_size=128))


@fuzz("exports", share=0.04)
@given(MOMENTS_AT_ALL.filter(lambda at: at.tzinfo is not None), EVENT_IDS)
@example(datetime(2026, 11, 21, 1, 2, 3, 456789, tzinfo=UTC), "😀" * 128)   # found by fuzzing: 727 > 600 characters
def test_the_cursor_of_any_answer_reads_back_as_its_position(at, survey_id):
    try:
        at.astimezone(UTC)
    except OverflowError:
        return                     # before the first (after the last) instant a UTC datetime holds
    position = Position(at, survey_id)
    assert decode_cursor(encode_cursor(position)) == position
