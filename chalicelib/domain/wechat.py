"""WeChat (China's messaging app): the rules koe sends a service account's **template messages** by, and
what the account's webhook says. Pure: the adapter (adapters/wechat.py) verifies signatures and talks to
WeChat through wechatpy.

A Chinese customer who follows koe's service account (公众号) is known to it by an **openid**: an id of
that customer for that account only (another account sees another openid). WeChat writes them as 28
characters of ``[A-Za-z0-9_-]`` (``o`` first, in practice); koe accepts 20 to 64 characters of that
alphabet (``valid_openid``), so a longer id WeChat might issue one day is not refused by koe before
WeChat has a say, while a phone number, an email or a LINE id (``U`` + 32 hex digits: 33 characters of
the alphabet, so the length alone does not tell; it is the caller's channel that does) is refused early.

What is here:

- ``TemplateBook``: per locale (``zh-CN``, the default; ``en``, optional) and message (``invitation``,
  ``reminder``, ``closing``) the template chosen in the account's console (``template_id``), the title
  WeChat shows above it, and its ``fields``: keyword name (``first``, ``keyword1``, ``thing2``,
  ``remark`` ...) -> a text in which koe fills ``{procedure}``, ``{brand}`` and ``{date}``, and nothing
  else: an unknown placeholder stops the function at start-up (``InvalidTemplateBook``), not at the
  first send. Read from KOE_WECHAT_TEMPLATES (``TemplateBook.from_config``); ``DEFAULT_TEMPLATES`` is
  a fictional book for the local stack. The survey page's link is not a field: it is the message's
  ``url`` (tapping the message opens it).
- ``client_msg_id``: WeChat's anti-replay id of a template message (the same openid and id within about
  10 minutes send once), the same for the same survey and message.
- ``delivery_outcome``: the ``Status`` of a ``TEMPLATESENDJOBFINISH`` event (``success``,
  ``failed:user block``, ``failed: system failed``) as delivered / blocked / failed.
- ``parse_notice``: one webhook push (plaintext XML) as ``WeChatNotice``: subscribe, unsubscribe,
  send_finished, text, or other (kept with WeChat's own type, never dropped unseen), with a
  ``dedupe_key`` (WeChat retries a push it got no answer to within 5 s, three times: "消息排重，推荐使用
  msgid排重。事件类型消息推荐使用FromUserName + CreateTime 排重").
- ``is_opt_out``: a customer's text read for the opt-out words of Chinese networks (退订, TD, T, 取消订阅:
  cn_sms.OPT_OUT_WORDS, read by domain/opt_out.py in a Chinese conversation). Unsubscribing from the
  account (``unsubscribe``) is itself an opt-out of WeChat.

Parsing uses the standard library's XML parser (this package imports nothing else); a body with a
DOCTYPE is refused before it is parsed, so no entity of any kind is expanded (WeChat never sends one).

Sources: WeChat Official Accounts documentation (developers.weixin.qq.com/doc/offiaccount):
"模板消息接口" (send: ``touser``, ``template_id``, ``url``, ``data``, ``client_msg_id`` "防重入id。对于同一个
openid + client_msg_id, 只发送一条消息,10分钟有效"; the ``TEMPLATESENDJOBFINISH`` event and its Status
values), "接收普通消息" / "接收事件推送" (the XML of text messages and subscribe / unsubscribe events),
"获取用户基本信息" (the openid), and wechatpy 1.8's parser for the same fields.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain import cn_sms, opt_out

OPENID_MIN, OPENID_MAX = 20, 64
DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
MESSAGES = ("invitation", "reminder", "closing")
PLACEHOLDERS = frozenset({"procedure", "brand", "date"})
CLIENT_MSG_ID_WINDOW = timedelta(minutes=10)     # WeChat's: "10分钟有效"
MAX_BODY_BYTES = 64 * 1024                       # a push is a few hundred bytes; a text at most 2,048 characters
SIGNATURE_MAX_AGE = timedelta(minutes=5)         # koe's: a signed query older than this is not taken
OPT_OUT_WORDS = cn_sms.OPT_OUT_WORDS

_OPENID = re.compile(rf"[A-Za-z0-9_-]{{{OPENID_MIN},{OPENID_MAX}}}")
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_-]{10,64}")
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DOCTYPE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class InvalidOpenId(ValueError):
    """Not a WeChat openid (20 to 64 characters of A-Z a-z 0-9 _ -). Never carries the value."""


class InvalidTemplateBook(ValueError):
    """The template configuration cannot be used: names the locale, message and problem, never a text."""


class UnknownTemplate(LookupError):
    """No template for this message, in this locale nor in the default one."""

    def __init__(self, locale: str, message: str):
        self.locale, self.message = locale, message
        super().__init__(f"no WeChat template for {message!r} in {locale!r}")


class MissingValues(ValueError):
    """A send lacks a value (or has an empty one) for a placeholder its template uses. Names only."""

    def __init__(self, template_id: str, missing: set[str]):
        self.template_id, self.missing = template_id, tuple(sorted(missing))
        super().__init__(f"template {template_id}: no value for {', '.join(self.missing)}")


class UnreadableWebhook(ValueError):
    """Not a WeChat push in plaintext XML: names the field, never a value."""


def valid_openid(openid: str) -> bool:
    return isinstance(openid, str) and _OPENID.fullmatch(openid) is not None


def check_openid(openid: str) -> str:
    """`openid` when it is one; InvalidOpenId otherwise."""
    if not valid_openid(openid):
        raise InvalidOpenId("not a WeChat openid: 20 to 64 characters of A-Z a-z 0-9 _ -")
    return openid


def mask(openid: str | None) -> str | None:
    """How logs name an openid: its first 4 characters and ***, as phone.mask keeps a number's last four.
    (The first characters are much the same for every follower of one account: this names the account's
    kind of id, never the customer.)"""
    if not openid:
        return None
    return f"{openid[:4]}***"


# --- the template book ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WeChatTemplate:
    """One template as chosen in the account's console, and koe's texts for its keywords."""

    template_id: str
    title: str                                       # what WeChat shows above the fields
    fields: tuple[tuple[str, str], ...] = field(repr=False)     # (keyword, text with {placeholders})

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(keyword for keyword, _ in self.fields)

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(name for _, text in self.fields for name in _PLACEHOLDER.findall(text))

    def render(self, values: Mapping[str, str]) -> dict[str, str]:
        """keyword -> its text with the placeholders filled from `values` (extra values are ignored).
        MissingValues when a placeholder used has no value or an empty one."""
        missing = {name for name in self.placeholders if not values.get(name)}
        if missing:
            raise MissingValues(self.template_id, missing)
        return {keyword: _PLACEHOLDER.sub(lambda m: values[m.group(1)], text) for keyword, text in self.fields}


class TemplateBook:
    """The templates, by (locale, message). Built from configuration (``from_config``) and checked as it
    is built: every message of the default locale, known placeholders only."""

    def __init__(self, templates: Mapping[tuple[str, str], WeChatTemplate]):
        for (locale, message), template in templates.items():
            _check(locale, message, template)
        missing = [m for m in MESSAGES if (DEFAULT_LOCALE, m) not in templates]
        if missing:
            raise InvalidTemplateBook(f"{DEFAULT_LOCALE}: no template for {', '.join(missing)}")
        self._templates = dict(templates)

    @classmethod
    def from_config(cls, document: Any) -> TemplateBook:
        """``{"zh-CN": {"invitation": {"template_id", "title", "fields": {keyword: text}}, ...}, "en": ...}``,
        as an object or its JSON text (KOE_WECHAT_TEMPLATES)."""
        if isinstance(document, str | bytes):
            try:
                document = json.loads(document)
            except ValueError:
                raise InvalidTemplateBook("the WeChat templates: not JSON") from None
        if not isinstance(document, Mapping) or not document:
            raise InvalidTemplateBook("the WeChat templates: not an object of locales")
        templates: dict[tuple[str, str], WeChatTemplate] = {}
        for locale, messages in document.items():
            if locale not in LOCALES:
                raise InvalidTemplateBook(f"{locale}: not a locale koe sends WeChat in ({', '.join(LOCALES)})")
            if not isinstance(messages, Mapping) or not messages:
                raise InvalidTemplateBook(f"{locale}: not an object of messages")
            for message, raw in messages.items():
                if message not in MESSAGES:
                    raise InvalidTemplateBook(f"{locale}.{message}: not a message ({', '.join(MESSAGES)})")
                templates[(locale, message)] = _template(f"{locale}.{message}", raw)
        return cls(templates)

    def template(self, message: str, locale: str = DEFAULT_LOCALE) -> WeChatTemplate:
        """The template of `message` in `locale`, else in the default locale (``en`` is optional)."""
        found = self._templates.get((locale, message)) or self._templates.get((DEFAULT_LOCALE, message))
        if found is None:
            raise UnknownTemplate(locale, message)
        return found

    def templates(self) -> dict[tuple[str, str], WeChatTemplate]:
        return dict(self._templates)


def _template(where: str, raw: Any) -> WeChatTemplate:
    if not isinstance(raw, Mapping):
        raise InvalidTemplateBook(f"{where}: not an object")
    values = {}
    for name in ("template_id", "title"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidTemplateBook(f"{where}.{name}: missing, or not a string")
        values[name] = value
    fields = raw.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise InvalidTemplateBook(f"{where}.fields: missing, or not an object of keyword -> text")
    for keyword, text in fields.items():
        if not isinstance(text, str) or not text.strip():
            raise InvalidTemplateBook(f"{where}.fields.{keyword}: not a text")
    return WeChatTemplate(values["template_id"], values["title"],
                          tuple((str(keyword), text) for keyword, text in fields.items()))


def _check(locale: str, message: str, template: WeChatTemplate) -> None:
    where = f"{locale}.{message}"
    if not _TEMPLATE_ID.fullmatch(template.template_id):
        raise InvalidTemplateBook(f"{where}.template_id: not a WeChat template id (10 to 64 of A-Z a-z 0-9 _ -)")
    for keyword, text in template.fields:
        if not _KEYWORD.fullmatch(keyword):
            raise InvalidTemplateBook(f"{where}.fields.{keyword}: not a keyword name (a letter, then letters, "
                                      "digits or _)")
        unknown = sorted(set(_PLACEHOLDER.findall(text)) - PLACEHOLDERS)
        if unknown:
            raise InvalidTemplateBook(f"{where}.fields.{keyword}: unknown placeholder(s) "
                                      f"{', '.join('{' + name + '}' for name in unknown)}: koe fills "
                                      f"{', '.join('{' + name + '}' for name in sorted(PLACEHOLDERS))}")
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            raise InvalidTemplateBook(f"{where}.fields.{keyword}: a brace that is not a {{placeholder}}")


# A fictional book for the local stack (the WeChat stand-in approves the same): made-up template ids.
DEFAULT_TEMPLATES: dict[str, dict[str, dict[str, Any]]] = {
    "zh-CN": {
        "invitation": {"template_id": "koeLocalInvitationZh0000000000000000000001", "title": "服务评价邀请",
                       "fields": {"first": "感谢您选择{brand}。", "keyword1": "{procedure}", "keyword2": "{date}",
                                  "remark": "点击查看并评价本次服务，约需1分钟。"}},
        "reminder": {"template_id": "koeLocalReminderZh00000000000000000000002", "title": "服务评价提醒",
                     "fields": {"first": "您对{brand}的服务评价尚未完成。", "keyword1": "{procedure}",
                                "keyword2": "{date}", "remark": "点击继续评价。"}},
        "closing": {"template_id": "koeLocalClosingZh000000000000000000000003", "title": "反馈处理结果通知",
                    "fields": {"first": "关于您的反馈，{brand}已跟进处理完毕。", "keyword1": "{procedure}",
                               "keyword2": "{date}", "remark": "感谢您的耐心与宝贵意见。"}},
    },
    "en": {
        "invitation": {"template_id": "koeLocalInvitationEn0000000000000000000004", "title": "Tell us how we did",
                       "fields": {"first": "Thank you for choosing {brand}.", "keyword1": "{procedure}",
                                  "keyword2": "{date}", "remark": "Tap to rate this service (about a minute)."}},
    },
}


def client_msg_id(survey_id: str, message: str) -> str:
    """The client_msg_id of one template message: the same for the same survey and message, so a send
    replayed within WeChat's 10 minutes goes out once. 32 hex characters (no personal data in it)."""
    return hashlib.sha256(f"{survey_id}#{message}".encode()).hexdigest()[:32]


