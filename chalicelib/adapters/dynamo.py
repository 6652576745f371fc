"""DynamoDB storage: PynamoDB models (one per table in `chalicelib.resources`) and the repositories
that implement `ConversationStore`, `CaseStore` and `ScoreStore` on them.

Storage items are not domain objects: every read and write goes through an explicit conversion.
The database enforces what it can: conditional writes, transactions, TTL.

Binding at runtime: table names differ per stage and per test session, so the models are declared
without a table and `configure(settings)` binds them (table name, host, region) before first use.
It also makes every model and every transaction share ONE PynamoDB `Connection` (one botocore
client): PynamoDB would otherwise build a client per model, ~50 ms each at cold start. Nothing here
connects at import time, nor in `configure` (botocore clients are created on the first request).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE, STREAM_NEW_IMAGE
from pynamodb.exceptions import (
    DoesNotExist,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import (
    Answer,
    Case,
    Contact,
    Counts,
    Step,
    Survey,
    SurveyStatus,
)
from chalicelib.domain.scoring import BucketKey
from chalicelib.errors import (
    ConversationOpen,
    PermanentError,
    StaleSurvey,
    StorageThrottled,
    SurveyExists,
)
from chalicelib.services.ports import ContactChange, Inbound
from chalicelib.settings import Settings

OPEN_SHARD = "open"          # the one partition of the sparse open-until index
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems limit

# Error codes that mean "DynamoDB is busy, try again later", on a whole request ...
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    # the same ClientRequestToken is still being applied by an earlier call: retry later
    "TransactionInProgressException",
})
# ... and on one item of a cancelled transaction (CancellationReasons codes).
RETRYABLE_CANCEL_CODES = frozenset({
    "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded",
    "TransactionConflict",     # another transaction touched the item at the same moment
})
CONDITION_FAILED = "ConditionalCheckFailed"
CONDITION_FAILED_EXCEPTION = "ConditionalCheckFailedException"


# --- models -----------------------------------------------------------------------------------
# Meta.table_name stays None until configure(): using an unbound model fails loudly instead of
# writing to a table of the wrong stage.

class OpenUntilIndex(GlobalSecondaryIndex["SurveyItem"]):
    """Sparse: only surveys whose conversation is open carry open_shard/open_until."""

    class Meta:
        index_name = "open-until"
        projection = AllProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    open_until = UTCDateTimeAttribute(range_key=True)


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
    open_index = OpenUntilIndex()


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
    # "procedure#iso" entries, not a map procedure -> time: DynamoDB cannot SET a key of a map
    # that does not exist yet, nor create the map in the same expression, and the first survey
    # of a contact creates the item. ADD to a set creates it. Readers keep the newest per
    # procedure; the set grows by one entry per survey sent (bounded by the cooldown).
    surveyed = UnicodeSetAttribute(null=True)


class ResponseItem(Model):
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
    expires_at = TTLAttribute(null=True)


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
    expires_at = TTLAttribute(null=True)


class StatusChange(MapAttribute[str, Any]):
    status = UnicodeAttribute()
    at = UTCDateTimeAttribute()


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
    sla_due = UTCDateTimeAttribute()
    context: MapAttribute[str, str] = MapAttribute(default=dict)
    phone_masked = UnicodeAttribute(null=True)
    comment = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    status_history = ListAttribute(of=StatusChange, default=list)
    follow_up_queued = BooleanAttribute(default=False)
    alert_published = BooleanAttribute(default=False)


class ScoreItem(Model):
    class Meta:
        table_name: str | None = None
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    dimension = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)       # BucketKey.sort_key: YYYY-MM-DD#value
    n = NumberAttribute(default=0)
    promoters = NumberAttribute(default=0)
    passives = NumberAttribute(default=0)
    detractors = NumberAttribute(default=0)
    score_sum = NumberAttribute(default=0)


# logical table name (chalicelib.resources) -> model; "idempotency" belongs to Powertools.
MODELS: dict[str, type[Model]] = {
    "surveys": SurveyItem,
    "contacts": ContactItem,
    "responses": ResponseItem,
    "inbox": InboxItem,
    "cases": CaseItem,
    "scores": ScoreItem,
}


# --- runtime binding --------------------------------------------------------------------------

def configure(settings: Settings) -> Connection:
    """Bind every model to this stage's tables, endpoint and region; returns the one connection
    the models share, which the repositories also use for transactions. No I/O."""
    # PynamoDB logs every request's arguments at DEBUG, phone numbers and SMS bodies included.
    logging.getLogger("pynamodb").setLevel(logging.INFO)
    connection = Connection(region=settings.region, host=settings.dynamodb_endpoint,
                            connect_timeout_seconds=2, read_timeout_seconds=5)
    for logical, model in MODELS.items():
        _bind(model, settings.table_name(logical), connection)
    return connection


def _bind(model: type[Model], table_name: str, connection: Connection) -> None:
    model.Meta.table_name = table_name
    model.Meta.host = connection.host
    model.Meta.region = connection.region
    # PynamoDB caches a TableConnection per model and rebuilds it only when the table name
    # changes (not host or region): drop it, let PynamoDB build the table's key schema from the
    # model (no I/O), then point it at the shared connection.
    model._connection = None
    table = model._get_connection()
    connection.add_meta_table(table.get_meta_table())
    table.connection = connection


def _require_bound(settings: Settings) -> None:
    """Stores are built after configure(settings): fail when built, not at the first write."""
    if SurveyItem.Meta.table_name != settings.table_name("surveys"):
        raise RuntimeError("call chalicelib.adapters.dynamo.configure(settings) before building stores")


def _shared_connection() -> Connection:
    """The connection configure() gave every model: transactions go through the same client."""
    return SurveyItem._get_connection().connection


# --- errors -----------------------------------------------------------------------------------

@contextmanager
def _throttling_as_retryable() -> Iterator[None]:
    """Throttling that outlived the SDK's retries becomes StorageThrottled; the rest passes."""
    try:
        yield
    except PynamoDBException as exc:
        if exc.cause_response_code in THROTTLING_CODES:
            raise StorageThrottled(exc.cause_response_code or "throttled") from exc
        raise


