"""The carrier: a local stand-in for Twilio's Messages API (never deployed).

koe's real SMS code and the real Twilio SDK run against it unchanged. Point the SDK at it with::

    client = twilio.rest.Client(account_sid, auth_token)
    client.api.base_url = carrier.url          # e.g. "http://127.0.0.1:8025"

(twilio 9.x: ``Domain.absolute_url`` reads ``base_url`` on every request, so this one line re-targets
``client.messages.create(...)`` and ``client.messages(sid).fetch()``. Leave TWILIO_REGION / TWILIO_EDGE
unset: the SDK would rewrite the host name into ``api.<edge>.<region>.twilio.com``.)

What it does, as Twilio does it:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` -- HTTP Basic auth (account_sid:auth_token,
  else 401 / 20003), ``To`` must be E.164 (21211), ``From`` must be koe's number (21606) unless a
  ``MessagingServiceSid`` is given, ``Body`` required (21602), at most 1600 characters (21617).
  Answers 201 with the message resource (status ``queued``; ``accepted`` with ``from: null`` when only a
  Messaging Service is given), then POSTs signed status callbacks to ``StatusCallback``:
  ``sent`` then ``delivered``, ``callback_delay_s`` apart.
  ``GET .../Messages/{Sid}.json`` fetches one.
* Fault injection by recipient (fictional 555-01xx numbers):

  ==============  ===========================================================
  +15550100190    400, code 21614 (not a mobile number); nothing is stored
  +15550100191    accepted; callbacks ``sent``, ``undelivered`` ErrorCode 30003
  +15550100192    429, code 20429 (too many requests); nothing is stored
  +15550100193    accepted; callback ``failed`` ErrorCode 21610
  opted out       400, code 21610 (attempt to send to unsubscribed recipient)
  ==============  ===========================================================

* Default opt-out handling: an inbound body that is exactly one of STOP, STOPALL, UNSUBSCRIBE, CANCEL,
  END, QUIT, REVOKE, OPTOUT (trimmed, any case) opts the sender out of koe's number and the carrier
  texts Twilio's confirmation; START, YES, UNSTOP opt back in. The inbound message is still forwarded to
  the app. While opted out, the app's TwiML replies are dropped (status ``failed``, 21610) and API sends
  get 21610. HELP / INFO are forwarded like any other text.

Endpoints for scripts, tests and the phone page:

* ``POST /reply`` JSON ``{"from": "+1555...", "body": "...", "message_sid": optional}`` -- delivers a
  customer's text to ``app_sms_url`` exactly as Twilio would (form-encoded, every field of the inbound
  webhook, ``X-Twilio-Signature`` over the full URL and all fields), records the TwiML replies and answers
  ``{"message_sid", "app_status", "replies"}``. Pass an earlier ``message_sid`` to re-deliver it.
* ``GET /messages?to=`` (sent to a number), ``?number=`` (the conversation), or everything; oldest first.
* ``GET /emails?to=`` -- emails moto's SES has "sent" (read from moto, ``devstack/mailbox.py``), each
  with its text ``body``, ``html`` part, SES ``message_id``, ``list_unsubscribe`` URL and ``index`` (its
  place in the order SES accepted them); ``?since=N`` lists only those from index N on (what a script
  polling the mailbox has not read yet: only those are parsed).
* ``GET /mailbox[?to=]`` -- the mailbox page: those emails rendered (in sandboxed frames, links live: a
  score button opens the local web survey), newest first, with buttons for the two endpoints below.
* ``POST /emails/feedback`` JSON or form ``{"to": "...", "kind": "bounce" | "soft-bounce" | "complaint" |
  "delivery", "message_id": optional}`` -- makes SES report on the latest email to ``to`` (or the one
  named): publishes the event SES's event publishing would send to the configuration set's topic
  (``ses-events``), which koe's ``on_ses_event`` reads. moto's SES never does it by itself.
* ``POST /emails/unsubscribe`` JSON or form ``{"message_id": "..."}`` -- what a mail client's one-click
  unsubscribe does (RFC 8058): POSTs ``List-Unsubscribe=One-Click`` to the email's List-Unsubscribe URL.
* ``POST /chat/{channel}`` -- a local chat webhook (Slack's incoming-webhook shape): keeps the JSON
  posted (``{"text": ...}``) and answers ``ok``, as Slack does. ``GET /chat?channel=`` lists what each
  channel received, oldest first: where the local stack's CX alerts to chat land.
* ``GET /`` -- the phone simulator page (``?number=`` opens that phone; http(s) links in texts are
  clickable: a link SMS opens the local web survey; with the stack's LINE stand-in, a LINE view too:
  ``?line=U...`` opens that LINE user's chat; with its WeChat stand-in, a WeChat view: ``?wechat=<openid>``
  opens that follower's chat with koe's service account); ``GET /health``.

With the local stack (``python -m devstack``), which hands the carrier its clock and a reader of
DynamoDB Local; a carrier started alone answers 404 to these:

* ``GET /clock`` -- the stack's clock: ``{"now", "wall_clock", "offset_hours"}``.
* ``POST /clock/advance`` JSON ``{"hours": N}`` or ``{"to": "2026-11-24T00:00:00Z"}`` -- the local
  time machine: moves the stack's clock forward, then fires the schedule once (``tick`` releases the
  surveys whose send time has come); answers the clock and what ``tick`` did. JSON only (a web page
  elsewhere cannot post it from a form) and from this machine only. What ``python -m devstack
  advance`` calls. Never part of koe in AWS.
* ``POST /clock/rewind`` JSON ``{"to": "2026-10-22T00:00:00Z"}`` -- for the seed only (``python -m
  devstack seed``): sets the stack's clock back to that time, once, at the start of a seeded month
  (the seed then walks it forward with ``/clock/advance`` until it is back at the wall clock). The
  schedule is not fired. JSON only, from this machine only. Caveat: data already newer than the
  rewound time stays as it is (``devstack/time_machine.py``).
* ``GET /scheduled`` -- the surveys waiting for their send window, earliest first (no phone number or
  address in clear): the phone page's "Scheduled" list, as ``python -m devstack scheduled`` prints it.
* ``GET /line/chat?user=U...`` -- one LINE user's chat with koe's account on the stack's LINE stand-in
  (``devstack/line.py``): ``{"user", "follows", "messages"}``, each message with its quick-reply buttons.
  ``POST /line/follow``, ``/line/unfollow``, ``/line/say`` (JSON ``{"user", "text"}``) and
  ``/line/redeliver`` (``{"event_id"}``) -- the LINE user's side: the stand-in posts LINE's signed webhook
  to koe and this answers what koe answered. JSON only, from this machine only. The phone page's LINE
  view (``?line=U...``); the query's LINE user id is never logged.
* ``GET /wechat/chat?openid=`` -- one customer's chat with koe's service account on the stack's WeChat
  stand-in (``devstack/wechat.py``): ``{"openid", "follows", "messages"}``, oldest first: the template
  messages koe sent (title, fields, url, the send-job status ``finished``) and what the customer wrote.
  ``POST /wechat/follow``, ``/wechat/unfollow``, ``/wechat/say`` (JSON ``{"openid", "text"}``) -- the
  customer's side: the stand-in pushes WeChat's signed event to koe and this answers what koe answered,
  ``{"app_status"}``. JSON only, from this machine only. The phone page's WeChat view
  (``?wechat=<openid>``); an openid is never logged (the query's nor one in a path).

Run standalone::

    python -m devstack.carrier --port 8025 --app-sms-url http://127.0.0.1:8000/twilio/sms \\
        --account-sid AC... --auth-token ... --number +15550009999 [--moto-url http://127.0.0.1:5000 \\
        --ses-events-topic-arn arn:aws:sns:... --ses-configuration-set koe-local-email]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import heapq
import hmac
import http.client
import ipaddress
import itertools
import json
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from devstack import mailbox
from devstack.stand_in import serve_until_signalled
from devstack.time_machine import TimeMachine, read_move, read_rewind

API_VERSION = "2010-04-01"
PHONE_PAGE = Path(__file__).with_name("phone.html")
WEBHOOK_TIMEOUT_S = 15.0   # Twilio gives a webhook 15 s in all before it gives up
MAX_BODY_CHARS = 1600      # Twilio rejects longer bodies with 21617

# --- segments -------------------------------------------------------------------------------------
# Kept separate from chalicelib.domain.sms on purpose: a stand-in must not share the logic it checks.

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # sent as ESC + char: two septets each


def count_segments(body: str) -> int:
    """Segments a handset receives: GSM-7 160 (153 per part), else UCS-2 70 (67 per part).

    Parts are filled greedily so that an escape pair or a surrogate pair is never cut in two, which is
    what real encoders do (and why a split message can need one part more than units // per_part)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        units = [2 if ch in _GSM7_EXTENSION else 1 for ch in body]
        single, per_part = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in body]  # UTF-16 code units
        single, per_part = 70, 67
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for unit in units:
        if used + unit > per_part:
            parts, used = parts + 1, 0
        used += unit
    return parts


