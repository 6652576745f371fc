"""WeChat: a service account's template messages through the real SDK (`wechatpy` 1.8, WeChatClient), and
reading the account's signed webhook pushes.

What it costs (measured on the development machine, Python 3.11, wechatpy 1.8.18): ``python -X importtime
-c "import wechatpy.client"``: 110-120 ms cumulative over eight runs (one first run 164 ms). Importing any
wechatpy module runs its package's ``__init__``, which imports the client, pay, OAuth and component modules
and ``requests``; once Twilio's SDK has loaded ``requests``, wechatpy adds ~30 ms. It adds ~0.95 MB to
the unzipped package (``du`` without ``__pycache__``: wechatpy 800 KB, xmltodict 24 KB, optionaldict
12 KB, their dist-info ~116 KB; requests, six and python-dateutil are shipped already; 1.86 MB with the
``__pycache__`` a local install writes). So it is imported only where a template message is sent; the
webhook (signature, parsing) uses the standard library only, as LINE's does, and the API function's cold
start does not pay for it.

bootstrap builds the client with ``wechat_client`` and hands it in, as it does Twilio's and LINE's::

    WeChatMessaging(wechat_client(appid, secret, base_url=base_url))   # base_url: a stand-in's, else WeChat's

``wechat_client`` points every call at ``base_url`` (WeChatClient's ``API_BASE_URL``; wechatpy's own
``fetch_access_token`` writes ``https://api.weixin.qq.com/cgi-bin/token`` out in full and sets no timeout,
so the client fetches its token through an override that does both), sets short timeouts, and turns off
wechatpy's ``auto_retry``. What wechatpy does on a token error, read in its source
(client/base.py ``_handle_result``): on errcode 40001, 40014 or 42001 it fetches a new access token and
sends the request again, through the same code, **with no limit**: a token WeChat keeps refusing (another
server fetched a newer one; a secret changed) would fetch tokens and resend until Python's recursion
limit, each fetch counting against the account's 2,000 a day. koe refreshes once instead
(``WeChatMessaging``): a refused token is fetched again once and the send tried again once (a refused
send sent nothing); refused again, it is CredentialsRejected and RotatingWeChatMessaging reads the
secret fresh.

The token lives in the client's memory (wechatpy's MemoryStorage): each Lambda execution environment
fetches one at its first send, and each fetch replaces the account's token (the one before works 5 more
minutes). Many environments at once would refuse each other's tokens now and then; the single refresh
covers that, at the cost of fetches (2,000 a day). WeChat's stable token (``POST /cgi-bin/stable_token``:
the secret in the body, not the URL, and a fetch does not end the others' tokens) is the remedy at scale;
it is not used here.

Sending (``send_template``): ``POST /cgi-bin/message/template/send?access_token=`` with ``touser``,
``template_id``, ``url`` (the survey page), ``data`` (``{keyword: {"value": text}}``) and
``client_msg_id``. wechatpy's ``client.message.send_template`` takes no ``client_msg_id`` (and passes
``data`` through as given), so the body is posted through the client's ``post`` (``_post`` is its
deprecated alias). Returns WeChat's ``msgid``, which the ``TEMPLATESENDJOBFINISH`` event names.

WeChat's answers become koe's named errors (WeChat "全局返回码"; "模板消息接口"; wechatpy's
constants.WeChatErrorCode for the same codes):

- 43004 (需要接收者关注: not following the account), 43101 (用户拒绝接受消息: refused the account's
  messages), 40003 (不合法的 OpenID): UndeliverableRecipient ``wechat_<code>``;
- 40037 (不合法的模板id), 47003 (模板参数不准确): TemplateRejected ``wechat_<code>`` (a deployment fault:
  the template book or the console must change);
- 40001 / 40014 / 42001 (access token invalid / illegal / expired) still refused after one fresh token,
  40013 (不合法的 AppID), 40125 (无效的 appsecret), 40002 (不合法的凭证类型): CredentialsRejected;
- 45009 (接口调用超过限制: the daily quota), 45011 (API 调用太频繁), 45047 (下行条数超过上限):
  RetryableSendError, certain (refused: nothing went out). 45015 is "回复时间超过限制" (the 48-hour
  window of customer-service messages), not a rate limit: it falls under "any other code";
- 40164 (调用接口的IP地址不在白名单中), 48001 (api 功能未授权: the account may not send template
  messages): RetryableSendError, certain, a deployment fault retried and then dead-lettered with the
  reason (as LINE's 403 and Alibaba's account faults);
- -1 (系统繁忙), HTTP 5xx, an answer that is not WeChat's JSON, a timeout, a lost connection:
  RetryableSendError in doubt (a replay with the same client_msg_id within 10 minutes is not sent
  twice). A failure while fetching the token is certain: nothing was sent;
- any other code: UndeliverableRecipient ``wechat_<code>`` (named, permanent, never retried blind).

Logs name the customer by a masked openid (domain/wechat.mask: ``oKoe***``), never the text sent or a
secret. The access token (and, when fetching it, the appsecret) travels in the URL's query string: urllib3
logs request URLs at DEBUG, so building a client holds urllib3's connection logger at INFO (as
alibaba_sms.py does), and the errors of a transport fault are raised ``from None``: requests writes the
URL, token included, into its own exception's message, which a chained traceback would log.

The webhook (``WeChatWebhook``): WeChat signs each push with ``signature`` = SHA-1 of the sorted token,
``timestamp`` and ``nonce`` (in the query string; the body is not signed in plaintext mode). koe checks it
as wechatpy.utils.check_signature computes it, in the standard library and in constant time (wechatpy
compares with ``!=``, and importing it imports the whole package: ~110 ms on the webhook's cold start),
and refuses a timestamp older than five minutes when given the time. Plaintext mode only: encrypted
("safe" / compatible) mode, with ``msg_signature`` and an AES-encrypted body, is out of scope; an
encrypted push is InvalidWebhook.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain import wechat
from chalicelib.domain.wechat import NoticeKind, UnreadableWebhook, WeChatNotice, mask
from chalicelib.errors import (
    CredentialsRejected,
    InvalidSignature,
    InvalidWebhook,
    KoeError,
    RetryableSendError,
    TemplateRejected,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger

WECHAT_API = "https://api.weixin.qq.com"
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
CARRIER = "wechat"
TEMPLATE_SEND = "message/template/send"

TOKEN_REFUSED = frozenset({40001, 40014, 42001})
UNREACHABLE = frozenset({43004, 43101, 40003})
TEMPLATE_REFUSED = frozenset({40037, 47003})
CREDENTIALS = frozenset({40002, 40013, 40125}) | TOKEN_REFUSED
THROTTLED = frozenset({45009, 45011, 45047})
ACCOUNT_FAULTS = frozenset({40164, 48001})
SYSTEM_BUSY = -1


def wechat_client(appid: str, secret: str, *, base_url: str = WECHAT_API,
                  timeout_s: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) -> Any:
    """A wechatpy WeChatClient calling `base_url` (WeChat's, or a stand-in's ``http://127.0.0.1:port``)
    for everything, the token too, with `timeout_s` (connect, read) on every request, wechatpy's own
    retry off (see the module's docstring)."""
    import requests
    from wechatpy.client import WeChatClient  # type: ignore[import-untyped]
    from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]

    logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)     # URLs carry the token and secret

    class Client(WeChatClient):  # type: ignore[misc]
        API_BASE_URL = base_url.rstrip("/") + "/cgi-bin/"

        def fetch_access_token(self) -> dict[str, Any]:
            """wechatpy's _fetch_access_token, on API_BASE_URL and with a timeout."""
            answer = self._http.get(self.API_BASE_URL + "token", timeout=self.timeout, params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
            try:
                answer.raise_for_status()
                result = answer.json()
            except (requests.RequestException, ValueError):
                raise WeChatClientException(None, None, client=self, request=answer.request,
                                            response=answer) from None
            if not isinstance(result, dict) or result.get("errcode", 0) != 0 or not result.get("access_token"):
                errcode = result.get("errcode") if isinstance(result, dict) else None
                raise WeChatClientException(errcode, result.get("errmsg") if isinstance(result, dict) else None,
                                            client=self, request=answer.request, response=answer)
            expires_in = int(result.get("expires_in") or 7200)
            self.session.set(self.access_token_key, result["access_token"], expires_in)
            self.expires_at = int(time.time()) + expires_in      # wechatpy keeps expiry in wall-clock seconds
            return result

    return Client(appid, secret, timeout=timeout_s, auto_retry=False)


class WeChatMessaging:
    """Template messages through a wechatpy WeChatClient (built by bootstrap with ``wechat_client``)."""

    def __init__(self, client: Any):
        self._client = client
        # wechatpy's auto_retry refreshes a refused token and resends without limit: koe refreshes once.
        client.auto_retry = False
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

    def send_template(self, openid: str, template_id: str, data: Mapping[str, str], url: str,
                      client_msg_id: str) -> str:
        """Send template `template_id` to `openid`, its keywords filled with `data` (keyword -> text, e.g.
        TemplateBook's ``render``), opening `url` when tapped. Returns WeChat's msgid. Raises
        UndeliverableRecipient, TemplateRejected, CredentialsRejected, RetryableSendError (see the
        module's docstring)."""
        if not wechat.valid_openid(openid):
            raise UndeliverableRecipient("invalid_openid", "not a WeChat openid", carrier=CARRIER)
        body = {"touser": openid, "template_id": template_id, "url": url, "client_msg_id": client_msg_id,
                "data": {keyword: {"value": text} for keyword, text in data.items()}}
        where = {"openid": mask(openid), "template_id": template_id, "client_msg_id": client_msg_id}
        try:
            answer = self._send(body, where)
        except KoeError as exc:
            logger.info("wechat template refused", extra={**where, "error": str(exc)})
            raise
        msgid = str(answer["msgid"])
        logger.info("wechat template sent", extra={**where, "msgid": msgid})
        return msgid

    def _send(self, body: Mapping[str, Any], where: Mapping[str, Any]) -> dict[str, Any]:
        """The send, and once more with a new access token when WeChat refuses the one the client held."""
        try:
            return self._post(body, fresh_token=False)
        except _TokenRefused:
            count("WeChatTokenRefreshed")
            logger.info("wechat refused the access token; fetching a new one", extra=dict(where))
        try:
            return self._post(body, fresh_token=True)
        except _TokenRefused as again:
            raise CredentialsRejected(f"wechat {again.errcode} after a new access token") from None

    def _post(self, body: Mapping[str, Any], *, fresh_token: bool) -> dict[str, Any]:
        """One call: the token (fetched when `fresh_token` or when the client has none usable), then the
        send. _TokenRefused for 40001/40014/42001 on the send; koe's errors for the rest."""
        import requests
        from wechatpy.exceptions import WeChatClientException

        try:
            if fresh_token:
                self._client.fetch_access_token()
            token = self._client.access_token
        except WeChatClientException as exc:
            raise _named(exc, sending=False) from _chain(exc)
        except requests.RequestException as exc:
            raise RetryableSendError(f"wechat token unreachable: {type(exc).__name__}") from None
        try:
            answer = self._client.post(TEMPLATE_SEND, data=dict(body), params={"access_token": token})
        except WeChatClientException as exc:
            if _errcode(exc) in TOKEN_REFUSED:
                raise _TokenRefused(_errcode(exc)) from None
            raise _named(exc, sending=True) from _chain(exc)
        except requests.RequestException as exc:        # a timeout, a lost connection
            raise RetryableSendError(f"wechat unreachable: {type(exc).__name__}", in_doubt=True) from None
        if not isinstance(answer, dict):                 # wechatpy hands back a Response it could not read
            raise RetryableSendError("wechat answered something other than JSON", in_doubt=True)
        if answer.get("msgid") in (None, ""):            # taken, perhaps, without the id its event would name
            raise RetryableSendError("wechat answered without a msgid", in_doubt=True)
        return answer


class _TokenRefused(Exception):
    def __init__(self, errcode: int | None):
        self.errcode = errcode
        super().__init__(f"wechat {errcode}")


class RotatingWeChatMessaging:
    """WeChatMessaging on the appid and secret of the moment: read (through the secret's cache) on each
    send, one client kept per pair. When WeChat refuses them (CredentialsRejected: a secret reset in the
    console since the cache last read it), the secret is read again once and, if it changed, the send
    tried again (a refused request sent nothing)."""

    def __init__(self, keys: Callable[[bool], tuple[str, str]], build: Callable[[str, str], WeChatMessaging]):
        self._keys = keys                          # fresh -> (appid, appsecret)
        self._build = build
        self._clients: dict[tuple[str, str], WeChatMessaging] = {}

    def send_template(self, openid: str, template_id: str, data: Mapping[str, str], url: str,
                      client_msg_id: str) -> str:
        keys = self._keys(False)
        try:
            return self._client(keys).send_template(openid, template_id, data, url, client_msg_id)
        except CredentialsRejected:
            fresh = self._keys(True)
            if fresh == keys:
                raise
            count("WeChatSecretReread")
            logger.info("wechat refused the cached appsecret; sending with the secret read again")
            return self._client(fresh).send_template(openid, template_id, data, url, client_msg_id)

    def _client(self, keys: tuple[str, str]) -> WeChatMessaging:
        if keys not in self._clients:
            self._clients = {keys: self._build(*keys)}       # only the newest is kept
        return self._clients[keys]


def _errcode(exc: Any) -> int | None:
    try:
        return int(exc.errcode) if exc.errcode is not None else None
    except (TypeError, ValueError):
        return None


def _chain(exc: Any) -> Any:
    """The exception to chain a named error to: wechatpy's own for an errcode (its message is the code and
    WeChat's errmsg), none for an HTTP fault (requests' message, under it, holds the URL and the token)."""
    return exc if _errcode(exc) is not None else None


def _named(exc: Any, *, sending: bool) -> Exception:
    """koe's error for wechatpy's WeChatClientException `exc` (errcode, or None with the HTTP response).
    `sending`: raised by the send itself (a fault may have sent it), not by fetching the token."""
    errcode = _errcode(exc)
    if errcode is None:
        response = getattr(exc, "response", None)
        status = int(getattr(response, "status_code", 0) or 0)
        in_doubt = sending and (status >= 500 or not status)       # a 4xx (a wrong URL) reached no API
        return RetryableSendError(f"wechat http {status or 'fault'}", in_doubt=in_doubt)
    if errcode in UNREACHABLE:
        return UndeliverableRecipient(str(errcode), "wechat will not deliver to this openid", carrier=CARRIER)
    if errcode in TEMPLATE_REFUSED:
        return TemplateRejected(f"wechat_{errcode}", carrier=CARRIER)
    if errcode in CREDENTIALS:
        return CredentialsRejected(f"wechat {errcode}")
    if errcode in THROTTLED:
        return RetryableSendError(f"wechat {errcode} rate limit")          # refused: nothing went out
    if errcode in ACCOUNT_FAULTS:
        return RetryableSendError(f"wechat {errcode}: the account cannot send template messages")
    if errcode == SYSTEM_BUSY:
        return RetryableSendError("wechat -1 system busy", in_doubt=sending)
    return UndeliverableRecipient(str(errcode), "rejected by wechat", carrier=CARRIER)


# --- the webhook ----------------------------------------------------------------------------------

def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature of a push: SHA-1 (hex) of the token, timestamp and nonce, sorted and joined."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()


def signature_matches(token: str, given: str | None, timestamp: str | None, nonce: str | None) -> bool:
    if not (token and given and timestamp and nonce):
        return False
    try:
        given_bytes = given.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given_bytes, signature(token, timestamp, nonce).encode("ascii"))


