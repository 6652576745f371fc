"""Follow-up cases, one per survey: `DynamoCaseStore` and the case <-> item conversions.

Opening refuses a second case for the same id. People's and the schedule's changes are one
conditional update on the version read (optimistic locking) that bumps it; koe's own notification
flags are set without touching the version. Lists query one index newest first and page with a
cursor made from the last case returned (so a filter that skips items never skips a page); a
branch's list (`in_branch`) merges two, its customers' cases (`by-branch`) and the other branches'
cases in its queue (`by-queue-branch`): the two hold different cases, and the cursor keeps where each
stands. Every index a list queries has `opened_at` as its range key: a list of the cases opened in a
period (`opened_from`, `opened_before`) reads only that range of each, a key condition rather than a
filter. The recovery report reads every case opened in a period from the indexes the list of the same
scope would query, on the same range.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.case_items import (
    ALL_SHARD,
    DUE_SHARD,
    CaseCommentItem,
    CaseItem,
    StepItem,
    TimelineItem,
)
from chalicelib.adapters.dynamo.convert import place_from_item, place_to_item, set_or_remove, strings
from chalicelib.adapters.dynamo.errors import conditional, get_or_none, throttling_as_retryable
from chalicelib.domain.cases import Case, CaseComment, CaseStatus, LadderStep, Owner, Severity, TimelineEntry
from chalicelib.errors import CaseNotFound, InvalidRequest, VersionConflict
from chalicelib.services.ports import CasePage, CaseQuery
from chalicelib.settings import Settings

# What people and the schedule change on a case (save); the rest is written once, at opening.
MUTABLE = ("comment", "comments", "severity", "reasons", "callback_consent", "owner", "owner_timezone", "status",
           "first_contact_due", "resolution_due", "timeline", "ladder", "ladder_next", "first_contact_at",
           "root_cause", "action", "resolved_at", "closing", "closing_at", "resurvey_at", "resurvey_id",
           "recovered", "due_shard", "due_at", "expires_at", "owner_branch", "queue_branch")
# The index a list queries, and its key attributes (the cursor is made of them and case_id).
INDEX_KEYS = {"by-owner": ("owner", "opened_at"), "by-branch": ("branch", "opened_at"),
              "by-queue-branch": ("queue_branch", "opened_at"), "by-status": ("status", "opened_at"),
              "all-cases": ("all_shard", "opened_at")}


class DynamoCaseStore:
    """Follow-up cases, one per survey. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def open_case(self, case: Case) -> bool:
        return conditional(lambda: _case_to_item(case).save(condition=CaseItem.case_id.does_not_exist()))

    def get_case(self, case_id: str) -> Case | None:
        item = get_or_none(CaseItem, case_id)
        return _case_from_item(item) if item else None

    def mark_notified(self, case_id: str, *, follow_up_queued: bool = False, alert_published: bool = False) -> None:
        actions = [flag.set(True) for flag, on in ((CaseItem.follow_up_queued, follow_up_queued),
                                                   (CaseItem.alert_published, alert_published)) if on]
        if actions:
            self._update(case_id, actions, CaseItem.case_id.exists())

    def save(self, case: Case, expected_version: int) -> Case:
        item = _case_to_item(case)
        actions: list[Action] = [set_or_remove(getattr(CaseItem, name), getattr(item, name)) for name in MUTABLE]
        actions.append(CaseItem.version.set(expected_version + 1))
        if self._update(case.case_id, actions, CaseItem.version == expected_version):
            return _case_from_item(item, version=expected_version + 1)
        current = get_or_none(CaseItem, case.case_id)
        if current is None:
            raise CaseNotFound(f"no case {case.case_id}")
        raise VersionConflict(f"case {case.case_id} is at version {int(current.version)}, "
                              f"not {expected_version}: read it again", int(current.version))

    def list_cases(self, query: CaseQuery) -> CasePage:
        sources = _sources(query)
        starts, done = _read_cursor(query.cursor, [index for index, _, _ in sources], query)
        if _empty_period(query):
            return CasePage([], None)
        opened = _opened(query.opened_from, query.opened_before)
        found: list[CaseItem] = []
        last: dict[str, CaseItem] = {}
        with throttling_as_retryable():
            pending = {index: iter(getattr(CaseItem, _ATTR[index]).query(
                hash_value, range_key_condition=opened, filter_condition=filters, scan_index_forward=False,
                last_evaluated_key=starts[index], page_size=max(query.limit, 25)))
                for index, hash_value, filters in sources if index not in done}
            heads: dict[str, CaseItem] = {}
            while len(found) < query.limit:
                for index in [i for i in pending if i not in heads]:
                    head = next(pending[index], None)
                    if head is None:
                        done.add(index)
                        del pending[index]
                    else:
                        heads[index] = head
                if not heads:
                    break
                newest = max(heads, key=lambda i: (heads[i].opened_at, heads[i].case_id))
                last[newest] = heads.pop(newest)
                found.append(last[newest])
        # A full page may be the last one: the next then comes back empty with no cursor.
        cursor = None
        if len(found) == query.limit:
            cursor = _make_cursor({index: _key(last[index], index) if index in last else starts[index]
                                   for index, _, _ in sources}, done)
        return CasePage([_case_from_item(i) for i in found], cursor)

    def due(self, now: datetime, limit: int) -> list[Case]:
        with throttling_as_retryable():
            items = CaseItem.due.query(DUE_SHARD, CaseItem.due_at <= now, limit=limit)
            return [_case_from_item(i) for i in items]

    def cases_of(self, customer_id: str, since: datetime) -> list[Case]:
        with throttling_as_retryable():
            return [_case_from_item(i) for i in CaseItem.by_customer.query(customer_id, CaseItem.opened_at >= since)]

    def opened_between(self, start: datetime, end: datetime, *, branch: str | None = None,
                       owner: str | None = None, in_branch: str | None = None) -> list[Case]:
        # The indexes a list of the same scope queries (_sources: a branch's scope is two), each on
        # its opened_at range, merged oldest first.
        found: list[CaseItem] = []
        with throttling_as_retryable():
            for index, hash_value, filters in _sources(CaseQuery(owner=owner, branch=branch, in_branch=in_branch)):
                found += getattr(CaseItem, _ATTR[index]).query(hash_value, _opened(start, end),
                                                               filter_condition=filters)
        return [_case_from_item(i) for i in sorted(found, key=lambda i: (i.opened_at, i.case_id))]

    def _update(self, case_id: str, actions: Sequence[Action], condition: Condition) -> bool:
        return conditional(lambda: CaseItem(case_id).update(actions=list(actions), condition=condition))


