"""The case API through app.py: each role's scope, the moves, optimistic locking (409), codes; and
the schedule's work on cases (the ladder, overlapping ticks, the closing message, the re-survey)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.local_token import mint
from chalicelib.domain.principal import Role
from tests.functional.conftest import ENV, SURVEY, response_image
from tests.services.conftest import event

SECRET = ENV["KOE_LOCAL_TOKEN_SECRET"]


def token(koe: Any, role: Role, *, branch: str | None = None, agent: str | None = None, subject: str = "u-1") -> str:
    claims = id_token_claims(subject, role, branch=branch, agent_id=agent)
    return mint(SECRET, claims, koe.clock.now, timedelta(hours=1))


ADMIN = {"role": Role.CX_ADMIN, "subject": "u-admin"}
MANAGER = {"role": Role.BRANCH_MANAGER, "branch": "tokyo-chuo", "subject": "u-mgr"}
OTHER_MANAGER = {"role": Role.BRANCH_MANAGER, "branch": "osaka-kita", "subject": "u-mgr2"}
AGENT = {"role": Role.AGENT, "agent": "A-102", "branch": "tokyo-chuo", "subject": "u-a102"}
OTHER_AGENT = {"role": Role.AGENT, "agent": "A-777", "branch": "tokyo-chuo", "subject": "u-a777"}


def call(koe: Any, method: str, path: str, who: dict[str, Any], body: Any = None) -> Any:
    headers = {"authorization": f"Bearer {token(koe, **who)}"}
    if method == "GET":
        return koe.client.http.get(path, headers=headers)
    headers["content-type"] = "application/json"
    return koe.client.http.post(path, headers=headers, body=json.dumps(body).encode())


def body(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture
def case(koe: Any) -> dict[str, Any]:
    """A detractor's case (the sample event: tokyo-chuo, agent A-102), opened through the stream."""
    koe.dispatch(event())
    assert koe.stream(response_image(score=2)) == {"batchItemFailures": []} and koe.cases.get_case(SURVEY)
    return body(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN))


def test_a_case_reads_with_its_timeline_answers_deadlines_and_version(koe, case):
    assert (case["version"], case["status"], case["score"], case["phone"]) == (1, "open", 2, "+1******0123")
    assert [e["kind"] for e in case["timeline"]] == ["opened"]
    assert case["answers"] == [{"question": "score", "score": 2}]
    due = case["first_contact_due"]
    assert due["customer"]["timezone"] and due["owner"]["timezone"] and due["at"].endswith("+00:00")
    assert [s["step"] for s in case["ladder"]] == ["first_contact_overdue", "reminder", "breach", "lead"]


def test_each_role_sees_its_own_scope_and_nothing_else_exists(koe, case):
    for who, visible in ((ADMIN, True), (MANAGER, True), (OTHER_MANAGER, False), (AGENT, True),
                         (OTHER_AGENT, False)):
        one = call(koe, "GET", f"/v1/cases/{SURVEY}", who)
        assert one.status_code == (200 if visible else 404), who
        listed = body(call(koe, "GET", "/v1/cases", who))["cases"]
        assert [c["case_id"] for c in listed] == ([SURVEY] if visible else []), who
    missing = call(koe, "GET", "/v1/cases/no-such-case", ADMIN)
    assert (missing.status_code, body(missing)["code"]) == (404, "case_not_found")
    assert body(call(koe, "GET", "/v1/cases?branch=tokyo-chuo", OTHER_MANAGER))["cases"] == []


def test_two_people_saving_one_case_get_one_success_and_one_409(koe, case):
    first = call(koe, "POST", f"/v1/cases/{SURVEY}/claim", MANAGER, {"version": 1})
    second = call(koe, "POST", f"/v1/cases/{SURVEY}/contact-attempts", ADMIN, {"version": 1, "outcome": "reached"})
    assert first.status_code == 200 and body(first)["version"] == 2
    assert (second.status_code, body(second)["code"], body(second)["current_version"]) == (409, "version_conflict", 2)
    stored = body(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN))
    assert [e["kind"] for e in stored["timeline"]] == ["opened", "claimed"]     # nothing lost, nothing doubled


def test_the_case_is_worked_to_resolution_with_every_step_on_the_timeline(koe, case):
    version = case["version"]
    for action, extra, who in (("claim", {}, AGENT), ("contact-attempts", {"outcome": "no_answer"}, AGENT),
                               ("contact-attempts", {"outcome": "reached"}, AGENT),
                               ("resolve", {"root_cause": "claim_delay", "action": "expedited"}, AGENT)):
        response = call(koe, "POST", f"/v1/cases/{SURVEY}/{action}", who, {"version": version, **extra})
        assert response.status_code == 200, body(response)
        version = body(response)["version"]
    resolved = body(call(koe, "GET", f"/v1/cases/{SURVEY}", AGENT))
    assert (resolved["status"], resolved["root_cause"], resolved["action"], resolved["closing_message"]) == (
        "resolved", "claim_delay", "expedited", "due")
    assert resolved["expires_at"] and resolved["first_contact_at"]
    assert [e["kind"] for e in resolved["timeline"]] == ["opened", "claimed", "contact_attempt", "contact_attempt",
                                                         "resolved"]
    again = call(koe, "POST", f"/v1/cases/{SURVEY}/resolve", AGENT,
                 {"version": version, "root_cause": "claim_delay", "action": "expedited"})
    assert (again.status_code, body(again)["code"]) == (409, "invalid_state")
    reopened = call(koe, "POST", f"/v1/cases/{SURVEY}/reopen", MANAGER, {"version": version})
    assert body(reopened)["status"] == "open" and body(reopened)["expires_at"] is None
    assert koe.alerts.published[-1]["event"] == "reopened"


