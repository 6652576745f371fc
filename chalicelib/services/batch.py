"""Queue batches: one bad record never fails its batch, and nothing is dropped silently.

The one place that maps errors to queue behaviour:
- PermanentError (malformed event, ...) -> dead-letter queue with the reason, at once;
- any other error -> reported as a batch item failure: SQS delivers it again;
- still failing on its `max_receives`-th delivery -> dead-letter queue with the last reason;
- EventInProgress (another invocation, or one that died, holds the event until its claim expires) ->
  delivered again once that claim can have expired (`in_progress`: the queue's visibility set to
  `in_progress_s`), never sooner: retrying at once would only meet the claim again. This goes on past
  `max_receives`, up to `in_progress_receives` (the queue's own maxReceiveCount): a live invocation
  that holds the claim will finish the work, and dead-lettering the event under it would end it twice
  (sent by that invocation, dead-lettered here). At the queue's last delivery it is dead-lettered
  with its reason like any other.
The queue's own redrive policy (a higher maxReceiveCount) stays as a backstop, for deliveries spent
by invocations that died before they could answer.

Before a record that kept failing is dead-lettered, `settled(body)` lets the use case say that
its work is done or owned elsewhere (dispatch: the survey is recorded, and sent, ended, or under a
send lease the schedule finishes): then it is taken off the queue, counted and logged, not
dead-lettered, so an event never ends both as a survey and as a dead letter. If that check fails
(the store failing too), the record stays on its queue and is asked again at its next delivery.

A record is dead-lettered once, even when its batch comes back: a crash later in the same
invocation returns the whole batch (Lambda deletes nothing of a batch whose invocation died), and a
dead-lettered record delivered again could then succeed, its event ending both as a survey and as a
dead letter. Where the queue's consumer gives `marks` (dispatch), a record is marked given up
(its message id and reason) before it goes to the dead-letter queue, and deleted from its queue
(`in_progress.remove`) once it is there; a record delivered again whose mark is found is not handled:
its dead letter is finished instead (put again: at worst a second letter of one record, when the
invocation died between the put and the delete). The mark is read only on a record's second
delivery and later.

Once a record is safely in the dead-letter queue, `on_dead_letter(body, error)` lets the use case
give up cleanly (dispatch ends an unsent survey as failed, freeing the customer's slot). If that
fails, it is logged and counted, and the record stays in the dead-letter queue all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import EventInProgress, PermanentError
from chalicelib.observability import count, logger
from chalicelib.services.budget import UNLIMITED, Budget
from chalicelib.services.ports import DeadLetterMarks, DeadLetters, QueueVisibility


@dataclass(frozen=True)
class QueueRecord:
    message_id: str
    body: str
    receive_count: int
    receipt_handle: str = ""        # what ChangeMessageVisibility needs to back a failed record off

    @classmethod
    def from_lambda(cls, record: Mapping[str, Any]) -> QueueRecord:
        """One record of the SQS event Lambda passes (its JSON shape)."""
        return cls(str(record["messageId"]), str(record["body"]),
                   int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
                   str(record.get("receiptHandle", "")))


GiveUp = Callable[[str, Exception], object]
Settled = Callable[[str], bool]


def process(records: Iterable[QueueRecord], handle: Callable[[str], object],
            dead_letters: DeadLetters, max_receives: int, on_dead_letter: GiveUp | None = None,
            budget: Budget = UNLIMITED, settled: Settled | None = None,
            in_progress: QueueVisibility | None = None, in_progress_s: int = 0,
            in_progress_receives: int = 0, marks: DeadLetterMarks | None = None) -> list[str]:
    """Handle each record; returns the message ids SQS must deliver again. A record the invocation's
    budget leaves no time for is not started: it goes back to the queue untouched (its receive
    count still grows: the queue's maxReceiveCount leaves room for that)."""
    failures: list[str] = []
    records = list(records)
    wait_until = max(max_receives, in_progress_receives)
    letter = _Letter(dead_letters, on_dead_letter, marks, in_progress)
    for n, record in enumerate(records):
        if budget.exhausted():
            left = [r.message_id for r in records[n:]]
            count("BatchCutShort", value=len(left))
            logger.warning("batch cut short by the invocation's time", extra={"records_left": len(left)})
            return failures + left
        given_up = letter.given_up(record)
        if given_up is not None:
            if not given_up or not letter.finish(record, given_up):
                failures.append(record.message_id)
            continue
        try:
            handle(record.body)
        except PermanentError as exc:
            if not letter.send(record, f"{type(exc).__name__}: {exc}", exc):
                failures.append(record.message_id)
        except Exception as exc:  # noqa: BLE001 - the batch boundary: any fault is retried or dead-lettered
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, EventInProgress) and in_progress is not None and record.receive_count < wait_until:
                _later(record, in_progress, in_progress_s)
                failures.append(record.message_id)
                continue
            if record.receive_count >= max_receives:
                done = _settled(record, settled, exc)
                if done:
                    continue
                if done is None or not letter.send(record, f"gave up after {record.receive_count} attempts: {reason}",
                                                   exc):
                    failures.append(record.message_id)
            else:
                logger.warning("record failed, will retry", extra={
                    "message_id": record.message_id, "attempt": record.receive_count, "error": type(exc).__name__})
                count("RecordRetried")
                failures.append(record.message_id)
    return failures


