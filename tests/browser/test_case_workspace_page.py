"""The case workspace in Chromium against the whole local stack (`python -m devstack`, every hour
open, the stack's local routing: devstack/local_routing.py). A detractor's SMS reply opens a case; the
owner's alert email links to it; the link asks them to sign in and brings them back; they see what the
customer said, reveal the number, log the call and resolve the case in their own language, and the
customer receives the closing message. Also: the pages at a phone's size, two people saving the same
case at once (a 409 page that keeps what was typed), each role's scope (404 outside it), every move
without JavaScript, and the page by keyboard with every text readable (contrast at least 4.5:1).

Screenshots: docs/screenshots/case-page-{en,ja,zh}.png, case-inbox-{en,ja,zh}.png,
case-page-phone-ja.png, case-inbox-phone-ja.png, case-conflict-en.png.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from chalicelib.domain.phone import mask
from devstack import local_routing, tokens
from tests.browser.conftest import PHONE, SCREENSHOTS, _require_browser, sign_in_link, watched
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
DESKTOP = {"width": 1440, "height": 900}
LOCALES = {"en": "en-US", "ja": "ja-JP", "zh": "zh-CN"}
PEOPLE = local_routing.routing(lambda channel: "")["people"]
SLOW = 60.0                  # seconds: an SQS poll, a stream batch and a tick on a shared machine


def _catalog(folder: str, language: str) -> dict[str, Any]:
    with (ROOT / "templates" / folder / f"{language}.toml").open("rb") as handle:
        return tomllib.load(handle)


WORDS = {lang: _catalog("dashboard", lang) for lang in LOCALES}
ALERTS = {lang: _catalog("alerts", lang) for lang in LOCALES}
SMS = {lang: _catalog("sms", lang) for lang in LOCALES}
# The codes a person resolves with, as the page must name them in each language (domain/case_work.py).
ROOT_CAUSE = {"en": "Claim or payment delay", "ja": "支払・手続きの遅れ", "zh": "理赔或付款延迟"}
ACTION = {"en": "Apologised", "ja": "お詫び", "zh": "致歉"}


@dataclass(frozen=True)
class Customer:
    case_id: str              # the event's id: its survey's, and so its case's
    phone: str
    locale: str
    timezone: str
    branch: str
    agent: str
    comment: str

    @property
    def language(self) -> str:
        return self.locale.split("-")[0]


WHOLE = {
    "en": Customer("ws-whole-en", "+15550100150", "en-US", "America/New_York", "new-york-01", "A-310",
                   "The payment took three weeks and nobody called me back."),
    "ja": Customer("ws-whole-ja", "+15550100151", "ja-JP", "Asia/Tokyo", "tokyo-chuo", "A-102",
                   "支払いまで三週間もかかり、誰からも連絡がありませんでした。"),
    "zh": Customer("ws-whole-zh", "+15550100152", "zh-CN", "Asia/Shanghai", "shanghai-01", "A-210",
                   "理赔款三周才到账，也没有人给我回电话。"),
}
TOKYO = Customer("ws-tokyo", "+15550100153", "ja-JP", "Asia/Tokyo", "tokyo-chuo", "A-102",
                 "窓口で長く待たされました。")
RACE = Customer("ws-race", "+15550100154", "en-US", "America/New_York", "new-york-01", "A-310",
                "I waited on hold for an hour.")
PLAIN = Customer("ws-plain", "+15550100155", "en-US", "America/New_York", "new-york-01", "A-310",
                 "The form asked for the same papers twice.")


# --- the stack and what it holds

@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    """Every hour open (the closing message goes out at once); the routing and its alert retries are
    the stack's own local ones (chat to the carrier's channels, email to the local mailbox)."""
    _require_browser()
    with local_stack(tmp_path_factory.mktemp("workspace"), OPEN_ALL_DAY) as running:
        yield Koe(running)


@pytest.fixture(scope="module")
def opened(koe: Koe) -> dict[str, Customer]:
    """The cases the later tests share, opened together: each customer answered 2 and commented."""
    for customer in (TOKYO, RACE, PLAIN):
        post_event(koe, customer)
    for customer in (TOKYO, RACE, PLAIN):
        answer_low(koe, customer)
    for customer in (TOKYO, RACE, PLAIN):
        assert eventually(lambda c=customer: (case := case_of(koe, c.case_id)) and case["comment"], SLOW), \
            f"no case with a comment for {customer.case_id}: {case_of(koe, customer.case_id)!r}"
    return {"tokyo": TOKYO, "race": RACE, "plain": PLAIN}


def post_event(koe: Koe, customer: Customer) -> None:
    event = json.loads(json.dumps(SAMPLE))
    event["event_id"] = customer.case_id
    event["completed_at"] = koe.now().isoformat(timespec="seconds")
    event["customer"].update(id=f"C-9{customer.phone[-4:]}", phone=customer.phone, locale=customer.locale,
                             timezone=customer.timezone, email=f"customer-{customer.phone[-4:]}@example.com")
    event["context"].update(branch=customer.branch, agent_id=customer.agent)
    answer = koe.post(event)
    assert answer.status_code == 202, answer.text


def answer_low(koe: Koe, customer: Customer) -> None:
    assert eventually(lambda: koe.invitations(customer.phone), SLOW), f"no invitation to {customer.phone}"
    koe.reply(customer.phone, "2")
    koe.reply(customer.phone, customer.comment)


def case_of(koe: Koe, case_id: str) -> dict[str, Any] | None:
    """The case as the API shows a CX admin, or None."""
    answer = requests.get(f"{koe.api}/v1/cases/{case_id}", timeout=10,
                          headers={"authorization": f"Bearer {koe.cx_token()}"})
    return answer.json() if answer.status_code == 200 else None


def entries(koe: Koe, case_id: str, kind: str) -> list[dict[str, Any]]:
    case = case_of(koe, case_id)
    assert case is not None
    return [e for e in case["timeline"] if e["kind"] == kind]


def opened_alert(koe: Koe, to: str, case_id: str, language: str) -> dict[str, Any] | None:
    """The "new case" email to `to` about the case (its subject as alerts/<language>.toml begins it)."""
    begins = ALERTS[language]["events"]["opened"]["subject"].split("{")[0]
    listed = requests.get(f"{koe.carrier}/emails", params={"to": to}, timeout=10).json()
    return next((e for e in listed if case_id in e["body"] and e["subject"].startswith(begins)), None)


def case_link(alert: dict[str, Any], language: str) -> str:
    """The link on the email's last line ("Open the case: <url>" in the email's language)."""
    template = next(line for line in ALERTS[language]["body"]["text"].splitlines() if "{case_url}" in line)
    label = template.split("{case_url}")[0]
    last = alert["body"].strip().splitlines()[-1]
    assert last.startswith(label), f"the email's last line is {last!r}, not {label!r}..."
    return last.removeprefix(label).strip()


def closing_pattern(language: str) -> re.Pattern[str]:
    """The closing SMS of sms/<language>.toml, its {brand} and {procedure} filled with anything."""
    pieces = re.split(r"\{\w+\}", SMS[language]["closing"])
    return re.compile(".+?".join(re.escape(p) for p in pieces), re.DOTALL)


# --- browsers

@pytest.fixture
def browse(browser: Any) -> Iterator[Any]:
    """`browse(language, phone=False, script=True)`: a new page in a context of its own (its own
    cookies: one person), desktop-sized or a touch phone's; console errors and warnings (a refused
    style, a failed request) on `page.problems`."""
    contexts = []

    def opened(language: str, *, phone: bool = False, script: bool = True) -> Any:
        context = browser.new_context(viewport=PHONE if phone else DESKTOP, device_scale_factor=1,
                                      locale=LOCALES[language], is_mobile=phone, has_touch=phone,
                                      java_script_enabled=script)
        contexts.append(context)
        return watched(context.new_page())

    yield opened
    for context in contexts:
        context.close()


def signed_in_at(page: Any, koe: Koe, path: str, role: str, **scope: str) -> Any:
    """Open `path` without a session (the sign-in page, 401), then the local sign-in link: back at `path`.
    Returns the response of the page signed in."""
    asked = page.goto(f"{koe.api}{path}")
    assert asked is not None and asked.status == 401, asked and asked.status
    allow_refused(page, 401)
    answer = page.goto(sign_in_link(koe, role, **scope))
    assert urlparse(page.url).path == urlparse(path).path, page.url
    return answer


def allow_refused(page: Any, status: int) -> None:
    """Chromium logs a page answered with an error status as a failed load: expected here, once."""
    said = f"error: Failed to load resource: the server responded with a status of {status}"
    if any(p.startswith(said) for p in page.problems):
        page.problems.remove(next(p for p in page.problems if p.startswith(said)))


def submit(page: Any, testid: str) -> Any:
    """Press a form's button and wait for the page it leads to (after any redirect)."""
    with page.expect_navigation() as navigation:
        page.get_by_test_id(testid).click()
    return navigation.value


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def case_path(customer: Customer, language: str | None = None) -> str:
    return f"/cases/{customer.case_id}?lang={language or customer.language}"