@pytest.mark.parametrize("payload, field", [
    ({"version": 1, "root_cause": "bad_luck", "action": "expedited"}, "root_cause"),
    ({"version": 1, "root_cause": "claim_delay"}, "action"),
    ({"root_cause": "claim_delay", "action": "expedited"}, "version"),
    ({"version": "1", "root_cause": "claim_delay", "action": "expedited"}, "version"),
    ({"version": 1, "root_cause": "claim_delay", "action": "expedited", "mood": "sad"}, "mood"),
])
def test_a_resolution_needs_configured_codes_and_the_version(koe, case, payload, field):
    response = call(koe, "POST", f"/v1/cases/{SURVEY}/resolve", ADMIN, payload)
    assert response.status_code == 400 and field in json.dumps(body(response))


def test_assignment_follows_the_role(koe, case):
    by_agent = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", AGENT, {"version": 1, "owner": "branch:tokyo-chuo"})
    assert by_agent.status_code == 403
    by_admin = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", ADMIN, {"version": 1, "owner": "central:cx"})
    assert by_admin.status_code == 200 and body(by_admin)["owner"] == "central:cx"
    bad = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", ADMIN, {"version": 2, "owner": "the-boss"})
    assert bad.status_code == 400
    unknown_action = call(koe, "POST", f"/v1/cases/{SURVEY}/delete", ADMIN, {"version": 2})
    assert unknown_action.status_code == 400


@pytest.mark.parametrize("who, owner", [(ADMIN, "agent:A-999"), (ADMIN, "branch:nowhere"), (ADMIN, "central:other"),
                                         (MANAGER, "agent:A-999")])
def test_assigning_to_an_owner_the_routing_table_does_not_know_is_400_unknown_owner(koe, case, who, owner):
    response = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", who, {"version": 1, "owner": owner})
    assert (response.status_code, body(response)["code"]) == (400, "unknown_owner")
    assert body(response)["fields"] == [{"field": "owner", "problem": f"{owner} is not an owner koe knows"}]
    elsewhere = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", MANAGER, {"version": 1, "owner": "branch:osaka-kita"})
    assert (elsewhere.status_code, body(elsewhere)["code"]) == (403, "forbidden")     # known, not theirs to give


def test_lists_filter_and_page(koe, case):
    page = body(call(koe, "GET", "/v1/cases?status=open&severity=normal&limit=1", ADMIN))
    assert page["cases"][0]["case_id"] == SURVEY
    assert body(call(koe, "GET", "/v1/cases?status=resolved", ADMIN))["cases"] == []
    assert body(call(koe, "GET", "/v1/cases?overdue=true", ADMIN))["cases"] == []
    for query in ("status=closed", "limit=0", "colour=red", "overdue=maybe", "owner=nobody"):
        assert call(koe, "GET", f"/v1/cases?{query}", ADMIN).status_code == 400, query


def test_case_codes_are_served_with_labels_in_three_languages(koe):
    codes = body(call(koe, "GET", "/v1/case-codes", AGENT))
    assert {"claim_delay", "other"} <= {c["code"] for c in codes["root_causes"]}
    assert set(codes["actions"][0]["labels"]) == {"en", "ja", "zh"}
    assert codes["contact_outcomes"] == ["reached", "no_answer", "left_message"]


def test_the_ladder_climbs_on_the_schedule_and_overlapping_ticks_alert_once(koe, case):
    koe.alerts.messages.clear()
    ladder = case["ladder"]
    from datetime import datetime

    koe.clock.now = datetime.fromisoformat(ladder[1]["at"]) + timedelta(minutes=1)
    koe.cases.conflict_next_save = True          # another tick saves this case first
    raced = koe.tick()
    assert raced["case_raced"] == 1
    koe.tick()
    koe.tick()                                    # the schedule fires twice
    stored = body(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN))
    kinds = [e["kind"] for e in stored["timeline"]]
    assert kinds.count("first_contact_overdue") == 1 and kinds.count("reminder") == 1
    assert sorted(set(koe.alerts.ids())) == sorted([f"{SURVEY}:first_contact_overdue:{ladder[0]['at']}",
                                                    f"{SURVEY}:reminder:{ladder[1]['at']}"])
    koe.clock.now = datetime.fromisoformat(ladder[3]["at"]) + timedelta(minutes=1)
    koe.tick()
    assert [m["event"] for m in koe.alerts.published][-2:] == ["breach", "lead"]
    assert koe.alerts.published[-1]["to"] == ["central"]          # no lead configured: central


