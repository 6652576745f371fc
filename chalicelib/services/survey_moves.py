"""Writing a survey's move through its lifecycle: the one place that turns a move into a store write.

`domain/survey_lifecycle.py` says whether a move is allowed and what it does to the contact's
conversation slot; this module writes the survey, its answers and the contact change in one
atomic store write. Every service that changes a survey's status comes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Answer, Survey, SurveyStatus
from chalicelib.errors import StaleSurvey
from chalicelib.observability import count, logger
from chalicelib.services.ports import ContactChange, ConversationStore


def move(store: ConversationStore, old: Survey, new: Survey, now: datetime, *,
         answers: Sequence[Answer] = (), opted_out: bool | None = None, audit: str | None = None) -> None:
    """Write `new` on condition that the stored survey is still `old`. Raises IllegalTransition
    for a move the lifecycle does not allow, StaleSurvey when the survey changed meanwhile."""
    releases = lifecycle.slot_effect(old.status, new.status) is lifecycle.SlotEffect.RELEASE
    if not lifecycle.is_open(new.status):      # an ended survey is on no schedule: no reminder, no release
        new = replace(new, open_until=None, send_at=None, remind_at=None)
    change = (ContactChange(release=releases, opted_out=opted_out, audit=audit)
              if releases or opted_out is not None else None)
    store.update_survey(old, new, answers, change, now)


def close(store: ConversationStore, survey: Survey, status: SurveyStatus, reason: str | None,
          now: datetime, *, answers: Sequence[Answer] = (), opted_out: bool | None = None,
          audit: str | None = None, **changes: Any) -> Survey:
    """End an open survey with `status` and `reason` (plus any other field `changes`), freeing the
    contact's slot in the same write; returns the closed survey."""
    closed = replace(lifecycle.close(survey, status, reason), **changes)
    move(store, survey, closed, now, answers=answers, opted_out=opted_out, audit=audit)
    return closed


def record_reported_send(store: ConversationStore, survey: Survey, message_id: str, now: datetime,
                         reported_by: str) -> bool:
    """A provider's report names the survey and its message (Twilio's status callback, SES's Send or
    Delivery event): a survey still `sending` with no message recorded (its sender's record failed,
    or has not happened yet) is recorded `sent` from it, so no replay or schedule sends it again.
    False when there was nothing to record: already recorded, or changed meanwhile."""
    if survey.status is not SurveyStatus.SENDING or survey.message_sid is not None:
        return False
    try:
        move(store, survey, lifecycle.sent(survey, message_id), now)
    except StaleSurvey:
        return False
    count("SendRecordedByReport", channel=survey.channel, reported_by=reported_by)
    logger.info("send recorded from the provider's report", extra={"survey_id": survey.survey_id,
                                                                   "reported_by": reported_by})
    return True