class WeChatWebhook:
    """The account's webhook pushes, checked with the token set in WeChat's console (服务器配置 Token) of
    the moment: on a mismatch against the cached token it is read again once (`token(True)`) before the
    push is refused, so a token changed in the console is taken within one request."""

    def __init__(self, token: Callable[[bool], str]):
        self._token = token                       # fresh -> the webhook token

    def verify(self, signature: str | None, timestamp: str | None, nonce: str | None, *,
               now: datetime | None = None) -> None:
        """InvalidSignature unless the query is signed with the token (and, given `now`, recent)."""
        if not (signature and timestamp and nonce):
            raise InvalidSignature("wechat signature, timestamp or nonce missing")
        if not signature_matches(self._token(False), signature, timestamp, nonce):
            if not signature_matches(self._token(True), signature, timestamp, nonce):
                raise InvalidSignature("wechat signature does not match")
            count("WeChatTokenReread")
        if now is not None and not wechat.signed_recently(timestamp, now):
            raise InvalidSignature("wechat signature timestamp too far from now")

    def echo(self, params: Mapping[str, str], *, now: datetime | None = None) -> str:
        """WeChat's server check (a GET when the URL is saved in the console): its ``echostr``, once the
        query is signed."""
        self._verify(params, now)
        echostr = params.get("echostr")
        if not echostr:
            raise InvalidWebhook("wechat server check without echostr")
        return echostr

    def read(self, params: Mapping[str, str], body_xml: bytes, *, now: datetime | None = None) -> WeChatNotice:
        """The push, once its query is signed: InvalidSignature (403), InvalidWebhook (400) when the signed
        body is not WeChat's plaintext XML. Logged by kind, type and dedupe key, never the openid in full
        or the words."""
        self._verify(params, now)
        if params.get("encrypt_type", "raw") != "raw":
            raise InvalidWebhook("WeChat webhook: an encrypted push: koe reads plaintext mode only")
        try:
            notice = wechat.parse_notice(body_xml)
        except UnreadableWebhook as exc:
            raise InvalidWebhook(f"WeChat webhook: {exc}") from exc
        if notice.kind is NoticeKind.OTHER:
            count("WeChatNoticeIgnored")
        logger.info("wechat notice", extra={"kind": notice.kind.value, "wechat_type": notice.wechat_type,
                                            "dedupe_key": notice.dedupe_key, "openid": mask(notice.openid),
                                            "status": notice.status.value if notice.status else None})
        return notice

    def _verify(self, params: Mapping[str, str], now: datetime | None) -> None:
        self.verify(params.get("signature"), params.get("timestamp"), params.get("nonce"), now=now)
