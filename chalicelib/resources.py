"""The one list of koe's AWS resources: tables, queues, topics, the event bus and its rule, the
secrets (SECRETS) and the configuration document (CONFIG_DOCUMENT).

Both the CDK stack (`infra/`) and the local stack (`devstack/`) build from these definitions, and
the PynamoDB models are checked against them by a test, so the three cannot drift apart.

It is also the one statement of the wiring: which settings variable carries each queue's URL and
each topic's ARN (read by `chalicelib.settings.from_env`, set by `infra/` in AWS and by
`devstack.provision` locally), and which `app.py` handler consumes each queue, each topic, each
table stream and the schedule (wired by `infra/` in AWS and by `devstack.runner` locally). The SES
configuration set that sends koe's email, and the topic it reports to, are declared here too. A unit test
(tests/unit/test_wiring.py) checks app.py, settings, devstack and infra against it.

Plain data only: importing this module costs nothing at cold start (no boto3, no chalice).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    name: str                       # logical name; the deployed name is prefix + name
    hash_key: str
    range_key: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)   # key attribute -> S | N
    indexes: tuple[Index, ...] = ()
    stream: str | None = None       # NEW_IMAGE, NEW_AND_OLD_IMAGES, ...
    ttl_attribute: str | None = None
    # How long the items are kept and why, when a TTL does not say it all: required of a table
    # without ttl_attribute (tests/unit/test_storage_rules.py), e.g. one that must keep what it holds.
    retention: str | None = None
    stream_consumer: str | None = None  # the app.py handler the stream invokes
    # The one function that reads and writes this table: no other function's grants may name it
    # (FUNCTIONS; tests/unit/test_wiring.py).
    private_to: str | None = None
    # The one function that writes this table; every other function may only read it.
    written_by: str | None = None


@dataclass(frozen=True)
class Queue:
    name: str
    dead_letter: str | None = None
    max_receive_count: int = 5
    visibility_timeout_s: int = 60
    # The settings variable that carries the queue's URL. KOE_LOCAL_* ones are exported by the
    # local stack only (for tests and developers); koe itself never reads them.
    env: str | None = None
    consumer: str | None = None     # the app.py handler its event source mapping invokes
    # At most this many concurrent invocations of the consumer (the event source's ScalingConfig;
    # None: Lambda's default scaling).
    max_concurrency: int | None = None
    # The topic the queue is subscribed to (SNS's JSON envelope, no raw delivery), and the message
    # attributes a message must carry to be delivered to it (an SNS filter policy of "exists").
    subscribes_to: str | None = None
    subscription_requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    name: str
    env: str | None = None          # the settings variable that carries the topic's ARN
    consumer: str | None = None     # the app.py handler subscribed to it (SNS -> Lambda)


@dataclass(frozen=True)
class ConfigurationSet:
    """The SES configuration set koe sends email with: SES publishes these events of every message
    sent through it to `events_topic` (bounces and complaints opt the address out)."""

    name: str
    env: str                        # the settings variable that carries its name
    events_topic: str               # a topic of TOPICS
    events: tuple[str, ...] = ("send", "bounce", "complaint", "delivery")


@dataclass(frozen=True)
class Rule:
    name: str
    bus: str
    detail_type: str
    target_queue: str


TABLES: tuple[Table, ...] = (
    Table(
        name="surveys",
        hash_key="survey_id",
        attributes={"survey_id": "S", "open_shard": "S", "open_until": "S", "send_shard": "S", "send_at": "S",
                    "remind_shard": "S", "remind_at": "S", "customer_id": "S", "created_at": "S"},
        # Sparse: only surveys whose conversation is open carry open_shard/open_until, and only
        # scheduled surveys (waiting for the customer's send window) carry send_shard/send_at.
        # Likewise remind_shard/remind_at: sent surveys whose one reminder is still to go.
        # `by-customer` holds every survey (created_at is an ISO string in UTC, so it sorts by time):
        # a customer's earlier surveys, newest first, on the case page.
        indexes=(Index("open-until", "open_shard", "open_until"), Index("send-at", "send_shard", "send_at"),
                 Index("remind-at", "remind_shard", "remind_at"), Index("by-customer", "customer_id", "created_at")),
        ttl_attribute="expires_at",
    ),
    Table(name="contacts", hash_key="contact_key", attributes={"contact_key": "S"},
          retention=(
              "No TTL: kept while koe may message the customer. The item is keyed by an HMAC of the phone "
              "or address (never the number itself) and holds the opt-out and its audit history: an "
              "opt-out must stop every later survey of that phone or address, and be provable (US: TCPA "
              "and the FCC's revocation rule; JP APPI and CN PIPL: the customer's objection is honoured "
              "for as long as the data is used). Its survey log is bounded (domain/fatigue.py). koe has "
              "no erasure command: an operator erasing a customer deletes their surveys and answers by "
              "hand and keeps this item, the suppression record, which holds no contact details.")),
    # The first payload seen for each event_id (a fingerprint, no personal data): the intake
    # answers "conflict" when an id comes back with another payload.
    Table(name="events", hash_key="event_id", attributes={"event_id": "S"}, ttl_attribute="expires_at"),
    Table(
        name="responses",
        hash_key="survey_id",
        range_key="question",
        attributes={"survey_id": "S", "question": "S", "month_shard": "S", "received_at": "S"},
        # Sparse: only score answers carry month_shard (YYYY-MM#k, domain/exports.py), one item
        # per answered survey: the answers export reads a period without a hot partition.
        indexes=(Index("by-month", "month_shard", "received_at"),),
        stream="NEW_IMAGE",
        ttl_attribute="expires_at",
        stream_consumer="on_response",
    ),
    Table(name="inbox", hash_key="message_sid", attributes={"message_sid": "S"},
          ttl_attribute="expires_at"),
    # Follow-up cases. Lists query one index, newest first (a branch's: `by-branch` and the sparse
    # `by-queue-branch`, the other branches' cases in its queue, merged); `due-at` is sparse (cases the
    # schedule has work on); `by-customer` finds a customer's earlier cases; resolved cases expire.
    Table(name="cases", hash_key="case_id",
          attributes={"case_id": "S", "owner": "S", "branch": "S", "queue_branch": "S", "status": "S",
                      "all_shard": "S", "opened_at": "S", "due_shard": "S", "due_at": "S", "customer_id": "S"},
          indexes=(Index("by-owner", "owner", "opened_at"), Index("by-branch", "branch", "opened_at"),
                   Index("by-queue-branch", "queue_branch", "opened_at"),
                   Index("by-status", "status", "opened_at"), Index("all-cases", "all_shard", "opened_at"),
                   Index("due-at", "due_shard", "due_at"), Index("by-customer", "customer_id", "opened_at")),
          ttl_attribute="expires_at",
          retention=("expires_at is set at resolution (KOE_CASE_RETENTION_DAYS after it, default 400) and "
                     "cleared on reopening: an open case is work in progress and is kept until resolved.")),
    # Outcome counters per procedure and day (sent, scheduled, suppressed:<reason>, failed:<reason>,
    # answered, expired ...), written in the same transaction as the survey's status change. Each
    # counter names its UTC month and a shard of its procedure (month_shard = YYYY-MM#k): every
    # procedure's counters of a period are read by `by-month`, a Query per month and shard.
    # No personal data; kept KOE_COUNTER_RETENTION_DAYS (400) after their day, for year-on-year.
    Table(name="outcomes", hash_key="procedure", range_key="bucket",
          attributes={"procedure": "S", "bucket": "S", "month_shard": "S"},
          indexes=(Index("by-month", "month_shard", "bucket"),), ttl_attribute="expires_at"),
    # Score counters per dimension value and day: no customer data (branch and agent ids are
    # employees'); kept KOE_COUNTER_RETENTION_DAYS (400) after their day, for year-on-year.
    Table(
        name="scores",
        hash_key="dimension",
        range_key="bucket",
        attributes={"dimension": "S", "bucket": "S"},
        ttl_attribute="expires_at",
    ),
    # Which destinations of each CX alert were delivered (or given up): a replay is delivered once.
    Table(name="alert-deliveries", hash_key="delivery_id", attributes={"delivery_id": "S"},
          ttl_attribute="expires_at", private_to="deliver_alerts"),
    # The answers already counted in `scores` (survey_id#question): a re-delivered or bisected
    # stream batch adds nothing twice. Kept longer than a stream record and its DLQ can live.
    Table(name="counted-answers", hash_key="answer_id", attributes={"answer_id": "S"}, ttl_attribute="expires_at"),
    # What the comments say (sentiment, score, key phrases; services/comment_insight.py), one item
    # per survey, its comments read together: the newest comments per branch, per agent, or all. Kept as
    # long as the answer it was read from (TTL).
    Table(name="comment-insights", hash_key="survey_id",
          attributes={"survey_id": "S", "branch": "S", "agent_id": "S", "all_shard": "S", "received_at": "S"},
          indexes=(Index("by-branch", "branch", "received_at"), Index("by-agent", "agent_id", "received_at"),
                   Index("all-comments", "all_shard", "received_at")),
          ttl_attribute="expires_at", written_by="analyse_comments"),
    # Sentiment counts and top phrases per group (procedure, branch, agent, channel, locale; and
    # within a branch) and day: bucket = YYYY-MM-DD#value (YYYY-MM-DD#: without one, e.g. no agent).
    # Phrases are comment text: retained (TTL).
    Table(name="comment-groups", hash_key="dimension", range_key="bucket",
          attributes={"dimension": "S", "bucket": "S"}, ttl_attribute="expires_at", written_by="analyse_comments"),
    # Powertools idempotency: its default key attribute is "id"; expiration is its TTL.
    Table(name="idempotency", hash_key="id", attributes={"id": "S"}, ttl_attribute="expiration"),
)

QUEUES: tuple[Queue, ...] = (
    # 6x the dispatch function's 30 s timeout, as AWS recommends for SQS event sources.
    # At most 10 dispatch invocations at once (batches of 10): enough for a morning's events, and a
    # bound on the carrier calls and the contacts table's writes a flood of events can cause.
    # koe dead-letters a failing event itself, with its reason, at its 4th delivery (KOE_MAX_RECEIVES),
    # or, while another invocation holds the event's claim, at the queue's 10th: the redrive is the
    # backstop for deliveries spent by invocations that died before they could answer.
    Queue("intake", dead_letter="intake-dlq", max_receive_count=10, visibility_timeout_s=180,
          env="KOE_INTAKE_QUEUE_URL", consumer="dispatch", max_concurrency=10),
    Queue("intake-dlq", env="KOE_INTAKE_DLQ_URL"),
    Queue("follow-up", dead_letter="follow-up-dlq", max_receive_count=10,
          env="KOE_FOLLOW_UP_QUEUE_URL"),
    Queue("follow-up-dlq", env="KOE_LOCAL_FOLLOW_UP_DLQ_URL"),
    # On-failure destination of the responses stream: batches that still fail after the retries.
    Queue("responses-stream-dlq"),
    # CX alerts to people (email, chat): subscribed to cx-alerts, case alerts only (messages carrying an
    # `event` attribute; alarms go to the operators' own topic, infra/stack.py). A failed record comes
    # back after an exponential backoff (the handler sets its visibility); the 5th failure dead-letters
    # it with its reason.
    Queue("alert-deliveries", dead_letter="alert-deliveries-dlq", max_receive_count=5, visibility_timeout_s=180,
          env="KOE_ALERT_DELIVERIES_QUEUE_URL", consumer="deliver_alerts", subscribes_to="cx-alerts",
          subscription_requires=("event",), max_concurrency=5),
    Queue("alert-deliveries-dlq", env="KOE_ALERT_DELIVERIES_DLQ_URL"),
    # Comments to read for sentiment and key phrases (survey id + version, no text), put by
    # on_response; a record that keeps failing dead-letters with its reason. Two invocations at most:
    # they merge phrases into the same group counters (optimistic locking), and Comprehend's
    # real-time APIs have a per-account rate.
    Queue("comment-insight", dead_letter="comment-insight-dlq", max_receive_count=5, visibility_timeout_s=180,
          env="KOE_COMMENT_INSIGHT_QUEUE_URL", consumer="analyse_comments", max_concurrency=2),
    Queue("comment-insight-dlq", env="KOE_COMMENT_INSIGHT_DLQ_URL"),
)

TOPICS: tuple[Topic, ...] = (
    Topic("cx-alerts", env="KOE_CX_TOPIC_ARN"),
    # SES's bounce, complaint and delivery events (the configuration set's event destination). koe
    # only consumes it; the local stack exports its ARN to simulate a bounce or a complaint.
    Topic("ses-events", env="KOE_LOCAL_SES_EVENTS_TOPIC_ARN", consumer="on_ses_event"),
)

# koe's email goes out through this configuration set (KOE_SES_CONFIGURATION_SET).
EMAIL = ConfigurationSet("email", env="KOE_SES_CONFIGURATION_SET", events_topic="ses-events")

EVENT_BUS = "events"
RULES: tuple[Rule, ...] = (
    Rule(name="procedure-completed", bus=EVENT_BUS, detail_type="ProcedureCompleted",
         target_queue="intake"),
)


# The app.py handler an EventBridge rate(1 minute) schedule invokes.
SCHEDULE_CONSUMER = "tick"

# Settings variables with this prefix are exported by the local stack only, never by infra/; koe
# reads none of them but LOCAL_TOKEN_SECRET_ENV.
LOCAL_ENV_PREFIX = "KOE_LOCAL_"
# The one KOE_LOCAL_* variable koe reads: the local stack's switch for its own HS256 bearer tokens
# (auth.LocalTokens). Local only by name: infra/ refuses it and the synth test checks it is absent.
LOCAL_TOKEN_SECRET_ENV = "KOE_LOCAL_TOKEN_SECRET"

@dataclass(frozen=True)
class Secret:
    """A JSON secret in Secrets Manager, read at run time (chalicelib/credentials.py, cached for
    KOE_SECRETS_MAX_AGE_SECONDS), never put into a function's environment. Deployed as
    `<prefix><name>` (e.g. koe-prod-twilio); `env` carries its name or ARN to the functions whose
    handlers read it (`used_by`), and only those are granted secretsmanager:GetSecretValue on it."""

    name: str
    env: str
    fields: tuple[str, ...]                # the JSON object's keys (optional ones marked in `example`)
    example: str                           # its shape, with fictional values (error messages show it)
    purpose: str                           # "... is required to <purpose>"
    used_by: tuple[str, ...]               # the app.py handlers whose use cases read it
    # A secret of a feature a stage may go without (LINE): the functions are told its name only where
    # the stage turns the feature on (infra: context `line=true`; the local stack: always, against its
    # stand-in devstack/line.py), and koe leaves the feature off where no name is given. The grants
    # stay: a grant on a secret that does not exist reads nothing.
    optional: bool = False


TWILIO_SECRET = Secret(
    "twilio", env="KOE_TWILIO_SECRET_ID", fields=("account_sid", "auth_token", "from", "previous_auth_token"),
    example='{"account_sid": "AC...", "auth_token": "...", "from": "+15550100999", "previous_auth_token": "..." '
            '(only during a token rotation)}',
    purpose="send SMS and check Twilio's webhook signatures",
    # Sends (dispatch; the schedule's scheduled surveys, reminders and closing messages; a failed
    # delivery's retry on another channel) and checks webhook signatures (sms_inbound, sms_status).
    used_by=("dispatch", "sms_inbound", "sms_status", "tick"))
API_KEYS_SECRET = Secret(
    "api-keys", env="KOE_API_KEYS_SECRET_ID", fields=("keys",),
    example='{"keys": ["<new key>", "<old key, until every caller has the new one>"]}',
    purpose="authenticate operations systems (x-api-key)",
    # Read only when a request presents x-api-key: the operations routes (ingest_http, get_outcomes).
    used_by=("ingest_http", "get_outcomes"))
CONTACT_KEYS_SECRET = Secret(
    "contact-keys", env="KOE_CONTACT_KEYS_SECRET_ID", fields=("current", "keys"),
    example='{"current": "2027-01", "keys": {"2027-01": "<64 hex>", "2026-06": "<64 hex>"}}',
    purpose="key contacts (opt-outs, fatigue) and sign survey and unsubscribe links",
    used_by=("dispatch", "sms_inbound", "sms_status", "web_survey_page", "web_survey_answer", "unsubscribe_page",
             "unsubscribe", "on_ses_event", "tick"))
LINE_SECRET = Secret(
    "line", env="KOE_LINE_SECRET_ID", fields=("channel_access_token", "channel_secret"),
    example='{"channel_access_token": "<the Messaging API channel access token>", '
            '"channel_secret": "<the channel secret, 32 hex>"}',
    purpose="send LINE messages and check LINE's webhook signatures",
    # Pushes (dispatch; the schedule's scheduled surveys, reminders and closing messages) and the
    # webhook (line_webhook: its signature, and the reply or push that answers the customer).
    used_by=("dispatch", "line_webhook", "tick"), optional=True)
ALIBABA_SMS_SECRET = Secret(
    "alibaba-sms", env="KOE_ALIBABA_SMS_SECRET_ID", fields=("access_key_id", "access_key_secret", "receipt_token"),
    example='{"access_key_id": "<a RAM user\'s AccessKey ID, LTAI...>", "access_key_secret": "<its secret>", '
            '"receipt_token": "<at least 32 random characters: the last part of the receipt URLs>"}',
    purpose="send China SMS through Alibaba Cloud SMS and accept its receipts",
    # Sends (dispatch; the schedule's scheduled surveys, reminders and closing messages) and the receipt
    # routes (Alibaba's HTTP push carries no signature: the token in the URL given in its console is the proof).
    used_by=("dispatch", "alibaba_sms_reports", "alibaba_sms_replies", "tick"), optional=True)
WECHAT_SECRET = Secret(
    "wechat", env="KOE_WECHAT_SECRET_ID", fields=("appid", "appsecret", "token"),
    example='{"appid": "<the service account\'s AppID, wx...>", "appsecret": "<its AppSecret>", '
            '"token": "<the Token set for its server URL: 3 to 32 letters and digits>"}',
    purpose="send WeChat template messages and check the service account's event pushes",
    # Sends (dispatch; the schedule's scheduled surveys, reminders and closing messages) and the event
    # push route (wechat_events: its signature over the Token; unsubscribe and reports opt out).
    used_by=("dispatch", "wechat_events", "tick"), optional=True)
SECRETS: tuple[Secret, ...] = (TWILIO_SECRET, API_KEYS_SECRET, CONTACT_KEYS_SECRET, LINE_SECRET, ALIBABA_SMS_SECRET,
                               WECHAT_SECRET)
SECRETS_MAX_AGE_ENV = "KOE_SECRETS_MAX_AGE_SECONDS"      # default 300: a rotation is read within 5 minutes


@dataclass(frozen=True)
class ConfigDocument:
    """The configuration that can outgrow Lambda's 4 KB of environment variables (a real
    organisation's routing table, case rules, survey definitions): one JSON object in a versioned S3
    bucket, `{"<settings variable>": <its JSON value>, ...}`, read at run time by every function
    (chalicelib/config_document.py), cached for KOE_CONFIG_MAX_AGE_SECONDS; a new object version is
    picked up without a redeploy. Locally the bucket is `<prefix><bucket>`; in AWS the stack's bucket has
    a generated name (bucket names are global; output ConfigBucketName), versioning on, encrypted,
    public access blocked, TLS only; object `key`; every function gets s3:GetObject on that one object."""

    bucket: str
    key: str
    bucket_env: str                        # the settings variable carrying the bucket's name
    key_env: str                           # ... and the object's key
    fields: tuple[str, ...]                # the settings variables it may carry (no other key is accepted)


CONFIG_DOCUMENT = ConfigDocument(
    bucket="config", key="koe-config.json", bucket_env="KOE_CONFIG_BUCKET", key_env="KOE_CONFIG_KEY",
    fields=("KOE_CASE_ROUTING", "KOE_CASE_RULES", "KOE_SURVEY_DEFINITIONS", "KOE_CASE_SLA", "KOE_CASE_CODES",
            "KOE_BUSINESS_CALENDARS", "KOE_ALERT_SUBSCRIBERS", "KOE_CHANNEL_POLICY", "KOE_SEND_WINDOW_BY_COUNTRY",
            "KOE_SAMPLING_BY_PROCEDURE", "KOE_COOLDOWN_DAYS_BY_PROCEDURE", "KOE_ESCALATION_THRESHOLD_BY_PROCEDURE",
            "KOE_RESPONSE_WINDOW_DAYS_BY_PROCEDURE", "KOE_CLOSING_MESSAGE_BY_PROCEDURE",
            "KOE_RESURVEY_DAYS_BY_PROCEDURE"))
CONFIG_MAX_AGE_ENV = "KOE_CONFIG_MAX_AGE_SECONDS"        # default 300

# The resource prefix when KOE_RESOURCE_PREFIX is unset, and the one app.py's decorators name
# resources with at import (infra/ replaces those names with the stage's real ARNs).
DEFAULT_PREFIX = "koe-dev-"


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)


def queue(name: str) -> Queue:
    return next(q for q in QUEUES if q.name == name)


def physical(prefix: str, name: str) -> str:
    """The deployed name of a logical resource, e.g. koe-dev-surveys."""
    return f"{prefix}{name}"


def is_local(var: str) -> bool:
    """Whether a settings variable is exported by the local stack only (KOE_LOCAL_*)."""
    return var.startswith(LOCAL_ENV_PREFIX)


def queue_env(*, local: bool = True) -> dict[str, str]:
    """Settings variable -> logical queue, for every queue whose URL is exported;
    `local=False` leaves out the KOE_LOCAL_* ones (what AWS functions get)."""
    return {q.env: q.name for q in QUEUES if q.env and (local or not is_local(q.env))}


def topic_env(*, local: bool = True) -> dict[str, str]:
    """Settings variable -> logical topic, for every topic whose ARN is exported;
    `local=False` leaves out the KOE_LOCAL_* ones (what AWS functions get)."""
    return {t.env: t.name for t in TOPICS if t.env and (local or not is_local(t.env))}


def topic(name: str) -> Topic:
    return next(t for t in TOPICS if t.name == name)


def subscriptions() -> dict[str, str]:
    """Logical queue -> the topic it is subscribed to."""
    return {q.name: q.subscribes_to for q in QUEUES if q.subscribes_to}


def filter_policy(queue: Queue) -> dict[str, list[dict[str, bool]]]:
    """The SNS filter policy of a queue's subscription (empty: every message)."""
    return {attribute: [{"exists": True}] for attribute in queue.subscription_requires}


