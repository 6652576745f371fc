"""What SES reports about an email it sent: read from the JSON SES publishes to an SNS topic.

Two shapes say the same things (AWS: "Amazon SES notification contents" and "event publishing"):
- notifications of an identity: `{"notificationType": "Bounce" | "Complaint" | "Delivery", ...}`;
- event publishing of a configuration set (what koe's stack sets up):
  `{"eventType": "Bounce" | "Complaint" | "Delivery" | "Send" | "Reject" | ..., ...}`;
both with `mail` (the message: `messageId`, ...) and a `bounce`, `complaint` or `delivery` object
naming the recipients concerned. The SNS envelope (`{"Type": "Notification", "Message": "<that JSON>"}`)
is unwrapped too, for a queue subscribed without raw delivery.

What it means for koe (`services/email_feedback.py`): a permanent (hard) bounce or a complaint opts
the address out of email; a transient (soft) bounce and a delivery are only counted. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum
from typing import Any


class FeedbackKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"      # bounceType Permanent: the address does not exist, or is suppressed
    SOFT_BOUNCE = "soft_bounce"      # Transient (mailbox full, ...) or Undetermined: counted only
    COMPLAINT = "complaint"          # the recipient marked the email as spam
    DELIVERY = "delivery"
    OTHER = "other"                  # Send, Open, the setup notification ...: nothing to do


# Kinds that opt the address out of email, with the audit they record.
OPT_OUT_AUDIT = {FeedbackKind.HARD_BOUNCE: "ses:bounce", FeedbackKind.COMPLAINT: "ses:complaint"}


class UnreadableFeedback(ValueError):
    """Not a notification from SES (not JSON, or not the shape SES publishes)."""


@dataclass(frozen=True)
class Feedback:
    kind: FeedbackKind
    recipients: tuple[str, ...]      # bare addresses, lower case; never logged
    message_id: str = ""             # SES's message id (the survey's message_sid)
    detail: str = ""                 # bounceType/bounceSubType or complaintFeedbackType

    @property
    def opts_out(self) -> bool:
        return self.kind in OPT_OUT_AUDIT

    @property
    def audit(self) -> str:
        return OPT_OUT_AUDIT.get(self.kind, "")


def read(message: str) -> Feedback:
    """The feedback in one SNS message from SES; UnreadableFeedback for anything else."""
    body = _json(message)
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        body = _json(body["Message"])           # an SNS envelope (a queue without raw delivery)
    kind = body.get("eventType") or body.get("notificationType")
    if not isinstance(kind, str):
        raise UnreadableFeedback("neither eventType nor notificationType")
    mail = body.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    message_id = str(mail.get("messageId", ""))
    if kind == "Bounce":
        bounce = _object(body, "bounce")
        bounce_type = str(bounce.get("bounceType", ""))
        hard = bounce_type == "Permanent"
        return Feedback(FeedbackKind.HARD_BOUNCE if hard else FeedbackKind.SOFT_BOUNCE,
                        _addresses(bounce.get("bouncedRecipients"), "emailAddress"), message_id,
                        f"{bounce_type}/{bounce.get('bounceSubType', '')}")
    if kind == "Complaint":
        complaint = _object(body, "complaint")
        return Feedback(FeedbackKind.COMPLAINT, _addresses(complaint.get("complainedRecipients"), "emailAddress"),
                        message_id, str(complaint.get("complaintFeedbackType", "")))
    if kind == "Delivery":
        delivery = _object(body, "delivery")
        return Feedback(FeedbackKind.DELIVERY, _addresses(delivery.get("recipients"), None), message_id)
    return Feedback(FeedbackKind.OTHER, (), message_id, kind)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise UnreadableFeedback("not JSON") from exc
    if not isinstance(value, dict):
        raise UnreadableFeedback("not a JSON object")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise UnreadableFeedback(f"no {name} object")
    return value


def _addresses(items: Any, field: str | None) -> tuple[str, ...]:
    """Bare addresses, lower case, once each: `[{"emailAddress": ...}]`, or a list of strings."""
    found: list[str] = []
    for item in items if isinstance(items, list) else []:
        raw = item.get(field, "") if field and isinstance(item, dict) else item
        address = parseaddr(raw)[1].strip().lower() if isinstance(raw, str) else ""
        if "@" in address and address not in found:
            found.append(address)
    return tuple(found)
