"""The CX dashboard through app.py: signing in with a local sign-in link (the cookie session), the
page in each CX role's scope and in ja/zh/en, its scripts served by the app itself, and every way in
without a valid session answered with a page that says how to sign in."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from chalicelib.bootstrap.functions import AnalyseComments
from chalicelib.domain.cases import Case, Owner, OwnerKind
from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.comment_insight import CommentInsight, Insight, InsightChange, InsightRequest, Sentiment
from chalicelib.domain.local_token import mint
from chalicelib.domain.model import Answer, SurveyStatus
from chalicelib.services.batch import QueueRecord
from chalicelib.services.comment_insight import analyse_batch
from tests.fakes.insights import FakeCommentAnalyser
from tests.functional.conftest import PUBLIC_BASE_URL, SURVEY, response_image
from tests.functional.test_cases_api import ADMIN, AGENT, MANAGER, OTHER_MANAGER, token
from tests.services.conftest import event

DASHBOARD = f"{PUBLIC_BASE_URL}/dashboard"
REPORTING_TZ = ZoneInfo("UTC")           # the functional settings' KOE_REPORTING_TIMEZONE


def signed_in(koe: Any, who: dict[str, Any]) -> str:
    """The session cookie the local sign-in link sets for this user."""
    answer = koe.client.http.get(f"/dashboard/local-sign-in?token={quote(token(koe, **who))}")
    assert answer.status_code == 303, answer.body
    assert answer.headers["Location"] == DASHBOARD
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    return cookie.split(";")[0]


def page(koe: Any, who: dict[str, Any] | None, query: str = "", language: str = "en") -> Any:
    headers = {"accept-language": language}
    if who is not None:
        headers["cookie"] = f"other=1; {signed_in(koe, who)}"
    return koe.client.http.get(f"/dashboard{query}", headers=headers)


def html(answer: Any) -> str:
    return answer.body.decode("utf-8") if isinstance(answer.body, bytes) else answer.body


@pytest.fixture
def answered(koe: Any) -> None:
    """The sample survey (tokyo-chuo, agent A-102) answered 2: a detractor, counted and a case opened."""
    koe.dispatch(event())
    assert koe.stream(response_image(score=2)) == {"batchItemFailures": []} and koe.cases.get_case(SURVEY)


def test_without_a_session_the_page_says_how_to_sign_in_locally(koe):
    answer = page(koe, None)
    assert answer.status_code == 401
    assert "python -m devstack token --role cx_admin --dashboard" in html(answer)
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_sign_in_link_sets_the_session_and_the_page_shows_the_scores_cases_and_scope(koe, answered):
    answer = page(koe, ADMIN)
    assert answer.status_code == 200, html(answer)
    text = html(answer)
    assert 'data-testid="card-nps"' in text and "-100.0" in text and "too few answers" in text
    assert "All branches" in text and "tokyo-chuo" in text
    assert 'data-testid="open-cases"' in text and "agent:A-102" in text
    assert "Delivery rate" in text and "Response rate" in text          # the company-wide funnel
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    # Both scripts come from the app itself, nothing from another origin.
    scripts = re.findall(r'<script src="([^"]+)"', text)
    assert scripts == [f"{DASHBOARD}/assets/chart.umd.min.js", f"{DASHBOARD}/assets/dashboard.js"]


def test_the_page_follows_the_browser_language_and_the_switch_wins(koe, answered):
    assert "お客さまの声" in html(page(koe, ADMIN, language="ja-JP,ja;q=0.9,en;q=0.5"))
    assert "客户之声" in html(page(koe, ADMIN, language="zh-CN,zh;q=0.9"))
    switched = html(page(koe, ADMIN, "?lang=zh", language="ja"))
    assert "客户之声" in switched and 'lang="zh"' in switched


def test_a_branch_manager_sees_their_branch_only(koe, answered):
    own = html(page(koe, MANAGER))
    assert "Branch tokyo-chuo" in own and 'data-testid="card-nps"' in own
    other = html(page(koe, OTHER_MANAGER))
    assert "Branch osaka-kita" in other and 'data-testid="no-answers"' in other and "agent:A-102" not in other
    assert "Delivery rate" not in own and "for the whole company" in own   # funnel: company-wide only
    # A manager cannot widen the view by asking for the branch breakdown.
    assert '<option value="branch"' not in own


def test_an_agent_sees_their_own_scores(koe, answered):
    text = html(page(koe, AGENT))
    assert "Agent A-102" in text and 'data-testid="card-nps"' in text and 'name="dimension"' not in text


@pytest.mark.parametrize("cookie", ["koe_session=not-a-token", "koe_session=", "koe_sessionx=abc"])
def test_a_forged_or_empty_session_is_nobody(koe, cookie):
    answer = koe.client.http.get("/dashboard", headers={"cookie": cookie})
    assert answer.status_code == 401


def test_an_expired_session_is_nobody(koe):
    old = mint("functional-local-token-secret-0123", id_token_claims("u-admin", ADMIN["role"]),
               koe.clock.now - timedelta(hours=3), timedelta(hours=1))
    assert koe.client.http.get("/dashboard", headers={"cookie": f"koe_session={old}"}).status_code == 401


def test_the_operations_key_opens_no_dashboard(koe):
    assert koe.client.http.get("/dashboard", headers={"x-api-key": "ops-key-1"}).status_code == 401


def test_a_bad_sign_in_link_is_refused_with_a_page(koe):
    answer = koe.client.http.get("/dashboard/local-sign-in?token=forged.token.here")
    assert answer.status_code == 401 and "Set-Cookie" not in answer.headers
    assert "not valid" in html(answer)


def test_an_unknown_parameter_is_a_page_saying_so(koe):
    answer = page(koe, ADMIN, "?dimesion=branch")
    assert answer.status_code == 400 and "dimesion" in html(answer)


def test_sign_out_clears_the_session(koe):
    answer = koe.client.http.get("/dashboard/sign-out")
    assert answer.status_code == 200 and "signed out" in html(answer)
    assert answer.headers["Set-Cookie"].startswith("koe_session=; Max-Age=0")


def test_the_app_serves_the_charting_library_and_nothing_else(koe):
    library = koe.client.http.get("/dashboard/assets/chart.umd.min.js")
    assert library.status_code == 200 and library.headers["Content-Type"].startswith("text/javascript")
    assert b"Chart.js v4" in library.body[:200]
    assert koe.client.http.get("/dashboard/assets/dashboard.js").status_code == 200
    assert koe.client.http.get("/dashboard/assets/package.json").status_code == 404
    assert koe.client.http.get("/dashboard/assets/..%2F..%2Fapp.py").status_code == 404


def test_the_dashboard_downloads_the_answers_as_csv_with_its_session(koe):
    koe.dispatch(event())
    koe.reply("8", sid="SM" + "a" * 32)                     # the sample survey answered by SMS
    cookie = signed_in(koe, MANAGER)
    answer = koe.client.http.get("/dashboard/responses.csv", headers={"cookie": cookie})
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.body.startswith("\ufeff".encode()) and b"tokyo-chuo" in answer.body
    # Another branch's manager gets the header row only; nobody signed in gets the sign-in page.
    other = koe.client.http.get("/dashboard/responses.csv", headers={"cookie": signed_in(koe, OTHER_MANAGER)})
    assert other.status_code == 200 and len(other.body.decode("utf-8-sig").strip().splitlines()) == 1
    assert koe.client.http.get("/dashboard/responses.csv").status_code == 401


def test_a_customers_comment_and_its_phrases_are_isolated_from_the_page_around_them(koe, answered):
    """Before: a comment carrying a right-to-left override (U+202E) turned the dashboard's text around
    it; the customer's words are kept as sent and shown in isolation (dir="auto", <bdi>)."""
    comment = "\u202eoot sknaht \u2067slow"
    analyser = FakeCommentAnalyser({comment: Insight(Sentiment.NEGATIVE, -0.7, ("\u202eslow payout", "agent"))})
    koe.components.conversations.answers[SURVEY, "comment"] = Answer(
        survey_id=SURVEY, question="comment", received_at=koe.clock.now, procedure="claim_payment",
        customer_id="C-88123", locale="en", context={"branch": "tokyo-chuo", "agent_id": "A-102"}, score=2,
        text=comment, threshold=6, phone_masked="+1******0123", channel="sms_two_way")
    deps = replace(koe.components.wiring(AnalyseComments).insight_deps, analyser=analyser)
    assert analyse_batch([QueueRecord("m-1", InsightRequest(SURVEY, "v").to_body(), 1)], deps) == []

    text = html(page(koe, ADMIN))

    assert f'<blockquote lang="en" dir="auto">{comment}</blockquote>' in text
    assert '<bdi class="chip">\u202eslow payout</bdi>' in text
    assert "<bdi>\u202eslow payout</bdi> <small>1</small>" in text