def topic_consumers() -> dict[str, str]:
    """Logical topic -> the app.py handler subscribed to it."""
    return {t.name: t.consumer for t in TOPICS if t.consumer}


def queue_consumers() -> dict[str, str]:
    """Logical queue -> the app.py handler its event source mapping invokes."""
    return {q.name: q.consumer for q in QUEUES if q.consumer}


def stream_consumers() -> dict[str, str]:
    """Logical table -> the app.py handler its stream invokes."""
    return {t.name: t.stream_consumer for t in TABLES if t.stream_consumer}


def consumers() -> dict[str, str]:
    """Every app.py handler an event source invokes -> its source: 'queue:<name>',
    'topic:<name>', 'stream:<table>' or 'schedule'."""
    found = {handler: f"queue:{name}" for name, handler in queue_consumers().items()}
    found.update({handler: f"topic:{name}" for name, handler in topic_consumers().items()})
    found.update({handler: f"stream:{name}" for name, handler in stream_consumers().items()})
    found[SCHEDULE_CONSUMER] = "schedule"
    return found


def consumed_by(handler: str) -> Queue:
    """The queue whose event source mapping invokes `handler`."""
    for q in QUEUES:
        if q.consumer == handler:
            return q
    raise KeyError(f"no queue in resources.QUEUES names {handler!r} as its consumer")


