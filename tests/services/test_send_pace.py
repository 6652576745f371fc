"""The morning release at the carrier's pace: a night's deferred surveys go out spaced at each
sender's rate (KOE_SEND_RATES), as many as the tick has time for, the rest on the next tick, in order;
never claimed and left unsent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.model import SurveyStatus
from chalicelib.domain.send_pace import InvalidRates, Pacer, SendRates
from chalicelib.services.budget import Budget
from chalicelib.services.tick import tick
from tests.services.test_schedule import JP, at


class FakeTime:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def defer_a_night(world, n: int) -> list[str]:
    """`n` Japanese customers surveyed at 23:00 Tokyo: each waits for 09:00."""
    completed = at(world, "2026-11-24T23:00:00+09:00")
    ids = []
    for i in range(n):
        customer = {**JP, "phone": f"+8190123{i:05d}"}
        ids.append(f"claims-2026-night-{i:03d}")
        world.dispatch(event_id=ids[-1], customer=customer, completed_at=completed)
    assert all(world.store.get_survey(s).status is SurveyStatus.SCHEDULED for s in ids)
    at(world, "2026-11-25T09:00:00+09:00")
    return ids


def test_the_release_is_spaced_at_the_senders_rate(world):
    ids = defer_a_night(world, 6)
    clock = FakeTime()
    deps = replace(world.tick_deps, rates=SendRates.parse("sms=2"), monotonic=clock.monotonic, sleep=clock.sleep)
    assert tick(deps)["released"] == 6
    assert clock.slept == [0.5] * 5 and clock.now == 2.5          # 6 sends in 2.5 s: one every 0.5 s
    assert [m["to"] for m in world.sms.sent] == [f"+8190123{i:05d}" for i in range(6)]     # in order
    assert all(world.store.get_survey(s).status is SurveyStatus.SENT for s in ids)


def test_what_the_tick_has_no_time_for_waits_for_the_next_tick_unclaimed(world):
    ids = defer_a_night(world, 10)
    clock = FakeTime()
    deps = replace(world.tick_deps, rates=SendRates.parse("sms=0.5"), monotonic=clock.monotonic, sleep=clock.sleep)
    budget = Budget(lambda: int(20_000 - clock.now * 1000), reserve_ms=5_000)     # 15 s to spend
    assert tick(deps, budget)["released"] == 8                    # at 0, 2, ..., 14 s; the 9th would be at 16
    statuses = [world.store.get_survey(s).status for s in ids]
    assert statuses == [SurveyStatus.SENT] * 8 + [SurveyStatus.SCHEDULED] * 2       # nothing left `sending`
    assert tick(replace(deps, monotonic=FakeTime().monotonic))["released"] == 2
    assert len(world.sms.sent) == 10


def test_without_a_rate_nothing_waits(world):
    defer_a_night(world, 3)
    clock = FakeTime()
    assert tick(replace(world.tick_deps, monotonic=clock.monotonic, sleep=clock.sleep))["released"] == 3
    assert clock.slept == []


def test_senders_are_paced_apart_and_channels_of_one_sender_together() -> None:
    clock = FakeTime()
    pacer = Pacer(SendRates.parse("sms=1,email=4"), clock.monotonic, clock.sleep)
    for channel in ("sms_link", "sms_two_way", "email", "email", "sms_link"):
        pacer.wait(channel)
    assert pacer.sent() == {"sms": 3, "email": 2}
    assert clock.now == 2.0                              # the SMS pool's 3rd send, 1 s after its 2nd


@pytest.mark.parametrize("text, problem", [
    ("sms", "sender=messages per second"), ("fax=1", "sender one of"), ("sms=fast", "not a number"),
    ("sms=0", "above 0"), ("sms=-1", "above 0"), ("email=20000", "at most"),
])
def test_a_bad_rate_is_named(text: str, problem: str) -> None:
    with pytest.raises(InvalidRates, match=problem):
        SendRates.parse(text)


def test_rates_are_read_per_sender() -> None:
    rates = SendRates.parse(" sms=1 , EMAIL=14 ")
    assert (rates.of("sms_two_way"), rates.of("sms_link"), rates.of("email"), rates.of("line")) == (1.0, 1.0, 14.0,
                                                                                                     None)
    assert SendRates.parse("") == SendRates()


def test_a_paced_tick_reads_batch_after_batch_while_its_time_lasts(world):
    ids = defer_a_night(world, 250)
    clock = FakeTime()
    deps = replace(world.tick_deps, rates=SendRates.parse("sms=50"), monotonic=clock.monotonic, sleep=clock.sleep)
    assert tick(deps)["released"] == 250                      # three batches of at most 100, 5 s at 50 a second
    assert clock.now == pytest.approx(249 / 50)
    assert all(world.store.get_survey(s).status is SurveyStatus.SENT for s in ids)


def test_unpaced_a_tick_takes_one_batch_as_before(world):
    defer_a_night(world, 120)
    assert tick(world.tick_deps)["released"] == 100
    assert tick(world.tick_deps)["released"] == 20