_ATTR = {"by-owner": "by_owner", "by-branch": "by_branch", "by-queue-branch": "by_queue_branch",
         "by-status": "by_status", "all-cases": "all_cases"}


def _sources(query: CaseQuery) -> list[tuple[str, str, Condition | None]]:
    """The index queries (index, hash value, filter) whose cases, merged newest first, are the list."""
    scope = query.in_branch
    if query.owner:
        conditions = _filters(query, "by-owner")
        if query.branch:
            conditions.append(CaseItem.branch == query.branch)
        if scope:
            conditions.append((CaseItem.branch == scope) | (CaseItem.owner_branch == scope))
        return [("by-owner", query.owner, _all(conditions))]
    if query.branch:
        # The customer's branch; within another branch's scope, its cases in that branch's queue.
        conditions = _filters(query, "by-branch")
        if scope and scope != query.branch:
            conditions.append(CaseItem.owner_branch == scope)
        return [("by-branch", query.branch, _all(conditions))]
    if scope:
        return [(index, scope, _all(_filters(query, index))) for index in ("by-branch", "by-queue-branch")]
    if len(query.status) == 1:
        return [("by-status", next(iter(query.status)), _all(_filters(query, "by-status")))]
    return [("all-cases", ALL_SHARD, _all(_filters(query, "all-cases")))]


def _filters(query: CaseQuery, index: str) -> list[Condition]:
    """The filters of status, procedure, severity and overdue (the status one unless the index is by it)."""
    conditions: list[Condition] = []
    if query.status and index != "by-status":
        conditions.append(CaseItem.status.is_in(*sorted(query.status)))
    if query.procedure:
        conditions.append(CaseItem.procedure == query.procedure)
    if query.severity:
        conditions.append(CaseItem.severity == query.severity)
    if query.overdue_at is not None:
        conditions.append((CaseItem.resolution_due <= query.overdue_at)
                          & (CaseItem.status != CaseStatus.RESOLVED.value))
    return conditions


def _opened(start: datetime | None, before: datetime | None) -> Condition | None:
    """The key condition on the indexes' range key (opened_at) of a period, either end open (None:
    no condition). A period with both ends must not be empty (BETWEEN refuses a reversed range)."""
    if start is not None and before is not None:
        # BETWEEN includes both ends; `before` is excluded (opened_at is stored to the microsecond).
        return CaseItem.opened_at.between(start, before - timedelta(microseconds=1))
    if start is not None:
        return CaseItem.opened_at >= start
    if before is not None:
        return CaseItem.opened_at < before
    return None


def _empty_period(query: CaseQuery) -> bool:
    return (query.opened_from is not None and query.opened_before is not None
            and query.opened_from >= query.opened_before)


def _in_period(opened_at: datetime, query: CaseQuery) -> bool:
    return ((query.opened_from is None or opened_at >= query.opened_from)
            and (query.opened_before is None or opened_at < query.opened_before))


def _all(conditions: list[Condition]) -> Condition | None:
    combined: Condition | None = None
    for condition in conditions:
        combined = condition if combined is None else combined & condition
    return combined


