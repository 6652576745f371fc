"""Conversations: `DynamoConversationStore` (surveys, the contacts they claim, answers, the
inbox) and the survey and answer conversions, including `answer_from_stream_image` for the
responses-table stream.

The database enforces what it can: a survey opens in one transaction with its contact's slot,
and changes in one transaction with its answers and its contact's changes, each item on a
condition; the cancellation reasons say which condition failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import require_bound, shared_connection
from chalicelib.adapters.dynamo.contacts import contact_changes, contact_from_item, opt_out_actions, slot_claim
from chalicelib.adapters.dynamo.convert import int_or_none, set_or_remove, strings
from chalicelib.adapters.dynamo.errors import (
    CONDITION_FAILED,
    cancel_codes,
    conditional,
    get_or_none,
    raise_if_retryable,
    throttling_as_retryable,
)
from chalicelib.adapters.dynamo.models import (
    OPEN_SHARD,
    REMIND_SHARD,
    SEND_SHARD,
    ContactItem,
    InboxItem,
    OutcomeItem,
    ResponseItem,
    SurveyItem,
)
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Answer, Contact, Step, Survey, SurveyStatus
from chalicelib.errors import ConversationOpen, StaleSurvey, SurveyExists
from chalicelib.services.ports import ContactChange, Inbound
from chalicelib.settings import Settings


class DynamoConversationStore:
    """Surveys, contacts, answers and the inbox. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self._retention = timedelta(days=settings.retention_days)

    def get_contact(self, contact_key: str) -> Contact | None:
        item = get_or_none(ContactItem, contact_key)
        return contact_from_item(item) if item else None

    def get_survey(self, survey_id: str) -> Survey | None:
        item = get_or_none(SurveyItem, survey_id)
        return _survey_from_item(item) if item else None

    def open_survey(self, survey: Survey, now: datetime, surveyed: Sequence[tuple[str, datetime]] | None = None,
                    history_version: int = 0) -> None:
        if survey.open_until is None:
            raise ValueError("open_survey needs survey.open_until: it bounds the contact's slot")
        history = [(survey.procedure, now)] if surveyed is None else surveyed
        claim, slot_free = slot_claim(survey, survey.open_until, now, history, history_version)
        try:
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                # PynamoDB sends puts before updates whatever the call order: reason 0 is the survey.
                tx.save(_survey_to_item(survey, self._retention),
                        condition=SurveyItem.survey_id.does_not_exist())
                tx.update(ContactItem(survey.contact_key), actions=claim, condition=slot_free)
                _count_outcome(tx, None, survey, now)
        except TransactWriteError as exc:
            codes = cancel_codes(exc)
            raise_if_retryable(exc, codes)
            if codes and codes[0] == CONDITION_FAILED:
                raise SurveyExists(survey.survey_id) from exc
            if len(codes) > 1 and codes[1] == CONDITION_FAILED:
                raise self._why_not_claimed(survey, now) from exc
            raise

    def _why_not_claimed(self, survey: Survey, now: datetime) -> Exception:
        """The contact's condition failed: another conversation holds the slot, or the history
        changed since it was read (a survey of this contact opened and closed meanwhile)."""
        contact = self.get_contact(survey.contact_key)
        if contact is not None and contact.has_open_conversation(now):
            return ConversationOpen(survey.survey_id)
        return StaleSurvey(survey.survey_id)

    def record_suppressed(self, survey: Survey) -> None:
        """The survey and its outcome count, in one transaction (one request, as a put would be)."""
        try:
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                tx.save(_survey_to_item(survey, self._retention), condition=SurveyItem.survey_id.does_not_exist())
                _count_outcome(tx, None, survey, survey.created_at)
        except TransactWriteError as exc:
            codes = cancel_codes(exc)
            raise_if_retryable(exc, codes)
            if codes and codes[0] == CONDITION_FAILED:
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
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                # Added in the order PynamoDB sends them (puts, then updates) so that `kinds`
                # lines up with the cancellation reasons.
                for answer in answers:
                    tx.save(_answer_to_item(answer, self._retention),
                            condition=ResponseItem.survey_id.does_not_exist())
                    kinds.append("answer")
                tx.update(SurveyItem(old.survey_id), actions=_survey_changes(new),
                          condition=_unchanged_since(old))
                kinds.append("survey")
                contact_update = contact_changes(old.survey_id, contact, now, release)
                if contact_update is not None:
                    actions, condition = contact_update
                    tx.update(ContactItem(old.contact_key), actions=actions, condition=condition)
                    kinds.append("contact")
                if _count_outcome(tx, old, new, now):
                    kinds.append("outcome")
        except TransactWriteError as exc:
            _raise_update_failure(exc, kinds, old.survey_id)

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None, *,
                        message_sid: str) -> bool:
        """False when the stored rank is not lower, when the callback is about another message,
        and when there is no such survey (a callback for a survey we never recorded must not
        create an item)."""
        its_message = SurveyItem.message_sid.does_not_exist() | (SurveyItem.message_sid == message_sid)
        moves_forward: Condition = SurveyItem.survey_id.exists() & its_message & (
            SurveyItem.delivery_rank.does_not_exist() | (SurveyItem.delivery_rank < rank))
        actions = [SurveyItem.delivery_status.set(status), SurveyItem.delivery_rank.set(rank),
                   set_or_remove(SurveyItem.delivery_error, error_code)]
        return conditional(lambda: SurveyItem(survey_id).update(actions=actions, condition=moves_forward))

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None:
        actions = opt_out_actions(opted_out, audit, now)
        with throttling_as_retryable():
            ContactItem(contact_key).update(actions=actions)     # upsert: no condition

    def keep_inbound(self, message: Inbound) -> None:
        # An unconditional put: Twilio's retry of the same MessageSid rewrites the same item.
        item = InboxItem(message.message_sid, contact_key=message.contact_key, body=message.body,
                         received_at=message.received_at, reason=message.reason,
                         survey_id=message.survey_id,
                         expires_at=message.received_at + self._retention)
        with throttling_as_retryable():
            item.save()

    def reminders_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():
            items = SurveyItem.remind_index.query(
                REMIND_SHARD, range_key_condition=SurveyItem.remind_at <= now, scan_index_forward=True,
                limit=limit)
            return [_survey_from_item(item) for item in items]

    def scheduled_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():
            items = SurveyItem.send_index.query(
                SEND_SHARD, range_key_condition=SurveyItem.send_at <= now, scan_index_forward=True, limit=limit)
            return [_survey_from_item(item) for item in items]

    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():
            items = SurveyItem.open_index.query(
                OPEN_SHARD, range_key_condition=SurveyItem.open_until < now,
                scan_index_forward=True, limit=limit)
            return [_survey_from_item(item) for item in items]

    def save_comment(self, answer: Answer) -> bool:
        """One transaction: a check that the survey is answered, and an unconditional put of the
        comment (a later one replaces it: a MODIFY on the responses stream, see is_new_answer)."""
        if answer.question != "comment":
            raise ValueError(f"save_comment stores comments, not {answer.question!r} answers")
        try:
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                tx.condition_check(SurveyItem, answer.survey_id,
                                   condition=SurveyItem.status == SurveyStatus.ANSWERED.value)
                tx.save(_answer_to_item(answer, self._retention))
        except TransactWriteError as exc:
            codes = cancel_codes(exc)
            raise_if_retryable(exc, codes)
            if CONDITION_FAILED in codes:
                return False
            raise
        return True


