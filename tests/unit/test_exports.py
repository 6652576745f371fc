"""The answers export, decided without I/O (domain/exports.py): the file a spreadsheet opens (BOM,
CRLF, header, one row per answered survey, formula-like cells defused, the masked phone only, the
score's class per scale), the by-month index partitions, the opaque cursor, the selection, and what
a body weighs in Lambda's response."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.conversation import recorded_answer
from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.exports import (
    BOM,
    COLUMNS,
    MONTH_SHARDS,
    Position,
    Selection,
    UnreadableCursor,
    csv_line,
    decode_cursor,
    encode_cursor,
    file_name,
    file_start,
    month_shard,
    months,
    payload_bytes,
    row,
    safe_cell,
    score_class,
)
from chalicelib.domain.model import Answer, Place, Step, Survey, SurveyStatus
from chalicelib.domain.questions import Scale

TOKYO = ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 21, 1, 20, 5, 123456, tzinfo=UTC)


def a_score(**changes: Any) -> Answer:
    answer = Answer(survey_id="ev-1001", question="score", received_at=AT, procedure="claim_payment",
                    customer_id="C-88123", locale="ja-JP",
                    context={"branch": "tokyo-chuo", "agent_id": "A-102", "policy_id": "P-7", "claim_open": "no"},
                    score=9, text="9", threshold=6, phone_masked="+1******0123", channel="sms_link",
                    scale="nps", definition_version=2)
    return replace(answer, **changes)


def a_comment(text: str, **changes: Any) -> Answer:
    return replace(a_score(question="comment", text=text, received_at=AT + timedelta(minutes=3)), **changes)


def as_read(*lines: str) -> list[list[str]]:
    """The file as Excel or a script reads it: UTF-8 with its BOM, then CSV."""
    raw = "".join(lines).encode("utf-8")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def cells(score: Answer, *comments: Answer) -> dict[str, str]:
    return dict(zip(COLUMNS, row(score, comments, TOKYO), strict=True))


# --- the file -------------------------------------------------------------------------------------

def test_the_file_starts_with_the_byte_order_mark_and_the_header_row_and_rows_end_in_crlf() -> None:
    start = file_start()
    line = csv_line(row(a_score(), (), TOKYO))
    assert start.encode("utf-8").startswith(b"\xef\xbb\xbf") and start.startswith(BOM + "survey_id,received_at,")
    assert start.endswith("\r\n") and line.endswith("\r\n") and line.count("\r\n") == 1
    header, first = as_read(start, line)
    assert header == list(COLUMNS) and header[0] == "survey_id"        # no BOM glued to the first name
    assert first[0] == "ev-1001"


def test_a_row_holds_the_answer_its_comment_and_its_context() -> None:
    found = cells(a_score(), a_comment("窓口の対応が丁寧でした"))
    assert found == {
        "survey_id": "ev-1001", "received_at": "2026-11-21T01:20:05Z", "received_local": "2026-11-21T10:20:05+09:00",
        "procedure": "claim_payment", "scale": "nps", "definition_version": "2", "score": "9", "class": "promoter",
        "comment": "窓口の対応が丁寧でした", "comment_received_at": "2026-11-21T01:23:05Z", "late": "false",
        "locale": "ja-JP", "channel": "sms_link", "branch": "tokyo-chuo", "agent_id": "A-102",
        "phone_masked": "'+1******0123",          # it starts with "+": defused like any other cell
        "context": '{"claim_open":"no","policy_id":"P-7"}',
    }


def test_every_comment_of_a_survey_is_in_its_row_each_with_its_time() -> None:
    """Before: the row held the survey's latest comment only."""
    later = AT + timedelta(minutes=4)
    found = cells(a_score(), a_comment("解約します"), a_comment("=やっぱり\n大丈夫です", received_at=later))
    assert found["comment"] == "[2026-11-21T01:23:05Z] 解約します\n[2026-11-21T01:24:05Z] =やっぱり\n大丈夫です"
    assert found["comment_received_at"] == "2026-11-21T01:23:05Z 2026-11-21T01:24:05Z"


def test_without_a_comment_or_a_score_the_cells_are_empty() -> None:
    found = cells(a_score(score=None, late=True, phone_masked=None, context={}))
    assert (found["score"], found["class"], found["comment"], found["comment_received_at"]) == ("", "", "", "")
    assert (found["late"], found["phone_masked"], found["branch"], found["context"]) == ("true", "", "", "{}")


