"""The one reader of the environment: typed, validated, once per process.

`infra/` injects these variables in AWS; `devstack/` and the tests inject them locally.
Nothing else in koe reads `os.environ` (Powertools reads its own POWERTOOLS_* variables).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import resources
from chalicelib.errors import SettingsError

__all__ = ["Settings", "SettingsError", "current", "from_env"]
from chalicelib.domain import local_token

if TYPE_CHECKING:      # the case and alert settings' types: read (and imported) in from_env only,
    from chalicelib.case_settings import CaseSettings  # so importing settings stays cheap
    from chalicelib.domain.alert_delivery import Subscriber
    from chalicelib.domain.questions import Definitions
from chalicelib.domain.case_routing import RoutingTable

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    region: str
    resource_prefix: str
    public_base_url: str                    # as Twilio sees us: signatures are checked against it
    intake_queue_url: str
    intake_dlq_url: str
    follow_up_queue_url: str
    cx_topic_arn: str
    # The secrets' ids (names or ARNs), never their values (chalicelib/credentials.py reads them when
    # first needed; resources.SECRETS): unset where no handler of the function uses the secret.
    twilio_secret_id: str | None = None         # KOE_TWILIO_SECRET_ID
    api_keys_secret_id: str | None = None       # KOE_API_KEYS_SECRET_ID
    contact_keys_secret_id: str | None = None   # KOE_CONTACT_KEYS_SECRET_ID
    line_secret_id: str | None = None           # KOE_LINE_SECRET_ID; None: no survey goes out on LINE
    alibaba_sms_secret_id: str | None = None    # KOE_ALIBABA_SMS_SECRET_ID; None: no survey goes out by China SMS
    wechat_secret_id: str | None = None         # KOE_WECHAT_SECRET_ID; None: no survey goes out on WeChat
    secrets_max_age_seconds: int = 300          # a rotated secret is read within this long
    # The configuration document (resources.CONFIG_DOCUMENT, chalicelib/config_document.py): the bucket
    # and key it is read from (None: the environment carries that configuration, e.g. the tests), how
    # long a read is trusted, and the object version these settings were read from.
    config_bucket: str | None = None
    config_key: str = resources.CONFIG_DOCUMENT.key
    config_max_age_seconds: int = 300
    config_version: str | None = None
    twilio_base_url: str | None = None      # local stand-in; None means api.twilio.com
    line_base_url: str | None = None        # local stand-in (devstack/line.py); None means api.line.me
    # China SMS (Alibaba Cloud SMS): its endpoint and protocol (a stand-in: 127.0.0.1:port and http), and
    # the approved templates (KOE_CN_SMS_TEMPLATES, domain/cn_sms.TemplateBook.from_config: checked here).
    alibaba_sms_endpoint: str = "dysmsapi.aliyuncs.com"
    alibaba_sms_protocol: str = "https"
    cn_sms_templates: dict[str, Any] = field(default_factory=dict)
    # WeChat: the API's base URL (a local stand-in, devstack/wechat.py; None: api.weixin.qq.com) and the
    # service account's template book (KOE_WECHAT_TEMPLATES, domain/wechat.TemplateBook.from_config).
    wechat_base_url: str | None = None
    wechat_templates: dict[str, Any] = field(default_factory=dict)
    dynamodb_endpoint: str | None = None    # DynamoDB Local; None means AWS
    aws_endpoint: str | None = None         # moto server for SQS/SNS/SES/EventBridge; None means AWS
    brand: str = "Example Life"
    default_locale: str = "en-US"
    reporting_timezone: str = "UTC"
    templates_dir: Path = REPO_ROOT / "templates"
    cooldown_days: int = 30
    cooldown_days_by_procedure: Mapping[str, int] = field(default_factory=dict)
    escalation_threshold: int = 6
    escalation_threshold_by_procedure: Mapping[str, int] = field(default_factory=dict)
    # What each procedure's survey asks first (KOE_SURVEY_DEFINITIONS, domain/questions.py): NPS by default.
    survey_definitions: Definitions = field(default_factory=lambda: _definition_defaults())
    response_window_days: int = 7           # how long a survey takes an answer (then: expired; later: late)
    response_window_days_by_procedure: Mapping[str, int] = field(default_factory=dict)
    reminder_hours: int = 24                # the one reminder, if unanswered by then (0: none)
    max_event_age_hours: int = 72
    max_receives: int = 4                   # then dispatch dead-letters the record with its reason
    retention_days: int = 400
    # Outcome and score counters (no customer data): 400 days, so a period can be compared with the
    # same period a year earlier (docs/operations.md, Retention).
    counter_retention_days: int = 400
    clock_skew_seconds: int = 300           # a completed_at further ahead than this is refused
    # Channel order per country (ISO 3166, or "*"), over the defaults in domain/channel_policy.py.
    channel_preferences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    survey_link_base_url: str | None = None  # a short domain for links in SMS; default public_base_url
    # Email (SES): the sender, "survey@example.jp" or "Example Life <survey@example.jp>" (the brand is
    # the display name when none is given); None: no email sender, the channel policy skips email.
    email_from: str | None = None
    ses_configuration_set: str | None = None  # SES reports bounces and complaints of what it sends
    send_window: str = "09:00-20:00"        # the customer's local time; public holidays skipped
    send_window_by_country: Mapping[str, str] = field(default_factory=dict)
    send_rates: str = ""                    # KOE_SEND_RATES, e.g. "sms=1,email=14": the schedule's pace per sender
    # A send's claim (domain/survey_lifecycle.SEND_LEASE): longer than the sending function's timeout.
    send_lease_s: int = 120
    skip_holidays: bool = True              # no surveys on the customer's country's public holidays
    fatigue_cap: int = 2                    # at most this many surveys per contact ...
    fatigue_cap_days: int = 30              # ... per rolling period of this many days
    sampling_by_procedure: Mapping[str, float] = field(default_factory=dict)   # share surveyed, 0..1
    score_shards: int = 8                   # partitions per dimension (writes spread; reads query each)
    min_sample: int = 30                    # below this n a figure is flagged "too few answers"
    cases: CaseSettings = field(default_factory=lambda: _case_defaults())   # chalicelib/case_settings.py
    # The local stack's bearer-token secret (KOE_LOCAL_TOKEN_SECRET); None (always, in AWS): the
    # CX team's tokens are Cognito's, verified by API Gateway.
    local_token_secret: str | None = field(default=None, repr=False)
    # CX alerts to people (services/deliver_alerts.py): the queue subscribed to the alert topic (its
    # failed records back off from it), its dead-letter queue, the broadcast subscribers
    # (KOE_ALERT_SUBSCRIBERS, chalicelib/alert_settings.py) and the first backoff (doubled per retry).
    alert_queue_url: str | None = None
    alert_dlq_url: str | None = None
    alert_subscribers: tuple[Subscriber, ...] = ()
    alert_retry_seconds: int = 30
    # How long a destination's claim outlives a sender that died (services/deliver_alerts.py): longer
    # than one delivery (a chat webhook's timeout).
    alert_lease_seconds: int = 120
    # Comment insight (services/comment_insight.py): who reads comments (KOE_COMMENT_ANALYSER:
    # comprehend in AWS, set by infra/; offline, a local analyser per language, in the local stack),
    # the queue on_response puts them on, and its dead-letter queue.
    comment_analyser: str = "offline"
    comment_insight_queue_url: str | None = None
    comment_insight_dlq_url: str | None = None
    # The dashboard's sign-in in AWS (infra/ sets both): Cognito's hosted UI at
    # KOE_COGNITO_DOMAIN_URL (https://<prefix>.auth.<region>.amazoncognito.com) for the app client
    # KOE_COGNITO_CLIENT_ID; it sends the user back to <public_base_url>/dashboard with a code.
    cognito_domain_url: str | None = None
    cognito_client_id: str | None = None

    def table_name(self, logical: str) -> str:
        return resources.physical(self.resource_prefix, logical)

    @property
    def case_routing(self) -> RoutingTable:
        """KOE_CASE_ROUTING (read with the case settings): owners, managers, the lead, contacts."""
        return self.cases.routing

    def response_window_for(self, procedure: str) -> int:
        return self.response_window_days_by_procedure.get(procedure, self.response_window_days)

    def cooldown_for(self, procedure: str) -> int:
        return self.cooldown_days_by_procedure.get(procedure, self.cooldown_days)

    @property
    def history_days(self) -> int:
        """The longest period a fatigue rule looks back: the contact keeps its history that long."""
        return max(self.cooldown_days, self.fatigue_cap_days, *self.cooldown_days_by_procedure.values())

    def threshold_for(self, procedure: str, scale: str = "nps") -> int:
        """At or below it an answer on `scale` escalates: the procedure's own threshold
        (KOE_ESCALATION_THRESHOLD_BY_PROCEDURE), a number on the scale of the procedure's definition,
        so only for a survey asked on that scale (one sent before the definition changed keeps its
        scale's default); else KOE_ESCALATION_THRESHOLD on NPS, the scale's default on CSAT (2) and CES (3)."""
        from chalicelib.domain import questions

        asked = questions.scale_of(scale)
        configured = self.escalation_threshold_by_procedure.get(procedure)
        if configured is not None and self.survey_definitions.for_procedure(procedure).scale is asked:
            return configured
        return self.escalation_threshold if asked is questions.Scale.NPS else questions.DEFAULT_THRESHOLD[asked]

    @property
    def sms_webhook_url(self) -> str:
        return f"{self.public_base_url}/twilio/sms"

    @property
    def line_enabled(self) -> bool:
        """Whether surveys go out on LINE: its secret is named (its value is read when first needed)."""
        return self.line_secret_id is not None

    @property
    def cn_sms_enabled(self) -> bool:
        """Whether surveys go out by China SMS: its secret is named and its approved templates given."""
        return self.alibaba_sms_secret_id is not None and bool(self.cn_sms_templates)

    @property
    def wechat_enabled(self) -> bool:
        """Whether surveys go out on WeChat: its secret is named and its template book given."""
        return self.wechat_secret_id is not None and bool(self.wechat_templates)

    def alibaba_receipts_url(self, kind: str, token: str) -> str:
        """The URL Alibaba's console is given for its HTTP push of `kind` (reports, replies)."""
        return f"{self.public_base_url}/alibaba/sms/{kind}/{token}"

    @property
    def status_callback_url(self) -> str:
        return f"{self.public_base_url}/twilio/status"

    @property
    def survey_page_url(self) -> str:
        """Where `/s/{token}` is served, as customers see it (short: it goes into SMS)."""
        return f"{self.survey_link_base_url or self.public_base_url}/s"

    @property
    def unsubscribe_page_url(self) -> str:
        """Where `/u/{token}` (an email's unsubscribe link) is served, as customers see it."""
        return f"{self.survey_link_base_url or self.public_base_url}/u"


# Each default is written once, on its Settings field; from_env reads it from there.
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}