def _count_outcome(tx: TransactWrite, old: Survey | None, new: Survey, when: datetime) -> bool:
    """+1 to the outcome the survey reaches, in the transaction that writes it: counted exactly
    once, with no request of its own. False when there is nothing new to count."""
    key = lifecycle.counts_as_new_outcome(old, new)
    if key is None:
        return False
    bucket = f"{when.astimezone(UTC).date().isoformat()}#{key}"
    tx.update(OutcomeItem(new.procedure, bucket), actions=[OutcomeItem.n.add(1)])
    return True


class _SlotNotHeld(Exception):
    """Internal: the optimistic release failed only because the slot is not this survey's."""


def _raise_update_failure(exc: TransactWriteError, kinds: list[str], survey_id: str) -> NoReturn:
    codes = cancel_codes(exc)
    raise_if_retryable(exc, codes)
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
        set_or_remove(SurveyItem.score, new.score),
        set_or_remove(SurveyItem.message_sid, new.message_sid),
        set_or_remove(SurveyItem.last_inbound_sid, new.last_inbound_sid),
        set_or_remove(SurveyItem.last_reply_key, new.last_reply_key),
        set_or_remove(SurveyItem.reason, new.reason),
        set_or_remove(SurveyItem.open_until, new.open_until),
        set_or_remove(SurveyItem.open_shard, OPEN_SHARD if new.open_until else None),
        set_or_remove(SurveyItem.send_at, new.send_at),
        set_or_remove(SurveyItem.send_shard, SEND_SHARD if new.send_at else None),
        set_or_remove(SurveyItem.remind_at, new.remind_at),
        set_or_remove(SurveyItem.remind_shard, REMIND_SHARD if new.remind_at else None),
        SurveyItem.channel.set(new.channel),
        SurveyItem.channel_reason.set(new.channel_reason),
        set_or_remove(SurveyItem.resends, new.resends or None),
    ] + _no_delivery_state_without_a_message(new)


