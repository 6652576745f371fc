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

A batch is done in steps, in stream order (`steps_of`: a score with the comment that came with it,
or a later comment), so that a fault stops it part way and the stream resumes from the first step
not done (the responses stream reports it as a batch item failure: Lambda checkpoints before its
record). First the scores of the whole batch are counted (one update per bucket: if that fails,
nothing is done and the batch resumes from its first answer; a retry counts nothing twice, the
ledger says which answers were counted); then each step's cases; then the comments of the answers
done are sent for insight in one request (if that fails, the batch resumes from the first step
holding a comment). Everything before the answer it resumes from is done; what a retry reads again
after it is idempotent (a comment the case opened with is not announced again). A PermanentError
still fails the whole batch, as before: retrying cannot help, and the stream retries, bisects and
sends the record that keeps failing to its on-failure destination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain import case_alerts, case_rules, escalation, fatigue, scoring
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.cases import ROBOT, Case, CaseComment, TimelineEntry
from chalicelib.domain.model import Answer
from chalicelib.errors import PermanentError, StaleCase, VersionConflict
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


@dataclass(frozen=True)
class Step:
    """Answers done together: each score with the comment that came with it, then a later comment.
    `start` is the step's first position in the batch, where the stream resumes when it fails; a
    step that fails is done again whole (what it did before failing is idempotent)."""

    start: int
    scores: tuple[tuple[int, int | None], ...] = ()     # (a score, the comment that came with it)
    later: tuple[int, ...] = ()                          # a later comment

    @property
    def positions(self) -> frozenset[int]:
        return frozenset({self.start, *self.later, *(n for pair in self.scores for n in pair if n is not None)})


@dataclass(frozen=True)
class Progress:
    """How far a batch got: the answers before `resume_at` are done; None: all of them are."""

    answers: int
    cases_opened: int = 0
    resume_at: int | None = None


def on_answers(answers: Sequence[Answer], deps: AnswerDeps) -> Progress:
    """Count the batch's scores, open and add to its cases, ask for its comments' insight; a fault
    (any error but a PermanentError) stops it where it happened: see the module docstring."""
    answers = list(answers)
    items = scoring.contributions(answers, deps.reporting_tz)
    try:
        counted = deps.scores.count(items, deps.score_shards, deps.clock()) if items else 0
    except PermanentError:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing is done: the stream resumes from the first answer
        return _stopped(answers, 0, "scores", exc)
    steps = steps_of(answers)
    opened = updated = 0
    stop, error, phase = len(answers), None, "cases"
    for step in steps:
        try:
            step_opened, step_updated = _on_step(step, answers, deps)
        except PermanentError:
            raise
        except Exception as exc:  # noqa: BLE001 - the steps before are done: the stream resumes from this one
            stop, error = step.start, exc
            break
        opened, updated = opened + step_opened, updated + step_updated
    if stop:
        try:
            deps.request_insights(answers[:stop])   # each comment is read for sentiment and key phrases, later
        except PermanentError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream resumes from the first comment not asked for
            stop, error, phase = _first_comment(steps, answers, stop), exc, "insights"
    logger.info("answers processed", extra={"answers": len(answers), "done": stop,
                                            "buckets": len(scoring.tally(items)), "counted": counted,
                                            "cases_opened": opened, "cases_commented": updated})
    if error is not None:
        return _stopped(answers, stop, phase, error, opened)
    return Progress(len(answers), opened)


def steps_of(answers: Sequence[Answer]) -> list[Step]:
    """The batch in steps, one per position not yet taken by an earlier step, in stream order: a
    score with the comment that came with it (wherever that comment lies in the batch); a later
    comment, after its survey's score when the score lies further on (the score is done first); a
    comment whose score an earlier step took, nothing. A step is as small as the answers it joins,
    so a fault costs the retry of one survey's answers, not of everything between a score and its
    comment. A retry from a step's start may hold a comment whose score lies before it (done): it
    reads as a later comment, and the case it opened with it is not announced again
    (`Case.opened_with`)."""
    first_score: dict[str, int] = {}
    for n, answer in enumerate(answers):
        if answer.question == "score":
            first_score.setdefault(answer.survey_id, n)
    with_score, later = _comments_by_role(answers, first_score)
    goes_with = {comment: first_score[survey_id] for survey_id, comment in with_score.items()}
    taken: set[int] = set()
    steps: list[Step] = []
    for n, answer in enumerate(answers):
        if n in taken:
            continue
        score = goes_with.get(n) if n not in later else first_score.get(answer.survey_id)
        if answer.question == "score":
            step = Step(n, scores=((n, with_score.get(answer.survey_id)),))
        elif score is not None and score > n and score not in taken:
            step = Step(n, scores=((score, with_score.get(answer.survey_id)),), later=(n,) if n in later else ())
        else:
            step = Step(n, later=(n,) if n in later else ())
        taken |= step.positions
        steps.append(step)
    return steps


def _on_step(step: Step, answers: list[Answer], deps: AnswerDeps) -> tuple[int, int]:
    """Cases opened and cases commented by one step."""
    opened = updated = 0
    for score, comment in step.scores:
        answer = answers[score]
        comments = escalation.case_comments([answers[comment]]) if comment is not None else ()
        opened += _on_score(answer, comments, deps)
        if answer.context.get(RESURVEY_OF):
            _record_recovery(answer, deps)
    for comment in step.later:
        updated += _on_late_comment(answers[comment], deps)
    return opened, updated


def _first_comment(steps: list[Step], answers: list[Answer], stop: int) -> int:
    """Where a batch resumes when its comments' insight could not be asked for: the first step
    that holds a comment of the answers before `stop` (the ones asked for); its first answer if
    none does."""
    return next((step.start for step in steps if step.start < stop
                 and any(answers[p].question == "comment" for p in step.positions if p < stop)), 0)


def _stopped(answers: list[Answer], stop: int, phase: str, error: Exception, opened: int = 0) -> Progress:
    """Log and count where the batch stopped: ids and counts, never an answer's words."""
    count("AnswersRetried", value=len(answers) - stop)
    logger.warning("answers stopped part way: the stream resumes from the first not done", extra={
        "answers": len(answers), "done": stop, "resume_at": stop, "phase": phase,
        "survey_id": answers[stop].survey_id, "question": answers[stop].question, "error": type(error).__name__})
    return Progress(len(answers), opened, resume_at=stop)


def _repeat_detractor(answer: Answer, rules: case_rules.Rules, deps: AnswerDeps) -> bool:
    if not rules.repeat_days or not escalation.below_threshold(answer):
        return False
    since = deps.clock() - timedelta(days=rules.repeat_days)
    return any(c.case_id != answer.survey_id and "score" in c.reasons
               for c in deps.cases.cases_of(answer.customer_id, since))


def _comments_by_role(answers: Sequence[Answer], scored: dict[str, int]) -> tuple[dict[str, int], set[int]]:
    """The comments of the batch, by position: the first one of a survey whose score is in the batch
    goes with the score (they were written together); every other is a later comment."""
    comments = sorted((n for n, a in enumerate(answers) if a.question == "comment" and a.text and a.text.strip()),
                      key=lambda n: (answers[n].survey_id, answers[n].received_at, n))
    with_score: dict[str, int] = {}
    later: set[int] = set()
    for n in comments:
        survey_id = answers[n].survey_id
        if survey_id in scored and survey_id not in with_score:
            with_score[survey_id] = n
        else:
            later.add(n)
    return with_score, later


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
    if case.opened_with(comment.at):
        return 0                # the comment the case opened with, read again by a retry: announced with it
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
