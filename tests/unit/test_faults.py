"""Faults on purpose (local only): what KOE_LOCAL_FAULTS may name, that a share of calls is hit and
raised with AWS's own error code, and only while a function runs."""

from __future__ import annotations

import pytest

from devstack.faults import ERRORS, Faults, InvalidFaults


def test_each_fault_is_drawn_at_its_share_and_named_as_aws_names_it() -> None:
    faults = Faults.parse("dynamodb:throttle=0.25,sqs:500=1", seed=3)
    hits = [faults.draw("dynamodb") for _ in range(4000)]
    assert 850 < sum(h is not None for h in hits) < 1150
    assert {h for h in hits if h} == {ERRORS["dynamodb"]["throttle"]}
    assert faults.draw("sqs") == ("InternalFailure", 500) and faults.draw("sns") is None
    assert faults.injected["sqs:500"] == 1


def test_ses_is_found_under_the_name_its_client_reports() -> None:
    assert Faults.parse("ses:throttle=1").draw("sesv2") == ("TooManyRequestsException", 429)


def test_the_same_seed_draws_the_same_faults() -> None:
    runs = [[Faults.parse("dynamodb:500=0.5", seed=9).draw("dynamodb") for _ in range(50)] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("text, problem", [
    ("dynamodb:slow=0.1", "a fault is service:fault=share"), ("s3:500=0.1", "a fault is"),
    ("dynamodb:500", "a fault is"), ("dynamodb:500=lots", "a number from 0 to 1"),
    ("dynamodb:500=1.5", "a number from 0 to 1"),
])
def test_a_fault_koe_does_not_know_is_named(text: str, problem: str) -> None:
    with pytest.raises(InvalidFaults, match=problem):
        Faults.parse(text)


def test_a_crash_is_drawn_at_its_point_and_escapes_every_except_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack import faults, iam

    monkeypatch.setattr(faults, "_installed", Faults.parse("crash:twilio=1,crash:dynamodb=0", seed=1))
    faults.crash_after("twilio")                       # no function running: the stack's own call
    with iam.acting_as("dispatch"):
        faults.crash_after("dynamodb")                 # share 0
        with pytest.raises(faults.Crash, match="dispatch killed after a twilio call"):
            try:
                faults.crash_after("twilio")
            except Exception:  # noqa: BLE001 - what koe's handlers do: a crash is not caught here
                pytest.fail("a crash must not be an Exception")
    with iam.acting_as("api_handler"), pytest.raises(faults.Crash):
        faults.crash_after("twilio")                   # the API function too (answered 502)
    assert faults.injected() == {"crash:twilio": 2}


def test_a_crash_point_koe_does_not_know_is_named() -> None:
    with pytest.raises(InvalidFaults, match="crash:twilio"):
        Faults.parse("crash:s3=0.1")