def topic_consumed_by(handler: str) -> Topic:
    """The topic whose subscription invokes `handler`."""
    for t in TOPICS:
        if t.consumer == handler:
            return t
    raise KeyError(f"no topic in resources.TOPICS names {handler!r} as its consumer")


# A failing stream batch (on_response) is retried this many times, from the first record not done
# (on_response checkpoints), then bisected, then its metadata goes to "<table>-stream-dlq"; records
# older than STREAM_MAX_RECORD_AGE_S are not retried. infra/ sets both on the event source mapping
# and the local stream source applies the same: an answer's case, follow-up and alert are retried as
# long as AWS would retry them, no less.
STREAM_MAX_RETRIES = 10
STREAM_MAX_RECORD_AGE_S = 6 * 3600

# Chalice needs a stream ARN when app.py is imported; infra/ replaces it with the responses
# table's real stream ARN, and the local runner feeds the stream itself.
RESPONSES_STREAM_PLACEHOLDER = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/"
    f"{physical(DEFAULT_PREFIX, 'responses')}/stream/1970-01-01T00:00:00.000"
)


# --- What each Lambda function may do: its IAM role in AWS (infra/stack.py), enforced locally too
# (devstack/iam.py refuses any other AWS call a function makes, as AWS would).

@dataclass(frozen=True)
class Grant:
    """Actions on one resource: `table/<t>`, `table/<t>/index/<i>`, `queue/<q>`, `topic/<t>`,
    `secret/<s>`, `email` (koe's SES identity and configuration set, from its own address only) or
    `*` (APIs that have no resource to scope them to)."""

    resource: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Function:
    """One Lambda function: the app.py handler it runs and every grant of its role. Reading its
    event source (its queue, its stream) and writing its logs are granted by infra from the source's
    declaration; everything the function's own code calls is here."""

    handler: str
    grants: tuple[Grant, ...] = ()

    def allows(self, action: str, resource: str) -> bool:
        return any(action in g.actions and g.resource == resource for g in self.grants)


