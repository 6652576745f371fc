"""The one list of koe's AWS resources: tables, queues, topics, the event bus and its rule.

Both the CDK stack (`infra/`) and the local stack (`devstack/`) build from these definitions, and
the PynamoDB models are checked against them by a test, so the three cannot drift apart.
Plain data only: importing this module costs nothing at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    name: str                       # logical name; the deployed name is prefix + name
    hash_key: str
    range_key: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)   # key attribute -> S | N
    indexes: tuple[Index, ...] = ()
    stream: str | None = None       # NEW_IMAGE, NEW_AND_OLD_IMAGES, ...
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Queue:
    name: str
    dead_letter: str | None = None
    max_receive_count: int = 5
    visibility_timeout_s: int = 60


@dataclass(frozen=True)
class Rule:
    name: str
    bus: str
    detail_type: str
    target_queue: str


TABLES: tuple[Table, ...] = (
    Table(
        name="surveys",
        hash_key="survey_id",
        attributes={"survey_id": "S", "open_shard": "S", "open_until": "S"},
        # Sparse: only surveys whose conversation is open carry open_shard/open_until.
        indexes=(Index("open-until", "open_shard", "open_until"),),
        ttl_attribute="expires_at",
    ),
    Table(name="contacts", hash_key="contact_key", attributes={"contact_key": "S"}),
    Table(
        name="responses",
        hash_key="survey_id",
        range_key="question",
        attributes={"survey_id": "S", "question": "S"},
        stream="NEW_IMAGE",
        ttl_attribute="expires_at",
    ),
    Table(name="inbox", hash_key="message_sid", attributes={"message_sid": "S"},
          ttl_attribute="expires_at"),
    Table(name="cases", hash_key="case_id", attributes={"case_id": "S"}),
    Table(
        name="scores",
        hash_key="dimension",
        range_key="bucket",
        attributes={"dimension": "S", "bucket": "S"},
    ),
    # Powertools idempotency: its default key attribute is "id"; expiration is its TTL.
    Table(name="idempotency", hash_key="id", attributes={"id": "S"}, ttl_attribute="expiration"),
)

QUEUES: tuple[Queue, ...] = (
    # 6x the dispatch function's 30 s timeout, as AWS recommends for SQS event sources.
    Queue("intake", dead_letter="intake-dlq", max_receive_count=5, visibility_timeout_s=180),
    Queue("intake-dlq"),
    Queue("follow-up", dead_letter="follow-up-dlq", max_receive_count=10),
    Queue("follow-up-dlq"),
    # On-failure destination of the responses stream: batches that still fail after the retries.
    Queue("responses-stream-dlq"),
)

TOPICS: tuple[str, ...] = ("cx-alerts",)

EVENT_BUS = "events"
RULES: tuple[Rule, ...] = (
    Rule(name="procedure-completed", bus=EVENT_BUS, detail_type="ProcedureCompleted",
         target_queue="intake"),
)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)


def physical(prefix: str, name: str) -> str:
    """The deployed name of a logical resource, e.g. koe-dev-surveys."""
    return f"{prefix}{name}"

# Chalice needs a stream ARN when app.py is imported; infra/ replaces it with the responses
# table's real stream ARN, and the local runner feeds the stream itself.
RESPONSES_STREAM_PLACEHOLDER = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/koe-dev-responses/stream/1970-01-01T00:00:00.000"
)
