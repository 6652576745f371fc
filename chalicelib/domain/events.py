"""The "procedure completed" event: the contract with operations systems (docs/event-schema.md).

Validation against the published JSON Schema happens first (adapters/schema.py); this module turns a
valid payload into a typed event and unwraps the EventBridge envelope.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.channels import AddressKind

EVENTBRIDGE_DETAIL_TYPE = "ProcedureCompleted"
# What the published schema allows (schemas/procedure-completed.schema.json; a unit test keeps them
# equal). A survey and its case are named by the event id, so an id longer than this names nothing
# koe stores: the HTTP edge refuses it with a named 400 before any store is asked (DynamoDB would
# refuse a key over 2,048 bytes with a 500).
MAX_EVENT_ID_CHARS = 128
MAX_CONTEXT_VALUE_CHARS = 256            # branch, agent_id, ...
PROCEDURE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A LINE user id as LINE writes it: "U" and 32 lower-case hex digits (the schema's pattern; a unit test
# keeps them equal). An id of another shape could never be pushed to: the event is refused, named.
LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")
# A WeChat openid (the schema's pattern): 28 characters of [A-Za-z0-9_-] as WeChat issues them, 20 to 64
# accepted (domain/wechat.valid_openid).
WECHAT_OPENID = re.compile(r"[A-Za-z0-9_-]{20,64}")


@dataclass(frozen=True)
class Customer:
    id: str
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    timezone: str | None = None
    line_user_id: str | None = None      # linked to koe's LINE official account; never logged
    wechat_openid: str | None = None     # a follower of koe's WeChat service account; never logged

    def addresses(self) -> dict[AddressKind, str]:
        """The customer's addresses by kind (domain/channels.py), only those the event carries."""
        held = {AddressKind.PHONE: self.phone, AddressKind.EMAIL: self.email,
                AddressKind.LINE_USER_ID: self.line_user_id, AddressKind.WECHAT_OPENID: self.wechat_openid}
        return {kind: address for kind, address in held.items() if address}

    @property
    def contact_address(self) -> str:
        """The address the customer's contact is keyed by (its opt-out, its survey history, its one open
        conversation): the phone, else the email, else the LINE user id, else the WeChat openid. A
        survey sent on LINE is keyed by the LINE user id instead (services/dispatch.py): LINE's opt-out
        and conversation are that address's own. A WeChat openid's own contact holds its opt-out
        (the customer unfollowed the service account)."""
        return self.phone or self.email or self.line_user_id or self.wechat_openid or ""


@dataclass(frozen=True)
class ProcedureCompleted:
    event_id: str
    procedure: str
    completed_at: datetime
    customer: Customer
    context: dict[str, str] = field(default_factory=dict)


class NotAnEvent(ValueError):
    """The message body is neither a bare event nor an EventBridge envelope carrying one."""


def unwrap(body: Any) -> Any:
    """The event inside a queue message: bare (HTTP intake) or under `detail` (EventBridge rule)."""
    if isinstance(body, Mapping) and "detail" in body and "detail-type" in body:
        if body["detail-type"] != EVENTBRIDGE_DETAIL_TYPE:
            raise NotAnEvent(f"detail-type {body['detail-type']!r} is not {EVENTBRIDGE_DETAIL_TYPE}")
        return body["detail"]
    return body


def from_payload(payload: Mapping[str, Any]) -> ProcedureCompleted:
    """A schema-valid payload as a typed event."""
    customer = payload["customer"]
    return ProcedureCompleted(
        event_id=payload["event_id"],
        procedure=payload["procedure"],
        completed_at=datetime.fromisoformat(payload["completed_at"]),
        customer=Customer(
            id=customer["id"],
            phone=customer.get("phone"),
            email=customer.get("email"),
            locale=customer.get("locale"),
            timezone=customer.get("timezone"),
            line_user_id=customer.get("line_user_id"),
            wechat_openid=customer.get("wechat_openid"),
        ),
        context={str(k): str(v) for k, v in (payload.get("context") or {}).items()},
    )


def fingerprint(payload: Mapping[str, Any]) -> str:
    """The same event, however its keys are ordered or spaced, has the same fingerprint."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