def card_n(text: str, scale: str = "nps") -> int:
    card = re.search(rf'data-testid="card-{scale}">.*?<p class="n">\S+ (\d+)', text, re.S)
    assert card, text
    return int(card.group(1))


def breakdown_rows(text: str) -> list[tuple[str, int]]:
    """(group as shown, n) per row of the breakdown table."""
    table = re.search(r'data-testid="breakdown">(.*?)</section>', text, re.S)
    assert table, text
    rows = re.findall(r'<tr class="[^"]*">\s*<td>(.*?)</td>\s*<td class="num">(\d+)', table.group(1), re.S)
    return [(re.sub(r'<span class="flag">.*?</span>|<[^>]+>', "", cell).strip(), int(n)) for cell, n in rows]


def test_a_branch_managers_default_view_counts_the_answers_without_an_agent_as_their_own_group(koe):
    no_agent = {"context": {"M": {"branch": {"S": "tokyo-chuo"}}}}
    koe.stream(response_image(score=10, survey_id="ev-1"), response_image(score=3, survey_id="ev-2", **no_agent),
               response_image(score=2, survey_id="ev-3", **no_agent))
    by_agent, by_procedure = html(page(koe, MANAGER)), html(page(koe, MANAGER, "?dimension=procedure"))
    assert card_n(by_agent) == card_n(by_procedure) == 3
    assert breakdown_rows(by_agent) == [("A-102", 1), ("No agent", 2)]
    assert ("担当者なし", 2) in breakdown_rows(html(page(koe, MANAGER, language="ja")))
    assert ("无业务员", 2) in breakdown_rows(html(page(koe, MANAGER, language="zh")))


