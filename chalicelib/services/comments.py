"""What customers say, for the CX team (GET /v1/comments): the newest comments with their sentiment
and key phrases, and one dimension's groups with their sentiment counts and top phrases, over a
period of days (`from`..`to` in the reporting time zone, default the last 30).

Each role reads what it may see, as in the case list (services/cases.py): a branch manager their
branch's comments, an agent the comments on their own service (`context.agent_id`); a filter outside
that scope answers nothing (an empty report, never a 403: no existence leak). The groups follow the
same scope: a branch manager reads their branch, or a dimension within it (`procedure|branch=...`),
an agent their own agent group only. The comments without a value for the dimension (no agent, no
branch) are a group of their own (`"value": null`, listed last), as in the scores: the sentiment
total of a scope and period is the same whatever the breakdown.

Cost: the comments are one query of at most `limit` items (an index per scope); the groups are read
from counters per group and day, so the items read depend on the period and the groups, never on
the number of comments. The groups honour the caller's scope, `branch`, and the filter of their own
dimension (`procedure=` with `group=procedure`, `agent=` with `group=agent`); the other filters
(`sentiment`, and a `procedure` or `agent` of another dimension) narrow the comments only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.comment_insight import GROUPS, CommentInsight, Sentiment, summarise
from chalicelib.domain.events import MAX_CONTEXT_VALUE_CHARS, PROCEDURE
from chalicelib.domain.principal import Principal, Role, narrowed
from chalicelib.domain.scoring import WITHIN_BRANCH, within_branch
from chalicelib.errors import InvalidRequest
from chalicelib.services.ports import CommentQuery, InsightStore
from chalicelib.services.query_params import day_bounds, one_of, period, refuse_unknown

QUERY_PARAMETERS = frozenset({"from", "to", "procedure", "branch", "agent", "sentiment", "limit", "group"})
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
TOP_PHRASES = 10


class InvalidCommentsQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


@dataclass(frozen=True)
class CommentsDeps:
    store: InsightStore
    reporting_tz: ZoneInfo
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Filters:
    from_day: str
    to_day: str
    group: str | None
    procedure: str | None
    branch: str | None
    agent_id: str | None
    sentiment: str | None
    limit: int


def parse_query(params: Mapping[str, str] | None, today: date) -> Filters:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidCommentsQuery)
    from_day, to_day = period(params, today, InvalidCommentsQuery)
    try:
        group = one_of(params, "group", list(GROUPS))
        sentiment = one_of(params, "sentiment", [s.value for s in Sentiment])
    except InvalidRequest as exc:
        raise InvalidCommentsQuery(str(exc)) from exc
    try:
        limit = int(params.get("limit") or DEFAULT_LIMIT)
    except ValueError as exc:
        raise InvalidCommentsQuery("limit is a whole number") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidCommentsQuery(f"limit is between 1 and {MAX_LIMIT}")
    # A group is read by its value (a key): one no event can carry is refused before it is looked up.
    procedure = params.get("procedure")
    if procedure and not PROCEDURE.fullmatch(procedure):
        raise InvalidCommentsQuery("procedure is lower_snake_case, e.g. claim_payment")
    for name in ("branch", "agent"):
        if len(params.get(name) or "") > MAX_CONTEXT_VALUE_CHARS:
            raise InvalidCommentsQuery(
                f"{name} is at most {MAX_CONTEXT_VALUE_CHARS} characters, as the event's context")
    return Filters(from_day, to_day, group, params.get("procedure") or None, params.get("branch") or None,
                   params.get("agent") or None, sentiment, limit)


def report(principal: Principal, filters: Filters, deps: CommentsDeps) -> dict[str, Any]:
    scoped = _scoped(principal, filters)
    group = filters.group or ("agent" if principal.role is Role.AGENT else "procedure")
    comments: list[CommentInsight] = []
    rows: list[dict[str, Any]] = []
    read = 0
    if scoped is not None:
        start, end = day_bounds(scoped.from_day, scoped.to_day, deps.reporting_tz)
        comments = deps.store.latest(CommentQuery(start, end, procedure=scoped.procedure, branch=scoped.branch,
                                                  agent_id=scoped.agent_id, sentiment=scoped.sentiment,
                                                  limit=scoped.limit))
        stored = _stored_group(principal, group, scoped)
        if stored is not None:
            tallies = deps.store.groups(stored[0], scoped.from_day, scoped.to_day, stored[1])
            read = len(tallies)
            rows = [{"value": g.value or None, "n": g.n, **dict(g.counts),      # None: without a value (NO_VALUE)
                     "top_phrases": [{"phrase": p, "count": n} for p, n in g.phrases]}
                    for g in summarise(tallies, TOP_PHRASES)]
    return {
        "from": filters.from_day, "to": filters.to_day, "timezone": deps.reporting_tz.key,
        "filters": {"procedure": filters.procedure, "branch": scoped.branch if scoped else filters.branch,
                    "agent": scoped.agent_id if scoped else filters.agent_id, "sentiment": filters.sentiment},
        "comments": [_shown(c) for c in comments],
        "groups": {"dimension": group, "within_branch": scoped.branch if scoped and group != "branch" else None,
                   "rows": rows},
        "items_read": len(comments) + read,
    }


def _scoped(principal: Principal, filters: Filters) -> Filters | None:
    """The filters within what the caller may see; None when they leave that scope."""
    scope = narrowed(principal, filters.branch, filters.agent_id)
    return replace(filters, branch=scope[0], agent_id=scope[1]) if scope else None


def _stored_group(principal: Principal, group: str, scoped: Filters) -> tuple[str, str | None] | None:
    """Which counters answer `group` for this caller: (stored dimension, the one value or None for
    all); None when the caller may not read that dimension (an agent reads their own group only)."""
    if principal.role is Role.AGENT:            # their own group, within the branch asked when one is
        if group != "agent":
            return None
        return (within_branch("agent", scoped.branch) if scoped.branch else "agent"), scoped.agent_id
    if group == "branch":
        return "branch", scoped.branch
    own_filter = {"procedure": scoped.procedure, "agent": scoped.agent_id}.get(group)
    if scoped.branch and group in WITHIN_BRANCH:
        return within_branch(group, scoped.branch), own_filter
    return group, own_filter


def _shown(c: CommentInsight) -> dict[str, Any]:
    return {
        "survey_id": c.survey_id, "received_at": c.received_at.isoformat(), "day": c.day,
        "procedure": c.procedure, "branch": c.branch, "agent_id": c.agent_id, "channel": c.channel,
        "locale": c.locale, "language": c.language, "score": c.survey_score, "scale": c.scale,
        "comment": c.text, "phone": c.phone_masked, "sentiment": c.sentiment.value,
        "sentiment_score": c.score, "key_phrases": list(c.key_phrases),
    }
