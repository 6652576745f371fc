"""What SES reports about an email it sent: read from the JSON SES publishes to an SNS topic.

Two shapes say the same things (AWS: "Amazon SES notification contents" and "event publishing"):
- notifications of an identity: `{"notificationType": "Bounce" | "Complaint" | "Delivery", ...}`;
- event publishing of a configuration set (what koe's stack sets up):
  `{"eventType": "Bounce" | "Complaint" | "Delivery" | "Send" | "Reject" | ..., ...}`;
both with `mail` (the message: `messageId`, ...) and a `bounce`, `complaint` or `delivery` object
naming the recipients concerned. The SNS envelope (`{"Type": "Notification", "Message": "<that JSON>"}`)
is unwrapped too, for a queue subscribed without raw delivery.

What it means for koe (`services/email_feedback.py`): a permanent (hard) bounce or a complaint opts
the address out of email; a transient (soft) bounce is only counted. A "Send" (SES took the email)
and a delivery of a survey's invitation name the survey by the message tag koe sent it with
(`SURVEY_TAG`, SendEmail's `EmailTags`, which SES repeats in each event's `mail.tags`): the send is
recorded from it when the sender could not record it, as Twilio's status callback records an SMS.
Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum
from typing import Any


class FeedbackKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"      # bounceType Permanent: the address does not exist, or is suppressed
    SOFT_BOUNCE = "soft_bounce"      # Transient (mailbox full, ...) or Undetermined: counted only
    COMPLAINT = "complaint"          # the recipient marked the email as spam
    DELIVERY = "delivery"
    SEND = "send"                    # SES took the email (before it tried to deliver it)
    OTHER = "other"                  # Open, Click, the setup notification ...: nothing to do


# The message tag that names a survey's invitation. SES takes a tag value of at most 256 ASCII
# letters, digits, "_" and "-" (API reference, MessageTag): an event id of those goes as it is after
# "i-"; any other as "h-" and the hex of its UTF-8 (at most 127 bytes then); a longer one is not tagged.
SURVEY_TAG = "koe_survey"
_TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")


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
    survey_id: str | None = None     # the survey whose invitation this is (its message tag)

    @property
    def opts_out(self) -> bool:
        return self.kind in OPT_OUT_AUDIT

    @property
    def audit(self) -> str:
        return OPT_OUT_AUDIT.get(self.kind, "")

    @property
    def records_a_send(self) -> bool:
        """SES took (or delivered) a survey's invitation: its send can be recorded from this."""
        return self.kind in (FeedbackKind.SEND, FeedbackKind.DELIVERY) and bool(self.survey_id and self.message_id)


def survey_tag(survey_id: str) -> str | None:
    """The message tag value that names `survey_id` (None: too long to name in a tag)."""
    plain = f"i-{survey_id}"
    if _TAG_VALUE.fullmatch(plain):
        return plain
    encoded = "h-" + survey_id.encode("utf-8").hex()
    return encoded if len(encoded) <= 256 else None


def survey_of(tag: str) -> str | None:
    """The survey id a message tag value names; None for a value koe did not make."""
    kind, _, value = tag.partition("-")
    if not value or not _TAG_VALUE.fullmatch(tag):
        return None
    if kind == "i":
        return value
    if kind == "h":
        try:
            return bytes.fromhex(value).decode("utf-8")
        except ValueError:
            return None
    return None


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
    survey_id = _tagged_survey(mail.get("tags"))
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
        return Feedback(FeedbackKind.DELIVERY, _addresses(delivery.get("recipients"), None), message_id,
                        survey_id=survey_id)
    if kind == "Send":
        return Feedback(FeedbackKind.SEND, (), message_id, kind, survey_id=survey_id)
    return Feedback(FeedbackKind.OTHER, (), message_id, kind)


def _tagged_survey(tags: object) -> str | None:
    """`mail.tags` is {name: [values]}: the survey the email was sent for, if koe tagged it."""
    values = tags.get(SURVEY_TAG) if isinstance(tags, dict) else None
    if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
        return None
    return survey_of(values[0])


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