def _default(name: str) -> Any:
    """The default of Settings field `name`, as declared on the dataclass."""
    return _DEFAULTS[name]


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _json_object(env: Mapping[str, str], name: str, example: str) -> dict[str, Any]:
    """A JSON object setting (empty when unset); SettingsError showing `example` otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a JSON object, e.g. {example}") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object, e.g. {example}")
    return {str(k): v for k, v in value.items()}


def _check_cn_links(settings: Settings) -> None:
    """A China SMS template that carries the survey page by `${token}` (Alibaba approves a link only as
    fixed text on a registered domain, a variable after it) must write the page's own URL before it:
    `<KOE_SURVEY_LINK_BASE_URL or KOE_PUBLIC_BASE_URL>/s/${token}`. Else every survey would point nowhere."""
    if not settings.cn_sms_templates:
        return
    from chalicelib.domain.cn_sms import TemplateBook

    wanted = f"{settings.survey_page_url}/${{token}}"
    for (locale, message), template in TemplateBook.from_config(settings.cn_sms_templates).approved().items():
        if "token" in template.params and wanted not in template.text:
            raise SettingsError(f"KOE_CN_SMS_TEMPLATES: {locale}.{message}.text: ${{token}} is not written after "
                                f"the survey page's URL {settings.survey_page_url}/")


def _wechat_templates(env: Mapping[str, str], name: str) -> dict[str, Any]:
    """WeChat's template book, checked as the book checks it (empty when unset)."""
    return _book(env, name, "chalicelib.domain.wechat",
                 '{"zh-CN": {"invitation": {"template_id": "<from the console>", "title": "服务评价邀请", '
                 '"fields": {"keyword1": "{procedure}"}}}}')


