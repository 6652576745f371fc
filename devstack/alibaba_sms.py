"""Alibaba Cloud SMS: a local stand-in for its SendSms API and its receipts (never deployed).

koe's China SMS code and the real SDK (`alibabacloud-dysmsapi20170525` 4.x) run against it unchanged.
Point the SDK at it::

    config = Config(access_key_id=key_id, access_key_secret=key_secret, endpoint=platform.endpoint,
                    protocol="http")
    client = Client(config)

What it does, as Alibaba does it (SendSms and the "API错误码" list; the SDK's source for the wire):

* ``SendSms`` as the SDK 4.x sends it by default: ``POST /`` with the action in ``x-acs-action`` and
  ``x-acs-version: 2017-05-25``, the parameters (PhoneNumbers, SignName, TemplateCode, TemplateParam,
  OutId) in the query string, and a V3 signature: ``Authorization: ACS3-HMAC-SHA256
  Credential=<AccessKeyId>,SignedHeaders=...,Signature=<hex>`` over the canonical request (method, path,
  sorted query, the signed headers, ``x-acs-content-sha256``). The older RPC form (``Action=SendSms`` in
  the query, ``SignatureMethod=HMAC-SHA1``, ``Signature`` in the query; the SDK's
  ``signature_algorithm="v2"``) is taken too. **Both signatures are verified** with the access key
  secret, not only the AccessKeyId: an unknown AccessKeyId is 404 ``InvalidAccessKeyId.NotFound``, a
  signature that does not match 400 ``SignatureDoesNotMatch``, a nonce used before 400
  ``SignatureNonceUsed``. The timestamp is not checked against a clock (this stand-in's clock is moved by
  tests; Alibaba refuses one more than 15 minutes off).
* SendSms's own verdict, as Alibaba gives it, with HTTP 200 and ``Code``: ``OK`` with a ``BizId``, or
  ``isv.MOBILE_NUMBER_ILLEGAL`` (not a mainland mobile number), ``isv.SMS_SIGNATURE_ILLEGAL`` (a sign name
  not approved), ``isv.SMS_TEMPLATE_ILLEGAL`` (a template code not approved), ``isv.INVALID_JSON_PARAM``
  (TemplateParam not a JSON object of strings), ``isv.TEMPLATE_MISSING_PARAMETERS`` (a variable of the
  template without a value), ``isv.INVALID_PARAMETERS`` (a value for a variable the template does not
  have: stricter than Alibaba, which is not known to refuse it), ``isv.BUSINESS_LIMIT_CONTROL`` (more than
  ``daily_limit`` messages, 50 by default, to one number with one signature and template on one Beijing
  day of this stand-in's clock).
* Each message accepted is recorded as the customer's phone would show it: 【signature】 and the approved
  text with the variables filled (``sent``), with its BizId and OutId.
* Faults drawn at random on a share of sends (``faults={"throttled": 0.05, "500": 0.05}``): ``throttled``
  is 200 ``isv.BUSINESS_LIMIT_CONTROL``, ``api_throttled`` 400 ``Throttling.User``, ``template_rejected``
  200 ``isv.SMS_TEMPLATE_ILLEGAL``, ``500`` 500 ``InternalError`` (nothing sent), ``taken500`` sends the
  message and answers 500 all the same (the sender is in doubt).
* Receipts, in the shapes of Alibaba's HTTP batch push (a JSON array per push, ``application/json``; the
  receiver answers ``{"code": 0, "msg": "接收成功"}``): ``report_for(biz_id)`` (an ``SmsReport``: the
  delivery report, with the message's OutId) and ``customer_replies(phone, text)`` (an ``SmsUp``: an
  inbound reply) return the receipt and POST it, as a one-item array, to ``report_url`` / ``reply_url``
  when set. Alibaba can also deliver receipts through an MNS queue; koe takes the HTTP push (``POST
  /alibaba/sms/reports/<token>`` and ``/alibaba/sms/replies/<token>``), so that is what this stand-in
  does. Times in receipts are Beijing time.

For scripts: ``GET /messages?phone=`` (what was sent, oldest first), ``GET /health``.

Logs name a number masked (+86*******8000) and never carry a message's text or a key.

Run standalone::

    python -m devstack.alibaba_sms --port 8027 --access-key-id LTAI... --access-key-secret ... \\
        --templates templates.json [--report-url http://127.0.0.1:8000/alibaba/sms/reports/<token>] [--reply-url ...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devstack.stand_in import DrawnFaults, JsonHandler, Served, require_loopback, serve_until_signalled
from devstack.time_machine import utc_now

VERSION = "2017-05-25"
BEIJING = ZoneInfo("Asia/Shanghai")
RECEIPT_TIME = "%Y-%m-%d %H:%M:%S"
PUSH_TIMEOUT_S = 10.0
DAILY_LIMIT = 50
V3_ALGORITHM = "ACS3-HMAC-SHA256"
V3_REQUIRED_HEADERS = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                       "x-acs-content-sha256")
MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Faults on a share of sends: (HTTP status, Code, Message), and whether the message went out all the same.
FAULTS: dict[str, tuple[int, str, str, bool]] = {
    "throttled": (200, "isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", False),
    "api_throttled": (400, "Throttling.User", "Request was denied due to user flow control.", False),
    "template_rejected": (200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板", False),
    "500": (500, "InternalError", "The request processing has failed due to some unknown error.", False),
    "taken500": (500, "InternalError", "The request processing has failed due to some unknown error.", True),
}


class Refusal(Exception):
    """An answer other than OK: HTTP status, Alibaba's Code and Message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def log(line: str) -> None:
    print(f"alibaba-sms: {line}", file=sys.stderr, flush=True)


