"""China SMS (mainland numbers through a domestic provider, Alibaba Cloud SMS): the rules koe sends and
reads by. Pure: the adapter (adapters/alibaba_sms.py) talks to Alibaba.

Why a provider of its own: SMS from abroad to mainland numbers is filtered and has no two-way (Twilio
says so); a domestic provider sends only a pre-approved **signature** (签名, shown as 【示例人寿】 at the
start) with a pre-approved **template** (模板, e.g. ``SMS_480000001``) whose variables (``${name}``) are
the only parts a sender fills in, through ``TemplateParam`` (a JSON object of strings). Every message must
carry the unsubscribe words (回T退订 and its variants).

What is here:

- ``TemplateBook``: the approved templates per locale and message (``invitation``, ``why``, ``thanks`` ...):
  sign name, template code, the parameter names the approved text has, and the approved text itself. The
  text is approved at Alibaba and lives there; koe keeps a copy in configuration so that it can check,
  when the configuration is read, that each template ends with the unsubscribe words and names exactly
  its declared parameters, and count what a message will cost (``segments``).
- ``template_param``: the ``TemplateParam`` of one send, with the approved parameters only: a missing one
  or one the template does not have is ``TemplateParamsMismatch`` before any call.
- ``national_number``: a +86 mobile number as Alibaba takes it (11 digits, ``1`` first).
- Receipts (Alibaba's HTTP batch push, one JSON array per push): ``SmsReport`` (a delivery report: its
  ``out_id`` is what koe gave SendSms as ``OutId``, the survey id, so a report names its survey) and
  ``SmsUp`` (an inbound reply). Times in receipts are Beijing time (UTC+8, no zone written); they are
  read as Asia/Shanghai and kept in UTC. Malformed input is ``UnreadableReceipt``, naming the field,
  never a value.
- The opt-out words of Chinese networks (退订, TD, T, 取消订阅, and the rest of domain/opt_out.py) read with
  the conversation's language set to Chinese: a lone T or R opts out there.

Sources (Alibaba Cloud SMS documentation): SendSms (help.aliyun.com/document_detail/419273: PhoneNumbers
"+/+86/0086/86 or no prefix, 11 digits"; TemplateParam a JSON string), the API error codes
(help.aliyun.com/document_detail/101346: isv.INVALID_JSON_PARAM "only string values"), SmsReport and
SmsUp (the "HTTP batch push" receipt formats: field names as in shared/samples/aliyun-sms-reports.json),
billing: a domestic message of up to 70 characters, signature included, is one message; a longer one is
billed per 67 characters.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import opt_out, replies
from chalicelib.domain.questions import Scale

DEFAULT_LOCALE = "zh-CN"
SINGLE_SEGMENT_CHARS = 70       # one message, signature included
PART_CHARS = 67                 # per part of a longer message
BEIJING = ZoneInfo("Asia/Shanghai")
RECEIPT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_TEMPLATE_CODE = re.compile(r"SMS_\d{1,20}")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
# The unsubscribe instruction a template must end with (after NFKC, so ＴＤ is TD; trailing punctuation
# aside): "回T退订", "回复TD退订", "退订回T", "拒收请回复R" ... Chinese networks' conventions (facts.md, China).
_UNSUBSCRIBE_AT_END = re.compile(r"(?:回复?(?:T|TD|R)退订|退订请?回复?(?:T|TD|R)|拒收请?回复?R)\Z")
_TRAILING = " \t\r\n。.！!）)"

# The opt-out words of Chinese networks; domain/opt_out.py reads these and their variants (回T退订,
# 退订谢谢, ＴＤ) in a Chinese conversation.
OPT_OUT_WORDS = ("退订", "TD", "T", "取消订阅")


class InvalidTemplateBook(ValueError):
    """The template configuration cannot be used: names the locale, message and problem, never the text."""


class UnknownTemplate(LookupError):
    """No approved template for this message in this locale."""

    def __init__(self, locale: str, message: str):
        self.locale, self.message = locale, message
        super().__init__(f"no approved China SMS template for {message!r} in {locale!r}")


class TemplateParamsMismatch(ValueError):
    """The values given for a send are not the approved template's parameters: ``missing`` (or empty),
    ``unexpected`` (not in the template), ``not_text`` (not a string: Alibaba takes strings only).
    Names only, never values."""

    def __init__(self, template_code: str, *, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 not_text: Iterable[str] = ()):
        self.template_code = template_code
        self.missing, self.unexpected = tuple(sorted(missing)), tuple(sorted(unexpected))
        self.not_text = tuple(sorted(not_text))
        parts = [f"{what}: {', '.join(names)}" for what, names in
                 (("missing", self.missing), ("unexpected", self.unexpected), ("not text", self.not_text)) if names]
        super().__init__(f"template {template_code}: " + "; ".join(parts))


class NotMainlandMobile(ValueError):
    """A number China SMS cannot take: not +86 and a mainland mobile number (11 digits, 1 first)."""


class UnreadableReceipt(ValueError):
    """Not an Alibaba SMS receipt push: not JSON in UTF-8, not an array, or an item not of its shape.
    Names the item and field, never a value."""


@dataclass(frozen=True)
class ApprovedTemplate:
    """One template as approved at Alibaba, and the signature it is sent with."""

    sign_name: str                       # 签名, without 【】
    template_code: str                   # SMS_...
    params: tuple[str, ...]              # the parameter names of the approved text, in order of appearance
    text: str = field(repr=False)        # the approved text, variables as ${name}

    def render(self, values: Mapping[str, str]) -> str:
        """The message as the customer's phone shows it: 【signature】 then the text, variables filled."""
        body = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)
        return f"【{self.sign_name}】{body}"