def chart_data(text: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="koe-data">(.*?)</script>', text, re.S)
    assert block, text
    return dict(json.loads(block.group(1)))


def test_the_trend_shows_every_day_of_the_period_and_a_day_without_a_margin_has_no_band(koe, answered):
    text = html(page(koe, ADMIN, "?from=2026-11-15&to=2026-11-21&period=day"))
    [nps] = chart_data(text)["series"]
    assert nps["labels"] == [f"2026-11-{d}" for d in range(15, 22)]
    assert nps["score"] == [None] * 6 + [-100.0] and nps["n"] == [0] * 6 + [1]
    assert nps["lower"] == nps["upper"] == [None] * 7          # one answer: no margin, no band to draw


def test_the_funnel_shows_the_surveys_waiting_now_apart_from_the_deferrals_over_the_period(koe, answered):
    store = koe.store
    store.outcomes[("claim_payment", "2026-11-20#scheduled")] = 209
    tonight = store.get_survey(SURVEY)
    for n in range(12):
        store.surveys[f"night-{n}"] = replace(tonight, survey_id=f"night-{n}", status=SurveyStatus.SCHEDULED,
                                              send_at=koe.clock.now + timedelta(hours=7))
    text = html(page(koe, ADMIN))
    counts = dict(re.findall(r"<dt>(.*?)</dt><dd[^>]*>\s*(\d+)", text))
    assert counts["Waiting for the send window now"] == "12"
    assert counts["Deferred to the send window in the period"] == "209"


def overdue_case(koe: Any, n: int) -> Case:
    """Opened 3 days and `n` hours ago with 2 days to resolve it: overdue by a day and `n` hours."""
    opened = koe.clock.now - timedelta(days=3, hours=n)
    return Case(case_id=f"case-{n:02d}", survey_id=f"case-{n:02d}", procedure="claim_payment", customer_id=f"C-{n}",
                score=2, opened_at=opened, first_contact_due=opened + timedelta(hours=4),
                resolution_due=opened + timedelta(days=2), context={"branch": "tokyo-chuo", "agent_id": "A-102"},
                phone_masked=None, owner=Owner(OwnerKind.AGENT, "A-102"))


def listed_ids(text: str, testid: str) -> list[str]:
    section = re.search(rf'data-testid="{testid}">(.*?)</div>', text, re.S)
    assert section, text
    return re.findall(r'<code class="id">([^<]+)</code>', section.group(1))


def test_the_overdue_list_shows_the_most_overdue_first_and_says_how_many_more_there_are(koe):
    for n in range(35):
        koe.cases.open_case(overdue_case(koe, n))
    text = html(page(koe, ADMIN))
    assert listed_ids(text, "overdue-cases") == [f"case-{n:02d}" for n in range(34, 24, -1)]
    assert re.search(r'data-testid="overdue-more"><a href="[^"]*/cases\?lang=en&amp;status=overdue">\s*and 25 more',
                     text)
    assert "ほか 25 件" in html(page(koe, MANAGER, language="ja"))


def sentiment_rows(text: str) -> list[tuple[str, int]]:
    """(group as shown, n) per row of the sentiment-per-group table."""
    table = re.search(r'data-testid="sentiment-groups">(.*?)</table>', text, re.S)
    assert table, text
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(\d+)", table.group(1), re.S)
    return [(re.sub(r"<[^>]+>", "", cell).strip(), int(n)) for cell, n in rows]


def test_the_sentiment_per_group_counts_the_comments_without_an_agent_as_their_own_group(koe):
    def analysed(n: int, agent: str, sentiment: Sentiment) -> InsightChange:
        answer = Answer(survey_id=f"sv-{n}", question="comment", received_at=koe.clock.now - timedelta(hours=n),
                        procedure="claim_payment", customer_id=f"C-{n}", locale="ja",
                        context={"branch": "tokyo-chuo", "agent_id": agent}, score=7, text=f"comment {n}",
                        threshold=6, phone_masked=None, channel="web")
        return InsightChange(None, CommentInsight.of(answer, Insight(sentiment, 0.0, ()), "ja", REPORTING_TZ,
                                                     koe.clock.now))

    koe.components.comment_insights.save([analysed(1, "A-102", Sentiment.NEGATIVE),
                                          analysed(2, "", Sentiment.POSITIVE), analysed(3, "", Sentiment.NEUTRAL)])
    by_agent = html(page(koe, MANAGER))                        # a branch manager's default breakdown: by agent
    assert sentiment_rows(by_agent) == [("A-102", 1), ("No agent", 2)]
    assert sentiment_rows(html(page(koe, MANAGER, "?dimension=procedure"))) == [("claim_payment", 3)]
    assert ("担当者なし", 2) in sentiment_rows(html(page(koe, MANAGER, language="ja")))
    assert ("无业务员", 2) in sentiment_rows(html(page(koe, MANAGER, language="zh")))


def stat(text: str, label: str) -> int:
    found = re.search(rf"<span>{label}</span><b[^>]*>(\d+)</b>", text)
    assert found, text
    return int(found.group(1))


def test_a_branch_managers_case_figures_count_the_cases_in_their_queue_as_their_list_does(koe):
    """An Osaka customer's case given to Tokyo's queue is in the Tokyo manager's list: it is counted
    in their figures too (and still in Osaka's, whose customer it is)."""
    routed = replace(overdue_case(koe, 1), case_id="routed", survey_id="routed", context={"branch": "osaka-kita"},
                     owner=Owner(OwnerKind.BRANCH, "tokyo-chuo"), owner_branch="tokyo-chuo")
    koe.cases.open_case(routed)
    koe.cases.open_case(replace(overdue_case(koe, 2), case_id="osakas", survey_id="osakas",
                                context={"branch": "osaka-kita"}, owner=Owner(OwnerKind.BRANCH, "osaka-kita"),
                                owner_branch="osaka-kita"))
    tokyo = html(page(koe, MANAGER))
    assert listed_ids(tokyo, "open-cases") == ["routed"]
    assert (stat(tokyo, "Opened"), stat(tokyo, "Open and overdue")) == (1, 1)
    osaka = html(page(koe, OTHER_MANAGER))
    assert sorted(listed_ids(osaka, "open-cases")) == ["osakas", "routed"]
    assert stat(osaka, "Opened") == 2


def test_the_open_list_shows_the_newest_and_says_how_many_more_are_open(koe):
    for n in range(13):
        koe.cases.open_case(overdue_case(koe, n))
    text = html(page(koe, ADMIN))
    assert listed_ids(text, "open-cases") == [f"case-{n:02d}" for n in range(10)]          # newest first
    assert re.search(r'data-testid="open-more"><a href="[^"]*/cases\?lang=en&amp;status=active">\s*and 3 more', text)
    assert "ほか 3 件" in html(page(koe, MANAGER, language="ja"))
    assert "另有 3 件" in html(page(koe, MANAGER, language="zh"))
    for n in (10, 11, 12):
        del koe.cases.cases[f"case-{n}"]
    assert 'data-testid="open-more"' not in html(page(koe, ADMIN))                           # ten: all listed
