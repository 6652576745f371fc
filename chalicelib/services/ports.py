"""The collaborators services need, as interfaces. Real adapters live in chalicelib/adapters,
fakes in tests/fakes/; one contract suite (tests/integration/test_store_contract.py) runs
against both so they cannot drift."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.exports import Selection  # a default value (AnswerPeriod)

if TYPE_CHECKING:      # annotations only: a function imports the domain modules its own use cases run
    from chalicelib.domain.alert_delivery import AlertContent
    from chalicelib.domain.cases import Case
    from chalicelib.domain.comment_insight import CommentInsight, GroupTally, Insight, InsightChange, InsightRequest
    from chalicelib.domain.exports import Position
    from chalicelib.domain.model import Answer, Contact, Counts, Survey
    from chalicelib.domain.principal import Principal
    from chalicelib.domain.scoring import BucketKey, Contribution
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
    reason: str                          # no_open_conversation, survey_not_sent_yet, unreadable, china_sms_reply
    survey_id: str | None = None
    truncated: bool = False              # longer than any SMS: `body` is its start (domain/sms.py)


class CommentSaved(StrEnum):
    """What became of a comment sent after its survey was answered (`save_comment`)."""

    SAVED = "saved"          # added to the survey's comments
    SAME = "same"            # the very words of the survey's latest comment (a reload, a double click): kept once
    CLOSED = "closed"        # the survey takes no comment (not answered, unknown): nothing written
    FULL = "full"            # the survey holds MAX_COMMENTS already (domain/web_survey.py): nothing written


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
        the stored survey still has old's status, step and last inbound sid. Raises StaleSurvey. A
        `score` answer is written once (a second one: StaleSurvey); a `comment` answer is added to the
        survey's comments, as `save_comment` adds one."""

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None, *,
                        message_sid: str, now: datetime | None = None) -> Survey | None:
        """Store a delivery status only if its rank is higher than the stored one and it is about
        the survey's own message (`message_sid`, or any while the survey has not stored its sid
        yet: a callback can overtake the write that records the send). Returns the survey as stored
        after the write; None when nothing was stored."""

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None: ...
    def keep_inbound(self, message: Inbound) -> None: ...
    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        """Surveys whose conversation window ended before now (oldest first)."""

    def scheduled_due(self, now: datetime, limit: int) -> list[Survey]:
        """Scheduled surveys whose send time has come (earliest send_at first)."""

    def reminders_due(self, now: datetime, limit: int) -> list[Survey]:
        """Surveys whose reminder time has come (earliest remind_at first)."""

    def surveys_of(self, customer_id: str, since: datetime, limit: int) -> list[Survey]:
        """The customer's surveys created at or after `since`, newest first, at most `limit`, whatever
        their status (suppressed and scheduled ones are the customer's surveys too): the case page's
        earlier surveys."""

    def save_comment(self, answer: Answer) -> CommentSaved:
        """Add a comment (`answer.question == "comment"`, with the survey's score) sent after its
        survey was answered to the survey's comments, each kept with its time (none replaces
        another). Only on a survey whose status is `answered` or `late` (CLOSED otherwise: an open,
        expired or unknown survey), at most MAX_COMMENTS per survey (FULL), and the same words as the
        latest comment once (SAME). The score answer is never touched."""


@dataclass(frozen=True)
class CaseQuery:
    """A page of cases, newest first; every filter optional (empty status: any)."""

    status: frozenset[str] = frozenset()
    owner: str | None = None
    branch: str | None = None              # the customer's branch (`Case.branch`)
    # Only the cases in this branch's scope: its customers' and those in its queue
    # (case_work.branches_of; a branch manager's list).
    in_branch: str | None = None
    procedure: str | None = None
    severity: str | None = None
    overdue_at: datetime | None = None     # only cases past their resolution deadline at this time
    opened_from: datetime | None = None    # only cases opened at or after this time
    opened_before: datetime | None = None  # ... and before this one (an empty period lists nothing)
    limit: int = 50
    cursor: str | None = None              # from the previous page; InvalidRequest when unreadable


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    cursor: str | None                     # None: the last page


