"""WeChat: a local stand-in for a service account's access token, its template messages and its webhook
pushes (never deployed).

koe's WeChat code and the real SDK (`wechatpy` 1.8) run against it unchanged. Point the client at it::

    client = wechat_client(appid, secret, base_url=platform.url)     # chalicelib/adapters/wechat.py

What it does, as WeChat does it (WeChat Official Accounts documentation: "获取Access token", "模板消息接口",
"全局返回码", "接入指南", "接收普通消息", "接收事件推送"):

* ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=``: ``{"access_token", "expires_in":
  7200}``, valid 7,200 s of this stand-in's clock (injectable: tests move it). A new token leaves the one
  before it valid for 5 more minutes, then it is refused (WeChat: "5分钟内新老access_token都可用").
  A grant_type other than client_credential is 40002, an unknown appid 40013, a wrong secret 40125.
* ``POST /cgi-bin/message/template/send?access_token=`` (JSON: ``touser``, ``template_id``, ``url``,
  ``data`` ``{keyword: {"value": text}}``, ``client_msg_id``), checked in this order: a token this
  stand-in never issued, or replaced more than 5 minutes ago, 40001; one past its 7,200 s, 42001; a
  template id not in its book, 40037; a touser that is not an openid, 40003; an openid that does not
  follow the account, 43004; ``data`` with a keyword the template does not have, or without one it has,
  or an empty value, 47003. The same openid and client_msg_id within 600 s answers the first send's
  msgid and sends nothing again. Else ``{"errcode": 0, "errmsg": "ok", "msgid": ...}``, and what the
  customer's WeChat shows is recorded (``sent``: the template's title, each keyword's filled text, the url).
* After each accepted send, a ``TEMPLATESENDJOBFINISH`` event to ``app_webhook_url``: posted before the
  send is answered (so a test that sent has it), or, with ``auto_finish=False``, when ``finish_sends()``
  is called: ``success``, or ``failed:user block`` for a customer who unfollowed in between
  (``finish_sends(system_failed=True)``: ``failed: system failed``).
* The customer's side: ``follow(openid)``, ``unfollow(openid)``, ``say(openid, text)`` POST plaintext XML
  to ``app_webhook_url`` (when set) as WeChat does: ``?signature=&timestamp=&nonce=&openid=``, signature
  = SHA-1 of the sorted webhook token, timestamp and nonce. ``check_app()`` makes WeChat's server check
  (a signed GET with ``echostr``) and says whether the app echoed it.
* Faults drawn at random on a share of sends (``faults={"system_busy": 0.05, "500": 0.02}``):
  ``system_busy`` errcode -1 and ``rate_limited`` errcode 45009 (nothing sent), ``500`` HTTP 500
  (nothing sent), ``taken500`` sends the message and answers 500 all the same (the sender is in doubt;
  its replay with the same client_msg_id gets the first msgid).

For scripts: ``GET /messages?openid=`` (what was sent, oldest first), ``GET /health``. For the phone
page (the carrier's ``/wechat/`` routes, ``devstack/carrier.py``): ``chat_of(openid)`` (the template
messages and what the customer wrote, oldest first) and ``customer_action`` (follow, unfollow, say).

Templates come from koe's template book configuration (KOE_WECHAT_TEMPLATES's JSON:
``{locale: {message: {"template_id", "title", "fields": {keyword: text}}}}``), read here on its own:
its template ids, titles and keyword names.

Logs name an openid masked (``oKoe***``) and never carry a message's text, a token or the secret.

Run standalone::

    python -m devstack.wechat --port 8028 --appid wx... --secret ... --token ... \\
        [--templates templates.json] [--app-webhook-url http://127.0.0.1:8000/wechat/webhook]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import secrets
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devstack.stand_in import DrawnFaults, JsonHandler, Served, require_loopback, serve_until_signalled
from devstack.time_machine import utc_now

TOKEN_TTL = timedelta(seconds=7200)
TOKEN_OVERLAP = timedelta(minutes=5)
CLIENT_MSG_ID_TTL = timedelta(seconds=600)
WEBHOOK_TIMEOUT_S = 10.0
OPENID = re.compile(r"[A-Za-z0-9_-]{20,64}")
# Faults on a share of sends: (HTTP status, errcode, errmsg), and whether the message went out all the same.
FAULTS: dict[str, tuple[int, int, str, bool]] = {
    "system_busy": (200, -1, "system error", False),
    "rate_limited": (200, 45009, "reach max api daily quota limit", False),
    "500": (500, 0, "", False),
    "taken500": (500, 0, "", True),
}


class Refusal(Exception):
    """An answer other than ok: HTTP status, WeChat's errcode and errmsg."""

    def __init__(self, errcode: int, errmsg: str, status: int = 200) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg, self.status = errcode, errmsg, status


