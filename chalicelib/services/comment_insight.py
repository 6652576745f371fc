"""Comment insight: every comment is read for its sentiment and key phrases after it arrives, away
from the customer's request and from the responses stream.

1. `request_insights` (called by services/on_answers.py for every batch of the responses stream):
   each comment's survey id and version go to the comment-insight queue (no text: the queue carries
   no personal data).
2. `analyse_batch` (the queue's consumer, app.py `analyse_comments`), per record:
   - read the survey's comments as stored now, as one text (domain/comment_insight.thread: each
     comment, oldest first; a message for an older version reads the newer thread) and the insight
     stored for it: the same version again (a replayed or duplicated message) is skipped;
   - read it in its language (domain/comment_insight.language_for) with the analyser
     (Comprehend in AWS, an offline analyser locally; KOE_COMMENT_ANALYSER);
   - the sentiment rule (domain/case_rules.py, off unless `sentiment_below` is set): a strongly
     negative comment opens a case as a low score does (services/on_answers.py's `escalate`: owner,
     deadlines, follow-up message and alert, once), whatever the score; on a case that is already
     open it is recorded once per version, and the severity may rise.
   Then the batch's insights are stored in one write (per at most 100 items) with the group counters
   they move (sentiment counts and top phrases per group and day), each version counted once. A
   record whose comment got another version meanwhile is retried.

Errors map as in every queue (services/batch.py): UnanalysableComment and an unreadable message are
dead-lettered at once with the reason; throttling and other faults are retried, then dead-lettered
on the queue's last receive. Logs and metrics carry ids, languages and sentiments, never the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain import case_rules, escalation
from chalicelib.domain.comment_insight import (
    CommentInsight,
    InsightChange,
    UnreadableRequest,
    language_for,
    read_request,
    requests_for,
    thread,
    version_of,
)
from chalicelib.domain.model import Answer
from chalicelib.errors import InsightConflict, InvalidInsightRequest
from chalicelib.observability import count, logger
from chalicelib.services import batch
from chalicelib.services.batch import QueueRecord
from chalicelib.services.on_answers import Escalation, escalate, save_retrying
from chalicelib.services.ports import CommentAnalyser, CommentSource, DeadLetters, InsightRequests, InsightStore


@dataclass(frozen=True)
class InsightDeps:
    comments: CommentSource
    analyser: CommentAnalyser
    store: InsightStore
    dead_letters: DeadLetters
    # The case machinery, as the responses stream uses it: a strongly negative comment opens a case
    # exactly as a low score does (no scores: a comment's sentiment counts none).
    answers: Escalation
    reporting_tz: ZoneInfo
    clock: Callable[[], datetime]
    max_receives: int = 5


Pending = dict[str, tuple[QueueRecord, InsightChange]]      # survey id -> its record, its change


def request_insights(answers: Sequence[Answer], queue: InsightRequests) -> None:
    """Ask for the analysis of every comment among `answers`."""
    wanted = requests_for(answers)
    if wanted:
        queue.request(wanted)
        count("CommentInsightRequested", value=len(wanted))


def analyse_batch(records: Sequence[QueueRecord], deps: InsightDeps) -> list[str]:
    """Analyse each record's comment, then store the batch; returns the message ids SQS must
    deliver again."""
    pending: Pending = {}
    failures: list[str] = []
    for record in records:
        failures += _prepare_one(record, pending, deps)
    if pending:
        failures += _store(pending, deps)
    return failures


def _prepare_one(record: QueueRecord, pending: Pending, deps: InsightDeps) -> list[str]:
    def prepare(body: str) -> None:
        change = _prepare(body, pending, deps)
        if change is not None:
            pending[change.new.survey_id] = (record, change)

    return batch.process([record], prepare, deps.dead_letters, deps.max_receives)


def _prepare(body: str, pending: Pending, deps: InsightDeps) -> InsightChange | None:
    try:
        request = read_request(body)
    except UnreadableRequest as exc:
        raise InvalidInsightRequest(str(exc)) from exc
    if request.survey_id in pending:          # the same comment twice in one batch: analysed once
        return _skip(request.survey_id, "duplicate")
    comments = deps.comments.comments(request.survey_id)
    comment = thread(comments)
    if comment is None:
        return _skip(request.survey_id, "no_comment")     # expired (TTL), or never stored
    stored = deps.store.get(request.survey_id)
    if stored is not None and stored.version == version_of(comment):
        return _skip(request.survey_id, "already_analysed")
    language = language_for(comment.text or "", comment.locale)
    insight = deps.analyser.analyse(comment.text or "", language)
    new = CommentInsight.of(comment, insight, language, deps.reporting_tz, deps.clock())
    _apply_sentiment_rule(comment, comments, new, deps)
    count("CommentAnalysed", sentiment=new.sentiment.value, language=language)
    logger.info("comment analysed", extra={"survey_id": new.survey_id, "language": language,
                                           "sentiment": new.sentiment.value, "phrases": len(new.key_phrases),
                                           "replaces": stored.version if stored else None})
    return InsightChange(stored, new)


def _skip(survey_id: str, reason: str) -> InsightChange | None:
    """Nothing to analyse: counted and logged with its reason."""
    count("CommentInsightSkipped", reason=reason)
    logger.info("comment insight skipped", extra={"survey_id": survey_id, "reason": reason})
    return None


def _apply_sentiment_rule(comment: Answer, comments: Sequence[Answer], insight: CommentInsight,
                          deps: InsightDeps) -> None:
    answers = deps.answers
    rules = answers.policy.rules.for_procedure(comment.procedure)
    if not case_rules.strongly_negative(insight.score, rules):
        return
    verdict = case_rules.assess(below_threshold=escalation.below_threshold(comment), comment=comment.text,
                                locale=comment.locale, repeat=False, rules=rules, sentiment=insight.score)
    case = answers.cases.get_case(comment.survey_id)
    if case is None:
        if verdict is not None:
            escalate(comment, verdict, escalation.case_comments(comments), answers)     # the one way a case opens
        return
    if escalation.sentiment_recorded(case, insight.version):
        return
    now = deps.clock()
    save_retrying(case, lambda c: escalation.with_sentiment(
        c, rules.sentiment_severity, insight.sentiment.value, insight.score, insight.version, now), answers)
    count("CaseSentimentRecorded", procedure=case.procedure)
    logger.info("case sentiment recorded", extra={"case_id": case.case_id, "sentiment": insight.sentiment.value})


def _store(pending: Pending, deps: InsightDeps) -> list[str]:
    records = {survey_id: record for survey_id, (record, _) in pending.items()}
    try:
        conflicts = deps.store.save([change for _, change in pending.values()])
    except Exception as exc:  # noqa: BLE001 - mapped to retry or dead letter by services/batch.py
        return _fail(list(records.values()), exc, deps)
    if conflicts:
        logger.warning("comment replaced while analysed", extra={"records": len(conflicts)})
        return _fail([records[s] for s in sorted(conflicts)],
                     InsightConflict("another version of the comment was stored meanwhile"), deps)
    return []


def _fail(records: list[QueueRecord], error: Exception, deps: InsightDeps) -> list[str]:
    """What a record whose write failed becomes: retried, or dead-lettered (services/batch.py decides)."""
    def raise_it(body: str) -> None:
        raise error

    return batch.process(records, raise_it, deps.dead_letters, deps.max_receives)