# --- the webhook ----------------------------------------------------------------------------------

class NoticeKind(StrEnum):
    SUBSCRIBE = "subscribe"              # followed koe's account (from a QR code too)
    UNSUBSCRIBE = "unsubscribe"          # unfollowed: no template message reaches them any more
    SEND_FINISHED = "send_finished"      # TEMPLATESENDJOBFINISH: how a template message ended
    TEXT = "text"                        # the customer wrote to the account
    OTHER = "other"                      # anything else: `wechat_type` says what


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"              # success
    BLOCKED = "blocked"                  # failed:user block (the customer refuses the account's messages)
    FAILED = "failed"                    # failed: system failed, or a status WeChat adds later


def delivery_outcome(status: str) -> DeliveryOutcome:
    """A TEMPLATESENDJOBFINISH Status, read leniently about spaces and case (WeChat writes both
    "failed:user block" and "failed: system failed")."""
    folded = " ".join(status.replace(":", ": ").split()).casefold()
    if folded == "success":
        return DeliveryOutcome.DELIVERED
    if folded.startswith("failed") and "user block" in folded:
        return DeliveryOutcome.BLOCKED
    return DeliveryOutcome.FAILED


@dataclass(frozen=True)
class WeChatNotice:
    """One push of the account's webhook. `openid` and `text` are personal data: never in a repr, never
    logged."""

    kind: NoticeKind
    openid: str = field(repr=False)      # FromUserName
    at: datetime                         # CreateTime (UTC)
    msg_id: str | None                   # MsgId of a message; MsgID (the template message's) of send_finished
    status: DeliveryOutcome | None       # send_finished only
    text: str | None = field(repr=False)     # a text message's words
    dedupe_key: str
    wechat_type: str = ""                # MsgType, or MsgType:Event for an event ("event:CLICK")


