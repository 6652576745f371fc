"""The morning release at the carrier's pace, through the whole local stack (the short form of
bench/release_storm.py): a night's deferred surveys go out when the customers' window opens, the
carrier taking at most 10 messages a second per sender as Twilio's senders do, and the schedule
pacing itself to it (KOE_SEND_RATES=sms=10): every survey sent once, none refused with a 429."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.harness import Koe, eventually, local_stack

pytestmark = pytest.mark.e2e

RATE = 10
SURVEYS = 60
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    settings = {"KOE_SEND_WINDOW": "09:00-20:00", "KOE_SKIP_HOLIDAYS": "false", "KOE_SEND_RATES": f"sms={RATE}"}
    with local_stack(tmp_path_factory.mktemp("storm"), settings, tick_seconds=3600, carrier_rate=RATE) as running:
        yield Koe(running)


def test_a_nights_deferred_surveys_go_out_at_the_carriers_pace_none_refused(koe: Koe) -> None:
    now = koe.now()
    local = now.astimezone(NEW_YORK)
    assert not time(9) <= local.time() < time(20), "the stack's pinned clock is inside New York's window"
    run = uuid.uuid4().hex[:6]
    phones = [f"+1555010{6000 + i:04d}" for i in range(SURVEYS)]
    events = [{"event_id": f"storm-{run}-{i:03d}", "procedure": "claim_payment", "completed_at": now.isoformat(),
               "customer": {"id": f"C-S{i:03d}", "phone": phone, "locale": "en-US"},
               "context": {"branch": "new-york-01", "agent_id": "A-310"}} for i, phone in enumerate(phones)]
    assert koe.post({"events": events}).status_code == 202
    deferred = eventually(lambda: len([s for s in koe.scheduled() if s["survey_id"].startswith(f"storm-{run}")])
                          == SURVEYS, timeout=60)
    assert deferred, "the events were not all deferred"
    opens = datetime.combine(local.date() + timedelta(days=1 if local.time() >= time(20) else 0), time(9), NEW_YORK)
    started = monotonic()
    outcome = koe.advance("--to", opens.isoformat())             # the window opens: the schedule fires once
    took = monotonic() - started
    assert outcome["tick"]["released"] == SURVEYS and outcome["tick"]["postponed"] == 0, outcome["tick"]
    assert took >= (SURVEYS - 1) / RATE - 0.5                      # spaced at the rate, not a burst
    sent = [m for m in requests.get(f"{koe.carrier}/messages", timeout=10).json() if m["to"] in phones]
    assert sorted(m["to"] for m in sent) == sorted(phones)          # each once
