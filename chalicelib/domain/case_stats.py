"""The closed loop in numbers, per procedure, over the cases opened in a period: how many were
resolved, how many are late, how many customers heard back, were asked again, answered, and came
back (recovered: a passive or promoter score on the re-survey); how fast people reached out and
resolved. Pure arithmetic on cases; the current time is an argument (what is overdue now).

Times are wall-clock hours from opening (not business hours: what the customer lived through).
A case counts where it is now: a resolved case reopened is open again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from chalicelib.domain.cases import Case, CaseStatus

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class LoopStats:
    opened: int
    resolved: int
    open_overdue: int                     # not resolved, past its resolution deadline now
    closing_sent: int                     # the customer was told what was done
    resurveyed: int                       # the customer was asked again
    resurvey_answered: int
    recovered: int                        # ... with a passive or promoter score
    recovery_rate: float | None           # recovered / resurvey_answered; None when nobody answered
    median_hours_to_first_contact: float | None     # over the cases someone tried to reach the customer on
    median_hours_to_resolution: float | None        # over the resolved cases


def loop_stats(cases: Iterable[Case], now: datetime) -> LoopStats:
    cases = list(cases)
    resolved = [c for c in cases if c.status is CaseStatus.RESOLVED]
    answered = [c for c in cases if c.recovered is not None]
    recovered = sum(1 for c in answered if c.recovered)
    return LoopStats(
        opened=len(cases),
        resolved=len(resolved),
        open_overdue=sum(1 for c in cases if c.overdue(now)),
        closing_sent=sum(1 for c in cases if c.closing == "sent"),
        resurveyed=sum(1 for c in cases if c.resurvey_id is not None),
        resurvey_answered=len(answered),
        recovered=recovered,
        recovery_rate=round(recovered / len(answered), 4) if answered else None,
        median_hours_to_first_contact=_median_hours(c.first_contact_at - c.opened_at
                                                    for c in cases if c.first_contact_at is not None),
        median_hours_to_resolution=_median_hours(c.resolved_at - c.opened_at
                                                 for c in resolved if c.resolved_at is not None),
    )


def by_procedure(cases: Iterable[Case], now: datetime) -> dict[str, LoopStats]:
    """The stats of each procedure that has a case, by procedure name."""
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        groups[case.procedure].append(case)
    return {procedure: loop_stats(group, now) for procedure, group in sorted(groups.items())}


def _median_hours(durations: Iterable[timedelta]) -> float | None:
    hours = [d / HOUR for d in durations]
    return round(median(hours), 1) if hours else None