def _templates(env: Mapping[str, str], name: str) -> dict[str, Any]:
    """China SMS's approved templates, checked as the template book checks them (empty when unset)."""
    return _book(env, name, "chalicelib.domain.cn_sms",
                 '{"zh-CN": {"invitation": {"sign_name": "示例人寿", "template_code": "SMS_480000001", '
                 '"params": ["token"], "text": "... https://<page host>/s/${token} 回T退订"}}}')


def _book(env: Mapping[str, str], name: str, rules: str, example: str) -> dict[str, Any]:
    """A template book setting: a JSON object that the `TemplateBook` of the module `rules` takes
    (SettingsError naming `name` otherwise). The module is imported only where the setting is given:
    a function's cold start does not pay for a channel its stage does not run."""
    document = _json_object(env, name, example)
    if document:
        books = importlib.import_module(rules)
        try:
            books.TemplateBook.from_config(document)
        except books.InvalidTemplateBook as exc:
            raise SettingsError(f"{name}: {exc}") from exc
    return document


def _int_map(env: Mapping[str, str], name: str) -> dict[str, int]:
    example = '{"claim_payment": 5}'
    try:
        return {k: int(v) for k, v in _json_object(env, name, example).items()}
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{name} must be a JSON object of integers, e.g. {example}") from exc


