"""China SMS: sending through Alibaba Cloud SMS with the real SDK (`alibabacloud-dysmsapi20170525` 4.x,
SendSms), the transport of the `sms_cn` channel (services/send_survey.CnSmsSurveySender).

bootstrap builds the SDK client and hands it in, as it does Twilio's and LINE's::

    config = Config(access_key_id=key_id, access_key_secret=key_secret, endpoint=endpoint,
                    protocol="https", connect_timeout=3000, read_timeout=5000)    # a stand-in: "http"
    AlibabaSms(Client(config), TemplateBook.from_config(templates))

The settings (chalicelib/settings.py): KOE_ALIBABA_SMS_SECRET_ID (a Secrets Manager secret:
``{"access_key_id", "access_key_secret", "receipt_token"}``, read at each send through the secret's
cache), KOE_ALIBABA_SMS_ENDPOINT (default
``dysmsapi.aliyuncs.com``; a stand-in's ``127.0.0.1:port`` with KOE_ALIBABA_SMS_PROTOCOL=http),
KOE_CN_SMS_TEMPLATES (the template book, domain/cn_sms.TemplateBook.from_config), and the URLs koe's
receipt routes are given in Alibaba's console (HTTP batch push of SmsReport and SmsUp:
``<public base>/alibaba/sms/reports/<receipt_token>`` and ``.../replies/<receipt_token>``).

The SDK is imported only where a message is sent (its import costs ~0.6 s). What SendSms is given:
PhoneNumbers the 11-digit national number (``+86`` dropped), SignName and TemplateCode from the template
book, TemplateParam built by domain/cn_sms.template_param (only the approved parameters: anything else is
TemplateRejected ``koe_params`` before any call), OutId koe's survey id (so a delivery report names its
survey). The SDK does not retry (no retry options are set): koe's queues do.

Alibaba's answers become koe's named errors. A refusal of the request itself (credentials, signature,
API throttling) is an HTTP 4xx the SDK raises as ClientException / ThrottlingException with Alibaba's
code; SendSms's own verdict comes as HTTP 200 with ``Code`` other than ``OK``. Both are read by code:

- ``isv.BUSINESS_LIMIT_CONTROL`` (per-number flow control: Alibaba's default for a notification is 50 a
  day per number, signature and template), ``isv.DAY_LIMIT_CONTROL`` / ``isv.MONTH_LIMIT_CONTROL`` (the
  account's limits set in the console), ``Throttling`` / ``Throttling.User`` / ``Throttling.Api``, HTTP
  429: RetryableSendError, certain (nothing went out);
- ``isv.SMS_TEMPLATE_ILLEGAL``, ``isv.SMS_SIGNATURE_ILLEGAL``, ``isv.SMS_SIGN_ILLEGAL``,
  ``isv.SIGN_STATE_ILLEGAL``, ``isv.SMS_SIGNATURE_SCENE_ILLEGAL``, ``isv.TEMPLATE_MISSING_PARAMETERS``,
  ``isv.TEMPLATE_PARAMS_ILLEGAL``, ``isv.INVALID_JSON_PARAM``, ``isv.PARAM_LENGTH_LIMIT``,
  ``isv.PARAM_NOT_SUPPORT_URL``, ``isv.SMS_CONTENT_ILLEGAL``, ``isv.BLACK_KEY_CONTROL_LIMIT``:
  TemplateRejected (permanent: the template book or the console must change);
- ``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.DOMESTIC_NUMBER_NOT_SUPPORTED``, ``isv.MOBILE_COUNT_OVER_LIMIT``:
  UndeliverableRecipient ``alibaba_<code>``;
- ``InvalidAccessKeyId.NotFound``, ``InvalidAccessKeyId.Inactive``, ``SignatureDoesNotMatch``,
  ``IncompleteSignature``, ``isp.RAM_PERMISSION_DENY``: CredentialsRejected (the sender reads the secret
  again once, as for Twilio);
- ``isv.OUT_OF_SERVICE``, ``isv.AMOUNT_NOT_ENOUGH``, ``isv.PRODUCT_UN_SUBSCRIPT``,
  ``isv.PRODUCT_UNSUBSCRIBE``, ``isv.ACCOUNT_NOT_EXISTS``, ``isv.ACCOUNT_ABNORMAL``, ``isv.DENY_IP_RANGE``:
  RetryableSendError, a deployment fault retried and then dead-lettered with the reason (as Twilio's
  20003 or LINE's 403);
- ``isp.SYSTEM_ERROR``, ``InternalError``, ``ServiceUnavailable``, any HTTP 5xx, a timeout or a lost
  connection: RetryableSendError in doubt. SendSms is not idempotent (Alibaba: "国内短信...不支持幂等"; on a
  timeout, look at the receipt before sending again): the survey's send lease and the delivery report
  (by OutId) decide, not an immediate resend;
- any other code: UndeliverableRecipient ``alibaba_<code>`` (permanent, named, never retried blind).

Sources: Alibaba Cloud SMS "API错误码" (help.aliyun.com/document_detail/101346), SendSms
(help.aliyun.com/document_detail/55284 and 419273: the code list, "不支持幂等", the timeout advice), the
OpenAPI common client errors (InvalidAccessKeyId.NotFound 404, SignatureDoesNotMatch 400,
Throttling.User 400: developer.aliyun.com/ask/278265), and the SDK's source (alibabacloud_tea_openapi
client.do_request: 4xx -> ClientException, 5xx -> ServerException, ``x-acs-retry-after`` ->
ThrottlingException; darabonba.core.do_action: an IOError -> RetryError, wrapped in
UnretryableException).

Logs name the recipient by a masked number (domain/phone.mask: +86*******8000), the survey by its id,
the message by its name and template code; never the text, the parameters or a key. SendSms puts the
number and TemplateParam in the URL's query string, which urllib3 logs at DEBUG: building an AlibabaSms
holds urllib3's connection logger at INFO (as dynamo/binding.py does for PynamoDB). The SDK's own
``DEBUG=sdk`` environment variable prints whole requests: never set it where real numbers are sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain import cn_sms, phone
from chalicelib.domain.cn_sms import TemplateBook
from chalicelib.errors import (
    CredentialsRejected,
    RetryableSendError,
    TemplateRejected,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger

CONNECT_TIMEOUT_MS = 3000
READ_TIMEOUT_MS = 5000
CARRIER = "alibaba"

THROTTLED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL",
                       "Throttling", "Throttling.User", "Throttling.Api"})
TEMPLATE_REFUSED = frozenset({
    "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_ILLEGAL", "isv.SIGN_STATE_ILLEGAL",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.TEMPLATE_PARAMS_ILLEGAL",
    "isv.INVALID_JSON_PARAM", "isv.PARAM_LENGTH_LIMIT", "isv.PARAM_NOT_SUPPORT_URL", "isv.SMS_CONTENT_ILLEGAL",
    "isv.BLACK_KEY_CONTROL_LIMIT"})
UNREACHABLE = frozenset({"isv.MOBILE_NUMBER_ILLEGAL", "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
                         "isv.MOBILE_COUNT_OVER_LIMIT"})
CREDENTIALS = frozenset({"InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive", "SignatureDoesNotMatch",
                         "IncompleteSignature", "isp.RAM_PERMISSION_DENY"})
ACCOUNT_FAULTS = frozenset({"isv.OUT_OF_SERVICE", "isv.AMOUNT_NOT_ENOUGH", "isv.PRODUCT_UN_SUBSCRIPT",
                            "isv.PRODUCT_UNSUBSCRIBE", "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL",
                            "isv.DENY_IP_RANGE"})
SERVER_FAULTS = frozenset({"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable"})


class AlibabaSms:
    """SendSms through the SDK's Client (built by bootstrap), one approved template per message."""

    def __init__(self, client: Any, templates: TemplateBook, *,
                 timeouts_ms: tuple[int, int] = (CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS)):
        self._client = client
        self._templates = templates
        self._timeouts = timeouts_ms
        # SendSms carries its parameters in the URL's query string (the SDK's generated call), and urllib3
        # logs each request's URL at DEBUG: the phone number and TemplateParam (a customer's name) with it.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

    def send(self, phone_number: str, message_name: str, params: Mapping[str, str], out_id: str,
             locale: str = cn_sms.DEFAULT_LOCALE) -> str:
        """Send the approved template of `message_name` (in `locale`) to `phone_number` (E.164, +86) with
        `params` as its variables; `out_id` (koe's survey id) comes back on the delivery report. Returns
        Alibaba's BizId. Raises TemplateRejected, UndeliverableRecipient, CredentialsRejected,
        RetryableSendError (see the module's docstring)."""
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.exceptions import UnretryableException
        from darabonba.runtime import RuntimeOptions

        template = self._template(message_name, locale)
        try:
            template_param = cn_sms.template_param(template, params)
        except cn_sms.TemplateParamsMismatch as exc:
            count("CnSmsParamsRefused")
            raise TemplateRejected("koe_params", str(exc), template_code=template.template_code) from exc
        try:
            number = cn_sms.national_number(phone_number)
        except cn_sms.NotMainlandMobile as exc:
            raise UndeliverableRecipient("not_mainland_mobile", "China SMS takes +86 mobile numbers only",
                                         carrier=CARRIER) from exc
        request = SendSmsRequest(phone_numbers=number, sign_name=template.sign_name,
                                 template_code=template.template_code, template_param=template_param,
                                 out_id=out_id)
        runtime = RuntimeOptions(autoretry=False, connect_timeout=self._timeouts[0], read_timeout=self._timeouts[1])
        where = {"survey_id": out_id, "message_name": message_name, "template_code": template.template_code,
                 "phone": phone.mask(phone_number)}
        try:
            response = self._client.send_sms_with_options(request, runtime)
        except (AlibabaCloudException, UnretryableException) as exc:
            named = _named_sdk_error(exc)
            logger.info("alibaba sms refused", extra={**where, "error": str(named)})
            raise named from exc
        body = response.body
        code = str(getattr(body, "code", "") or "")
        if code != "OK":
            named = _named(code, 200)
            logger.info("alibaba sms refused", extra={**where, "error": str(named)})
            raise named
        biz_id = str(getattr(body, "biz_id", "") or "")
        if not biz_id:              # taken ("OK") without the id a report would carry: cannot be followed
            raise RetryableSendError("alibaba OK without a BizId", in_doubt=True)
        logger.info("alibaba sms sent", extra={**where, "biz_id": biz_id,
                                               "request_id": str(getattr(body, "request_id", "") or "")})
        return biz_id

    def _template(self, message_name: str, locale: str) -> cn_sms.ApprovedTemplate:
        try:
            return self._templates.template(message_name, locale)
        except cn_sms.UnknownTemplate as exc:
            raise TemplateRejected("koe_unknown_template", str(exc)) from exc