# --- Twilio's rules -------------------------------------------------------------------------------

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAINLAND_MOBILE = re.compile(r"\+861[3-9]\d{9}")     # texted through China SMS where the stack runs it
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
OPT_OUT_CONFIRMATION = (
    "You have successfully been unsubscribed. You will not receive any more messages from this number. "
    "Reply START to resubscribe."
)
OPT_IN_CONFIRMATION = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)

# Recipients that fail at the API, before anything is queued: (HTTP status, code, message).
API_FAULTS: dict[str, tuple[int, int, str]] = {
    "+15550100190": (400, 21614, "'To' number is not a valid mobile number"),
    "+15550100192": (429, 20429, "Too Many Requests"),
}
# The status callbacks a message goes through: (MessageStatus, ErrorCode or None).
DELIVERED = (("sent", None), ("delivered", None))
CALLBACK_FAULTS: dict[str, tuple[tuple[str, int | None], ...]] = {
    "+15550100191": (("sent", None), ("undelivered", 30003)),
    "+15550100193": (("failed", 21610),),
}
# Faults drawn at random (`--carrier-faults 429=0.05,500=0.05,taken500=0.02,timeout=0.01,chat500=0.05,...`):
# Twilio refusing the API call (429 Too Many Requests, 500), taking the message and answering 500 all
# the same (`taken500`: the message goes out and its callbacks come, the sender hears only the error),
# or the message failing after it was accepted (30003 unreachable handset, 30008 unknown error), each
# on that share of sends.
RANDOM_API_FAULTS = {"429": (429, 20429, "Too Many Requests"), "500": (500, 20500, "Internal Server Error")}
TAKEN_FAULTS = {"taken500": (500, 20500, "Internal Server Error")}
# `timeout`: the message is taken and the answer held TIMEOUT_HOLD_S, past koe's Twilio client timeout
# (5 s); `chat500`: a local chat webhook answers 500 instead of taking the message.
SLOW_FAULTS = {"timeout": None}
CHAT_FAULTS = {"chat500": None}
TIMEOUT_HOLD_S = 6.0
RANDOM_DELIVERY_FAULTS = {"30003": (("sent", None), ("undelivered", 30003)),
                          "30008": (("sent", None), ("failed", 30008))}
COUNTRY_CODES = (("+1", "US"), ("+81", "JP"), ("+86", "CN"), ("+44", "GB"))  # enough for the demo


