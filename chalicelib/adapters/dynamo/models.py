"""The PynamoDB models: one per koe table in `chalicelib.resources`, and MODELS, the map from
logical table name to model. Declarations only; `binding.configure` binds them, and the stores
convert between these items and domain objects.

Meta.table_name stays None until configure(): using an unbound model fails loudly instead of
writing to a table of the wrong stage.
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
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE, STREAM_NEW_IMAGE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamo.case_items import CaseItem
from chalicelib.adapters.dynamo.convert import PlaceItem
from chalicelib.adapters.dynamo.insight_items import CommentGroupItem, CommentInsightItem

OPEN_SHARD = "open"          # the one partition of the sparse open-until index
SEND_SHARD = "due"           # the one partition of the sparse send-at index
REMIND_SHARD = "remind"      # the one partition of the sparse remind-at index


class OpenUntilIndex(GlobalSecondaryIndex["SurveyItem"]):
    """Sparse: only surveys whose conversation is open carry open_shard/open_until."""

    class Meta:
        index_name = "open-until"
        projection = AllProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    open_until = UTCDateTimeAttribute(range_key=True)


class SendAtIndex(GlobalSecondaryIndex["SurveyItem"]):
    """Sparse: only scheduled surveys carry send_shard/send_at; the schedule releases them in order."""

    class Meta:
        index_name = "send-at"
        projection = AllProjection()

    send_shard = UnicodeAttribute(hash_key=True)
    send_at = UTCDateTimeAttribute(range_key=True)


class RemindAtIndex(GlobalSecondaryIndex["SurveyItem"]):
    """Sparse: only surveys whose one reminder is still to go carry remind_shard/remind_at."""

    class Meta:
        index_name = "remind-at"
        projection = AllProjection()

    remind_shard = UnicodeAttribute(hash_key=True)
    remind_at = UTCDateTimeAttribute(range_key=True)


class SurveysByCustomerIndex(GlobalSecondaryIndex["SurveyItem"]):
    """Every survey (each has a customer and a creation time), by customer and newest first: the
    customer's earlier surveys on the case page."""

    class Meta:
        index_name = "by-customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class SurveyItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    survey_id = UnicodeAttribute(hash_key=True)
    procedure = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    contact_key = UnicodeAttribute()
    locale = UnicodeAttribute()
    channel = UnicodeAttribute()
    channel_reason = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute()
    phone = UnicodeAttribute(null=True)          # raw number: only here, never logged
    email = UnicodeAttribute(null=True)          # raw address: only here, never logged
    line_user_id = UnicodeAttribute(null=True)   # raw LINE user id: only here, never logged
    wechat_openid = UnicodeAttribute(null=True)  # raw WeChat openid: only here, never logged
    context: MapAttribute[str, str] = MapAttribute(default=dict)
    reason = UnicodeAttribute(null=True)
    step = UnicodeAttribute()
    reprompts = NumberAttribute(default=0)
    score = NumberAttribute(null=True)
    message_sid = UnicodeAttribute(null=True)
    delivery_status = UnicodeAttribute(null=True)
    delivery_rank = NumberAttribute(null=True)
    delivery_error = UnicodeAttribute(null=True)
    last_inbound_sid = UnicodeAttribute(null=True)
    last_reply_key = UnicodeAttribute(null=True)
    open_shard = UnicodeAttribute(null=True)
    open_until = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    send_shard = UnicodeAttribute(null=True)
    send_at = UTCDateTimeAttribute(null=True)
    open_index = OpenUntilIndex()
    resends = NumberAttribute(null=True)
    scale = UnicodeAttribute(null=True)                 # absent: nps (surveys from before definitions)
    definition_version = NumberAttribute(null=True)
    remind_shard = UnicodeAttribute(null=True)
    remind_at = UTCDateTimeAttribute(null=True)
    customer_place = PlaceItem(null=True)               # decided at dispatch; absent: stored before places
    send_index = SendAtIndex()
    remind_index = RemindAtIndex()
    by_customer = SurveysByCustomerIndex()


class OptOutEntry(MapAttribute[str, Any]):
    at = UTCDateTimeAttribute()
    audit = UnicodeAttribute(null=True)
    opted_out = BooleanAttribute()


class ContactItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    contact_key = UnicodeAttribute(hash_key=True)    # HMAC of the phone, never the number
    opted_out = BooleanAttribute(null=True)
    opt_out_history = ListAttribute(of=OptOutEntry, null=True)
    active_survey_id = UnicodeAttribute(null=True)
    active_until = UTCDateTimeAttribute(null=True)
    # The bounded survey history the fatigue rules read: "procedure#iso" entries, written whole
    # (domain/fatigue.after_survey decides what to keep) with history_version + 1, on condition
    # that the version is still the one read, so a concurrent survey of the contact is not lost.
    survey_log = ListAttribute(of=UnicodeAttribute, null=True)
    history_version = NumberAttribute(null=True)
    # The history before it was bounded: a string set that only grew. Read with the log; the
    # next survey of the contact writes the log and removes it.
    surveyed = UnicodeSetAttribute(null=True)