def masked(number: str) -> str:
    """+86*******8000: a number as the logs show it (written out here, not taken from koe)."""
    return f"+86{'*' * 7}{number[-4:]}"


@dataclass(frozen=True)
class Template:
    """An approved template: its text, variables as ${name}."""

    code: str
    text: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(VARIABLE.findall(self.text))


@dataclass
class SentSms:
    """One message accepted: `phone` is the 11-digit number as SendSms was given it."""

    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, str]
    text: str                            # as the phone shows it: 【signature】 and the filled-in text
    out_id: str | None
    at: datetime

    @property
    def size(self) -> int:
        """How many messages Alibaba bills it as: one up to 70 characters, else one per 67."""
        return 1 if len(self.text) <= 70 else -(-len(self.text) // 67)

    def public(self) -> dict[str, Any]:
        return {"biz_id": self.biz_id, "phone": self.phone, "sign_name": self.sign_name,
                "template_code": self.template_code, "text": self.text, "out_id": self.out_id,
                "at": self.at.isoformat()}


class AlibabaSmsPlatform:
    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_names: set[str] | frozenset[str],
                 templates: Mapping[str, str], report_url: str | None = None, reply_url: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], datetime] = utc_now,
                 daily_limit: int = DAILY_LIMIT, faults: Mapping[str, float] | None = None,
                 faults_seed: int = 0, report_after_s: float | None = None) -> None:
        """`templates`: template code -> approved text (variables as ${name}); `sign_names`: the approved
        signatures (any of them goes with any template, as at Alibaba for a general-purpose signature).
        `report_after_s`: push each accepted message's delivery report (DELIVERED) that many seconds
        later, as Alibaba does on its own (the local stack); None: only when `report_for` is called."""
        require_loopback(host, "Alibaba SMS")
        self._faults = DrawnFaults("Alibaba SMS", FAULTS, faults, faults_seed)
        self.faults_injected = self._faults.injected
        self._key_id, self._secret = access_key_id, access_key_secret
        self.sign_names = frozenset(sign_names)
        self.templates = {code: Template(code, text) for code, text in templates.items()}
        self.report_url, self.reply_url = report_url, reply_url
        self.clock, self.daily_limit = clock, daily_limit
        self.report_after_s = report_after_s
        self._reporting: list[threading.Timer] = []
        self.pushes: list[tuple[str, int | None]] = []       # (url, the receiver's status) per receipt push
        self._biz_ids = itertools.count(900000000000000001)
        self._sequence = itertools.count(1000000001)
        self._lock = threading.Lock()
        self._sent: list[SentSms] = []
        self._reported: dict[str, bool] = {}                  # biz_id -> delivered, once reported
        self._received: list[tuple[str, str, datetime]] = []  # (11-digit number, text, when): replies
        self._nonces: set[str] = set()
        self._served = Served("Alibaba SMS", host, port, _Handler, self)

    @classmethod
    def from_template_book(cls, document: Mapping[str, Any], **options: Any) -> AlibabaSmsPlatform:
        """Approved at this stand-in: every signature and template of koe's template configuration
        (``{locale: {message: {"sign_name", "template_code", "text", ...}}}``), read here on its own."""
        entries = [entry for messages in document.values() for entry in messages.values()]
        return cls(sign_names={e["sign_name"] for e in entries},
                   templates={e["template_code"]: e["text"] for e in entries}, **options)

    @property
    def endpoint(self) -> str:
        """host:port, as the SDK's Config(endpoint=...) takes it (with protocol="http")."""
        return self._served.endpoint

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        with self._lock:
            reporting, self._reporting = self._reporting, []
        for timer in reporting:
            timer.cancel()
        self._served.stop()

    # -- the API -----------------------------------------------------------------------------------

    def authenticate(self, method: str, path: str, raw_query: str, headers: Mapping[str, str],
                     body: bytes) -> dict[str, str]:
        """The request's parameters once its signature is verified (V3 header, or V2 in the query)."""
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if body else {}
        authorization = headers.get("authorization") or ""
        if authorization.startswith(V3_ALGORITHM + " "):
            self._verify_v3(method, path, query, headers, body, authorization)
            params = {**query, **form, "Action": headers.get("x-acs-action") or "",
                      "Version": headers.get("x-acs-version") or ""}
        elif "Signature" in query:
            self._verify_v2(method, {**query, **form})
            params = {**query, **form}
        else:
            raise Refusal(400, "MissingSignature", "The input parameter \"Signature\" is not supplied.")
        if params.get("Action") != "SendSms" or params.get("Version") != VERSION:
            raise Refusal(404, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
        return params

    def _verify_v3(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                   body: bytes, authorization: str) -> None:
        fields = dict(part.split("=", 1) for part in authorization[len(V3_ALGORITHM) + 1:].split(",") if "=" in part)
        key_id, signed = fields.get("Credential", ""), fields.get("SignedHeaders", "")
        given = fields.get("Signature", "")
        self._check_key_id(key_id)
        names = signed.split(";")
        if any(required not in names for required in V3_REQUIRED_HEADERS) or names != sorted(names):
            raise Refusal(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            raise Refusal(400, "SignatureDoesNotMatch", "The body does not match x-acs-content-sha256.")
        canonical_query = "&".join(f"{k}={urllib.parse.quote(query[k], safe='~')}" for k in sorted(query))
        canonical_headers = "".join(f"{name}:{(headers.get(name) or '').strip()}\n" for name in names)
        canonical = "\n".join((method, path or "/", canonical_query, canonical_headers, signed, payload_hash))
        to_sign = f"{V3_ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        expected = hmac.new(self._secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise Refusal(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        self._check_nonce(headers.get("x-acs-signature-nonce") or "")

    def _verify_v2(self, method: str, params: Mapping[str, str]) -> None:
        self._check_key_id(params.get("AccessKeyId", ""))
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise Refusal(400, "InvalidSignatureMethod", "Specified signature method is not valid.")
        canonical = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(params.items()) if k != "Signature")
        to_sign = f"{method}&{_pe('/')}&{_pe(canonical)}"
        expected = base64.b64encode(hmac.new((self._secret + "&").encode("utf-8"), to_sign.encode("utf-8"),
                                             hashlib.sha1).digest()).decode("ascii")
        if not hmac.compare_digest(expected, params.get("Signature", "")):
            raise Refusal(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        self._check_nonce(params.get("SignatureNonce", ""))

    def _check_key_id(self, key_id: str) -> None:
        if not hmac.compare_digest(key_id.encode("utf-8"), self._key_id.encode("utf-8")):
            raise Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    def _check_nonce(self, nonce: str) -> None:
        with self._lock:
            if not nonce or nonce in self._nonces:
                raise Refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces.add(nonce)

    def send_sms(self, params: Mapping[str, str]) -> str:
        """Accept one SendSms: its BizId, or a Refusal with Alibaba's code."""
        numbers = (params.get("PhoneNumbers") or "").split(",")
        found = MOBILE.fullmatch(numbers[0]) if len(numbers) == 1 else None
        if found is None:
            raise Refusal(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        number = found.group(1)
        sign_name = params.get("SignName") or ""
        if sign_name not in self.sign_names:
            raise Refusal(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = self.templates.get(params.get("TemplateCode") or "")
        if template is None:
            raise Refusal(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        values = _template_values(params.get("TemplateParam"), template)
        text = f"【{sign_name}】" + VARIABLE.sub(lambda m: values[m.group(1)], template.text)
        with self._lock:
            now = self.clock()
            day = now.astimezone(BEIJING).date()
            today = sum(1 for s in self._sent if (s.phone, s.sign_name, s.template_code) ==
                        (number, sign_name, template.code) and s.at.astimezone(BEIJING).date() == day)
            if today >= self.daily_limit:
                raise Refusal(200, "isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{self.daily_limit}")
            fault = self._faults.draw()
            if fault is not None and not FAULTS[fault][3]:
                raise Refusal(*FAULTS[fault][:3])
            biz_id = f"{next(self._biz_ids)}^0"
            self._sent.append(SentSms(biz_id, number, sign_name, template.code, values, text,
                                      params.get("OutId") or None, now))
        log(f"SendSms to {masked(number)} template {template.code} -> {biz_id}")
        self._report_later(biz_id)
        if fault is not None:            # taken500: out, and an error all the same
            raise Refusal(*FAULTS[fault][:3])
        return biz_id

    def _report_later(self, biz_id: str) -> None:
        if self.report_after_s is None:
            return
        timer = threading.Timer(self.report_after_s, self.report_for, args=(biz_id,))
        timer.daemon = True
        with self._lock:
            self._reporting = [t for t in self._reporting if t.is_alive()] + [timer]
        timer.start()

    # -- what a test or a script reads -------------------------------------------------------------

    def sent(self, phone: str | None = None) -> list[SentSms]:
        """Messages accepted for `phone` (11 digits, or +86...; everyone's when None), oldest first."""
        wanted = phone[-11:] if phone else None
        with self._lock:
            return [s for s in self._sent if wanted is None or s.phone == wanted]

    # -- receipts ----------------------------------------------------------------------------------

    def report_for(self, biz_id: str, *, success: bool = True, err_code: str = "DELIVERED",
                   err_msg: str = "用户接收成功", after: timedelta = timedelta(seconds=4)) -> dict[str, Any]:
        """The delivery report (SmsReport) of a message sent here, `after` its sending; POSTed to
        `report_url` when set."""
        with self._lock:
            message = next((s for s in self._sent if s.biz_id == biz_id), None)
        if message is None:
            raise ValueError(f"no message {biz_id!r} was sent")
        size = message.size
        with self._lock:
            self._reported[biz_id] = success
        report = {"phone_number": message.phone, "send_time": _beijing(message.at),
                  "report_time": _beijing(message.at + after), "success": success, "err_code": err_code,
                  "err_msg": err_msg, "sms_size": str(size), "biz_id": message.biz_id, "out_id": message.out_id or ""}
        self._push(self.report_url, report, "SmsReport")
        return report

    def customer_replies(self, phone: str, text: str, *, sign_name: str | None = None,
                         dest_code: str = "") -> dict[str, Any]:
        """The customer's reply (SmsUp) to the last message sent to `phone` (its signature), now on this
        stand-in's clock; POSTed to `reply_url` when set."""
        return self.customer_says(phone, text, sign_name=sign_name, dest_code=dest_code)[0]

    def customer_says(self, phone: str, text: str, *, sign_name: str | None = None,
                      dest_code: str = "") -> tuple[dict[str, Any], int | None]:
        """As customer_replies, with what the receiver answered the push (None: unreachable or no URL)."""
        found = MOBILE.fullmatch(phone)
        if found is None:
            raise ValueError("not a mainland mobile number")
        number = found.group(1)
        with self._lock:
            last = next((s for s in reversed(self._sent) if s.phone == number), None)
            sequence = next(self._sequence)
            now = self.clock()
        sign = sign_name or (last.sign_name if last else None)
        if sign is None:
            raise ValueError("nothing was sent to this number: name the signature it replies to")
        reply = {"phone_number": number, "send_time": _beijing(now), "content": text, "sign_name": sign,
                 "dest_code": dest_code, "sequence_id": sequence}
        with self._lock:
            self._received.append((number, text, now))
        return reply, self._push(self.reply_url, reply, "SmsUp")

    def thread(self, phone: str) -> list[dict[str, Any]]:
        """The phone's conversation with the signatures sent from here, oldest first, in the shape of the
        carrier's message log (the phone page shows both): what was sent, with its delivery report's
        verdict once pushed, and what the customer answered."""
        found = MOBILE.fullmatch(phone)
        if found is None:
            return []
        number = found.group(1)
        with self._lock:
            sent = [s for s in self._sent if s.phone == number]
            reported = dict(self._reported)
            received = [(text, at) for n, text, at in self._received if n == number]
        items = [(s.at, {"sid": s.biz_id, "from": f"【{s.sign_name}】", "to": f"+86{number}", "body": s.text,
                         "status": _report_status(reported.get(s.biz_id)),
                         "direction": "outbound-api", "error_code": None, "date_created": format_datetime(s.at),
                         "num_segments": s.size, "via": "Alibaba Cloud SMS"}) for s in sent]
        items += [(at, {"sid": f"up-{i}", "from": f"+86{number}", "to": "", "body": text, "status": "received",
                        "direction": "inbound", "error_code": None, "date_created": format_datetime(at),
                        "num_segments": 1 if len(text) <= 70 else -(-len(text) // 67), "via": "Alibaba Cloud SMS"})
                  for i, (text, at) in enumerate(received)]
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def _push(self, url: str | None, receipt: dict[str, Any], kind: str) -> int | None:
        if url is None:
            return None
        body = json.dumps([receipt], ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        status: int | None
        try:
            with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_S) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:       # the receiver is down: Alibaba would push again later
            log(f"{kind} push failed: {type(exc).__name__}")
            status = None
        self.pushes.append((url, status))
        log(f"{kind} push -> {status}")
        return status


def _report_status(delivered: bool | None) -> str:
    """A message's status as the phone page shows it: sent until its delivery report is pushed."""
    return "sent" if delivered is None else "delivered" if delivered else "undelivered"


def _template_values(raw: str | None, template: Template) -> dict[str, str]:
    try:
        values = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise Refusal(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值") from None
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise Refusal(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
    if any(not values.get(name) for name in template.variables):
        raise Refusal(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
    if set(values) - template.variables:
        raise Refusal(200, "isv.INVALID_PARAMETERS", "参数异常")
    return values


def _pe(value: str) -> str:
    """Alibaba's percent-encoding (RFC 3986: only A-Z a-z 0-9 - _ . ~ left as they are)."""
    return urllib.parse.quote(value, safe="~")


def _beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime(RECEIPT_TIME)


class _Handler(JsonHandler):
    server_version = "koe-alibaba-sms/1.0"
    say = staticmethod(log)
    json_type = "application/json;charset=utf-8"

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/health":
            return self._json(200, {"ok": True})
        if parsed.path == "/messages":
            phone = urllib.parse.parse_qs(parsed.query).get("phone", [None])[0]
            return self._json(200, [s.public() for s in self.server.platform.sent(phone)])
        self._call("GET", parsed)

    def do_POST(self) -> None:
        self._call("POST", urllib.parse.urlsplit(self.path))

    def _call(self, method: str, parsed: urllib.parse.SplitResult) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        platform = self.server.platform
        request_id = str(uuid.uuid4()).upper()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            params = platform.authenticate(method, parsed.path, parsed.query, headers, body)
            biz_id = platform.send_sms(params)
        except Refusal as refusal:
            return self._json(refusal.status, {"Code": refusal.code, "Message": refusal.message,
                                               "RequestId": request_id})
        self._json(200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id})



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.alibaba_sms", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8027)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument("--templates", required=True, type=Path,
                        help="koe's China SMS template configuration (JSON): what this stand-in approves")
    parser.add_argument("--report-url")
    parser.add_argument("--reply-url")
    args = parser.parse_args(argv)
    platform = AlibabaSmsPlatform.from_template_book(
        json.loads(args.templates.read_text("utf-8")), access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret, report_url=args.report_url, reply_url=args.reply_url,
        host=args.host, port=args.port)
    serve_until_signalled(platform, log)


if __name__ == "__main__":
    main()