def _cancel_codes(exc: TransactWriteError) -> list[str | None]:
    """One code per transaction item, in the order PynamoDB sent them (None: not a cause)."""
    return [reason.code if reason else None for reason in exc.cancellation_reasons]


def _raise_if_retryable(exc: TransactWriteError, codes: list[str | None]) -> None:
    if exc.cause_response_code in THROTTLING_CODES or RETRYABLE_CANCEL_CODES.intersection(codes):
        raise StorageThrottled(exc.cause_response_code or "transaction cancelled") from exc


def _is_condition_failure(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == CONDITION_FAILED_EXCEPTION


# --- conversions ------------------------------------------------------------------------------

def _survey_to_item(survey: Survey, retention: timedelta) -> SurveyItem:
    return SurveyItem(
        survey.survey_id, procedure=survey.procedure, customer_id=survey.customer_id,
        contact_key=survey.contact_key, locale=survey.locale, channel=survey.channel,
        channel_reason=survey.channel_reason, status=survey.status.value,
        created_at=survey.created_at, completed_at=survey.completed_at, phone=survey.phone,
        context=dict(survey.context), reason=survey.reason, step=survey.step.value,
        reprompts=survey.reprompts, score=survey.score, message_sid=survey.message_sid,
        delivery_status=survey.delivery_status, delivery_error=survey.delivery_error,
        last_inbound_sid=survey.last_inbound_sid, last_reply_key=survey.last_reply_key,
        open_shard=OPEN_SHARD if survey.open_until else None, open_until=survey.open_until,
        expires_at=survey.created_at + retention)


def _survey_from_item(item: SurveyItem) -> Survey:
    return Survey(
        survey_id=item.survey_id, procedure=item.procedure, customer_id=item.customer_id,
        contact_key=item.contact_key, locale=item.locale, channel=item.channel,
        channel_reason=item.channel_reason, status=SurveyStatus(item.status),
        created_at=item.created_at, completed_at=item.completed_at, phone=item.phone,
        context=_strings(item.context), reason=item.reason, step=Step(item.step),
        reprompts=int(item.reprompts or 0), score=_int_or_none(item.score),
        message_sid=item.message_sid, delivery_status=item.delivery_status,
        delivery_error=item.delivery_error, last_inbound_sid=item.last_inbound_sid,
        last_reply_key=item.last_reply_key, open_until=item.open_until)


def _surveyed_entry(procedure: str, when: datetime) -> str:
    return f"{procedure}#{when.astimezone(UTC).isoformat()}"


def _last_surveyed(entries: set[str] | None) -> dict[str, datetime]:
    newest: dict[str, datetime] = {}
    for entry in entries or ():
        procedure, _, iso = entry.rpartition("#")
        when = datetime.fromisoformat(iso)
        if procedure not in newest or when > newest[procedure]:
            newest[procedure] = when
    return newest


def _contact_from_item(item: ContactItem) -> Contact:
    return Contact(contact_key=item.contact_key, opted_out=bool(item.opted_out),
                   active_survey_id=item.active_survey_id, active_until=item.active_until,
                   last_surveyed=_last_surveyed(item.surveyed))


def _answer_to_item(answer: Answer, retention: timedelta) -> ResponseItem:
    return ResponseItem(
        answer.survey_id, answer.question, received_at=answer.received_at,
        procedure=answer.procedure, customer_id=answer.customer_id, locale=answer.locale,
        context=dict(answer.context), score=answer.score, text=answer.text,
        threshold=answer.threshold, phone_masked=answer.phone_masked,
        expires_at=answer.received_at + retention)


def _answer_from_item(item: ResponseItem) -> Answer:
    return Answer(
        survey_id=item.survey_id, question=item.question, received_at=item.received_at,
        procedure=item.procedure, customer_id=item.customer_id, locale=item.locale,
        context=_strings(item.context), score=_int_or_none(item.score), text=item.text,
        threshold=_int_or_none(item.threshold), phone_masked=item.phone_masked)


def answer_from_stream_image(new_image: dict[str, Any]) -> Answer:
    """An Answer from a responses-table stream record's NewImage (DynamoDB JSON)."""
    return _answer_from_item(ResponseItem.from_raw_data(new_image))


def _case_to_item(case: Case) -> CaseItem:
    return CaseItem(
        case.case_id, survey_id=case.survey_id, procedure=case.procedure,
        customer_id=case.customer_id, score=case.score, opened_at=case.opened_at,
        sla_due=case.sla_due, context=dict(case.context), phone_masked=case.phone_masked,
        comment=case.comment, status=case.status,
        status_history=[StatusChange(status=case.status, at=case.opened_at)],
        follow_up_queued=case.follow_up_queued, alert_published=case.alert_published)


def _case_from_item(item: CaseItem) -> Case:
    return Case(
        case_id=item.case_id, survey_id=item.survey_id, procedure=item.procedure,
        customer_id=item.customer_id, score=int(item.score), opened_at=item.opened_at,
        sla_due=item.sla_due, context=_strings(item.context), phone_masked=item.phone_masked,
        comment=item.comment, status=item.status,
        follow_up_queued=bool(item.follow_up_queued), alert_published=bool(item.alert_published))


def _counts_from_item(item: ScoreItem) -> Counts:
    return Counts(n=int(item.n or 0), promoters=int(item.promoters or 0),
                  passives=int(item.passives or 0), detractors=int(item.detractors or 0),
                  score_sum=int(item.score_sum or 0))


def _strings(value: Any) -> dict[str, str]:
    """A raw MapAttribute reads back as a dict (or MapAttribute); the domain wants dict[str, str]."""
    raw = value.as_dict() if isinstance(value, MapAttribute) else (value or {})
    return {str(k): str(v) for k, v in raw.items()}


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


# --- conversations ----------------------------------------------------------------------------

class DynamoConversationStore:
    """Surveys, contacts, answers and the inbox. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        _require_bound(settings)
        self._retention = timedelta(days=settings.retention_days)

    def get_contact(self, contact_key: str) -> Contact | None:
        # Consistent reads: the caller decides on this and writes back at once.
        with _throttling_as_retryable():
            try:
                return _contact_from_item(ContactItem.get(contact_key, consistent_read=True))
            except DoesNotExist:
                return None

    def get_survey(self, survey_id: str) -> Survey | None:
        with _throttling_as_retryable():
            try:
                return _survey_from_item(SurveyItem.get(survey_id, consistent_read=True))
            except DoesNotExist:
                return None

    def open_survey(self, survey: Survey, now: datetime) -> None:
        if survey.open_until is None:
            raise ValueError("open_survey needs survey.open_until: it bounds the contact's slot")
        claim = [
            ContactItem.active_survey_id.set(survey.survey_id),
            ContactItem.active_until.set(survey.open_until),
            ContactItem.surveyed.add({_surveyed_entry(survey.procedure, now)}),
        ]
        slot_free = ContactItem.active_survey_id.does_not_exist() | (ContactItem.active_until < now)
        try:
            with _throttling_as_retryable(), TransactWrite(connection=_shared_connection()) as tx:
                # PynamoDB sends puts before updates whatever the call order: reason 0 is the survey.
                tx.save(_survey_to_item(survey, self._retention),
                        condition=SurveyItem.survey_id.does_not_exist())
                tx.update(ContactItem(survey.contact_key), actions=claim, condition=slot_free)
        except TransactWriteError as exc:
            codes = _cancel_codes(exc)
            _raise_if_retryable(exc, codes)
            if codes and codes[0] == CONDITION_FAILED:
                raise SurveyExists(survey.survey_id) from exc
            if len(codes) > 1 and codes[1] == CONDITION_FAILED:
                raise ConversationOpen(survey.survey_id) from exc
            raise

    def record_suppressed(self, survey: Survey) -> None:
        item = _survey_to_item(survey, self._retention)
        with _throttling_as_retryable():
            try:
                item.save(condition=SurveyItem.survey_id.does_not_exist())
            except PynamoDBException as exc:
                if _is_condition_failure(exc):
                    raise SurveyExists(survey.survey_id) from exc
                raise

    def update_survey(self, old: Survey, new: Survey, answers: Sequence[Answer] = (),
                      contact: ContactChange | None = None, now: datetime | None = None) -> None:
        """One transaction. A release is made optimistically inside it, on condition that the
        contact's slot still holds this survey; if only that condition fails (another survey
        holds the slot, or there is no contact), the transaction is sent again without the
        release: nothing of ours to free. So 1 request, 2 in that rare case, and the survey
        never closes without its slot being freed in the same write."""
        at = now or datetime.now(UTC)
        try:
            self._update_survey(old, new, answers, contact, at, release=bool(contact and contact.release))
        except _SlotNotHeld:
            self._update_survey(old, new, answers, contact, at, release=False)

    def _update_survey(self, old: Survey, new: Survey, answers: Sequence[Answer],
                       contact: ContactChange | None, now: datetime, release: bool) -> None:
        kinds: list[str] = []      # what each transaction item is, to read cancellation reasons
        try:
            with _throttling_as_retryable(), TransactWrite(connection=_shared_connection()) as tx:
                # Added in the order PynamoDB sends them (puts, then updates) so that `kinds`
                # lines up with the cancellation reasons.
                for answer in answers:
                    tx.save(_answer_to_item(answer, self._retention),
                            condition=ResponseItem.survey_id.does_not_exist())
                    kinds.append("answer")
                tx.update(SurveyItem(old.survey_id), actions=_survey_changes(new),
                          condition=_unchanged_since(old))
                kinds.append("survey")
                contact_update = _contact_changes(old.survey_id, contact, now, release)
                if contact_update is not None:
                    actions, condition = contact_update
                    tx.update(ContactItem(old.contact_key), actions=actions, condition=condition)
                    kinds.append("contact")
        except TransactWriteError as exc:
            _raise_update_failure(exc, kinds, old.survey_id)

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None) -> bool:
        """False when the stored rank is not lower, and also when there is no such survey
        (a status callback for a survey we never recorded must not create an item)."""
        moves_forward = SurveyItem.survey_id.exists() & (
            SurveyItem.delivery_rank.does_not_exist() | (SurveyItem.delivery_rank < rank))
        actions = [SurveyItem.delivery_status.set(status), SurveyItem.delivery_rank.set(rank),
                   _set_or_remove(SurveyItem.delivery_error, error_code)]
        with _throttling_as_retryable():
            try:
                SurveyItem(survey_id).update(actions=actions, condition=moves_forward)
            except UpdateError as exc:
                if _is_condition_failure(exc):
                    return False
                raise
        return True

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None:
        actions = _opt_out_actions(opted_out, audit, now)
        with _throttling_as_retryable():
            ContactItem(contact_key).update(actions=actions)     # upsert: no condition

    def keep_inbound(self, message: Inbound) -> None:
        # An unconditional put: Twilio's retry of the same MessageSid rewrites the same item.
        item = InboxItem(message.message_sid, contact_key=message.contact_key, body=message.body,
                         received_at=message.received_at, reason=message.reason,
                         survey_id=message.survey_id,
                         expires_at=message.received_at + self._retention)
        with _throttling_as_retryable():
            item.save()

    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with _throttling_as_retryable():
            items = SurveyItem.open_index.query(
                OPEN_SHARD, range_key_condition=SurveyItem.open_until < now,
                scan_index_forward=True, limit=limit)
            return [_survey_from_item(item) for item in items]


class _SlotNotHeld(Exception):
    """Internal: the optimistic release failed only because the slot is not this survey's."""


