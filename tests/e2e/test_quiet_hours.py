"""Quiet hours, holidays and fatigue through a running local stack with a realistic send window,
on any day and at any hour: the stack's clock is moved by its local time machine
(`python -m devstack advance`), never waited for, and what is deferred is read back with
`python -m devstack scheduled`, as a person would.

Why a second stack rather than `KOE_SEND_WINDOW_BY_COUNTRY` on the one of test_journeys.py: the
time machine moves a whole stack's clock, and those journeys must not find it a day or more ahead
(conversation windows closing under them, events "from yesterday"). This stack runs koe's own
defaults — 09:00-20:00 in the customer's time zone, public holidays skipped — set explicitly, so a
developer's shell cannot change what it decides.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
import requests

from devstack.time_machine import iso
from tests.e2e.harness import Koe, eventually, local_stack

pytestmark = [pytest.mark.e2e, pytest.mark.clock]

TOKYO = ZoneInfo("Asia/Tokyo")
REALISTIC = {"KOE_SEND_WINDOW": "09:00-20:00", "KOE_SKIP_HOLIDAYS": "true"}


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    with local_stack(tmp_path_factory.mktemp("tokyo"), REALISTIC) as running:
        yield Koe(running)


def jp_event(phone: str, at: datetime, procedure: str = "claim_payment", **context: str) -> dict[str, Any]:
    """A Japanese customer (phone, ja-JP, explicitly in Tokyo, no email) completed `procedure` at `at`."""
    return {"event_id": f"e2e-tokyo-{uuid.uuid4().hex[:12]}", "procedure": procedure,
            "completed_at": at.isoformat(timespec="seconds"),
            "customer": {"id": f"C-{phone[-4:]}", "phone": phone, "locale": "ja-JP", "timezone": "Asia/Tokyo"},
            "context": {"branch": "tokyo-chuo", "agent_id": "A-e2e-tokyo", **context}}


def next_in_tokyo(after: datetime, hour: int) -> datetime:
    """The first `hour`:00 in Tokyo strictly after `after`."""
    local = after.astimezone(TOKYO)
    candidate = datetime.combine(local.date(), clock_time(hour), TOKYO)
    return (candidate if candidate > local else candidate + timedelta(days=1)).astimezone(UTC)


def japanese_holiday(day: Any) -> bool:
    return day in holidays.country_holidays("JP", years=day.year)


def test_an_event_at_23_00_in_tokyo_is_scheduled_for_9_00_and_released_by_the_tick(koe: Koe):
    phone = "+819000020161"
    # Given the stack's clock at 23:00 in Tokyo, whatever the hour of the run
    eleven_pm = next_in_tokyo(koe.now(), 23)
    moved = koe.advance("--to", iso(eleven_pm))
    assert abs(datetime.fromisoformat(moved["now"]) - eleven_pm) < timedelta(seconds=5)
    # When a Japanese customer's claim payment completes now
    posted = jp_event(phone, koe.now())
    assert koe.post(posted).status_code == 202
    # Then the survey waits: scheduled for the send window, not sent
    survey = koe.survey_once(posted["event_id"], "scheduled")
    assert (survey["reason"], survey["channel"]) == ("outside_send_window", "sms_link")
    # And `python -m devstack scheduled` shows it with its send time: 09:00 in Tokyo on the next
    # day that is not a Japanese public holiday; no phone number in clear
    [line] = [s for s in koe.scheduled() if s["survey_id"] == posted["event_id"]]
    assert (line["procedure"], line["channel"], line["status"], line["timezone"]) == (
        "claim_payment", "sms_link", "scheduled", "Asia/Tokyo")
    send_at, local = datetime.fromisoformat(line["send_at"]), datetime.fromisoformat(line["send_at_local"])
    assert local == send_at and local.utcoffset() == timedelta(hours=9) and local.time() == clock_time(9, 0)
    first_morning = eleven_pm.astimezone(TOKYO).date() + timedelta(days=1)
    skipped = [first_morning + timedelta(days=n) for n in range((local.date() - first_morning).days)]
    assert local.date() >= first_morning and not japanese_holiday(local.date())
    assert all(japanese_holiday(day) for day in skipped)
    assert line["to"] == "+81******0161" and phone[1:] not in json.dumps(line)
    # And the phone page's list (the carrier's /scheduled) shows the same send time
    listed = requests.get(f"{koe.carrier}/scheduled", timeout=10).json()
    assert [s["send_at"] for s in listed if s["survey_id"] == posted["event_id"]] == [line["send_at"]]
    time.sleep(3)                   # the stack's own schedule ticks (every 2 s): still nothing sent
    assert koe.invitations(phone) == []

    # When the time machine moves the clock to a minute past that send time
    hours = (send_at - koe.now()).total_seconds() / 3600 + 1 / 60
    moved = koe.advance("--hours", f"{hours:.4f}")
    # Then the tick it fired released the survey, and the link SMS arrives
    assert moved["tick"]["released"] >= 1
    [sms] = eventually(lambda: koe.invitations(phone))
    assert sms["body"].startswith("Example Lifeです。保険金のお支払いのアンケート") and f"{koe.api}/s/" in sms["body"]
    assert koe.survey(posted["event_id"])["status"] in ("sent", "delivered")
    assert posted["event_id"] not in [s["survey_id"] for s in koe.scheduled()]


def test_a_second_event_of_the_same_procedure_within_the_cooldown_is_suppressed(koe: Koe):
    phone = "+819000020162"
    # Given a first claim payment of this customer, surveyed (at once or in the morning: the hour of
    # the stack's clock decides, and either way the survey counts for the cooldown)
    first = jp_event(phone, koe.now())
    koe.post(first)
    surveyed = eventually(lambda: (s := koe.survey(first["event_id"])) and s["status"] in (
        "scheduled", "sent", "delivered"))
    assert surveyed, koe.survey(first["event_id"])
    # When another claim payment of the same customer completes
    second = jp_event(phone, koe.now())
    assert koe.post(second).status_code == 202
    # Then it is suppressed, with its reason
    assert koe.survey_once(second["event_id"], "suppressed")["reason"] == "cooldown"


def test_an_event_while_the_claim_is_open_is_suppressed(koe: Koe):
    phone = "+819000020163"
    posted = jp_event(phone, koe.now(), claim_open="true")
    assert koe.post(posted).status_code == 202
    assert koe.survey_once(posted["event_id"], "suppressed")["reason"] == "claim_open"
    assert koe.invitations(phone) == []