# --- 1. a whole case, in each language

@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_the_owner_works_a_case_from_the_alert_to_the_customers_closing_message(
        koe: Koe, browse: Any, language: str) -> None:
    customer = WHOLE[language]
    owner = PEOPLE[customer.agent]
    words = WORDS[language]
    post_event(koe, customer)
    answer_low(koe, customer)

    # Given the owner's "new case" email, in their language, with the case's link on its last line
    alert = eventually(lambda: opened_alert(koe, owner["email"], customer.case_id, owner["language"]), SLOW)
    assert alert, f"no alert to {owner['email']} about {customer.case_id}"
    link = case_link(alert, owner["language"])
    assert urlparse(link).path == f"/cases/{customer.case_id}"
    # (the comment may come in after the case opened: wait for it, as the page would show it then)
    assert eventually(lambda: (case := case_of(koe, customer.case_id)) and case["comment"], SLOW)

    # When they open it: first the sign-in page, in their language; the local sign-in brings them back
    page = browse(language)
    asked = page.goto(link)
    assert asked is not None and asked.status == 401
    allow_refused(page, 401)
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_test_id("message-sign_in_local").inner_text().strip().endswith(
        words["messages"]["sign_in_local"])
    page.goto(sign_in_link(koe, "agent", agent=customer.agent, branch=customer.branch))
    assert urlparse(page.url).path == f"/cases/{customer.case_id}"

    # Then the case, in their language: the score, the comment, deadlines in both zones, the number masked
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_test_id("status").inner_text() == words["status_names"]["open"]
    assert page.get_by_test_id("score").locator("b").inner_text() == "2"
    assert customer.comment in page.locator('[data-testid="comment"] blockquote').all_inner_texts()
    for deadline in ("first_contact", "resolution"):
        row = page.get_by_test_id(f"deadline-{deadline}")
        assert words["work"]["deadline_names"][deadline] in row.locator("th").inner_text()
        mine, theirs = row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()
        assert owner["timezone"] in mine and customer.timezone in theirs, (mine, theirs)
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", mine) and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", theirs)
    survey = koe.survey(customer.case_id)
    assert survey is not None
    assert page.get_by_test_id("channel").inner_text() == words["channel_names"][survey["channel"]]
    # the case opened for a low score: its timeline says so in words, not codes
    [first] = [e for e in case_of(koe, customer.case_id)["timeline"] if e["kind"] == "opened"]
    opening = page.get_by_test_id("timeline-opened").inner_text()
    for word in (words["work"]["detail_names"]["reasons"], words["work"]["reasons"]["score"],
                 words["severity_names"][first["detail"]["severity"]]):
        assert word in opening, (word, opening)
    assert page.get_by_test_id("phone-masked").inner_text() == mask(customer.phone)
    assert customer.phone not in page.content()

    # When they reveal the number: it shows with a tel: link, and their look is on the timeline
    submit(page, "reveal")
    assert page.get_by_test_id("done-reveal").inner_text() == words["work"]["done"]["reveal"]
    assert page.get_by_test_id("phone").inner_text() == customer.phone
    assert page.get_by_test_id("tel").get_attribute("href") == f"tel:{customer.phone}"
    revealed = page.get_by_test_id("timeline-contact_revealed")
    assert revealed.count() == 1
    assert revealed.locator(".actor").inner_text() == tokens.subject_for("agent", customer.branch, customer.agent)
    assert unreadable(page) == []
    shot(page, f"case-page-{language}.png")

    # The inbox lists it, in the same language
    page.get_by_test_id("nav-inbox").click()
    page.wait_for_url("**/cases?lang=*")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator(f'[data-testid="case-row"][data-case="{customer.case_id}"]').count() == 1
    assert page.get_by_test_id("clear-filters").inner_text() == words["work"]["clear"]
    shot(page, f"case-inbox-{language}.png")
    page.locator(f'[data-case="{customer.case_id}"] a.case-link').click()
    page.wait_for_url(f"**/cases/{customer.case_id}?lang={language}")

    # When they log the call: reached, with a note
    note = {"en": "Called back and apologised.", "ja": "折り返し電話し、お詫びしました。",
            "zh": "已回电并致歉。"}[language]
    page.get_by_test_id("outcome-reached").check()
    page.get_by_test_id("attempt-note").fill(note)
    submit(page, "save-attempt")
    assert page.get_by_test_id("done-contact-attempts").is_visible()
    attempt = page.get_by_test_id("timeline-contact_attempt")
    assert attempt.count() == 1 and note in attempt.inner_text()
    assert words["work"]["outcomes"]["reached"] in attempt.inner_text()

    # And resolve it, choosing the root cause and the action by their names in this language
    page.get_by_test_id("root-cause").select_option(label=ROOT_CAUSE[language])
    page.get_by_test_id("fix").select_option(label=ACTION[language])
    before = {m["sid"] for m in koe.texts_to(customer.phone)}
    submit(page, "resolve")
    assert page.get_by_test_id("done-resolve").inner_text() == words["work"]["done"]["resolve"]
    assert page.get_by_test_id("status").inner_text() == words["status_names"]["resolved"]
    assert page.get_by_test_id("root-cause-shown").inner_text() == ROOT_CAUSE[language]

    # Then the customer receives the closing message of their language, and nothing else
    closing = closing_pattern(customer.language)
    sent = eventually(lambda: [m for m in koe.texts_to(customer.phone) if m["sid"] not in before], SLOW)
    assert sent, f"no closing message to {customer.phone}"
    assert [m["direction"] for m in sent] == ["outbound-api"], sent
    assert closing.fullmatch(sent[0]["body"]), sent[0]["body"]
    # and the case page says it was sent, and by which channel
    assert eventually(lambda: page.reload() and page.get_by_test_id("timeline-closing_sent").count() == 1, SLOW)
    assert words["channel_names"][survey["channel"]] in page.get_by_test_id("timeline-closing_sent").inner_text()
    assert [m["sid"] for m in koe.texts_to(customer.phone) if m["sid"] not in before] == [sent[0]["sid"]]
    assert page.problems == []


