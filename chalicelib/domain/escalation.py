"""When an answer escalates to a follow-up case, and what the CX team is told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.model import Answer, Case


def _below_threshold(answer: Answer) -> bool:
    """The survey's score is at or below the threshold in force when it was given."""
    return answer.score is not None and answer.threshold is not None and answer.score <= answer.threshold


def escalates(answer: Answer) -> bool:
    """A score at or below the threshold (per procedure, default 6) opens a case."""
    return answer.question == "score" and _below_threshold(answer)


def comment_for_case(answer: Answer) -> bool:
    """A comment on a survey whose score escalated: it belongs on the open case."""
    return answer.question == "comment" and _below_threshold(answer)


def open_case(answer: Answer, now: datetime, sla_hours: int, comment: str | None) -> Case:
    return Case(
        case_id=answer.survey_id,
        survey_id=answer.survey_id,
        procedure=answer.procedure,
        customer_id=answer.customer_id,
        score=answer.score if answer.score is not None else -1,
        opened_at=now,
        sla_due=now + timedelta(hours=sla_hours),
        context=dict(answer.context),
        phone_masked=answer.phone_masked,
        comment=comment,
    )


# The follow-up message is a published contract for CRM consumers:
# chalicelib/schemas/follow-up-case.schema.json, versioned by this number.
FOLLOW_UP_SCHEMA_VERSION = 1


def follow_up_message(case: Case) -> dict[str, Any]:
    """What the follow-up queue carries: everything needed to call back, with a masked phone."""
    return {
        "type": "FollowUpCase",
        "schema_version": FOLLOW_UP_SCHEMA_VERSION,
        "case_id": case.case_id,
        "survey_id": case.survey_id,
        "procedure": case.procedure,
        "branch": case.context.get("branch"),
        "agent_id": case.context.get("agent_id"),
        "score": case.score,
        "comment": case.comment,
        "customer_id": case.customer_id,
        "phone": case.phone_masked,
        "opened_at": case.opened_at.isoformat(),
        "sla_due": case.sla_due.isoformat(),
        "context": case.context,
    }


# Every character that could start a new line (or hide text) in an email, a chat message or a log.
_LINE_BREAKERS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): " ", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(value: object) -> str:
    """A value as one visible line: a customer's line breaks (or a forged "\nCase: ...") are shown
    as \\n, never obeyed, so no value can add a line to an alert."""
    return str(value).translate(_LINE_BREAKERS)


def alert_attributes(case: Case) -> dict[str, str]:
    """What subscribers of the CX alert topic can filter on (SNS message attributes)."""
    return {"procedure": case.procedure, "branch": case.context.get("branch", ""),
            "agent_id": case.context.get("agent_id", ""), "score": str(case.score)}


def alert_text(case: Case) -> tuple[str, str]:
    """Subject and body of the CX alert (SNS -> email / chat). Every value is rendered on its own
    line and cannot start another one."""
    branch = case.context.get("branch", "-")
    agent = case.context.get("agent_id", "-")
    subject = one_line(f"koe: score {case.score} on {case.procedure} ({branch})")[:100]
    fields = [
        ("Score", f"{case.score}/10"),
        ("Procedure", case.procedure),
        ("Branch", branch),
        ("Agent", agent),
        ("Customer", case.customer_id),
        ("Phone", case.phone_masked or "-"),
        ("Comment", case.comment or "(none yet)"),
        ("Case", case.case_id),
        ("Call back by", case.sla_due.isoformat()),
    ]
    return subject, "\n".join(f"{label}: {one_line(value)}" for label, value in fields)
