"""Fakes of koe's own messaging interfaces (services/ports.py): they record what was sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import KoeError


@dataclass
class FakeSms:
    sent: list[dict[str, str]] = field(default_factory=list)
    fail_with: KoeError | None = None       # raise this on the next send
    _n: int = 0

    def send(self, to: str, body: str, status_callback: str) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self._n += 1
        sid = f"SM{self._n:032x}"
        self.sent.append({"to": to, "body": body, "status_callback": status_callback, "sid": sid})
        return sid


@dataclass
class FakeIntakeQueue:
    events: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False

    def enqueue(self, events: Sequence[dict[str, Any]]) -> list[int]:
        if self.refuse:
            return list(range(len(events)))
        self.events.extend(events)
        return []


@dataclass
class FakeDeadLetters:
    letters: list[dict[str, str]] = field(default_factory=list)

    def put(self, body: str, reason: str, source_id: str) -> None:
        self.letters.append({"body": body, "reason": reason, "source_id": source_id})


@dataclass
class FakeFollowUps:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def put(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


@dataclass
class FakeAlerts:
    """The CX alert topic: keeps each published message and its attributes."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    attributes: list[dict[str, str]] = field(default_factory=list)     # one per published alert
    fail_next: bool = False

    def publish(self, message: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise KoeError("topic unavailable")
        self.messages.append(dict(message))
        self.attributes.append(dict(attributes))

    @property
    def published(self) -> list[dict[str, Any]]:
        return self.messages

    def ids(self) -> list[str]:
        return [m["alert_id"] for m in self.messages]


@dataclass
class FakeEmail:
    """The email transport (SES), as the EmailSender port sees it: keeps what it was asked to send."""

    sent: list[Any] = field(default_factory=list)          # OutgoingEmail
    fail_with: Exception | None = None                     # raise this on the next send
    _n: int = 0

    def send(self, email: Any) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self._n += 1
        self.sent.append(email)
        return f"0106019a{self._n:08x}-ses-message-id-000000"