def _channel_map(env: Mapping[str, str], name: str) -> dict[str, tuple[str, ...]]:
    from chalicelib.domain.channels import names

    known = names()

    example = '{"JP": ["sms_link", "email"]}'
    value = _json_object(env, name, example)
    if not all(isinstance(v, list) and v and all(c in known for c in v) for v in value.values()):
        raise SettingsError(f"{name} must be a JSON object of channel lists, e.g. {example}; "
                            f"channels: {', '.join(known)}")
    return {k: tuple(v) for k, v in value.items()}


def _window(env: Mapping[str, str], name: str) -> str | None:
    from chalicelib.domain.send_window import InvalidWindow, Window

    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        Window.parse(raw)
    except InvalidWindow as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    return raw


def _rates(env: Mapping[str, str], name: str) -> str:
    from chalicelib.domain.send_pace import InvalidRates, SendRates

    raw = env.get(name, "").strip()
    try:
        SendRates.parse(raw)
    except InvalidRates as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    return raw


def _window_map(env: Mapping[str, str], name: str) -> dict[str, str]:
    value = _json_object(env, name, '{"JP": "09:00-20:00"}')
    return {k.upper(): _window({"w": str(v)}, "w") or "" for k, v in value.items()}


COMMENT_ANALYSERS = ("comprehend", "offline")