class CaseStore(Protocol):
    def open_case(self, case: Case) -> bool:
        """Create the case; False when a case for this survey already exists."""

    def get_case(self, case_id: str) -> Case | None: ...

    def mark_notified(self, case_id: str, *, follow_up_queued: bool = False, alert_published: bool = False) -> None:
        """Set the flags that are True (never clears one; never bumps the version: people's edits
        are not refused because koe noted that it told someone)."""

    def save(self, case: Case, expected_version: int) -> Case:
        """Write what people and the schedule change on a case, only if it is still at
        `expected_version`; returns it at the next version. VersionConflict when it moved on,
        CaseNotFound when there is no such case."""

    def list_cases(self, query: CaseQuery) -> CasePage: ...

    def due(self, now: datetime, limit: int) -> list[Case]:
        """Cases the schedule has work on by `now` (work_due_at), earliest first."""

    def cases_of(self, customer_id: str, since: datetime) -> list[Case]:
        """The customer's cases opened at or after `since` (the repeat-detractor rule)."""

    def opened_between(self, start: datetime, end: datetime, *, branch: str | None = None,
                       owner: str | None = None, in_branch: str | None = None) -> list[Case]:
        """Every case opened at or after `start` and before `end`, oldest first (the recovery
        report); narrowed as a list is (CaseQuery): to the customer's branch (`context.branch`), the
        owner's (`agent:A-12`), and the cases in a branch's scope (`in_branch`)."""


class OutcomeReport(Protocol):
    def read_outcomes(self, from_day: str, to_day: str,
                      procedure: str | None = None) -> list[tuple[str, str, str, int]]:
        """(procedure, day, outcome, count) for each counter in the period: outcomes are counted
        by the conversation store in the same write as the survey's status change."""

    def waiting(self, procedure: str | None = None) -> int:
        """How many surveys wait for their send window now (scheduled, not yet released), of one
        procedure or of all: a count at this moment, not over a period."""


class EventLedger(Protocol):
    def record_first(self, events: Sequence[tuple[str, str]], now: datetime) -> set[str]:
        """Record each (event_id, fingerprint) not seen before, and return the ids already recorded
        with another fingerprint (the first payload is kept). The same pair again is no conflict."""


class ScoreStore(Protocol):
    def count(self, items: Sequence[Contribution], shards: int, now: datetime) -> int:
        """Add each answer's increments exactly once (an answer counted before adds nothing), each
        bucket written once per transaction, on one of `shards` shards; returns the answers added."""

    def read(self, dimension: str, from_day: str, to_day: str, shards: int = 1) -> list[tuple[BucketKey, Counts]]:
        """Every counter of `dimension` in the day range in each of its `shards` partitions, one row each."""


class SurveySender(Protocol):
    """One per channel (two-way SMS, link SMS, email): renders the channel's template and hands it
    to the channel's transport."""

    def send(self, survey: Survey, message: str) -> str:
        """Send the survey's `message` (a template key: "invitation", "reminder", "closing") to its
        customer; returns the carrier's message id. Raises
        RecipientOptedOut, UndeliverableRecipient, RetryableSendError (and, China SMS, TemplateRejected)."""


class SmsSender(Protocol):
    """The SMS transport (Twilio)."""

    def send(self, to: str, body: str, status_callback: str) -> str:
        """Send one SMS; returns the carrier's message id. Raises RecipientOptedOut,
        UndeliverableRecipient, RetryableSendError."""


class CnSms(Protocol):
    """The China SMS transport (adapters/alibaba_sms.py AlibabaSms: SendSms through Alibaba's SDK)."""

    def send(self, phone_number: str, message_name: str, params: Mapping[str, str], out_id: str,
             locale: str = ...) -> str:
        """Send the approved template of `message_name` with `params` as its variables; `out_id` comes
        back on the delivery report. Returns Alibaba's BizId. Raises TemplateRejected,
        UndeliverableRecipient, CredentialsRejected, RetryableSendError."""


class WeChatMessenger(Protocol):
    """The WeChat transport (adapters/wechat.py WeChatMessaging: template messages through wechatpy)."""

    def send_template(self, openid: str, template_id: str, data: Mapping[str, str], url: str,
                      client_msg_id: str) -> str:
        """Send template `template_id` to `openid` with its keywords' values, opening `url` when tapped;
        the same `client_msg_id` within 10 minutes sends once. Returns WeChat's msgid. Raises
        UndeliverableRecipient, TemplateRejected, CredentialsRejected, RetryableSendError."""


