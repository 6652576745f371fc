"""The answers export (GET /v1/responses.csv) on fakes: one row per answered survey of the period in
the reporting time zone, each role within its scope (a filter outside it answers the header only),
the filters, pages that fit the body budget and resume exactly after their cursor, and the items
read."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.exports import COLUMNS, payload_bytes
from chalicelib.domain.model import Answer
from chalicelib.domain.principal import Principal, Role
from chalicelib.services.responses_export import (
    Export,
    ExportDeps,
    InvalidExportCursor,
    InvalidExportQuery,
    export,
    parse_query,
)
from tests.fakes.answers import FakeAnswerArchive

TOKYO = ZoneInfo("Asia/Tokyo")
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)        # 12:00 in Tokyo
ADMIN = Principal("lead-1", Role.CX_ADMIN)
MANAGER = Principal("mgr-tokyo", Role.BRANCH_MANAGER, branch="tokyo-chuo")
AGENT = Principal("a102", Role.AGENT, branch="tokyo-chuo", agent_id="A-102")


def answer(n: int, received_at: datetime, *, question: str = "score", branch: str = "tokyo-chuo",
           agent: str = "A-102", procedure: str = "claim_payment", scale: str = "nps", score: int = 9,
           text: str | None = None, channel: str = "sms_link", locale: str = "ja-JP") -> Answer:
    return Answer(survey_id=f"ev-{n:03d}", question=question, received_at=received_at, procedure=procedure,
                  customer_id=f"C-{n}", locale=locale, context={"branch": branch, "agent_id": agent},
                  score=score, text=text, threshold=6, phone_masked="+81******0101", channel=channel, scale=scale)


def archive_of(*answers: Answer) -> FakeAnswerArchive:
    return FakeAnswerArchive({(a.survey_id, a.question): a for a in answers})


@pytest.fixture
def archive() -> FakeAnswerArchive:
    return archive_of(
        answer(1, NOW - timedelta(hours=5)),
        answer(1, NOW - timedelta(hours=4), question="comment", text="丁寧な対応でした"),
        answer(2, NOW - timedelta(hours=3), agent="A-777", score=3),
        answer(2, NOW - timedelta(hours=3), question="comment", agent="A-777", text="=1+1"),
        answer(3, NOW - timedelta(hours=2), branch="osaka-kita", agent="A-301", procedure="address_change",
               scale="csat", score=4, channel="email", locale="en-US"),
        answer(4, NOW - timedelta(hours=1), scale="ces", score=2),
        answer(5, NOW - timedelta(days=40)),                          # before the default 30 days
    )


def ask(principal: Principal, archive: FakeAnswerArchive, *, budget: int | None = None, first: str | None = None,
        last: str | None = None, **params: str) -> Export:
    """The export for `params`, from the day `first` to the day `last` when given."""
    deps = ExportDeps(archive=archive, reporting_tz=TOKYO, **({"budget": budget} if budget else {}))
    days = {name: day for name, day in (("from", first), ("to", last)) if day}
    return export(principal, parse_query({**params, **days}, TODAY), deps)


def table(page: Export) -> list[dict[str, str]]:
    assert page.body.startswith("\ufeff")
    header, *rows = csv.reader(io.StringIO(page.body.encode("utf-8").decode("utf-8-sig"), newline=""))
    assert header == list(COLUMNS)
    return [dict(zip(header, r, strict=True)) for r in rows]


def ids(page: Export) -> list[str]:
    return [r["survey_id"] for r in table(page)]


def test_every_answered_survey_of_the_period_in_the_order_received(archive: FakeAnswerArchive) -> None:
    page = ask(ADMIN, archive)
    rows = table(page)
    assert [r["survey_id"] for r in rows] == ["ev-001", "ev-002", "ev-003", "ev-004"]
    assert [(r["score"], r["class"]) for r in rows] == [("9", "promoter"), ("3", "detractor"), ("4", "satisfied"),
                                                         ("2", "difficult")]
    assert (rows[0]["comment"], rows[1]["comment"], rows[2]["comment"]) == ("丁寧な対応でした", "'=1+1", "")
    assert rows[0]["received_local"] == "2026-11-21T07:00:00+09:00"
    assert (page.file_name, page.rows, page.next_cursor, page.next_query) == (
        "koe-responses-2026-10-23-2026-11-21.csv", 4, None, None)
    assert "\r\n" in page.body and "\n" not in page.body.replace("\r\n", "")


def test_the_items_read_are_the_periods_answers_and_their_comments(archive: FakeAnswerArchive) -> None:
    assert ask(ADMIN, archive).items_read == 4 + 2
    assert ask(ADMIN, archive, procedure="address_change").items_read == 4 + 0     # read, then filtered
    assert ask(ADMIN, archive, first="2026-09-01", last="2026-09-30").items_read == 0


def test_the_period_is_days_in_the_reporting_time_zone() -> None:
    last_day = datetime(2026, 11, 21, 14, 59, 59, tzinfo=UTC)          # 23:59:59 on the 21st in Tokyo
    archive = archive_of(answer(1, datetime(2026, 11, 19, 15, 0, tzinfo=UTC)),       # 00:00 on the 20th in Tokyo
                         answer(2, datetime(2026, 11, 19, 14, 59, tzinfo=UTC)),      # still the 19th there
                         answer(3, last_day), answer(4, last_day + timedelta(seconds=1)))
    assert ids(ask(ADMIN, archive, first="2026-11-20", last="2026-11-21")) == ["ev-001", "ev-003"]


def test_a_branch_manager_reads_their_branch_only_whatever_they_ask(archive: FakeAnswerArchive) -> None:
    assert ids(ask(MANAGER, archive)) == ["ev-001", "ev-002", "ev-004"]
    assert ids(ask(MANAGER, archive, branch="tokyo-chuo", agent="A-777")) == ["ev-002"]
    other = ask(MANAGER, archive, branch="osaka-kita")
    assert (ids(other), other.rows, other.items_read) == ([], 0, 0)       # the header only: nothing read


def test_an_agent_reads_their_own_answers_only(archive: FakeAnswerArchive) -> None:
    assert ids(ask(AGENT, archive)) == ["ev-001", "ev-004"]
    assert ids(ask(AGENT, archive, agent="A-777")) == []
    assert ids(ask(AGENT, archive, branch="osaka-kita")) == []


def test_filters_narrow_the_rows(archive: FakeAnswerArchive) -> None:
    assert ids(ask(ADMIN, archive, procedure="address_change")) == ["ev-003"]
    assert ids(ask(ADMIN, archive, scale="ces")) == ["ev-004"]
    assert ids(ask(ADMIN, archive, channel="email")) == ["ev-003"]
    assert ids(ask(ADMIN, archive, locale="ja-JP", agent="A-102")) == ["ev-001", "ev-004"]
    assert ids(ask(ADMIN, archive, branch="osaka-kita")) == ["ev-003"]


@pytest.mark.parametrize(("params", "named"), [
    ({"scale": "stars"}, "scale"), ({"channel": "fax"}, "channel"), ({"locale": "日本"}, "locale"),
    ({"procedure": "Claim Payment"}, "procedure"), ({"branch": "b" * 257}, "branch"),
    ({"from": "2026-11-22", "to": "2026-11-21"}, "from"), ({"to": "yesterday"}, "dates"),
    ({"sentiment": "negative"}, "sentiment"), ({"limit": "10"}, "limit"),
])
def test_a_bad_parameter_is_named(params: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidExportQuery, match=named):
        parse_query(params, TODAY)


@pytest.mark.parametrize("cursor", ["%%", "bm90LWEtdGltZXxldi0x", "AAAA"])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidExportCursor, match="cursor"):
        parse_query({"cursor": cursor}, TODAY)


def many(count: int, *, ties: int = 0) -> FakeAnswerArchive:
    """`count` answered surveys a minute apart (the first `ties` at the same moment), each with a comment."""
    found: list[Answer] = []
    for n in range(count):
        at = NOW - timedelta(hours=6) + timedelta(minutes=max(n - ties + 1, 0))
        found += [answer(n, at, branch="tokyo-chuo" if n % 3 else "osaka-kita"),
                  answer(n, at, question="comment", text=f"コメント {n}、\"引用\"\n二行目")]
    return archive_of(*found)


def pages(principal: Principal, archive: FakeAnswerArchive, budget: int, /, **params: str) -> list[Export]:
    found = [ask(principal, archive, budget=budget, **params)]
    while found[-1].next_cursor:
        assert len(found) < 100, "the pages do not move on"
        following = {k: v[0] for k, v in parse_qs(found[-1].next_query or "").items()}
        assert following["cursor"] == found[-1].next_cursor
        found.append(ask(principal, archive, budget=budget, **following))
    return found


@pytest.mark.parametrize("ties", [0, 7])
def test_pages_fit_the_budget_and_together_are_the_whole_export(ties: int) -> None:
    archive = many(40, ties=ties)
    whole = ask(ADMIN, archive)
    budget = 2_000
    split = pages(ADMIN, archive, budget)
    assert len(split) > 3
    assert all(payload_bytes(p.body) <= budget for p in split)
    assert [r for p in split for r in table(p)] == table(whole)       # no row lost, none twice, same order
    assert [p.next_cursor is None for p in split] == [False] * (len(split) - 1) + [True]


def test_the_next_page_repeats_the_period_and_the_filters() -> None:
    archive = many(30)
    first = ask(MANAGER, archive, budget=1_500, procedure="claim_payment", first="2026-11-20")
    assert first.next_cursor
    assert parse_qs(first.next_query or "") == {"from": ["2026-11-20"], "to": ["2026-11-21"],
                                                 "procedure": ["claim_payment"], "cursor": [first.next_cursor]}
    split = pages(MANAGER, archive, 1_500, procedure="claim_payment", **{"from": "2026-11-20"})
    assert [r["survey_id"] for p in split for r in table(p)] == ids(ask(MANAGER, archive))


def test_a_page_holds_one_row_at_least_however_small_the_budget() -> None:
    split = pages(ADMIN, many(3), 1)
    assert [p.rows for p in split] == [1, 1, 1]


def test_a_page_reads_little_more_than_it_shows() -> None:
    archive = many(60)
    first = ask(ADMIN, archive, budget=1_000)
    # its rows' answers and comments, and the one that did not fit: never the 60 surveys
    assert first.rows < 60 and first.items_read == 2 * (first.rows + 1)