def _raise_update_failure(exc: TransactWriteError, kinds: list[str], survey_id: str) -> NoReturn:
    codes = _cancel_codes(exc)
    _raise_if_retryable(exc, codes)
    failed = {kind for kind, code in zip(kinds, codes, strict=False) if code == CONDITION_FAILED}
    if failed == {"contact"}:
        raise _SlotNotHeld() from exc
    if failed:
        raise StaleSurvey(survey_id) from exc
    raise exc


def _survey_changes(new: Survey) -> list[Action]:
    """What update_survey writes. Closing REMOVEs open_until/open_shard: the survey leaves the
    sparse index."""
    return [
        SurveyItem.status.set(new.status.value),
        SurveyItem.step.set(new.step.value),
        SurveyItem.reprompts.set(new.reprompts),
        _set_or_remove(SurveyItem.score, new.score),
        _set_or_remove(SurveyItem.message_sid, new.message_sid),
        _set_or_remove(SurveyItem.last_inbound_sid, new.last_inbound_sid),
        _set_or_remove(SurveyItem.last_reply_key, new.last_reply_key),
        _set_or_remove(SurveyItem.reason, new.reason),
        _set_or_remove(SurveyItem.open_until, new.open_until),
        _set_or_remove(SurveyItem.open_shard, OPEN_SHARD if new.open_until else None),
    ]