class LineMessenger(Protocol):
    """The LINE transport (adapters/line_messaging.py LineMessaging: the Messaging API through its SDK)."""

    def push_survey(self, user_id: str, text: str, choices: Sequence[str], retry_key: str) -> str:
        """A push with one quick-reply button per choice; returns LINE's request id. The retry key
        (domain/line.retry_key) makes a replay within 24 hours deliver nothing twice. Raises
        UndeliverableRecipient, CredentialsRejected, RetryableSendError."""

    def push_text(self, user_id: str, text: str, retry_key: str) -> str:
        """A push without buttons; as push_survey."""

    def reply(self, reply_token: str, text: str, choices: Sequence[str] = ()) -> str:
        """Answer a webhook event with its reply token (free, once, within about a minute).
        ReplyTokenExpired when LINE no longer takes it: push instead."""


class IntakeQueue(Protocol):
    def enqueue(self, events: Sequence[dict[str, Any]]) -> list[int]:
        """Send events to the intake queue; returns the indexes SQS did not take."""


class DeadLetters(Protocol):
    def put(self, body: str, reason: str, source_id: str) -> None: ...


class DeadLetterMarks(Protocol):
    """Queue records given up, by SQS message id (services/batch.py): kept as long as a message can
    live on its queue, then forgotten."""

    def mark(self, message_id: str, reason: str) -> None:
        """Before the record goes to the dead-letter queue. RetryableError when it cannot be stored."""

    def reason_of(self, message_id: str) -> str | None:
        """The reason the record was given up with; None when it was not."""


class FollowUps(Protocol):
    def put(self, message: dict[str, Any]) -> None: ...


