"""The real things, built from settings: AWS clients, tables, queues, topics, Twilio, SES, templates,
the senders per channel and the authenticators (`Adapters`). `bootstrap/__init__.py` wires them into
the use cases (`Components`).

Each piece is built on first use and kept for the life of the process (a warm Lambda reuses it);
each handler pays only for the clients it uses. The local stack comes here with endpoints pointing
at DynamoDB Local and moto. Service tests hand fakes to services directly; the functional tests
of app.py hand fakes in here (`Components(settings, **fakes)` then `install(...)`).

Adding a channel: its sender in `senders` (one line), beside its adapter and its templates (email:
SES, `adapters/ses_email.py`, `templates/email/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from chalicelib.settings import Settings

if TYPE_CHECKING:      # for the annotations only: each piece imports what it builds on first use
    from chalicelib.adapters.alibaba_sms import AlibabaSms
    from chalicelib.adapters.dashboard_pages import JinjaDashboard
    from chalicelib.adapters.hosted_ui import HostedUi
    from chalicelib.adapters.idempotency import Idempotency
    from chalicelib.adapters.line_messaging import LineMessaging, LineWebhook
    from chalicelib.adapters.twilio_sms import SignatureCheck
    from chalicelib.adapters.wechat import WeChatMessaging, WeChatWebhook
    from chalicelib.auth import Authenticator
    from chalicelib.credentials import Credentials, SecretSource
    from chalicelib.domain.cn_sms import TemplateBook
    from chalicelib.domain.identity import Keyring
    from chalicelib.domain.model import Survey
    from chalicelib.domain.survey_token import LinkKeys
    from chalicelib.domain.wechat import TemplateBook as WeChatTemplateBook
    from chalicelib.services.ports import (
        AlertLedger,
        Alerts,
        AlertTemplates,
        AlertTransport,
        AnswerArchive,
        CaseStore,
        CnSms,
        CommentAnalyser,
        CommentSource,
        ConversationStore,
        DeadLetterMarks,
        DeadLetters,
        EmailSender,
        EmailTemplates,
        EventLedger,
        FollowUps,
        InsightRequests,
        InsightStore,
        IntakeQueue,
        LineMessenger,
        Messages,
        OutcomeReport,
        Pages,
        QueueVisibility,
        ScoreStore,
        SessionVerifier,
        SmsSender,
        SurveySender,
        WeChatMessenger,
    )

MAX_POOL_CONNECTIONS = 50       # per AWS client (see Adapters._client)


def utc_now() -> datetime:
    return datetime.now(UTC)


V = TypeVar("V")


class BuiltOnUse(Mapping[str, V]):
    """A mapping whose values are built when first looked up, from one factory per key: its keys are
    known (`"email" in senders`) without building anything."""

    def __init__(self, factories: Mapping[str, Callable[[], V]]) -> None:
        self._factories = dict(factories)
        self._built: dict[str, V] = {}

    def __getitem__(self, key: str) -> V:
        if key not in self._built:
            self._built[key] = self._factories[key]()
        return self._built[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


class Adapters:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now, **overrides: Any):
        """`overrides` replace built pieces by name (e.g. `conversations=FakeConversationStore()`):
        for tests. A name that is not a piece is refused, so a typo cannot leave a real client in."""
        self.settings = settings
        self.clock = clock
        unknown = sorted(name for name in overrides
                         if not isinstance(getattr(type(self), name, None), cached_property))
        if unknown:
            raise TypeError(f"not a component: {', '.join(unknown)}")
        self.__dict__.update(overrides)      # cached_property reads the instance dict first

    # --- AWS clients
    def _client(self, service: Literal["sqs", "sns", "dynamodb", "sesv2", "comprehend", "cognito-idp",
                                       "secretsmanager"],
                endpoint: str | None) -> Any:
        """The service's client, built at its first call (`DeferredClient`): a function whose event
        never calls a service it may call loads neither its model nor its endpoint rules."""
        from chalicelib.adapters.aws_sessions import DeferredClient

        def build() -> Any:
            from botocore.config import Config

            from chalicelib.adapters.aws_sessions import boto3_session

            # Standard retry mode backs off on throttling; what still fails becomes a named error. A
            # Lambda runs one invocation at a time, but the local stack shares these clients among its
            # pollers and HTTP threads (up to 9 queues x 4 + the API's): urllib3's default pool of 10
            # would drop connections there ("Connection pool is full"). A larger pool costs nothing
            # until used.
            config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10,
                            max_pool_connections=MAX_POOL_CONNECTIONS)
            return boto3_session().client(service, region_name=self.settings.region, endpoint_url=endpoint,
                                          config=config)

        return DeferredClient(build)

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs", self.settings.aws_endpoint)

    @cached_property
    def sns(self) -> Any:
        return self._client("sns", self.settings.aws_endpoint)

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb", self.settings.dynamodb_endpoint)

    @cached_property
    def sesv2(self) -> Any:
        return self._client("sesv2", self.settings.aws_endpoint)

    # --- secrets: read when first needed, each through its cache (chalicelib/credentials.py)
    @cached_property
    def secrets(self) -> SecretSource:
        """Secrets Manager (moto locally), cached for KOE_SECRETS_MAX_AGE_SECONDS."""
        from chalicelib.adapters.secrets import SecretsManagerSource

        return SecretsManagerSource(self._client("secretsmanager", self.settings.aws_endpoint),
                                    self.settings.secrets_max_age_seconds)

    @cached_property
    def credentials(self) -> Credentials:
        from chalicelib.credentials import Credentials
        from chalicelib.settings import secret_ids

        return Credentials(self.secrets, secret_ids(self.settings))

    def contact_keyring(self) -> Keyring:
        """The contact-hash keys (KOE_CONTACT_KEYS_SECRET_ID), as the secret holds them now."""
        return self.credentials.contact_keyring()

    def link_keys(self) -> LinkKeys:
        """The survey and unsubscribe links' keys, one per listed contact-key version."""
        from chalicelib.domain.survey_token import LinkKeys

        return LinkKeys.of(self.contact_keyring())

    # --- storage
    @cached_property
    def _tables(self) -> Settings:
        """The PynamoDB models bound to this stage's tables (once per process): the stores' settings."""
        from chalicelib.adapters import dynamo

        dynamo.configure(self.settings)
        return self.settings

    @cached_property
    def conversations(self) -> ConversationStore:
        from chalicelib.adapters.dynamo import DynamoConversationStore

        return DynamoConversationStore(self._tables)

    @cached_property
    def cases(self) -> CaseStore:
        from chalicelib.adapters.dynamo import DynamoCaseStore

        return DynamoCaseStore(self._tables)

    @cached_property
    def scores(self) -> ScoreStore:
        from chalicelib.adapters.dynamo import DynamoScoreStore

        return DynamoScoreStore(self._tables)

    @cached_property
    def outcomes(self) -> OutcomeReport:
        from chalicelib.adapters.dynamo import DynamoOutcomeReport

        return DynamoOutcomeReport(self._tables)

    @cached_property
    def event_ledger(self) -> EventLedger:
        from chalicelib.adapters.dynamo import DynamoEventLedger

        return DynamoEventLedger(self._tables)

    @cached_property
    def idempotency(self) -> Idempotency:
        from chalicelib.adapters.idempotency import Idempotency

        return Idempotency(self.settings.table_name("idempotency"), self.dynamodb)

    @cached_property
    def intake_marks(self) -> DeadLetterMarks:
        """Intake records given up (services/batch.py): dispatch dead-letters each once."""
        from chalicelib.adapters.idempotency import DeadLetterMarks as DynamoDeadLetterMarks

        return DynamoDeadLetterMarks(self.settings.table_name("idempotency"), self.dynamodb, self.clock)

    # --- messaging
    @cached_property
    def intake_queue(self) -> IntakeQueue:
        from chalicelib.adapters.aws import SqsIntakeQueue

        return SqsIntakeQueue(self.sqs, self.settings.intake_queue_url)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        from chalicelib.adapters.aws import SqsDeadLetters

        return SqsDeadLetters(self.sqs, self.settings.intake_dlq_url)

    @cached_property
    def follow_ups(self) -> FollowUps:
        from chalicelib.adapters.aws import SqsFollowUps

        return SqsFollowUps(self.sqs, self.settings.follow_up_queue_url)

    @cached_property
    def alerts(self) -> Alerts:
        from chalicelib.adapters.aws import SnsAlerts

        return SnsAlerts(self.sns, self.settings.cx_topic_arn)

    @cached_property
    def sms(self) -> SmsSender:
        """Twilio, on the Twilio secret (KOE_TWILIO_SECRET_ID) as it is at each send: building the
        sender reads nothing; a handler that never sends never reads the secret."""
        from chalicelib.adapters.twilio_sms import RotatingTwilioSms

        return RotatingTwilioSms(lambda fresh: self.credentials.twilio(fresh=fresh), self._twilio)

    def _twilio(self, credentials: Any) -> Any:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        from chalicelib.adapters.twilio_sms import TwilioSms

        client = Client(credentials.account_sid, credentials.auth_token, http_client=TwilioHttpClient(timeout=5))
        if self.settings.twilio_base_url:          # the local stand-in carrier
            client.api.base_url = self.settings.twilio_base_url
        return TwilioSms(client, credentials.sender)

    @cached_property
    def line(self) -> LineMessenger:
        """LINE's Messaging API through its SDK (KOE_LINE_BASE_URL: the local stand-in), on the LINE
        secret (KOE_LINE_SECRET_ID) as it is at each send: building it reads nothing."""
        from chalicelib.adapters.line_messaging import RotatingLineMessaging

        return RotatingLineMessaging(lambda fresh: self.credentials.line(fresh=fresh).channel_access_token,
                                     self._line)

    def _line(self, channel_access_token: str) -> LineMessaging:
        from linebot.v3.messaging import ApiClient, Configuration, MessagingApi

        from chalicelib.adapters.line_messaging import LineMessaging

        base = self.settings.line_base_url
        configuration = Configuration(access_token=channel_access_token, **({"host": base} if base else {}))
        return LineMessaging(MessagingApi(ApiClient(configuration)))

    @cached_property
    def cn_templates(self) -> TemplateBook:
        """China SMS's approved templates (KOE_CN_SMS_TEMPLATES, checked when the settings were read)."""
        from chalicelib.domain.cn_sms import TemplateBook

        return TemplateBook.from_config(self.settings.cn_sms_templates)

    @cached_property
    def cn_sms(self) -> CnSms:
        """Alibaba Cloud SMS through its SDK (KOE_ALIBABA_SMS_ENDPOINT / _PROTOCOL: the local stand-in), on
        the AccessKey of the Alibaba secret (KOE_ALIBABA_SMS_SECRET_ID) as it is at each send."""
        from chalicelib.adapters.alibaba_sms import RotatingAlibabaSms

        def keys(fresh: bool) -> tuple[str, str]:
            found = self.credentials.alibaba_sms(fresh=fresh)
            return found.access_key_id, found.access_key_secret

        return RotatingAlibabaSms(keys, self._alibaba_sms)

    def _alibaba_sms(self, access_key_id: str, access_key_secret: str) -> AlibabaSms:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.models import Config

        from chalicelib.adapters.alibaba_sms import CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS, AlibabaSms

        s = self.settings
        config = Config(access_key_id=access_key_id, access_key_secret=access_key_secret,
                        endpoint=s.alibaba_sms_endpoint, protocol=s.alibaba_sms_protocol,
                        connect_timeout=CONNECT_TIMEOUT_MS, read_timeout=READ_TIMEOUT_MS)
        return AlibabaSms(Client(config), self.cn_templates)

    def alibaba_receipt_token(self) -> str:
        """The token the receipt URLs end with (the Alibaba secret's receipt_token, read on use through
        the secret's cache)."""
        return self.credentials.alibaba_sms().receipt_token

    @cached_property
    def wechat_templates(self) -> WeChatTemplateBook:
        """WeChat's template book (KOE_WECHAT_TEMPLATES, checked when the settings were read)."""
        from chalicelib.domain.wechat import TemplateBook as WeChatTemplateBook

        return WeChatTemplateBook.from_config(self.settings.wechat_templates)

    @cached_property
    def wechat(self) -> WeChatMessenger:
        """WeChat's API through wechatpy (KOE_WECHAT_BASE_URL: the local stand-in), on the appid and
        appsecret of the WeChat secret (KOE_WECHAT_SECRET_ID) as they are at each send."""
        from chalicelib.adapters.wechat import RotatingWeChatMessaging

        def keys(fresh: bool) -> tuple[str, str]:
            found = self.credentials.wechat(fresh=fresh)
            return found.appid, found.appsecret

        return RotatingWeChatMessaging(keys, self._wechat)

    def _wechat(self, appid: str, appsecret: str) -> WeChatMessaging:
        from chalicelib.adapters.wechat import WECHAT_API, WeChatMessaging, wechat_client

        return WeChatMessaging(wechat_client(appid, appsecret, base_url=self.settings.wechat_base_url or WECHAT_API))

    @cached_property
    def wechat_webhook(self) -> WeChatWebhook:
        """Reads the service account's signed event pushes with the WeChat secret's token (read on use)."""
        from chalicelib.adapters.wechat import WeChatWebhook

        return WeChatWebhook(lambda fresh: self.credentials.wechat(fresh=fresh).token)

    @cached_property
    def line_webhook(self) -> LineWebhook:
        """Reads LINE's signed webhooks with the channel secret of the LINE secret (read on use)."""
        from chalicelib.adapters.line_messaging import LineWebhook

        return LineWebhook(lambda fresh: self.credentials.line(fresh=fresh).channel_secret)

    @cached_property
    def email(self) -> EmailSender:
        """SES v2 (moto locally), from KOE_EMAIL_FROM through KOE_SES_CONFIGURATION_SET."""
        from chalicelib.adapters.ses_email import SesEmail

        s = self.settings
        return SesEmail(self.sesv2, s.email_from or "", s.brand, s.ses_configuration_set)

    @cached_property
    def email_templates(self) -> EmailTemplates:
        from chalicelib.adapters.email_templates import JinjaEmails

        return JinjaEmails(self.settings.templates_dir, self.settings.brand)

    # --- CX alerts to people (services/deliver_alerts.py)
    @cached_property
    def alert_ledger(self) -> AlertLedger:
        from chalicelib.adapters.dynamo import DynamoAlertLedger

        return DynamoAlertLedger(self._tables)

    @cached_property
    def alert_dead_letters(self) -> DeadLetters:
        from chalicelib.adapters.aws import SqsDeadLetters

        return SqsDeadLetters(self.sqs, self._alert_url(self.settings.alert_dlq_url, "KOE_ALERT_DELIVERIES_DLQ_URL"))

    @cached_property
    def intake_visibility(self) -> QueueVisibility:
        """When a record of the intake queue comes back (an event in progress elsewhere: services/batch.py)."""
        from chalicelib.adapters.aws import SqsVisibility

        return SqsVisibility(self.sqs, self.settings.intake_queue_url)

    @cached_property
    def alert_visibility(self) -> QueueVisibility:
        from chalicelib.adapters.aws import SqsVisibility

        return SqsVisibility(self.sqs, self._alert_url(self.settings.alert_queue_url, "KOE_ALERT_DELIVERIES_QUEUE_URL"))

    def _alert_url(self, url: str | None, variable: str) -> str:
        from chalicelib.settings import SettingsError

        if not url:
            raise SettingsError(f"{variable} is required to deliver alerts")
        return url

    @cached_property
    def chat(self) -> AlertTransport:
        """Chat webhooks (Slack-compatible JSON), 5 s timeout."""
        from chalicelib.adapters.chat_webhook import ChatWebhook

        return ChatWebhook()

    @cached_property
    def alert_email(self) -> AlertTransport:
        """Alert emails through SES v2, from KOE_EMAIL_FROM, through KOE_SES_CONFIGURATION_SET."""
        from chalicelib.adapters.ses_email import SesAlertEmail

        s = self.settings
        return SesAlertEmail(self.sesv2, s.email_from or "", s.brand, s.ses_configuration_set)

    # --- comment insight (services/comment_insight.py, services/comments.py)
    @cached_property
    def comment_analyser(self) -> CommentAnalyser:
        """KOE_COMMENT_ANALYSER: Amazon Comprehend (always the real service: in the local stack a
        stand-in would answer canned results), or the offline analysers of the local stack."""
        if self.settings.comment_analyser == "comprehend":
            from chalicelib.adapters.comprehend import ComprehendAnalyser

            return ComprehendAnalyser(self._client("comprehend", None))
        from chalicelib.adapters.offline_sentiment import OfflineAnalyser

        return OfflineAnalyser()

    @cached_property
    def insight_requests(self) -> InsightRequests:
        from chalicelib.adapters.aws import SqsInsightRequests

        return SqsInsightRequests(self.sqs, self._required_url(self.settings.comment_insight_queue_url,
                                                                "KOE_COMMENT_INSIGHT_QUEUE_URL", "analyse comments"))

    @cached_property
    def insight_dead_letters(self) -> DeadLetters:
        from chalicelib.adapters.aws import SqsDeadLetters

        return SqsDeadLetters(self.sqs, self._required_url(self.settings.comment_insight_dlq_url,
                                                            "KOE_COMMENT_INSIGHT_DLQ_URL", "analyse comments"))

    @cached_property
    def comment_insights(self) -> InsightStore:
        from chalicelib.adapters.dynamo import DynamoInsightStore

        return DynamoInsightStore(self._tables)

    @cached_property
    def comment_source(self) -> CommentSource:
        from chalicelib.adapters.dynamo import DynamoCommentSource

        return DynamoCommentSource(self._tables)

    # --- the answers export (services/responses_export.py)
    @cached_property
    def answer_archive(self) -> AnswerArchive:
        from chalicelib.adapters.dynamo import DynamoAnswerArchive

        return DynamoAnswerArchive(self._tables)

    def _required_url(self, url: str | None, variable: str, purpose: str) -> str:
        from chalicelib.settings import SettingsError

        if not url:
            raise SettingsError(f"{variable} is required to {purpose}")
        return url

    @cached_property
    def alert_templates(self) -> AlertTemplates:
        from chalicelib.adapters.alert_templates import TomlAlerts

        return TomlAlerts(self.settings.templates_dir, f"{self.settings.public_base_url.rstrip('/')}/cases")

    @cached_property
    def senders(self) -> Mapping[str, SurveySender]:
        """One sender per channel a survey can be sent on (domain/channels.py names them), each
        built when a survey is first sent on it: an event that sends no email builds no SES client
        nor email templates."""
        from chalicelib.domain.channels import EMAIL, LINE, SMS_CN, SMS_LINK, SMS_TWO_WAY, WECHAT
        from chalicelib.services.send_survey import (
            CnSmsSurveySender,
            EmailSurveySender,
            LineSurveySender,
            SmsLinkSurveySender,
            SmsSurveySender,
            WeChatSurveySender,
        )

        s = self.settings
        return BuiltOnUse({
            SMS_TWO_WAY: lambda: SmsSurveySender(self.sms, self.messages, s.status_callback_url),
            SMS_LINK: lambda: SmsLinkSurveySender(self.sms, self.messages, s.status_callback_url, self.survey_link),
            # Only where a sender address is configured (KOE_EMAIL_FROM): else the policy skips email.
            **({EMAIL: lambda: EmailSurveySender(self.email, self.email_templates, self.survey_link,
                                                   self.unsubscribe_link, self.contact_key)} if s.email_from else {}),
            # Only where the LINE secret is named (KOE_LINE_SECRET_ID): else the policy skips LINE.
            **({LINE: lambda: LineSurveySender(self.line, self.messages)} if s.line_enabled else {}),
            # Only where the Alibaba secret and the approved templates are given: else the policy skips it.
            **({SMS_CN: lambda: CnSmsSurveySender(self.cn_sms, self.cn_templates, self.survey_link)}
               if s.cn_sms_enabled else {}),
            # Only where the WeChat secret and its template book are given: else the policy skips it.
            **({WECHAT: lambda: WeChatSurveySender(self.wechat, self.wechat_templates, self.messages,
                                                   self.survey_link)} if s.wechat_enabled else {}),
        })

    def survey_link(self, survey: Survey) -> str:
        """The survey's page, signed: `<KOE_SURVEY_LINK_BASE_URL or public URL>/s/<token>`."""
        return f"{self.settings.survey_page_url}/{self.link_keys().sign(survey.survey_id)}"

    def unsubscribe_link(self, survey: Survey) -> str:
        """The survey's email unsubscribe page, signed for "unsubscribe": `<base>/u/<token>`."""
        from chalicelib.services.unsubscribe import link

        return link(self.link_keys(), self.settings.unsubscribe_page_url, survey)

    @cached_property
    def authenticators(self) -> Sequence[Authenticator]:
        """The operations API key, the CX team's Cognito claims (AWS), and the local stack's bearer
        tokens only when KOE_LOCAL_TOKEN_SECRET is set (never in AWS)."""
        from chalicelib.auth import ApiKeys, CognitoClaims, LocalTokens

        # The API keys are read (KOE_API_KEYS_SECRET_ID) only when a request presents one.
        found: list[Authenticator] = [ApiKeys(self.credentials.api_keys), CognitoClaims()]
        if self.settings.local_token_secret:
            found.append(LocalTokens(self.settings.local_token_secret, self.clock))
        return tuple(found)

    @cached_property
    def dashboard_sessions(self) -> Sequence[SessionVerifier]:
        """Who a dashboard session cookie is: Cognito's access token (AWS, when the hosted UI is
        configured) or the local stack's token (only with KOE_LOCAL_TOKEN_SECRET)."""
        from chalicelib.auth import CognitoSessions

        found: list[SessionVerifier] = []
        if self.settings.cognito_client_id:
            found.append(CognitoSessions(self._client("cognito-idp", None)))
        if self.local_sign_in is not None:
            found.append(self.local_sign_in)
        return tuple(found)

    @cached_property
    def local_sign_in(self) -> SessionVerifier | None:
        from chalicelib.auth import LocalTokens

        secret = self.settings.local_token_secret
        return LocalTokens(secret, self.clock) if secret else None

    @cached_property
    def hosted_ui(self) -> HostedUi | None:
        from chalicelib.adapters.hosted_ui import HostedUi

        s = self.settings
        if not (s.cognito_domain_url and s.cognito_client_id):
            return None
        return HostedUi(s.cognito_domain_url, s.cognito_client_id, self.dashboard_url)

    @property
    def dashboard_url(self) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/dashboard"

    @cached_property
    def dashboard_pages(self) -> JinjaDashboard:
        from chalicelib.adapters.dashboard_pages import JinjaDashboard

        return JinjaDashboard(self.settings.templates_dir, self.settings.brand)

    @cached_property
    def signature(self) -> SignatureCheck:
        from chalicelib.adapters.twilio_sms import SignatureCheck

        return SignatureCheck(lambda fresh: self.credentials.twilio(fresh=fresh).auth_tokens)

    @cached_property
    def messages(self) -> Messages:
        from chalicelib.adapters.templates import TomlMessages

        return TomlMessages(self.settings.templates_dir, self.settings.brand)

    @cached_property
    def pages(self) -> Pages:
        """The web survey's pages (templates/web/), for `/s/{token}`."""
        from chalicelib.adapters.pages import JinjaPages

        return JinjaPages(self.settings.templates_dir, self.settings.brand)

    def today(self) -> date:
        """Today in the reporting time zone: the day scores are counted in."""
        return self.clock().astimezone(ZoneInfo(self.settings.reporting_timezone)).date()

    def contact_key(self, address: str) -> str:
        """The address's contact under the current contact-key version: where it is written."""
        return self.contact_keyring().contact_key(address)

    def contact_keys(self, address: str) -> tuple[str, ...]:
        """... and under every listed version, current first: where it is read."""
        return self.contact_keyring().contact_keys(address)