# How long an event stays claimed by an invocation that died or still runs (Powertools' in-progress
# record expires with the invocation: the dispatch function's timeout, .chalice/config.json's
# lambda_timeout, 30 s), and 1 s more: when a record meeting that claim comes back.
EVENT_CLAIM_S = 31

# The Chalice function that serves every HTTP route (app.py's routes), as chalice names it.
API_HANDLER = "api_handler"
# app.py's handlers that are functions of their own (an event source invokes each).
EVENT_HANDLERS = ("dispatch", "on_ses_event", "on_response", "deliver_alerts", "analyse_comments", "tick")
# Every handler a Secret may name: the event handlers and app.py's routes (tests/unit/test_wiring.py
# checks this list against app.py).
APP_HANDLERS = (*EVENT_HANDLERS, "ingest_http", "sms_inbound", "line_webhook", "wechat_events", "alibaba_sms_reports",
                "alibaba_sms_replies", "web_survey_page", "web_survey_answer",
                "unsubscribe_page", "unsubscribe", "sms_status", "get_scores", "get_outcomes", "list_cases",
                "get_case", "work_case", "get_case_codes", "get_case_stats", "list_comments", "export_responses",
                "dashboard", "dashboard_responses_csv", "dashboard_local_sign_in", "dashboard_sign_out",
                "dashboard_asset", "case_inbox", "case_page", "case_form")



