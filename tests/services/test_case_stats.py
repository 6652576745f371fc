"""The recovery report on fakes: the cases opened in the period's days (the reporting time zone's),
each role counting only what it may see, filters outside that scope counting nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.cases import Case, CaseStatus, Owner, OwnerKind
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import InvalidRequest
from chalicelib.services.case_stats import CaseStatsDeps, parse_query, report
from chalicelib.services.cases import CaseDeps, list_cases
from tests.fakes.messaging import FakeAlerts
from tests.fakes.stores import FakeCaseStore, FakeConversationStore
from tests.services.conftest import Clock
from tests.services.conftest import test_case_policy as case_policy  # (not collected as a test)

NOW = datetime(2027, 1, 5, tzinfo=UTC)
ADMIN = Principal("u-admin", Role.CX_ADMIN)
MANAGER = Principal("u-mgr", Role.BRANCH_MANAGER, branch="tokyo-chuo")
AGENT = Principal("u-a102", Role.AGENT, branch="tokyo-chuo", agent_id="A-102")


def a_case(case_id: str, opened_at: str, branch: str = "tokyo-chuo", owner: Owner | None = None,
           procedure: str = "claim_payment", **changes: object) -> Case:
    opened = datetime.fromisoformat(opened_at)
    case = Case(case_id=case_id, survey_id=case_id, procedure=procedure, customer_id="C-1", score=2, opened_at=opened,
                first_contact_due=opened + timedelta(days=1), resolution_due=opened + timedelta(days=4),
                context={"branch": branch}, phone_masked=None, owner=owner or Owner(OwnerKind.BRANCH, branch))
    return replace(case, **changes)  # type: ignore[arg-type]


@pytest.fixture
def deps() -> CaseStatsDeps:
    store = FakeCaseStore()
    for case in (
        # 1 December 00:00 in Tokyo: the first instant of the period
        a_case("agents", "2026-11-30T15:00:00+00:00", owner=Owner(OwnerKind.AGENT, "A-102"),
               status=CaseStatus.RESOLVED, resolved_at=datetime(2026, 12, 1, 3, tzinfo=UTC), closing="sent",
               resurvey_id="agents~resurvey", recovered=True),
        a_case("branchs", "2026-12-05T02:00:00+00:00", first_contact_at=datetime(2026, 12, 5, 6, tzinfo=UTC)),
        a_case("osakas", "2026-12-06T02:00:00+00:00", branch="osaka-kita", procedure="address_change",
               resurvey_id="osakas~resurvey", recovered=False),
        a_case("too-early", "2026-11-30T14:59:59+00:00"),            # 30 November 23:59:59 in Tokyo
        a_case("too-late", "2026-12-31T15:00:00+00:00"),             # 1 January 00:00 in Tokyo
    ):
        store.open_case(case)
    return CaseStatsDeps(cases=store, policy=case_policy(), reporting_tz=ZoneInfo("Asia/Tokyo"), clock=Clock(NOW))


def stats(principal: Principal, deps: CaseStatsDeps, **params: str) -> dict[str, object]:
    query = parse_query({"from": "2026-12-01", "to": "2026-12-31", **params}, date(2027, 1, 5))
    return report(principal, query, deps)


def opened(answer: dict[str, object]) -> int:
    return answer["total"]["opened"]  # type: ignore[index,no-any-return]


def test_the_admin_counts_every_case_opened_in_the_periods_days_per_procedure(deps):
    answer = stats(ADMIN, deps)
    assert (answer["from"], answer["to"], answer["timezone"]) == ("2026-12-01", "2026-12-31", "Asia/Tokyo")
    assert opened(answer) == 3
    claims, = (p for p in answer["procedures"] if p["procedure"] == "claim_payment")
    assert claims == {"procedure": "claim_payment", "opened": 2, "resolved": 1, "open_overdue": 1,
                      "closing_sent": 1, "resurveyed": 1, "resurvey_answered": 1, "recovered": 1,
                      "recovery_rate": 1.0, "median_hours_to_first_contact": 4.0, "median_hours_to_resolution": 12.0}
    assert [p["procedure"] for p in answer["procedures"]] == ["address_change", "claim_payment"]
    assert answer["total"]["recovery_rate"] == 0.5


def test_filters_narrow_it(deps):
    assert opened(stats(ADMIN, deps, branch="osaka-kita")) == 1
    only = stats(ADMIN, deps, procedure="address_change")
    assert opened(only) == 1 and [p["procedure"] for p in only["procedures"]] == ["address_change"]
    assert opened(stats(ADMIN, deps, procedure="new_policy")) == 0


def test_a_branch_manager_counts_their_branch_and_nothing_else(deps):
    answer = stats(MANAGER, deps)
    assert opened(answer) == 2 and answer["branch"] == "tokyo-chuo"
    elsewhere = stats(MANAGER, deps, branch="osaka-kita")
    assert opened(elsewhere) == 0 and elsewhere["procedures"] == []


def test_an_agent_counts_the_cases_they_own(deps):
    assert opened(stats(AGENT, deps)) == 1
    assert opened(stats(AGENT, deps, branch="osaka-kita")) == 0
    assert opened(stats(Principal("u-a777", Role.AGENT, agent_id="A-777"), deps)) == 0


@pytest.mark.parametrize("params", [{"from": "2026-12-31", "to": "2026-12-01"}, {"from": "1 Dec"},
                                    {"colour": "red"}, {"from": "2025-01-01", "to": "2026-12-31"}])
def test_a_bad_query_is_refused(params):
    with pytest.raises(InvalidRequest):
        parse_query(params, date(2027, 1, 5))


def test_the_default_period_is_the_last_30_days():
    query = parse_query({}, date(2027, 1, 5))
    assert (query.from_day, query.to_day) == ("2026-12-07", "2027-01-05")


def test_a_branch_manager_counts_exactly_the_cases_they_can_list(deps):
    """The one scope rule (case_work.scope_of): a Tokyo manager lists an Osaka customer's case given
    to Tokyo's queue, so they count it; `branch=osaka-kita` narrows to it, as in their list."""
    routed = a_case("routed", "2026-12-07T02:00:00+00:00", branch="osaka-kita",
                    owner=Owner(OwnerKind.BRANCH, "tokyo-chuo"), owner_branch="tokyo-chuo")
    deps.cases.open_case(routed)
    listed = list_cases(MANAGER, {}, CaseDeps(deps.cases, FakeAlerts(), deps.policy, deps.clock,
                                              FakeConversationStore()))["cases"]
    assert sorted(c["case_id"] for c in listed) == ["agents", "branchs", "routed", "too-early", "too-late"]
    assert opened(stats(MANAGER, deps)) == 3                 # the listed ones opened in the period
    osaka = stats(MANAGER, deps, branch="osaka-kita")
    assert (opened(osaka), osaka["branch"]) == (1, "osaka-kita")
    assert opened(stats(Principal("u-mgr2", Role.BRANCH_MANAGER, branch="osaka-kita"), deps)) == 2
    assert opened(stats(ADMIN, deps)) == 4                   # counted once, whoever else sees it
