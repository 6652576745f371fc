"""The CX dashboard in Chromium at a desktop's size, against the whole local stack after `python -m
devstack seed` (a few days of real events and replies through the intake and the carrier): signed
in with the local sign-in link, in English, Japanese and Chinese (the browser's language, then the
switch), as the CX admin and as a branch manager. The charts are drawn by the charting library the
app serves (no console error: nothing refused by the page's Content-Security-Policy), and every
section shows what the seeded data holds. Screenshots: docs/screenshots/dashboard-{en,ja,zh}.png,
dashboard-branch-manager-ja.png."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS, _require_browser, sign_in_link, watched
from tests.e2e.harness import ROOT, Koe, local_stack

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}          # a CX analyst's laptop or office screen
LOCALES = {"en": "en-US", "ja": "ja-JP", "zh": "zh-CN"}
TITLES = {"en": "Customer voice", "ja": "お客さまの声", "zh": "客户之声"}
SEED_DAYS, SEED_PER_DAY = 5, 12


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    _require_browser()
    with local_stack(tmp_path_factory.mktemp("dashboard"), {}) as running:
        done = subprocess.run([sys.executable, "-m", "devstack", "seed", "--days", str(SEED_DAYS),
                               "--per-day", str(SEED_PER_DAY), "--ready-file", running["ready_file"]],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        yield Koe(running)


@pytest.fixture
def browse(browser: Any) -> Iterator[Any]:
    """`browse(language)`: a new desktop page whose browser asks for that language; console errors
    and warnings (a script or style the policy refused, a failed request) are on `page.problems`."""
    contexts = []

    def opened(language: str) -> Any:
        context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, locale=LOCALES[language])
        contexts.append(context)
        return watched(context.new_page())

    yield opened
    for context in contexts:
        context.close()


def charts_drawn(page: Any) -> None:
    page.wait_for_function("document.documentElement.dataset.charts === 'drawn'")
    # The NPS trend's canvas has pixels on it (the library drew, not just loaded).
    painted = page.evaluate("""() => { const c = document.getElementById('trend-nps');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }""")
    assert painted > 1000


def chart_is_honest(page: Any) -> None:
    """The NPS trend as Chart.js holds it: every day of the period on the axis (the seed's few days
    among them), the line and band never drawn across a gap, and each too-few point a large cross
    in a colour of its own, named in the legend."""
    chart = page.evaluate("""() => { const c = Chart.getChart(document.getElementById('trend-nps'));
        const [upper, lower, score] = c.data.datasets;
        return {labels: c.data.labels, spanGaps: [upper.spanGaps, lower.spanGaps, score.spanGaps],
                score: score.data, lower: lower.data, radius: score.pointRadius, border: score.pointBorderColor,
                line: score.borderColor,
                legend: Object.fromEntries(c.legend.legendItems.map(i => [i.text, [i.pointStyle, i.fillStyle]]))}; }""")
    first, last = (page.locator(f'form.filters input[name="{name}"]').input_value() for name in ("from", "to"))
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    assert len(chart["labels"]) == days and chart["labels"][0] == first and chart["labels"][-1] == last
    assert chart["spanGaps"] == [False, False, False]
    assert None in chart["score"] and any(v is not None for v in chart["score"])        # gaps and points
    words = json.loads(page.locator("#koe-data").text_content())["words"]
    few = [i for i, flag in enumerate(json.loads(page.locator("#koe-data").text_content())["series"][0]["too_few"])
           if flag and chart["score"][i] is not None]
    assert few, "the seed's days each have fewer answers than the minimum"
    assert all(chart["radius"][i] >= 6 and chart["border"][i] != chart["line"] for i in few)
    assert chart["legend"][words["too_few"]][0] == "crossRot"
    assert chart["legend"][words["score"]] == ["circle", chart["line"]]          # the score's key: a dot


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_the_cx_admin_sees_every_section_in_the_browsers_language(koe: Koe, browse: Any, language: str) -> None:
    page = browse(language)
    page.goto(sign_in_link(koe, "cx_admin"))
    assert page.url == f"{koe.api}/dashboard"
    assert page.locator("html").get_attribute("lang") == language
    assert TITLES[language] in page.locator("header").inner_text()
    charts_drawn(page)
    chart_is_honest(page)
    # Scores: a card per scale asked, each with its n; the breakdown by branch has the seeded branches.
    assert page.locator('[data-testid="card-nps"]').is_visible()
    rows = page.locator('[data-testid="breakdown"] table[data-scale="nps"] tbody tr')
    assert rows.count() >= 3
    assert rows.locator("td.num").first.inner_text().isdigit()
    # The funnel has real numbers: sent >= delivered >= answered > 0.
    sent, delivered, answered = (int(page.locator('[data-testid="funnel"] ol.funnel li b').nth(i).inner_text())
                                 for i in range(3))
    assert sent >= delivered >= answered > 0
    # Cases were opened by the seeded detractors; comments carry a sentiment and key phrases.
    assert int(page.locator('[data-testid="cases"] .stats p b').first.inner_text()) > 0
    assert page.locator('[data-testid="comment"]').count() > 0
    assert page.locator('[data-testid="comment"] .senti').count() == page.locator('[data-testid="comment"]').count()
    assert page.locator('[data-testid="sentiment-groups"] tbody tr').count() >= 1
    assert page.problems == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{language}.png"), full_page=True)


def test_the_language_switch_wins_over_the_browser_and_keeps_the_view(koe: Koe, browse: Any) -> None:
    page = browse("en")
    page.goto(sign_in_link(koe, "cx_admin"))
    page.select_option('[data-testid="dimension"]', "procedure")
    page.locator("form.filters button").click()
    page.wait_for_url("**/dashboard?*dimension=procedure*")
    page.locator('[data-testid="lang-zh"]').click()
    page.wait_for_url("**lang=zh**")
    assert page.locator("html").get_attribute("lang") == "zh"
    assert "业务类型" in page.locator('[data-testid="breakdown"] h2').inner_text()      # still by procedure
    charts_drawn(page)
    assert page.problems == []


def test_a_branch_manager_sees_their_branch_in_japanese(koe: Koe, browse: Any) -> None:
    page = browse("ja")
    page.goto(sign_in_link(koe, "branch_manager", branch="tokyo-chuo"))
    assert "支店 tokyo-chuo" in page.locator('[data-testid="scope"]').inner_text()
    charts_drawn(page)
    # By agent within the branch: only the branch's agents; another branch's never shows.
    agents = page.locator('[data-testid="breakdown"] table[data-scale="nps"] tbody tr td:first-child').all_inner_texts()
    assert agents and all("A-2" not in a and "A-3" not in a for a in agents)
    assert "shanghai-01" not in page.locator("main").inner_text()
    assert page.locator('[data-testid="dimension"] option[value="branch"]').count() == 0
    assert page.problems == []
    page.screenshot(path=str(SCREENSHOTS / "dashboard-branch-manager-ja.png"), full_page=True)


def test_without_a_session_the_page_says_how_to_sign_in_and_the_link_expires(koe: Koe, browse: Any) -> None:
    page = browse("ja")
    answer = page.goto(f"{koe.api}/dashboard")
    assert answer is not None and answer.status == 401
    assert "python -m devstack token --role cx_admin --dashboard" in page.locator("main").inner_text()
    forged = requests.get(f"{koe.api}/dashboard/local-sign-in", params={"token": "a.b.c"}, timeout=10,
                          allow_redirects=False)
    assert forged.status_code == 401 and "set-cookie" not in forged.headers