# --- 2. at a phone's size

def test_the_case_page_and_the_inbox_fit_a_phone(koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["tokyo"]
    page = browse("ja", phone=True)
    signed_in_at(page, koe, case_path(customer), "agent", agent="A-102", branch="tokyo-chuo")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert_fits(page)
    for testid in ("reveal", "claim", "save-attempt", "root-cause", "fix", "resolve", "note-text", "save-note"):
        page.get_by_test_id(testid).scroll_into_view_if_needed()
        assert page.get_by_test_id(testid).is_visible(), testid
    page.get_by_test_id("note-text").tap()                # a finger reaches the note field
    assert page.evaluate("document.activeElement.dataset.testid") == "note-text"
    shot(page, "case-page-phone-ja.png")

    page.get_by_test_id("nav-inbox").tap()
    page.wait_for_url("**/cases?lang=ja")
    assert page.locator(f'[data-case="{customer.case_id}"] a.case-link').is_visible()
    assert_fits(page)
    shot(page, "case-inbox-phone-ja.png")
    assert page.problems == []


def assert_fits(page: Any) -> None:
    """No horizontal scroll, and every link and control (but the skip link, off screen until
    focused) lies within the screen's width."""
    width = PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    outside = page.evaluate("""(width) => [...document.querySelectorAll(
          'a[href], button, select, textarea, input:not([type=hidden])')]
        .filter(e => !e.classList.contains('skip'))
        .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
        .filter(([, r]) => r.left < 0 || r.right > width + 0.5)
        .map(([html, r]) => `${html} spans ${Math.round(r.left)}..${Math.round(r.right)}`)""", width)
    assert outside == []


# --- 3. two people save the same case at once

def test_a_stale_form_shows_what_changed_and_keeps_what_was_typed(
        koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["race"]
    agent, manager = browse("en"), browse("en")
    signed_in_at(agent, koe, case_path(customer), "agent", agent="A-310", branch="new-york-01")
    signed_in_at(manager, koe, case_path(customer), "branch_manager", branch="new-york-01")
    managers_note = "Please call before noon; the customer works nights."
    agents_note = "Left a voicemail, will try again at 14:00."

    # Given the manager adds a note while the agent's page is open
    manager.get_by_test_id("note-text").fill(managers_note)
    submit(manager, "save-note")
    assert manager.get_by_test_id("done-notes").is_visible()

    # When the agent, on the page drawn before it, logs a contact attempt
    agent.get_by_test_id("outcome-left_message").check()
    agent.get_by_test_id("attempt-note").fill(agents_note)
    refused = submit(agent, "save-attempt")

    # Then a 409 page says what changed (the manager's note) and keeps what the agent typed
    assert refused.status == 409
    allow_refused(agent, 409)
    banner = agent.get_by_test_id("outcome-conflict")
    assert banner.is_visible() and WORDS["en"]["work"]["conflict"] in banner.inner_text()
    changed = banner.locator('[data-testid="changed"] [data-testid="timeline-note"]')
    assert changed.count() == 1 and managers_note in changed.inner_text()
    assert agent.get_by_test_id("attempt-note").input_value() == agents_note
    assert agent.get_by_test_id("outcome-left_message").is_checked()
    assert [e["detail"]["note"] for e in entries(koe, customer.case_id, "note")] == [managers_note]
    assert entries(koe, customer.case_id, "contact_attempt") == []
    assert unreadable(agent) == []
    shot(agent, "case-conflict-en.png")

    # And sending the kept form again (drawn at the new version) saves it: one of each
    submit(agent, "save-attempt")
    assert agent.get_by_test_id("done-contact-attempts").is_visible()
    assert [e["detail"]["note"] for e in entries(koe, customer.case_id, "note")] == [managers_note]
    attempts = entries(koe, customer.case_id, "contact_attempt")
    assert [(e["detail"]["outcome"], e["detail"]["note"]) for e in attempts] == [("left_message", agents_note)]
    assert agent.problems == [] and manager.problems == []


# --- 4. each role's scope

def test_a_case_outside_the_viewers_scope_does_not_exist_for_them(
        koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["tokyo"]                 # A-102's, in tokyo-chuo
    for scope in ({"role": "agent", "agent": "A-210", "branch": "shanghai-01"},
                  {"role": "branch_manager", "branch": "shanghai-01"}):
        page = browse("zh")
        answer = signed_in_at(page, koe, case_path(customer, "zh"), **scope)
        assert answer.status == 404, scope
        allow_refused(page, 404)
        assert page.get_by_test_id("message-no_case").inner_text().strip().endswith(WORDS["zh"]["messages"]["no_case"])
        assert customer.case_id not in page.locator("main").inner_text()
        page.goto(f"{koe.api}/cases?lang=zh&status=all")
        assert page.locator(f'[data-case="{customer.case_id}"]').count() == 0, scope
        assert page.problems == [], scope
    # while the branch's manager has it in their inbox
    page = browse("ja")
    signed_in_at(page, koe, "/cases?lang=ja", "branch_manager", branch="tokyo-chuo")
    assert page.locator(f'[data-case="{customer.case_id}"]').count() == 1


# --- 5. without JavaScript

def test_every_move_is_a_plain_form_without_javascript(koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["plain"]
    page = browse("en", script=False)
    signed_in_at(page, koe, case_path(customer), "agent", agent="A-310", branch="new-york-01")
    assert page.locator("script").count() == 0
    note, call = "Customer prefers email.", "No answer at the number given."

    submit(page, "claim")
    assert page.get_by_test_id("done-claim").is_visible()
    assert page.get_by_test_id("status").inner_text() == WORDS["en"]["status_names"]["in_progress"]
    page.get_by_test_id("note-text").fill(note)
    submit(page, "save-note")
    assert page.get_by_test_id("done-notes").is_visible()
    page.get_by_test_id("outcome-no_answer").check()
    page.get_by_test_id("attempt-note").fill(call)
    submit(page, "save-attempt")
    assert page.get_by_test_id("done-contact-attempts").is_visible()
    assert page.locator("script").count() == 0
    page.get_by_test_id("nav-inbox").click()
    page.wait_for_url("**/cases?lang=en")
    assert page.locator("script").count() == 0

    assert len(entries(koe, customer.case_id, "claimed")) == 1
    assert [e["detail"]["note"] for e in entries(koe, customer.case_id, "note")] == [note]
    assert [e["detail"]["note"] for e in entries(koe, customer.case_id, "contact_attempt")] == [call]
    assert page.problems == []


# --- 6. by keyboard, and readable

KEY_OF = """(e) => !e || e === document.body ? 'body'
    : e.type === 'radio' ? `radio:${e.name}@${e.form && e.form.getAttribute('action')}`
    : e.dataset.testid || e.id || e.className || e.tagName.toLowerCase()"""


def test_the_case_page_by_keyboard(koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["tokyo"]
    page = browse("ja")
    path = case_path(customer)
    signed_in_at(page, koe, path, "agent", agent="A-102", branch="tokyo-chuo")
    controls = page.evaluate(f"""() => [...document.querySelectorAll(
          'main form button, main form select, main form textarea, main form input:not([type=hidden])')]
        .filter(e => e.getClientRects().length && !e.disabled).map({KEY_OF})""")
    assert "reveal" in controls and "save-note" in controls

    # The first Tab from the top is the skip link, shown when focused; Enter moves to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = page.locator("a.skip").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    # Tab from the top reaches the reveal button and every form control
    page.goto(f"{koe.api}{path}")
    reached: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(f"({KEY_OF})(document.activeElement)"))
        if set(controls) <= set(reached):
            break
    assert reached[0] == "skip"
    assert set(controls) <= set(reached), f"never reached: {sorted(set(controls) - set(reached))}; order: {reached}"
    assert page.problems == []


CONTRAST = """() => {
  const rgba = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = (el) => {          // the first opaque background up the tree, translucent ones over it
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((under, layer) => over(layer, under), [255, 255, 255, 1]);
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (c) => '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.dataset.testid ? `[data-testid=${e.dataset.testid}]` : '')
    + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  const path = (e) => {
    const names = [];
    for (let n = e; n && n !== document.body && names.length < 3; n = n.parentElement) names.unshift(name(n));
    return names.join(' > ');
  };
  const measured = [];
  for (const e of document.body.querySelectorAll('*')) {
    if (['OPTION', 'SCRIPT', 'STYLE', 'TEXTAREA'].includes(e.tagName)) continue;
    const text = e.tagName === 'SELECT' ? e.selectedOptions[0]?.text || ''
      : [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!text) continue;
    const style = getComputedStyle(e), r = e.getBoundingClientRect();
    const hidden = style.visibility === 'hidden' || style.display === 'none';
    if (hidden || !r.width || r.right <= 0 || r.bottom <= 0) continue;      // the skip link sits off screen
    const back = background(e), fore = over(rgba(style.color), back), k = ratio(fore, back);
    measured.push({selector: path(e), text: text.slice(0, 40), color: hex(fore), background: hex(back),
                   ratio: Math.round(k * 100) / 100});
  }
  return measured;
}"""
MIN_CONTRAST = 4.5          # WCAG 2.x AA for body text; held for every text here, large or not


def unreadable(page: Any) -> list[dict[str, Any]]:
    """Every visible text of the page whose contrast against its background is below MIN_CONTRAST."""
    measured = page.evaluate(CONTRAST)
    assert len(measured) > 40, f"only {len(measured)} texts measured"
    return [m for m in measured if m["ratio"] < MIN_CONTRAST]


def test_every_text_on_the_case_page_and_the_inbox_is_readable(
        koe: Koe, opened: dict[str, Customer], browse: Any) -> None:
    customer = opened["tokyo"]
    page = browse("ja")
    signed_in_at(page, koe, case_path(customer), "agent", agent="A-102", branch="tokyo-chuo")
    assert unreadable(page) == []
    page.goto(f"{koe.api}/cases?lang=ja")
    assert unreadable(page) == []
    assert page.problems == []