class RotatingAlibabaSms:
    """AlibabaSms on the AccessKey of the moment: read (through the secret's cache) on each send, one SDK
    client kept per key. When Alibaba refuses it (CredentialsRejected: a key rotated since the cache last
    read it), the secret is read again once and, if the key changed, the send tried again (a refused
    request sent nothing)."""

    def __init__(self, keys: Callable[[bool], tuple[str, str]], build: Callable[[str, str], AlibabaSms]):
        self._keys = keys                          # fresh -> (access_key_id, access_key_secret)
        self._build = build
        self._clients: dict[tuple[str, str], AlibabaSms] = {}

    def send(self, phone_number: str, message_name: str, params: Mapping[str, str], out_id: str,
             locale: str = cn_sms.DEFAULT_LOCALE) -> str:
        keys = self._keys(False)
        try:
            return self._client(keys).send(phone_number, message_name, params, out_id, locale)
        except CredentialsRejected:
            fresh = self._keys(True)
            if fresh == keys:
                raise
            count("AlibabaKeyReread")
            logger.info("alibaba refused the cached access key; sending with the secret read again")
            return self._client(fresh).send(phone_number, message_name, params, out_id, locale)

    def _client(self, keys: tuple[str, str]) -> AlibabaSms:
        if keys not in self._clients:
            self._clients = {keys: self._build(*keys)}       # only the newest is kept
        return self._clients[keys]