def test_a_case_given_to_another_branchs_queue_is_read_and_listed_by_that_branchs_manager(koe, case):
    moved = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", ADMIN, {"version": 1, "owner": "branch:osaka-kita"})
    assert moved.status_code == 200 and body(moved)["branch"] == "tokyo-chuo"

    def sees(who: dict[str, Any], query: str = "") -> tuple[int, list[str]]:
        listed = body(call(koe, "GET", f"/v1/cases{query}", who))["cases"]
        return call(koe, "GET", f"/v1/cases/{SURVEY}", who).status_code, [c["case_id"] for c in listed]

    assert sees(OTHER_MANAGER) == (200, [SURVEY])              # in their queue: read and listed
    assert sees(OTHER_MANAGER, "?branch=tokyo-chuo&status=open") == (200, [SURVEY])
    assert sees(MANAGER) == (200, [SURVEY])                    # still their customer's case
    claimed = call(koe, "POST", f"/v1/cases/{SURVEY}/claim", OTHER_MANAGER, {"version": 2})
    assert claimed.status_code == 200 and body(claimed)["owner"] == "person:u-mgr2"
    assert sees(OTHER_MANAGER) == (200, [SURVEY])              # claimed by them: still in their scope
    assert sees(OTHER_MANAGER, "?owner=person:u-mgr2") == (200, [SURVEY])


# --- ids no case can have: a named 400 before any store is asked (DynamoDB refuses a key over 2,048 bytes)

TOO_LONG = "c" * 2049


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("GET", f"/v1/cases/{TOO_LONG}", None),
    ("POST", f"/v1/cases/{TOO_LONG}/claim", {"version": 1}),
    ("POST", f"/v1/cases/{TOO_LONG}/contact-attempts", {"version": 1, "outcome": "reached"}),
    ("GET", f"/v1/cases/{'c' * 129}", None),
])
def test_a_case_id_longer_than_any_event_id_is_a_named_400(koe, method, path, payload):
    response = call(koe, method, path, ADMIN, payload)
    assert response.status_code == 400
    assert body(response) == {"error": "case_id is at most 128 characters (a case is named by its survey's "
                                       "event id)", "code": "invalid_request",
                              "fields": [{"field": "case_id", "problem": "is at most 128 characters"}]}


def test_a_case_id_of_the_longest_event_id_is_looked_up(koe):
    assert call(koe, "GET", f"/v1/cases/{'c' * 128}", ADMIN).status_code == 404


def test_notes_and_contact_attempts_carry_the_agents_words_on_the_timeline(koe, case):
    noted = call(koe, "POST", f"/v1/cases/{SURVEY}/notes", MANAGER, {"version": 1, "text": "  Prefers mornings.\r\n"})
    assert noted.status_code == 200, body(noted)
    attempt = call(koe, "POST", f"/v1/cases/{SURVEY}/contact-attempts", MANAGER,
                   {"version": 2, "outcome": "left_message", "note": "Voicemail, will call at 10."})
    timeline = body(attempt)["timeline"]
    assert [(e["kind"], e["detail"]) for e in timeline[1:]] == [
        ("note", {"note": "Prefers mornings."}),
        ("contact_attempt", {"outcome": "left_message", "note": "Voicemail, will call at 10."})]
    for payload, field in (({"version": 3, "text": "   "}, "text"), ({"version": 3, "text": "x" * 2001}, "text"),
                           ({"version": 3}, "text"), ({"version": 3, "text": 7}, "text")):
        refused = call(koe, "POST", f"/v1/cases/{SURVEY}/notes", MANAGER, payload)
        assert (refused.status_code, body(refused)["fields"][0]["field"]) == (400, field), payload
    assert body(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN))["version"] == 3      # nothing written


def test_only_the_owner_sees_the_customers_number_and_each_look_is_recorded(koe, case):
    # The agent owns the case (routed to A-102); the admin and the manager see it masked and may not reveal.
    for who in (ADMIN, MANAGER):
        refused = call(koe, "POST", f"/v1/cases/{SURVEY}/reveal", who, {"version": 1})
        assert (refused.status_code, body(refused)["code"]) == (403, "forbidden"), who
    shown = call(koe, "POST", f"/v1/cases/{SURVEY}/reveal", AGENT, {"version": 1})
    assert shown.status_code == 200, body(shown)
    assert body(shown)["contact"] == {"phone": "+15550100123", "email": "hanako@example.jp"}
    assert body(shown)["phone"] == "+1******0123"                   # the case itself stays masked
    entry = body(shown)["timeline"][-1]
    assert (entry["kind"], entry["actor"], entry["detail"]) == ("contact_revealed", "u-a102", {"shown": "phone,email"})
    # Resolved: nobody calls from a closed case (reopen it first).
    resolved = call(koe, "POST", f"/v1/cases/{SURVEY}/resolve", AGENT,
                    {"version": 2, "root_cause": "claim_delay", "action": "apologised"})
    assert resolved.status_code == 200
    after = call(koe, "POST", f"/v1/cases/{SURVEY}/reveal", AGENT, {"version": 3})
    assert after.status_code == 403
