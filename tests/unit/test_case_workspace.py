"""The case workspace's decisions, pure: the inbox's parameters, the order of urgency, the counts,
paging, the time left, the viewer's zone, who may reveal a number and for how long, what changed
under a stale form, the return cookie, and how a posted form is read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain import case_routing, case_work, case_workspace, dashboard
from chalicelib.domain.case_workspace import PAGE_SIZE, InboxQuery, InvalidInbox, Seen
from chalicelib.domain.cases import Case, CaseStatus, Owner, OwnerKind, Severity, TimelineEntry
from chalicelib.domain.principal import Principal, Role

NOW = datetime(2026, 11, 20, 3, tzinfo=UTC)
AGENT = Principal("u-a102", Role.AGENT, branch="tokyo-chuo", agent_id="A-102")
MANAGER = Principal("u-mgr", Role.BRANCH_MANAGER, branch="tokyo-chuo")
ADMIN = Principal("u-admin", Role.CX_ADMIN)
ROUTING = case_routing.parse({
    "central": {"queue": "cx", "timezone": "Asia/Tokyo"},
    "branches": {"tokyo-chuo": {"manager": "mgr", "timezone": "Asia/Tokyo"},
                 "new-york-01": {"timezone": "America/New_York"}},
    "agents": {"A-102": {"branch": "tokyo-chuo"}, "A-310": {"branch": "new-york-01"},
               "A-999": {"branch": "tokyo-chuo", "active": False}},
    "people": {"A-310": {"timezone": "America/New_York"}}})


def case(name: str, *, opened: int = 0, first_due: int = 24, due: int = 72, status: CaseStatus = CaseStatus.OPEN,
         severity: Severity = Severity.NORMAL, contacted: bool = False, resolved: int | None = None) -> Case:
    """A case opened `opened` hours before NOW, due `first_due` / `due` hours after NOW."""
    return Case(case_id=name, survey_id=name, procedure="claim_payment", customer_id="C-1", score=2,
                opened_at=NOW - timedelta(hours=opened), first_contact_due=NOW + timedelta(hours=first_due),
                resolution_due=NOW + timedelta(hours=due), context={"branch": "tokyo-chuo"}, phone_masked=None,
                status=status, severity=severity, owner=Owner(OwnerKind.AGENT, "A-102"),
                first_contact_at=NOW - timedelta(hours=1) if contacted else None,
                resolved_at=NOW - timedelta(hours=resolved) if resolved is not None else None)


def test_overdue_first_by_how_overdue_then_the_next_deadline_then_resolved_latest_first() -> None:
    cases = [
        case("resolved-old", status=CaseStatus.RESOLVED, resolved=30),
        case("due-in-5h", first_due=5),
        case("overdue-2h", due=-2),
        case("resolved-new", status=CaseStatus.RESOLVED, resolved=1, due=-50),
        case("contacted-resolution-in-3h", first_due=-10, due=3, contacted=True),
        case("overdue-20h", due=-20),
        case("due-in-5h-critical", first_due=5, severity=Severity.CRITICAL),
    ]
    assert [c.case_id for c in case_workspace.by_urgency(cases, NOW)] == [
        "overdue-20h", "overdue-2h", "contacted-resolution-in-3h", "due-in-5h-critical", "due-in-5h",
        "resolved-new", "resolved-old"]


def test_tabs_and_severities_are_counted_as_facets_of_each_other_and_paged() -> None:
    read = [case(f"n{i:02d}", first_due=i) for i in range(30)] + [
        case("late", due=-1, severity=Severity.HIGH), case("working", status=CaseStatus.IN_PROGRESS),
        case("done", status=CaseStatus.RESOLVED, resolved=2)]
    inbox = case_workspace.inbox_page(read, InboxQuery(), NOW, capped=False)
    assert inbox.tab_counts == {"active": 32, "open": 31, "in_progress": 1, "overdue": 1, "resolved": 1, "all": 33}
    assert inbox.severity_counts == {"normal": 31, "high": 1, "critical": 0}
    assert (inbox.total, inbox.pages, len(inbox.cases), inbox.cases[0].case_id) == (32, 2, PAGE_SIZE, "late")
    second = case_workspace.inbox_page(read, InboxQuery(page=2), NOW, capped=False)
    assert len(second.cases) == 32 - PAGE_SIZE
    assert {c.case_id for c in second.cases}.isdisjoint(c.case_id for c in inbox.cases)
    high = case_workspace.inbox_page(read, InboxQuery(severity="high"), NOW, capped=False)
    assert [c.case_id for c in high.cases] == ["late"]
    assert high.tab_counts["active"] == 1 and high.tab_counts["all"] == 1      # the other filter applied
    beyond = case_workspace.inbox_page(read, InboxQuery(page=9), NOW, capped=False)
    assert beyond.page == 2                                                     # the last page, not an empty one


@pytest.mark.parametrize("params, problem", [
    ({"status": "lost"}, "status is one of"), ({"severity": "mild"}, "severity is one of"),
    ({"owner": "bob"}, "an owner is"), ({"page": "x"}, "page is a whole number"), ({"page": "0"}, "page is between"),
    ({"from": "2026-13-01"}, "from is a date"), ({"from": "2026-11-20", "to": "2026-11-19"}, "from is on or before"),
    ({"overdue": "true"}, "unknown parameter overdue"),
])
def test_a_bad_inbox_parameter_is_named(params: dict[str, str], problem: str) -> None:
    with pytest.raises(InvalidInbox, match=problem):
        case_workspace.parse_inbox(params)


def test_the_inbox_query_round_trips_through_its_link_without_defaults() -> None:
    query = case_workspace.parse_inbox({"status": "overdue", "owner": "agent:A-102", "from": "2026-11-01", "page": "2"})
    assert query.params() == {"status": "overdue", "owner": "agent:A-102", "from": "2026-11-01", "page": "2"}
    assert case_workspace.parse_inbox(query.params()) == query
    assert InboxQuery().params() == {}


def test_the_period_is_the_viewers_calendar_days_and_resolved_cases_default_to_30_days() -> None:
    query = InboxQuery(from_day=date(2026, 11, 1), to_day=date(2026, 11, 19))
    start, end = case_workspace.opened_period(query, "Asia/Tokyo", resolved=False, today=date(2026, 11, 20))
    assert (start, end) == (datetime(2026, 10, 31, 15, tzinfo=UTC), datetime(2026, 11, 19, 15, tzinfo=UTC))
    assert case_workspace.opened_period(InboxQuery(), "UTC", resolved=False, today=date(2026, 11, 20)) == (None, None)
    start, end = case_workspace.opened_period(InboxQuery(), "UTC", resolved=True, today=date(2026, 11, 20))
    assert (start, end) == (datetime(2026, 10, 22, tzinfo=UTC), None)


def test_time_left_and_overdue_in_whole_minutes() -> None:
    assert case_workspace.remaining(NOW + timedelta(days=1, hours=2, minutes=3, seconds=59), NOW) == \
        case_workspace.Remaining(False, 1, 2, 3)
    assert case_workspace.remaining(NOW - timedelta(minutes=90), NOW) == case_workspace.Remaining(True, 0, 1, 30)


def test_the_viewers_zone_is_theirs_then_their_branchs_then_centrals() -> None:
    assert case_workspace.viewer_timezone(Principal("u", Role.AGENT, agent_id="A-310"), ROUTING) == "America/New_York"
    assert case_workspace.viewer_timezone(MANAGER, ROUTING) == "Asia/Tokyo"
    assert case_workspace.viewer_timezone(Principal("u", Role.BRANCH_MANAGER, branch="new-york-01"),
                                          ROUTING) == "America/New_York"
    assert case_workspace.viewer_timezone(ADMIN, ROUTING) == "Asia/Tokyo"
    assert case_workspace.viewer_timezone(ADMIN, case_routing.RoutingTable()) == "UTC"


def test_owners_offered_are_those_the_role_may_assign_to() -> None:
    assert case_workspace.assignable_owners(AGENT, ROUTING) == []
    assert [str(o) for o in case_workspace.assignable_owners(MANAGER, ROUTING)] == ["branch:tokyo-chuo", "agent:A-102"]
    everyone = [str(o) for o in case_workspace.assignable_owners(ADMIN, ROUTING)]
    assert everyone == ["branch:new-york-01", "branch:tokyo-chuo", "agent:A-102", "agent:A-310", "central:cx"]
    for principal in (MANAGER, ADMIN):                    # the same rule the move checks
        assert all(case_work.may_assign(principal, o, ROUTING)
                   for o in case_workspace.assignable_owners(principal, ROUTING))


def test_only_the_owner_of_an_open_case_may_reveal_and_sees_it_for_15_minutes() -> None:
    mine = case("c")
    assert case_work.may_reveal(AGENT, mine) and not case_work.may_reveal(MANAGER, mine)
    assert not case_work.may_reveal(ADMIN, mine)
    with pytest.raises(case_work.NotAllowed):
        case_work.reveal(mine, case_work.CONTACT_DETAILS, MANAGER, NOW)
    looked = case_work.reveal(mine, ("phone",), AGENT, NOW)
    assert looked.timeline[-1] == TimelineEntry(NOW, "contact_revealed", "u-a102", {"shown": "phone"})
    assert case_work.revealed_to(looked, AGENT, NOW + timedelta(minutes=14))
    assert not case_work.revealed_to(looked, AGENT, NOW + timedelta(minutes=15))
    colleague = Principal("u-other", Role.AGENT, agent_id="A-102")         # the same agent id, another person
    assert not case_work.revealed_to(looked, colleague, NOW)
    closed = replace(looked, status=CaseStatus.RESOLVED)
    assert not case_work.may_reveal(AGENT, closed) and not case_work.revealed_to(closed, AGENT, NOW)


def test_what_changed_is_the_timeline_after_what_the_form_showed() -> None:
    before = case("c")
    entry = TimelineEntry(NOW, "note", "u-mgr", {"note": "Called the branch."})
    after = replace(before, version=2, timeline=(*before.timeline, entry))
    assert case_workspace.changed_since(after, Seen(1, len(before.timeline))) == [entry]
    assert case_workspace.changed_since(after, Seen(1, 99)) == []          # a forged count shows nothing


@pytest.mark.parametrize("path, kept", [
    ("/cases/ev-1?lang=ja", True), ("/dashboard", True), ("//evil.example/cases", False),
    ("https://evil.example/cases", False), ("/cases\\@evil", False), ("/s/token", False), ("/cases//x", False),
])
def test_only_a_page_of_the_apps_own_is_remembered_for_after_sign_in(path: str, kept: bool) -> None:
    value = dashboard.return_cookie(path)
    assert (value is not None) is kept
    if kept:
        assert dashboard.return_path(value) == path
    assert dashboard.return_path("Ly9ldmlsLmV4YW1wbGU") is None          # "//evil.example", forged
    assert dashboard.return_path("%%%") is None


def test_a_posted_form_is_read_strictly() -> None:
    fields = frozenset({"csrf", "text"})
    assert case_workspace.read_form(b"csrf=a&text=%E3%81%82+b&other=1", fields, max_bytes=100, max_chars=10) == {
        "csrf": "a", "text": "あ b"}
    for raw, problem in ((b"text=a&text=b", "more than once"), (b"\xff", "not UTF-8"),
                         (b"text=" + b"a" * 11, "over 10"), (b"text=" + b"a" * 200, "over 100 bytes")):
        with pytest.raises(ValueError, match=problem):
            case_workspace.read_form(raw, fields, max_bytes=100, max_chars=10)


def test_a_note_is_trimmed_and_bounded() -> None:
    assert case_work.read_note("  hi\r\nthere ", required=True) == "hi\nthere"
    assert case_work.read_note(None, required=False) == ""
    for raw in ("   ", None):
        with pytest.raises(ValueError, match="has text"):
            case_work.read_note(raw, required=True)
    with pytest.raises(ValueError, match="at most 2000"):
        case_work.read_note("x" * 2001, required=False)
    with pytest.raises(ValueError, match="is text"):
        case_work.read_note(3, required=False)
