"""Everything configuration says about cases, in one place the use cases read: which answers open
one (rules), who owns it (routing), how long people have (calendars and SLAs), which codes close it,
what the customer is told at the end (closing message, re-survey) and how long it is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.business_calendar import BusinessCalendar
from chalicelib.domain.case_ladder import Deadlines, Sla, plan
from chalicelib.domain.case_routing import RoutingTable
from chalicelib.domain.case_rules import CaseRules, Verdict
from chalicelib.domain.case_work import CaseCodes
from chalicelib.domain.cases import Owner
from chalicelib.domain.escalation import Opening
from chalicelib.domain.model import Answer


def _default_calendar(locale: str) -> BusinessCalendar:
    return BusinessCalendar()


@dataclass(frozen=True)
class CasePolicy:
    rules: CaseRules = CaseRules()
    routing: RoutingTable = RoutingTable()
    calendar_for: Callable[[str], BusinessCalendar] = _default_calendar     # by the customer's locale
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

    def deadlines(self, locale: str, procedure: str, start: datetime, *, contacted: bool = False) -> Deadlines:
        return plan(start, self.calendar_for(locale), self.sla_for(procedure), contacted=contacted)

    def owner_timezone(self, owner: Owner, locale: str) -> str:
        return self.routing.owner_timezone(owner, self.calendar_for(locale).timezone)

    def opening(self, answer: Answer, verdict: Verdict, comment: str | None, now: datetime) -> Opening:
        owner = self.routing.route(answer.context)
        calendar = self.calendar_for(answer.locale)
        return Opening(verdict=verdict, owner=owner, owner_branch=self.routing.branch_of(owner),
                       deadlines=self.deadlines(answer.locale, answer.procedure, now),
                       customer_timezone=calendar.timezone, owner_timezone=self.owner_timezone(owner, answer.locale),
                       comment=comment)
