"""What happens when answers are stored (responses table stream): scores move, cases open.

Aggregation writes one update per bucket per batch, exactly once per answer (a ledger of counted
answers in the same transaction: a re-delivered or bisected batch adds nothing twice). A case opens
when the case rules say so (domain/case_rules.py: a low score, a flagged comment, a repeat
detractor), one per survey (keyed by survey id), owned and timed by the case policy; the follow-up
message and the CX alert are each sent once, flagged on the case, so a replayed batch never
escalates twice. A comment that arrives after its case opened is added to the case (it may raise
the severity or say whether the customer may be called) and announced again (alert id per comment:
a replay is delivered once). Every comment counts: the rules read each one, two comments of a survey
in one batch included (the first with its score, the next as later comments), and the case keeps
each with its time (a replayed one is not added twice). A re-survey's answer records whether the
customer recovered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain import case_alerts, case_rules, escalation, fatigue, scoring
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.cases import ROBOT, Case, CaseComment, TimelineEntry
from chalicelib.domain.model import Answer
from chalicelib.errors import StaleCase, VersionConflict
from chalicelib.observability import count, logger
from chalicelib.services.ports import Alerts, CaseStore, FollowUps, ScoreStore

RESURVEY_OF = fatigue.RESURVEY_OF      # the context key a re-survey carries: the case it follows up


@dataclass(frozen=True)
class AnswerDeps:
    scores: ScoreStore
    cases: CaseStore
    follow_ups: FollowUps
    alerts: Alerts
    reporting_tz: ZoneInfo
    policy: CasePolicy
    clock: Callable[[], datetime]
    score_shards: int = 1
    request_insights: Callable[[list[Answer]], None] = lambda answers: None   # services/comment_insight.py


@dataclass(frozen=True)
class EscalationDeps:
    """What opening a case and adding to it take, without the scores: how the comment insight
    (services/comment_insight.py) opens a case for a strongly negative comment."""

    cases: CaseStore
    follow_ups: FollowUps
    alerts: Alerts
    policy: CasePolicy
    clock: Callable[[], datetime]


Escalation = AnswerDeps | EscalationDeps


def on_answers(answers: list[Answer], deps: AnswerDeps) -> dict[str, int]:
    items = scoring.contributions(answers, deps.reporting_tz)
    counted = deps.scores.count(items, deps.score_shards, deps.clock()) if items else 0
    totals = scoring.tally(items)
    with_score, later = _comments_by_role(answers)
    opened = updated = 0
    for answer in answers:
        if answer.question == "score":
            opened += _on_score(answer, with_score.get(answer.survey_id, ()), deps)
            if answer.context.get(RESURVEY_OF):
                _record_recovery(answer, deps)
    for comment in later:
        updated += _on_late_comment(comment, deps)
    deps.request_insights(answers)          # each comment is read for sentiment and key phrases, later
    logger.info("answers processed", extra={"answers": len(answers), "buckets": len(totals), "counted": counted,
                                            "cases_opened": opened, "cases_commented": updated})
    return {"answers": len(answers), "buckets": len(totals), "cases_opened": opened}


def _repeat_detractor(answer: Answer, rules: case_rules.Rules, deps: AnswerDeps) -> bool:
    if not rules.repeat_days or not escalation.below_threshold(answer):
        return False
    since = deps.clock() - timedelta(days=rules.repeat_days)
    return any(c.case_id != answer.survey_id and "score" in c.reasons
               for c in deps.cases.cases_of(answer.customer_id, since))


def _comments_by_role(answers: list[Answer]) -> tuple[dict[str, tuple[CaseComment, ...]], list[Answer]]:
    """The comments of the batch: the first one of a survey whose score is in the batch goes with
    the score (they were written together); every other is a later comment, in the order received."""
    scored = {a.survey_id for a in answers if a.question == "score"}
    comments = sorted((a for a in answers if a.question == "comment" and a.text and a.text.strip()),
                      key=lambda a: (a.survey_id, a.received_at))
    with_score: dict[str, tuple[CaseComment, ...]] = {}
    later: list[Answer] = []
    for comment in comments:
        if comment.survey_id in scored and comment.survey_id not in with_score:
            with_score[comment.survey_id] = escalation.case_comments([comment])
        else:
            later.append(comment)
    return with_score, sorted(later, key=lambda a: a.received_at)


def _on_score(answer: Answer, comments: tuple[CaseComment, ...], deps: AnswerDeps) -> int:
    rules = deps.policy.rules.for_procedure(answer.procedure)
    text = comments[-1].text if comments else None
    verdict = case_rules.assess(below_threshold=escalation.below_threshold(answer), comment=text,
                                locale=answer.locale, repeat=_repeat_detractor(answer, rules, deps), rules=rules)
    return escalate(answer, verdict, comments, deps) if verdict else 0


def escalate(answer: Answer, verdict: case_rules.Verdict, comments: tuple[CaseComment, ...], deps: Escalation) -> int:
    """Open the survey's case (once: keyed by survey id) with the comments that came with `answer`,
    then queue its follow-up and publish its alert, each once."""
    now = deps.clock()
    case = escalation.open_case(answer, deps.policy.opening(answer, verdict, comments, now), now)
    created = deps.cases.open_case(case)
    if not created:
        stored = deps.cases.get_case(case.case_id)
        if stored is None or (stored.follow_up_queued and stored.alert_published):
            return 0
        case = stored
    _notify(case, deps)
    if created:
        count("CaseOpened", procedure=case.procedure, severity=case.severity.value)
        logger.info("case opened", extra={"case_id": case.case_id, "severity": case.severity.value,
                                          "reasons": ",".join(case.reasons), "owner_kind": case.owner.kind.value})
    return int(created)


def _notify(case: Case, deps: Escalation) -> None:
    if not case.follow_up_queued:
        deps.follow_ups.put(escalation.follow_up_message(case))
        deps.cases.mark_notified(case.case_id, follow_up_queued=True)
    if not case.alert_published:
        publish(deps.alerts, case, "opened", deps.policy.routing.recipients(case, "owner"), deps.clock())
        deps.cases.mark_notified(case.case_id, alert_published=True)


def publish(alerts: Alerts, case: Case, event: str, recipients: tuple[str, ...], at: datetime,
            occurrence: str = "") -> None:
    message = case_alerts.alert(case, event, recipients, at, occurrence)
    alerts.publish(message, case_alerts.attributes(message))


def _on_late_comment(answer: Answer, deps: AnswerDeps) -> int:
    """A comment after the one that came with the score (the "why?" of a later SMS, one more post on
    the web page): onto the case (opening one if the comment alone flags it), announced once per
    comment (the alert id names the comment's time: a replay is delivered once)."""
    [comment] = escalation.case_comments([answer])
    case = deps.cases.get_case(answer.survey_id)
    if case is None:
        return _on_score(answer, (comment,), deps) if answer.score is not None else 0
    rules = deps.policy.rules.for_procedure(answer.procedure)
    keyword = case_rules.assess(below_threshold=False, comment=comment.text, locale=answer.locale, repeat=False,
                                rules=rules)
    if not case.has_comment(comment.at):
        case = save_retrying(case, lambda c: escalation.with_comment(c, comment, keyword, deps.clock()), deps)
    announced = replace(case, comment=comment.text)     # this comment, whichever is the case's latest
    occurrence = hashlib.sha256(f"{comment.at.isoformat()}|{comment.text}".encode()).hexdigest()[:12]
    deps.follow_ups.put(escalation.follow_up_message(announced, event="comment", occurrence=occurrence))
    publish(deps.alerts, announced, "comment", deps.policy.routing.recipients(case, "owner"), deps.clock(), occurrence)
    return 1


def _record_recovery(answer: Answer, deps: AnswerDeps) -> None:
    """The re-survey's score says whether the detractor came back: passive or promoter (recovered)."""
    case = deps.cases.get_case(answer.context[RESURVEY_OF])
    if case is None or case.recovered is not None or answer.score is None:
        return
    recovered = answer.score >= scoring.PASSIVE_FROM

    def record(c: Case) -> Case:
        entry = TimelineEntry(deps.clock(), "resurvey_answered", ROBOT,
                              {"score": str(answer.score), "recovered": str(recovered).lower()})
        return replace(c, recovered=recovered, timeline=c.timeline + (entry,))

    save_retrying(case, record, deps)
    count("CaseRecovered" if recovered else "CaseNotRecovered", procedure=case.procedure)


def save_retrying(case: Case, change: Callable[[Case], Case], deps: Escalation) -> Case:
    """Apply `change` at the case's version; once more on a fresh read if someone saved first
    (then the batch is retried: StaleCase is retryable)."""
    for _ in range(2):
        try:
            return deps.cases.save(change(case), case.version)
        except VersionConflict:
            fresh = deps.cases.get_case(case.case_id)
            if fresh is None:
                break
            case = fresh
    raise StaleCase(f"case {case.case_id} kept changing while koe added to it")