class TemplateBook:
    """The approved templates, by (locale, message). Built from configuration (``from_config``), checked
    as it is built: a template koe could not send, or one without the unsubscribe words, stops the
    function at start-up instead of at the first send."""

    def __init__(self, templates: Mapping[tuple[str, str], ApprovedTemplate]):
        for (locale, message), template in templates.items():
            _check(locale, message, template)
        self._templates = dict(templates)

    @classmethod
    def from_config(cls, document: Any) -> TemplateBook:
        """``{"zh-CN": {"invitation": {"sign_name", "template_code", "params": [...], "text"}, ...}}``."""
        if not isinstance(document, Mapping) or not document:
            raise InvalidTemplateBook("the China SMS templates: not an object of locales")
        templates: dict[tuple[str, str], ApprovedTemplate] = {}
        for locale, messages in document.items():
            if not isinstance(messages, Mapping) or not messages:
                raise InvalidTemplateBook(f"{locale}: not an object of messages")
            for message, raw in messages.items():
                templates[(str(locale), str(message))] = _template(f"{locale}.{message}", raw)
        return cls(templates)

    def template(self, message: str, locale: str = DEFAULT_LOCALE) -> ApprovedTemplate:
        try:
            return self._templates[(locale, message)]
        except KeyError:
            raise UnknownTemplate(locale, message) from None

    def locale_for(self, message: str, locale: str) -> str:
        """The book's locale to send `message` in to a customer of `locale`: that locale when the book
        has it ("zh-CN"), else one of the same language ("en" finds "en-US": surveys store the
        language), else DEFAULT_LOCALE."""
        if (locale, message) in self._templates:
            return locale
        language = locale.split("-")[0].lower()
        same = sorted(loc for loc, name in self._templates if name == message and loc.split("-")[0].lower() == language)
        return same[0] if same else DEFAULT_LOCALE

    def approved(self) -> dict[tuple[str, str], ApprovedTemplate]:
        """Every template (a stand-in's list of what is approved is built from the same configuration)."""
        return dict(self._templates)


