"""The browser tier: the web survey page in a real Chromium (Debian's /usr/bin/chromium, driven by
Playwright for Python) at a phone's size, against app.py served over HTTP on 127.0.0.1 (a free
port, in a thread) with koe's fakes installed through the composition root.

Nothing here skips: without Chromium or the CJK fonts the tests fail and say what to install
(`make test` installs both: see the Makefile's browser prerequisites).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import app as app_module
from chalicelib.bootstrap import Components, install
from chalicelib.domain import survey_token
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.settings import from_env
from devstack.time_machine import pinned_at
from tests import clock
from tests.fakes.messaging import FakeAlerts, FakeDeadLetters, FakeFollowUps, FakeIntakeQueue, FakeSms
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.functional.conftest import CONTACT_KEY, ENV, fake_secrets

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PACKAGES = "chromium fonts-noto-cjk"
PHONE = {"width": 390, "height": 844}
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
KEY = survey_token.link_key(CONTACT_KEY.encode())


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, or `apt-get install -y {PACKAGES}`", pytrace=False)
    if not _has_cjk_fonts():
        pytest.fail(f"the Noto CJK fonts are missing: run `make test`, or `apt-get install -y {PACKAGES}`",
                    pytrace=False)


def _has_cjk_fonts() -> bool:
    """As the Makefile checks: fontconfig lists Noto Sans CJK, or Debian's font files are there."""
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout
        if "noto sans cjk" in listed.lower():
            return True
    return any(Path("/usr/share/fonts/opentype/noto").glob("NotoSansCJK*"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright  # requirements-dev.txt: playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Site:
    """app.py served on 127.0.0.1 with fakes; `survey(locale)` opens a survey and gives its link."""

    base_url: str
    components: Components

    @property
    def store(self) -> FakeConversationStore:
        store: FakeConversationStore = self.components.conversations
        return store

    def survey(self, locale: str, procedure: str = "claim_payment", scale: str = "nps") -> str:
        now = self.components.clock()
        survey_id = f"browser-{locale}-{len(self.store.surveys)}"
        self.store.open_survey(Survey(
            survey_id=survey_id, procedure=procedure, customer_id="C-88123", contact_key=f"ck-{survey_id}",
            locale=locale, channel="sms_link", channel_reason="browser test", status=SurveyStatus.SENT,
            created_at=now, completed_at=now - timedelta(hours=1), phone="+15550100123",
            context={"branch": "tokyo-chuo", "agent_id": "A-102"}, open_until=now + timedelta(hours=24),
            scale=scale, definition_version=1 if scale == "nps" else 2), now)
        return f"{self.base_url}/s/{survey_token.sign(KEY, survey_id)}"

    def answers(self, link: str) -> dict[str, Any]:
        survey_id = survey_token.verify(KEY, link.rsplit("/", 1)[1].split("?")[0])
        return {a.question: a for a in self.store.answers_for(survey_id)}


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The Chalice app over HTTP (Chalice's local server, as devstack/stack.py serves it) on a free
    port of 127.0.0.1, in a thread; the app's class and the installed components are restored after."""
    from chalice.config import Config
    from chalice.local import create_local_server

    built = Components(
        from_env(ENV), conversations=FakeConversationStore(), cases=FakeCaseStore(), scores=FakeScoreStore(),
        intake_queue=FakeIntakeQueue(), dead_letters=FakeDeadLetters(), follow_ups=FakeFollowUps(),
        alerts=FakeAlerts(), sms=FakeSms(), event_ledger=FakeEventLedger(), secrets=fake_secrets(),
        clock=pinned_at(clock.start()))      # the suite's pinned instant, never today's date (tests/clock.py)
    previous = install(built)
    app_class = app_module.app.__class__                 # create_local_server swaps it for a thread-local one
    config = Config.create(chalice_stage="local", app_name=app_module.app.app_name,
                           lambda_timeout=30, lambda_memory_size=512)
    server = create_local_server(app_module.app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, name="browser-site", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server.server_address[1]}", built)
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)
        app_module.app.__class__ = app_class
        install(previous)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A new page in a phone-sized, touch-capable context; console errors (e.g. a refused style)
    are collected on `page.problems`."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    context.close()



def watched(page: Any, timeout_ms: int = 15_000) -> Any:
    """The page with its console errors and warnings (a script or style the policy refused, a failed
    request: "<type>: <text>") and uncaught errors collected on `page.problems`."""
    page.set_default_timeout(timeout_ms)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    return page


def sign_in_link(koe: Any, role: str, **scope: str) -> str:
    """The local sign-in link of a CX user of the running stack `koe` (tests/e2e/harness.Koe)."""
    from devstack import tokens

    token = tokens.mint(koe.env["KOE_LOCAL_TOKEN_SECRET"], role, now=tokens.stack_now(koe.carrier), **scope)
    return tokens.sign_in_link(koe.api, token)