class Alerts(Protocol):
    def publish(self, message: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """One case alert (domain/case_alerts.py) on the CX topic, with its filterable attributes;
        EnqueueFailed when the topic does not take it."""


class Pages(Protocol):
    """The web survey's pages (templates/web/): HTML in the page's language."""

    @property
    def content_security_policy(self) -> str:
        """The Content-Security-Policy every page it renders is served with (no scripts; its
        one inline style allowed by hash)."""

    def render(self, page: Page) -> str: ...


class Messages(Protocol):
    def render(self, channel: str, language: str, key: str, *, scale: str = "nps", **values: str) -> str:
        """The `key` message of `channel`'s templates (templates/<channel>/<language>...), worded for
        the survey's `scale` (nps, csat, ces: "Reply 1-5")."""


# --- email ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SurveyLinks:
    """The links an email survey carries: the page, one per score (`?score=N`: the page pre-selects
    it, nothing is recorded until the customer sends the form) and the unsubscribe page."""

    survey: str
    scores: tuple[tuple[int, str], ...]      # (score, link), 0 to 10 (NPS), 1 to 5 (CSAT), 1 to 7 (CES)
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
    survey_id: str | None = None         # the survey it invites to: named in SES's events (a message tag)


class EmailTemplates(Protocol):
    """The email channel's templates (templates/email/): subject, HTML and text in one language."""

    def render(self, message: str, language: str, procedure: str, links: SurveyLinks,
               scale: str = "nps") -> EmailContent:
        """The question and the scale's end labels are the survey's `scale`'s (nps, csat, ces)."""


class EmailSender(Protocol):
    """The email transport (SES)."""

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; returns the provider's message id. Raises UndeliverableRecipient,
        RecipientOptedOut, RetryableSendError."""


# --- CX alerts to people (services/deliver_alerts.py) --------------------------------------------

class AlertTemplates(Protocol):
    """The alert's words (templates/alerts/): one language, times in one reader's time zone."""

    def render(self, message: Mapping[str, Any], language: str, timezone: str) -> AlertContent: ...


class AlertTransport(Protocol):
    """One way of reaching a person with an alert: email (SES) or a chat webhook."""

    def deliver(self, address: str, content: AlertContent) -> None:
        """Deliver one alert to one address. Raises a RetryableError (try again later: throttling,
        5xx, timeouts) or a PermanentError (retrying cannot help: a refused address, a revoked hook)."""


class AlertLedger(Protocol):
    """Which destinations of which alert are finished, keyed `<alert_id>#<destination key>`
    (domain/alert_delivery.delivery_id): a replayed alert is delivered once per destination."""

    def delivered(self, delivery_ids: Sequence[str]) -> set[str]:
        """The ids whose delivery is finished: delivered, or given up."""

    def begin(self, delivery_id: str, now: datetime, lease: timedelta) -> bool:
        """Claim a destination for this invocation until now + lease; False when it is finished or
        another invocation holds an unexpired claim (two copies of an alert never both send)."""

    def record(self, delivery_id: str, outcome: str, now: datetime, reason: str | None = None) -> None:
        """Store the outcome: delivered or given_up (finished), failed (claimable again at once).
        `reason`: an error code, never personal data."""


class QueueVisibility(Protocol):
    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again only after `seconds` (SQS ChangeMessageVisibility)."""

    def remove(self, receipt_handle: str) -> None:
        """Delete a received message now, before its batch ends (SQS DeleteMessage)."""


# --- comment insight (services/comment_insight.py analyses, services/comments.py reads) -----------

class CommentAnalyser(Protocol):
    """Reads one comment: Amazon Comprehend in AWS, an offline analyser per language locally
    (KOE_COMMENT_ANALYSER)."""

    def analyse(self, text: str, language: str) -> Insight:
        """Sentiment, score (-1..1) and key phrases (most salient first) of `text` in `language`
        (domain/comment_insight.LANGUAGES). Raises AnalyserUnavailable (throttled, 5xx, unreachable:
        retried) or UnanalysableComment (the text itself is refused: dead-lettered)."""


class InsightRequests(Protocol):
    def request(self, requests: Sequence[InsightRequest]) -> None:
        """Put each comment to analyse on the comment-insight queue; EnqueueFailed when the queue
        does not take one (the caller's batch is retried: a request twice is harmless)."""


class CommentSource(Protocol):
    def comments(self, survey_id: str) -> list[Answer]:
        """The survey's comments as stored now (a consistent read), oldest first, each with its own
        text and time; [] when there is none."""


@dataclass(frozen=True)
class CommentQuery:
    """The newest comments received at or after `start` and before `end`, every filter optional."""

    start: datetime
    end: datetime
    procedure: str | None = None
    branch: str | None = None
    agent_id: str | None = None
    sentiment: str | None = None
    limit: int = 20


class InsightStore(Protocol):
    def get(self, survey_id: str) -> CommentInsight | None:
        """The insight stored for the survey's comment (a consistent read)."""

    def save(self, batch: Sequence[InsightChange]) -> set[str]:
        """Store each change's new insight where its `previous` is still what is stored (none, or
        that version), and move the group counters by domain/comment_insight.changes in the same
        transaction: each version is counted once, a replaced one uncounted once. Returns the survey
        ids not stored because another version was stored meanwhile (the caller retries them).
        InsightConflict when the group counters kept changing under it; StorageThrottled."""

    def latest(self, query: CommentQuery) -> list[CommentInsight]:
        """At most `query.limit` insights, newest comment first."""

    def groups(self, dimension: str, from_day: str, to_day: str, value: str | None = None) -> list[GroupTally]:
        """The counters of `dimension` (domain/comment_insight.GROUPS, or within_branch(...)) per
        day in the range: every value's, or `value`'s alone (one item per day at most)."""


# --- the answers export (services/responses_export.py) --------------------------------------------

@dataclass(frozen=True)
class AnswerPeriod:
    """The score answers received at or after `start` and before `end`, after `after` when given
    (a page's cursor), that `selection` keeps."""

    start: datetime
    end: datetime
    selection: Selection = Selection()
    after: Position | None = None


@dataclass(frozen=True)
class AnsweredSurvey:
    score: Answer                        # the survey's score answer
    comments: tuple[Answer, ...] = ()    # its comments, oldest first, if the customer left any


class AnswerArchive(Protocol):
    """The answers as stored (the responses table), read by period."""

    items_read: int                      # items the reads returned since built (for tests and reports)

    def answers_between(self, period: AnswerPeriod) -> Iterator[AnsweredSurvey]:
        """Each answered survey of the period that the selection keeps, with its comments, in
        (received_at, survey_id) order (domain/exports.Position), read lazily: a caller that stops
        early reads little more than it took. Comments alone are never rows (one per score)."""



# --- the CX dashboard's sign-in (services/dashboard.py)

@dataclass(frozen=True)
class SignInTokens:
    access_token: str
    expires_in: int                    # seconds


class SessionVerifier(Protocol):
    """A dashboard session's token -> the principal it is, or None (chalicelib/auth.py)."""

    def principal(self, token: str) -> Principal | None: ...


class HostedSignIn(Protocol):
    """Cognito's hosted UI: code grant with PKCE (adapters/hosted_ui.py)."""

    def authorize_url(self, state: str, code_challenge: str) -> str: ...

    def logout_url(self) -> str: ...

    def exchange(self, code: str, verifier: str) -> SignInTokens: ...
