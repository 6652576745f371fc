"""Everything configuration says about cases, in one place the use cases read: which answers open
one (rules), who owns it (routing), how long people have (calendars and SLAs), which codes close it,
what the customer is told at the end (closing message, re-survey) and how long it is kept.

Business time is the customer's: the working hours and holidays of the country, in the zone, that
dispatch decided and stored on the survey (domain/customer_place.py). The answer brings that place
to the case, which keeps it; a case or answer from before places were is placed by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.business_calendar import BusinessCalendar
from chalicelib.domain.case_ladder import Deadlines, Sla, plan
from chalicelib.domain.case_routing import RoutingTable
from chalicelib.domain.case_rules import CaseRules, Verdict
from chalicelib.domain.case_work import CaseCodes
from chalicelib.domain.cases import Case, CaseComment, Owner
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.escalation import Opening
from chalicelib.domain.model import Answer, Place


def _default_calendar(place: Place) -> BusinessCalendar:
    return BusinessCalendar(place.timezone)


@dataclass(frozen=True)
class CasePolicy:
    rules: CaseRules = CaseRules()
    routing: RoutingTable = RoutingTable()
    calendar_for: Callable[[Place], BusinessCalendar] = _default_calendar    # the customer's country, zone
    places: PlaceRules = PlaceRules()                             # answers and cases from before places
    sla: Sla = Sla()
    sla_by_procedure: Mapping[str, Sla] = field(default_factory=dict)
    codes: CaseCodes = CaseCodes()
    closing_message: bool = True                                  # tell the customer what was done
    closing_by_procedure: Mapping[str, bool] = field(default_factory=dict)
    resurvey_days: int = 0                                        # 0: no re-survey
    resurvey_days_by_procedure: Mapping[str, int] = field(default_factory=dict)
    retention: timedelta = timedelta(days=400)                    # after resolution

    def sla_for(self, procedure: str) -> Sla:
        return self.sla_by_procedure.get(procedure, self.sla)

    def closing_for(self, procedure: str) -> bool:
        return self.closing_by_procedure.get(procedure, self.closing_message)

    def resurvey_after(self, procedure: str) -> timedelta | None:
        days = self.resurvey_days_by_procedure.get(procedure, self.resurvey_days)
        return timedelta(days=days) if days > 0 else None

    def answer_place(self, answer: Answer) -> Place:
        return self.places.of(answer.place, locale=answer.locale)

    def case_place(self, case: Case) -> Place:
        """The case's stored place; a case opened before places were keeps the zone it stored."""
        return self.places.of(case.customer_place, locale=case.locale, timezone=case.customer_timezone)

    def deadlines(self, place: Place, procedure: str, start: datetime, *, contacted: bool = False) -> Deadlines:
        return plan(start, self.calendar_for(place), self.sla_for(procedure), contacted=contacted)

    def owner_timezone(self, owner: Owner, place: Place) -> str:
        """The owner's zone (routing), else the customer's."""
        return self.routing.owner_timezone(owner, place.timezone)

    def opening(self, answer: Answer, verdict: Verdict, comments: Sequence[CaseComment], now: datetime) -> Opening:
        owner = self.routing.route(answer.context)
        place = self.answer_place(answer)
        return Opening(verdict=verdict, owner=owner, owner_branch=self.routing.branch_of(owner),
                       deadlines=self.deadlines(place, answer.procedure, now), customer_place=place,
                       owner_timezone=self.owner_timezone(owner, place), comments=tuple(comments))