_EVENT_KINDS = {"subscribe": NoticeKind.SUBSCRIBE, "unsubscribe": NoticeKind.UNSUBSCRIBE,
                "templatesendjobfinish": NoticeKind.SEND_FINISHED}


def parse_notice(body: bytes) -> WeChatNotice:
    """A plaintext push as koe reads it. UnreadableWebhook when it is not WeChat's XML, or is an
    encrypted ("safe mode") push: koe reads plaintext mode only."""
    fields = _fields(body)
    if "Encrypt" in fields and "MsgType" not in fields:
        raise UnreadableWebhook("an encrypted push: the account must send in plaintext mode")
    openid = _field(fields, "FromUserName")
    created = _field(fields, "CreateTime")
    if not created.isdigit():
        raise UnreadableWebhook("CreateTime: not seconds since the epoch")
    at = datetime.fromtimestamp(int(created), UTC)
    msg_type = _field(fields, "MsgType").casefold()
    if msg_type == "event":
        event = _field(fields, "Event")
        kind = _EVENT_KINDS.get(event.casefold(), NoticeKind.OTHER)
        wechat_type = f"event:{event}"
    else:
        event = ""
        kind = NoticeKind.TEXT if msg_type == "text" else NoticeKind.OTHER
        wechat_type = msg_type
    msg_id = fields.get("MsgID") or fields.get("MsgId") or None
    status = text = None
    if kind is NoticeKind.SEND_FINISHED:
        msg_id = _field(fields, "MsgID") if "MsgID" in fields else _field(fields, "MsgId")
        status = delivery_outcome(_field(fields, "Status"))
    elif kind is NoticeKind.TEXT:
        text = fields.get("Content")
        if text is None:
            raise UnreadableWebhook("Content: missing")
    return WeChatNotice(kind, openid, at, msg_id, status, text, dedupe_key(fields), wechat_type)