def items(table: str, *actions: str) -> Grant:
    """DynamoDB `actions` (GetItem, PutItem, ...) on a table's items. A transaction is authorised
    item by item: TransactWriteItems needs PutItem / UpdateItem / ConditionCheckItem on each table."""
    return Grant(f"table/{table}", tuple(f"dynamodb:{a}" for a in actions))


def queries(table: str, *indexes: str) -> tuple[Grant, ...]:
    """Query on each named index of a table (an index reads every item of its table: each is named)."""
    return tuple(Grant(f"table/{table}/index/{index}", ("dynamodb:Query",)) for index in indexes)


def sends_to(*queues: str) -> tuple[Grant, ...]:
    return tuple(Grant(f"queue/{q}", ("sqs:SendMessage",)) for q in queues)


def publishes_to(*topics: str) -> tuple[Grant, ...]:
    return tuple(Grant(f"topic/{t}", ("sns:Publish",)) for t in topics)


SENDS_EMAIL = Grant("email", ("ses:SendEmail",))
# Every function reads the configuration document (CONFIG_DOCUMENT): its one object, no other.
READS_CONFIG = Grant("config", ("s3:GetObject",))


def reads_secrets(function: str) -> tuple[Grant, ...]:
    """GetSecretValue on each secret a handler of `function` reads (Secret.used_by names app.py's
    handlers: a route's is the API's function)."""
    handlers = {h for h in APP_HANDLERS if _function_of(h) == function}
    return tuple(Grant(f"secret/{s.name}", ("secretsmanager:GetSecretValue",))
                 for s in SECRETS if handlers & set(s.used_by))


