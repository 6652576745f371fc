"""The channels koe sends a survey on, one row each: what address reaches the customer, whether the
conversation runs on the channel itself, whether the carrier reports delivery, what a message costs,
which channel takes over when this one could not deliver, and how an answer comes back.

The rest of the code asks these rows instead of testing channel names: the channel policy (which
channels can reach a customer), the lifecycle (where an undelivered invitation goes next), the send
pacing (which sender account a send counts against), the settings and the export (which names are
channels). A channel's name is what surveys, answers and cases store; it never changes.

Adding a channel starts with a row here (see docs/architecture.md, "Adding a channel"). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class UnknownChannel(ValueError):
    """A channel name koe does not know (in configuration, or asked of the registry)."""


class AddressKind(StrEnum):
    """What koe must hold of a customer to reach them on a channel (the event's `customer.<kind>`)."""

    PHONE = "phone"                  # E.164
    EMAIL = "email"
    LINE_USER_ID = "line_user_id"    # "U" + 32 hex: the customer as koe's LINE official account knows them
    WECHAT_OPENID = "wechat_openid"  # the customer as koe's WeChat service account knows them (its openid)


class CostClass(StrEnum):
    """How a message is paid for."""

    SMS = "sms"          # per segment (160 GSM-7 / 70 UCS-2 characters), per country
    EMAIL = "email"      # per message, a fraction of an SMS
    LINE = "line"        # per push message (~3 yen on the standard plan); a reply with a reply token is free
    WECHAT = "wechat"    # a service account's template message: no per-message fee, a daily quota per template


class ReplyRoute(StrEnum):
    """How the customer's answer reaches koe."""

    SMS_WEBHOOK = "sms_webhook"    # they reply by SMS: the carrier's inbound webhook, the conversation by SMS
    LINE_WEBHOOK = "line_webhook"  # they tap a quick reply or write in LINE: LINE's signed webhook
    WEB_PAGE = "web_page"          # the invitation carries the survey page's link: the page's form POST
    NONE = "none"                  # a channel that only informs

    @property
    def on_the_channel(self) -> bool:
        """Whether answers come back over the channel itself (a two-way channel's conversation)."""
        return self in (ReplyRoute.SMS_WEBHOOK, ReplyRoute.LINE_WEBHOOK)


@dataclass(frozen=True)
class ChannelSpec:
    name: str                            # as stored on surveys, answers and cases
    address: AddressKind
    two_way: bool                        # the conversation (score, "why?", thanks) runs on the channel
    reports_delivery: bool               # the carrier reports each message's fate (status callbacks)
    cost: CostClass
    transport: str                       # the sender account it goes out through, paced as one (KOE_SEND_RATES)
    reply_arrives_by: ReplyRoute
    falls_back_to: tuple[str, ...] = ()  # tried in order when the carrier could not deliver


SMS_TWO_WAY = "sms_two_way"
SMS_LINK = "sms_link"
SMS_CN = "sms_cn"
LINE = "line"
WECHAT = "wechat"
EMAIL = "email"

_ROWS = (
    # Twilio SMS where carriers take replies: the customer answers "9" and the conversation goes on by SMS.
    ChannelSpec(SMS_TWO_WAY, AddressKind.PHONE, two_way=True, reports_delivery=True, cost=CostClass.SMS,
                transport="sms", reply_arrives_by=ReplyRoute.SMS_WEBHOOK, falls_back_to=(EMAIL,)),
    # Twilio SMS carrying the survey page's link, where replies are not carried but links are allowed.
    ChannelSpec(SMS_LINK, AddressKind.PHONE, two_way=False, reports_delivery=True, cost=CostClass.SMS,
                transport="sms", reply_arrives_by=ReplyRoute.WEB_PAGE, falls_back_to=(EMAIL,)),
    # China SMS (mainland numbers, Alibaba Cloud SMS): only approved templates go out (domain/cn_sms.py),
    # the invitation's carrying the survey page's link where its approved text puts it; answers come by
    # the page. Replies by SMS are read for the opt-out words alone (退订 stops everything). Alibaba
    # pushes a delivery report per message (its own sender account, paced as one).
    ChannelSpec(SMS_CN, AddressKind.PHONE, two_way=False, reports_delivery=True, cost=CostClass.SMS,
                transport="alibaba_sms", reply_arrives_by=ReplyRoute.WEB_PAGE, falls_back_to=(WECHAT, EMAIL)),
    # LINE (Japan's two-way channel): a push with quick-reply buttons on the survey's scale; the answer
    # comes back by LINE's signed webhook and the conversation goes on in the chat. LINE reports no
    # delivery of a push (a customer who blocked the account is accepted and not delivered: the
    # `unfollow` webhook says so, as an opt-out of LINE). Before email in the rows: a customer without
    # a phone who holds both is reached by LINE (channel_policy._without_phone).
    ChannelSpec(LINE, AddressKind.LINE_USER_ID, two_way=True, reports_delivery=False, cost=CostClass.LINE,
                transport="line", reply_arrives_by=ReplyRoute.LINE_WEBHOOK, falls_back_to=(SMS_LINK, EMAIL)),
    # WeChat (mainland China, optional per deployment): a service account's template message whose tap
    # opens the survey page (its `url`), to a customer who follows the account (their openid). Answers
    # come by the page. WeChat's send-job report comes by the account's event push: it is counted, and a
    # "user block" opts the openid out, as an `unsubscribe` event does; it is not kept on the survey.
    # Before email in the rows, as LINE: a customer without a phone who holds both is reached by WeChat.
    ChannelSpec(WECHAT, AddressKind.WECHAT_OPENID, two_way=False, reports_delivery=False, cost=CostClass.WECHAT,
                transport="wechat", reply_arrives_by=ReplyRoute.WEB_PAGE, falls_back_to=(EMAIL,)),
    # SES email with the same page (and an unsubscribe link). SES's delivery events are counted, not
    # kept on the survey; a bounce opts the address out instead.
    ChannelSpec(EMAIL, AddressKind.EMAIL, two_way=False, reports_delivery=False, cost=CostClass.EMAIL,
                transport="email", reply_arrives_by=ReplyRoute.WEB_PAGE),
)


class InvalidRegistry(ValueError):
    """Rows that contradict each other: a bug in this module, found when it is imported."""


class Registry:
    """Rows by name, checked once: unique names, fallbacks that exist and never lead back to where
    they started, a reply route that matches whether the channel is two-way."""

    def __init__(self, rows: Iterable[ChannelSpec]) -> None:
        self.rows = tuple(rows)
        self._by_name = {row.name: row for row in self.rows}
        problems = self._problems()
        if problems:
            raise InvalidRegistry("; ".join(problems))

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if len(self._by_name) != len(self.rows):
            problems.append("a channel name is used twice")
        for row in self.rows:
            problems += [f"{row.name} falls back to {name}, which is not a channel"
                         for name in row.falls_back_to if name not in self._by_name]
            if row.two_way != row.reply_arrives_by.on_the_channel:
                problems.append(f"{row.name}: two_way={row.two_way} but replies arrive by {row.reply_arrives_by}")
            if self._leads_back(row.name):
                problems.append(f"{row.name}: its fallbacks lead back to it")
        return problems

    def _leads_back(self, start: str) -> bool:
        seen: set[str] = set()
        todo = [name for name in self._by_name[start].falls_back_to if name in self._by_name]
        while todo:
            name = todo.pop()
            if name == start:
                return True
            if name not in seen:
                seen.add(name)
                todo += [n for n in self._by_name[name].falls_back_to if n in self._by_name]
        return False

    def get(self, name: str) -> ChannelSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownChannel(f"{name!r} is not a channel; channels: {', '.join(self._by_name)}") from None

    def find(self, name: str) -> ChannelSpec | None:
        return self._by_name.get(name)


REGISTRY = Registry(_ROWS)


def get(name: str) -> ChannelSpec:
    """The row of a channel; UnknownChannel for a name that is not one."""
    return REGISTRY.get(name)


def find(name: str) -> ChannelSpec | None:
    """The row of a channel, or None (a survey that was never sent stores the channel "none")."""
    return REGISTRY.find(name)


def all_channels() -> tuple[ChannelSpec, ...]:
    return REGISTRY.rows


def names() -> tuple[str, ...]:
    return tuple(row.name for row in REGISTRY.rows)


def two_way() -> tuple[ChannelSpec, ...]:
    return tuple(row for row in REGISTRY.rows if row.two_way)


def reaching(kind: AddressKind) -> tuple[ChannelSpec, ...]:
    """The channels an address of this kind reaches."""
    return tuple(row for row in REGISTRY.rows if row.address is kind)


def transports() -> tuple[str, ...]:
    """The sender accounts, each named once, in the order of the rows."""
    return tuple(dict.fromkeys(row.transport for row in REGISTRY.rows))


def falls_back_to(name: str) -> tuple[str, ...]:
    """Where an invitation on `name` goes when the carrier could not deliver it (nothing for a name
    that is not a channel)."""
    row = find(name)
    return row.falls_back_to if row is not None else ()
