"""A new case from an answer, the comment that comes later, and the follow-up message for CRMs.
Which answers open a case is domain/case_rules.py's decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.case_ladder import Deadlines
from chalicelib.domain.case_rules import Verdict, callback_consent
from chalicelib.domain.cases import COMMENT_AT, ROBOT, Case, CaseComment, Owner, Severity, TimelineEntry, most_severe
from chalicelib.domain.model import Answer, Place


def below_threshold(answer: Answer) -> bool:
    """The survey's score is at or below the threshold in force when it was given."""
    return answer.score is not None and answer.threshold is not None and answer.score <= answer.threshold


@dataclass(frozen=True)
class Opening:
    """What a new case needs beyond the answer: the rules' verdict, its owner and deadlines."""

    verdict: Verdict
    owner: Owner
    owner_branch: str | None
    deadlines: Deadlines
    customer_place: Place
    owner_timezone: str
    comments: tuple[CaseComment, ...] = ()      # the comments that came with the answer, oldest first

    @property
    def comment(self) -> str | None:
        return self.comments[-1].text if self.comments else None


def case_comments(comments: Sequence[Answer]) -> tuple[CaseComment, ...]:
    """The comments with words in them, as a case keeps them, oldest first."""
    found = [CaseComment(c.received_at, c.text) for c in comments if c.text and c.text.strip()]
    return tuple(sorted(found, key=lambda c: c.at))


def _consent(comments: Sequence[CaseComment], before: bool | None = None) -> bool | None:
    """What the customer said last about being called (a later "please call" overrides an earlier "don't")."""
    for comment in comments:
        said = callback_consent(comment.text)
        before = before if said is None else said
    return before


def open_case(answer: Answer, opening: Opening, now: datetime) -> Case:
    consent = _consent(opening.comments)
    detail = {"severity": opening.verdict.severity.value, "reasons": ",".join(opening.verdict.reasons),
              "owner": str(opening.owner)}
    return Case(
        case_id=answer.survey_id, survey_id=answer.survey_id, procedure=answer.procedure,
        customer_id=answer.customer_id, score=answer.score if answer.score is not None else -1,
        opened_at=now, first_contact_due=opening.deadlines.first_contact_due,
        resolution_due=opening.deadlines.resolution_due, context=dict(answer.context),
        phone_masked=answer.phone_masked, comment=opening.comment, comments=opening.comments, locale=answer.locale,
        channel=answer.channel,
        severity=opening.verdict.severity, reasons=opening.verdict.reasons, callback_consent=consent,
        owner=opening.owner, owner_branch=opening.owner_branch, customer_timezone=opening.customer_place.timezone,
        owner_timezone=opening.owner_timezone, customer_place=opening.customer_place,
        ladder=opening.deadlines.ladder, timeline=(TimelineEntry(now, "opened", ROBOT, detail),))


def with_comment(case: Case, comment: CaseComment, verdict: Verdict | None, now: datetime) -> Case:
    """A comment of the customer's arrived after the case opened (the "why", or one more): kept with
    the others, it may raise the severity (a keyword) and say whether they may be called. The
    comment already on the case (a replay) changes nothing."""
    if case.has_comment(comment.at):
        return case
    severity = most_severe([case.severity, verdict.severity]) if verdict else case.severity
    reasons = case.reasons + tuple(r for r in (verdict.reasons if verdict else ()) if r not in case.reasons)
    comments = tuple(sorted(case.comments + (comment,), key=lambda c: c.at))
    return replace(case, comment=comments[-1].text, comments=comments, severity=severity, reasons=reasons,
                   callback_consent=_consent([comment], case.callback_consent),
                   timeline=case.timeline + (TimelineEntry(now, "comment", ROBOT, {
                       "severity": severity.value, COMMENT_AT: comment.at.isoformat()}),))


def with_sentiment(case: Case, severity: Severity, sentiment: str, score: float, version: str,
                   now: datetime) -> Case:
    """The comment was read as strongly negative (the sentiment rule, domain/case_rules.py) after its
    case opened: the case records it, once per comment version, and its severity may rise."""
    if sentiment_recorded(case, version):
        return case
    raised = most_severe([case.severity, severity])
    reasons = case.reasons + (() if "sentiment" in case.reasons else ("sentiment",))
    detail = {"severity": raised.value, "sentiment": sentiment, "score": f"{score:.2f}", "version": version}
    return replace(case, severity=raised, reasons=reasons,
                   timeline=case.timeline + (TimelineEntry(now, "sentiment", ROBOT, detail),))


def sentiment_recorded(case: Case, version: str) -> bool:
    return any(e.kind == "sentiment" and e.detail.get("version") == version for e in case.timeline)


# The follow-up message is a published contract for CRM consumers:
# chalicelib/schemas/follow-up-case.schema.json, versioned by this number. Version 2 added the
# severity, owner and deadlines, and a second message when the comment arrives after the case
# opened (`event`: "comment"); consumers upsert by case_id.
FOLLOW_UP_SCHEMA_VERSION = 2


def follow_up_message(case: Case, event: str = "opened", occurrence: str = "") -> dict[str, Any]:
    """What the follow-up queue carries: everything needed to call back, with a masked phone.

    Delivered at least once (SQS, and a function that dies between queueing it and recording that it
    did queues it again): `message_id` names the news itself (the case, the event, and for a comment
    which comment), the same in every copy, so the CRM takes each once."""
    return {
        "type": "FollowUpCase",
        "schema_version": FOLLOW_UP_SCHEMA_VERSION,
        "message_id": ":".join(part for part in (case.case_id, event, occurrence) if part),
        "event": event,
        "case_id": case.case_id,
        "survey_id": case.survey_id,
        "procedure": case.procedure,
        "branch": case.branch,
        "agent_id": case.agent_id,
        "score": case.score,
        "comment": case.comment,
        "customer_id": case.customer_id,
        "phone": case.phone_masked,
        "locale": case.locale,
        "severity": case.severity.value,
        "reasons": list(case.reasons),
        "callback_consent": case.callback_consent,
        "owner": str(case.owner),
        "opened_at": case.opened_at.isoformat(),
        "sla_due": case.first_contact_due.isoformat(),
        "resolution_due": case.resolution_due.isoformat(),
        "context": case.context,
    }


# Every character that could start a new line (or hide text) in an email, a chat message or a log.
_LINE_BREAKERS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): " ", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(value: object) -> str:
    """A value as one visible line: a customer's line breaks (or a forged "\nCase: ...") are shown
    as \\n, never obeyed, so no value can add a line to an alert."""
    return str(value).translate(_LINE_BREAKERS)