def _function_of(handler: str) -> str:
    return handler if handler in EVENT_HANDLERS else API_HANDLER
# Writing a survey's change: the survey, its answers (and comment), its contact's slot and opt-outs, and
# its outcome counters, in one transaction (adapters/dynamo/surveys.py).
_SURVEY_CHANGES = (items("surveys", "GetItem", "UpdateItem", "ConditionCheckItem"),
                   items("contacts", "GetItem", "UpdateItem"), items("responses", "PutItem", "UpdateItem"),
                   items("outcomes", "UpdateItem"))
# Opening a case for a detractor (services/on_answers.py): the case, the customer's earlier cases, its
# follow-up message for the CRM and its alert.
_OPENS_CASES = (items("cases", "GetItem", "PutItem", "UpdateItem"), *queries("cases", "by-customer"),
                *sends_to("follow-up"), *publishes_to("cx-alerts"))

FUNCTIONS: tuple[Function, ...] = (
    # Every HTTP route: intake, the customers' replies, pages and carrier callbacks, the CX API and
    # dashboard (reports, cases, comments, the answers export).
    Function(API_HANDLER, grants=(READS_CONFIG, *reads_secrets(API_HANDLER),
        items("events", "UpdateItem"), *sends_to("intake"),
        *_SURVEY_CHANGES, items("inbox", "PutItem"),
        items("scores", "Query"), items("outcomes", "Query"), *queries("outcomes", "by-month"),
        *queries("surveys", "send-at"),
        # A case's page lists the customer's earlier surveys (ConversationStore.surveys_of).
        *queries("surveys", "by-customer"),
        items("cases", "GetItem", "UpdateItem"),
        *queries("cases", "by-owner", "by-branch", "by-queue-branch", "by-status", "all-cases", "by-customer"),
        *publishes_to("cx-alerts"),
        items("comment-groups", "Query", "BatchGetItem"),
        *queries("comment-insights", "by-branch", "by-agent", "all-comments"),
        items("responses", "PutItem", "UpdateItem", "BatchGetItem"), *queries("responses", "by-month"),
        # A failed SMS delivery (the carrier's report) is sent again by email where the customer has an
        # address (services/record_status.py).
        SENDS_EMAIL,
    )),
    # Surveys each event (once: Powertools idempotency), or dead-letters it with its reason.
    Function("dispatch", grants=(READS_CONFIG, *reads_secrets("dispatch"),
        items("surveys", "GetItem", "PutItem", "UpdateItem"), items("contacts", "GetItem", "UpdateItem"),
        items("outcomes", "UpdateItem"), items("idempotency", "GetItem", "PutItem", "UpdateItem", "DeleteItem"),
        *sends_to("intake-dlq"), SENDS_EMAIL,
        # An event in progress elsewhere comes back once that claim can have expired; a record
        # dead-lettered leaves the queue at once, before its batch ends (services/batch.py).
        Grant("queue/intake", ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage")),
    )),
    # A hard bounce or a complaint opts the address out of email; SES's Send or Delivery of an
    # invitation records its send when the sender could not (services/email_feedback.py).
    Function("on_ses_event", grants=(READS_CONFIG, *reads_secrets("on_ses_event"),
                                     items("contacts", "GetItem", "UpdateItem"),
                                     items("surveys", "GetItem", "UpdateItem"), items("outcomes", "UpdateItem"))),
    # Counts each answer once into the scores, opens cases, asks for the comments to be read.
    Function("on_response", grants=(READS_CONFIG, *reads_secrets("on_response"),
        items("counted-answers", "PutItem"), items("scores", "UpdateItem"), *_OPENS_CASES,
        *sends_to("comment-insight"),
    )),
    # Each alert to each destination once (its private ledger), backing off by the message's visibility.
    Function("deliver_alerts", grants=(READS_CONFIG, *reads_secrets("deliver_alerts"),
        items("alert-deliveries", "BatchGetItem", "PutItem", "UpdateItem"),
        Grant("queue/alert-deliveries", ("sqs:ChangeMessageVisibility",)), *sends_to("alert-deliveries-dlq"),
        SENDS_EMAIL,
    )),
    # Reads a comment, asks Comprehend (no resource to scope it to), stores what it says; the
    # sentiment rule may open a case as on_response does.
    Function("analyse_comments", grants=(READS_CONFIG, *reads_secrets("analyse_comments"),
        items("responses", "GetItem"), items("comment-insights", "GetItem", "PutItem"),
        items("comment-groups", "BatchGetItem", "PutItem"), *_OPENS_CASES, *sends_to("comment-insight-dlq"),
        Grant("*", ("comprehend:DetectSentiment", "comprehend:DetectKeyPhrases")),
    )),
    # Every minute: scheduled surveys and reminders out, ended conversations closed, the cases' ladders
    # climbed, closing messages sent, customers asked again (a new event on the intake queue).
    Function("tick", grants=(READS_CONFIG, *reads_secrets("tick"),
        items("surveys", "GetItem", "UpdateItem"), items("contacts", "GetItem", "UpdateItem"),
        items("outcomes", "UpdateItem"),
        *queries("surveys", "open-until", "send-at", "remind-at"),
        items("cases", "GetItem", "UpdateItem"), *queries("cases", "due-at"),
        *sends_to("intake"), *publishes_to("cx-alerts"), SENDS_EMAIL,
    )),
)


def function(handler: str) -> Function:
    for f in FUNCTIONS:
        if f.handler == handler:
            return f
    raise KeyError(f"no function in resources.FUNCTIONS runs {handler!r}")
