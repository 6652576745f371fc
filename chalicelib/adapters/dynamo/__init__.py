"""DynamoDB storage: PynamoDB models (one per table in `chalicelib.resources`) and the repositories
that implement `ConversationStore`, `CaseStore` and `ScoreStore` on them.

Storage items are not domain objects: every read and write goes through an explicit conversion.
The database enforces what it can: conditional writes, transactions, TTL.

Split by aggregate; callers import from this package, never from its modules:

- `models`: the PynamoDB models and MODELS (declarations only).
- `binding`: `configure(settings)` binds the models at runtime to one shared connection.
- `errors`: DynamoDB errors as koe's named errors, and `conditional` for single-item writes.
- `convert`: the tiny conversions the stores share.
- `surveys`: `DynamoConversationStore` (surveys, answers, inbox).
- `survey_items`: the survey and answer conversions, update expressions and stream readers.
- `contacts`: the contact item's conversion and update expressions, used by conversations.
- `case_items`: the cases table's item and indexes; `cases`: `DynamoCaseStore`.
- `scores`: `DynamoScoreStore`.
- `events`: `DynamoEventLedger` (the first payload seen per event_id).
- `outcomes`: `DynamoOutcomeReport` (outcome counters per procedure and day, read back).
- `alert_ledger`: `DynamoAlertLedger` (which destinations of a CX alert were delivered).
- `answers`: `DynamoAnswerArchive` (the answers by period, for the export: the by-month index).
- `insight_items`: the comment-insights and comment-groups items; `insights`: `DynamoInsightStore`
  (what each comment says, and the counters per group and day) and `DynamoCommentSource`.
"""

from __future__ import annotations

from chalicelib.adapters.dynamo.alert_ledger import DynamoAlertLedger
from chalicelib.adapters.dynamo.answers import DynamoAnswerArchive
from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS, configure
from chalicelib.adapters.dynamo.case_items import CaseItem
from chalicelib.adapters.dynamo.cases import DynamoCaseStore
from chalicelib.adapters.dynamo.errors import (
    CONDITION_FAILED,
    CONDITION_FAILED_EXCEPTION,
    RETRYABLE_CANCEL_CODES,
    THROTTLING_CODES,
)
from chalicelib.adapters.dynamo.events import DynamoEventLedger
from chalicelib.adapters.dynamo.insights import DynamoCommentSource, DynamoInsightStore
from chalicelib.adapters.dynamo.models import (
    MODELS,
    OPEN_SHARD,
    AlertDeliveryItem,
    ContactItem,
    EventItem,
    InboxItem,
    OpenUntilIndex,
    OptOutEntry,
    ResponseItem,
    ScoreItem,
    SurveyItem,
)
from chalicelib.adapters.dynamo.outcomes import DynamoOutcomeReport
from chalicelib.adapters.dynamo.scores import DynamoScoreStore
from chalicelib.adapters.dynamo.survey_items import answer_from_stream_image, is_new_answer
from chalicelib.adapters.dynamo.surveys import DynamoConversationStore

__all__ = [
    "CONDITION_FAILED",
    "CONDITION_FAILED_EXCEPTION",
    "MAX_TRANSACTION_ITEMS",
    "MODELS",
    "OPEN_SHARD",
    "AlertDeliveryItem",
    "RETRYABLE_CANCEL_CODES",
    "THROTTLING_CODES",
    "CaseItem",
    "ContactItem",
    "EventItem",
    "DynamoAlertLedger",
    "DynamoAnswerArchive",
    "DynamoCaseStore",
    "DynamoConversationStore",
    "DynamoCommentSource",
    "DynamoEventLedger",
    "DynamoInsightStore",
    "DynamoOutcomeReport",
    "DynamoScoreStore",
    "InboxItem",
    "OpenUntilIndex",
    "OptOutEntry",
    "ResponseItem",
    "ScoreItem",
    "SurveyItem",
    "answer_from_stream_image",
    "configure",
    "is_new_answer",
]
