"""Fakes of koe's own messaging interfaces (services/ports.py): they record what was sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import KoeError, RetryableSendError


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
class FakeDeadLetterMarks:
    marks: dict[str, str] = field(default_factory=dict)     # message id -> reason
    reads: int = 0
    refuse: bool = False

    def mark(self, message_id: str, reason: str) -> None:
        self._check()
        self.marks[message_id] = reason

    def reason_of(self, message_id: str) -> str | None:
        self._check()
        self.reads += 1
        return self.marks.get(message_id)

    def _check(self) -> None:
        if self.refuse:
            from chalicelib.errors import StorageThrottled

            raise StorageThrottled("idempotency table throttled")


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
    lose_answer: bool = False      # take the next email, then lose SES's answer (a 5xx or a timeout after it)
    ids: list[str] = field(default_factory=list)           # SES's message id of each email taken
    _n: int = 0

    def send(self, email: Any) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self._n += 1
        self.sent.append(email)
        self.ids.append(f"0106019a{self._n:08x}-ses-message-id-000000")
        if self.lose_answer:
            self.lose_answer = False
            raise RetryableSendError("ses unreachable: ReadTimeoutError", in_doubt=True)
        return self.ids[-1]


@dataclass
class FakeLine:
    """koe's LINE transport (services/ports.LineMessenger), recording each push and reply. A retry key
    seen before delivers nothing again (as LINE answers 409 with the first request's id); a reply token
    answers once. `fail_reply_with` / `fail_push_with` raise on the next reply / push."""

    pushed: list[dict[str, Any]] = field(default_factory=list)
    replied: list[dict[str, Any]] = field(default_factory=list)
    fail_reply_with: KoeError | None = None
    fail_push_with: KoeError | None = None
    _keys: dict[str, str] = field(default_factory=dict)
    _tokens: set[str] = field(default_factory=set)

    def push_survey(self, user_id: str, text: str, choices: Sequence[str], retry_key: str) -> str:
        return self._push(user_id, text, tuple(choices), retry_key)

    def push_text(self, user_id: str, text: str, retry_key: str) -> str:
        return self._push(user_id, text, (), retry_key)

    def reply(self, reply_token: str, text: str, choices: Sequence[str] = ()) -> str:
        if self.fail_reply_with is not None:
            error, self.fail_reply_with = self.fail_reply_with, None
            raise error
        if reply_token in self._tokens:
            from chalicelib.errors import ReplyTokenExpired

            raise ReplyTokenExpired("line 400 invalid reply token")
        self._tokens.add(reply_token)
        self.replied.append({"reply_token": reply_token, "text": text, "choices": tuple(choices)})
        return f"reply-{len(self.replied)}"

    def _push(self, user_id: str, text: str, choices: tuple[str, ...], retry_key: str) -> str:
        if self.fail_push_with is not None:
            error, self.fail_push_with = self.fail_push_with, None
            raise error
        if retry_key in self._keys:
            return self._keys[retry_key]
        request_id = f"push-{len(self.pushed) + 1}"
        self._keys[retry_key] = request_id
        self.pushed.append({"to": user_id, "text": text, "choices": choices, "retry_key": retry_key,
                            "request_id": request_id})
        return request_id


@dataclass
class FakeCnSms:
    """China SMS's transport (services/ports.CnSms): records each send, returns a BizId."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_with: KoeError | None = None       # raise this on the next send
    _n: int = 0

    def send(self, phone_number: str, message_name: str, params: Mapping[str, str], out_id: str,
             locale: str = "zh-CN") -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self._n += 1
        biz_id = f"{900000000000000 + self._n}^0"
        self.sent.append({"to": phone_number, "message": message_name, "params": dict(params), "out_id": out_id,
                          "locale": locale, "biz_id": biz_id})
        return biz_id


@dataclass
class FakeWeChat:
    """WeChat's transport (services/ports.WeChatMessenger): records each template message, returns a msgid."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_with: KoeError | None = None       # raise this on the next send
    _n: int = 0

    def send_template(self, openid: str, template_id: str, data: Mapping[str, str], url: str,
                      client_msg_id: str) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self._n += 1
        msgid = str(2_000_000_000 + self._n)
        self.sent.append({"to": openid, "template_id": template_id, "data": dict(data), "url": url,
                          "client_msg_id": client_msg_id, "msgid": msgid})
        return msgid