def _set_or_remove(attribute: Attribute[Any], value: Any) -> Action:
    # PynamoDB's set(None) writes a NULL value, which an index key (open_until) refuses and a
    # reader would see as present: absent means REMOVE.
    return attribute.remove() if value is None else attribute.set(value)


def _unchanged_since(old: Survey) -> Condition:
    same_inbound = (SurveyItem.last_inbound_sid.does_not_exist() if old.last_inbound_sid is None
                    else SurveyItem.last_inbound_sid == old.last_inbound_sid)
    return (SurveyItem.status == old.status.value) & (SurveyItem.step == old.step.value) & same_inbound


def _contact_changes(survey_id: str, change: ContactChange | None, now: datetime,
                     release: bool) -> tuple[list[Action], Condition | None] | None:
    if change is None:
        return None
    actions: list[Action] = []
    condition: Condition | None = None
    if change.opted_out is not None:
        actions += _opt_out_actions(change.opted_out, change.audit, now)
    if release:
        actions += [ContactItem.active_survey_id.remove(), ContactItem.active_until.remove()]
        condition = ContactItem.active_survey_id == survey_id
    return (actions, condition) if actions else None


def _opt_out_actions(opted_out: bool, audit: str | None, now: datetime) -> list[Action]:
    entry = OptOutEntry(at=now, audit=audit, opted_out=opted_out)
    history = ContactItem.opt_out_history
    # list_append(if_not_exists(history, []), [entry]): the first entry creates the list.
    return [ContactItem.opted_out.set(opted_out), history.set((history | []).append([entry]))]


