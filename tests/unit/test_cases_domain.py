"""The closed loop's decisions, without I/O: case rules and severity, callback consent, owner
routing, business-hour deadlines, the escalation ladder, people's moves and who may see a case,
the follow-up message's published schema and the alert message."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from chalicelib.domain import case_alerts, case_ladder, case_routing, case_rules, case_work, escalation
from chalicelib.domain.business_calendar import BusinessCalendar, InvalidCalendar
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.cases import CaseComment, CaseStatus, Owner, OwnerKind, Severity
from chalicelib.domain.model import Answer
from chalicelib.domain.principal import Principal, Role

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = ZoneInfo("UTC")
SCHEMAS = Path(__file__).resolve().parents[2] / "chalicelib" / "schemas"
ROUTING = case_routing.parse({
    "central": {"queue": "cx", "lead": "cx-lead", "email": "cx@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
    "branches": {"tokyo-01": {"manager": "mgr-tokyo", "email": "tokyo@example.jp", "timezone": "Asia/Tokyo"},
                 "osaka-02": {"email": "osaka@example.jp"}},
    "agents": {"A-12": {"branch": "tokyo-01"}, "A-99": {"branch": "tokyo-01", "active": False}},
    "people": {"A-12": {"email": "a12@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
               "mgr-tokyo": {"email": "mgr@example.jp", "language": "ja"},
               "cx-lead": {"chat": "https://chat.example.com/hooks/lead", "language": "en"}},
})
JP_HOLIDAYS = {date(2026, 11, 23)}          # Labour Thanksgiving Day (a Monday in 2026)
JP = BusinessCalendar("Asia/Tokyo", is_holiday=lambda d: d in JP_HOLIDAYS)


def answer(score=3, question="score", context=None, locale="ja", text=None, survey="s-1", customer="C-1"):
    return Answer(survey, question, datetime(2026, 11, 20, 9, tzinfo=UTC), "claim_payment", customer, locale,
                  context if context is not None else {"branch": "tokyo-01", "agent_id": "A-12"},
                  score, text, 6, "+81******5678")


def policy(**changes):
    return CasePolicy(routing=ROUTING, calendar_for=lambda locale: JP, **changes)


def new_case(score=3, comment=None, context=None, at=datetime(2026, 11, 20, 1, tzinfo=UTC)):
    a = answer(score, context=context)
    verdict = case_rules.assess(below_threshold=escalation.below_threshold(a), comment=comment, locale="ja",
                                repeat=False, rules=case_rules.Rules())
    assert verdict is not None
    comments = (CaseComment(at, comment),) if comment else ()
    return escalation.open_case(a, policy().opening(a, verdict, comments, at), at)


# --- case rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("comment, locale", [("解約を考えています", "ja"), ("投诉你们的服务", "zh"), ("我要退保", "zh"),
                                             ("I will CANCEL MY POLICY", "en"), ("filing a complaint", "en"),
                                             ("苦情です。 cancel my policy", "ja")])
def test_a_flagged_comment_opens_a_high_severity_case_whatever_the_score(comment, locale):
    verdict = case_rules.assess(below_threshold=False, comment=comment, locale=locale, repeat=False,
                                rules=case_rules.Rules())
    assert verdict == case_rules.Verdict(Severity.HIGH, ("keyword",))


@pytest.mark.parametrize("comment", ["the complaints desk was lovely", "I complained once, fixed now", "uncomplicated"])
def test_latin_keywords_match_whole_words_only(comment):
    rules = case_rules.Rules(keywords={"en": ("complaint",)})
    assert case_rules.flagged_keywords(comment, "en", rules) == ()


def test_severity_is_the_most_severe_rule_that_fired_and_rules_are_per_procedure():
    rules = case_rules.parse({"repeat_severity": "critical",
                              "by_procedure": {"claim_payment": {"keyword_severity": "critical"}}})
    assert case_rules.assess(below_threshold=True, comment=None, locale="ja", repeat=True,
                             rules=rules.for_procedure("address_change")) == case_rules.Verdict(
        Severity.CRITICAL, ("score", "repeat"))
    assert case_rules.assess(below_threshold=True, comment="苦情", locale="ja", repeat=False,
                             rules=rules.for_procedure("claim_payment")).severity is Severity.CRITICAL
    assert case_rules.assess(below_threshold=False, comment="fine", locale="en", repeat=True,
                             rules=rules.default) is None      # a repeat only counts for a detractor


@pytest.mark.parametrize("raw", [{"score_severity": "urgent"}, {"repeat_days": -1}, {"keywords": {"ja": "解約"}},
                                 {"colour": "red"}, {"by_procedure": []}])
def test_unreadable_case_rules_say_which_part(raw):
    with pytest.raises(case_rules.InvalidCaseRules):
        case_rules.parse(raw)


@pytest.mark.parametrize("text, consent", [
    ("Please call me back tomorrow", True), ("電話ください", True), ("折り返しお願いします", True),
    ("请给我回电", True),
    ("Don't call me, just fix it", False), ("電話は不要です", False), ("不要给我打电话", False),
    ("slow payout", None), (None, None),
])
def test_callback_consent_is_read_from_the_customers_words(text, consent):
    assert case_rules.callback_consent(text) is consent


# --- routing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("context, owner", [
    ({"branch": "tokyo-01", "agent_id": "A-12"}, Owner(OwnerKind.AGENT, "A-12")),
    ({"branch": "tokyo-01", "agent_id": "A-99"}, Owner(OwnerKind.BRANCH, "tokyo-01")),     # has left
    ({"branch": "tokyo-01", "agent_id": "A-00"}, Owner(OwnerKind.BRANCH, "tokyo-01")),     # unknown agent
    ({"agent_id": "A-99"}, Owner(OwnerKind.BRANCH, "tokyo-01")),                           # the agent's branch
    ({"branch": "nagoya-09"}, Owner(OwnerKind.CENTRAL, "cx")),                             # unknown branch
    ({}, Owner(OwnerKind.CENTRAL, "cx")),
])
def test_owner_routing_falls_back_to_the_branch_then_central_never_nobody(context, owner):
    assert ROUTING.route(context) == owner


def test_the_ladder_tells_the_owner_then_the_manager_then_the_lead():
    case = new_case()
    assert ROUTING.recipients(case, "owner") == ("agent:A-12",)
    assert ROUTING.recipients(case, "manager") == ("person:mgr-tokyo",)
    assert ROUTING.recipients(case, "lead") == ("person:cx-lead",)
    no_manager = new_case(context={"branch": "osaka-02"})
    assert ROUTING.recipients(no_manager, "manager") == ("central",)
    assert ROUTING.contact_point("person:cx-lead").chat == "https://chat.example.com/hooks/lead"
    assert ROUTING.contact_point("person:nobody") is None


@pytest.mark.parametrize("raw", [{"branches": []}, {"people": {"x": {"language": "fr"}}},
                                 {"people": {"x": {"chat": "ftp://x"}}}, {"teams": {}}])
def test_an_unreadable_routing_table_says_where(raw):
    with pytest.raises(case_routing.InvalidRouting):
        case_routing.parse(raw)


# --- business time ----------------------------------------------------------------------------

def local(*args):
    return datetime(*args, tzinfo=TOKYO)


def test_one_business_day_from_friday_evening_skips_the_weekend_and_a_monday_holiday():
    opened = local(2026, 11, 20, 17, 0)                     # Friday 17:00, one working hour left
    assert JP.add_days(opened, 1) == local(2026, 11, 24, 17, 0)     # Tuesday (Monday 23rd is a holiday)


def test_outside_hours_the_clock_starts_at_the_next_opening():
    assert JP.add(local(2026, 11, 19, 22, 0), timedelta(hours=1)) == local(2026, 11, 20, 10, 0)
    assert JP.add(local(2026, 11, 19, 7, 0), timedelta(0)) == local(2026, 11, 19, 9, 0)


def test_deadlines_come_back_in_the_callers_zone():
    due = JP.add_days(datetime(2026, 11, 19, 0, 0, tzinfo=UTC), 1)      # 09:00 Tokyo Thursday: a whole day
    assert due.tzinfo == UTC and due == datetime(2026, 11, 19, 9, 0, tzinfo=UTC)     # 18:00 Tokyo


def test_a_calendar_without_working_days_is_refused():
    with pytest.raises(InvalidCalendar):
        BusinessCalendar("Asia/Tokyo", weekend=frozenset(range(7)))


# --- the ladder -------------------------------------------------------------------------------

def test_the_ladder_is_planned_in_business_time_in_order():
    deadlines = case_ladder.plan(local(2026, 11, 19, 9, 0), JP, case_ladder.Sla())
    assert deadlines.first_contact_due == local(2026, 11, 19, 18, 0)        # a whole working day
    assert deadlines.resolution_due == local(2026, 11, 25, 18, 0)           # Thu, Fri, (Mon off) Tue, Wed
    assert [(s.name, s.to) for s in deadlines.ladder] == [
        ("first_contact_overdue", "owner"), ("reminder", "owner"), ("breach", "manager"), ("lead", "lead")]
    assert deadlines.ladder[1].at == local(2026, 11, 20, 18, 0)             # half of 4 business days


def test_climbing_fires_each_due_rung_once_and_records_it():
    case = new_case()
    first = case_ladder.climb(case, case.ladder[1].at)
    assert [s.name for s in first.fired] == ["first_contact_overdue", "reminder"]
    assert first.case.ladder_next == 2 and [e.kind for e in first.case.timeline][-2:] == [
        "first_contact_overdue", "reminder"]
    again = case_ladder.climb(first.case, case.ladder[1].at)
    assert again.fired == () and again.case == first.case


def test_the_first_contact_rung_passes_silently_once_someone_tried():
    case = replace(new_case(), first_contact_at=datetime(2026, 11, 20, 2, tzinfo=UTC))
    climb = case_ladder.climb(case, case.ladder[0].at)
    assert climb.fired == () and climb.case.ladder_next == 1


def test_a_resolved_case_climbs_nothing():
    case = replace(new_case(), status=CaseStatus.RESOLVED)
    assert case_ladder.climb(case, case.resolution_due + timedelta(days=30)).fired == ()
    assert case.next_step_at is None


@pytest.mark.parametrize("raw", [{"reminder_share": 1.5}, {"resolution_days": 0}, {"first_contact_days": 5},
                                 {"hours": 3}, {"resolution_days": "soon"}])
def test_an_unreadable_sla_says_why(raw):
    with pytest.raises(case_ladder.InvalidSla):
        case_ladder.parse(raw)


# --- opening, the comment, the messages ---------------------------------------------------------

def test_a_new_case_has_its_owner_deadlines_timezones_and_an_opened_entry():
    case = new_case(comment="電話ください")
    assert case.owner == Owner(OwnerKind.AGENT, "A-12") and case.owner_timezone == "Asia/Tokyo"
    assert case.customer_timezone == "Asia/Tokyo" and case.callback_consent is True
    assert case.first_contact_due < case.resolution_due and case.work_due_at == case.ladder[0].at
    assert [e.kind for e in case.timeline] == ["opened"] and case.version == 1


def test_a_later_comment_can_raise_the_severity_and_record_consent():
    case = new_case()
    verdict = case_rules.assess(below_threshold=False, comment="解約します。電話しないで", locale="ja", repeat=False,
                                rules=case_rules.Rules())
    at = datetime(2026, 11, 21, tzinfo=UTC)
    comment = CaseComment(at, "解約します。電話しないで")
    later = escalation.with_comment(case, comment, verdict, at)
    assert later.severity is Severity.HIGH and later.reasons == ("score", "keyword")
    assert later.callback_consent is False and later.timeline[-1].kind == "comment"
    assert later.comments == (comment,) and later.comment == comment.text
    assert escalation.with_comment(later, comment, verdict, at) == later          # a replay changes nothing


def test_a_case_tells_the_comment_it_opened_with_from_one_added_later():
    opened_at = datetime(2026, 11, 21, tzinfo=UTC)
    first = CaseComment(opened_at, "slow payout")
    case = replace(new_case(comment=first.text), comments=(first,))
    later = CaseComment(opened_at + timedelta(hours=1), "and nobody called")
    added = escalation.with_comment(case, later, None, later.at)
    assert added.opened_with(first.at) and not added.opened_with(later.at)
    assert not added.opened_with(opened_at + timedelta(days=1))                  # not on the case at all
    untimed = replace(added, timeline=tuple(replace(e, detail={"severity": "medium"}) if e.kind == "comment" else e
                                            for e in added.timeline))
    assert not untimed.opened_with(first.at)        # a later comment stored untimed: cannot tell, announce again


def test_the_follow_up_message_follows_its_published_versioned_schema():
    schema = json.loads((SCHEMAS / "follow-up-case.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    for comment, event in (("slow payout", "opened"), (None, "opened"), ("slow", "comment")):
        message = escalation.follow_up_message(new_case(comment=comment), event)
        assert list(Draft202012Validator(schema).iter_errors(message)) == []
        assert message["schema_version"] == schema["properties"]["schema_version"]["const"] == 2
        assert message["phone"] == "+81******5678"


def test_the_alert_message_carries_filterable_attributes_and_a_stable_id():
    case = new_case(comment="解約")
    message = case_alerts.alert(case, "opened", ("agent:A-12",), datetime(2026, 11, 20, tzinfo=UTC))
    assert message["alert_id"] == "s-1:opened" and message["to"] == ["agent:A-12"]
    assert case_alerts.attributes(message) == {"procedure": "claim_payment", "branch": "tokyo-01",
                                               "severity": "high", "event": "opened", "agent_id": "A-12",
                                               "score": "3"}
    with pytest.raises(ValueError):
        case_alerts.alert(case, "coffee", (), datetime(2026, 11, 20, tzinfo=UTC))


# --- people's moves and who may see a case ------------------------------------------------------

ADMIN = Principal("u-admin", Role.CX_ADMIN)
MANAGER = Principal("u-mgr", Role.BRANCH_MANAGER, branch="tokyo-01")
OTHER_MANAGER = Principal("u-mgr2", Role.BRANCH_MANAGER, branch="osaka-02")
AGENT = Principal("u-a12", Role.AGENT, branch="tokyo-01", agent_id="A-12")
OTHER_AGENT = Principal("u-a13", Role.AGENT, branch="tokyo-01", agent_id="A-13")
NOW = datetime(2026, 11, 21, 3, tzinfo=UTC)


def test_who_sees_a_case():
    case = new_case()
    assert [case_work.visible(p, case) for p in (ADMIN, MANAGER, OTHER_MANAGER, AGENT, OTHER_AGENT)] == [
        True, True, False, True, False]


def test_a_case_in_another_branchs_queue_is_in_that_branchs_scope_while_it_holds_it():
    osaka = Owner(OwnerKind.BRANCH, "osaka-02")
    moved = case_work.assign(new_case(), osaka, ADMIN, NOW, "Asia/Tokyo", ROUTING)
    assert (moved.branch, moved.owner_branch, case_work.branches_of(moved)) == (
        "tokyo-01", "osaka-02", frozenset({"tokyo-01", "osaka-02"}))
    assert [case_work.visible(p, moved) for p in (MANAGER, OTHER_MANAGER, AGENT)] == [True, True, False]
    claimed = case_work.claim(moved, OTHER_MANAGER, NOW, "Asia/Tokyo")
    assert claimed.owner_branch == "osaka-02" and case_work.visible(OTHER_MANAGER, claimed)
    taken = case_work.claim(claimed, ADMIN, NOW, "Asia/Tokyo")        # the CX team takes it over
    assert taken.owner_branch is None and not case_work.visible(OTHER_MANAGER, taken)
    assert case_work.visible(MANAGER, taken)                          # their customer's, always
    assert new_case().owner_branch == "tokyo-01"                      # routed to A-12 of tokyo-01


def test_one_scope_per_role_for_reading_and_listing():
    assert case_work.scope_of(ADMIN) == case_work.CaseScope(everything=True)
    assert case_work.scope_of(MANAGER) == case_work.CaseScope(branch="tokyo-01")
    assert case_work.scope_of(AGENT) == case_work.CaseScope(owner="agent:A-12")
    assert case_work.scope_of(Principal("u-x", Role.BRANCH_MANAGER)) == case_work.CaseScope()   # no branch: nothing
    assert not case_work.CaseScope().covers(new_case())


def test_who_may_assign_to_whom():
    to_agent = Owner(OwnerKind.AGENT, "A-12")
    assert case_work.may_assign(ADMIN, to_agent, ROUTING) and case_work.may_assign(MANAGER, to_agent, ROUTING)
    assert not case_work.may_assign(OTHER_MANAGER, to_agent, ROUTING)
    assert not case_work.may_assign(AGENT, to_agent, ROUTING)
    assert not case_work.may_assign(ADMIN, Owner(OwnerKind.AGENT, "A-99"), ROUTING)     # has left


def test_claim_contact_resolve_reopen_each_on_the_timeline():
    case = case_work.claim(new_case(), MANAGER, NOW, "Asia/Tokyo")
    assert case.status is CaseStatus.IN_PROGRESS and case.owner == Owner(OwnerKind.PERSON, "u-mgr")
    case = case_work.contact_attempt(case, "no_answer", MANAGER, NOW + timedelta(hours=1))
    case = case_work.contact_attempt(case, "reached", MANAGER, NOW + timedelta(hours=2))
    assert case.first_contact_at == NOW + timedelta(hours=1)
    resolution = case_work.Resolution("claim_delay", "expedited", retention=timedelta(days=30),
                                      closing_at=NOW + timedelta(hours=3))
    case = case_work.resolve(case, resolution, MANAGER, NOW + timedelta(hours=3))
    assert (case.status, case.root_cause, case.action, case.closing) == (
        CaseStatus.RESOLVED, "claim_delay", "expedited", "due")
    assert case.expires_at == NOW + timedelta(hours=3, days=30) and case.next_step_at is None
    with pytest.raises(case_work.CaseRefused):
        case_work.resolve(case, resolution, MANAGER, NOW)
    deadlines = case_ladder.plan(NOW + timedelta(days=1), JP, case_ladder.Sla(), contacted=True)
    reopened = case_work.reopen(case, deadlines, ADMIN, NOW + timedelta(days=1))
    assert reopened.status is CaseStatus.OPEN and reopened.expires_at is None and reopened.closing == "held"
    assert [e.kind for e in reopened.timeline] == ["opened", "claimed", "contact_attempt", "contact_attempt",
                                                   "resolved", "reopened"]


def test_codes_must_be_configured_ones():
    codes = case_work.CaseCodes()
    assert codes.check("claim_delay", "expedited") == []
    assert [p["field"] for p in codes.check("bad_luck", "shrug")] == ["root_cause", "action"]
