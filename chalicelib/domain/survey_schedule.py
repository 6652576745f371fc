"""What the schedule does with a survey whose time has come (services/tick.py): release a deferred
survey, send the one reminder, or neither yet.

Pure. The tick may come late (a stalled schedule, the local stack's clock moved 200 hours): the time
stored on the survey says when it became due, not that the moment is still right. So each decision
looks again at the response window (`open_until`) and at the customer's send window, given as
`opens`: `now` when the window is open, else its next opening (SendHours.next_opening on the
survey's stored place).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.model import Survey, SurveyStatus

# The one reminder goes to a customer who was sent the survey and has not answered: not to one
# still scheduled, reminded already, or whose survey has ended.
REMINDABLE = frozenset({SurveyStatus.SENT, SurveyStatus.DELIVERED})
# Released by the schedule: a deferred survey, and a send whose lease ended with no record of it
# (the services only offer a `sending` survey once its lease is over).
RELEASABLE = frozenset({SurveyStatus.SCHEDULED, SurveyStatus.SENDING})

ANSWERED = "answered"               # a score came (its "why?" may still come): no reminder
NOT_AWAITING = "not_awaiting"       # not sent yet, reminded already, or ended
WINDOW_OVER = "window_over"         # the response window has passed, or passes before the send window opens


@dataclass(frozen=True)
class Now:
    """Send it now."""


@dataclass(frozen=True)
class Later:
    """Not now: the customer's send window is closed; at `at`, still inside the response window."""

    at: datetime


@dataclass(frozen=True)
class Never:
    """Not at all; `reason` says why."""

    reason: str


Decision = Now | Later | Never


def _in_time(survey: Survey, now: datetime, opens: datetime) -> Decision:
    if survey.open_until is None or now >= survey.open_until:
        return Never(WINDOW_OVER)
    if opens <= now:
        return Now()
    return Later(opens) if opens < survey.open_until else Never(WINDOW_OVER)


def reminder(survey: Survey, now: datetime, opens: datetime) -> Decision:
    """The one reminder: only to a survey sent and unanswered, only inside its response window,
    only inside the customer's send window (else at its next opening, if the response window is
    still open then)."""
    if survey.status not in REMINDABLE:
        return Never(NOT_AWAITING)
    if survey.score is not None:
        return Never(ANSWERED)
    return _in_time(survey, now, opens)


def release(survey: Survey, now: datetime, opens: datetime) -> Decision:
    """A deferred survey: sent inside the customer's send window (a release postponed by the
    carrier, or a tick that came late, may fall outside it), and never once its response window has
    passed: a survey nobody could answer any more ends as the lifecycle says (never released, or
    never sent). A `sending` survey here is one whose send lease ended unrecorded."""
    if survey.status not in RELEASABLE or survey.message_sid is not None:
        return Never(NOT_AWAITING)
    return _in_time(survey, now, opens)
