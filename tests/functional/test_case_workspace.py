"""The case workspace through app.py: the inbox and the case page signed in with the session cookie,
each role's scope (the API's rule: 404 outside it), every move as a form with a CSRF token, a stale
form as a 409 page that shows what changed and keeps what was typed, the number revealed only to the
owner and recorded, and the way back through sign-in to the case an alert linked to."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.functional.conftest import PUBLIC_BASE_URL, SURVEY, response_image
from tests.functional.test_cases_api import ADMIN, AGENT, MANAGER, OTHER_AGENT, OTHER_MANAGER, call, token
from tests.functional.test_dashboard import html, signed_in
from tests.services.conftest import event

CASES = f"{PUBLIC_BASE_URL}/cases"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def case(koe: Any) -> str:
    """The sample survey answered 2: a case owned by agent A-102 in tokyo-chuo."""
    koe.dispatch(event())
    assert koe.stream(response_image(score=2)) == {"batchItemFailures": []} and koe.cases.get_case(SURVEY)
    return SURVEY


def get(koe: Any, path: str, who: dict[str, Any] | None, language: str = "en", cookie: str | None = None) -> Any:
    headers = {"accept-language": language}
    if who is not None or cookie:
        headers["cookie"] = cookie or signed_in(koe, who or {})
    return koe.client.http.get(path, headers=headers)


def csrf_of(page: str) -> dict[str, str]:
    """The hidden fields of the first form on the page (they are the same on every form)."""
    fields = dict(re.findall(r'<input type="hidden" name="(csrf|version|seen|lang)" value="([^"]*)"', page)[:4])
    assert set(fields) == {"csrf", "version", "seen", "lang"}, fields
    return fields


def post(koe: Any, path: str, cookie: str, fields: dict[str, str]) -> Any:
    return koe.client.http.post(path, headers={"cookie": cookie, "content-type": FORM},
                                body=urlencode(fields).encode())


def test_the_inbox_lists_the_principals_own_queue_in_each_language(koe, case):
    for who, listed in ((ADMIN, True), (MANAGER, True), (AGENT, True), (OTHER_MANAGER, False), (OTHER_AGENT, False)):
        answer = get(koe, "/cases", who)
        assert answer.status_code == 200, who
        assert (f'data-case="{SURVEY}"' in html(answer)) is listed, who
    for language, word in (("ja", "案件一覧"), ("zh", "工单列表"), ("en", "Case inbox")):
        page = html(get(koe, "/cases", AGENT, language))
        assert f'<html lang="{language}">' in page and word in page
    switched = html(get(koe, "/cases?lang=zh", AGENT, "ja"))
    assert '<html lang="zh">' in switched


def test_the_inbox_counts_per_tab_and_filters_by_what_the_api_filters(koe, case):
    page = html(get(koe, "/cases", ADMIN))
    assert re.search(r'data-testid="tab-active"[^>]*>[^<]*<b>1</b>', page)
    assert re.search(r'data-testid="tab-resolved"[^>]*>[^<]*<b>0</b>', page)
    assert f'data-case="{SURVEY}"' not in html(get(koe, "/cases?status=resolved", ADMIN))
    assert f'data-case="{SURVEY}"' in html(get(koe, "/cases?owner=agent:A-102", ADMIN))
    assert f'data-case="{SURVEY}"' not in html(get(koe, "/cases?owner=agent:A-310", ADMIN))
    assert f'data-case="{SURVEY}"' not in html(get(koe, "/cases?severity=critical", ADMIN))
    bad = get(koe, "/cases?status=lost", ADMIN)
    assert bad.status_code == 400 and "status is one of" in html(bad)


def test_a_case_outside_the_scope_does_not_exist_for_the_viewer(koe, case):
    for who in (OTHER_AGENT, OTHER_MANAGER):
        answer = get(koe, f"/cases/{SURVEY}", who)
        assert answer.status_code == 404, who
        assert SURVEY not in html(answer)
    assert get(koe, "/cases/no-such-case", ADMIN).status_code == 404


def test_the_case_page_shows_answers_deadlines_in_both_zones_and_the_number_masked(koe, case):
    page = html(get(koe, f"/cases/{SURVEY}", AGENT))
    assert 'data-testid="score"' in page and "+1******0123" in page and "+15550100123" not in page
    assert "Asia/Tokyo" in page and 'data-testid="deadline-first_contact"' in page
    assert 'data-testid="reveal"' in page                   # the agent owns it
    assert 'data-testid="reveal"' not in html(get(koe, f"/cases/{SURVEY}", MANAGER))


def test_every_move_is_a_form_and_each_lands_on_the_timeline(koe, case):
    cookie = signed_in(koe, AGENT)
    moves = (("claim", {}), ("reveal", {}),
             ("contact-attempts", {"outcome": "reached", "note": "Apologised; will expedite."}),
             ("notes", {"text": "Payout on Friday."}),
             ("resolve", {"root_cause": "claim_delay", "action": "expedited"}), ("reopen", {}))
    for action, extra in moves:
        fields = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=cookie)))
        answer = post(koe, f"/cases/{SURVEY}/{action}", cookie, {**fields, **extra})
        assert answer.status_code == 303, (action, html(answer)[:2000])
        assert answer.headers["Location"].startswith(f"{CASES}/{SURVEY}?lang=en&done={action}")
        if action == "reveal":
            shown = html(get(koe, f"/cases/{SURVEY}?lang=en&done=reveal", None, cookie=cookie))
            assert 'href="tel:+15550100123"' in shown and "hanako@example.jp" in shown
    case_now = json.loads(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN).body)
    assert [e["kind"] for e in case_now["timeline"]] == ["opened", "claimed", "contact_revealed", "contact_attempt",
                                                         "note", "resolved", "reopened"]
    assert case_now["timeline"][3]["detail"] == {"outcome": "reached", "note": "Apologised; will expedite."}


def test_a_stale_form_is_a_409_that_shows_what_changed_and_keeps_what_was_typed(koe, case):
    agent, manager = signed_in(koe, AGENT), signed_in(koe, MANAGER)
    drawn_by_agent = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=agent)))
    drawn_by_manager = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=manager)))
    first = post(koe, f"/cases/{SURVEY}/notes", manager, {**drawn_by_manager, "text": "Called the branch."})
    assert first.status_code == 303
    second = post(koe, f"/cases/{SURVEY}/contact-attempts", agent,
                  {**drawn_by_agent, "outcome": "no_answer", "note": "Rang twice, no answer."})
    page = html(second)
    assert second.status_code == 409
    assert 'data-testid="outcome-conflict"' in page and "Called the branch." in page      # what changed
    assert "Rang twice, no answer.</textarea>" in page                                      # what was typed
    assert re.search(r'value="no_answer" required\s+checked', page)
    stored = json.loads(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN).body)
    assert [e["kind"] for e in stored["timeline"]] == ["opened", "note"]        # nothing lost, nothing doubled


def test_forms_without_the_sessions_csrf_token_change_nothing(koe, case):
    agent, other = signed_in(koe, AGENT), signed_in(koe, MANAGER)
    fields = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=agent)))
    for forged in ({**fields, "csrf": ""}, {**fields, "csrf": fields["csrf"][:-2] + "xx"},
                   {k: v for k, v in fields.items() if k != "csrf"}):
        assert post(koe, f"/cases/{SURVEY}/claim", agent, forged).status_code == 403
    # Another person's token: bound to their session, not this one.
    theirs = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=other)))
    assert post(koe, f"/cases/{SURVEY}/claim", agent, {**fields, "csrf": theirs["csrf"]}).status_code == 403
    assert json.loads(call(koe, "GET", f"/v1/cases/{SURVEY}", ADMIN).body)["version"] == 1


def test_only_the_owner_may_reveal_and_a_refused_move_says_why(koe, case):
    manager = signed_in(koe, MANAGER)
    fields = csrf_of(html(get(koe, f"/cases/{SURVEY}", None, cookie=manager)))
    refused = post(koe, f"/cases/{SURVEY}/reveal", manager, fields)
    assert refused.status_code == 403 and "+15550100123" not in html(refused)
    missing = post(koe, f"/cases/{SURVEY}/resolve", manager, {**fields, "root_cause": "claim_delay"})
    assert missing.status_code == 400 and 'id="resolve-action-problem"' in html(missing)


def test_an_alert_link_goes_through_sign_in_and_back_to_the_case(koe, case):
    link = f"/cases/{quote(SURVEY)}?lang=ja"
    first = koe.client.http.get(link, headers={"accept-language": "ja"})
    assert first.status_code == 401
    remembered = first.headers["Set-Cookie"].split(";")[0]
    assert remembered.startswith("koe_return=")
    signed = koe.client.http.get(f"/dashboard/local-sign-in?token={quote(token(koe, **AGENT))}",
                                 headers={"cookie": remembered})
    assert signed.status_code == 303 and signed.headers["Location"] == f"{PUBLIC_BASE_URL}{link}"
    # Only a page of the app's own is remembered: never another origin.
    evil = koe.client.http.get("/cases", headers={"cookie": "koe_return=Ly9ldmlsLmV4YW1wbGU"})
    assert evil.status_code == 401


def test_an_inbox_view_reads_each_status_group_in_pages_of_100_and_says_when_it_stops(koe, monkeypatch):
    from dataclasses import replace as changed

    from chalicelib.domain import case_workspace
    from chalicelib.domain.cases import CaseStatus

    koe.dispatch(event())
    assert koe.stream(response_image(score=2)) == {"batchItemFailures": []} and koe.cases.get_case(SURVEY)
    template = koe.cases.get_case(SURVEY)
    for n in range(249):                                   # 250 open cases in all, and 30 resolved
        koe.cases.open_case(changed(template, case_id=f"{SURVEY}-{n}", survey_id=f"{SURVEY}-{n}"))
    for n in range(30):
        koe.cases.open_case(changed(template, case_id=f"{SURVEY}-r{n}", survey_id=f"{SURVEY}-r{n}",
                                    status=CaseStatus.RESOLVED, resolved_at=template.opened_at))
    reads: list[Any] = []
    listed = koe.cases.list_cases
    monkeypatch.setattr(koe.cases, "list_cases", lambda query: reads.append(query) or listed(query))
    page = html(get(koe, "/cases?status=all", ADMIN))
    assert len(reads) == 4                                  # open: 100 + 100 + 50; resolved: 30
    assert all(q.limit == 100 for q in reads)
    assert re.search(r'data-testid="tab-all"[^>]*>[^<]*<b>280</b>', page) and 'data-testid="capped"' not in page
    assert len(re.findall(r'data-testid="case-row"', page)) == case_workspace.PAGE_SIZE
    monkeypatch.setattr(case_workspace, "MAX_READ", 100)
    reads.clear()
    capped = html(get(koe, "/cases?status=all", ADMIN))
    assert len(reads) == 2 and 'data-testid="capped"' in capped     # one page of each group, then it says so
