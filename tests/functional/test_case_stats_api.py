"""The recovery report through app.py: a case opened through the stream, resolved through the API and
closed by the schedule is counted per procedure, for each role within its own scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.functional.conftest import SURVEY, response_image
from tests.functional.test_cases_api import ADMIN, AGENT, MANAGER, OTHER_AGENT, OTHER_MANAGER, body, call
from tests.services.conftest import event

PERIOD = "/v1/case-stats?from=2026-11-21&to=2026-11-21"


def resolved_and_closed(koe: Any) -> None:
    """Given the sample event's detractor case (tokyo-chuo, agent A-102), contacted, resolved and
    told about it (the closing SMS, at 10:00 in New York: the +1 555 number's send window; the event
    names no zone, so the number's country places the customer)."""
    payload = event()
    del payload["customer"]["timezone"]
    koe.dispatch(payload)
    koe.stream(response_image(score=2))
    version = 1
    for action, extra in (("contact-attempts", {"outcome": "reached"}),
                          ("resolve", {"root_cause": "claim_delay", "action": "expedited"})):
        koe.clock.now = datetime.fromisoformat({"contact-attempts": "2026-11-21T03:20:00+00:00",
                                                "resolve": "2026-11-21T15:00:00+00:00"}[action])
        answer = call(koe, "POST", f"/v1/cases/{SURVEY}/{action}", AGENT, {"version": version, **extra})
        assert answer.status_code == 200, body(answer)
        version = body(answer)["version"]
    assert koe.tick()["closings"] == 1


def test_the_report_counts_the_case_per_procedure(koe):
    resolved_and_closed(koe)
    answer = call(koe, "GET", PERIOD, ADMIN)
    assert answer.status_code == 200
    report = body(answer)
    assert (report["from"], report["to"], report["timezone"], report["branch"]) == ("2026-11-21", "2026-11-21",
                                                                                    "UTC", None)
    expected = {"opened": 1, "resolved": 1, "open_overdue": 0, "closing_sent": 1, "resurveyed": 0,
                "resurvey_answered": 0, "recovered": 0, "recovery_rate": None,
                "median_hours_to_first_contact": 2.0, "median_hours_to_resolution": 13.7}
    assert report["total"] == expected
    assert report["procedures"] == [{"procedure": "claim_payment", **expected}]


def test_each_role_counts_its_own_scope(koe):
    resolved_and_closed(koe)
    for who, counted in ((ADMIN, 1), (MANAGER, 1), (OTHER_MANAGER, 0), (AGENT, 1), (OTHER_AGENT, 0)):
        assert body(call(koe, "GET", PERIOD, who))["total"]["opened"] == counted, who
    assert body(call(koe, "GET", f"{PERIOD}&branch=tokyo-chuo", OTHER_MANAGER))["procedures"] == []
    assert body(call(koe, "GET", f"{PERIOD}&procedure=new_policy", ADMIN))["total"]["opened"] == 0
    assert body(call(koe, "GET", "/v1/case-stats?from=2026-11-22&to=2026-11-30", ADMIN))["total"]["opened"] == 0


def test_a_bad_query_is_a_400_and_the_operations_key_is_refused(koe):
    for query in ("from=2026-11-22&to=2026-11-21", "from=yesterday", "colour=red", "from=2025-01-01&to=2026-11-21"):
        answer = call(koe, "GET", f"/v1/case-stats?{query}", ADMIN)
        assert (answer.status_code, body(answer)["code"]) == (400, "invalid_request"), query
    assert koe.get("/v1/case-stats").status_code == 403


def test_a_case_given_to_another_branchs_queue_is_counted_by_that_branchs_manager_as_they_list_it(koe):
    koe.dispatch(event())
    koe.stream(response_image(score=2))                                 # a tokyo-chuo customer's case
    moved = call(koe, "POST", f"/v1/cases/{SURVEY}/assign", ADMIN, {"version": 1, "owner": "branch:osaka-kita"})
    assert moved.status_code == 200, body(moved)
    for who, query in ((OTHER_MANAGER, ""), (OTHER_MANAGER, "&branch=tokyo-chuo"), (MANAGER, ""), (ADMIN, "")):
        listed = body(call(koe, "GET", f"/v1/cases?{query.lstrip('&')}", who))["cases"]
        report = body(call(koe, "GET", f"{PERIOD}{query}", who))
        assert [c["case_id"] for c in listed] == [SURVEY], (who, query)
        assert report["total"]["opened"] == 1, (who, query)
    assert body(call(koe, "GET", PERIOD, OTHER_MANAGER))["branch"] == "osaka-kita"
    assert body(call(koe, "GET", f"{PERIOD}&branch=kobe", OTHER_MANAGER))["total"]["opened"] == 0