def log(line: str) -> None:
    print(f"wechat: {line}", file=sys.stderr, flush=True)


def masked(openid: str) -> str:
    """oKoe***: an openid as the logs show it (written out here, not taken from koe)."""
    return f"{openid[:4]}***"


def signature(token: str, timestamp: str, nonce: str) -> str:
    """A push's signature. Written out here, not taken from koe: a stand-in must not share the code it
    checks."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Template:
    template_id: str
    title: str
    keywords: tuple[str, ...]


@dataclass
class SentTemplate:
    """One template message accepted, as the customer's WeChat shows it."""

    msgid: int
    openid: str
    template_id: str
    title: str
    fields: dict[str, str]               # keyword -> the text shown, in the template's order
    url: str | None
    client_msg_id: str | None
    at: datetime
    finished: str | None = None          # the TEMPLATESENDJOBFINISH Status, once sent

    @property
    def shown(self) -> str:
        return "\n".join([self.title, *self.fields.values(), *([self.url] if self.url else [])])

    def public(self) -> dict[str, Any]:
        return {"msgid": self.msgid, "openid": self.openid, "template_id": self.template_id, "title": self.title,
                "fields": self.fields, "url": self.url, "client_msg_id": self.client_msg_id,
                "at": self.at.isoformat(), "finished": self.finished, "shown": self.shown}


@dataclass
class _Token:
    issued_at: datetime
    replaced_at: datetime | None = None


@dataclass
class _State:
    follows: dict[str, bool] = field(default_factory=dict)          # openid -> follows (False: unfollowed)
    tokens: dict[str, _Token] = field(default_factory=dict)
    sent: list[SentTemplate] = field(default_factory=list)
    replays: dict[tuple[str, str], SentTemplate] = field(default_factory=dict)
    unfinished: list[SentTemplate] = field(default_factory=list)
    said: list[tuple[str, str, datetime]] = field(default_factory=list)


