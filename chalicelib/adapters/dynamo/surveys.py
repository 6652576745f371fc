"""Conversations: `DynamoConversationStore` (surveys, the contacts they claim, answers, the
inbox). The item conversions and update expressions are in `survey_items`.

The database enforces what it can: a survey opens in one transaction with its contact's slot,
and changes in one transaction with its answers and its contact's changes, each item on a
condition; the cancellation reasons say which condition failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition, size
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import require_bound, shared_connection
from chalicelib.adapters.dynamo.contacts import contact_changes, contact_from_item, opt_out_actions, slot_claim
from chalicelib.adapters.dynamo.convert import set_or_remove
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
from chalicelib.adapters.dynamo.outcomes import counter_increment
from chalicelib.adapters.dynamo.survey_items import (
    answer_to_item,
    comment_added,
    comments_from_item,
    survey_changes,
    survey_from_item,
    survey_to_item,
    unchanged_since,
)
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Answer, Contact, Survey, SurveyStatus
from chalicelib.domain.web_survey import MAX_COMMENTS
from chalicelib.errors import ConversationOpen, StaleSurvey, SurveyExists
from chalicelib.services.ports import CommentSaved, ContactChange, Inbound
from chalicelib.settings import Settings

# A comment is added to a survey that is answered (or answered late), never to another.
TAKES_COMMENTS = (SurveyStatus.ANSWERED.value, SurveyStatus.LATE.value)


class DynamoConversationStore:
    """Surveys, contacts, answers and the inbox. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self._retention = timedelta(days=settings.retention_days)
        self._counter_retention = timedelta(days=settings.counter_retention_days)

    def get_contact(self, contact_key: str) -> Contact | None:
        item = get_or_none(ContactItem, contact_key)
        return contact_from_item(item) if item else None

    def get_survey(self, survey_id: str) -> Survey | None:
        item = get_or_none(SurveyItem, survey_id)
        return survey_from_item(item) if item else None

    def open_survey(self, survey: Survey, now: datetime, surveyed: Sequence[tuple[str, datetime]] | None = None,
                    history_version: int = 0) -> None:
        if survey.open_until is None:
            raise ValueError("open_survey needs survey.open_until: it bounds the contact's slot")
        history = [(survey.procedure, now)] if surveyed is None else surveyed
        claim, slot_free = slot_claim(survey, survey.open_until, now, history, history_version)
        try:
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                # PynamoDB sends puts before updates whatever the call order: reason 0 is the survey.
                tx.save(survey_to_item(survey, self._retention),
                        condition=SurveyItem.survey_id.does_not_exist())
                tx.update(ContactItem(survey.contact_key), actions=claim, condition=slot_free)
                _count_outcomes(tx, None, survey, now, self._counter_retention)
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
                tx.save(survey_to_item(survey, self._retention), condition=SurveyItem.survey_id.does_not_exist())
                _count_outcomes(tx, None, survey, survey.created_at, self._counter_retention)
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
                # lines up with the cancellation reasons. A score is put once; a comment is added
                # to the survey's comments (an update: none is ever replaced).
                for answer in answers:
                    if answer.question != "comment":
                        tx.save(answer_to_item(answer, self._retention),
                                condition=ResponseItem.survey_id.does_not_exist())
                        kinds.append("answer")
                for answer in answers:
                    if answer.question == "comment":
                        tx.update(ResponseItem(answer.survey_id, "comment"),
                                  actions=comment_added(answer, self._retention))
                        kinds.append("answer")
                unchanged: Condition = unchanged_since(old)
                if lifecycle.reached(new) and not lifecycle.reached(old):
                    # `delivered` is counted here (a reply proves it): only if no delivery report has
                    # counted it meanwhile (record_delivery); else StaleSurvey and the caller reads again.
                    unchanged = unchanged & (SurveyItem.delivery_rank.does_not_exist()
                                             | (SurveyItem.delivery_rank < lifecycle.FINAL_DELIVERY_RANK))
                tx.update(SurveyItem(old.survey_id), actions=survey_changes(new), condition=unchanged)
                kinds.append("survey")
                contact_update = contact_changes(old.survey_id, contact, now, release)
                if contact_update is not None:
                    actions, condition = contact_update
                    tx.update(ContactItem(old.contact_key), actions=actions, condition=condition)
                    kinds.append("contact")
                kinds.extend("outcome" for _ in range(_count_outcomes(tx, old, new, now, self._counter_retention)))
        except TransactWriteError as exc:
            _raise_update_failure(exc, kinds, old.survey_id)

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None, *,
                        message_sid: str, now: datetime | None = None) -> Survey | None:
        """None when the stored rank is not lower, when the callback is about another message,
        and when there is no such survey (a callback for a survey we never recorded must not
        create an item); else the survey as the update left it (its new image: no extra read)."""
        its_message = SurveyItem.message_sid.does_not_exist() | (SurveyItem.message_sid == message_sid)
        moves_forward: Condition = SurveyItem.survey_id.exists() & its_message & (
            SurveyItem.delivery_rank.does_not_exist() | (SurveyItem.delivery_rank < rank))
        actions = [SurveyItem.delivery_status.set(status), SurveyItem.delivery_rank.set(rank),
                   set_or_remove(SurveyItem.delivery_error, error_code)]
        item = SurveyItem(survey_id)
        if not conditional(lambda: item.update(actions=actions, condition=moves_forward)):
            return None
        stored = survey_from_item(item)
        if lifecycle.counts_as_delivered(status, stored):
            # The carrier's first word that it arrived, before any reply: `delivered`, on the day it
            # came. A second request, for this one callback; lost only if the function dies in between.
            bucket = f"{(now or datetime.now(UTC)).astimezone(UTC).date().isoformat()}#{lifecycle.DELIVERED}"
            with throttling_as_retryable():
                OutcomeItem(item.procedure, bucket).update(
                    actions=counter_increment(item.procedure, bucket, self._counter_retention))
        return stored

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None:
        actions = opt_out_actions(opted_out, audit, now)
        with throttling_as_retryable():
            ContactItem(contact_key).update(actions=actions)     # upsert: no condition

    def keep_inbound(self, message: Inbound) -> None:
        # An unconditional put: Twilio's retry of the same MessageSid rewrites the same item.
        item = InboxItem(message.message_sid, contact_key=message.contact_key, body=message.body,
                         received_at=message.received_at, reason=message.reason,
                         survey_id=message.survey_id, truncated=message.truncated or None,
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
            return [survey_from_item(item) for item in items]

    def scheduled_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():
            items = SurveyItem.send_index.query(
                SEND_SHARD, range_key_condition=SurveyItem.send_at <= now, scan_index_forward=True, limit=limit)
            return [survey_from_item(item) for item in items]

    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():
            items = SurveyItem.open_index.query(
                OPEN_SHARD, range_key_condition=SurveyItem.open_until < now,
                scan_index_forward=True, limit=limit)
            return [survey_from_item(item) for item in items]

    def surveys_of(self, customer_id: str, since: datetime, limit: int) -> list[Survey]:
        if limit <= 0:
            return []
        with throttling_as_retryable():       # one Query: no filter, so `limit` items are one page
            items = SurveyItem.by_customer.query(
                customer_id, range_key_condition=SurveyItem.created_at >= since, scan_index_forward=False, limit=limit)
            return [survey_from_item(item) for item in items]

    def save_comment(self, answer: Answer) -> CommentSaved:
        """One transaction: a check that the survey is answered (or late), and the comment added to
        the survey's comments, on condition that the item is new, or a thread with room whose latest
        comment has other words. Only when that condition fails is the item read, to say why (SAME,
        FULL), or to seed the thread of an item written before threads with its one comment."""
        if answer.question != "comment":
            raise ValueError(f"save_comment stores comments, not {answer.question!r} answers")
        saved = self._add_comment(answer, None)
        if saved is not None:
            return saved
        item = get_or_none(ResponseItem, answer.survey_id, "comment")
        earlier = comments_from_item(item) if item is not None else []
        if earlier and earlier[-1].text == answer.text:
            return CommentSaved.SAME
        if len(earlier) >= MAX_COMMENTS:
            return CommentSaved.FULL
        if item is not None and not item.comments:             # written before threads: seed it
            seeded = self._add_comment(answer, earlier)
            if seeded is not None:
                return seeded
        raise StaleSurvey(answer.survey_id)       # it changed between the write and the read: try again

    def _add_comment(self, answer: Answer, earlier: list[Answer] | None) -> CommentSaved | None:
        """SAVED, CLOSED (the survey takes no comment), or None when the comment item's condition failed."""
        room: Condition
        if earlier is None:      # a new item, or a thread with room whose latest comment says something else
            room = ResponseItem.survey_id.does_not_exist() | (
                (size(ResponseItem.comments) < MAX_COMMENTS) & (ResponseItem.text != (answer.text or "")))
        else:                    # seeding an item from before threads: still without its thread
            room = ResponseItem.comments.does_not_exist()
        try:
            with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                tx.condition_check(SurveyItem, answer.survey_id, condition=SurveyItem.status.is_in(*TAKES_COMMENTS))
                tx.update(ResponseItem(answer.survey_id, "comment"),
                          actions=comment_added(answer, self._retention, earlier), condition=room)
        except TransactWriteError as exc:
            codes = cancel_codes(exc)
            raise_if_retryable(exc, codes)
            if codes and codes[0] == CONDITION_FAILED:
                return CommentSaved.CLOSED
            if len(codes) > 1 and codes[1] == CONDITION_FAILED:
                return None
            raise
        return CommentSaved.SAVED


def _count_outcomes(tx: TransactWrite, old: Survey | None, new: Survey, when: datetime,
                    retention: timedelta) -> int:
    """+1 to each outcome the survey reaches, in the transaction that writes it: counted exactly
    once, with no request of its own. How many were counted (0: nothing new)."""
    keys = lifecycle.counts_as_new_outcomes(old, new)
    for key in keys:
        bucket = f"{when.astimezone(UTC).date().isoformat()}#{key}"
        tx.update(OutcomeItem(new.procedure, bucket), actions=counter_increment(new.procedure, bucket, retention))
    return len(keys)


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