# --- cases ------------------------------------------------------------------------------------

class DynamoCaseStore:
    """Follow-up cases, one per survey. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        _require_bound(settings)

    def open_case(self, case: Case) -> bool:
        with _throttling_as_retryable():
            try:
                _case_to_item(case).save(condition=CaseItem.case_id.does_not_exist())
            except PynamoDBException as exc:
                if _is_condition_failure(exc):
                    return False
                raise
        return True

    def get_case(self, case_id: str) -> Case | None:
        with _throttling_as_retryable():
            try:
                return _case_from_item(CaseItem.get(case_id, consistent_read=True))
            except DoesNotExist:
                return None

    def mark_notified(self, case_id: str, *, follow_up_queued: bool, alert_published: bool) -> None:
        """Sets only the flags that are True: a later retry that failed to publish must not
        clear an earlier success. Does nothing for an unknown case (never creates a partial one)."""
        actions = ([CaseItem.follow_up_queued.set(True)] if follow_up_queued else []) + (
            [CaseItem.alert_published.set(True)] if alert_published else [])
        if actions:
            self._update_existing(case_id, actions)

    def attach_comment(self, case_id: str, comment: str) -> bool:
        return self._update_existing(case_id, [CaseItem.comment.set(comment)])

    def _update_existing(self, case_id: str, actions: list[Action]) -> bool:
        with _throttling_as_retryable():
            try:
                CaseItem(case_id).update(actions=actions, condition=CaseItem.case_id.exists())
            except UpdateError as exc:
                if _is_condition_failure(exc):
                    return False
                raise
        return True


# --- scores -----------------------------------------------------------------------------------

class DynamoScoreStore:
    """Pre-aggregated counters per dimension x day#value. Built after configure(settings).

    `add` is idempotent on its token through TransactWriteItems' ClientRequestToken: DynamoDB
    (and DynamoDB Local 3.3, checked by the contract suite) applies a repeated token once, for
    10 minutes. A retry after that would count again. The same token with other totals is
    refused (IdempotentParameterMismatch): that is a bug in the caller, so PermanentError."""

    def __init__(self, settings: Settings) -> None:
        _require_bound(settings)

    def add(self, totals: dict[BucketKey, Counts], token: str) -> None:
        # Sorted so that a retried batch splits into the same chunks with the same tokens.
        buckets = sorted(totals.items(), key=lambda kv: (kv[0].dimension, kv[0].sort_key))
        for index in range(0, len(buckets), MAX_TRANSACTION_ITEMS):
            chunk = buckets[index:index + MAX_TRANSACTION_ITEMS]
            self._add_chunk(chunk, _request_token(token, index // MAX_TRANSACTION_ITEMS))

    def _add_chunk(self, chunk: list[tuple[BucketKey, Counts]], request_token: str) -> None:
        try:
            with _throttling_as_retryable(), TransactWrite(
                    connection=_shared_connection(), client_request_token=request_token) as tx:
                for key, counts in chunk:
                    tx.update(ScoreItem(key.dimension, key.sort_key), actions=_increments(counts))
        except TransactWriteError as exc:
            if exc.cause_response_code == "IdempotentParameterMismatchException":
                raise PermanentError("score token reused with different totals") from exc
            _raise_if_retryable(exc, _cancel_codes(exc))
            raise

    def read(self, dimension: str, from_day: str, to_day: str) -> list[tuple[BucketKey, Counts]]:
        # "$" is the character after "#": every "to_day#<value>" sorts below "to_day$", whatever
        # the value (an upper bound like "#\uffff" would miss values starting above U+FFFF).
        in_range = ScoreItem.bucket.between(f"{from_day}#", f"{to_day}$")
        with _throttling_as_retryable():
            items = list(ScoreItem.query(dimension, range_key_condition=in_range))
        return [(_bucket_key(item), _counts_from_item(item)) for item in items]


def _increments(counts: Counts) -> list[Action]:
    return [ScoreItem.n.add(counts.n), ScoreItem.promoters.add(counts.promoters),
            ScoreItem.passives.add(counts.passives), ScoreItem.detractors.add(counts.detractors),
            ScoreItem.score_sum.add(counts.score_sum)]


def _bucket_key(item: ScoreItem) -> BucketKey:
    day, _, value = item.bucket.partition("#")
    return BucketKey(dimension=item.dimension, day=day, value=value)


def _request_token(token: str, chunk: int) -> str:
    """ClientRequestToken is at most 36 characters: a UUID derived from the caller's token."""
    digest = hashlib.sha256(f"{token}#{chunk}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))