def _no_delivery_state_without_a_message(new: Survey) -> list[Action]:
    """A survey sent again has no message yet: the last one's delivery state goes with it, so the
    new message's callbacks rank from the start."""
    if new.message_sid is not None:
        return []
    return [SurveyItem.delivery_status.remove(), SurveyItem.delivery_rank.remove(),
            SurveyItem.delivery_error.remove()]


def _unchanged_since(old: Survey) -> Condition:
    same_inbound = (SurveyItem.last_inbound_sid.does_not_exist() if old.last_inbound_sid is None
                    else SurveyItem.last_inbound_sid == old.last_inbound_sid)
    unchanged: Condition = (SurveyItem.status == old.status.value) & (SurveyItem.step == old.step.value)
    condition: Condition = unchanged & same_inbound
    return condition


def _survey_to_item(survey: Survey, retention: timedelta) -> SurveyItem:
    return SurveyItem(
        survey.survey_id, procedure=survey.procedure, customer_id=survey.customer_id,
        contact_key=survey.contact_key, locale=survey.locale, channel=survey.channel,
        channel_reason=survey.channel_reason, status=survey.status.value,
        created_at=survey.created_at, completed_at=survey.completed_at, phone=survey.phone,
        email=survey.email, context=dict(survey.context), reason=survey.reason, step=survey.step.value,
        reprompts=survey.reprompts, score=survey.score, message_sid=survey.message_sid,
        delivery_status=survey.delivery_status, delivery_error=survey.delivery_error,
        last_inbound_sid=survey.last_inbound_sid, last_reply_key=survey.last_reply_key,
        open_shard=OPEN_SHARD if survey.open_until else None, open_until=survey.open_until,
        send_shard=SEND_SHARD if survey.send_at else None, send_at=survey.send_at,
        remind_shard=REMIND_SHARD if survey.remind_at else None, remind_at=survey.remind_at,
        resends=survey.resends or None, expires_at=survey.created_at + retention)


def _survey_from_item(item: SurveyItem) -> Survey:
    return Survey(
        survey_id=item.survey_id, procedure=item.procedure, customer_id=item.customer_id,
        contact_key=item.contact_key, locale=item.locale, channel=item.channel,
        channel_reason=item.channel_reason, status=SurveyStatus(item.status),
        created_at=item.created_at, completed_at=item.completed_at, phone=item.phone,
        email=item.email, context=strings(item.context), reason=item.reason, step=Step(item.step),
        reprompts=int(item.reprompts or 0), score=int_or_none(item.score),
        message_sid=item.message_sid, delivery_status=item.delivery_status,
        delivery_error=item.delivery_error, last_inbound_sid=item.last_inbound_sid,
        last_reply_key=item.last_reply_key, open_until=item.open_until, send_at=item.send_at,
        remind_at=item.remind_at, resends=int(item.resends or 0))


def _answer_to_item(answer: Answer, retention: timedelta) -> ResponseItem:
    return ResponseItem(
        answer.survey_id, answer.question, received_at=answer.received_at,
        procedure=answer.procedure, customer_id=answer.customer_id, locale=answer.locale,
        context=dict(answer.context), score=answer.score, text=answer.text,
        threshold=answer.threshold, phone_masked=answer.phone_masked, late=answer.late or None,
        expires_at=answer.received_at + retention)


def _answer_from_item(item: ResponseItem) -> Answer:
    return Answer(
        survey_id=item.survey_id, question=item.question, received_at=item.received_at,
        procedure=item.procedure, customer_id=item.customer_id, locale=item.locale,
        context=strings(item.context), score=int_or_none(item.score), text=item.text,
        threshold=int_or_none(item.threshold), phone_masked=item.phone_masked, late=bool(item.late))


def answer_from_stream_image(new_image: dict[str, Any]) -> Answer:
    """An Answer from a responses-table stream record's NewImage (DynamoDB JSON)."""
    return _answer_from_item(ResponseItem.from_raw_data(new_image))


def is_new_answer(event_name: str, new_image: dict[str, Any] | None) -> bool:
    """A responses-stream record that carries an answer to process: every INSERT, and the MODIFY
    of a comment (a later comment replaces the earlier one: save_comment). Score items are never
    modified (their put is conditional); a MODIFY of one is not a new answer."""
    if not new_image:
        return False
    return event_name == "INSERT" or (event_name == "MODIFY" and new_image.get("question", {}).get("S") == "comment")
