"""The recovery report's arithmetic (domain/case_stats.py), against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.case_stats import LoopStats, by_procedure, loop_stats
from chalicelib.domain.cases import Case, CaseStatus

NOW = datetime(2026, 12, 10, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
H = timedelta(hours=1)
_n = 0


def a_case(procedure: str = "claim_payment", opened: datetime = DEC_1, *, contact_h: float | None = None,
           resolved_h: float | None = None, due: datetime = DEC_1 + timedelta(days=4), **changes: Any) -> Case:
    global _n
    _n += 1
    fields: dict[str, Any] = {
        "first_contact_at": opened + contact_h * H if contact_h is not None else None,
        "status": CaseStatus.RESOLVED if resolved_h is not None else CaseStatus.OPEN,
        "resolved_at": opened + resolved_h * H if resolved_h is not None else None, **changes}
    return Case(case_id=f"case-{_n}", survey_id=f"case-{_n}", procedure=procedure, customer_id="C-1", score=2,
                opened_at=opened, first_contact_due=opened + timedelta(days=1), resolution_due=due,
                context={"branch": "tokyo-chuo"}, phone_masked=None, **fields)


# claim_payment: five cases.
#   first contact after 2, 4, 9, 1 h (one never contacted)  -> median (2 + 4) / 2 = 3.0
#   resolved after 10, 30, 20 h                               -> median 20.0
#   one open and past its deadline, one open and not yet; closing sent twice (one skipped);
#   re-surveyed three times, two answered, one recovered     -> 1 / 2 = 0.5
CLAIMS = [
    a_case(contact_h=2, resolved_h=10, closing="sent", resurvey_id="r1", recovered=True),
    a_case(contact_h=4, resolved_h=30, closing="skipped", resurvey_id="r2", recovered=False),
    a_case(opened=DEC_1 + timedelta(days=1), contact_h=9, resolved_h=20, closing="sent", resurvey_id="r3"),
    a_case(opened=DEC_1 + timedelta(days=1), due=DEC_1 + timedelta(days=4)),               # overdue on the 10th
    a_case(opened=NOW - 12 * H, contact_h=1, due=NOW + timedelta(days=2), status=CaseStatus.IN_PROGRESS),
]
# address_change: one case, resolved after 1.5 h with nobody reaching out; the closing message failed;
# re-surveyed, answered, recovered.
ADDRESS = [a_case("address_change", resolved_h=1.5, closing="failed", resurvey_id="r4", recovered=True)]


def test_a_procedure_counted_by_hand():
    assert loop_stats(CLAIMS, NOW) == LoopStats(
        opened=5, resolved=3, open_overdue=1, closing_sent=2, resurveyed=3, resurvey_answered=2, recovered=1,
        recovery_rate=0.5, median_hours_to_first_contact=3.0, median_hours_to_resolution=20.0)


def test_per_procedure_and_in_total():
    stats = by_procedure(ADDRESS + CLAIMS, NOW)
    assert list(stats) == ["address_change", "claim_payment"]
    assert stats["address_change"] == LoopStats(
        opened=1, resolved=1, open_overdue=0, closing_sent=0, resurveyed=1, resurvey_answered=1, recovered=1,
        recovery_rate=1.0, median_hours_to_first_contact=None, median_hours_to_resolution=1.5)
    # in total: resolution after 1.5, 10, 20, 30 h -> (10 + 20) / 2 = 15.0; 2 of 3 recovered -> 0.6667
    assert loop_stats(ADDRESS + CLAIMS, NOW) == LoopStats(
        opened=6, resolved=4, open_overdue=1, closing_sent=2, resurveyed=4, resurvey_answered=3, recovered=2,
        recovery_rate=0.6667, median_hours_to_first_contact=3.0, median_hours_to_resolution=15.0)


def test_no_answer_is_no_rate_and_no_case_is_all_zero():
    assert loop_stats([a_case(resurvey_id="r9")], NOW).recovery_rate is None
    assert loop_stats([], NOW) == LoopStats(0, 0, 0, 0, 0, 0, 0, None, None, None)
    assert by_procedure([], NOW) == {}


def test_a_reopened_case_counts_as_open_and_overdue_is_judged_now():
    reopened = a_case(contact_h=3, closing="sent", due=NOW + 5 * H)          # resolved once, open again
    assert (loop_stats([reopened], NOW).resolved, loop_stats([reopened], NOW).open_overdue) == (0, 0)
    assert loop_stats([reopened], NOW + 5 * H).open_overdue == 1
    resolved_late = a_case(resolved_h=200, due=DEC_1 + timedelta(days=4))   # resolved: never overdue
    assert loop_stats([resolved_late], NOW).open_overdue == 0
