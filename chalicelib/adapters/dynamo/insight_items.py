"""The comment-insights and comment-groups items, and their explicit conversions to and from
domain/comment_insight.py's `CommentInsight` and `GroupTally`."""

from __future__ import annotations

from datetime import datetime
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

from chalicelib.adapters.dynamo.convert import int_or_none
from chalicelib.domain.comment_insight import CommentInsight, GroupKey, GroupTally, Sentiment

ALL_SHARD = "all"          # the one partition of the all-comments index


class ByBranchIndex(GlobalSecondaryIndex["CommentInsightItem"]):
    class Meta:
        index_name = "by-branch"
        projection = AllProjection()

    branch = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class ByAgentIndex(GlobalSecondaryIndex["CommentInsightItem"]):
    class Meta:
        index_name = "by-agent"
        projection = AllProjection()

    agent_id = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class AllCommentsIndex(GlobalSecondaryIndex["CommentInsightItem"]):
    class Meta:
        index_name = "all-comments"
        projection = AllProjection()

    all_shard = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class CommentInsightItem(Model):
    """One survey's comment as read: its latest version's sentiment, score and key phrases, with the
    comment itself for the CX team (never logged) and its groups."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    survey_id = UnicodeAttribute(hash_key=True)
    version = UnicodeAttribute()
    sentiment = UnicodeAttribute()
    score = NumberAttribute()
    key_phrases = ListAttribute(of=UnicodeAttribute, null=True)
    language = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    day = UnicodeAttribute()
    procedure = UnicodeAttribute()
    branch = UnicodeAttribute(null=True)            # absent: in no branch index (sparse)
    agent_id = UnicodeAttribute(null=True)
    channel = UnicodeAttribute(null=True)
    locale = UnicodeAttribute()
    survey_score = NumberAttribute(null=True)
    scale = UnicodeAttribute(null=True)
    text = UnicodeAttribute()
    phone_masked = UnicodeAttribute(null=True)
    analysed_at = UTCDateTimeAttribute()
    counted = BooleanAttribute()
    all_shard = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    by_branch = ByBranchIndex()
    by_agent = ByAgentIndex()
    all_comments = AllCommentsIndex()


class CommentGroupItem(Model):
    """One group's counters on one day: a count per sentiment, the top phrases (a bounded map), and
    a version written on condition (optimistic locking: the phrases are read, merged and written)."""

    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    dimension = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)      # GroupKey.sort_key: YYYY-MM-DD#value
    positive = NumberAttribute(default=0)
    neutral = NumberAttribute(default=0)
    negative = NumberAttribute(default=0)
    mixed = NumberAttribute(default=0)
    phrases: MapAttribute[str, Any] = MapAttribute(default=dict)
    version = NumberAttribute()
    expires_at = TTLAttribute(null=True)


def insight_to_item(insight: CommentInsight, expires_at: datetime) -> CommentInsightItem:
    return CommentInsightItem(
        insight.survey_id, version=insight.version, sentiment=insight.sentiment.value, score=insight.score,
        key_phrases=list(insight.key_phrases) or None, language=insight.language,
        received_at=insight.received_at, day=insight.day, procedure=insight.procedure, branch=insight.branch,
        agent_id=insight.agent_id, channel=insight.channel or None, locale=insight.locale,
        survey_score=insight.survey_score, scale=insight.scale or None, text=insight.text,
        phone_masked=insight.phone_masked, analysed_at=insight.analysed_at, counted=insight.counted,
        all_shard=ALL_SHARD, expires_at=expires_at)


def insight_from_item(item: CommentInsightItem) -> CommentInsight:
    return CommentInsight(
        survey_id=item.survey_id, version=item.version, sentiment=Sentiment(item.sentiment),
        score=float(item.score), key_phrases=tuple(str(p) for p in item.key_phrases or ()), language=item.language,
        received_at=item.received_at, day=item.day, procedure=item.procedure, branch=item.branch,
        agent_id=item.agent_id, channel=item.channel or "", locale=item.locale,
        survey_score=int_or_none(item.survey_score), scale=item.scale or "nps", text=item.text,
        phone_masked=item.phone_masked, analysed_at=item.analysed_at, counted=bool(item.counted))


def tally_to_item(tally: GroupTally, expires_at: datetime) -> CommentGroupItem:
    count = tally.counts.get
    return CommentGroupItem(tally.key.dimension, tally.key.sort_key, positive=count("positive", 0),
                            neutral=count("neutral", 0), negative=count("negative", 0), mixed=count("mixed", 0),
                            phrases={p: int(n) for p, n in tally.phrases.items()}, version=tally.version,
                            expires_at=expires_at)


def tally_from_item(item: CommentGroupItem) -> GroupTally:
    day, _, value = item.bucket.partition("#")
    raw = item.phrases.as_dict() if isinstance(item.phrases, MapAttribute) else (item.phrases or {})
    counts = {s.value: int(getattr(item, s.value) or 0) for s in Sentiment}
    return GroupTally(GroupKey(item.dimension, day, value), {s: n for s, n in counts.items() if n},
                      {str(p): int(n) for p, n in raw.items()}, int(item.version or 0))