def test_japanese_and_chinese_text_with_quotes_commas_and_line_breaks_round_trip() -> None:
    texts = ["支払いが遅い、\n「至急」と言ったのに", '客服态度很好，"谢谢"！', "理赔太慢了\r\n再也不用了", "😀 emoji"]
    lines = [file_start()] + [csv_line(row(a_score(survey_id=f"ev-{n}", context={"网点": "上海-01"}),
                                           [a_comment(text)], TOKYO)) for n, text in enumerate(texts)]
    header, *rows = as_read(*lines)
    assert [r[header.index("comment")] for r in rows] == texts
    assert rows[0][header.index("context")] == '{"网点":"上海-01"}'      # compact, not \\u-escaped


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_starts_like_a_formula_gets_a_leading_apostrophe(start: str) -> None:
    attack = f'{start}HYPERLINK("https://example.com/?x="&A1,"open")'
    assert safe_cell(attack) == "'" + attack
    found = cells(a_score(context={"branch": attack}), a_comment(attack))
    assert found["comment"] == found["branch"] == "'" + attack


@pytest.mark.parametrize("harmless", ["", "good service", "1+1=2", " =not at the start", "'quoted", "ー長音"])
def test_other_cells_are_left_as_they_are(harmless: str) -> None:
    assert safe_cell(harmless) == harmless


@given(st.text())
def test_any_comment_reads_back_as_written_or_defused(text: str) -> None:
    [_, read] = as_read(file_start(), csv_line(row(a_score(), [a_comment(text)], TOKYO)))
    comment = read[COLUMNS.index("comment")]
    assert comment == (("'" + text) if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text)


def test_the_phone_is_the_masked_one_never_the_number_on_the_survey() -> None:
    survey = Survey(survey_id="ev-1002", procedure="claim_payment", customer_id="C-1", contact_key="ck-1",
                    locale="en-US", channel="sms_two_way", channel_reason="US:sms_two_way",
                    status=SurveyStatus.DELIVERED, created_at=AT, completed_at=AT, phone="+15550100123",
                    email="hanako@example.jp", context={"branch": "tokyo-chuo"}, step=Step.AWAIT_SCORE)
    answer = recorded_answer(survey, "score", 3, "3", AT, threshold=6, place=Place("US", "America/New_York"))
    line = csv_line(row(answer, (), TOKYO))
    assert "'+1******0123" in line
    assert "5550100123" not in line and "0100123" not in line and "example.jp" not in line


@pytest.mark.parametrize(("scale", "score", "expected"), [
    (Scale.NPS, 10, "promoter"), (Scale.NPS, 9, "promoter"), (Scale.NPS, 8, "passive"), (Scale.NPS, 7, "passive"),
    (Scale.NPS, 6, "detractor"), (Scale.NPS, 0, "detractor"),
    (Scale.CSAT, 5, "satisfied"), (Scale.CSAT, 4, "satisfied"), (Scale.CSAT, 3, "neutral"),
    (Scale.CSAT, 2, "dissatisfied"), (Scale.CSAT, 1, "dissatisfied"),
    (Scale.CES, 7, "easy"), (Scale.CES, 5, "easy"), (Scale.CES, 4, "neutral"), (Scale.CES, 3, "difficult"),
    (Scale.CES, 1, "difficult"),
])
def test_the_class_of_a_score_is_its_scales(scale: Scale, score: int, expected: str) -> None:
    assert score_class(score, scale) == expected
    assert cells(a_score(score=score, scale=scale.value))["class"] == expected


def test_an_answer_from_before_scales_is_nps() -> None:
    assert (cells(a_score(scale=""))["scale"], cells(a_score(scale="", score=6))["class"]) == ("nps", "detractor")


def test_the_file_name_names_the_period() -> None:
    assert file_name("2026-10-23", "2026-11-21") == "koe-responses-2026-10-23-2026-11-21.csv"


