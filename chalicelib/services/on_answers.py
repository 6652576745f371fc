"""What happens when answers are stored (responses table stream): scores move, detractors escalate.

Aggregation writes one update per bucket per batch, idempotent on the batch token. Escalation opens
one case per survey (keyed by survey id); the follow-up message and the CX alert are each sent once,
flagged on the case, so a replayed batch never escalates twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain import escalation, scoring
from chalicelib.domain.model import Answer, Case
from chalicelib.observability import count, logger
from chalicelib.services.ports import Alerts, CaseStore, FollowUps, ScoreStore


@dataclass(frozen=True)
class AnswerDeps:
    scores: ScoreStore
    cases: CaseStore
    follow_ups: FollowUps
    alerts: Alerts
    reporting_tz: ZoneInfo
    sla_hours: int
    clock: Callable[[], datetime]


def on_answers(answers: list[Answer], batch_token: str, deps: AnswerDeps) -> dict[str, int]:
    totals = scoring.tally(answers, deps.reporting_tz)
    if totals:
        deps.scores.add(totals, batch_token)
    comments = {a.survey_id: a.text for a in answers if a.question == "comment" and a.text}
    opened = attached = 0
    for answer in answers:
        if escalation.escalates(answer):
            opened += _escalate(answer, comments.get(answer.survey_id), deps)
        elif escalation.comment_for_case(answer) and not _scored_in_batch(answer, answers):
            attached += deps.cases.attach_comment(answer.survey_id, answer.text or "")
    logger.info("answers processed", extra={"answers": len(answers), "buckets": len(totals),
                                            "cases_opened": opened, "comments_attached": attached})
    return {"answers": len(answers), "buckets": len(totals), "cases_opened": opened}


def _scored_in_batch(comment: Answer, answers: list[Answer]) -> bool:
    return any(a.survey_id == comment.survey_id and a.question == "score" for a in answers)


def _escalate(answer: Answer, comment: str | None, deps: AnswerDeps) -> int:
    case = escalation.open_case(answer, deps.clock(), deps.sla_hours, comment)
    created = deps.cases.open_case(case)
    if not created:
        stored = deps.cases.get_case(case.case_id)
        if stored is None or (stored.follow_up_queued and stored.alert_published):
            return 0
        case = stored
    _notify(case, deps)
    if created:
        count("CaseOpened", procedure=case.procedure)
        logger.info("case opened", extra={"case_id": case.case_id, "score": case.score})
    return int(created)


def _notify(case: Case, deps: AnswerDeps) -> None:
    if not case.follow_up_queued:
        deps.follow_ups.put(escalation.follow_up_message(case))
        deps.cases.mark_notified(case.case_id, follow_up_queued=True, alert_published=case.alert_published)
    if not case.alert_published:
        subject, body = escalation.alert_text(case)
        deps.alerts.publish(subject, body, escalation.alert_attributes(case))
        deps.cases.mark_notified(case.case_id, follow_up_queued=True, alert_published=True)


def batch_token(sequence_numbers: list[str]) -> str:
    """The same stream batch, retried, gets the same token: its counts are added once."""
    return hashlib.sha256("|".join(sequence_numbers).encode()).hexdigest()[:36]
