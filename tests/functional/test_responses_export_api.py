"""GET /v1/responses.csv through app.py: a CSV file (UTF-8 with BOM, not JSON) of the answered
surveys for each CX role within its scope, in pages that name the next one; the operations API key
and a caller without credentials are refused, a bad parameter or a forged cursor is a named 400."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from chalicelib.bootstrap.functions import Api
from chalicelib.domain.exports import COLUMNS
from chalicelib.domain.model import Answer
from tests.functional.conftest import SURVEY
from tests.functional.test_cases_api import ADMIN, AGENT, OTHER_MANAGER, body, call
from tests.services.conftest import event

COMMENT = "=HYPERLINK(\"https://example.com\") 対応が遅かったです"
LINK = re.compile(r'^<(responses\.csv\?[^>]+)>; rel="next"$')


def answered(koe: Any) -> None:
    """The sample survey answered by SMS: 8, then a comment."""
    koe.dispatch(event())
    koe.reply("8", sid="SM" + "a" * 32)
    koe.reply(COMMENT, sid="SM" + "b" * 32)


def rows(response: Any) -> list[dict[str, str]]:
    raw: bytes = response.body
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
    header, *found = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    assert header == list(COLUMNS)
    return [dict(zip(header, r, strict=True)) for r in found]


def test_the_cx_team_downloads_the_answers_as_a_csv_file(koe: Any) -> None:
    answered(koe)
    answer = call(koe, "GET", "/v1/responses.csv", ADMIN)
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    today = koe.clock.now.date()
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="koe-responses-{today - timedelta(days=29)}-{today}.csv"')
    assert answer.headers["Cache-Control"] == "no-store"
    assert "X-Koe-Next-Cursor" not in answer.headers and "Link" not in answer.headers
    assert b"\r\n" in answer.body and not answer.body.lstrip(b"\xef\xbb\xbf").startswith(b"{")
    [found] = rows(answer)
    assert (found["survey_id"], found["score"], found["class"], found["comment"]) == (
        SURVEY, "8", "passive", "'" + COMMENT)
    assert (found["branch"], found["agent_id"], found["phone_masked"]) == ("tokyo-chuo", "A-102", "'+1******0123")
    assert "+15550100123" not in answer.body.decode("utf-8-sig")


def test_each_role_reads_its_own_scope(koe: Any) -> None:
    answered(koe)
    assert [r["survey_id"] for r in rows(call(koe, "GET", "/v1/responses.csv", AGENT))] == [SURVEY]
    assert rows(call(koe, "GET", "/v1/responses.csv", OTHER_MANAGER)) == []
    assert rows(call(koe, "GET", "/v1/responses.csv?branch=tokyo-chuo", OTHER_MANAGER)) == []


def test_a_large_export_comes_in_pages_that_name_the_next_one(koe: Any) -> None:
    template = Answer(survey_id="", question="score", received_at=koe.clock.now, procedure="claim_payment",
                      customer_id="C-1", locale="ja-JP", context={"branch": "tokyo-chuo", "agent_id": "A-102"},
                      score=9, phone_masked="+1******0101", channel="sms_link")
    for n in range(25):
        at = koe.clock.now - timedelta(hours=n)
        koe.store.answers[f"ev-{n:02d}", "score"] = replace(template, survey_id=f"ev-{n:02d}", received_at=at)
        koe.store.answers[f"ev-{n:02d}", "comment"] = replace(template, survey_id=f"ev-{n:02d}", question="comment",
                                                              received_at=at, text="説明が分かりやすかった " * 10)
    api = koe.components.wiring(Api)
    api.__dict__["export_deps"] = replace(api.export_deps, budget=4_000)   # a small page

    seen: list[str] = []
    pages = 0
    path = "/v1/responses.csv?procedure=claim_payment"
    while pages < 25:
        answer = call(koe, "GET", path, ADMIN)
        assert answer.status_code == 200, answer.body
        pages += 1
        seen += [r["survey_id"] for r in rows(answer)]
        if "Link" not in answer.headers:
            break
        link = LINK.match(answer.headers["Link"])
        assert link, answer.headers["Link"]
        assert f"cursor={answer.headers['X-Koe-Next-Cursor']}" in link.group(1)
        path = "/v1/" + link.group(1)
    assert pages > 3 and seen == [f"ev-{n:02d}" for n in reversed(range(25))]


def test_the_export_is_the_cx_teams_alone_and_a_bad_parameter_is_named(koe: Any) -> None:
    assert koe.get("/v1/responses.csv").status_code == 403                  # the operations API key
    assert koe.get("/v1/responses.csv", key=None).status_code == 401
    refused = call(koe, "GET", "/v1/responses.csv?scale=stars", ADMIN)
    assert refused.status_code == 400 and "scale" in body(refused)["error"]
    forged = call(koe, "GET", "/v1/responses.csv?cursor=bm90LWEtdGltZXxldi0x", ADMIN)
    assert forged.status_code == 400
    assert body(forged)["code"] == "invalid_request" and "cursor" in body(forged)["error"]
