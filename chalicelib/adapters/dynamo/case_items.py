"""The cases table's item and its indexes (declarations only; `cases.py` converts and queries).

Lists are queries on one index, newest first: by owner, by branch, by status, or all cases
(`all_shard`, one partition: cases are the detractors only); a branch's list is two, merged: its
customers' cases (`by-branch`) and the other branches' cases in its queue (`by-queue-branch`, sparse:
`queue_branch` is set only when the owner's branch is not the customer's). `due-at` is sparse: a case carries
`due_shard`/`due_at` while the schedule has work on it (a ladder rung, the closing message, the
re-survey). `by-customer` finds a customer's earlier cases (the repeat-detractor rule).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamo.convert import PlaceItem

ALL_SHARD = "case"
DUE_SHARD = "due"


def _index(name: str) -> type:
    class Meta:
        index_name = name
        projection = AllProjection()
    return Meta


class ByOwnerIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("by-owner")
    owner = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class ByBranchIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("by-branch")
    branch = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class ByQueueBranchIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("by-queue-branch")
    queue_branch = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class ByStatusIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("by-status")
    status = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class AllCasesIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("all-cases")
    all_shard = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class DueAtIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("due-at")
    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class ByCustomerIndex(GlobalSecondaryIndex["CaseItem"]):
    Meta = _index("by-customer")
    customer_id = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class TimelineItem(MapAttribute[str, Any]):
    at = UTCDateTimeAttribute()
    kind = UnicodeAttribute()
    actor = UnicodeAttribute()
    detail: MapAttribute[str, str] = MapAttribute(default=dict)


class CaseCommentItem(MapAttribute[str, Any]):
    at = UTCDateTimeAttribute()
    text = UnicodeAttribute()


class StepItem(MapAttribute[str, Any]):
    name = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    to = UnicodeAttribute()


class CaseItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    case_id = UnicodeAttribute(hash_key=True)
    survey_id = UnicodeAttribute()
    procedure = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    score = NumberAttribute()
    opened_at = UTCDateTimeAttribute()
    first_contact_due = UTCDateTimeAttribute()
    resolution_due = UTCDateTimeAttribute()
    context: MapAttribute[str, str] = MapAttribute(default=dict)
    phone_masked = UnicodeAttribute(null=True)
    comment = UnicodeAttribute(null=True)                 # the latest comment
    comments = ListAttribute(of=CaseCommentItem, null=True)   # every comment, oldest first
    locale = UnicodeAttribute(default="en")
    channel = UnicodeAttribute(default="")
    severity = UnicodeAttribute(default="normal")
    reasons = ListAttribute(of=UnicodeAttribute, default=list)
    callback_consent = BooleanAttribute(null=True)
    owner = UnicodeAttribute()
    branch = UnicodeAttribute(null=True)              # = context["branch"]: the by-branch index
    owner_branch = UnicodeAttribute(null=True)        # the owner's queue's branch (Case.owner_branch)
    queue_branch = UnicodeAttribute(null=True)        # = owner_branch when not `branch`: the by-queue-branch index
    customer_timezone = UnicodeAttribute(default="UTC")
    owner_timezone = UnicodeAttribute(default="UTC")
    customer_place = PlaceItem(null=True)             # the survey's; absent: opened before places
    status = UnicodeAttribute()
    version = NumberAttribute(default=1)
    timeline = ListAttribute(of=TimelineItem, default=list)
    ladder = ListAttribute(of=StepItem, default=list)
    ladder_next = NumberAttribute(default=0)
    first_contact_at = UTCDateTimeAttribute(null=True)
    root_cause = UnicodeAttribute(null=True)
    action = UnicodeAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    closing = UnicodeAttribute(null=True)
    closing_at = UTCDateTimeAttribute(null=True)
    resurvey_at = UTCDateTimeAttribute(null=True)
    resurvey_id = UnicodeAttribute(null=True)
    recovered = BooleanAttribute(null=True)
    follow_up_queued = BooleanAttribute(default=False)
    alert_published = BooleanAttribute(default=False)
    all_shard = UnicodeAttribute(default=ALL_SHARD)
    due_shard = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)              # retention after resolution

    by_owner = ByOwnerIndex()
    by_branch = ByBranchIndex()
    by_queue_branch = ByQueueBranchIndex()
    by_status = ByStatusIndex()
    all_cases = AllCasesIndex()
    due = DueAtIndex()
    by_customer = ByCustomerIndex()