def dedupe_key(fields: Mapping[str, str]) -> str:
    """What makes a push the same push when WeChat sends it again: its MsgId (a message), the template
    message's MsgID (a send_finished: one per template message), else FromUserName + CreateTime + Event
    (WeChat's advice for events), hashed so that the key, which is stored and logged, holds no openid."""
    msg_type, event = fields.get("MsgType", ""), fields.get("Event", "")
    if event.casefold() == "templatesendjobfinish" and (fields.get("MsgID") or fields.get("MsgId")):
        return f"sendjob:{fields.get('MsgID') or fields.get('MsgId')}"
    if fields.get("MsgId"):
        return f"msg:{fields['MsgId']}"
    basis = "|".join((fields.get("FromUserName", ""), fields.get("CreateTime", ""), msg_type, event))
    return "event:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _fields(body: bytes) -> dict[str, str]:
    """The push's top-level elements as text (CDATA read as text; elements with children are left out)."""
    if len(body) > MAX_BODY_BYTES:
        raise UnreadableWebhook(f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body.decode("utf-8")              # WeChat sends UTF-8; another encoding could hide a DOCTYPE from the check
    except UnicodeDecodeError:
        raise UnreadableWebhook("the body is not UTF-8") from None
    if _DOCTYPE.search(body):
        raise UnreadableWebhook("a DOCTYPE or ENTITY declaration: WeChat sends none")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise UnreadableWebhook("the body is not XML") from None
    if root.tag != "xml":
        raise UnreadableWebhook("the root element is not <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            continue
        if child.tag in fields:
            raise UnreadableWebhook(f"{child.tag}: given twice")
        fields[child.tag] = child.text or ""
    return fields


def _field(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise UnreadableWebhook(f"{name}: missing")
    return value


def signed_recently(timestamp: str, now: datetime, max_age: timedelta = SIGNATURE_MAX_AGE) -> bool:
    """Whether a webhook's signed `timestamp` (seconds) is within `max_age` of `now`, either way. In
    plaintext mode the signature covers the token, timestamp and nonce only, not the body: a signed
    query seen once (a proxy's log) could carry any body later; an old one is refused."""
    if not timestamp.isdigit():
        return False
    return abs(now - datetime.fromtimestamp(int(timestamp), UTC)) <= max_age


def is_opt_out(text: str) -> bool:
    """Whether a customer's words to the account ask to stop: 退订, TD, T, 取消订阅 and their variants."""
    return opt_out.is_opt_out(text, "zh")
