"""koe's AWS stack: every table, queue, topic, bus and rule is built from chalicelib/resources.py,
then the Chalice app is packaged (`chalice package`, via chalice.cdk.Chalice) and wired to them.

What lives where:
- resources.py  names, keys, indexes, streams, TTL, redrive, visibility, the bus and its rules, the
                settings variable carrying each queue's URL / topic's ARN, and which handler
                consumes each queue, topic and stream; the SES configuration set, the events it
                reports and the topic it reports them to
- this file     how they are deployed (billing, PITR, retention, encryption), the operators' alarms,
                their topic and dashboard (KoeStack._operations), the IAM roles the
                Lambda functions run as, the environment they read (settings.from_env), the templates
                layer, the SES identity (context `email_identity`), the CX team's Cognito user pool
                and its authorizer on every CX route (app.py's Edge registry says which), and the
                overrides Chalice cannot express (queue ARN + partial batch responses, the stream
                ARN + retries, the topic ARN, custom-bus rules)
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import (
    Acknowledgment,
    Annotations,
    ArnFormat,
    Aws,
    CfnOutput,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib import resources
from chalicelib.adapters import dashboard_pages
from chalicelib.domain.claims import AGENT_ID, BRANCH, CX_ROLES
from chalicelib.domain.principal import Role

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_MOUNT = "/opt/templates"          # a layer's zip is extracted under /opt
# Every function and the templates layer, stated rather than left to the deployer's Python and Lambda's
# default. x86_64 because `chalice package` downloads the compiled wheels (rpds-py for jsonschema;
# aiohttp, multidict, yarl, frozenlist, propcache for twilio; markupsafe, charset-normalizer) for the
# architecture it is told, and the package is tested and measured on x86_64 only (infra/README.md).
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_11
LAMBDA_ARCHITECTURE = lambda_.Architecture.X86_64
# What the package ships: the hashed pins of requirements.txt (chalice installs <project>/requirements.txt).
LOCK_FILE = "requirements.lock"

# The environment contract of chalicelib/settings.py (from_env) -> logical resource names, as
# resources.py declares them (without the KOE_LOCAL_* variables only the local stack exports).
QUEUE_URL_ENV = resources.queue_env(local=False)
TOPIC_ARN_ENV = resources.topic_env(local=False)
# The SES configuration set koe sends through (its name goes in EMAIL.env), with KOE_EMAIL_FROM.
EMAIL = resources.EMAIL
EMAIL_FROM_ENV = "KOE_EMAIL_FROM"
DEFAULT_EMAIL_USER = "survey"               # survey@<email_identity> when the identity is a domain
ALARM_TOPIC = "cx-alerts"                   # the CX team's topic (context alert_email); no alarm goes there
# Every function runs as its own role holding exactly its declaration in resources.FUNCTIONS (the
# same declaration the local stack enforces, devstack/iam.py), plus what its trigger and its logs need
# (KoeStack._function_policies).
FUNCTION_HANDLERS = tuple(f.handler for f in resources.FUNCTIONS)
# X-Ray tracing is on for every function and the API (PutTraceSegments has no resource to scope to).
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# In AWS, comments are read by Amazon Comprehend (chalicelib/settings.py, KOE_COMMENT_ANALYSER).
COMMENT_ANALYSER = {"KOE_COMMENT_ANALYSER": "comprehend"}
# Secrets are read at run time (chalicelib/credentials.py), never put in the template or an environment:
# each function is told the names of the secrets it reads (resources.SECRETS), and may read those only.
# The operator creates them before the first deploy (docs/deploy.md): a secret the stack created would,
# on a rolled-back first deploy, be scheduled for deletion and keep its name for days.
# A queue named "<table>-stream-dlq" in resources.QUEUES, if present, receives the metadata of stream
# batches that failed all retries (Lambda's on-failure destination).
STREAM_DLQ_SUFFIX = "-stream-dlq"
STREAM_MAX_RETRIES = resources.STREAM_MAX_RETRIES
STREAM_MAX_RECORD_AGE_S = resources.STREAM_MAX_RECORD_AGE_S
DLQ_RETENTION = Duration.days(14)           # longest SQS allows: time to look and redrive
QUEUE_RETENTION = Duration.days(4)          # SQS's default, stated
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Where data lives (the tables, the CX team's user pool): kept when a stack update replaces or removes
# it and when the stack is deleted, but deleted when the stack operation that created it rolls back
# (DeletionPolicy RetainExceptOnCreate): a failed first deploy leaves no `koe-<stage>-` table behind
# for the retry to fail on with "already exists". Everything else goes with the stack (Delete).
DATA_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE

# The operators' alarms (KoeStack._operations): every one to this topic (koe-<stage>-ops-alarms), when it
# fires and when it clears; context `ops_email` subscribes an address. Never to cx-alerts (the CX team's).
OPS_TOPIC = "ops-alarms"
OPS_DASHBOARD = "operations"                # the CloudWatch dashboard koe-<stage>-operations
DURATION_ALARM_SHARE = 0.8                  # a function's p99 duration above 80 % of its timeout
ITERATOR_AGE_ALARM = Duration.minutes(10)   # the stream consumer this far behind (records live 6 h)
API_5XX_ALARM = 5                           # API Gateway 5XX answers in 5 minutes
API_LATENCY_P99_ALARM = Duration.seconds(3)  # Twilio gives a webhook 15 s
SES_COMPLAINT_RATE_ALARM = 0.001            # SES reviews an account at 0.1 % complaints
SES_BOUNCE_RATE_ALARM = 0.05                # and at 5 % bounces
KOE_NAMESPACE = "koe"                       # chalicelib/observability.py's EMF namespace
# The API stage's steady rate and burst (requests per second, across all clients): far above a
# morning's webhooks and CX traffic, far below what Lambda's account concurrency or the carrier's
# bill would meet first. API Gateway answers 429 above it (DEFAULT_4XX, koe's error shape).
API_RATE_LIMIT = 200
API_RESERVED_CONCURRENCY = 20               # KoeConfig.api_reserved_concurrency
# The operations systems' usage plan: events per second and per day (a morning's events arrive as
# one POST of up to 100; a day of a nation-sized insurer is far below the quota).
OPS_API_KEY = "koeOperationsKey"            # the swagger securityDefinitions entry
OPS_RATE_LIMIT = 50
OPS_BURST_LIMIT = 100
OPS_QUOTA_PER_DAY = 200_000
API_BURST_LIMIT = 400
# The access log: who, what, how it went; never the query string or a body (tokens, numbers).
API_ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId", "time": "$context.requestTimeEpoch", "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod", "resource": "$context.resourcePath", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "integrationLatencyMs": "$context.integrationLatency",
    "error": "$context.error.responseType", "length": "$context.responseLength",
}


@dataclass(frozen=True)
class KoeMetricAlarm:
    """An alarm on one of koe's own metrics (chalicelib.observability.count), summed over all its
    dimensions (a CloudWatch Metrics Insights query): at least `threshold` in `minutes`."""

    metric: str
    threshold: int
    minutes: int
    action: str                             # what the operator does (the alarm's description)


KOE_METRIC_ALARMS: tuple[KoeMetricAlarm, ...] = (
    KoeMetricAlarm("WebhookForged", 5, 5,
                   "Webhooks fail their signature check (Twilio's, LINE's x-line-signature, WeChat's Token "
                   "signature, Alibaba's receipt token; the log line names the URL): the URL the provider calls "
                   "is not the stack's PublicBaseUrl output (context public_base_url), or the secret's value "
                   "(twilio auth_token, line channel_secret, wechat token, alibaba-sms receipt_token) is not the "
                   "provider's. Fix the one that is wrong; if both match, someone is probing the webhook."),
    KoeMetricAlarm("SurveyFailed", 10, 15,
                   "Surveys could not be sent: the logs give each one's reason (twilio_<code>, ses_<code>, "
                   "release_failed). Many at once is the carrier's account (balance, credentials 20003, "
                   "suspended sender) or SES (sandbox, paused sending): fix it there."),
    KoeMetricAlarm("CnSmsTemplateRejected", 1, 5,
                   "China SMS: Alibaba (or koe, before calling) refused an approved template (log 'china sms "
                   "template rejected' names the message, locale, template code and Alibaba's code). The "
                   "template in Alibaba's console and KOE_CN_SMS_TEMPLATES disagree, or one was withdrawn: fix "
                   "the one that is wrong (docs/operations.md). Those surveys ended failed; none is re-sent."),
    KoeMetricAlarm("ScheduleJobFailed", 3, 5,
                   "The tick's jobs keep failing (log 'schedule job failed' names the job: expire, release, "
                   "remind, and the error): scheduled surveys and reminders wait until it is fixed."),
    KoeMetricAlarm("ReminderFailed", 10, 15,
                   "Reminders could not be sent (log 'reminder not sent'): as for SurveyFailed, look at the "
                   "carrier's or SES's account."),
    KoeMetricAlarm("AlertUnrouted", 1, 5,
                   "A CX case alert reached no one: central has no email or chat in KOE_CASE_ROUTING. Give it "
                   "one (docs/operations.md, CX alerts)."),
    KoeMetricAlarm("AlertUndeliverable", 1, 5,
                   "A CX alert destination was given up (a webhook answering 4xx, an address SES rejects; log "
                   "'alert undeliverable' names its key and reason): fix it in KOE_CASE_ROUTING / "
                   "KOE_ALERT_SUBSCRIBERS."),
    KoeMetricAlarm("AlertRecipientUnresolved", 1, 5,
                   "A CX alert's recipient has no contact point in KOE_CASE_ROUTING (central heard instead; "
                   "log 'alert recipient has no contact point' names it): add one."),
    KoeMetricAlarm("CaseAlertFailed", 1, 5,
                   "A case alert could not be published to cx-alerts (the case change stands): look at the "
                   "log 'case alert not published' and the topic's policy / SNS's health."),
    KoeMetricAlarm("RecordDeadLettered", 1, 5,
                   "A queue record was dead-lettered: the '<queue>-dlq-not-empty' alarm names the queue; "
                   "docs/operations.md says what each reason means and when to redrive."),
    KoeMetricAlarm("ConfigurationRefused", 1, 5,
                   "koe answered 503 'misconfigured': a secret or the configuration document is missing, "
                   "unreadable or malformed (the log 'configuration refused' names which and why, never a value). "
                   "Fix the secret (koe-<stage>-twilio / -api-keys / -contact-keys) or put a good document version "
                   "back (docs/operations.md, Rotating secrets); koe reads it again within 5 minutes."),
    KoeMetricAlarm("ConfigDocumentRefused", 1, 5,
                   "A new version of the configuration document was refused (a key koe does not know, a bad "
                   "value): warm functions keep the last good one, new ones answer 503. Copy the previous "
                   "version back or fix the named key (make prepare-stage STAGE=<stage> DEPLOY_CONFIG=<file>)."),
    KoeMetricAlarm("ScheduleCutShort", 3, 15,
                   "The tick ran out of time before its batches were done three times in 15 minutes: scheduled "
                   "surveys, reminders or case work wait longer than a minute. Look at the tick's duration "
                   "and the carrier's latency; a morning's release of deferred surveys can cause it briefly."),
    KoeMetricAlarm("SendReclaimed", 5, 15,
                   "Surveys were sent again because their send lease ended with no record of the first send "
                   "(log 'send lease ended with no record'): the carrier's answer was lost (5xx, timeout) and "
                   "its status callback was not recorded either, so some customers may have the invitation "
                   "twice. Look at Twilio's status and at the status webhook's errors (docs/reliability.md)."),
    KoeMetricAlarm("AlertDeliveryNotRecorded", 1, 15,
                   "A CX alert went out but its ledger record could not be written (log 'alert delivered, its "
                   "record not written'): that destination gets it again after the lease. Look at the "
                   "alert-deliveries table's throttling."),
    KoeMetricAlarm("GiveUpFailed", 1, 5,
                   "A record was dead-lettered but what should follow (e.g. marking its survey failed) did "
                   "not happen: log 'could not give up cleanly' names the message; redrive it once fixed."),
)

# Queues no function of the stack consumes (and that are no dead-letter queue): read outside it
# (follow-up: the CX team's CRM, docs/operations.md). They keep what they hold as long as SQS allows.
_DEAD_LETTERS = ({q.dead_letter for q in resources.QUEUES if q.dead_letter}
                 | {t.name + STREAM_DLQ_SUFFIX for t in resources.TABLES if t.stream})
OUTSIDE_QUEUES = sorted(q.name for q in resources.QUEUES
                        if q.consumer is None and q.name not in _DEAD_LETTERS)
# What an AWS service could not deliver to koe lands in "<source>-dlq" (infra only: koe never reads
# them; docs/operations.md reads and redrives them): the EventBridge rules' targets (<rule>-dlq), the
# topics' Lambda subscriptions and those invocations (<topic>-dlq), the schedule's (<handler>-dlq).
SOURCE_DLQ_SUFFIX = "-dlq"
RULE_TARGET_RETRIES = 185                   # EventBridge's most, over its longest event age
RULE_TARGET_MAX_AGE = Duration.hours(24)
# An SES notification: Lambda's async retries (its default 2, within 6 h), then the topic's DLQ.
TOPIC_INVOKE_RETRIES = 2
TOPIC_INVOKE_MAX_AGE_S = 6 * 3600
# The schedule fires every minute and each tick redoes what is due: a tick is never retried nor kept
# waiting past a minute (the next one does its work); a failed or expired one is recorded in its DLQ.
SCHEDULE_TARGET_RETRY_POLICY = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}
SCHEDULE_INVOKE_RETRIES = 0
SCHEDULE_INVOKE_MAX_AGE_S = 60
# koe's topics are encrypted with one customer-managed key (the AWS-managed alias/aws/sns key admits
# no AWS service publisher): these services publish to these topics (CloudWatch alarms, SES events).
ALARMS_SERVICE = "cloudwatch.amazonaws.com"
SES_SERVICE = "ses.amazonaws.com"
# The custom attributes that scope a CX user (custom:branch, custom:agent_id in the ID token).
_CX_ATTRIBUTES = tuple(claim.removeprefix("custom:") for claim in (BRANCH, AGENT_ID))
_CX_GROUP_DESCRIPTIONS = {
    Role.CX_ADMIN.value: "The CX team's leads: every case, branch and score",
    Role.BRANCH_MANAGER.value: "A branch's manager: the cases and scores of custom:branch",
    Role.AGENT.value: "An agent: their own cases (custom:agent_id)",
}

_ATTR_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER,
               "B": dynamodb.AttributeType.BINARY}
_STAGE_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
# `-c public_base_url=pending`: the first deploy of a stage whose API URL does not exist yet. The
# functions get this placeholder (RFC 2606's reserved .invalid: it can never resolve) and nothing
# that reaches a customer runs (SENDING_HANDLERS' triggers are disabled), so no survey goes out with
# a link nobody can open; events wait on the intake queue until the deploy with the real URL.
PENDING = "pending"
PENDING_BASE_URL = "https://pending.invalid/api"
# The only triggers that text or email customers: the consumer of the queue procedure-completed events
# reach (dispatch), and the schedule (tick: deferred sends, reminders, closing messages).
SENDING_HANDLERS = tuple(sorted({resources.queue_consumers()[rule.target_queue] for rule in resources.RULES}
                                | {resources.SCHEDULE_CONSUMER}))
# A Cognito hosted-UI domain prefix (unique per region across AWS; Cognito refuses these words in it).
_DOMAIN_PREFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN_PREFIX_RESERVED = ("aws", "amazon", "cognito")
# The CX team's users: the groups are the CX roles (domain/claims.py), most powerful first.
COGNITO_AUTHORIZER = "koeCxUsers"           # the swagger securityDefinitions entry of the authorizer
DASHBOARD_PATH = "/dashboard"               # where the hosted UI sends a signed-in user back to
CX_ID_TOKEN_VALIDITY = Duration.hours(1)
CX_REFRESH_TOKEN_VALIDITY = Duration.hours(12)     # one working day, then sign in again
CX_ATTRIBUTE_MAX_LEN = 64
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


class ConfigError(ValueError):
    """A deploy-time input (CDK context) is missing or wrong; the message says which and how."""


@dataclass(frozen=True)
class KoeConfig:
    stage: str
    public_base_url: str
    alert_email: str | None = None
    ops_email: str | None = None            # subscribed to the operators' alarm topic
    app_dir: Path = REPO_ROOT
    app_env: Mapping[str, str] | None = None
    email_identity: str | None = None       # SES identity: a domain (example.jp) or one address
    email_from: str | None = None           # the sender; default survey@<domain> / the address
    auth_domain_prefix: str | None = None   # the hosted UI's https://<prefix>.auth.<region>.amazoncognito.com
    # Concurrency kept for the API's function (Twilio's webhooks, the customers' pages, the CX team):
    # a flood of events or a stuck consumer cannot take it; 0 reserves none (an account whose Lambda
    # concurrency quota is still the new-account 10 cannot reserve any).
    api_reserved_concurrency: int = API_RESERVED_CONCURRENCY
    deletion_protection: bool = True        # on the tables and the user pool; off for a stage's first deploy
    # LINE on this stage (context `line=true`): the functions that read the LINE secret are told its name
    # (the operator creates koe-<stage>-line first, docs/deploy.md); without it koe sends nothing on LINE.
    line: bool = False
    # China SMS on this stage (context `cn_sms=true`): the functions that read the Alibaba secret are told
    # its name (the operator creates koe-<stage>-alibaba-sms first, docs/deploy.md) and KOE_CN_SMS_TEMPLATES
    # must be given (app_env); without it koe sends nothing by China SMS.
    cn_sms: bool = False
    # WeChat on this stage (context `wechat=true`): the functions that read the WeChat secret are told its
    # name (the operator creates koe-<stage>-wechat first, docs/deploy.md) and KOE_WECHAT_TEMPLATES must be
    # given (app_env); without it koe sends nothing on WeChat and its event pushes are refused (403).
    wechat: bool = False

    def turns_on(self, secret: resources.Secret) -> bool:
        """Whether this stage tells its functions the name of `secret` (an optional one: only where its
        feature is on)."""
        if not secret.optional:
            return True
        return {resources.LINE_SECRET.name: self.line, resources.ALIBABA_SMS_SECRET.name: self.cn_sms,
                resources.WECHAT_SECRET.name: self.wechat}[secret.name]

    @property
    def prefix(self) -> str:
        return f"koe-{self.stage}-"

    @property
    def sending_paused(self) -> bool:
        """The first deploy of a stage (`-c public_base_url=pending`): no survey may go out yet."""
        return self.public_base_url == PENDING_BASE_URL

    @property
    def hosted_ui_prefix(self) -> str:
        return self.auth_domain_prefix or f"koe-{self.stage}"

    @property
    def sender(self) -> str | None:
        """The address koe sends from (KOE_EMAIL_FROM, and the ses:FromAddress the role may use)."""
        if not self.email_identity:
            return None
        if "@" in self.email_identity:
            return self.email_identity
        return self.email_from or f"{DEFAULT_EMAIL_USER}@{self.email_identity}"

    @classmethod
    def from_context(cls, get: Any) -> KoeConfig:
        """`get` is node.try_get_context. Every key is documented in infra/README.md."""
        stage = (get("stage") or "").strip()
        if not _STAGE_RE.match(stage):
            raise ConfigError(
                "context 'stage' is required: lower-case letters, digits and '-', starting with a "
                f"letter, at most 16 characters (got {stage!r}); e.g. -c stage=dev")
        public = (get("public_base_url") or "").strip().rstrip("/")
        if public == PENDING:
            public = PENDING_BASE_URL
        elif not public.startswith("https://"):
            raise ConfigError(
                "context 'public_base_url' is required: the https URL Twilio calls, including the "
                "API Gateway stage path, e.g. -c public_base_url=https://abc123.execute-api."
                "ap-northeast-1.amazonaws.com/api, or `pending` for the first deploy of a new stage, "
                "which sends nothing until the next deploy gives the real URL (infra/README.md)"
                f" (got {public!r})")
        app_env = get("app_env") or {}
        if isinstance(app_env, str):
            try:
                app_env = json.loads(app_env)
            except ValueError as exc:
                raise ConfigError(f"context 'app_env' must be a JSON object: {exc}") from exc
        if not isinstance(app_env, dict):
            raise ConfigError("context 'app_env' must be a JSON object of KOE_* settings")
        documented = sorted(k for k in app_env if k in resources.CONFIG_DOCUMENT.fields)
        if documented:
            raise ConfigError(f"context 'app_env' may not carry {', '.join(documented)}: large configuration goes in "
                              "the configuration document (infra/deploy.py --config FILE, docs/deploy.md), "
                              "not in Lambda's 4 KB of environment")
        managed = set(QUEUE_URL_ENV) | set(TOPIC_ARN_ENV) | {s.env for s in resources.SECRETS} | {
            resources.CONFIG_DOCUMENT.bucket_env, resources.CONFIG_DOCUMENT.key_env, resources.SECRETS_MAX_AGE_ENV,
            "KOE_RESOURCE_PREFIX", "KOE_PUBLIC_BASE_URL", "KOE_TEMPLATES_DIR", EMAIL_FROM_ENV, EMAIL.env}
        local_only = {"KOE_DYNAMODB_ENDPOINT", "KOE_AWS_ENDPOINT", "KOE_TWILIO_BASE_URL", "KOE_LINE_BASE_URL",
                      "KOE_ALIBABA_SMS_PROTOCOL", "KOE_WECHAT_BASE_URL"}
        # KOE_LOCAL_* (e.g. KOE_LOCAL_TOKEN_SECRET, which would let a self-signed token in) never go to AWS.
        bad = sorted(k for k in app_env
                     if not k.startswith("KOE_") or k in managed or k in local_only or resources.is_local(k))
        if bad:
            raise ConfigError(f"context 'app_env' may only add non-secret KOE_* settings the stack "
                              f"does not set itself and that are not local-stack only; refused: "
                              f"{', '.join(bad)}")
        identity, sender = _email_context(get)
        line, cn_sms = _on_off("line", get("line")), _on_off("cn_sms", get("cn_sms"))
        wechat = _on_off("wechat", get("wechat"))
        if wechat and not app_env.get("KOE_WECHAT_TEMPLATES"):
            raise ConfigError("context wechat=true needs WeChat's template book: "
                              "-c app_env='{\"KOE_WECHAT_TEMPLATES\": \"...\"}' (README, configuration)")
        if cn_sms and not app_env.get("KOE_CN_SMS_TEMPLATES"):
            raise ConfigError("context cn_sms=true needs China SMS's approved templates: "
                              "-c app_env='{\"KOE_CN_SMS_TEMPLATES\": \"...\"}' (README, configuration)")
        return cls(
            line=line,
            cn_sms=cn_sms,
            wechat=wechat,
            email_identity=identity,
            email_from=sender,
            auth_domain_prefix=_auth_domain_prefix(get),
            deletion_protection=_deletion_protection(get),
            api_reserved_concurrency=_api_reserved_concurrency(get),
            stage=stage,
            public_base_url=public,
            alert_email=(get("alert_email") or "").strip() or None,
            ops_email=_ops_email(get),
            app_dir=Path(get("app_dir") or REPO_ROOT).resolve(),
            app_env={str(k): str(v) for k, v in app_env.items()},
        )


class KoeStack(Stack):
    """One stage of koe. The stack id IS the Chalice stage name (chalice.cdk uses the scope's name)."""

    def __init__(self, scope: Construct, config: KoeConfig, **kwargs: Any) -> None:
        super().__init__(scope, config.stage, stack_name=f"koe-{config.stage}",
                         description=f"koe post-procedure surveys ({config.stage})", **kwargs)
        self.config = config
        if not (config.app_dir / "app.py").is_file():
            raise ConfigError(f"no Chalice app at {config.app_dir / 'app.py'} (context 'app_dir')")

        self.tables = {t.name: self._table(t) for t in resources.TABLES}
        self.queues = self._queues()
        self.queues.update(self._source_dead_letter_queues())
        self.topics = self._topics()
        if config.alert_email:
            self.topics[ALARM_TOPIC].add_subscription(
                subscriptions.EmailSubscription(config.alert_email))
        self.bus = events.EventBus(self, "Bus", event_bus_name=resources.physical(
            config.prefix, resources.EVENT_BUS))
        self._email()
        self._rules()
        self._subscribe_queues()
        self._deletion_protection_notice()

        self.templates_layer = self._templates_layer()
        self.config_bucket = self._config_bucket()
        # One role per function, its statements added in _function_policies() once the app's event
        # sources are known. Each policy is inline on its role (not a separate AWS::IAM::Policy), so the
        # role is complete before its function or event source mapping is created: mapping validation
        # cannot race the policy.
        self.policies = {handler: iam.PolicyDocument() for handler in FUNCTION_HANDLERS}
        self.roles = {handler: iam.Role(
            self, _cid("Role", handler),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"koe {config.stage}: the {handler} function only (resources.FUNCTIONS)",
            inline_policies={"koe": policy},
        ) for handler, policy in self.policies.items()}
        self._cx_users()                    # before the app: its functions read the hosted UI's address
        self.app = self._chalice_app()
        self._authorize_cx_routes()
        self._gateway_responses()
        self._api_stage()
        self._log_groups()
        self._wire_event_sources()
        self._delivery_dead_letters()
        self._operations()
        self._function_policies()
        self._outputs()

    # ---- storage and messaging, from resources.py ------------------------------------------------

    def _deletion_protection_notice(self) -> None:
        """Deletion protection blocks CloudFormation too: a rollback cannot delete a protected table
        or user pool (the stack ends in ROLLBACK_FAILED and the names stay taken). So a stage's first
        deploy is made with deletion_protection=false, and the next deploy turns it on in place."""
        if not self.config.deletion_protection:
            Annotations.of(self).add_warning_v2(
                "koe:unprotected-data",
                "context deletion_protection=false: the tables and the CX user pool can be deleted. Only for "
                "a stage's first deploy; deploy again without it once the stack exists (infra/README.md)")

    def _table(self, spec: resources.Table) -> dynamodb.Table:
        def attr(name: str) -> dynamodb.Attribute:
            return dynamodb.Attribute(name=name, type=_ATTR_TYPES[spec.attributes[name]])

        table = dynamodb.Table(
            self, _cid("Table", spec.name),
            table_name=resources.physical(self.config.prefix, spec.name),
            partition_key=attr(spec.hash_key),
            sort_key=attr(spec.range_key) if spec.range_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=DATA_REMOVAL_POLICY,
            deletion_protection=self.config.deletion_protection,
            time_to_live_attribute=spec.ttl_attribute,
            stream=dynamodb.StreamViewType[spec.stream] if spec.stream else None,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=attr(index.hash_key),
                sort_key=attr(index.range_key) if index.range_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _queues(self) -> dict[str, sqs.Queue]:
        dead_letters = {q.dead_letter for q in resources.QUEUES if q.dead_letter}
        stream_dlqs = {t.name + STREAM_DLQ_SUFFIX for t in resources.TABLES if t.stream}
        built: dict[str, sqs.Queue] = {}
        # Dead-letter queues first: the queues that redrive into them refer to them.
        for spec in sorted(resources.QUEUES, key=lambda q: q.dead_letter is not None):
            is_dlq = spec.name in dead_letters or spec.name in stream_dlqs
            redrive = None
            if spec.dead_letter:
                redrive = sqs.DeadLetterQueue(max_receive_count=spec.max_receive_count,
                                              queue=built[spec.dead_letter])
            built[spec.name] = sqs.Queue(
                self, _cid("Queue", spec.name),
                queue_name=resources.physical(self.config.prefix, spec.name),
                visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
                retention_period=DLQ_RETENTION if is_dlq or spec.name in OUTSIDE_QUEUES else QUEUE_RETENTION,
                dead_letter_queue=redrive,
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
            )
        return built

    def _rules(self) -> None:
        for rule in resources.RULES:
            if rule.bus != resources.EVENT_BUS:
                raise ConfigError(f"rule {rule.name} names bus {rule.bus!r}, which resources.py "
                                  f"does not define (only {resources.EVENT_BUS!r})")
            # The SqsQueue target also adds the queue policy that lets this rule (aws:SourceArn)
            # send to the queue, and to its dead-letter queue (<rule>-dlq: what EventBridge could not
            # put on the queue after its retries). The message is the whole EventBridge envelope.
            events.Rule(
                self, _cid("Rule", rule.name),
                rule_name=resources.physical(self.config.prefix, rule.name),
                event_bus=self.bus,
                event_pattern=events.EventPattern(detail_type=[rule.detail_type]),
                targets=[targets.SqsQueue(
                    self.queues[rule.target_queue], dead_letter_queue=self.queues[source_dlq(rule.name)],
                    retry_attempts=RULE_TARGET_RETRIES, max_event_age=RULE_TARGET_MAX_AGE)],
            )

    def _subscribe_queues(self) -> None:
        """Queues subscribed to a topic (resources.Queue.subscribes_to): SNS's JSON envelope (no raw
        delivery), only messages carrying the declared attributes (an `exists` filter policy: anything
        else published to the topic stays out; alarms go to the operators' topic, _operations). CDK
        adds the queue policy that lets exactly this topic send to the queue."""
        for queue_name, topic_name in resources.subscriptions().items():
            spec = resources.queue(queue_name)
            # What SNS cannot deliver to the queue (its policy, its key) lands in <topic>-dlq; CDK lets
            # this topic, and no other, send there.
            self.topics[topic_name].add_subscription(subscriptions.SqsSubscription(
                self.queues[queue_name], raw_message_delivery=False,
                dead_letter_queue=self.queues[source_dlq(topic_name)],
                filter_policy={name: sns.SubscriptionFilter.exists_filter() for name in spec.subscription_requires}))

    def _source_dead_letter_queues(self) -> dict[str, sqs.Queue]:
        """The dead-letter queues of what AWS delivers to koe (source_dead_letters()): encrypted,
        TLS-only, kept 14 days. Each one's queue policy admits only its source: the rule's target
        adds it for a rule (_rules), _delivery_dead_letters for a topic and for the schedule."""
        built = {}
        for name, source in source_dead_letters().items():
            if any(q.name == name for q in resources.QUEUES):
                raise ConfigError(f"queue {name!r} of resources.QUEUES has the name of the dead-letter "
                                  f"queue of {source}: rename it")
            built[name] = sqs.Queue(
                self, _cid("Queue", name),
                queue_name=resources.physical(self.config.prefix, name),
                retention_period=DLQ_RETENTION,
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
            )
        return built

    def _topics(self) -> dict[str, sns.Topic]:
        """Every topic of resources.TOPICS, encrypted with koe's topics key and TLS-only (a topic
        policy refuses a publish without aws:SecureTransport)."""
        self.topics_key = self._topics_key()
        topics = {topic.name: sns.Topic(self, _cid("Topic", topic.name),
                                        topic_name=resources.physical(self.config.prefix, topic.name),
                                        master_key=self.topics_key, enforce_ssl=True)
                  for topic in resources.TOPICS}
        # No alarm publishes to a topic of resources.TOPICS: they go to the operators' topic
        # (_operations), which uses the same key.
        return topics

    def _topics_key(self) -> kms.Key:
        """The customer-managed key of koe's topics. CloudWatch alarms (to the operators' topic) and SES
        (to its events topic, when koe sends email) must use it to publish; the key policy lets each
        use it for its topic only (SNS's encryption context names the topic). koe's own roles get it
        in _topics_key_users. The topics hold no message at rest beyond delivery: the key goes with
        the stack (deletion after 7 days)."""
        key = kms.Key(self, "TopicsKey", description=f"koe {self.config.stage}: SNS topics",
                      enable_key_rotation=True, pending_window=Duration.days(7),
                      removal_policy=RemovalPolicy.DESTROY)
        publishers = {OPS_TOPIC: ALARMS_SERVICE}
        if self.config.email_identity:
            publishers[EMAIL.events_topic] = SES_SERVICE
        for topic, service in sorted(publishers.items()):
            key.add_to_resource_policy(iam.PolicyStatement(
                sid=_cid("Publish", topic),
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": self.format_arn(
                    service="sns", resource=resources.physical(self.config.prefix, topic))}},
            ))
        return key

    def _email(self) -> None:
        """The SES identity koe sends from and the configuration set it sends through, whose event
        destination reports bounces, complaints and deliveries to the events topic (CDK adds the
        topic policy letting SES publish, for this configuration set and account only). Verifying
        the identity (DNS records for a domain, a click for an address) and leaving the SES sandbox
        are manual steps: see infra/README.md. Without `email_identity`, no email is sent."""
        self.email_identity: ses.EmailIdentity | None = None
        self.configuration_set: ses.ConfigurationSet | None = None
        identity = self.config.email_identity
        if not identity:
            Annotations.of(self).add_warning_v2(
                "koe:no-email", "no context 'email_identity': koe sends no email (the channel policy skips it)")
            return
        self.configuration_set = ses.ConfigurationSet(
            self, "EmailConfigurationSet",
            configuration_set_name=resources.physical(self.config.prefix, EMAIL.name))
        self.configuration_set.add_event_destination(
            "EmailEvents",
            configuration_set_event_destination_name=resources.physical(
                self.config.prefix, f"{EMAIL.name}-to-{EMAIL.events_topic}"),
            destination=ses.EventDestination.sns_topic(self.topics[EMAIL.events_topic]),
            events=[ses.EmailSendingEvent[event.upper()] for event in EMAIL.events])
        self.email_identity = ses.EmailIdentity(
            self, "EmailIdentity",
            identity=ses.Identity.email(identity) if "@" in identity else ses.Identity.domain(identity),
            configuration_set=self.configuration_set)

    # ---- the Chalice app ---------------------------------------------------------------------------

    def _config_bucket(self) -> s3.Bucket:
        """Where the configuration document lives (resources.CONFIG_DOCUMENT): versioned (every change
        kept, a rollback is a copy of an older version), encrypted, private, TLS only; its name is
        generated (bucket names are global). Data: kept like the tables, deleted only when the deploy
        that created it rolls back (it is empty then)."""
        return s3.Bucket(self, "ConfigBucket", versioned=True, encryption=s3.BucketEncryption.S3_MANAGED,
                         block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
                         object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                         removal_policy=DATA_REMOVAL_POLICY)

    def _templates_layer(self) -> lambda_.LayerVersion:
        """templates/ is not packaged by Chalice: ship it as a layer, extracted to /opt/templates."""
        source = self.config.app_dir / "templates"
        staged = Path(_scratch_dir()) / "templates-layer"
        shutil.copytree(source, staged / "templates", ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", ".DS_Store", "node_modules"))
        # Of the dashboard's npm packages, only the file the app serves (adapters/dashboard_pages.py).
        library = source / dashboard_pages.FOLDER / dashboard_pages.CHART_LIBRARY
        if not library.is_file():
            raise FileNotFoundError(f"{library} is missing: install it first (make install, or "
                                    "npm --prefix templates/dashboard ci)")
        shipped = staged / "templates" / dashboard_pages.FOLDER / dashboard_pages.CHART_LIBRARY
        shipped.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, shipped)
        if not any(p.is_file() for p in (staged / "templates").rglob("*")):
            Annotations.of(self).add_warning_v2(
                "koe:empty-templates", f"{source} holds no files: the templates layer is empty")
        return lambda_.LayerVersion(
            self, "TemplatesLayer",
            code=lambda_.Code.from_asset(str(staged)),
            description=f"koe {self.config.stage}: templates/ mounted at {TEMPLATES_MOUNT}",
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            # Old versions go when replaced: a function keeps its copy of a deleted layer version.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _environment(self) -> dict[str, str]:
        env = {
            "KOE_RESOURCE_PREFIX": self.config.prefix,
            "KOE_PUBLIC_BASE_URL": self.config.public_base_url,
            "KOE_TEMPLATES_DIR": TEMPLATES_MOUNT,
            **COMMENT_ANALYSER,
        }
        env.update({var: self.queues[name].queue_url for var, name in QUEUE_URL_ENV.items()})
        env.update({var: self.topics[name].topic_arn for var, name in TOPIC_ARN_ENV.items()})
        # The dashboard's sign-in (services/dashboard.py): the hosted UI and the app client it signs in to.
        env["KOE_COGNITO_DOMAIN_URL"] = self.user_pool_domain.base_url()
        env["KOE_COGNITO_CLIENT_ID"] = self.user_pool_client.user_pool_client_id
        if self.configuration_set is not None and self.config.sender:
            env[EMAIL_FROM_ENV] = self.config.sender
            env[EMAIL.env] = self.configuration_set.configuration_set_name
        # The configuration document every function reads (resources.CONFIG_DOCUMENT); the secrets'
        # names go to the functions that read them only (_function_policies).
        env[resources.CONFIG_DOCUMENT.bucket_env] = self.config_bucket.bucket_name
        env[resources.CONFIG_DOCUMENT.key_env] = resources.CONFIG_DOCUMENT.key
        env.update(self.config.app_env or {})
        return env

    def _chalice_app(self) -> Chalice:
        stage_config = {
            "manage_iam_role": False,               # IAM comes from this stack (self.roles, one per function)
            "iam_role_arn": self.roles[resources.API_HANDLER].role_arn,
            "environment_variables": self._environment(),
            "layers": [self.templates_layer.layer_version_arn],
            "xray": True,                           # tracing on every function and on the API stage
            "lambda_architecture": LAMBDA_ARCHITECTURE.name,    # the wheels chalice downloads
        }
        _check_packaging_python(sys.version_info[:2])
        # chalice.cdk writes its package to ./chalice.out: keep that out of the repository.
        with _cwd(_scratch_dir()):
            app = Chalice(self, "App", source_dir=str(_locked_source(self.config.app_dir)),
                          stage_config=stage_config)
        with open(os.path.join(app._sam_package_dir, "sam.json")) as f:
            self._sam = json.load(f)
        for fn_name in self._functions():
            app.get_resource(fn_name).add_property_override("Runtime", LAMBDA_RUNTIME.name)
            app.get_resource(fn_name).add_property_override("Architectures", [LAMBDA_ARCHITECTURE.name])
        return app

    def _functions(self) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self._sam["Resources"].items()
                if res["Type"] == "AWS::Serverless::Function"}

    def _handler(self, fn: dict[str, Any]) -> str:
        """The resources.FUNCTIONS handler a packaged function runs (app.app: the API's)."""
        handler = str(fn["Properties"].get("Handler", "")).rsplit(".", 1)[-1]
        return resources.API_HANDLER if handler == "app" else handler

    def _log_groups(self) -> None:
        """One log group per function, with retention; each function runs as its own role. (Chalice's own
        `log_retention_in_days` names the API handler's group after 'ApiHandler' while the function
        is 'APIHandler', which breaks `chalice package`; so it is done here.) A role may write to its
        function's group only and cannot create one."""
        self.function_ids: dict[str, str] = {}
        for fn_name, fn in self._functions().items():
            handler = self._handler(fn)
            if handler not in self.roles:
                raise ConfigError(f"app.py's {handler} has no declaration in resources.FUNCTIONS: "
                                  "declare what it may touch there")
            self.function_ids[handler] = fn_name
            cfn_fn = self.app.get_resource(fn_name)
            cfn_fn.add_property_override("Role", self.roles[handler].role_arn)
            if handler == resources.API_HANDLER and self.config.api_reserved_concurrency:
                cfn_fn.add_property_override("ReservedConcurrentExecutions", self.config.api_reserved_concurrency)
            logs.LogGroup(self, f"Logs{fn_name}", log_group_name=f"/aws/lambda/{cfn_fn.ref}",
                          retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)

    def _log_streams_arn(self, handler: str) -> str:
        """The log streams of one function. CloudFormation names a function <stack>-<LogicalId>-<suffix>:
        known before the function exists, so the role does not depend on it."""
        return self.format_arn(service="logs", resource="log-group",
                               resource_name=f"/aws/lambda/{self.stack_name}-{self.function_ids[handler]}-*:*",
                               arn_format=ArnFormat.COLON_RESOURCE_NAME)

    def _wire_event_sources(self) -> None:
        """Point Chalice's event sources at this stack's queue and stream (Chalice only knows names),
        after checking that the handler is the consumer resources.py declares for that source."""
        self.consumed_queues: set[str] = set()
        self.consumed_topics: set[str] = set()
        self.consumed_streams: set[str] = set()
        for fn_name, fn in self._functions().items():
            cfn_fn = self.app.get_resource(fn_name)
            handler = self._handler(fn)
            for ev_name, ev in (fn["Properties"].get("Events") or {}).items():
                path = f"Events.{ev_name}.Properties"
                if handler in SENDING_HANDLERS and ev["Type"] in ("SQS", "Schedule"):
                    # Paused on the first deploy (no public URL yet), running from the next one.
                    cfn_fn.add_property_override(f"{path}.Enabled", not self.config.sending_paused)
                if ev["Type"] == "SQS":
                    logical = _match(_arn_name(ev["Properties"]["Queue"]), self.queues,
                                     what=f"queue of {fn_name}")
                    _check_consumer(handler, resources.queue(logical).consumer, f"queue {logical}")
                    timeout = fn["Properties"].get("Timeout", 60)
                    visibility = resources.queue(logical).visibility_timeout_s
                    if timeout > visibility:
                        raise ConfigError(
                            f"{fn_name} times out after {timeout}s but {logical}'s visibility "
                            f"timeout is {visibility}s: Lambda refuses that event source")
                    cfn_fn.add_property_override(f"{path}.Queue", self.queues[logical].queue_arn)
                    cfn_fn.add_property_override(f"{path}.FunctionResponseTypes",
                                                 ["ReportBatchItemFailures"])
                    if resources.queue(logical).max_concurrency:
                        cfn_fn.add_property_override(f"{path}.ScalingConfig", {
                            "MaximumConcurrency": resources.queue(logical).max_concurrency})
                    self.consumed_queues.add(logical)
                elif ev["Type"] == "SNS":
                    # SAM expands this into the subscription and the permission SNS invokes with.
                    logical = _match(_arn_name(ev["Properties"]["Topic"]), self.topics,
                                     what=f"topic of {fn_name}")
                    _check_consumer(handler, resources.topic(logical).consumer, f"topic {logical}")
                    cfn_fn.add_property_override(f"{path}.Topic", self.topics[logical].topic_arn)
                    self.consumed_topics.add(logical)
                elif ev["Type"] == "DynamoDB":
                    streamed = {n: t for n, t in self.tables.items()
                                if resources.table(n).stream}
                    logical = _match(_table_from_stream_arn(ev["Properties"]["Stream"]), streamed,
                                     what=f"stream of {fn_name}")
                    _check_consumer(handler, resources.table(logical).stream_consumer,
                                    f"the stream of table {logical}")
                    cfn_fn.add_property_override(f"{path}.Stream",
                                                 self.tables[logical].table_stream_arn)
                    cfn_fn.add_property_override(f"{path}.BisectBatchOnFunctionError", True)
                    cfn_fn.add_property_override(f"{path}.MaximumRetryAttempts",
                                                 STREAM_MAX_RETRIES)
                    cfn_fn.add_property_override(f"{path}.MaximumRecordAgeInSeconds",
                                                 STREAM_MAX_RECORD_AGE_S)
                    # A handler that returns nothing (or an empty list) still counts as success.
                    cfn_fn.add_property_override(f"{path}.FunctionResponseTypes",
                                                 ["ReportBatchItemFailures"])
                    dlq = self.queues.get(logical + STREAM_DLQ_SUFFIX)
                    if dlq is not None:
                        cfn_fn.add_property_override(f"{path}.DestinationConfig", {
                            "OnFailure": {"Type": "SQS", "Destination": dlq.queue_arn}})
                    else:
                        Annotations.of(self).add_warning_v2(
                            "koe:no-stream-dlq",
                            f"no queue '{logical}{STREAM_DLQ_SUFFIX}' in resources.QUEUES: stream "
                            f"batches of {logical} that fail {STREAM_MAX_RETRIES} retries are dropped")
                    self.consumed_streams.add(logical)

    # ---- operators: alarms, their topic, the dashboard --------------------------------------------

    def _operations(self) -> None:
        """The operators' topic (encrypted with koe's topics key, which CloudWatch may use for it, TLS only,
        publishable by this account's CloudWatch alarms of this stage), an alarm on every signal
        that needs a person, and one dashboard. docs/operations.md says what to do for each alarm."""
        stage = self.config.stage
        # Encrypted with koe's topics key, whose policy lets CloudWatch use it for this topic only
        # (_topics_key): the AWS-managed aws/sns key would refuse CloudWatch.
        self.ops_topic = sns.Topic(
            self, "OpsAlarmsTopic", topic_name=resources.physical(self.config.prefix, OPS_TOPIC),
            display_name=f"koe {stage} alarms", master_key=self.topics_key, enforce_ssl=True)
        self.ops_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisStage", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.ops_topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {"aws:SourceArn": self.format_arn(
                            service="cloudwatch", resource="alarm",
                            resource_name=f"{self.config.prefix}*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)}}))
        if self.config.ops_email:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(self.config.ops_email))
        self.ops_alarms: list[cloudwatch.Alarm] = []
        widgets = [*self._function_alarms(), *self._queue_alarms(), *self._api_alarms(),
                   *self._table_alarms(), *self._koe_metric_alarms(), *self._email_alarms()]
        cloudwatch.Dashboard(
            self, "OpsDashboard", dashboard_name=resources.physical(self.config.prefix, OPS_DASHBOARD),
            default_interval=Duration.hours(6),
            widgets=[[cloudwatch.AlarmStatusWidget(
                title=f"koe {stage}: alarms", alarms=self.ops_alarms, width=24, height=8,
                sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP)],
                     *[widgets[i:i + 3] for i in range(0, len(widgets), 3)]])

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float, action: str, *,
               above: bool = False, periods: int = 1, missing: str = "NOT_BREACHING") -> cloudwatch.Alarm:
        """koe-<stage>-<name>: at least `threshold` (above: more than), in `periods` periods in a row;
        to the operators' topic when it fires and when it clears."""
        alarm = cloudwatch.Alarm(
            self, _cid("Alarm", name), metric=metric,
            alarm_name=resources.physical(self.config.prefix, name),
            alarm_description=f"koe {self.config.stage}: {action}",
            threshold=threshold, evaluation_periods=periods, datapoints_to_alarm=periods,
            comparison_operator=(cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD if above
                                 else cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD),
            treat_missing_data=cloudwatch.TreatMissingData[missing])
        alarm.add_alarm_action(cw_actions.SnsAction(self.ops_topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.ops_topic))
        self.ops_alarms.append(alarm)
        return alarm

    def _function_alarms(self) -> list[cloudwatch.IWidget]:
        """Each function: Errors, Throttles (any, in 5 minutes), p99 Duration near its timeout (15
        minutes in a row); the stream consumer: IteratorAge (it falls behind the responses)."""
        widgets: list[cloudwatch.IWidget] = []
        streamed = set(resources.stream_consumers().values())
        for fn_name, fn in self._functions().items():
            handler = str(fn["Properties"].get("Handler", "")).rsplit(".", 1)[-1]
            label = "api" if fn_name == "APIHandler" else handler.replace("_", "-")
            timeout_s = fn["Properties"].get("Timeout", 60)

            def metric(name: str, statistic: str, fn_name: str = fn_name) -> cloudwatch.Metric:
                return cloudwatch.Metric(namespace="AWS/Lambda", metric_name=name, statistic=statistic,
                                         dimensions_map={"FunctionName": self.app.get_resource(fn_name).ref},
                                         period=Duration.minutes(5))

            errors, throttles = metric("Errors", "Sum"), metric("Throttles", "Sum")
            duration = metric("Duration", "p99")
            self._alarm(f"{label}-errors", errors, 1,
                        f"the {handler} function failed (an exception, a timeout or out of memory). Its log "
                        f"group /aws/lambda/<function> has the error; a queue's record is retried, then "
                        "dead-lettered with its reason.")
            self._alarm(f"{label}-throttles", throttles, 1,
                        f"Lambda throttled the {handler} function: the account's (or its reserved) "
                        "concurrency is used up. Look at the account's ConcurrentExecutions; raise the "
                        "quota or the reservation.")
            self._alarm(f"{label}-duration", duration, timeout_s * 1000 * DURATION_ALARM_SHARE,
                        f"the {handler} function's p99 duration is above {DURATION_ALARM_SHARE:.0%} of its "
                        f"{timeout_s} s timeout for 15 minutes: a slow dependency (Twilio, SES, DynamoDB, "
                        "Comprehend) or too big a batch. Timeouts come next.", above=True, periods=3)
            right: list[cloudwatch.IMetric] = [duration]
            if handler in streamed:
                age = metric("IteratorAge", "Maximum")
                self._alarm(f"{label}-iterator-age", age, ITERATOR_AGE_ALARM.to_milliseconds(),
                            f"the {handler} function is more than {ITERATOR_AGE_ALARM.to_minutes()} minutes "
                            "behind its stream for 10 minutes (scores and cases lag). Look for its errors "
                            "(a failing batch is retried, bisected, then sent to the stream's DLQ) or "
                            f"throttles; records older than {STREAM_MAX_RECORD_AGE_S // 3600} h are "
                            "dropped to the DLQ.", above=True, periods=2)
                right.append(age)
            widgets.append(cloudwatch.GraphWidget(
                title=f"{handler}: errors, throttles, p99 duration", width=8,
                left=[metric("Invocations", "Sum"), errors, throttles], right=right))
        return widgets

    def _queue_alarms(self) -> list[cloudwatch.IWidget]:
        """Every queue: the age of its oldest message (a consumed queue: longer than all its receives
        can take, so nothing consumes it; any other: half its retention, before SQS deletes it);
        every dead-letter queue: not empty."""
        dead_letters = {q.dead_letter for q in resources.QUEUES if q.dead_letter}
        of_sources = set(source_dead_letters())      # infra's own: what AWS could not deliver to koe
        dlqs = sorted(dead_letters | of_sources | {n for n in self.queues if n.endswith(STREAM_DLQ_SUFFIX)})
        ages = []
        for name, queue in self.queues.items():
            spec = None if name in of_sources else resources.queue(name)
            age = queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=Duration.minutes(5))
            ages.append(age)
            if spec is not None and spec.consumer:
                limit = Duration.seconds(spec.max_receive_count * spec.visibility_timeout_s)
                action = (f"the oldest message in {name} is older than its {spec.max_receive_count} receives "
                          f"can take: {spec.consumer} is not consuming it. Look at that function's errors, "
                          "throttles and its event source mapping (disabled?).")
            else:
                retention = DLQ_RETENTION if name in dlqs or name in OUTSIDE_QUEUES else QUEUE_RETENTION
                limit = Duration.seconds(retention.to_seconds() // 2)
                action = (f"a message has waited in {name} for half of its {retention.to_days():.0f}-day "
                          "retention: SQS deletes it at the end. "
                          + ("Read its reason, fix, then redrive or delete it (docs/operations.md)."
                             if name in dlqs else "Nothing in this stack consumes it (the CX team's CRM reads "
                             "it: docs/operations.md): check that its reader runs."))
            self._alarm(f"{name}-oldest-message", age, limit.to_seconds(), action, above=True)
        visible = []
        for name in dlqs:
            messages = self.queues[name].metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum")
            visible.append(messages)
            # The construct id and name the first dead-letter alarms had: the alarms are updated, not replaced.
            alarm = cloudwatch.Alarm(
                self, _cid("Alarm", name), metric=messages,
                alarm_name=resources.physical(self.config.prefix, f"{name}-not-empty"),
                alarm_description=f"koe {self.config.stage}: messages are waiting in {name}; look at their "
                                  "'reason' attribute (docs/operations.md), fix, then redrive",
                threshold=0, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(cw_actions.SnsAction(self.ops_topic))
            alarm.add_ok_action(cw_actions.SnsAction(self.ops_topic))
            self.ops_alarms.append(alarm)
        return [cloudwatch.GraphWidget(title="queues: age of the oldest message (s)", width=8, left=ages),
                cloudwatch.GraphWidget(title="dead-letter queues: messages", width=8, left=visible)]

    def _api_alarms(self) -> list[cloudwatch.IWidget]:
        """API Gateway's 5XX answers and p99 latency. Its metrics know an API by name only: the API
        is named koe-<stage> (the OpenAPI title it is imported with), not Chalice's app name."""
        api_name = f"koe-{self.config.stage}"
        api = self.app.get_resource("RestAPI")
        api.add_property_override("DefinitionBody.info.title", api_name)
        stage_name = self._sam["Resources"]["RestAPI"]["Properties"]["StageName"]

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name=name, statistic=statistic,
                                     dimensions_map={"ApiName": api_name, "Stage": stage_name},
                                     period=Duration.minutes(5))

        five, latency = metric("5XXError", "Sum"), metric("Latency", "p99")
        self._alarm("api-5xx", five, API_5XX_ALARM,
                    f"API Gateway answered {API_5XX_ALARM} or more 5XX in 5 minutes: the APIHandler function's "
                    "errors (its own alarm and log group) or API Gateway's (code gateway_error).")
        self._alarm("api-latency", latency, API_LATENCY_P99_ALARM.to_milliseconds(),
                    f"the API's p99 latency is above {API_LATENCY_P99_ALARM.to_seconds()} s for 15 minutes "
                    "(Twilio gives a webhook 15 s): look at the APIHandler function's duration and DynamoDB's "
                    "throttles.", above=True, periods=3)
        return [cloudwatch.GraphWidget(title="API: requests and errors", width=8,
                                       left=[metric("Count", "Sum"), metric("4XXError", "Sum"), five]),
                cloudwatch.GraphWidget(title="API: latency (ms)", width=8,
                                       left=[metric("Latency", "p50"), latency])]

    def _table_alarms(self) -> list[cloudwatch.IWidget]:
        """Every table: requests DynamoDB throttled (any operation, the table or an index: one
        Metrics Insights query). On demand, that is a sudden burst past the table's limits."""
        throttle_events = []
        for spec in resources.TABLES:
            name = resources.physical(self.config.prefix, spec.name)
            throttled = cloudwatch.MathExpression(
                expression=f'SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) '
                           f"WHERE TableName = '{name}'",
                label=f"{spec.name} throttled requests", period=Duration.minutes(5))
            self._alarm(f"{spec.name}-table-throttled", throttled, 1,
                        f"DynamoDB throttled requests to {name} (the SDK retried; a record is retried by its "
                        "queue). Look at the table's ReadThrottleEvents / WriteThrottleEvents on the dashboard "
                        "for a hot key or an index; raise the table's on-demand maximum if one is set.")
            throttle_events += [self.tables[spec.name].metric(metric, statistic="Sum", period=Duration.minutes(5),
                                                              label=f"{spec.name} {metric}")
                                for metric in ("ReadThrottleEvents", "WriteThrottleEvents")]
        return [cloudwatch.GraphWidget(title="DynamoDB: throttle events", width=8, left=throttle_events)]

    def _koe_metric_alarms(self) -> list[cloudwatch.IWidget]:
        lines = []
        for spec in KOE_METRIC_ALARMS:
            query = cloudwatch.MathExpression(
                expression=f"SELECT SUM({spec.metric}) FROM {KOE_NAMESPACE}", label=spec.metric,
                period=Duration.minutes(spec.minutes))
            name = "metric-" + re.sub(r"(?<!^)(?=[A-Z])", "-", spec.metric).lower()
            self._alarm(name, query, spec.threshold,
                        f"{spec.metric} reached {spec.threshold} in {spec.minutes} minutes. {spec.action}")
            lines.append(query.with_(period=Duration.minutes(5)))
        return [cloudwatch.GraphWidget(title="koe: failures (per 5 minutes)", width=8, left=lines)]

    def _email_alarms(self) -> list[cloudwatch.IWidget]:
        """SES's account reputation, when koe sends email: the rates SES reviews an account at."""
        if self.email_identity is None:
            return []
        rates = []
        for metric, limit, what in (("Reputation.ComplaintRate", SES_COMPLAINT_RATE_ALARM, "complaint"),
                                    ("Reputation.BounceRate", SES_BOUNCE_RATE_ALARM, "bounce")):
            rate = cloudwatch.Metric(namespace="AWS/SES", metric_name=metric, statistic="Maximum",
                                     period=Duration.hours(1))
            rates.append(rate)
            self._alarm(f"ses-{what}-rate", rate, limit,
                        f"the account's SES {what} rate is above {limit:.1%}, where SES reviews an account (and "
                        "may pause its sending). koe opts out bounced and complaining addresses itself: look "
                        "at which surveys were sent to them (EmailFeedback, EmailOptedOut metrics) and at the "
                        "contact data the operations systems send.", above=True)
        return [cloudwatch.GraphWidget(title="SES: reputation (account)", width=8, left=rates)]

    def _delivery_dead_letters(self) -> None:
        """What AWS invokes a function with and could not deliver lands in the source's DLQ: a topic's
        Lambda subscription (its redrive policy: SNS could not invoke) and the invocation (Lambda's
        on-failure destination after its async retries) in <topic>-dlq; the schedule's rule target
        (EventBridge could not invoke) and the tick (its one invocation failed or waited over a
        minute) in <handler>-dlq. The function's role may send its failures there; the queue policy
        admits the service, from that topic or rule only."""
        failures: dict[str, set[str]] = {}
        for fn_name, fn in self._functions().items():
            cfn_fn = self.app.get_resource(fn_name)
            handler = self._handler(fn)
            for ev_name, ev in (fn["Properties"].get("Events") or {}).items():
                path = f"Events.{ev_name}.Properties"
                if ev["Type"] == "SNS":
                    topic = resources.topic_consumed_by(handler).name   # checked by _wire_event_sources
                    dlq_name = source_dlq(topic)
                    dlq = self.queues[dlq_name]
                    cfn_fn.add_property_override(f"{path}.RedrivePolicy", {"deadLetterTargetArn": dlq.queue_arn})
                    dlq.add_to_resource_policy(iam.PolicyStatement(
                        sid="UndeliveredFromTopic", principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                        actions=["sqs:SendMessage"], resources=[dlq.queue_arn],
                        conditions={"ArnEquals": {"aws:SourceArn": self.topics[topic].topic_arn}}))
                    retries, max_age = TOPIC_INVOKE_RETRIES, TOPIC_INVOKE_MAX_AGE_S
                elif ev["Type"] == "Schedule":
                    _check_consumer(handler, resources.SCHEDULE_CONSUMER, "the schedule")
                    dlq_name = source_dlq(handler)
                    dlq = self.queues[dlq_name]
                    rule_name = resources.physical(self.config.prefix, handler)
                    # Named, so that the queue policy can name the rule (SAM generates it).
                    cfn_fn.add_property_override(f"{path}.Name", rule_name)
                    cfn_fn.add_property_override(f"{path}.DeadLetterConfig", {"Arn": dlq.queue_arn})
                    cfn_fn.add_property_override(f"{path}.RetryPolicy", SCHEDULE_TARGET_RETRY_POLICY)
                    Validations.of(cfn_fn).acknowledge(Acknowledgment(
                        id="CloudFormation-Validate::E0001",
                        reason="CDK's built-in SAM expansion refuses a Schedule event's DeadLetterConfig "
                               "(Arn) that SAM itself documents and expands; the synth test expands the "
                               "template with aws-sam-translator and lints the result"))
                    dlq.add_to_resource_policy(iam.PolicyStatement(
                        sid="UndeliveredFromSchedule", principals=[iam.ServicePrincipal("events.amazonaws.com")],
                        actions=["sqs:SendMessage"], resources=[dlq.queue_arn],
                        conditions={"ArnEquals": {"aws:SourceArn": self.format_arn(
                            service="events", resource="rule", resource_name=rule_name)}}))
                    retries, max_age = SCHEDULE_INVOKE_RETRIES, SCHEDULE_INVOKE_MAX_AGE_S
                else:
                    continue
                cfn_fn.add_property_override("EventInvokeConfig", {
                    "MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": max_age,
                    "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": dlq.queue_arn}}})
                failures.setdefault(handler, set()).add(dlq_name)
        for handler, dlqs in sorted(failures.items()):
            # Lambda sends an on-failure record as the function's role.
            self.policies[handler].add_statements(iam.PolicyStatement(
                sid=_cid("InvokeFailures", handler), actions=["sqs:SendMessage"],
                resources=[self.queues[n].queue_arn for n in sorted(dlqs)]))

    # ---- the CX team: Cognito users, and the authorizer in front of every CX route --------------------

    def _cx_users(self) -> None:
        """The CX team's user pool: made by an administrator only (no self sign-up), sign-in by email,
        a strong password, TOTP MFA required, recovery by email. `branch` and `agent_id` scope a
        branch manager and an agent; users cannot write them (the app client may not), nor their
        groups: docs/operations.md shows how an administrator sets both. Kept and protected from deletion like
        the tables (DATA_REMOVAL_POLICY, deletion_protection)."""
        self.user_pool = cognito.UserPool(
            self, "CxUsers",
            user_pool_name=resources.physical(self.config.prefix, "cx-users"),
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)),
            custom_attributes={
                name: cognito.StringAttribute(min_len=1, max_len=CX_ATTRIBUTE_MAX_LEN, mutable=True)
                for name in _CX_ATTRIBUTES},
            password_policy=cognito.PasswordPolicy(
                min_length=14, require_lowercase=True, require_uppercase=True, require_digits=True,
                require_symbols=True, temp_password_validity=Duration.days(3)),
            # Everyone who can reveal a customer's number signs in with a second factor (an authenticator
            # app's TOTP; SMS codes would need an SNS role and cost per message). Cognito sets a pool's MFA
            # to required only when the pool is created.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            user_invitation=cognito.UserInvitationConfig(
                email_subject=f"koe ({self.config.stage}): your CX dashboard account",
                email_body="Your koe CX dashboard account: user name {username}, temporary password "
                           "{####} (change it at first sign-in)."),
            deletion_protection=self.config.deletion_protection,
            removal_policy=DATA_REMOVAL_POLICY,
        )
        self.user_groups = {
            role.value: cognito.UserPoolGroup(
                self, _cid("Group", role.value), user_pool=self.user_pool, group_name=role.value,
                precedence=rank, description=_CX_GROUP_DESCRIPTIONS[role.value])
            for rank, role in enumerate(CX_ROLES)}
        dashboard = f"{self.config.public_base_url}{DASHBOARD_PATH}"
        self.user_pool_client = self.user_pool.add_client(
            "Dashboard",
            user_pool_client_name=resources.physical(self.config.prefix, "dashboard"),
            generate_secret=False,                  # a browser app: nothing it holds stays secret
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                # COGNITO_ADMIN: the dashboard has Cognito check its session (GetUser) on every page view.
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE,
                        cognito.OAuthScope.COGNITO_ADMIN],
                callback_urls=[dashboard], logout_urls=[dashboard]),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            id_token_validity=CX_ID_TOKEN_VALIDITY,
            access_token_validity=CX_ID_TOKEN_VALIDITY,
            refresh_token_validity=CX_REFRESH_TOKEN_VALIDITY,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            read_attributes=cognito.ClientAttributes()
                .with_standard_attributes(email=True, email_verified=True, fullname=True)
                .with_custom_attributes(*_CX_ATTRIBUTES),
            # Never branch / agent_id: a user who could write them could widen their own scope.
            write_attributes=cognito.ClientAttributes().with_standard_attributes(fullname=True),
        )
        self.user_pool_domain = self.user_pool.add_domain(
            "HostedUi", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=self.config.hosted_ui_prefix))

    def _authorize_cx_routes(self) -> None:
        """API Gateway's Cognito user pool authorizer on every CX route of app.py's Edge registry (a
        route whose roles do not include operations): API Gateway verifies the ID token and passes
        its claims in the request context (auth.CognitoClaims reads them). Operations routes keep
        the API key only. Chalice's swagger (the RestAPI's DefinitionBody) gets the authorizer, a
        `security` entry per CX method (the 401 the authorizer answers: _gateway_responses)."""
        self.cx_routes, self.operations_routes = _split_routes(_protected_routes(self.config.app_dir))
        paths = self._sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"].get("paths", {})
        unknown = [f"{method} {path}" for path, method in self.cx_routes if method.lower() not in paths.get(path, {})]
        if unknown:
            raise ConfigError(f"CX routes of app.py's registry missing from Chalice's API: {', '.join(unknown)}")
        api = self.app.get_resource("RestAPI")
        api.add_property_override(f"DefinitionBody.securityDefinitions.{COGNITO_AUTHORIZER}", {
            "type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools",
                                               "providerARNs": [self.user_pool.user_pool_arn]},
        })
        for path, method in self.cx_routes:
            api.add_property_override(f"DefinitionBody.paths.{_override_key(path)}.{method.lower()}.security",
                                      [{COGNITO_AUTHORIZER: []}])
        self._operations_usage_plan(api)

    def _operations_usage_plan(self, api: Any) -> None:
        """The operations routes also need an API Gateway key of the operations usage plan (x-api-key,
        the same header and value koe checks against its api-keys secret: infra/deploy.py puts the
        secret's keys in the plan). The plan's throttle and daily quota bound what one leaked key can
        do: at most OPS_QUOTA_PER_DAY requests a day, so at most that many surveys' worth of SMS."""
        api.add_property_override(f"DefinitionBody.securityDefinitions.{OPS_API_KEY}", {
            "type": "apiKey", "name": "x-api-key", "in": "header"})
        for path, method in self.operations_routes:
            api.add_property_override(f"DefinitionBody.paths.{_override_key(path)}.{method.lower()}.security",
                                      [{OPS_API_KEY: []}])
        self.usage_plan = apigateway.CfnUsagePlan(
            self, "OperationsUsagePlan", usage_plan_name=resources.physical(self.config.prefix, "operations"),
            description=f"koe {self.config.stage}: the operations systems' API keys (infra/deploy.py syncs them)",
            # SAM's reference to the stage it makes from the RestAPI: the plan waits for the stage.
            api_stages=[apigateway.CfnUsagePlan.ApiStageProperty(api_id=api.ref, stage=Fn.ref("RestAPI.Stage"))],
            throttle=apigateway.CfnUsagePlan.ThrottleSettingsProperty(
                rate_limit=OPS_RATE_LIMIT, burst_limit=OPS_BURST_LIMIT),
            quota=apigateway.CfnUsagePlan.QuotaSettingsProperty(limit=OPS_QUOTA_PER_DAY, period="DAY"))

    def _gateway_responses(self) -> None:
        """What API Gateway answers itself, before any function runs, in koe's one error shape and
        never cached: the authorizer's 401; a path or a method the API does not have (API Gateway's
        403 "Missing Authentication Token") as koe's 404, as the local stack answers a path no route
        has; and every other refusal (throttled, too large, ...) or failure of its own with its status."""
        from chalicelib import http

        no_store = {"gatewayresponse.header.Cache-Control": "'no-store'"}
        # $context.error.messageString is API Gateway's message, already quoted as a JSON string.
        message = "$context.error.messageString"
        responses: dict[str, dict[str, Any]] = {
            "UNAUTHORIZED": {"statusCode": "401", "responseTemplates": {"application/json": json.dumps(
                {"error": http.UNAUTHENTICATED, "code": "unauthenticated"})}},
            "MISSING_AUTHENTICATION_TOKEN": {"statusCode": "404", "responseTemplates": {
                "application/json": json.dumps(dict(http.NO_ROUTE))}},
            "DEFAULT_4XX": {"responseTemplates": {
                "application/json": f'{{"error": {message}, "code": "refused_by_gateway"}}'}},
            "DEFAULT_5XX": {"responseTemplates": {
                "application/json": f'{{"error": {message}, "code": "gateway_error"}}'}},
        }
        api = self.app.get_resource("RestAPI")
        for kind, response in responses.items():
            api.add_property_override(f"DefinitionBody.x-amazon-apigateway-gateway-responses.{kind}",
                                      {**response, "responseParameters": no_store})

    def _api_stage(self) -> None:
        """The API's one stage: no extra `Stage` stage (SAM makes one unless OpenApiVersion is set),
        X-Ray tracing, an access log (JSON, no query string or body: they can carry a customer's
        number or a token), execution logs of errors, detailed metrics, and a rate and burst limit
        per stage (API_RATE_LIMIT, API_BURST_LIMIT) so a flood, or a leaked operations key, meets a
        429 before it meets Lambda's concurrency or the carrier's bill."""
        api = self.app.get_resource("RestAPI")
        api.add_property_override("OpenApiVersion", "2.0")
        api.add_property_override("TracingEnabled", True)
        self.api_access_logs = logs.LogGroup(
            self, "ApiAccessLogs", log_group_name=f"/aws/apigateway/{self.config.prefix}access",
            retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        api.add_property_override("AccessLogSetting", {
            "DestinationArn": self.api_access_logs.log_group_arn,
            "Format": json.dumps(API_ACCESS_LOG_FORMAT, separators=(",", ":"))})
        api.add_property_override("MethodSettings", [{
            "ResourcePath": "/*", "HttpMethod": "*", "LoggingLevel": "ERROR", "DataTraceEnabled": False,
            "MetricsEnabled": True, "ThrottlingRateLimit": API_RATE_LIMIT, "ThrottlingBurstLimit": API_BURST_LIMIT}])
        # API Gateway writes execution logs as the account's CloudWatch role (one per account and region).
        role = iam.Role(
            self, "ApiGatewayLogsRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description=f"koe {self.config.stage}: API Gateway writes its execution logs",
            inline_policies={"logs": iam.PolicyDocument(statements=[iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                         "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"],
                resources=[self.format_arn(service="logs", resource="log-group",
                                           resource_name="API-Gateway-Execution-Logs_*",
                                           arn_format=ArnFormat.COLON_RESOURCE_NAME)])])})
        # The account's setting outlives this stack (another stage may have set it since, or rely on it):
        # the role is kept when the stack is deleted, so the setting never names a deleted role (it goes
        # only with a rolled-back first deploy, like the data).
        role.apply_removal_policy(DATA_REMOVAL_POLICY)
        account = apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        api.add_dependency(account)

    # ---- IAM: exactly what the functions do --------------------------------------------------------

    def _function_policies(self) -> None:
        """Each function's role: what resources.FUNCTIONS grants it (its code's AWS calls), reading
        its trigger (its queue, its stream, with the stream's on-failure queue), its own log group,
        tracing, and the topics key through SNS when it publishes to a topic."""
        for function in resources.FUNCTIONS:
            handler = function.handler
            statements = [
                *self._declared(function),
                iam.PolicyStatement(sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                    resources=[self._log_streams_arn(handler)]),
                iam.PolicyStatement(sid="Tracing", actions=list(TRACING_ACTIONS), resources=["*"]),
            ]
            queue = next((q for q in resources.QUEUES if q.consumer == handler), None)
            if queue is not None:
                statements.append(iam.PolicyStatement(
                    sid="ConsumeQueue",
                    actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    resources=[self.queues[queue.name].queue_arn]))
            for table in (t for t in resources.TABLES if t.stream_consumer == handler):
                built = self.tables[table.name]
                statements.append(iam.PolicyStatement(
                    sid="ConsumeStream",
                    actions=["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                    resources=[built.table_stream_arn]))
                statements.append(iam.PolicyStatement(
                    sid="ListStreams", actions=["dynamodb:ListStreams"], resources=[f"{built.table_arn}/stream/*"]))
                if table.name + STREAM_DLQ_SUFFIX in self.queues:
                    statements.append(iam.PolicyStatement(
                        sid="StreamFailures", actions=["sqs:SendMessage"],
                        resources=[self.queues[table.name + STREAM_DLQ_SUFFIX].queue_arn]))
            if any(g.resource.startswith("topic/") for g in function.grants):
                statements.append(iam.PolicyStatement(
                    sid="TopicsKey", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.topics_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sns.{Aws.REGION}.amazonaws.com"}}))
            self.policies[handler].add_statements(*statements)
            # The names of the secrets this function reads (and of no other).
            cfn_fn = self.app.get_resource(self.function_ids[handler])
            for secret in resources.SECRETS:
                if not self.config.turns_on(secret):      # LINE's, Alibaba's: only where the stage says
                    continue
                if function.allows("secretsmanager:GetSecretValue", f"secret/{secret.name}"):
                    cfn_fn.add_property_override(f"Environment.Variables.{secret.env}",
                                                 resources.physical(self.config.prefix, secret.name))

    def _declared(self, function: resources.Function) -> list[iam.PolicyStatement]:
        """resources.FUNCTIONS' grants as statements: one per set of actions, over every resource
        granted exactly those; SES from koe's own address only (nothing without an identity); the
        APIs without resources ("*") apart."""
        by_actions: dict[tuple[str, ...], list[str]] = {}
        statements = []
        for grant in function.grants:
            if grant.resource == "email":
                statements += self._send_email()
            elif grant.resource == "*":
                statements.append(iam.PolicyStatement(sid="ResourcelessApis", actions=list(grant.actions),
                                                      resources=["*"]))
            else:
                by_actions.setdefault(tuple(sorted(grant.actions)), []).append(self._arn(grant.resource))
        for n, (actions, arns) in enumerate(sorted(by_actions.items()), start=1):
            service = actions[0].split(":", 1)[0].capitalize()
            statements.append(iam.PolicyStatement(sid=f"{service}{n}", actions=list(actions), resources=arns))
        return statements

    def _arn(self, resource: str) -> str:
        """The ARN of a resources.Grant resource: table/<t>[/index/<i>], queue/<q>, topic/<t>,
        secret/<s>, config (the configuration document's one object)."""
        kind, _, name = resource.partition("/")
        if kind == "table":
            table, _, index = name.partition("/index/")
            if index and index not in {i.name for i in resources.table(table).indexes}:
                raise ConfigError(f"resources.FUNCTIONS grants {resource}: {table} has no index {index}")
            arn = self.tables[table].table_arn
            return f"{arn}/index/{index}" if index else arn
        if kind == "queue":
            return self.queues[name].queue_arn
        if kind == "topic":
            return self.topics[name].topic_arn
        if kind == "secret":        # the operator's secret: Secrets Manager adds -<6 characters> to its ARN
            return self.format_arn(service="secretsmanager", resource="secret",
                                   resource_name=f"{resources.physical(self.config.prefix, name)}-??????",
                                   arn_format=ArnFormat.COLON_RESOURCE_NAME)
        if kind == "config":
            return self.config_bucket.arn_for_objects(resources.CONFIG_DOCUMENT.key)
        raise ConfigError(f"resources.FUNCTIONS grants {resource!r}: not a table, queue or topic")

    def _send_email(self) -> list[iam.PolicyStatement]:
        """SES v2 SendEmail authorises against the identity and the configuration set it names;
        SendRawEmail is its v1 name. Only from koe's own address; nothing without an identity."""
        if self.email_identity is None or self.configuration_set is None:
            return []
        return [iam.PolicyStatement(
            sid="SendEmail",
            actions=["ses:SendEmail", "ses:SendRawEmail"],
            resources=[self.email_identity.email_identity_arn,
                       self.format_arn(service="ses", resource="configuration-set",
                                       resource_name=self.configuration_set.configuration_set_name)],
            conditions={"StringEquals": {"ses:FromAddress": self.config.sender}},
        )]

    def _outputs(self) -> None:
        CfnOutput(self, "PublicBaseUrl", value=self.config.public_base_url,
                  description="KOE_PUBLIC_BASE_URL the functions check Twilio signatures against")
        CfnOutput(self, "SendingPaused", value="true" if self.config.sending_paused else "false",
                  description="true after a first deploy with public_base_url=pending: deploy again with "
                              "-c public_base_url=<EndpointURL without the trailing />, or `make deploy`")
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "TemplatesLayerArn", value=self.templates_layer.layer_version_arn)
        CfnOutput(self, "OperationsUsagePlanId", value=self.usage_plan.ref,
                  description="infra/deploy.py puts the api-keys secret's keys in this plan")
        CfnOutput(self, "ConfigBucketName", value=self.config_bucket.bucket_name,
                  description=f"put the configuration document at s3://<this>/{resources.CONFIG_DOCUMENT.key} "
                              "(infra/deploy.py --config FILE does)")
        for name, queue in self.queues.items():
            CfnOutput(self, _cid("QueueUrl", name), value=queue.queue_url)
        for name, topic in self.topics.items():
            CfnOutput(self, _cid("TopicArn", name), value=topic.topic_arn)
        CfnOutput(self, "CxUserPoolId", value=self.user_pool.user_pool_id,
                  description="the CX team's users: docs/operations.md creates them and sets their groups")
        CfnOutput(self, "CxUserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        CfnOutput(self, "CxSignInUrl", value=self.user_pool_domain.sign_in_url(
            self.user_pool_client, redirect_uri=f"{self.config.public_base_url}{DASHBOARD_PATH}"),
                  description="the hosted UI: sign in, then back to the dashboard with a code")
        if self.email_identity is not None and self.configuration_set is not None:
            CfnOutput(self, "EmailIdentityName", value=self.email_identity.email_identity_name,
                      description="verify it in SES (DNS records or the confirmation email), then leave the sandbox")
            CfnOutput(self, "EmailFrom", value=self.config.sender or "")
            CfnOutput(self, "EmailConfigurationSetName", value=self.configuration_set.configuration_set_name)


# ---- helpers ----------------------------------------------------------------------------------------

def _email_context(get: Any) -> tuple[str | None, str | None]:
    """`email_identity` (a domain or an address) and `email_from` (an address of that domain)."""
    identity = (get("email_identity") or "").strip().lower() or None
    sender = (get("email_from") or "").strip().lower() or None
    if identity is None:
        if sender:
            raise ConfigError("context 'email_from' needs 'email_identity' (the SES identity it belongs to)")
        return None, None
    local, at, domain = identity.rpartition("@")
    if not _DOMAIN_RE.match(domain) or (at and not local):
        raise ConfigError("context 'email_identity' must be a domain (e.g. -c email_identity=example.jp) "
                          f"or an email address, got {identity!r}")
    if sender is not None:
        s_local, s_at, s_domain = sender.rpartition("@")
        if not (s_at and s_local) or (at and sender != identity) or (not at and s_domain != domain):
            raise ConfigError(f"context 'email_from' must be an address of the identity {identity!r}, "
                              f"got {sender!r}")
    return identity, sender


def _api_reserved_concurrency(get: Any) -> int:
    """`api_reserved_concurrency`: a whole number 0-1000 (default API_RESERVED_CONCURRENCY)."""
    value = get("api_reserved_concurrency")
    if value is None:
        return API_RESERVED_CONCURRENCY
    try:
        number = int(str(value))
    except ValueError:
        number = -1
    if not 0 <= number <= 1000:
        raise ConfigError(f"context 'api_reserved_concurrency' must be a whole number from 0 to 1000, got {value!r}")
    return number


def _on_off(key: str, given: Any) -> bool:
    """An optional feature's context key (line, cn_sms): true or false, false when unset."""
    value = str(given or "false").strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"context {key!r} is true or false (got {value!r}); e.g. -c {key}=true")
    return value == "true"


def _deletion_protection(get: Any) -> bool:
    """`deletion_protection`: true (the default) or false, from -c (a string) or cdk.json (a boolean)."""
    value = get("deletion_protection")
    if value is None or isinstance(value, bool):
        return True if value is None else value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError("context 'deletion_protection' must be true or false (false only for the first "
                          f"deploy of a new stage: see infra/README.md), got {value!r}")
    return text == "true"


def _ops_email(get: Any) -> str | None:
    """`ops_email`: the operators' address, subscribed to the alarm topic (none: subscribe later)."""
    address = (get("ops_email") or "").strip() or None
    if address is not None and not _EMAIL_RE.match(address):
        raise ConfigError(f"context 'ops_email' must be one email address, e.g. -c ops_email=ops@example.com, "
                          f"got {address!r}")
    return address


def _auth_domain_prefix(get: Any) -> str | None:
    """`auth_domain_prefix`: the hosted UI's domain prefix (default koe-<stage>), checked as Cognito would."""
    prefix = (get("auth_domain_prefix") or "").strip().lower() or None
    if prefix is not None and (not _DOMAIN_PREFIX_RE.match(prefix)
                               or any(word in prefix for word in _DOMAIN_PREFIX_RESERVED)):
        raise ConfigError("context 'auth_domain_prefix' must be lower-case letters, digits and '-' (at most 63, "
                          f"not starting or ending with '-', without {'/'.join(_DOMAIN_PREFIX_RESERVED)}), "
                          f"got {prefix!r}")
    return prefix


def _protected_routes(app_dir: Path) -> Mapping[tuple[str, str], frozenset[str]]:
    """app.py's Edge registry, (path, METHOD) -> role names, read by importing app.py (as `chalice
    package` just did: nothing connects anywhere at import)."""
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module("app")
    if Path(str(module.__file__)).resolve().parent != app_dir.resolve():
        raise ConfigError(f"imported app.py from {module.__file__}, not from {app_dir} (context 'app_dir')")
    edge = getattr(module, "edge", None)
    if edge is None or not hasattr(edge, "protected_routes"):
        raise ConfigError(f"{module.__file__} has no `edge` (chalicelib.http.Edge): no route's roles are known")
    return {route: frozenset(str(role) for role in roles) for route, roles in edge.protected_routes().items()}


def _split_routes(routes: Mapping[tuple[str, str], frozenset[str]]
                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(CX routes, operations routes), sorted. A route open to operations and to a CX role cannot be
    both behind the Cognito authorizer and open to the API key: refused."""
    operations = Role.OPERATIONS.value
    mixed = sorted(f"{method} {path}" for (path, method), roles in routes.items()
                   if operations in roles and len(roles) > 1)
    if mixed:
        raise ConfigError(f"routes open to both operations and CX roles: {', '.join(mixed)}. In AWS a route is "
                          "either behind the CX team's Cognito authorizer or open to the API key; split it")
    return (sorted(r for r, roles in routes.items() if operations not in roles),
            sorted(r for r, roles in routes.items() if operations in roles))


def _override_key(part: str) -> str:
    """A name as one segment of a CloudFormation property-override path (CDK splits on '.')."""
    return part.replace(".", "\\.")


def _check_consumer(handler: str, declared: str | None, source: str) -> None:
    if handler != declared:
        raise ConfigError(f"app.py's {handler} reads {source}, but chalicelib/resources.py declares "
                          f"{declared or 'no'} consumer for it")


def source_dlq(source: str) -> str:
    """The dead-letter queue of what AWS could not deliver from `source` (a rule, a topic, the schedule)."""
    return source + SOURCE_DLQ_SUFFIX


def source_dead_letters() -> dict[str, str]:
    """Dead-letter queue -> its source: 'rule:<name>', 'topic:<name>' (SNS invoking a function),
    'subscription:<topic>' (SNS delivering to a subscribed queue) or 'schedule:<handler>'."""
    found = {source_dlq(rule.name): f"rule:{rule.name}" for rule in resources.RULES}
    found.update({source_dlq(name): f"topic:{name}" for name in resources.topic_consumers()})
    found.update({source_dlq(topic): f"subscription:{topic}" for topic in resources.subscriptions().values()})
    found[source_dlq(resources.SCHEDULE_CONSUMER)] = f"schedule:{resources.SCHEDULE_CONSUMER}"
    return found


def _cid(kind: str, logical: str) -> str:
    """A construct id from a logical name: ('Queue', 'follow-up-dlq') -> 'QueueFollowUpDlq'."""
    return kind + "".join(part.capitalize() for part in re.split(r"[-_]", logical))


def _arn_name(value: Any) -> str:
    """The resource name at the end of an ARN, or of Chalice's Fn::Sub ARN for a queue name."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    return str(value).rsplit(":", 1)[-1]


def _table_from_stream_arn(arn: Any) -> str:
    match = re.search(r":table/([^/]+)/stream", str(arn))
    return match.group(1) if match else str(arn)


def _match(name: str, candidates: Mapping[str, Any], what: str) -> str:
    """Which logical resource a name in app.py means: exact, deployed (koe-dev-x), or '-x' suffix."""
    hits = [c for c in candidates if name == c or name.endswith("-" + c)]
    if hits:
        return max(hits, key=len)
    if len(candidates) == 1:
        return next(iter(candidates))
    raise ConfigError(f"the {what} in app.py is {name!r}, which matches none of "
                      f"{sorted(candidates)} in chalicelib/resources.py")


def _check_packaging_python(version: tuple[int, ...]) -> None:
    """`chalice package` builds for the Python that runs it (cp3XX wheels, its Runtime): that must be
    the runtime the functions are pinned to, or compiled wheels fail to import in Lambda."""
    running = f"python{version[0]}.{version[1]}"
    if running != LAMBDA_RUNTIME.name:
        raise ConfigError(f"the Lambda package is built by the Python running the synth ({running}), "
                          f"but the functions run {LAMBDA_RUNTIME.name}: create .venv-infra with that Python")


def _locked_source(app_dir: Path) -> Path:
    """The app as `chalice package` should see it: app.py, chalicelib/ and .chalice/ (linked, so its
    deployment cache stays in the repository), with requirements.lock as its requirements.txt."""
    lock = app_dir / LOCK_FILE
    if not lock.is_file():
        raise ConfigError(f"no {lock}: the Lambda package installs the locked versions (see requirements.lock)")
    staged = Path(_scratch_dir()) / "app"
    staged.mkdir()
    for name in ("app.py", "chalicelib", ".chalice", "vendor"):
        if (app_dir / name).exists():
            (staged / name).symlink_to(app_dir / name)
    (staged / "requirements.txt").symlink_to(lock)
    return staged


_SCRATCH: tempfile.TemporaryDirectory | None = None


def _scratch_dir() -> str:
    """One temporary directory per synth for Chalice's package and the staged layer."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = tempfile.TemporaryDirectory(prefix="koe-synth-")
    return _SCRATCH.name


@contextlib.contextmanager
def _cwd(path: str) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