def _key(item: CaseItem, index: str) -> dict[str, Any]:
    """Where a query of `index` resumes after `item`: its table key and the index's keys."""
    hash_name, range_name = INDEX_KEYS[index]
    raw = item.serialize()
    return {name: raw[name] for name in ("case_id", hash_name, range_name)}


def _make_cursor(keys: dict[str, dict[str, Any] | None], done: set[str]) -> str:
    """Per index of the list: the key to resume after (None: from its start), and those read to the end."""
    body = {"i": list(keys), "k": keys, "x": sorted(done)}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def _read_cursor(cursor: str | None, indexes: list[str],
                 query: CaseQuery) -> tuple[dict[str, dict[str, Any] | None], set[str]]:
    if not cursor:
        return dict.fromkeys(indexes), set()
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        keys, done = decoded["k"], decoded["x"]
        valid = (decoded["i"] == indexes and isinstance(keys, dict) and set(keys) == set(indexes)
                 and all(key is None or (isinstance(key, dict) and set(key) == {"case_id", *INDEX_KEYS[index]})
                         for index, key in keys.items())
                 and isinstance(done, list) and set(done) <= set(indexes)
                 # A list of another period: DynamoDB refuses a start key outside the key condition.
                 and all(key is None or _in_period(CaseItem.opened_at.deserialize(key["opened_at"]["S"]), query)
                         for key in keys.values()))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise InvalidRequest("cursor is not one this list gave out") from exc
    if not valid:
        raise InvalidRequest("cursor belongs to another list: use it with the same filters")
    return {index: dict(keys[index]) if keys[index] else None for index in indexes}, set(done)


def _case_to_item(case: Case) -> CaseItem:
    due = case.work_due_at
    return CaseItem(
        case.case_id, survey_id=case.survey_id, procedure=case.procedure, customer_id=case.customer_id,
        score=case.score, opened_at=case.opened_at, first_contact_due=case.first_contact_due,
        resolution_due=case.resolution_due, context=dict(case.context), phone_masked=case.phone_masked,
        comment=case.comment, comments=[CaseCommentItem(at=c.at, text=c.text) for c in case.comments] or None,
        locale=case.locale, channel=case.channel, severity=case.severity.value, reasons=list(case.reasons),
        callback_consent=case.callback_consent, owner=str(case.owner),
        branch=case.branch, owner_branch=case.owner_branch,
        queue_branch=case.owner_branch if case.owner_branch != case.branch else None,
        customer_timezone=case.customer_timezone, owner_timezone=case.owner_timezone,
        customer_place=place_to_item(case.customer_place), status=case.status.value, version=case.version,
        timeline=[TimelineItem(at=e.at, kind=e.kind, actor=e.actor, detail=dict(e.detail)) for e in case.timeline],
        ladder=[StepItem(name=s.name, at=s.at, to=s.to) for s in case.ladder], ladder_next=case.ladder_next,
        first_contact_at=case.first_contact_at, root_cause=case.root_cause, action=case.action,
        resolved_at=case.resolved_at, closing=case.closing, closing_at=case.closing_at,
        resurvey_at=case.resurvey_at, resurvey_id=case.resurvey_id, recovered=case.recovered,
        follow_up_queued=case.follow_up_queued, alert_published=case.alert_published,
        all_shard=ALL_SHARD,
        due_shard=DUE_SHARD if due else None, due_at=due, expires_at=case.expires_at)


def _case_from_item(item: CaseItem, version: int | None = None) -> Case:
    return Case(
        case_id=item.case_id, survey_id=item.survey_id, procedure=item.procedure, customer_id=item.customer_id,
        score=int(item.score), opened_at=item.opened_at, first_contact_due=item.first_contact_due,
        resolution_due=item.resolution_due, context=strings(item.context), phone_masked=item.phone_masked,
        comment=item.comment, comments=tuple(CaseComment(c.at, c.text) for c in item.comments or ()),
        locale=item.locale, channel=item.channel, severity=Severity(item.severity),
        reasons=tuple(str(r) for r in item.reasons or ()), callback_consent=item.callback_consent,
        owner=Owner.parse(item.owner), owner_branch=item.owner_branch,
        customer_timezone=item.customer_timezone, owner_timezone=item.owner_timezone,
        customer_place=place_from_item(item.customer_place), status=CaseStatus(item.status),
        version=version if version is not None else int(item.version),
        timeline=tuple(TimelineEntry(e.at, e.kind, e.actor, strings(e.detail)) for e in item.timeline or ()),
        ladder=tuple(LadderStep(s.name, s.at, s.to) for s in item.ladder or ()), ladder_next=int(item.ladder_next),
        first_contact_at=item.first_contact_at, root_cause=item.root_cause, action=item.action,
        resolved_at=item.resolved_at, closing=item.closing, closing_at=item.closing_at,
        resurvey_at=item.resurvey_at, resurvey_id=item.resurvey_id, recovered=item.recovered,
        expires_at=item.expires_at, follow_up_queued=bool(item.follow_up_queued),
        alert_published=bool(item.alert_published))