def _named_sdk_error(exc: Exception) -> Exception:
    """koe's error for what the SDK raised: Alibaba's refusal (an AlibabaCloudException: its code and HTTP
    status; a ThrottlingException when Alibaba said when to come back), or a transport fault
    (UnretryableException around a RetryError from a timeout or a lost connection, or around an answer
    that was not JSON: in doubt)."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException

    if isinstance(exc, ThrottlingException):
        return RetryableSendError(f"alibaba throttled {exc.code}")        # refused: nothing went out
    if isinstance(exc, AlibabaCloudException):
        return _named(str(exc.code or ""), int(exc.status_code or 0))
    inner = getattr(exc, "inner_exception", None)
    return RetryableSendError(f"alibaba unreachable: {type(inner).__name__}", in_doubt=True)


def _named(code: str, status: int) -> Exception:
    """koe's error for Alibaba's `code` (answered with HTTP `status`)."""
    if code in THROTTLED or status == 429:
        return RetryableSendError(f"alibaba {code or status}")           # refused: nothing went out
    if code in TEMPLATE_REFUSED:
        return TemplateRejected(code)
    if code in UNREACHABLE:
        return UndeliverableRecipient(code, "recipient cannot receive China SMS", carrier=CARRIER)
    if code in CREDENTIALS:
        return CredentialsRejected(f"alibaba {code}")
    if code in ACCOUNT_FAULTS:
        return RetryableSendError(f"alibaba {code}: the account cannot send")
    if code in SERVER_FAULTS or status >= 500:
        return RetryableSendError(f"alibaba {code or status}", in_doubt=True)
    return UndeliverableRecipient(code or str(status), "rejected by alibaba", carrier=CARRIER)