def test_the_weight_in_lambdas_response_counts_escapes() -> None:
    assert payload_bytes("abc,1\r\n") == 9                  # \r and \n take two bytes each
    assert payload_bytes('"') == 2 and payload_bytes("あ") == 6 and payload_bytes("😀") == 12
    assert payload_bytes(BOM) == 6
    text = file_start() + csv_line(row(a_score(), [a_comment("対応が遅い")], TOKYO))
    assert payload_bytes(text) == len(json.dumps({"body": text})) - len('{"body": ""}')


# --- the by-month index ---------------------------------------------------------------------------

def test_a_score_answer_is_indexed_by_its_utc_month_and_a_stable_shard() -> None:
    digest = hashlib.sha256(b"ev-1001").digest()
    assert month_shard("ev-1001", AT) == f"2026-11#{int.from_bytes(digest[:4], 'big') % MONTH_SHARDS}"
    tokyo_morning = datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)      # still November in UTC
    assert month_shard("ev-1001", tokyo_morning).startswith("2026-11#")
    shards = {month_shard(f"ev-{n}", AT).split("#")[1] for n in range(200)}
    assert shards == {str(k) for k in range(MONTH_SHARDS)}          # spread over every shard


def test_the_months_of_a_period() -> None:
    def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)

    assert months(at(2026, 11, 20), at(2027, 2, 1)) == ["2026-11", "2026-12", "2027-01"]    # end excluded
    assert months(at(2026, 11, 20), at(2027, 2, 1, 0, 0, 1)) == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert months(at(2026, 11, 20), at(2026, 11, 20)) == []
    tokyo_day = datetime(2026, 12, 1, tzinfo=TOKYO)                 # 2026-11-30T15:00Z
    assert months(tokyo_day, tokyo_day + timedelta(days=1)) == ["2026-11", "2026-12"]


# --- the cursor -----------------------------------------------------------------------------------

@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))])),
       st.text(min_size=1, max_size=128).filter(lambda s: "\x00" not in s))
def test_a_cursor_names_the_position_it_was_made_from(at: datetime, survey_id: str) -> None:
    cursor = encode_cursor(Position(at, survey_id))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == Position(at, survey_id)


def test_the_cursor_after_the_longest_event_id_in_emoji_reads_back() -> None:
    # 128 characters of 4 bytes each: the longest id the event schema accepts, a 727-character cursor.
    at = Position(AT, "😀" * MAX_EVENT_ID_CHARS)
    assert decode_cursor(encode_cursor(at)) == at


@pytest.mark.parametrize("forged", [
    "", "not a cursor!", "%%%", "AAAA", "=" * 8,
    encode_cursor(Position(AT, "x")).replace("M", "*"),
    "MjAyNi0xMS0yMVQwMToyMDowNSswMDowMA",                    # a time without "|" and an id
    "MjAyNi0xMS0yMVQwMToyMDowNSswMDowMHw",                   # "...|" with no id
    "MjAyNi0xMS0yMVQwMToyMDowNXxldi0x",                      # a time without a zone
    "bm90LWEtdGltZXxldi0x",                                  # "not-a-time|ev-1"
    "_-_-",                                                  # not UTF-8
    "OTk5OS0xMi0zMVQyMzo1OTo1OS0wMTowMHxldi0x",              # "9999-12-31T23:59:59-01:00|ev-1": past UTC's range
    "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHxldi0x",              # "0001-01-01T00:00:00+01:00|ev-1": before it
])
def test_a_forged_or_damaged_cursor_is_unreadable(forged: str) -> None:
    with pytest.raises(UnreadableCursor):
        decode_cursor(forged)


def test_positions_order_by_time_then_survey_id() -> None:
    assert Position(AT, "b") < Position(AT, "c") < Position(AT + timedelta(microseconds=1), "a")


# --- the selection --------------------------------------------------------------------------------

def test_a_selection_keeps_what_matches_every_filter_it_has() -> None:
    answer = a_score()
    assert Selection().matches(answer)
    assert Selection(procedure="claim_payment", branch="tokyo-chuo", agent_id="A-102", channel="sms_link",
                     locale="ja-JP", scale="nps").matches(answer)
    for miss in (Selection(procedure="address_change"), Selection(branch="osaka-kita"), Selection(agent_id="A-777"),
                 Selection(channel="email"), Selection(locale="ja"), Selection(scale="csat")):
        assert not miss.matches(answer), miss
    assert Selection(scale="nps").matches(a_score(scale=""))        # absent: nps
