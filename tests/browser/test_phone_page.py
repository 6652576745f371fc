"""The carrier's phone page in Chromium, against the whole local stack (`python -m devstack`, started
as the e2e tests start it): a Japanese customer's link SMS shows its link clickable, the link opens
koe's web survey on the local API, the answer sent there is recorded; texts are shown as text, and
only http(s) links become links; the "Scheduled surveys" list shows a survey waiting for the
customer's morning, and its button (the local time machine) releases it onto the phone.
Screenshot: docs/screenshots/phone-link-sms-ja.png."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS, _require_browser
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}        # the phone page is a developer's tool: phone + schedule
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    _require_browser()          # fail before spending a stack start on a machine without Chromium
    # Open all day (the link SMS goes at once, whatever the hour of the run), except Great Britain,
    # whose realistic window lets the schedule test defer a survey (its clock moved to 21:00 first).
    settings = {**OPEN_ALL_DAY, "KOE_SEND_WINDOW_BY_COUNTRY": '{"GB": "09:00-20:00"}'}
    with local_stack(tmp_path_factory.mktemp("phone"), settings) as running:
        yield Koe(running)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems
    yield opened
    context.close()


def an_event(koe: Koe, customer: dict[str, str], branch: str) -> dict[str, Any]:
    return {"event_id": f"browser-phone-{uuid.uuid4().hex[:10]}", "procedure": "claim_payment",
            "completed_at": koe.now().isoformat(timespec="seconds"), "customer": {"id": "C-88123", **customer},
            "context": {"branch": branch, "agent_id": "A-browser"}}


def phone_page(koe: Koe, number: str) -> str:
    return f"{koe.carrier}/?number={quote(number)}"


def test_a_link_sms_opens_the_web_survey_and_the_answer_is_recorded(koe: Koe, page: Any) -> None:
    number, branch = "+819000030161", f"browser-jp-{uuid.uuid4().hex[:6]}"
    posted = an_event(koe, {"phone": number, "locale": "ja-JP", "timezone": "Asia/Tokyo"}, branch)
    assert koe.post(posted).status_code == 202
    assert eventually(lambda: koe.invitations(number), timeout=75)   # 23:59 in Tokyo: the tick sends at 00:00

    page.goto(phone_page(koe, number))
    link = page.locator(".bubble.from-koe a")
    link.wait_for()
    href = link.get_attribute("href")
    assert href is not None and href.startswith(f"{koe.api}/s/") and link.inner_text() == href
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener noreferrer")
    bubble = page.locator(".bubble.from-koe").first
    assert bubble.inner_text().startswith("Example Lifeです。保険金のお支払いのアンケート")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / "phone-link-sms-ja.png"))

    with page.context.expect_page() as opened:      # a phone opens a texted link in its browser
        link.click()
    survey = opened.value
    survey.wait_for_load_state()
    assert survey.url == href
    assert survey.locator("html").get_attribute("lang") == "ja"
    survey.locator("#score-9").check()
    survey.locator("#comment").fill("窓口の対応が丁寧でした")
    survey.get_by_role("button").click()
    survey.wait_for_load_state()
    assert survey.locator("h1").inner_text() == "ご回答ありがとうございました"

    recorded = koe.survey_once(posted["event_id"], "answered")
    assert recorded["score"] == 9
    group = eventually(lambda: koe.group("branch", branch))
    assert group and (group["n"], group["promoters"]) == (1, 1)
    assert page.problems == []


def test_texts_are_shown_as_text_and_only_http_links_are_clickable(koe: Koe, page: Any) -> None:
    number = "+15550100188"
    hostile = ('<img src=x onerror="window.pwned=1"> <b>bold</b> javascript:window.pwned=2 '
               'data:text/html,hi https://example.org/a?b=1&c=2. "http://x.test/"x')
    koe.reply(number, hostile)                      # the customer's own bubble, as it reached the carrier

    page.goto(phone_page(koe, number))
    mine = page.locator(".bubble.from-me").first
    mine.wait_for()
    assert mine.inner_text() == hostile
    assert page.locator(".bubble img, .bubble b, .bubble script").count() == 0
    hrefs = [a.get_attribute("href") for a in mine.locator("a").all()]
    assert hrefs == ["https://example.org/a?b=1&c=2", "http://x.test/"]     # no trailing ".", no quote
    assert page.evaluate("window.pwned") is None


def test_the_scheduled_list_shows_a_deferred_survey_and_its_button_releases_it(koe: Koe, page: Any) -> None:
    number = "+447700900123"                       # Ofcom's drama range
    # Given the stack's clock at 21:00 in London (the GB window closed), a survey is deferred
    now = koe.now().astimezone(LONDON)
    nine_pm = datetime.combine(now.date(), clock_time(21), LONDON)
    nine_pm = nine_pm if nine_pm > now else nine_pm + timedelta(days=1)
    moved = requests.post(f"{koe.carrier}/clock/advance", json={"to": nine_pm.astimezone(UTC).isoformat()},
                          timeout=30)
    assert moved.status_code == 200, moved.text
    posted = an_event(koe, {"phone": number, "locale": "en-GB", "timezone": "Europe/London"}, "browser-gb")
    assert koe.post(posted).status_code == 202
    waiting = koe.survey_once(posted["event_id"], "scheduled")

    # When a developer opens the phone page
    page.goto(phone_page(koe, number))
    listed = page.locator("#scheduled li", has_text=posted["event_id"])
    listed.wait_for()
    # Then the survey is listed with its send time, in London and in UTC, and no number in clear
    text = listed.inner_text()
    assert " 09:00 Europe/London (" in text and " UTC)" in text and "+44******0123" in text
    assert "7700900123" not in page.locator("#schedule").inner_text()
    assert waiting["send_at"].startswith(text.split(" (")[1][:10])      # the UTC date shown is the stored one
    assert page.locator(".bubble").count() == 0

    # When the time machine's button moves the clock to its send time
    page.get_by_role("button", name="Advance the clock to the next send time").click()
    # Then the schedule released it: the invitation is on the phone, and nothing waits any more
    page.locator(".bubble.from-koe", has_text="Reply 0-10").wait_for()
    page.locator("#scheduled li", has_text="none waiting").wait_for()
    assert re.search(r"released [1-9]", page.locator("#advanced").inner_text())
    assert koe.survey(posted["event_id"])["status"] in ("sent", "delivered")
    assert page.problems == []