def _template(where: str, raw: Any) -> ApprovedTemplate:
    if not isinstance(raw, Mapping):
        raise InvalidTemplateBook(f"{where}: not an object")
    values = {}
    for name in ("sign_name", "template_code", "text"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidTemplateBook(f"{where}.{name}: missing, or not a string")
        values[name] = value
    params = raw.get("params")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise InvalidTemplateBook(f"{where}.params: missing, or not a list of names")
    return ApprovedTemplate(values["sign_name"], values["template_code"], tuple(params), values["text"])


def _check(locale: str, message: str, template: ApprovedTemplate) -> None:
    where = f"{locale}.{message}"
    if not _TEMPLATE_CODE.fullmatch(template.template_code):
        raise InvalidTemplateBook(f"{where}.template_code: not an Alibaba template code (SMS_ and digits)")
    if "【" in template.sign_name or "】" in template.sign_name:
        raise InvalidTemplateBook(f"{where}.sign_name: the name alone, without 【】")
    in_text = _PLACEHOLDER.findall(template.text)
    if len(set(template.params)) != len(template.params):
        raise InvalidTemplateBook(f"{where}.params: a name given twice")
    if set(in_text) != set(template.params):
        raise InvalidTemplateBook(f"{where}.params: {sorted(template.params)} are not the text's variables "
                                  f"{sorted(set(in_text))}")
    if "${" in _PLACEHOLDER.sub("", template.text):
        raise InvalidTemplateBook(f"{where}.text: a variable that is not ${{name}}")
    if not carries_unsubscribe(template.text):
        raise InvalidTemplateBook(f"{where}.text: does not end with the unsubscribe words (回T退订 or a variant)")


def carries_unsubscribe(text: str) -> bool:
    """Whether `text` (an approved template, or a message as sent) ends with an unsubscribe instruction."""
    folded = unicodedata.normalize("NFKC", text).upper().rstrip(_TRAILING)
    return _UNSUBSCRIBE_AT_END.search(folded) is not None


def segments(text: str) -> int:
    """How many messages Alibaba bills `text` (signature included) as: one up to 70 characters, else one
    per 67. Every character counts one, a Latin letter as a Chinese one."""
    chars = len(text)
    return 1 if chars <= SINGLE_SEGMENT_CHARS else -(-chars // PART_CHARS)


def template_param(template: ApprovedTemplate, values: Mapping[str, Any]) -> str:
    """The TemplateParam of a send: a JSON object of the approved parameters, every one a non-empty
    string, nothing else. TemplateParamsMismatch (names only) otherwise; "{}" for a template without
    variables."""
    wanted = set(template.params)
    not_text = {name for name, value in values.items() if name in wanted and not isinstance(value, str)}
    missing = {name for name in wanted - not_text if not values.get(name)}
    unexpected = set(values) - wanted
    if missing or unexpected or not_text:
        raise TemplateParamsMismatch(template.template_code, missing=missing, unexpected=unexpected,
                                     not_text=not_text)
    return json.dumps({name: values[name] for name in template.params}, ensure_ascii=False, separators=(",", ":"))


def national_number(e164: str) -> str:
    """+8613800138000 -> 13800138000, the form SendSms is given. NotMainlandMobile for any other number
    (a Hong Kong or foreign number goes by other channels; a landline cannot take SMS)."""
    digits = e164.strip()
    if not digits.startswith("+86") or not _MAINLAND_MOBILE.fullmatch(digits[3:]):
        raise NotMainlandMobile("not a mainland China mobile number in E.164 (+86 1xxxxxxxxxx)")
    return digits[3:]


def e164(national: str) -> str:
    """13800138000 -> +8613800138000: a receipt's number as koe stores contacts. Alibaba writes it
    without a prefix; a +86 or 86 prefix is taken too."""
    digits = national.strip().removeprefix("+").removeprefix("0086")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise NotMainlandMobile("not a mainland China mobile number")
    return f"+86{digits}"


# --- receipts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsReport:
    """A delivery report. `phone` (E.164) is personal data: never in a repr, never logged."""

    biz_id: str                          # SendSms's BizId
    out_id: str | None                   # SendSms's OutId: koe's survey id (None when none was given)
    success: bool
    err_code: str                        # DELIVERED, or the carrier's code (MK:..., IC:..., UNDELIV ...)
    err_msg: str
    send_time: datetime                  # UTC
    report_time: datetime                # UTC
    sms_size: int                        # the messages billed
    phone: str = field(repr=False)


@dataclass(frozen=True)
class SmsUp:
    """An inbound reply. `phone` and `content` are personal data: never in a repr, never logged."""

    sequence_id: int                     # unique per reply: the idempotency key of its handling
    send_time: datetime                  # UTC
    sign_name: str                       # the signature the customer replied to
    dest_code: str                       # the extension code the reply was sent to
    phone: str = field(repr=False)       # E.164
    content: str = field(repr=False)


def parse_reports(body: bytes) -> list[SmsReport]:
    """The delivery reports of one push (a JSON array). UnreadableReceipt when it is not their shape."""
    return [_report(item, f"[{n}]") for n, item in enumerate(_array(body))]


def parse_replies(body: bytes) -> list[SmsUp]:
    """The inbound replies of one push (a JSON array). UnreadableReceipt when it is not their shape."""
    return [_reply(item, f"[{n}]") for n, item in enumerate(_array(body))]


def _array(body: bytes) -> list[Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableReceipt("the body is not JSON in UTF-8") from exc
    if not isinstance(payload, list):
        raise UnreadableReceipt("the body is not a JSON array")
    return payload


def _report(raw: Any, where: str) -> SmsReport:
    item = _object(raw, where)
    success = item.get("success")
    if not isinstance(success, bool):
        raise UnreadableReceipt(f"{where}.success: missing, or not a boolean")
    out_id = item.get("out_id")
    if out_id is not None and not isinstance(out_id, str):
        raise UnreadableReceipt(f"{where}.out_id: not a string")
    size = _text(item, "sms_size", where)
    if not size.isdigit():
        raise UnreadableReceipt(f"{where}.sms_size: not a number")
    return SmsReport(
        biz_id=_text(item, "biz_id", where), out_id=out_id or None, success=success,
        err_code=_text(item, "err_code", where), err_msg=_text(item, "err_msg", where, required=False),
        send_time=_time(item, "send_time", where), report_time=_time(item, "report_time", where),
        sms_size=int(size), phone=_phone(item, where))


def _reply(raw: Any, where: str) -> SmsUp:
    item = _object(raw, where)
    sequence = item.get("sequence_id")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise UnreadableReceipt(f"{where}.sequence_id: missing, or not a number")
    content = item.get("content")
    if not isinstance(content, str):
        raise UnreadableReceipt(f"{where}.content: missing, or not a string")
    return SmsUp(sequence_id=sequence, send_time=_time(item, "send_time", where),
                 sign_name=_text(item, "sign_name", where), dest_code=_text(item, "dest_code", where, required=False),
                 phone=_phone(item, where), content=content)


def _object(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise UnreadableReceipt(f"{where}: not an object")
    return raw


def _text(item: dict[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = item.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise UnreadableReceipt(f"{where}.{name}: missing, or not a string")
    return value


def _time(item: dict[str, Any], name: str, where: str) -> datetime:
    value = _text(item, name, where)
    try:
        local = datetime.strptime(value, RECEIPT_TIME_FORMAT)
    except ValueError:
        raise UnreadableReceipt(f"{where}.{name}: not a time as YYYY-MM-DD hh:mm:ss") from None
    return local.replace(tzinfo=BEIJING).astimezone(UTC)


def _phone(item: dict[str, Any], where: str) -> str:
    try:
        return e164(_text(item, "phone_number", where))
    except NotMainlandMobile:
        raise UnreadableReceipt(f"{where}.phone_number: not a mainland mobile number") from None


# --- replies -------------------------------------------------------------------------------------------

def is_opt_out(text: str) -> bool:
    """Whether a China SMS reply asks to stop: 退订, TD, T, 取消订阅 and their variants, read as Chinese."""
    return opt_out.is_opt_out(text, "zh")


def read_reply(up: SmsUp, scale: Scale = Scale.NPS) -> replies.Reading:
    """What a China SMS reply says (a score, an opt-out ...), read as the SMS conversation reads a reply,
    in a Chinese conversation."""
    return replies.read_reply(up.content, "zh", scale)
