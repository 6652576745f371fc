"""The every-minute schedule: close conversations whose window has passed.

How each one ends (answered without a comment, expired, or failed when the carrier never took the
message) is the lifecycle's decision (domain/survey_lifecycle.py); each frees the contact's slot.
Later issues add deferred sends, the one reminder and SLA escalations here.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.errors import StaleSurvey
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.ports import ConversationStore

BATCH = 100


def expire_conversations(store: ConversationStore, now: datetime) -> dict[str, int]:
    closed = raced = 0
    for survey in store.open_surveys_due(now, BATCH):
        status, reason = lifecycle.at_window_end(survey)
        try:
            survey_moves.close(store, survey, status, reason, now)
            closed += 1
        except StaleSurvey:
            raced += 1      # a reply arrived meanwhile; the next tick sees the new state
    if closed:
        count("ConversationsClosed", value=closed)
    logger.info("tick", extra={"closed": closed, "raced": raced})
    return {"closed": closed, "raced": raced}