class WeChatPlatform:
    def __init__(self, *, appid: str, secret: str, token: str, templates: Mapping[str, Template],
                 app_webhook_url: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], datetime] = utc_now, auto_finish: bool = True,
                 faults: Mapping[str, float] | None = None, faults_seed: int = 0,
                 account: str = "gh_0000k0e00000") -> None:
        """`token`: the webhook token (服务器配置 Token), not an access token; `templates`: template id ->
        Template."""
        require_loopback(host, "WeChat")
        self._faults = DrawnFaults("WeChat", FAULTS, faults, faults_seed)
        self.faults_injected = self._faults.injected
        self.appid, self._secret, self._webhook_token = appid, secret, token
        self.templates = dict(templates)
        self.app_webhook_url, self.clock, self.auto_finish, self.account = app_webhook_url, clock, auto_finish, account
        self.pushes: list[tuple[str, int | None]] = []       # (what, the app's status) per webhook push
        self.token_fetches = 0
        self._msgids = itertools.count(2_600_000_001)
        self._msg_ids = itertools.count(24_000_000_000_000_001)
        self._lock = threading.Lock()
        self._state = _State()
        self._served = Served("WeChat", host, port, _Handler, self)

    @classmethod
    def from_template_book(cls, document: Mapping[str, Any], **options: Any) -> WeChatPlatform:
        """Every template of koe's template book configuration, by id: its title and keyword names."""
        templates = {entry["template_id"]: Template(entry["template_id"], entry["title"], tuple(entry["fields"]))
                     for messages in document.values() for entry in messages.values()}
        return cls(templates=templates, **options)

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        self._served.stop()

    # -- the API -----------------------------------------------------------------------------------

    def issue_token(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("grant_type") != "client_credential":
            raise Refusal(40002, "invalid grant_type")
        if not hmac.compare_digest(params.get("appid", "").encode(), self.appid.encode()):
            raise Refusal(40013, "invalid appid")
        if not hmac.compare_digest(params.get("secret", "").encode(), self._secret.encode()):
            raise Refusal(40125, "invalid appsecret")
        token = secrets.token_urlsafe(96)[:128]
        with self._lock:
            now = self.clock()
            for earlier in self._state.tokens.values():
                if earlier.replaced_at is None:
                    earlier.replaced_at = now
            self._state.tokens[token] = _Token(now)
            self.token_fetches += 1
        log("access token issued")
        return {"access_token": token, "expires_in": int(TOKEN_TTL.total_seconds())}

    def _check_token(self, token: str, now: datetime) -> None:
        issued = self._state.tokens.get(token)
        if issued is None or (issued.replaced_at is not None and now - issued.replaced_at >= TOKEN_OVERLAP):
            raise Refusal(40001, "invalid credential, access_token is invalid or not latest")
        if now - issued.issued_at >= TOKEN_TTL:
            raise Refusal(42001, "access_token expired")

    def send_template(self, access_token: str, body: Any) -> tuple[int, list[SentTemplate]]:
        """Accept one template message: its msgid, and the messages whose finish event is due now. A
        Refusal otherwise; a Refusal with `.taken` for taken500 (sent, answered 500)."""
        if not isinstance(body, dict):
            raise Refusal(47001, "data format error")
        with self._lock:
            now = self.clock()
            self._check_token(access_token, now)
            template = self.templates.get(str(body.get("template_id") or ""))
            if template is None:
                raise Refusal(40037, "invalid template_id")
            openid = body.get("touser")
            if not isinstance(openid, str) or not OPENID.fullmatch(openid):
                raise Refusal(40003, "invalid openid")
            if not self._state.follows.get(openid):
                raise Refusal(43004, "require subscribe")
            fields = _filled(body.get("data"), template)
            client_msg_id = body.get("client_msg_id")
            key = (openid, str(client_msg_id)) if client_msg_id else None
            earlier = self._state.replays.get(key) if key else None
            if earlier is not None and now - earlier.at < CLIENT_MSG_ID_TTL:
                log(f"template to {masked(openid)}: client_msg_id seen, msgid {earlier.msgid}, nothing sent")
                return earlier.msgid, []
            fault = self._faults.draw()
            if fault is not None and not FAULTS[fault][3]:
                status, errcode, errmsg, _ = FAULTS[fault]
                raise Refusal(errcode, errmsg, status)
            url = body.get("url")
            sent = SentTemplate(next(self._msgids), openid, template.template_id, template.title, fields,
                                url if isinstance(url, str) and url else None,
                                str(client_msg_id) if client_msg_id else None, now)
            self._state.sent.append(sent)
            if key:
                self._state.replays[key] = sent
            self._state.unfinished.append(sent)
            due = self._due() if self.auto_finish else []
        log(f"template {template.template_id} to {masked(openid)} -> msgid {sent.msgid}")
        if fault is not None:            # taken500: out, and an error all the same
            raise _Taken(sent.msgid, due)
        return sent.msgid, due

    def _due(self) -> list[SentTemplate]:
        due, self._state.unfinished = self._state.unfinished, []
        return due

    # -- what a test or a script reads -------------------------------------------------------------

    def sent(self, openid: str | None = None) -> list[SentTemplate]:
        """Template messages accepted for `openid` (everyone's when None), oldest first."""
        with self._lock:
            return [s for s in self._state.sent if openid is None or s.openid == openid]

    def follows(self, openid: str) -> bool | None:
        """True, False (unfollowed), None (never followed)."""
        with self._lock:
            return self._state.follows.get(openid)

    def said_by(self, openid: str) -> list[tuple[str, datetime]]:
        """What `openid` wrote to the account: (text, when), oldest first."""
        with self._lock:
            return [(text, at) for who, text, at in self._state.said if who == openid]

    def chat_of(self, openid: str) -> dict[str, Any]:
        """The customer's chat with the account as the phone page shows it: whether they follow, and the
        template messages koe sent (``direction`` "template", with their send-job status) and the texts
        they wrote (``direction`` "customer"), oldest first."""
        sent = [{"direction": "template", **s.public()} for s in self.sent(openid)]
        said = [{"direction": "customer", "text": text, "at": at.isoformat()} for text, at in self.said_by(openid)]
        return {"openid": openid, "follows": self.follows(openid),
                "messages": sorted(sent + said, key=lambda m: datetime.fromisoformat(m["at"]))}

    # -- the customer's side: webhook pushes -------------------------------------------------------

    def follow(self, openid: str) -> int | None:
        """The customer follows koe's account: a subscribe event. The app's HTTP status (None: unreached)."""
        with self._lock:
            self._state.follows[_openid(openid)] = True
            now = self.clock()
        return self._push("subscribe", _xml(self.account, openid, now, "event", Event="subscribe", EventKey=""))

    def unfollow(self, openid: str) -> int | None:
        """The customer unfollows: an unsubscribe event; template messages to them are refused (43004)."""
        with self._lock:
            self._state.follows[_openid(openid)] = False
            now = self.clock()
        return self._push("unsubscribe", _xml(self.account, openid, now, "event", Event="unsubscribe", EventKey=""))

    def say(self, openid: str, text: str) -> int | None:
        """The customer writes to the account: a text message (a follower only, as in WeChat)."""
        with self._lock:
            if not self._state.follows.get(_openid(openid)):
                raise ValueError("only a follower can write to a service account")
            now = self.clock()
            self._state.said.append((openid, text, now))
            msg_id = next(self._msg_ids)
        return self._push("text", _xml(self.account, openid, now, "text", Content=text, MsgId=str(msg_id)))

    def finish_sends(self, *, system_failed: bool = False) -> list[int | None]:
        """The TEMPLATESENDJOBFINISH events of the sends not yet finished (``auto_finish=False``)."""
        with self._lock:
            due = self._due()
        return self.finish(due, system_failed=system_failed)

    def finish(self, due: list[SentTemplate], *, system_failed: bool = False) -> list[int | None]:
        """Post the TEMPLATESENDJOBFINISH event of each of `due`, its Status read now."""
        statuses = []
        for sent in due:
            with self._lock:
                follows = self._state.follows.get(sent.openid, False)
                sent.finished = ("failed: system failed" if system_failed
                                 else "success" if follows else "failed:user block")
                now = self.clock()
            statuses.append(self._push("TEMPLATESENDJOBFINISH", _xml(
                self.account, sent.openid, now, "event", Event="TEMPLATESENDJOBFINISH", MsgID=str(sent.msgid),
                Status=sent.finished)))
        return statuses

    def signed_query(self, openid: str | None = None, **extra: str) -> dict[str, str]:
        """A push's query: signature, timestamp (this stand-in's clock), nonce, and the openid."""
        timestamp = str(int(self.clock().timestamp()))
        nonce = str(secrets.randbelow(10**10))
        query = {"signature": signature(self._webhook_token, timestamp, nonce), "timestamp": timestamp,
                 "nonce": nonce, **({"openid": openid} if openid else {}), **extra}
        return query

    def check_app(self) -> bool:
        """WeChat's server check of the app's URL: a signed GET with echostr; whether it was echoed."""
        if self.app_webhook_url is None:
            raise ValueError("no app_webhook_url to check")
        echostr = str(secrets.randbelow(10**18))
        url = f"{self.app_webhook_url}?{urllib.parse.urlencode(self.signed_query(echostr=echostr))}"
        try:
            with urllib.request.urlopen(url, timeout=WEBHOOK_TIMEOUT_S) as answer:
                return bool(answer.status == 200 and answer.read().decode("utf-8") == echostr)
        except OSError:
            return False

    def _push(self, what: str, body: bytes) -> int | None:
        if self.app_webhook_url is None:
            return None
        openid = re.search(rb"<FromUserName><!\[CDATA\[([^\]]*)\]\]>", body)
        query = self.signed_query(openid.group(1).decode() if openid else None)
        request = urllib.request.Request(f"{self.app_webhook_url}?{urllib.parse.urlencode(query)}", data=body,
                                         method="POST", headers={"Content-Type": "text/xml"})
        status: int | None
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:       # the app is down: WeChat would try twice more, then give up
            log(f"{what} push failed: {type(exc).__name__}")
            status = None
        self.pushes.append((what, status))
        log(f"{what} push -> {status}")
        return status


class _Taken(Exception):
    """taken500: the message went out; the answer is 500 all the same."""

    def __init__(self, msgid: int, due: list[SentTemplate]) -> None:
        super().__init__(str(msgid))
        self.msgid, self.due = msgid, due


CUSTOMER_ACTIONS = ("follow", "unfollow", "say")
MAX_TEXT = 2048          # a text written to a service account, at most


def customer_action(platform: WeChatPlatform, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The customer's side over HTTP (this server's ``/customer/<action>``, the carrier's ``/wechat/<action>``
    for the phone page): the push is made as WeChat makes it and the answer is koe's status,
    ``{"app_status"}`` (None: koe unreached). ValueError for what WeChat would not let a customer do (not
    an openid, an empty or long text, writing without following), LookupError for no such action."""
    if action not in CUSTOMER_ACTIONS:
        raise LookupError(f"the customer can {', '.join(CUSTOMER_ACTIONS)}")
    openid = fields.get("openid")
    if not isinstance(openid, str):
        raise ValueError("not an openid: 20 to 64 characters of A-Z a-z 0-9 _ -")
    if action == "follow":
        return {"app_status": platform.follow(openid)}
    if action == "unfollow":
        return {"app_status": platform.unfollow(openid)}
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise ValueError(f"text must be 1 to {MAX_TEXT} characters")
    return {"app_status": platform.say(openid, text)}


def _openid(openid: str) -> str:
    if not OPENID.fullmatch(openid):
        raise ValueError("not an openid: 20 to 64 characters of A-Z a-z 0-9 _ -")
    return openid


def _filled(data: Any, template: Template) -> dict[str, str]:
    """keyword -> value of a send's data, in the template's order; 47003 unless it is exactly the
    template's keywords, each {"value": non-empty text}."""
    if not isinstance(data, dict):
        raise Refusal(47003, "argument invalid! data is empty")
    unknown = sorted(set(data) - set(template.keywords))
    if unknown:
        raise Refusal(47003, f"argument invalid! data.{unknown[0]} is not in the template")
    for keyword in template.keywords:
        value = data.get(keyword)
        text = value.get("value") if isinstance(value, dict) else None
        if not isinstance(text, str) or not text:
            raise Refusal(47003, f"argument invalid! data.{keyword}.value is empty")
    return {keyword: data[keyword]["value"] for keyword in template.keywords}


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml(account: str, openid: str, at: datetime, msg_type: str, **fields: str) -> bytes:
    """A plaintext push as WeChat writes it: strings as CDATA, CreateTime and ids as numbers."""
    numbers = {"MsgId", "MsgID"}
    parts = [f"<ToUserName>{_cdata(account)}</ToUserName>", f"<FromUserName>{_cdata(openid)}</FromUserName>",
             f"<CreateTime>{int(at.timestamp())}</CreateTime>", f"<MsgType>{_cdata(msg_type)}</MsgType>"]
    parts += [f"<{name}>{value if name in numbers else _cdata(value)}</{name}>" for name, value in fields.items()]
    return ("<xml>" + "".join(parts) + "</xml>").encode("utf-8")


class _Handler(JsonHandler):
    server_version = "koe-wechat/1.0"
    say = staticmethod(log)
    json_type = "application/json; encoding=utf-8"

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        platform = self.server.platform
        if parsed.path == "/health":
            return self._json(200, {"ok": True})
        if parsed.path == "/messages":
            return self._json(200, [s.public() for s in platform.sent(query.get("openid"))])
        if parsed.path == "/cgi-bin/token":
            try:
                return self._json(200, platform.issue_token(query))
            except Refusal as refusal:
                return self._refuse(refusal)
        self._json(404, {"errcode": 404, "errmsg": "not found"})

    def do_POST(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        platform = self.server.platform
        if parsed.path.startswith("/customer/"):
            return self._customer(parsed.path.removeprefix("/customer/"), raw)
        if parsed.path != "/cgi-bin/message/template/send":
            return self._json(404, {"errcode": 404, "errmsg": "not found"})
        token = dict(urllib.parse.parse_qsl(parsed.query)).get("access_token", "")
        try:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise Refusal(47001, "data format error") from None
            msgid, due = platform.send_template(token, body)
        except Refusal as refusal:
            return self._refuse(refusal)
        except _Taken as taken:
            platform.finish(taken.due)
            return self._json(500, {"errcode": -1, "errmsg": "system error"})
        platform.finish(due)           # before the answer: a test that sent has the event
        self._json(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _customer(self, action: str, raw: bytes) -> None:
        """The customer's side over HTTP (follow, unfollow, say: JSON ``{"openid", "text"}``), for scripts
        and the local stack's tests: the push is made as WeChat makes it; the answer is koe's status."""
        try:
            fields = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object")
            outcome = customer_action(self.server.platform, action, fields)
        except LookupError as exc:
            return self._json(404, {"error": str(exc).strip("'\"")})
        except (UnicodeDecodeError, ValueError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, outcome)

    def _refuse(self, refusal: Refusal) -> None:
        if refusal.status != 200:
            return self._json(refusal.status, {"errcode": -1, "errmsg": "system error"})
        self._json(200, {"errcode": refusal.errcode, "errmsg": f"{refusal.errmsg} rid: {secrets.token_hex(8)}"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.wechat", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8028)
    parser.add_argument("--appid", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--token", required=True, help="the webhook token (服务器配置 Token)")
    parser.add_argument("--templates", type=Path,
                        help="koe's WeChat template book (JSON); default: the local stack's fictional book")
    parser.add_argument("--app-webhook-url")
    args = parser.parse_args(argv)
    if args.templates:
        document = json.loads(args.templates.read_text("utf-8"))
    else:
        from chalicelib.domain.wechat import DEFAULT_TEMPLATES

        document = DEFAULT_TEMPLATES
    platform = WeChatPlatform.from_template_book(
        document, appid=args.appid, secret=args.secret, token=args.token, app_webhook_url=args.app_webhook_url,
        host=args.host, port=args.port)
    serve_until_signalled(platform, log)


if __name__ == "__main__":
    main()
