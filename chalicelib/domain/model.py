"""What koe knows about a survey, a contact, an answer and a score bucket (cases: domain/cases.py).

Plain dataclasses: repositories convert them to and from storage; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SurveyStatus(StrEnum):
    SCHEDULED = "scheduled"    # outside the customer's send window: waits for `send_at`
    SENDING = "sending"        # recorded, SMS not yet accepted by the carrier
    SENT = "sent"
    DELIVERED = "delivered"
    REMINDED = "reminded"      # unanswered a day later: the one reminder went out
    ANSWERED = "answered"      # the conversation ran to its end
    EXPIRED = "expired"        # no complete answer within the conversation window
    FAILED = "failed"          # the carrier refused or could not deliver
    SUPPRESSED = "suppressed"  # never sent; `reason` says why
    OPTED_OUT = "opted_out"    # the customer opted out during the conversation
    UNREADABLE = "unreadable"  # two replies koe could not read; kept for the CX team
    LATE = "late"              # answered after the response window: kept, out of the scores



@dataclass(frozen=True)
class Place:
    """Where the customer is: decided once, when the survey is dispatched (domain/customer_place.py),
    and stored on the survey, its answers and its case; every later step reads it."""

    country: str | None             # ISO 3166 alpha-2 ("GB"); None when nothing says which country
    timezone: str                   # IANA ("Europe/London"): their send window and business hours


class Step(StrEnum):
    AWAIT_SCORE = "await_score"
    AWAIT_COMMENT = "await_comment"
    DONE = "done"


@dataclass(frozen=True)
class Survey:
    survey_id: str                  # = the event_id: the business idempotency key
    procedure: str
    customer_id: str
    contact_key: str                # HMAC of the phone/email (a LINE survey's: the LINE user id), never the raw value
    locale: str                     # ja, zh or en
    channel: str                    # sms_two_way, none, ...
    channel_reason: str
    status: SurveyStatus
    created_at: datetime
    completed_at: datetime
    phone: str | None = None        # needed to send; never logged
    email: str | None = None        # needed to send; never logged
    context: dict[str, str] = field(default_factory=dict)
    reason: str | None = None       # why suppressed / failed
    step: Step = Step.AWAIT_SCORE
    reprompts: int = 0
    score: int | None = None
    message_sid: str | None = None
    delivery_status: str | None = None
    delivery_error: str | None = None
    last_inbound_sid: str | None = None   # replay guard for the Twilio webhook
    last_reply_key: str | None = None     # what we answered to last_inbound_sid
    open_until: datetime | None = None
    send_at: datetime | None = None       # when a scheduled survey is released by the schedule
    remind_at: datetime | None = None     # when the one reminder goes out if still unanswered
    resends: int = 0                      # sends after the first: a carrier retry, another channel
    scale: str = "nps"                    # the first question's scale (domain/questions.py), frozen at send
    definition_version: int = 1           # the version of the procedure's survey definition asked
    place: Place | None = None            # the customer's country and zone; None: stored before places were
    line_user_id: str | None = None       # needed to push on LINE; never logged
    wechat_openid: str | None = None      # needed to send a WeChat template message; never logged


@dataclass(frozen=True)
class Contact:
    contact_key: str
    opted_out: bool = False
    active_survey_id: str | None = None
    active_until: datetime | None = None
    # The bounded survey history the fatigue rules read (domain/fatigue.py): (procedure, when).
    surveyed: tuple[tuple[str, datetime], ...] = ()
    history_version: int = 0            # written with the history: a concurrent change is seen

    def has_open_conversation(self, now: datetime) -> bool:
        return bool(self.active_survey_id and self.active_until and self.active_until > now)

    @property
    def last_surveyed(self) -> dict[str, datetime]:
        """The newest survey per procedure."""
        newest: dict[str, datetime] = {}
        for procedure, when in self.surveyed:
            newest[procedure] = max(when, newest.get(procedure, when))
        return newest


@dataclass(frozen=True)
class Answer:
    """One answered question; the responses table streams these to aggregation and escalation."""

    survey_id: str
    question: str                   # "score" or "comment"
    received_at: datetime
    procedure: str
    customer_id: str
    locale: str
    context: dict[str, str]
    score: int | None               # on "comment" too: the survey's score, for escalation
    text: str | None = None         # the comment, or the raw reply the score was read from
    threshold: int | None = None    # escalation threshold in force when answered
    phone_masked: str | None = None
    late: bool = False              # given after the response window: kept, and out of the scores
    channel: str = ""               # the survey's channel (sms_two_way, sms_link, email): a dimension
    scale: str = "nps"              # the scale the score was asked on: nps 0-10, csat 1-5, ces 1-7
    definition_version: int = 1     # the survey definition's version it was asked with
    place: Place | None = None      # the survey's customer place (None: recorded before places were)
    truncated: bool = False         # the reply was longer than any SMS: `text` is its start (domain/sms.py)


@dataclass(frozen=True)
class Counts:
    """A counter's totals. promoters/passives/detractors are the scale's high/mid/low classes
    (domain/scoring.py: CSAT satisfied/neutral/dissatisfied, CES easy/neutral/difficult)."""

    n: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score_sum: int = 0
    score_sq_sum: int = 0            # for the variance of a mean (CES) and its margin

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.n + other.n, self.promoters + other.promoters,
                      self.passives + other.passives, self.detractors + other.detractors,
                      self.score_sum + other.score_sum, self.score_sq_sum + other.score_sq_sum)