def _one_of(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise SettingsError(f"{name} is one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes", "on")


def _rate_map(env: Mapping[str, str], name: str) -> dict[str, float]:
    example = '{"call_center": 0.2}'
    try:
        rates = {k: float(v) for k, v in _json_object(env, name, example).items()}
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{name} must be a JSON object of shares, e.g. {example}") from exc
    if not all(0.0 <= rate <= 1.0 for rate in rates.values()):
        raise SettingsError(f"{name}: every share is between 0 and 1")
    return rates


def _email(env: Mapping[str, str], name: str) -> str | None:
    from email.utils import parseaddr

    raw = env.get(name, "").strip()
    if not raw:
        return None
    _, address = parseaddr(raw)
    local, at, domain = address.rpartition("@")
    if not (at and local and "." in domain) or any(c.isspace() for c in address):
        raise SettingsError(f"{name} must be an email address, e.g. survey@example.jp or "
                            f"'Example Life <survey@example.jp>', got {raw!r}")
    return raw


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip().rstrip("/")
    if raw and not raw.startswith(("https://", "http://")):
        raise SettingsError(f"{name} must be an http(s) URL")
    return raw or None


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _document_values(document: Mapping[str, Any]) -> dict[str, str]:
    """The document's values as the variables they stand for: each JSON value, written as JSON, is
    read by the same reader (and refused with the same named SettingsError) as the variable."""
    from chalicelib import config_document

    return {name: json.dumps(value) for name, value in config_document.parse(json.dumps(document), "given").items()}


def _secret(env: Mapping[str, str], name: str, minimum_chars: int) -> str | None:
    raw = env.get(name, "").strip()
    if raw and len(raw) < minimum_chars:
        raise SettingsError(f"{name} must be at least {minimum_chars} characters")   # never the value
    return raw or None


def secret_ids(settings: Settings) -> dict[str, str | None]:
    """Each secret's id by its name in resources.SECRETS (chalicelib/credentials.py reads them)."""
    return {resources.TWILIO_SECRET.name: settings.twilio_secret_id,
            resources.API_KEYS_SECRET.name: settings.api_keys_secret_id,
            resources.CONTACT_KEYS_SECRET.name: settings.contact_keys_secret_id,
            resources.LINE_SECRET.name: settings.line_secret_id,
            resources.ALIBABA_SMS_SECRET.name: settings.alibaba_sms_secret_id,
            resources.WECHAT_SECRET.name: settings.wechat_secret_id}


def from_env(env: Mapping[str, str], document: Mapping[str, Any] | None = None, version: str | None = None) -> Settings:
    """The settings of `env`, with the configuration document's values (`document`, object `version`)
    in place of the variables it carries (resources.CONFIG_DOCUMENT.fields)."""
    if document is not None:
        env = {**env, **_document_values(document)}
    public = _required(env, "KOE_PUBLIC_BASE_URL").rstrip("/")
    if not public.startswith(("https://", "http://")):
        raise SettingsError("KOE_PUBLIC_BASE_URL must be an http(s) URL")
    settings = Settings(
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        resource_prefix=env.get("KOE_RESOURCE_PREFIX", resources.DEFAULT_PREFIX),
        public_base_url=public,
        twilio_secret_id=_optional(env, resources.TWILIO_SECRET.env),
        api_keys_secret_id=_optional(env, resources.API_KEYS_SECRET.env),
        contact_keys_secret_id=_optional(env, resources.CONTACT_KEYS_SECRET.env),
        line_secret_id=_optional(env, resources.LINE_SECRET.env),
        alibaba_sms_secret_id=_optional(env, resources.ALIBABA_SMS_SECRET.env),
        wechat_secret_id=_optional(env, resources.WECHAT_SECRET.env),
        secrets_max_age_seconds=_int(env, resources.SECRETS_MAX_AGE_ENV, _default("secrets_max_age_seconds")),
        config_bucket=_optional(env, resources.CONFIG_DOCUMENT.bucket_env),
        config_key=_optional(env, resources.CONFIG_DOCUMENT.key_env) or _default("config_key"),
        config_max_age_seconds=_int(env, resources.CONFIG_MAX_AGE_ENV, _default("config_max_age_seconds")),
        config_version=version,
        intake_queue_url=_required(env, "KOE_INTAKE_QUEUE_URL"),
        intake_dlq_url=_required(env, "KOE_INTAKE_DLQ_URL"),
        follow_up_queue_url=_required(env, "KOE_FOLLOW_UP_QUEUE_URL"),
        cx_topic_arn=_required(env, "KOE_CX_TOPIC_ARN"),
        twilio_base_url=env.get("KOE_TWILIO_BASE_URL") or None,
        line_base_url=_url(env, "KOE_LINE_BASE_URL"),
        alibaba_sms_endpoint=env.get("KOE_ALIBABA_SMS_ENDPOINT", "").strip() or _default("alibaba_sms_endpoint"),
        alibaba_sms_protocol=_one_of(env, "KOE_ALIBABA_SMS_PROTOCOL", ("https", "http"),
                                     _default("alibaba_sms_protocol")),
        cn_sms_templates=_templates(env, "KOE_CN_SMS_TEMPLATES"),
        wechat_base_url=_url(env, "KOE_WECHAT_BASE_URL"),
        wechat_templates=_wechat_templates(env, "KOE_WECHAT_TEMPLATES"),
        dynamodb_endpoint=env.get("KOE_DYNAMODB_ENDPOINT") or None,
        aws_endpoint=env.get("KOE_AWS_ENDPOINT") or None,
        brand=env.get("KOE_BRAND", _default("brand")),
        default_locale=env.get("KOE_DEFAULT_LOCALE", _default("default_locale")),
        reporting_timezone=env.get("KOE_REPORTING_TIMEZONE", _default("reporting_timezone")),
        templates_dir=Path(env.get("KOE_TEMPLATES_DIR") or _default("templates_dir")),
        cooldown_days=_int(env, "KOE_COOLDOWN_DAYS", _default("cooldown_days")),
        cooldown_days_by_procedure=_int_map(env, "KOE_COOLDOWN_DAYS_BY_PROCEDURE"),
        escalation_threshold=_int(env, "KOE_ESCALATION_THRESHOLD", _default("escalation_threshold")),
        escalation_threshold_by_procedure=_int_map(env, "KOE_ESCALATION_THRESHOLD_BY_PROCEDURE"),
        survey_definitions=_survey_definitions(env),
        response_window_days=_int(env, "KOE_RESPONSE_WINDOW_DAYS", _default("response_window_days"), minimum=1),
        response_window_days_by_procedure=_int_map(env, "KOE_RESPONSE_WINDOW_DAYS_BY_PROCEDURE"),
        reminder_hours=_int(env, "KOE_REMINDER_HOURS", _default("reminder_hours")),
        max_event_age_hours=_int(env, "KOE_MAX_EVENT_AGE_HOURS", _default("max_event_age_hours"), minimum=1),
        max_receives=_int(env, "KOE_MAX_RECEIVES", _default("max_receives"), minimum=1),
        retention_days=_int(env, "KOE_RETENTION_DAYS", _default("retention_days"), minimum=1),
        counter_retention_days=_int(env, "KOE_COUNTER_RETENTION_DAYS", _default("counter_retention_days"),
                                    minimum=1),
        clock_skew_seconds=_int(env, "KOE_CLOCK_SKEW_SECONDS", _default("clock_skew_seconds")),
        channel_preferences=_channel_map(env, "KOE_CHANNEL_POLICY"),
        survey_link_base_url=_url(env, "KOE_SURVEY_LINK_BASE_URL"),
        email_from=_email(env, "KOE_EMAIL_FROM"),
        ses_configuration_set=env.get("KOE_SES_CONFIGURATION_SET", "").strip() or None,
        send_window=_window(env, "KOE_SEND_WINDOW") or _default("send_window"),
        send_window_by_country=_window_map(env, "KOE_SEND_WINDOW_BY_COUNTRY"),
        send_rates=_rates(env, "KOE_SEND_RATES"),
        send_lease_s=_int(env, "KOE_SEND_LEASE_S", _default("send_lease_s"), minimum=10),
        skip_holidays=_flag(env, "KOE_SKIP_HOLIDAYS", _default("skip_holidays")),
        fatigue_cap=_int(env, "KOE_FATIGUE_CAP", _default("fatigue_cap"), minimum=1),
        fatigue_cap_days=_int(env, "KOE_FATIGUE_CAP_DAYS", _default("fatigue_cap_days"), minimum=1),
        sampling_by_procedure=_rate_map(env, "KOE_SAMPLING_BY_PROCEDURE"),
        cases=_cases(env),
        score_shards=_int(env, "KOE_SCORE_SHARDS", _default("score_shards"), minimum=1),
        min_sample=_int(env, "KOE_MIN_SAMPLE", _default("min_sample"), minimum=1),
        local_token_secret=_secret(env, resources.LOCAL_TOKEN_SECRET_ENV, local_token.MIN_SECRET_CHARS),
        alert_queue_url=env.get("KOE_ALERT_DELIVERIES_QUEUE_URL", "").strip() or None,
        alert_dlq_url=env.get("KOE_ALERT_DELIVERIES_DLQ_URL", "").strip() or None,
        alert_subscribers=_alert_subscribers(env),
        alert_retry_seconds=_int(env, "KOE_ALERT_RETRY_SECONDS", _default("alert_retry_seconds"), minimum=1),
        alert_lease_seconds=_int(env, "KOE_ALERT_LEASE_SECONDS", _default("alert_lease_seconds"), minimum=15),
        comment_analyser=_one_of(env, "KOE_COMMENT_ANALYSER", COMMENT_ANALYSERS, _default("comment_analyser")),
        comment_insight_queue_url=env.get("KOE_COMMENT_INSIGHT_QUEUE_URL", "").strip() or None,
        comment_insight_dlq_url=env.get("KOE_COMMENT_INSIGHT_DLQ_URL", "").strip() or None,
        cognito_domain_url=env.get("KOE_COGNITO_DOMAIN_URL", "").strip().rstrip("/") or None,
        cognito_client_id=env.get("KOE_COGNITO_CLIENT_ID", "").strip() or None,
    )
    _check_cn_links(settings)
    return settings


def _definition_defaults() -> Definitions:
    from chalicelib.domain.questions import Definitions

    return Definitions()


def _survey_definitions(env: Mapping[str, str]) -> Definitions:
    """KOE_SURVEY_DEFINITIONS; a procedure's escalation threshold must be below the top of its scale
    (a 0-10 threshold left on a procedure that now asks 1-5 would open a case for every answer)."""
    from chalicelib.domain import questions

    name, example = "KOE_SURVEY_DEFINITIONS", '{"claim_payment": {"scale": "csat", "version": 2}}'
    try:
        definitions = questions.parse(_json_object(env, name, example))
    except questions.InvalidDefinitions as exc:
        raise SettingsError(f"{name}: {exc}, e.g. {example}") from exc
    for procedure, threshold in _int_map(env, "KOE_ESCALATION_THRESHOLD_BY_PROCEDURE").items():
        scale = definitions.for_procedure(procedure).scale
        low, high = questions.BOUNDS[scale]
        if scale is not questions.Scale.NPS and threshold >= high:
            raise SettingsError(f"KOE_ESCALATION_THRESHOLD_BY_PROCEDURE.{procedure} is {threshold}, but {name} "
                                f"asks {procedure} on {scale.value} ({low}-{high}): keep it below {high}")
    return definitions


def _case_defaults() -> CaseSettings:
    from chalicelib.case_settings import CaseSettings

    return CaseSettings()


def _cases(env: Mapping[str, str]) -> CaseSettings:
    from chalicelib import case_settings

    return case_settings.read(env, flag=_flag, whole=_int)


def _alert_subscribers(env: Mapping[str, str]) -> tuple[Subscriber, ...]:
    from chalicelib import alert_settings

    return alert_settings.subscribers(env)


@lru_cache(maxsize=1)
def _environment() -> Settings:
    return from_env(os.environ)


_documented: Settings | None = None       # the settings of the configuration document last read


def current() -> Settings:
    """Settings of this process, read on first use (not at import): the environment's, and where
    KOE_CONFIG_BUCKET names a configuration document, the document's values over them. The document
    is read through its cache (KOE_CONFIG_MAX_AGE_SECONDS); the same Settings object comes back
    until a new object version is read. SettingsError names the document, its version and the key."""
    global _documented
    base = _environment()
    if base.config_bucket is None:
        return base
    from chalicelib import config_document

    document = config_document.for_settings(base).read()
    if _documented is not None and _documented.config_version == document.version:
        return _documented
    where = f"s3://{base.config_bucket}/{base.config_key} version {document.version}"
    try:
        _documented = from_env(os.environ, document.values, document.version)
    except SettingsError as exc:
        raise SettingsError(f"{exc} (in the configuration document {where})") from exc
    return _documented


def refreshed(settings: Settings) -> Settings:
    """`settings`, or newer ones when they came from a configuration document (through `current`)
    whose object has changed since (checked through the document's cache). A warm function whose new
    document cannot be read or is malformed keeps serving the settings it has, and says so in the logs
    and metrics. Settings made otherwise (a test's, from its own env) are never replaced."""
    if settings.config_bucket is None or settings is not _documented:
        return settings
    from chalicelib.errors import SecretUnavailable
    from chalicelib.observability import count, logger

    try:
        return current()
    except (SettingsError, SecretUnavailable) as exc:
        count("ConfigDocumentRefused")
        logger.error("configuration document refused, keeping the one in use",
                     extra={"version_in_use": settings.config_version, "error": str(exc)})
        return settings