class ByMonthIndex(GlobalSecondaryIndex["ResponseItem"]):
    """Sparse: only score answers carry month_shard (`YYYY-MM#k`, domain/exports.month_shard), one
    item per answered survey; the answers export reads a period month by month, shard by shard."""

    class Meta:
        index_name = "by-month"
        projection = AllProjection()

    month_shard = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class CommentEntry(MapAttribute[str, Any]):
    """One comment of a survey's thread (ResponseItem.comments)."""

    text = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    late = BooleanAttribute(null=True)
    truncated = BooleanAttribute(null=True)     # absent: the comment is whole


class ResponseItem(Model):
    """A survey's answer to one question. The `comment` item holds every comment the customer sent:
    `comments`, oldest first, each with its time, and at the top level the latest one (what the
    stream's NEW_IMAGE of each append carries: one record per comment). An item written before
    threads has the top level only: that one comment."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE
        stream_view_type = STREAM_NEW_IMAGE

    survey_id = UnicodeAttribute(hash_key=True)
    question = UnicodeAttribute(range_key=True)
    received_at = UTCDateTimeAttribute()
    procedure = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    locale = UnicodeAttribute()
    context: MapAttribute[str, str] = MapAttribute(default=dict)
    score = NumberAttribute(null=True)
    text = UnicodeAttribute(null=True)
    threshold = NumberAttribute(null=True)
    phone_masked = UnicodeAttribute(null=True)
    late = BooleanAttribute(null=True)
    channel = UnicodeAttribute(null=True)
    scale = UnicodeAttribute(null=True)                 # absent: nps (answers from before definitions)
    definition_version = NumberAttribute(null=True)
    customer_place = PlaceItem(null=True)               # the survey's; absent: recorded before places
    truncated = BooleanAttribute(null=True)             # absent: the text is whole
    expires_at = TTLAttribute(null=True)
    month_shard = UnicodeAttribute(null=True)           # score answers only: the by-month index
    comments = ListAttribute(of=CommentEntry, null=True)   # the comment item only: every comment
    by_month = ByMonthIndex()


class InboxItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    message_sid = UnicodeAttribute(hash_key=True)
    contact_key = UnicodeAttribute()
    body = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    reason = UnicodeAttribute()
    survey_id = UnicodeAttribute(null=True)
    truncated = BooleanAttribute(null=True)             # absent: the body is whole
    expires_at = TTLAttribute(null=True)


class ScoreItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    dimension = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)       # BucketKey.sort_key: YYYY-MM-DD#value#scale#shard
    n = NumberAttribute(default=0)
    promoters = NumberAttribute(default=0)
    passives = NumberAttribute(default=0)
    detractors = NumberAttribute(default=0)
    score_sum = NumberAttribute(default=0)
    score_sq_sum = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)        # the end of the day + KOE_COUNTER_RETENTION_DAYS


class CountedItem(Model):
    """An answer already in the score counters (the ledger that makes counting exactly once)."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    answer_id = UnicodeAttribute(hash_key=True)     # survey_id#question
    counted_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


# logical table name (chalicelib.resources) -> model; "idempotency" belongs to Powertools.
class EventItem(Model):
    """The first payload seen for an event_id, as a fingerprint: no personal data."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    event_id = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    first_seen = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


class OutcomesByMonthIndex(GlobalSecondaryIndex["OutcomeItem"]):
    """Every procedure's counters of a month: month_shard = `YYYY-MM#k` (k: a stable hash of the
    procedure, adapters/dynamo/outcomes.month_shard), sorted by bucket (the day first). Counters
    written before the index have no month_shard until backfilled (`python -m devstack
    backfill-outcome-months`)."""

    class Meta:
        index_name = "by-month"
        projection = AllProjection()

    month_shard = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)


class OutcomeItem(Model):
    """How many surveys of a procedure reached an outcome on a day (UTC): bucket = YYYY-MM-DD#outcome."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    procedure = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)
    n = NumberAttribute(default=0)
    month_shard = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)        # the end of the day + KOE_COUNTER_RETENTION_DAYS
    by_month = OutcomesByMonthIndex()


class AlertDeliveryItem(Model):
    """One destination of one CX alert (`<alert_id>#<destination key>`: the key is a hash, never the
    address): sending (claimed, until lease_until), delivered, given_up or failed (claimable again)."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    delivery_id = UnicodeAttribute(hash_key=True)
    outcome = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    lease_until = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True)        # an error code when given up or failed: no personal data
    expires_at = TTLAttribute(null=True)


MODELS: dict[str, type[Model]] = {
    "surveys": SurveyItem,
    "events": EventItem,
    "outcomes": OutcomeItem,
    "contacts": ContactItem,
    "responses": ResponseItem,
    "inbox": InboxItem,
    "cases": CaseItem,
    "scores": ScoreItem,
    "counted-answers": CountedItem,
    "alert-deliveries": AlertDeliveryItem,
    "comment-insights": CommentInsightItem,
    "comment-groups": CommentGroupItem,
}
