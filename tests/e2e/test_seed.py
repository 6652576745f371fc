"""`make seed` through a whole local stack of its own: a short month (6 days of 8 procedures) is
seeded as `python -m devstack seed` does it, with koe's realistic send window, and what the CX team
then reads is checked against what the seed says it did — answers on several days and on every
scale, cases opened and worked, the clock back at the wall clock, nothing dead-lettered."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import seed
from tests import clock as pinned
from tests.e2e.harness import Koe, local_stack

pytestmark = [pytest.mark.e2e, pytest.mark.clock]

ROOT = Path(__file__).resolve().parents[2]
REALISTIC = {"KOE_SEND_WINDOW": "09:00-20:00", "KOE_SKIP_HOLIDAYS": "true"}
DAYS, PER_DAY = 6, 8
Seeded = tuple[Koe, seed.Summary, list[seed.Progress]]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with local_stack(tmp_path_factory.mktemp("seed"), REALISTIC) as running:
        reports: list[seed.Progress] = []
        summary = seed.seed(running, days=DAYS, events_per_day=PER_DAY, rng_seed=7, progress=reports.append)
        yield Koe(running), summary, reports


def cx(koe: Koe, path: str, **params: str) -> Any:
    answer = requests.get(f"{koe.api}{path}", params=params, timeout=10,
                          headers={"authorization": f"Bearer {koe.cx_token()}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def all_cases(koe: Koe) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    params = {"limit": "100"}
    while True:
        page = cx(koe, "/v1/cases", **params)
        cases.extend(page["cases"])
        if not page["next_cursor"]:
            return cases
        params["cursor"] = page["next_cursor"]


def test_the_scores_have_answers_on_several_days_of_the_past_and_on_every_scale(seeded: Seeded) -> None:
    koe, summary, _ = seeded
    today = koe.now().date()
    scores = cx(koe, "/v1/scores", dimension="procedure", period="day",
                **{"from": (today - timedelta(days=DAYS + 1)).isoformat(), "to": today.isoformat()})
    counted = {r["scale"]: r["total"]["n"] for r in scores["results"]}
    # every scale the local definitions ask (NPS; address_change on CSAT, call_center on CES) was answered
    assert set(counted) == {"nps", "csat", "ces"} and all(n > 0 for n in counted.values()), counted
    # koe counted exactly the answers the seed's customers gave
    assert counted == dict(summary.answered), (counted, summary.answered)
    days = {t["period"] for r in scores["results"] for t in r["trend"] if t["n"] > 0}
    assert len(days) >= 4, days
    # answered on the stack's clock, days ago: the month was walked through, not posted today
    assert min(date.fromisoformat(d) for d in days) <= today - timedelta(days=DAYS - 2), days


def test_every_event_was_accepted_and_surveyed_on_every_channel(seeded: Seeded) -> None:
    koe, summary, _ = seeded
    assert (summary.events_posted, summary.events_accepted) == (DAYS * PER_DAY, DAYS * PER_DAY)
    channels = cx(koe, "/v1/scores", dimension="channel",
                  **{"from": (koe.now().date() - timedelta(days=DAYS + 1)).isoformat()})
    answered_on = {g["value"] for r in channels["results"] for g in r["groups"] if g["n"] > 0}
    assert answered_on == {"sms_two_way", "sms_link", "email"}, answered_on
    assert set(summary.surveys_sent) == {"sms_two_way", "sms_link", "email"}
    assert sum(summary.surveys_sent.values()) > sum(summary.answered.values()) > 0    # some never answer


def test_cases_were_opened_and_some_worked_through_to_resolution(seeded: Seeded) -> None:
    koe, summary, _ = seeded
    cases = [c for c in all_cases(koe) if c["case_id"].startswith("seed-")]
    statuses = {c["status"] for c in cases}
    assert "resolved" in statuses and statuses & {"open", "in_progress"}, statuses
    assert len(cases) == summary.cases_opened
    resolved = next(c for c in cases if c["status"] == "resolved")
    detail = cx(koe, f"/v1/cases/{resolved['case_id']}")
    codes = cx(koe, "/v1/case-codes")
    assert detail["root_cause"] in {c["code"] for c in codes["root_causes"]}
    assert detail["action"] in {c["code"] for c in codes["actions"]}
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "opened" and {"claimed", "contact_attempt", "resolved"} <= set(kinds), kinds


def test_the_clock_ends_at_the_stacks_base_clock_and_the_progress_reached_the_end(seeded: Seeded) -> None:
    koe, _, reports = seeded
    clock = requests.get(f"{koe.carrier}/clock", timeout=10).json()
    # the base clock is the suite's pinned instant plus the seconds the stack has run (tests/clock.py)
    assert timedelta(0) <= datetime.fromisoformat(clock["now"]) - pinned.start() < timedelta(minutes=30), clock
    assert abs(clock["offset_hours"]) < 0.05, clock
    assert reports and reports[-1].step == reports[-1].steps and reports[-1].day == DAYS
    assert len({p.day for p in reports}) == DAYS


def test_nothing_was_dead_lettered(seeded: Seeded) -> None:
    koe, _, _ = seeded
    for queue in ("KOE_INTAKE_DLQ_URL", "KOE_ALERT_DELIVERIES_DLQ_URL", "KOE_COMMENT_INSIGHT_DLQ_URL"):
        assert koe.queue_bodies(queue) == [], queue


def test_the_clock_goes_back_only_when_asked_from_this_machine_in_json(seeded: Seeded) -> None:
    koe, _, _ = seeded
    ahead = (koe.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forward = requests.post(f"{koe.carrier}/clock/rewind", json={"to": ahead}, timeout=10)
    assert forward.status_code == 400 and "goes back" in forward.json()["error"]
    form = requests.post(f"{koe.carrier}/clock/rewind", data={"to": ahead}, timeout=10)
    assert form.status_code == 415


def test_the_command_says_when_no_stack_is_running(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "devstack", "seed", "--ready-file", str(tmp_path / "none.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no running stack" in done.stderr and "make run" in done.stderr


def test_each_local_roles_inbox_shows_a_queue_to_work(seeded: Seeded) -> None:
    """After the seed, the case inbox of the CX admin, each branch's manager and the busiest agent
    lists cases in their own scope, counted per tab, with notes and looks on the timelines."""
    import re

    from devstack import tokens

    koe, summary, _ = seeded
    cases = all_cases(koe)
    worked = [c for c in cases if c["owner"].startswith("agent:")]
    assert worked, "no case is owned by an agent"
    busiest = max({c["owner"] for c in worked}, key=lambda o: sum(c["owner"] == o for c in worked))
    agent = busiest.partition(":")[2]
    branch = next(c["branch"] for c in worked if c["owner"] == busiest)
    who = {"cx_admin": {}, "branch_manager": {"branch": branch}, "agent": {"agent": agent, "branch": branch}}
    for role, scope in who.items():
        session = requests.Session()
        token = tokens.mint(koe.env["KOE_LOCAL_TOKEN_SECRET"], role, now=tokens.stack_now(koe.carrier), **scope)
        assert session.get(tokens.sign_in_link(koe.api, token), timeout=10).status_code == 200   # to the dashboard
        page = session.get(f"{koe.api}/cases", params={"status": "all", "lang": "en"}, timeout=10)
        assert page.status_code == 200, (role, page.text[:500])
        rows = re.findall(r'data-testid="case-row" data-case="([^"]+)"', page.text)
        counted = int(re.search(r'data-testid="tab-all"[^>]*>[^<]*<b>(\d+)</b>', page.text)[1])
        assert rows and counted >= len(rows), role
        theirs = {"cx_admin": lambda c: True, "agent": lambda c: c["owner"] == busiest,
                  "branch_manager": lambda c: c["branch"] == branch
                  or c["owner"] in (f"branch:{branch}", busiest)}[role]
        assert set(rows) <= {c["case_id"] for c in cases if theirs(c)}, role
    timelines = [cx(koe, f"/v1/cases/{c['case_id']}")["timeline"] for c in cases if c["status"] == "resolved"]
    assert any("contact_revealed" in [e["kind"] for e in t] for t in timelines)
    assert any(e["kind"] == "contact_attempt" and e["detail"].get("note") for t in timelines for e in t)
