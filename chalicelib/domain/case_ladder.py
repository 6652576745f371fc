"""Deadlines and the escalation ladder, in business time (domain/business_calendar.py).

When a case opens (or reopens) its deadlines are set — first contact within
`first_contact_days`, resolution within `resolution_days` business days — and its ladder is planned:

    first_contact_overdue  at the first-contact deadline, if nobody has tried to reach the customer -> owner
    reminder               at `reminder_share` of the resolution time                            -> owner
    breach                 at the resolution deadline                                           -> manager
    lead                   `lead_after_days` business days after the breach                     -> CX lead

The schedule climbs it (`climb`): every rung that is due fires once, in order, and is written on the
timeline; the store writes the climb only if nobody changed the case meanwhile (its version), so
two overlapping ticks climb a rung once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.business_calendar import BusinessCalendar
from chalicelib.domain.cases import ROBOT, Case, CaseStatus, LadderStep, TimelineEntry


class InvalidSla(ValueError):
    """KOE_CASE_SLA cannot be read; says which part."""


@dataclass(frozen=True)
class Sla:
    first_contact_days: float = 1
    resolution_days: float = 4
    reminder_share: float = 0.5        # of the resolution time, 0 < share < 1
    lead_after_days: float = 1

    def __post_init__(self) -> None:
        if not 0 < self.reminder_share < 1:
            raise InvalidSla("reminder_share is a share of the resolution time, between 0 and 1")
        if min(self.first_contact_days, self.resolution_days, self.lead_after_days) <= 0:
            raise InvalidSla("first_contact_days, resolution_days and lead_after_days are positive")
        if self.first_contact_days > self.resolution_days:
            raise InvalidSla("first contact cannot be due after resolution")


@dataclass(frozen=True)
class Deadlines:
    first_contact_due: datetime
    resolution_due: datetime
    ladder: tuple[LadderStep, ...]


def plan(start: datetime, calendar: BusinessCalendar, sla: Sla, *, contacted: bool = False) -> Deadlines:
    """Deadlines and rungs for a case opened (or reopened) at `start`."""
    first_contact = calendar.add_days(start, sla.first_contact_days)
    resolution = calendar.add_days(start, sla.resolution_days)
    steps = [
        LadderStep("reminder", calendar.add_days(start, sla.resolution_days * sla.reminder_share), "owner"),
        LadderStep("breach", resolution, "manager"),
        LadderStep("lead", calendar.add_days(resolution, sla.lead_after_days), "lead"),
    ]
    if not contacted:
        steps.append(LadderStep("first_contact_overdue", first_contact, "owner"))
    steps.sort(key=lambda step: step.at)
    return Deadlines(first_contact, resolution, tuple(steps))


@dataclass(frozen=True)
class Climb:
    case: Case                                   # the case after the climb (same version: the store bumps it)
    fired: tuple[LadderStep, ...]                # the rungs that alert now


def climb(case: Case, now: datetime) -> Climb:
    """Every rung due by `now`, in order. The first-contact rung is passed silently once someone
    has tried to reach the customer; a resolved case climbs nothing."""
    if case.status is CaseStatus.RESOLVED:
        return Climb(case, ())
    index, fired, entries = case.ladder_next, [], []
    while index < len(case.ladder) and case.ladder[index].at <= now:
        step = case.ladder[index]
        index += 1
        if step.name == "first_contact_overdue" and case.first_contact_at is not None:
            continue
        fired.append(step)
        entries.append(TimelineEntry(now, step.name, ROBOT, {"to": step.to, "due": step.at.isoformat()}))
    if index == case.ladder_next:
        return Climb(case, ())
    return Climb(replace(case, ladder_next=index, timeline=case.timeline + tuple(entries)), tuple(fired))


def parse(raw: dict[str, object]) -> Sla:
    unknown = set(raw) - {"first_contact_days", "resolution_days", "reminder_share", "lead_after_days"}
    if unknown:
        raise InvalidSla(f"unknown keys: {', '.join(sorted(unknown))}")
    try:
        values = {name: float(value) for name, value in raw.items()}  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidSla("every value is a number, e.g. {\"first_contact_days\": 1}") from exc
    return Sla(**values)