class TwilioError(Exception):
    """An API refusal, rendered in Twilio's legacy JSON error shape (what TwilioRestException parses)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def payload(self) -> dict[str, Any]:
        more_info = f"https://www.twilio.com/docs/errors/{self.code}"
        return {"code": self.code, "message": self.message, "more_info": more_info, "status": self.status}


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def rfc2822_now() -> str:
    return format_datetime(datetime.now(UTC))  # "Sat, 21 Nov 2026 13:31:22 +0000"


def country_of(number: str) -> str:
    # Longest prefix first so "+81" is not read as "+8".
    for prefix, country in sorted(COUNTRY_CODES, key=lambda pc: -len(pc[0])):
        if number.startswith(prefix):
            return country
    return ""


EMAIL_ADDRESS = re.compile(r"([^\s@/?&=:;,<>\"'()\[\]])[^\s@/?&=:;,<>\"'()\[\]]*(?:@|%40)([A-Za-z0-9.-]+)")


LINE_USER_ID = re.compile(r"(?<![0-9A-Za-z])U[0-9a-f]{28}([0-9a-f]{4})(?![0-9a-f])")
# A WeChat openid where a request names one: the phone page's ?wechat=, an ?openid=, or a segment of a
# /wechat/ path. Its first 4 characters stay (the same for every follower of an account: oKoe***), as
# koe's and the stand-in's logs show it.
WECHAT_OPENID_PARAM = re.compile(r"([?&](?:wechat|openid)=)([^&#\s]{0,4})[^&#\s]*")
WECHAT_OPENID_IN_PATH = re.compile(r"(/wechat/(?:[^/?#\s]+/)*)([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{16,60}(?![A-Za-z0-9_-])")


def mask(text: str) -> str:
    """Hide what is personal in log lines: email addresses keep their first letter and domain
    (h***@example.jp), phone numbers, LINE user ids (the phone page's ?line=) and the account SID their
    last 4 characters, WeChat openids (?wechat=, ?openid=, in a /wechat/ path) their first 4."""
    text = WECHAT_OPENID_PARAM.sub(r"\1\2***", text)
    text = WECHAT_OPENID_IN_PATH.sub(r"\1\2***", text)
    text = LINE_USER_ID.sub(r"U***\1", text)
    text = EMAIL_ADDRESS.sub(r"\1***@\2", text)
    text = re.sub(r"AC[0-9a-fA-F]{28}([0-9a-fA-F]{4})", r"AC***\1", text)
    return re.sub(r"\+?\d{3,}(\d{4})", r"***\1", text)


def log(line: str) -> None:
    print(f"carrier: {mask(line)}", file=sys.stderr, flush=True)


# --- the message log ------------------------------------------------------------------------------


@dataclass
class Message:
    sid: str
    from_: str
    to: str
    body: str
    direction: str  # "outbound-api", "outbound-reply" or "inbound"
    status: str
    error_code: int | None = None
    messaging_service_sid: str | None = None
    date_created: str = field(default_factory=rfc2822_now)

    @property
    def num_segments(self) -> int:
        return count_segments(self.body)

    def public(self) -> dict[str, Any]:
        return {
            "sid": self.sid, "from": self.from_, "to": self.to, "body": self.body, "status": self.status,
            "direction": self.direction, "error_code": self.error_code, "date_created": self.date_created,
            "num_segments": self.num_segments,
        }

    def resource(self, account_sid: str, *, from_given: bool = True) -> dict[str, Any]:
        """The Messages API resource, with the fields MessageInstance reads."""
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{self.sid}"
        return {
            "account_sid": account_sid, "api_version": API_VERSION, "body": self.body,
            "date_created": self.date_created, "date_sent": None, "date_updated": self.date_created,
            "direction": self.direction, "error_code": self.error_code, "error_message": None,
            # Twilio answers from=null until a Messaging Service has picked the sender.
            "from": self.from_ if from_given else None,
            "messaging_service_sid": self.messaging_service_sid, "num_media": "0",
            "num_segments": str(self.num_segments), "price": None, "price_unit": "USD",
            "sid": self.sid, "status": self.status, "to": self.to, "uri": f"{uri}.json",
            "subresource_uris": {"media": f"{uri}/Media.json"},
        }


class MessageLog:
    """Every text the carrier has seen, and who has opted out (shared by request and callback threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._opted_out: set[str] = set()

    def add(self, message: Message) -> Message:
        with self._lock:
            self._messages.append(message)
        return message

    def get(self, sid: str) -> Message | None:
        with self._lock:
            return next((m for m in self._messages if m.sid == sid), None)

    def set_status(self, sid: str, status: str, error_code: int | None) -> None:
        with self._lock:
            for message in self._messages:
                if message.sid == sid:
                    message.status, message.error_code = status, error_code

    def select(self, *, to: str | None = None, number: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            messages = list(self._messages)
        if to:
            messages = [m for m in messages if m.to == to and m.direction.startswith("outbound")]
        if number:
            messages = [m for m in messages if number in (m.to, m.from_)]
        return [m.public() for m in messages]

    def set_opted_out(self, number: str, opted_out: bool) -> None:
        with self._lock:
            (self._opted_out.add if opted_out else self._opted_out.discard)(number)

    def is_opted_out(self, number: str) -> bool:
        with self._lock:
            return number in self._opted_out


# --- TwiML ----------------------------------------------------------------------------------


def parse_twiml(text: str) -> list[tuple[str | None, str]]:
    """(to attribute or None, body) for each <Message> of a <Response>; text or a <Body> child."""
    if not text.strip():
        return []
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        log("app answered with something that is not TwiML; no replies")
        return []
    replies = []
    for element in root.iter("Message"):
        body_element = element.find("Body")
        body = body_element.text if body_element is not None else element.text
        replies.append((element.get("to"), (body or "").strip()))
    return replies


# --- status callbacks, later ---------------------------------------------------------------------


class _Callbacks:
    """Runs `action(*args)` after a delay on a few worker threads (one timer heap, no thread per
    message): 1,000 invitations used to mean 1,000 sleeping threads."""

    def __init__(self, stopping: threading.Event, workers: int = 16) -> None:
        self._stopping = stopping
        self._due: list[tuple[float, int, Any, tuple[Any, ...]]] = []
        self._order = itertools.count()           # ties keep their order, and actions are never compared
        self._ready = threading.Condition()
        self._running = 0
        self._threads = [threading.Thread(target=self._work, name=f"carrier-callbacks-{n}", daemon=True)
                         for n in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def after(self, delay_s: float, action: Any, *args: Any) -> None:
        with self._ready:
            heapq.heappush(self._due, (time.monotonic() + delay_s, next(self._order), action, args))
            self._ready.notify()

    def pending(self) -> int:
        """Callbacks waiting or running."""
        with self._ready:
            return len(self._due) + self._running

    def stop(self) -> None:
        with self._ready:
            self._ready.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=1.0)

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._stopping.is_set():
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        break
                    self._ready.wait(wait)
                if self._stopping.is_set():
                    return
                _, _, action, args = heapq.heappop(self._due)
                self._running += 1
            try:
                action(*args)
            except Exception as exc:  # noqa: BLE001 - one failed callback must not end the worker
                log(f"a status callback failed: {type(exc).__name__}: {exc}")
            finally:
                with self._ready:
                    self._running -= 1


# --- the carrier ----------------------------------------------------------------------------------


class _SenderRate:
    """A token bucket per sender: `rate` messages a second, a second's worth at once at most."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}      # sender -> (tokens, at)
        self._lock = threading.Lock()
        self.refused = 0

    def admit(self, sender: str) -> bool:
        with self._lock:
            now = time.monotonic()
            tokens, at = self._buckets.get(sender, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[sender] = (tokens, now)
                self.refused += 1
                return False
            self._buckets[sender] = (tokens - 1.0, now)
            return True


class Carrier:
    def __init__(self, *, account_sid: str, auth_token: str, number: str, app_sms_url: str,
                 host: str = "127.0.0.1", port: int = 0, moto_url: str | None = None,
                 callback_delay_s: float = 0.05, messaging_service_sid: str | None = None,
                 ses_events_topic_arn: str | None = None, ses_configuration_set: str = "",
                 region: str = "us-east-1", time_machine: TimeMachine | None = None,
                 scheduled: Callable[[], list[dict[str, Any]]] | None = None,
                 messages_per_second: float | None = None, faults: Mapping[str, float] | None = None,
                 faults_seed: int = 0, line: Any = None, alibaba: Any = None, wechat: Any = None) -> None:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the carrier binds loopback only")  # it accepts unauthenticated /reply
        if not E164.match(number):
            raise ValueError("number must be E.164, e.g. +15550009999")
        self.account_sid, self.number, self.app_sms_url = account_sid, number, app_sms_url
        self.moto_url, self.callback_delay_s = moto_url, callback_delay_s
        self.messaging_service_sid = messaging_service_sid  # set when koe's number sits in a service
        # Where SES would report bounces and complaints (the configuration set's topic), for simulating them.
        self.ses_events_topic_arn, self.ses_configuration_set = ses_events_topic_arn, ses_configuration_set
        self.region = region
        # The local stack's clock and its scheduled surveys (devstack/stack.py); None when run alone.
        self.time_machine, self.scheduled = time_machine, scheduled
        # The local stack's LINE stand-in (devstack/line.py LinePlatform), for the phone page's LINE chats.
        self.line = line
        # The local stack's Alibaba Cloud SMS stand-in (devstack/alibaba_sms.py): a mainland number's
        # texts go through it, as China SMS does (the phone page shows them; the customer's replies go
        # back as its SmsUp receipts).
        self.alibaba = alibaba
        # The local stack's WeChat stand-in (devstack/wechat.py WeChatPlatform), for the phone page's
        # WeChat view: a follower's chat with koe's service account.
        self.wechat = wechat
        self._auth_token = auth_token
        self._validator = RequestValidator(auth_token)
        # Twilio's throughput per sender (a US long code ~1 message a second, toll-free 3, a short code
        # 100): above it this carrier answers 429 / 20429, nothing stored. None: no limit.
        self._rate = _SenderRate(messages_per_second) if messages_per_second else None
        self._faults = dict(faults or {})
        known = {*RANDOM_API_FAULTS, *TAKEN_FAULTS, *SLOW_FAULTS, *CHAT_FAULTS, *RANDOM_DELIVERY_FAULTS}
        unknown = set(self._faults) - known
        if unknown:
            raise ValueError(f"unknown carrier faults {sorted(unknown)}: one of {sorted(known)}")
        self._fault_random = random.Random(faults_seed)
        self._fault_lock = threading.Lock()
        self.faults_injected: Counter[str] = Counter()
        self.log = MessageLog()
        self._chat: list[dict[str, Any]] = []        # what the local chat webhooks received
        self._chat_lock = threading.Lock()
        self._stopping = threading.Event()
        self._callbacks = _Callbacks(self._stopping)
        self._connections = threading.local()      # keep-alive connections of this thread, by host
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def callbacks_pending(self) -> int:
        """Status callbacks not yet posted (or being posted) to the app."""
        return self._callbacks.pending()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        # A short poll interval so stop() returns at once (tests start and stop many carriers).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="carrier",
                                        daemon=True)
        self._thread.start()
        self._callbacks.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:  # shutdown() would wait forever for a loop that never started
            self._server.shutdown()
        self._server.server_close()
        self._callbacks.stop()  # its workers wake at once: _stopping is set
        if self._thread:
            self._thread.join(timeout=5.0)

    # -- the Messages API --------------------------------------------------------------------------

    def check_auth(self, authorization: str | None, path_account: str) -> None:
        expected = f"{self.account_sid}:{self._auth_token}"
        given = ""
        if authorization and authorization.startswith("Basic "):
            try:
                given = base64.b64decode(authorization[6:]).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                given = ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise TwilioError(401, 20003, "Authenticate")
        if path_account != self.account_sid:
            raise TwilioError(404, 20404, "The requested resource was not found")

    @property
    def throttled(self) -> int:
        """How many sends the rate per sender refused (429 / 20429)."""
        return self._rate.refused if self._rate is not None else 0

    def send(self, form: dict[str, str]) -> tuple[Message, bool]:
        """Accept a Messages API create; returns the message and whether From was given."""
        to, from_, body = form.get("To", ""), form.get("From"), form.get("Body")
        service = form.get("MessagingServiceSid")
        self._validate_send(to, from_, service, body)
        if self._rate is not None and not self._rate.admit(from_ or service or self.number):
            raise TwilioError(429, 20429, "Too Many Requests")
        refused = self._draw(RANDOM_API_FAULTS)
        if refused is not None:
            raise TwilioError(*RANDOM_API_FAULTS[refused])
        status = "queued" if from_ else "accepted"
        message = self.log.add(Message(new_sid(), self.number, to, body or "", "outbound-api", status,
                                       messaging_service_sid=service))
        failed = self._draw(RANDOM_DELIVERY_FAULTS)
        plan = RANDOM_DELIVERY_FAULTS[failed] if failed else CALLBACK_FAULTS.get(to, DELIVERED)
        self._callbacks.after(self.callback_delay_s, self._run_callbacks, message, plan, form.get("StatusCallback"))
        taken = self._draw(TAKEN_FAULTS)
        if taken is not None:
            raise TwilioError(*TAKEN_FAULTS[taken])
        if self._draw(SLOW_FAULTS) is not None:
            self._stopping.wait(TIMEOUT_HOLD_S)          # the sender gave up waiting; the message went out
        return message, from_ is not None

    def _draw(self, faults: Mapping[str, Any]) -> str | None:
        """One of `faults` drawn at its configured share, or None."""
        with self._fault_lock:
            for name in faults:
                share = self._faults.get(name, 0.0)
                if share and self._fault_random.random() < share:
                    self.faults_injected[name] += 1
                    return name
        return None

    def _validate_send(self, to: str, from_: str | None, service: str | None, body: str | None) -> None:
        if not E164.match(to):
            raise TwilioError(400, 21211, "Invalid 'To' Phone Number")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if from_ and from_ != self.number:
            raise TwilioError(400, 21606, "The From phone number is not a valid, SMS-capable inbound "
                                          "phone number or short code for your account.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in API_FAULTS:
            raise TwilioError(*API_FAULTS[to])
        if self.log.is_opted_out(to):
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")

    def _run_callbacks(self, message: Message, plan: tuple[tuple[str, int | None], ...],
                       callback_url: str | None) -> None:
        """The first status of the plan now; the rest `callback_delay_s` later, in order."""
        if self._stopping.is_set() or not plan:
            return
        (status, error_code), rest = plan[0], plan[1:]
        self.log.set_status(message.sid, status, error_code)
        if callback_url:
            self._post_status(callback_url, message, status, error_code)
        if rest:
            self._callbacks.after(self.callback_delay_s, self._run_callbacks, message, rest, callback_url)

    def _post_status(self, url: str, message: Message, status: str, error_code: int | None) -> None:
        params = {
            "MessageSid": message.sid, "SmsSid": message.sid, "MessageStatus": status, "SmsStatus": status,
            "To": message.to, "From": message.from_, "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        try:
            answer, _ = self.post_signed(url, params)
            log(f"status callback {status} -> {answer}")
        except OSError as exc:  # the app is down or slow: Twilio shrugs, and so do we
            log(f"status callback {status} failed: {exc}")

    def post_signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST a form the way Twilio does, signed with X-Twilio-Signature; (status, body) even on 4xx/5xx.

        Over a kept-alive connection per thread and host (as Twilio's webhook senders keep theirs):
        a new connection per callback cost the app's server a thread and a handshake each time."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": self._validator.compute_signature(url, params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        data = urllib.parse.urlencode(params).encode("utf-8")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise OSError(f"the carrier calls plain http URLs on this machine only, not {url!r}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            connection = self._connection(parts.hostname, parts.port or 80, fresh=attempt == 2)
            try:
                connection.request("POST", target or "/", body=data, headers=headers)
                response = connection.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()      # the server closed a kept-alive connection: once more, anew
                if attempt == 2:
                    raise
            except BaseException:
                connection.close()
                raise
        raise AssertionError("unreachable")

    def _connection(self, host: str, port: int, fresh: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, int], http.client.HTTPConnection] = self._connections.__dict__.setdefault("pool", {})
        connection = pool.get((host, port))
        if connection is None or fresh:
            connection = http.client.HTTPConnection(host, port, timeout=WEBHOOK_TIMEOUT_S)
            pool[(host, port)] = connection
        return connection

    # -- customers' replies ------------------------------------------------------------------------

    def deliver_reply(self, from_: str, body: str, sid: str | None = None) -> dict[str, Any]:
        """A customer texts koe's number: carrier opt-out rules, then the signed webhook, then TwiML."""
        redelivery = sid is not None and self.log.get(sid) is not None
        sid = sid or new_sid()
        if not redelivery:  # a Twilio retry is the same message: record and opt-out once
            self.log.add(Message(sid, from_, self.number, body, "inbound", "received"))
            self._apply_opt_keywords(from_, body)
        try:
            app_status, answer = self.post_signed(self.app_sms_url, self.inbound_params(sid, from_, body))
        except OSError as exc:
            log(f"inbound webhook failed: {exc}")
            return {"message_sid": sid, "app_status": None, "replies": [], "error": str(exc)}
        log(f"inbound webhook -> {app_status}")
        replies = parse_twiml(answer) if 200 <= app_status < 300 else []
        sent = [self._record_reply(to or from_, text) for to, text in replies]
        return {"message_sid": sid, "app_status": app_status, "replies": [m.body for m in sent],
                "dropped": [m.body for m in sent if m.status == "failed"]}

    def inbound_params(self, sid: str, from_: str, body: str) -> dict[str, str]:
        """Every field Twilio posts for an inbound SMS (tests/events sample); all of them are signed."""
        params = {
            "ToCountry": country_of(self.number), "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
            "FromCity": "", "Body": body, "FromCountry": country_of(from_), "To": self.number,
            "ToZip": "", "NumSegments": str(count_segments(body)), "ReferralNumMedia": "0",
            "MessageSid": sid, "AccountSid": self.account_sid, "From": from_, "ApiVersion": API_VERSION,
        }
        if self.messaging_service_sid:
            params["MessagingServiceSid"] = self.messaging_service_sid
        return params

    def _apply_opt_keywords(self, from_: str, body: str) -> None:
        word = body.strip().upper()
        if word in OPT_OUT_WORDS:
            self.log.set_opted_out(from_, True)
            self.log.add(Message(new_sid(), self.number, from_, OPT_OUT_CONFIRMATION, "outbound-reply",
                                 "delivered"))
        elif word in OPT_IN_WORDS:
            self.log.set_opted_out(from_, False)
            self.log.add(Message(new_sid(), self.number, from_, OPT_IN_CONFIRMATION, "outbound-reply",
                                 "delivered"))

    def _record_reply(self, to: str, body: str) -> Message:
        if self.log.is_opted_out(to):  # Twilio drops it and never charges
            return self.log.add(Message(new_sid(), self.number, to, body, "outbound-reply", "failed", 21610))
        return self.log.add(Message(new_sid(), self.number, to, body, "outbound-reply", "delivered"))

    # -- chat ---------------------------------------------------------------------------------------

    def chat_webhook_url(self, channel: str) -> str:
        return f"{self.url}/chat/{channel}"

    def chat_fails(self) -> bool:
        """Whether this chat webhook call is answered 500 (`--carrier-faults chat500=share`)."""
        return self._draw(CHAT_FAULTS) is not None

    def receive_chat(self, channel: str, payload: Any) -> None:
        with self._chat_lock:
            self._chat.append({"channel": channel, "payload": payload, "received_at": time.time()})

    def chat_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._chat_lock:
            return [dict(m) for m in self._chat if channel is None or m["channel"] == channel]

    # -- emails ------------------------------------------------------------------------------------

    def emails(self, to: str | None, since: int = 0) -> list[dict[str, Any]]:
        return mailbox.sent_emails(self.moto_url, to, since=since) if self.moto_url else []

    def _email(self, to: str | None, message_id: str | None) -> dict[str, Any]:
        sent = mailbox.sent_emails(self.moto_url, to, message_id=message_id or None) if self.moto_url else []
        if not sent:
            raise LookupError(f"no email {'with that id ' if message_id else ''}was sent"
                              f"{' to that address' if to else ''}")
        return sent[-1]

    def simulate_feedback(self, to: str, kind: str, message_id: str | None = None) -> dict[str, Any]:
        """SES reports a bounce, a complaint or a delivery of the latest email to `to` (or the one named):
        the event is published to the events topic as SES's event publishing would."""
        if not self.moto_url or not self.ses_events_topic_arn:
            raise LookupError("the carrier was started without moto and the SES events topic")
        sent = self._email(to, message_id)
        notification = mailbox.feedback_notification(kind, sent, to, configuration_set=self.ses_configuration_set,
                                                     region=self.region)
        from devstack.provision import client

        published = client("sns", self.moto_url, self.region).publish(
            TopicArn=self.ses_events_topic_arn, Message=json.dumps(notification))
        log(f"SES {kind} of {sent.get('message_id')} published")
        return {"published": kind, "ses_message_id": sent.get("message_id"), "sns_message_id": published["MessageId"]}

    def one_click_unsubscribe(self, message_id: str) -> dict[str, Any]:
        """What a mail client does for its unsubscribe button (RFC 8058): POST the one-click body to
        the email's List-Unsubscribe URL."""
        sent = self._email(None, message_id)
        url = sent.get("list_unsubscribe", "")
        if not url.startswith("http://") or sent.get("list_unsubscribe_post") != "List-Unsubscribe=One-Click":
            raise LookupError("that email has no one-click List-Unsubscribe on this machine")
        request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "koe-local-mailbox"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        log(f"one-click unsubscribe of {message_id} -> {status}")
        return {"unsubscribe_status": status}


# --- HTTP -----------------------------------------------------------------------------------------

_MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages\.json$")
_MESSAGE = re.compile(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages/([^/]+)\.json$")
_CHAT = re.compile(r"^/chat/([A-Za-z0-9_.-]{1,64})$")      # a local chat webhook, one per channel


def _number_param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    # An unencoded "+" in "?to=+1555..." arrives as a space: put it back.
    value = values[0].strip()
    return f"+{value}" if value.isdigit() else value


class _Server(ThreadingHTTPServer):
    """The carrier's HTTP server; its handlers reach the Carrier through it."""

    daemon_threads = True  # a slow app must not block stop()
    # socketserver's listen backlog is 5: a burst of customers texting at once overflowed it and had
    # connections reset, as no carrier's API does.
    request_queue_size = 128
    # Once bound, an AF_INET server's address is its socket name, (str, int). The base class's type
    # also admits the bytes host a constructor may be given.
    server_address: tuple[str, int]

    def __init__(self, address: tuple[str, int], carrier: Carrier) -> None:
        super().__init__(address, _Handler)
        self.carrier = carrier


class _Handler(BaseHTTPRequestHandler):
    server_version = "koe-carrier/1.0"
    protocol_version = "HTTP/1.1"
    server: _Server  # only _Server instantiates this handler

    @property
    def carrier(self) -> Carrier:
        return self.server.carrier

    def log_message(self, format: str, *args: Any) -> None:
        log(f"{self.command} {self._logged_path()} {format % args}")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log(f"{self.command} {self._logged_path()} -> {code}")

    def _logged_path(self) -> str:
        """The request's path for the log: a LINE or WeChat chat's query names the customer (never logged;
        mask() hides an openid in the path or in the phone page's ?wechat=)."""
        parsed = urllib.parse.urlsplit(self.path)
        chat = parsed.path.startswith(("/line/", "/wechat/"))
        return parsed.path if chat else urllib.parse.unquote(self.path)

    # -- routing -----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.path == "/health":
            self._json(200, {"ok": True})
        elif parsed.path == "/":
            self._send(200, PHONE_PAGE.read_bytes(), "text/html; charset=utf-8")
        elif parsed.path == "/messages":
            to, number = _number_param(query, "to"), _number_param(query, "number")
            china = self.carrier.alibaba.thread(number) if self.carrier.alibaba and number else []
            self._json(200, self.carrier.log.select(to=to, number=number) + china)
        elif parsed.path == "/emails":
            self._emails(query.get("to", [None])[0], query.get("since", ["0"])[0])
        elif parsed.path == "/favicon.ico":       # browsers ask; nothing to show
            self._send(204, b"", "image/x-icon")
        elif parsed.path == "/mailbox":
            self._mailbox(query.get("to", [None])[0], query.get("notice", [None])[0])
        elif parsed.path == "/clock":
            self._clock()
        elif parsed.path == "/scheduled":
            self._scheduled()
        elif parsed.path == "/chat":
            self._json(200, self.carrier.chat_messages(query.get("channel", [None])[0]))
        elif parsed.path == "/line/chat":
            self._line_chat(query.get("user", [""])[0])
        elif parsed.path == "/wechat/chat":
            self._wechat_chat(query.get("openid", [""])[0])
        elif match := _MESSAGE.match(parsed.path):
            self._api(match.group(1), lambda: self._fetch_message(match.group(2)))
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body()
        if match := _MESSAGES.match(path):
            self._api(match.group(1), lambda: self._create_message(body), created=201)
        elif path == "/reply":
            self._reply(body)
        elif path == "/emails/feedback":
            self._email_action(body, lambda f: self.carrier.simulate_feedback(
                f.get("to", ""), f.get("kind", ""), f.get("message_id") or None), lambda f: f"SES {f.get('kind', '')}")
        elif path == "/emails/unsubscribe":
            self._email_action(body, lambda f: self.carrier.one_click_unsubscribe(f.get("message_id", "")),
                               lambda f: "one-click unsubscribe")
        elif path == "/clock/advance":
            self._advance(body)
        elif path == "/clock/rewind":
            self._rewind(body)
        elif match := _CHAT.match(path):
            self._chat(match.group(1), body)
        elif path.startswith("/line/"):
            self._line_action(path.removeprefix("/line/"), body)
        elif path.startswith("/wechat/"):
            self._wechat_action(path.removeprefix("/wechat/"), body)
        else:
            self._json(404, {"error": "not found"})

    # -- handlers ----------------------------------------------------------------------------------

    def _line_chat(self, user: str) -> None:
        """One LINE user's chat with koe's account, from the stack's LINE stand-in (the phone page's LINE view)."""
        from devstack.line import USER_ID

        if self.carrier.line is None:
            return self._json(404, {"error": "no LINE here: start the whole stack (python -m devstack)"})
        if not USER_ID.fullmatch(user):
            return self._json(400, {"error": "user must be a LINE user id: U and 32 hex digits"})
        self._json(200, self.carrier.line.chat_of(user))

    def _line_action(self, action: str, body: bytes) -> None:
        """The LINE user's side (follow, unfollow, say, redeliver): the stand-in posts the signed webhook
        to koe and this answers what koe answered. JSON only, from this machine only (as /clock/advance)."""
        from devstack.line import customer_action

        if self.carrier.line is None:
            return self._json(404, {"error": "no LINE here: start the whole stack (python -m devstack)"})
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return self._json(403, {"error": "the LINE user's side answers this machine only"})
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            return self._json(415, {"error": 'send JSON: {"user": "U...", "text": "..."}'})
        try:
            fields = json.loads(body.decode("utf-8") or "{}")
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            outcome = customer_action(self.carrier.line, action, fields)
        except LookupError as exc:
            return self._json(404, {"error": str(exc).strip("'\"")})
        except (UnicodeDecodeError, ValueError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, outcome)

    def _wechat_chat(self, openid: str) -> None:
        """One customer's chat with koe's service account, from the stack's WeChat stand-in (the phone
        page's WeChat view)."""
        from devstack.wechat import OPENID

        if self.carrier.wechat is None:
            return self._json(404, {"error": "no WeChat here: start the whole stack (python -m devstack)"})
        if not OPENID.fullmatch(openid):
            return self._json(400, {"error": "openid must be 20 to 64 characters of A-Z a-z 0-9 _ -"})
        self._json(200, self.carrier.wechat.chat_of(openid))

    def _wechat_action(self, action: str, body: bytes) -> None:
        """The WeChat customer's side (follow, unfollow, say): the stand-in pushes the signed event to koe
        and this answers koe's status. JSON only, from this machine only (as /line/ and /clock/advance)."""
        from devstack.wechat import customer_action

        if self.carrier.wechat is None:
            return self._json(404, {"error": "no WeChat here: start the whole stack (python -m devstack)"})
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return self._json(403, {"error": "the WeChat customer's side answers this machine only"})
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            return self._json(415, {"error": 'send JSON: {"openid": "o...", "text": "..."}'})
        try:
            fields = json.loads(body.decode("utf-8") or "{}")
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            outcome = customer_action(self.carrier.wechat, action, fields)
        except LookupError as exc:
            return self._json(404, {"error": str(exc).strip("'\"")})
        except (UnicodeDecodeError, ValueError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, outcome)

    def _chat(self, channel: str, body: bytes) -> None:
        """Slack's incoming webhook: JSON with a `text`, answered `ok` (400 `invalid_payload` otherwise)."""
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return self._send(400, b"invalid_payload", "text/plain; charset=utf-8")
        if self.carrier.chat_fails():
            return self._send(500, b"internal_error", "text/plain; charset=utf-8")
        self.carrier.receive_chat(channel, payload)
        self._send(200, b"ok", "text/plain; charset=utf-8")

    def _api(self, account: str, action: Any, created: int = 200) -> None:
        try:
            self.carrier.check_auth(self.headers.get("Authorization"), account)
            self._json(created, action())
        except TwilioError as exc:
            self._json(exc.status, exc.payload())

    def _create_message(self, body: bytes) -> dict[str, Any]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8")).items()}
        message, from_given = self.carrier.send(form)
        return message.resource(self.carrier.account_sid, from_given=from_given)

    def _fetch_message(self, sid: str) -> dict[str, Any]:
        message = self.carrier.log.get(sid)
        if message is None:
            raise TwilioError(404, 20404, "The requested resource was not found")
        return message.resource(self.carrier.account_sid)

    def _reply(self, body: bytes) -> None:
        try:
            request = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._json(400, {"error": "send JSON: {\"from\": \"+1555...\", \"body\": \"...\"}"})
        from_, text, sid = request.get("from", ""), request.get("body"), request.get("message_sid")
        if not isinstance(from_, str) or not E164.match(from_) or not isinstance(text, str):
            return self._json(400, {"error": "'from' must be E.164 and 'body' a string"})
        if sid is not None and not (isinstance(sid, str) and sid.startswith("SM")):
            return self._json(400, {"error": "'message_sid' must be an SM... sid"})
        if self.carrier.alibaba is not None and MAINLAND_MOBILE.fullmatch(from_):
            return self._china_reply(from_, text)
        outcome = self.carrier.deliver_reply(from_, text, sid)
        self._json(502 if outcome["app_status"] is None else 200, outcome)

    def _china_reply(self, from_: str, text: str) -> None:
        """A mainland number answers China SMS: Alibaba's stand-in pushes it to koe as an SmsUp receipt."""
        try:
            _, status = self.carrier.alibaba.customer_says(from_, text)
        except ValueError as exc:        # nothing was sent to this number by China SMS
            return self._json(409, {"error": str(exc)})
        self._json(502 if status is None else 200, {"app_status": status, "replies": [], "via": "Alibaba Cloud SMS"})

    def _emails(self, to: str | None, since: str) -> None:
        if not since.isdigit():
            return self._json(400, {"error": "since is the index of the first email to list, 0 or more"})
        try:
            self._json(200, self.carrier.emails(to, int(since)))
        except (OSError, ValueError) as exc:
            self._json(502, {"error": f"could not read moto: {exc}"})

    def _mailbox(self, to: str | None, notice: str | None) -> None:
        try:
            emails = self.carrier.emails(to)
        except (OSError, ValueError) as exc:
            return self._json(502, {"error": f"could not read moto: {exc}"})
        page = mailbox.render_mailbox(emails, to, notice).encode("utf-8")
        self._send(200, page, "text/html; charset=utf-8")

    def _email_action(self, body: bytes, action: Any, what: Any) -> None:
        """A JSON request answers JSON; the mailbox page's form gets the page again with a notice."""
        is_form = "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or "")
        try:
            text = body.decode("utf-8") or "{}"
            fields = ({k: v[0] for k, v in urllib.parse.parse_qs(text).items()} if is_form else json.loads(text))
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            outcome = action(fields)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._json(400, {"error": str(exc)})
        except LookupError as exc:
            return self._json(404, {"error": str(exc).strip("'\"")})
        except OSError as exc:
            return self._json(502, {"error": f"could not reach moto or the app: {exc}"})
        if not is_form:
            return self._json(200, outcome)
        notice = f"Done: {what(fields)} ({json.dumps(outcome)})"
        self.send_response(303)
        self.send_header("Location", "/mailbox?" + urllib.parse.urlencode({"notice": notice}))
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- the local stack's clock and schedule -------------------------------------------------------

    def _clock(self) -> None:
        machine = self.carrier.time_machine
        if machine is None:
            return self._json(404, {"error": "no clock here: start the whole stack (python -m devstack)"})
        self._json(200, machine.now())

    def _advance(self, body: bytes) -> None:
        def move(machine: Any, fields: dict[str, Any]) -> dict[str, Any]:
            by, to = read_move(fields)
            outcome: dict[str, Any] = machine.advance(by=by, to=to)
            log(f"time machine: moved {outcome['moved_hours']} h to {outcome['now']}; tick {outcome['tick']}")
            return outcome
        self._move_clock(body, move, 'send JSON: {"hours": N} or {"to": "2026-11-24T00:00:00Z"}')

    def _rewind(self, body: bytes) -> None:
        """The seed's one move back (devstack/seed.py): loopback and JSON only, like /clock/advance."""
        def move(machine: Any, fields: dict[str, Any]) -> dict[str, Any]:
            outcome: dict[str, Any] = machine.rewind(read_rewind(fields))
            log(f"time machine: rewound {outcome['moved_hours']} h to {outcome['now']} (the seed)")
            return outcome
        self._move_clock(body, move, 'send JSON: {"to": "2026-10-22T00:00:00Z"}')

    def _move_clock(self, body: bytes, move: Callable[[Any, dict[str, Any]], dict[str, Any]], expected: str) -> None:
        """The time machine's moves: the whole stack only, this machine only, a JSON object only."""
        machine = self.carrier.time_machine
        if machine is None:
            return self._json(404, {"error": "no clock here: start the whole stack (python -m devstack)"})
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return self._json(403, {"error": "the time machine answers this machine only"})
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            return self._json(415, {"error": expected})
        try:
            fields = json.loads(body.decode("utf-8") or "{}")
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            outcome = move(machine, fields)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, outcome)

    def _scheduled(self) -> None:
        if self.carrier.scheduled is None:
            return self._json(404, {"error": "no stack here: start the whole stack (python -m devstack)"})
        try:
            self._json(200, self.carrier.scheduled())
        except Exception as exc:  # noqa: BLE001 - DynamoDB Local down or busy: say so, keep serving
            self._json(502, {"error": f"could not read DynamoDB Local: {type(exc).__name__}"})

    # -- plumbing ----------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.carrier", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--app-sms-url", default="http://127.0.0.1:8000/twilio/sms")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--number", required=True, help="koe's sending number, E.164")
    parser.add_argument("--messaging-service-sid", default=None)
    parser.add_argument("--moto-url", default=None)
    parser.add_argument("--ses-events-topic-arn", default=None)
    parser.add_argument("--ses-configuration-set", default="")
    parser.add_argument("--callback-delay-s", type=float, default=0.5)
    args = parser.parse_args(argv)
    carrier = Carrier(account_sid=args.account_sid, auth_token=args.auth_token, number=args.number,
                      app_sms_url=args.app_sms_url, host=args.host, port=args.port, moto_url=args.moto_url,
                      callback_delay_s=args.callback_delay_s, messaging_service_sid=args.messaging_service_sid,
                      ses_events_topic_arn=args.ses_events_topic_arn, ses_configuration_set=args.ses_configuration_set)
    log(f"the phone page will be at {carrier.url}/")
    # Ctrl-C, or SIGTERM from the stack runner, stops it cleanly.
    serve_until_signalled(carrier, log)


if __name__ == "__main__":
    main()
