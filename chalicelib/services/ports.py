"""The collaborators services need, as interfaces. Real adapters live in chalicelib/adapters,
fakes in tests/fakes/; one contract suite (tests/integration/test_store_contract.py) runs
against both so they cannot drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.model import Answer, Case, Contact, Counts, Survey
from chalicelib.domain.scoring import BucketKey
from chalicelib.domain.web_survey import Page


@dataclass(frozen=True)
class ContactChange:
    """What closing or failing a survey does to the contact, in the same write."""

    release: bool = True                 # free the phone's conversation slot (if this survey holds it)
    opted_out: bool | None = None        # set or clear the opt-out, with an audit entry
    audit: str | None = None             # e.g. "sms:STOP", "carrier:21610"


@dataclass(frozen=True)
class Inbound:
    """An SMS that belongs to no open conversation (or that koe could not read): kept for CX."""

    message_sid: str
    contact_key: str
    body: str
    received_at: datetime
    reason: str                          # no_open_conversation, unreadable
    survey_id: str | None = None


class ConversationStore(Protocol):
    def get_contact(self, contact_key: str) -> Contact | None: ...
    def get_survey(self, survey_id: str) -> Survey | None: ...

    def open_survey(self, survey: Survey, now: datetime, surveyed: Sequence[tuple[str, datetime]] | None = None,
                    history_version: int = 0) -> None:
        """Create the survey and claim the contact's conversation slot, atomically: sets
        active_survey_id/active_until (= survey.open_until) and replaces the contact's survey
        history with `surveyed` (None: this survey alone), on condition that the history is still
        at `history_version` (0: never written). Raises SurveyExists; ConversationOpen when another
        conversation holds the slot; StaleSurvey when the history changed since it was read."""

    def record_suppressed(self, survey: Survey) -> None:
        """Create a survey that is not sent (status suppressed, reason). Raises SurveyExists."""

    def update_survey(self, old: Survey, new: Survey, answers: Sequence[Answer] = (),
                      contact: ContactChange | None = None, now: datetime | None = None) -> None:
        """Write new's status, step, score, reprompts, message sid, last inbound sid/reply,
        open_until, send_at and remind_at, the answers, and the contact change, in one atomic write, on condition that
        the stored survey still has old's status, step and last inbound sid. Raises StaleSurvey."""

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None, *,
                        message_sid: str) -> bool:
        """Store a delivery status only if its rank is higher than the stored one and it is about
        the survey's own message (`message_sid`, or any while the survey has not stored its sid
        yet: a callback can overtake the write that records the send); False otherwise."""

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None: ...
    def keep_inbound(self, message: Inbound) -> None: ...
    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        """Surveys whose conversation window ended before now (oldest first)."""

    def scheduled_due(self, now: datetime, limit: int) -> list[Survey]:
        """Scheduled surveys whose send time has come (earliest send_at first)."""

    def reminders_due(self, now: datetime, limit: int) -> list[Survey]:
        """Surveys whose reminder time has come (earliest remind_at first)."""

    def save_comment(self, answer: Answer) -> bool:
        """Store a comment (`answer.question == "comment"`, with the survey's score) sent after its
        survey was answered, replacing the survey's earlier comment if any: one comment per survey,
        the customer's latest word. Only on a survey whose status is `answered`: False, and nothing
        written, otherwise (an open, expired or unknown survey). The score answer is never touched."""


class CaseStore(Protocol):
    def open_case(self, case: Case) -> bool:
        """Create the case; False when a case for this survey already exists."""

    def get_case(self, case_id: str) -> Case | None: ...
    def mark_notified(self, case_id: str, *, follow_up_queued: bool, alert_published: bool) -> None: ...
    def attach_comment(self, case_id: str, comment: str) -> bool:
        """Add the customer's comment to an existing case; False when there is no case."""


class OutcomeReport(Protocol):
    def read_outcomes(self, from_day: str, to_day: str,
                      procedure: str | None = None) -> list[tuple[str, str, str, int]]:
        """(procedure, day, outcome, count) for each counter in the period: outcomes are counted
        by the conversation store in the same write as the survey's status change."""


class EventLedger(Protocol):
    def record_first(self, events: Sequence[tuple[str, str]], now: datetime) -> set[str]:
        """Record each (event_id, fingerprint) not seen before, and return the ids already recorded
        with another fingerprint (the first payload is kept). The same pair again is no conflict."""


class ScoreStore(Protocol):
    def add(self, totals: dict[BucketKey, Counts], token: str) -> None:
        """Add each bucket's counts with one write per bucket. A repeat with the same token
        (a retried stream batch) must not count twice."""

    def read(self, dimension: str, from_day: str, to_day: str) -> list[tuple[BucketKey, Counts]]: ...


class SurveySender(Protocol):
    """One per channel (two-way SMS, link SMS, email): renders the channel's template and hands it
    to the channel's transport."""

    def send(self, survey: Survey, message: str) -> str:
        """Send the survey's `message` (a template key: "invitation"; reminders and closing
        messages later) to its customer; returns the carrier's message id. Raises
        RecipientOptedOut, UndeliverableRecipient, RetryableSendError."""


class SmsSender(Protocol):
    """The SMS transport (Twilio)."""

    def send(self, to: str, body: str, status_callback: str) -> str:
        """Send one SMS; returns the carrier's message id. Raises RecipientOptedOut,
        UndeliverableRecipient, RetryableSendError."""


class IntakeQueue(Protocol):
    def enqueue(self, events: Sequence[dict[str, Any]]) -> list[int]:
        """Send events to the intake queue; returns the indexes SQS did not take."""


class DeadLetters(Protocol):
    def put(self, body: str, reason: str, source_id: str) -> None: ...


class FollowUps(Protocol):
    def put(self, message: dict[str, Any]) -> None: ...


class Alerts(Protocol):
    def publish(self, subject: str, body: str, attributes: Mapping[str, str] | None = None) -> None:
        """Publish one CX alert; `attributes` (procedure, branch, ...) let subscribers filter."""


class Pages(Protocol):
    """The web survey's pages (templates/web/): HTML in the page's language."""

    @property
    def content_security_policy(self) -> str:
        """The Content-Security-Policy every page it renders is served with (no scripts; its
        one inline style allowed by hash)."""

    def render(self, page: Page) -> str: ...


class Messages(Protocol):
    def render(self, channel: str, language: str, key: str, **values: str) -> str:
        """The `key` message of `channel`'s templates (templates/<channel>/<language>...)."""


# --- email ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SurveyLinks:
    """The links an email survey carries: the page, one per score (`?score=N`: the page pre-selects
    it, nothing is recorded until the customer sends the form) and the unsubscribe page."""

    survey: str
    scores: tuple[tuple[int, str], ...]      # (score, link), 0 to 10
    unsubscribe: str


@dataclass(frozen=True)
class EmailContent:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    content: EmailContent
    unsubscribe_url: str                 # List-Unsubscribe (RFC 2369) with one-click POST (RFC 8058)


class EmailTemplates(Protocol):
    """The email channel's templates (templates/email/): subject, HTML and text in one language."""

    def render(self, message: str, language: str, procedure: str, links: SurveyLinks) -> EmailContent: ...


class EmailSender(Protocol):
    """The email transport (SES)."""

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; returns the provider's message id. Raises UndeliverableRecipient,
        RecipientOptedOut, RetryableSendError."""
