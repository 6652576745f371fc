"""The every-minute schedule: close conversations whose window has passed.

A score without a "why?" still counts (answered); no reply at all expires the survey; a send
the carrier never confirmed fails. Each frees the phone for later surveys. Later issues add
deferred sends, the one reminder and SLA escalations here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.domain.model import Step, Survey, SurveyStatus
from chalicelib.errors import StaleSurvey
from chalicelib.observability import count, logger
from chalicelib.services.ports import ContactChange, ConversationStore

BATCH = 100


def _closing(survey: Survey) -> Survey:
    if survey.score is not None:
        status, reason = SurveyStatus.ANSWERED, "no_comment"
    elif survey.status is SurveyStatus.SENDING:
        status, reason = SurveyStatus.FAILED, "send_not_confirmed"
    else:
        status, reason = SurveyStatus.EXPIRED, "no_reply"
    return replace(survey, status=status, step=Step.DONE, reason=reason, open_until=None)


def expire_conversations(store: ConversationStore, now: datetime) -> dict[str, int]:
    closed = raced = 0
    for survey in store.open_surveys_due(now, BATCH):
        try:
            store.update_survey(survey, _closing(survey), (), ContactChange(release=True), now)
            closed += 1
        except StaleSurvey:
            raced += 1      # a reply arrived meanwhile; the next tick sees the new state
    if closed:
        count("ConversationsClosed", value=closed)
    logger.info("tick", extra={"closed": closed, "raced": raced})
    return {"closed": closed, "raced": raced}
