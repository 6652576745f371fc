"""The SMS conversation: score -> "why?" -> thanks, with one re-prompt on a reply it cannot read.

The score is read on the survey's scale (`Survey.scale`: NPS 0-10, CSAT 1-5, CES 1-7): "9" answers
an NPS survey and re-prompts a CSAT one. The reply is a template key; the templates word it for the
survey's scale (the re-prompt names the scale's range).

`next_turn` decides what a reply does to an open survey; the handle_reply service applies it.
Keywords (STOP/START/HELP) are read before this and never reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.model import Answer, Place, Step, Survey, SurveyStatus
from chalicelib.domain.phone import mask
from chalicelib.domain.questions import scale_of
from chalicelib.domain.replies import read_score

MAX_REPROMPTS = 1


@dataclass(frozen=True)
class Recorded:
    question: str          # "score" or "comment"
    score: int | None
    text: str | None


@dataclass(frozen=True)
class Turn:
    reply: str                       # template key: why, reprompt, thanks
    step: Step
    status: SurveyStatus             # the survey's status after this turn
    score: int | None
    reprompts: int
    recorded: tuple[Recorded, ...] = ()
    closes: bool = False             # the conversation ends: release the phone for future surveys
    unread_text: str | None = None   # a reply koe gave up reading: kept for the CX team


def next_turn(survey: Survey, text: str) -> Turn:
    if survey.step is Step.AWAIT_COMMENT:
        return _comment(survey, text)
    return _score(survey, text)


def _score(survey: Survey, text: str) -> Turn:
    answered = _answered_status(survey)
    reply = read_score(text, scale_of(survey.scale))
    if reply is None:
        if survey.reprompts < MAX_REPROMPTS:
            return Turn("reprompt", Step.AWAIT_SCORE, answered, None, survey.reprompts + 1)
        return Turn("thanks", Step.DONE, SurveyStatus.UNREADABLE, None, survey.reprompts,
                    closes=True, unread_text=text)
    recorded = (Recorded("score", reply.score, text),)
    if reply.comment:
        return Turn("thanks", Step.DONE, SurveyStatus.ANSWERED, reply.score, survey.reprompts,
                    recorded + (Recorded("comment", reply.score, reply.comment),), closes=True)
    return Turn("why", Step.AWAIT_COMMENT, answered, reply.score, survey.reprompts, recorded)


def _comment(survey: Survey, text: str) -> Turn:
    return Turn("thanks", Step.DONE, SurveyStatus.ANSWERED, survey.score, survey.reprompts,
                (Recorded("comment", survey.score, text.strip()),), closes=True)


def _answered_status(survey: Survey) -> SurveyStatus:
    # A reply proves delivery even when the status callback has not arrived yet.
    return SurveyStatus.DELIVERED if survey.status is SurveyStatus.SENT else survey.status


def recorded_answer(survey: Survey, question: str, score: int | None, text: str | None, now: datetime,
                    threshold: int, place: Place, *, truncated: bool = False) -> Answer:
    """The answer a survey records, by SMS or on the web page alike (the stream reads both the same):
    its frozen context, scale and definition version, the threshold in force, a masked phone, the
    customer's place (the survey's, or for a survey stored before places were, worked out from it:
    PlaceRules.of_survey), which a case opened from it keeps; and whether `text` is the start of a
    reply too long to keep whole."""
    return Answer(
        survey_id=survey.survey_id, question=question, received_at=now, procedure=survey.procedure,
        customer_id=survey.customer_id, locale=survey.locale, context=dict(survey.context),
        score=score, text=text, threshold=threshold, phone_masked=mask(survey.phone), channel=survey.channel,
        scale=survey.scale, definition_version=survey.definition_version, place=place, truncated=truncated,
    )