def _later(record: QueueRecord, visibility: QueueVisibility, seconds: int) -> None:
    """Back on the queue once the event's claim can have expired (a refusal: the queue's own timeout)."""
    count("RecordInProgressElsewhere")
    logger.warning("event in progress elsewhere: delivered again later", extra={
        "message_id": record.message_id, "attempt": record.receive_count, "after_s": seconds})
    try:
        visibility.delay(record.receipt_handle, seconds)
    except Exception as exc:  # noqa: BLE001 - it comes back after the queue's own visibility instead
        logger.warning("could not delay the record", extra={"message_id": record.message_id,
                                                            "error": type(exc).__name__})


def _settled(record: QueueRecord, settled: Settled | None, error: Exception) -> bool | None:
    """True: the use case owns what is left of this record (see the module docstring); False: it is
    the dead letter's; None: cannot tell now (the store failing too), so the record stays on its
    queue and is asked again at its next delivery: dead-lettering it blind could end an event that
    is surveyed as a dead letter too. The queue's own maxReceiveCount stays the backstop."""
    if settled is None:
        return False
    try:
        done = settled(record.body)
    except Exception as exc:  # noqa: BLE001 - cannot tell: asked again at the next delivery
        count("RecordSettledUnknown")
        logger.warning("could not tell whether a failing record is settled: it stays on its queue", extra={
            "message_id": record.message_id, "attempt": record.receive_count, "error": type(exc).__name__})
        return None
    if done:
        count("RecordSettled")
        logger.warning("record kept failing but its work is recorded: not dead-lettered", extra={
            "message_id": record.message_id, "attempt": record.receive_count, "error": type(error).__name__})
    return done


@dataclass(frozen=True)
class _Letter:
    """How a record goes to the dead-letter queue, once (see the module docstring)."""

    dead_letters: DeadLetters
    on_dead_letter: GiveUp | None
    marks: DeadLetterMarks | None
    queue: QueueVisibility | None

    def given_up(self, record: QueueRecord) -> str | None:
        """The reason a record delivered again was given up with; None: it was not (or no marks are
        kept); "": cannot tell now (the record is tried again later, not handled blind)."""
        if self.marks is None or record.receive_count < 2:
            return None
        try:
            return self.marks.reason_of(record.message_id)
        except Exception as exc:  # noqa: BLE001 - handling it could end the event twice: back on the queue
            logger.warning("could not read whether a record was given up", extra={
                "message_id": record.message_id, "error": type(exc).__name__})
            return ""

    def send(self, record: QueueRecord, reason: str, error: Exception) -> bool:
        """True when the record is safely in the dead-letter queue; False: leave it on the queue."""
        if self.marks is not None:
            try:
                self.marks.mark(record.message_id, reason)
            except Exception as exc:  # noqa: BLE001 - not marked: not dead-lettered either, it comes back
                logger.warning("could not mark a record given up", extra={
                    "message_id": record.message_id, "error": type(exc).__name__})
                return False
        if not self._put(record, reason):
            return False
        if self.on_dead_letter is not None:
            try:
                self.on_dead_letter(record.body, error)
            except Exception:  # noqa: BLE001 - the record is safe in the DLQ; say so loudly and go on
                logger.exception("could not give up cleanly after dead-lettering",
                                 extra={"message_id": record.message_id})
                count("GiveUpFailed")
        return True

    def finish(self, record: QueueRecord, reason: str) -> bool:
        """A record given up before came back (its invocation died after the mark): dead-letter it
        with its reason, without handling it again."""
        count("RecordGivenUpReturned")
        logger.warning("a record given up before came back: its dead letter is finished, it is not handled",
                       extra={"message_id": record.message_id, "attempt": record.receive_count})
        return self.send(record, reason, DeadLettered(reason))

    def _put(self, record: QueueRecord, reason: str) -> bool:
        try:
            self.dead_letters.put(record.body, reason, record.message_id)
        except Exception:  # noqa: BLE001 - keep the record on its queue rather than lose it
            logger.exception("dead-letter queue refused a record", extra={"message_id": record.message_id})
            return False
        logger.error("record dead-lettered", extra={"message_id": record.message_id, "reason": reason[:300]})
        count("RecordDeadLettered")
        if self.marks is not None and self.queue is not None and record.receipt_handle:
            try:            # off its queue now: a crash later in the batch does not bring it back
                self.queue.remove(record.receipt_handle)
            except Exception as exc:  # noqa: BLE001 - the mark stops it if it comes back
                logger.warning("could not delete a dead-lettered record from its queue", extra={
                    "message_id": record.message_id, "error": type(exc).__name__})
        return True


class DeadLettered(Exception):
    """What a record given up before was given up with, when it comes back (`_Letter.finish`)."""
