"""Capacity model: what a month of 1 M, 10 M or 100 M surveys asks of koe at its busiest hour, which
limit binds first, the setting that raises it, and what a million surveys cost by channel.

Arithmetic only, on the inputs below (no network, standard library). Every input says where it comes
from: MEASURED (bench/requests_per_survey.py on the local stack, 2026-12-04), KOE (a setting in this
repository), PUBLISHED (a provider's page, as published, checked 2026-12-04; "secondary" when the figure
was read in a third party's copy of it; "unconfirmed" when no page confirmed it), ESTIMATE (reasoned,
not measured) or ASSUMPTION (a parameter of the model: change it). docs/capacity.md explains the model.

    .venv/bin/python bench/capacity.py [--peak-hour-share 0.35] [--deferred-share 0.85] [--response-rate 0.35]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

CHECKED = "2026-12-04"
SCALES = (1_000_000, 10_000_000, 100_000_000)
CHANNELS = ("sms_two_way", "sms_link", "email")
KINDS = ("unanswered", "promoter", "detractor")


@dataclass(frozen=True)
class Published:
    """A provider's figure as published: value, unit, page, and how it was confirmed."""

    value: float
    unit: str
    url: str
    status: str = "confirmed"      # confirmed | secondary (a third party's copy) | unconfirmed

    def cite(self) -> str:
        return f"{self.status}, as published, checked {CHECKED}: {self.url}"


# --- The peak model (ASSUMPTION: every field is a parameter) --------------------------------------

@dataclass(frozen=True)
class PeakModel:
    # Surveys are sent on working days only: procedures complete on them, and the send window skips
    # holidays (domain/send_window.py).
    working_days: float = 22
    # The share of a day's surveys whose customers live in the busiest time zone: 1.0 for a nation in
    # one zone (Japan); about half for the US Eastern zone.
    busiest_zone_share: float = 1.0
    # The share of a working day's surveys sent in the first hour of the send window (09:00): the night's
    # backlog (events after 20:00, nightly batch files, deferred by quiet hours) plus the hour's own.
    peak_hour_share: float = 0.35
    # Of the peak hour's surveys, the share released by the schedule (deferred overnight) rather than
    # dispatched as their events arrive.
    deferred_share: float = 0.85
    # Answered surveys (a score and a comment), and the detractors among them. Answers to the peak hour's
    # surveys are counted in the same hour (most SMS answers come within minutes: an upper bound).
    response_rate: float = 0.35
    detractor_share: float = 0.2
    # How customers are reached: two-way SMS (a US number), link SMS (a Japanese number), email.
    channel_mix: Mapping[str, float] = field(
        default_factory=lambda: {"sms_two_way": 0.5, "sms_link": 0.2, "email": 0.3})
    # The busiest procedure's share of surveys (its outcome counters share one partition key).
    busiest_procedure_share: float = 0.3
    # T-Mobile's share of US two-way SMS recipients (its 10DLC daily cap counts only its subscribers).
    tmobile_share: float = 0.3
    # Events per POST /v1/events (up to 100; 1 if an operations system posts them one by one).
    events_per_post: float = 100
    # Hours of the send window (KOE: settings.send_window "09:00-20:00").
    send_window_hours: float = 11
    # The US two-way sender: "10dlc" (one campaign, trust score 75-100), "toll_free" or "short_code".
    us_sender: str = "10dlc"

    def daily(self, monthly: float) -> float:
        return monthly / self.working_days * self.busiest_zone_share

    def weight(self, channel: str, kind: str) -> float:
        """The share of all surveys that are of this channel and end this way."""
        answered = self.response_rate
        share = {"unanswered": 1 - answered, "promoter": answered * (1 - self.detractor_share),
                 "detractor": answered * self.detractor_share}[kind]
        return self.channel_mix.get(channel, 0.0) * share


DEFAULT_MODEL = PeakModel()


def peak_surveys_per_second(monthly: float, model: PeakModel = DEFAULT_MODEL) -> float:
    """Surveys a second in the peak hour: a working day's surveys in the busiest zone times the share of
    them sent in the first hour of the send window."""
    return model.daily(monthly) * model.peak_hour_share / 3600


# --- MEASURED: requests and capacity units per survey ----------------------------------------------
# bench/requests_per_survey.py --channel C --score S (2026-12-04, this repository; a fully answered
# survey, score then comment). DynamoDB units as AWS bills them: a transactional item 2 write units
# (DynamoDB Local reports 2 per table per transaction), indexes as DynamoDB Local reports them.
# Stage lines are copied verbatim from the script's "capacity units by stage" output: place write/read.

# The send's lease (docs/reliability.md) writes `surveys/send-at` twice: the claim, the record (2026-12-05).
SEND_SMS = ("contacts 2/1, events 2/0, idempotency 2/0, outcomes 3/0, outcomes/by-month 3/0, surveys 6/0, "
            "surveys/by-customer 6/0, surveys/open-until 6/0, surveys/remind-at 6/0, surveys/send-at 4/0")
SEND_EMAIL = ("contacts 2/1, events 2/0, idempotency 2/0, outcomes 2/0, outcomes/by-month 2/0, surveys 4/0, "
              "surveys/by-customer 4/0, surveys/open-until 4/0, surveys/remind-at 4/0, surveys/send-at 4/0")
_CASE_OPENED = ("alert-deliveries 2/0, cases 6/0, cases/all-cases 6/0, cases/by-branch 6/0, cases/by-customer 6/0, "
                "cases/by-owner 6/0, cases/by-status 6/0, cases/due-at 6/0")
_COMMENT_READ = ("comment-groups 18/0, comment-insights 2/1, comment-insights/all-comments 2/0, "
                 "comment-insights/by-agent 2/0, comment-insights/by-branch 2/0")
_SURVEY_TURN = "surveys 2/1, surveys/by-customer 2/0, surveys/open-until 2/0, surveys/remind-at 2/0"
ANSWER_UNITS: Mapping[tuple[str, str], str] = {
    ("sms_two_way", "detractor"): ", ".join((
        _CASE_OPENED, "contacts 0/1, counted-answers 2/0, responses 2/0, responses/by-month 2/0, scores 18/0",
        _SURVEY_TURN,
        "alert-deliveries 2/0, cases 2/1, cases/all-cases 2/0, cases/by-branch 2/0, cases/by-customer 2/0, "
        "cases/by-owner 2/0, cases/by-status 2/0, cases/due-at 2/0", _COMMENT_READ,
        "contacts 2/1, outcomes 2/0, outcomes/by-month 2/0, responses 2/1", _SURVEY_TURN)),
    ("sms_two_way", "promoter"): ", ".join((
        "contacts 0/1, counted-answers 2/0, responses 2/0, responses/by-month 2/0, scores 18/0", _SURVEY_TURN,
        "cases 0/1", _COMMENT_READ, "contacts 2/1, outcomes 2/0, outcomes/by-month 2/0, responses 2/1",
        _SURVEY_TURN)),
    ("sms_link", "detractor"): ", ".join((
        "surveys 0/1", _CASE_OPENED, _COMMENT_READ,
        "contacts 2/0, counted-answers 2/0, outcomes 2/0, outcomes/by-month 2/0, responses 4/1, "
        "responses/by-month 2/0, scores 18/0", _SURVEY_TURN)),
    ("sms_link", "promoter"): ", ".join((
        "surveys 0/1", _COMMENT_READ,
        "contacts 2/0, counted-answers 2/0, outcomes 2/0, outcomes/by-month 2/0, responses 4/1, "
        "responses/by-month 2/0, scores 18/0", _SURVEY_TURN)),
    ("email", "detractor"): ", ".join((
        "surveys 0/1", _CASE_OPENED, _COMMENT_READ,
        "contacts 2/0, counted-answers 2/0, outcomes 4/0, outcomes/by-month 2/0, responses 4/1, "
        "responses/by-month 2/0, scores 18/0", _SURVEY_TURN)),
    ("email", "promoter"): ", ".join((
        "surveys 0/1", _COMMENT_READ,
        "contacts 2/0, counted-answers 2/0, outcomes 4/0, outcomes/by-month 2/0, responses 4/1, "
        "responses/by-month 2/0, scores 18/0", _SURVEY_TURN)),
}
# ESTIMATE (not measured: the benchmark answers every survey): an unanswered survey gets the one
# reminder (KOE: reminder_hours 24, two survey updates) and is expired by the schedule (one transaction:
# the survey, its contact's slot, the `expired` counter).
UNANSWERED_UNITS = ("surveys 4/0, surveys/by-customer 4/0, surveys/open-until 4/0, surveys/remind-at 4/0, "
                    "surveys 2/0, surveys/by-customer 2/0, surveys/open-until 2/0, surveys/remind-at 2/0, "
                    "contacts 2/0, outcomes 2/0, outcomes/by-month 2/0")


@dataclass(frozen=True)
class Requests:
    dynamodb: float = 0
    sqs: float = 0          # koe's SendMessage / SendMessageBatch
    sns: float = 0          # koe's Publish (CX alerts)
    ses: float = 0          # emails: the survey's and the alerts'
    twilio: float = 0       # Messages API requests

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.dynamodb + other.dynamodb, self.sqs + other.sqs, self.sns + other.sns,
                        self.ses + other.ses, self.twilio + other.twilio)


# MEASURED, same runs: koe's own requests by stage (Secrets Manager's first reads left out: cached).
SEND_REQUESTS = {"sms_two_way": Requests(dynamodb=9, sqs=1, twilio=1),
                 "sms_link": Requests(dynamodb=9, sqs=1, twilio=1), "email": Requests(dynamodb=6, sqs=1, ses=1)}
ANSWER_REQUESTS = {
    ("sms_two_way", "detractor"): Requests(dynamodb=23, sqs=3, sns=2, ses=2),
    ("sms_two_way", "promoter"): Requests(dynamodb=12, sqs=1),
    ("sms_link", "detractor"): Requests(dynamodb=15, sqs=2, sns=1, ses=1),
    ("sms_link", "promoter"): Requests(dynamodb=8, sqs=1),
    ("email", "detractor"): Requests(dynamodb=15, sqs=2, sns=1, ses=1),
    ("email", "promoter"): Requests(dynamodb=8, sqs=1),
}
# ESTIMATE: the reminder (2 updates + its send) and the expiry (1 transaction) of an unanswered survey.
UNANSWERED_REQUESTS = {"sms_two_way": Requests(dynamodb=3, twilio=1), "sms_link": Requests(dynamodb=3, twilio=1),
                       "email": Requests(dynamodb=3, ses=1)}

# ESTIMATE: SMS segments. English GSM-7 texts of one segment each (invitation, reminder, "why?", thanks:
# facts.md counts 3 outbound + 2 inbound for an answered two-way survey); a Japanese link SMS is UCS-2,
# 70 characters a segment: 1-2 with the link (docs/deploy.md), 2 here.
SEGMENTS = {  # (channel, kind) -> (outbound, inbound)
    ("sms_two_way", "unanswered"): (2, 0), ("sms_two_way", "promoter"): (3, 2), ("sms_two_way", "detractor"): (3, 2),
    ("sms_link", "unanswered"): (4, 0), ("sms_link", "promoter"): (2, 0), ("sms_link", "detractor"): (2, 0),
}

# DERIVED from the flow (docs/architecture.md): HTTP requests to the API per survey. The event's POST
# (one per events_per_post events), Twilio's two status callbacks per REST-sent SMS (sent, delivered; a
# TwiML reply has none), Twilio's inbound webhooks (score, comment), the web page's GET and POST.
def api_requests(channel: str, kind: str, model: PeakModel = DEFAULT_MODEL) -> dict[str, float]:
    found = {"ingest": 1 / model.events_per_post}
    sent_by_rest = 2 if kind == "unanswered" else 1          # the invitation, and the reminder
    if channel != "email":
        found["status callback"] = 2.0 * sent_by_rest
    if kind != "unanswered":
        found["sms reply" if channel == "sms_two_way" else "web page"] = 2.0
    return found


# --- ESTIMATE: Lambda work per survey, seconds per item (koe's functions: chalicelib/resources.py) ----
# SES publishes two events of every email sent through the configuration set, each an on_ses_event
# invocation: its Send (which records a send its sender could not) and its Delivery (or a bounce).
SES_EVENTS_PER_EMAIL = 2

# Items: an HTTP request, a queue record, a stream record, an SNS message, a release by the schedule.
# Durations are estimates: a DynamoDB call ~5-10 ms in AWS, a Twilio or Comprehend call ~100-300 ms, SES
# ~50-100 ms; not measured in AWS (docs/benchmarks.md measures cold starts only, 0.7-1.1 s packaged).
SECONDS_PER_ITEM = {
    "ingest": 0.005,            # per event of a POST of 100: validate, the events table, SendMessageBatch
    "status callback": 0.05, "sms reply": 0.10, "web page": 0.09,
    "dispatch sms": 0.30, "dispatch email": 0.15,     # eligibility, ~6 DynamoDB calls, the carrier or SES
    "on_response": 0.05, "on_response case": 0.10,    # per stream record; a case: ~4 calls, SQS, SNS
    "deliver_alerts": 0.15, "analyse_comments": 0.30, "on_ses_event": 0.04,
    "tick send": 0.30,          # a release or a reminder: claim, the carrier, record
    "tick expire": 0.02,
}
LAMBDA_MEMORY_GB = 0.5          # KOE: .chalice/config.json lambda_memory_size 512
# ESTIMATE: records per invocation at the peak (batch sizes are app.py's: intake 10, stream 100, alert
# and comment queues 10; alerts and comments arrive too sparsely to fill a batch).
RECORDS_PER_INVOCATION = {"dispatch": 10, "on_response": 10, "deliver_alerts": 1, "analyse_comments": 1,
                          "on_ses_event": 1, "api_handler": 1}


@dataclass(frozen=True)
class Journey:
    channel: str
    kind: str
    units: Mapping[str, tuple[float, float]]      # place -> (write, read) units
    requests: Requests
    api: Mapping[str, float]
    work: Mapping[str, float]                     # function -> busy seconds per survey
    invocations: float
    sms_out: float
    sms_in: float

    @property
    def write_units(self) -> float:
        return sum(w for w, _ in self.units.values())

    @property
    def read_units(self) -> float:
        return sum(r for _, r in self.units.values())


def parse_units(*lines: str) -> dict[str, tuple[float, float]]:
    """'surveys 2/1, cases 6/0' (repeated places add up) -> {'surveys': (2.0, 1.0), 'cases': (6.0, 0.0)}."""
    found: dict[str, tuple[float, float]] = {}
    for line in lines:
        for entry in line.split(","):
            place, _, spent = entry.strip().rpartition(" ")
            write, read = (float(n) for n in spent.split("/"))
            before = found.get(place, (0.0, 0.0))
            found[place] = (before[0] + write, before[1] + read)
    return found


def journey(channel: str, kind: str, model: PeakModel = DEFAULT_MODEL) -> Journey:
    send = SEND_EMAIL if channel == "email" else SEND_SMS
    if kind == "unanswered":
        units, requests = parse_units(send, UNANSWERED_UNITS), SEND_REQUESTS[channel] + UNANSWERED_REQUESTS[channel]
    else:
        units = parse_units(send, ANSWER_UNITS[(channel, kind)])
        requests = SEND_REQUESTS[channel] + ANSWER_REQUESTS[(channel, kind)]
    api = api_requests(channel, kind, model)
    dispatch = "dispatch email" if channel == "email" else "dispatch sms"
    stream_records = 0 if kind == "unanswered" else 2          # the score, the comment
    work = {
        "api_handler": sum(n * SECONDS_PER_ITEM[k] for k, n in api.items() if k != "ingest")
        + SECONDS_PER_ITEM["ingest"],
        "dispatch": SECONDS_PER_ITEM[dispatch],
        "on_response": stream_records * SECONDS_PER_ITEM["on_response"]
        + (SECONDS_PER_ITEM["on_response case"] if kind == "detractor" else 0),
        "deliver_alerts": requests.sns * SECONDS_PER_ITEM["deliver_alerts"],
        "analyse_comments": (0 if kind == "unanswered" else 1) * SECONDS_PER_ITEM["analyse_comments"],
        "on_ses_event": SES_EVENTS_PER_EMAIL * requests.ses * SECONDS_PER_ITEM["on_ses_event"],
        "tick": SECONDS_PER_ITEM["tick send"] + SECONDS_PER_ITEM["tick expire"] if kind == "unanswered" else 0.0,
    }
    items = {"api_handler": sum(n for k, n in api.items() if k != "ingest") + api["ingest"], "dispatch": 1.0,
             "on_response": float(stream_records), "deliver_alerts": requests.sns,
             "analyse_comments": 0.0 if kind == "unanswered" else 1.0,
             "on_ses_event": SES_EVENTS_PER_EMAIL * requests.ses}
    invocations = sum(n / RECORDS_PER_INVOCATION[f] for f, n in items.items())
    out, inbound = SEGMENTS.get((channel, kind), (0, 0))
    return Journey(channel, kind, units, requests, api, work, invocations, out, inbound)


def journeys(model: PeakModel = DEFAULT_MODEL) -> list[Journey]:
    return [journey(c, k, model) for c in CHANNELS for k in KINDS]


def per_survey(value: Callable[[Journey], float], model: PeakModel = DEFAULT_MODEL) -> float:
    """The mix's average of a per-survey figure."""
    return sum(model.weight(j.channel, j.kind) * value(j) for j in journeys(model))


# --- Peak rates ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rates:
    monthly: float
    surveys: float                       # surveys a second in the peak hour
    deferred: float                      # of them released by the schedule
    answers: float
    sms_us: float                        # outbound segments a second, US two-way
    sms_jp: float                        # outbound segments a second, Japanese link SMS
    emails: float
    api: float                           # HTTP requests a second
    ops_posts: float
    sqs_sends: float
    table_units: Mapping[str, tuple[float, float]]     # place -> (write, read) units a second
    concurrency: Mapping[str, float]     # function -> concurrent executions (rate x duration)
    daily: float                         # surveys on a working day in the busiest zone


def rates(monthly: float, model: PeakModel = DEFAULT_MODEL) -> Rates:
    peak = peak_surveys_per_second(monthly, model)
    mix = journeys(model)

    def each(value: Callable[[Journey], float]) -> float:
        return peak * sum(model.weight(j.channel, j.kind) * value(j) for j in mix)

    places = sorted({p for j in mix for p in j.units})
    units = {p: (each(lambda j, p=p: j.units.get(p, (0.0, 0.0))[0]),          # type: ignore[misc]
                 each(lambda j, p=p: j.units.get(p, (0.0, 0.0))[1])) for p in places}  # type: ignore[misc]
    functions = sorted({f for j in mix for f in j.work})
    concurrency = {f: each(lambda j, f=f: j.work.get(f, 0.0)) for f in functions}  # type: ignore[misc]
    deferred = peak * model.deferred_share
    concurrency["tick"] = 0.0            # one invocation a minute at most: see the schedule's checks
    return Rates(
        monthly=monthly, surveys=peak, deferred=deferred, answers=peak * model.response_rate,
        sms_us=each(lambda j: j.sms_out if j.channel == "sms_two_way" else 0.0),
        sms_jp=each(lambda j: j.sms_out if j.channel == "sms_link" else 0.0),
        emails=each(lambda j: j.requests.ses), api=each(lambda j: sum(j.api.values())),
        ops_posts=peak / model.events_per_post, sqs_sends=each(lambda j: j.requests.sqs),
        table_units=units, concurrency=concurrency, daily=model.daily(monthly))


# --- KOE: the settings that bound throughput ------------------------------------------------------------
TICK_BATCH = 100                # chalicelib/services/tick.py BATCH: releases, reminders, expiries a tick each
TICK_TIMEOUT_S = 30             # .chalice/config.json lambda_timeout (the tick function)
TICK_RESERVE_S = 12             # chalicelib/services/budget.py DEFAULT_RESERVE_MS: no send started after it
INTAKE_MAX_CONCURRENCY = 10     # chalicelib/resources.py QUEUES intake max_concurrency
ALERTS_MAX_CONCURRENCY = 5      # ... alert-deliveries max_concurrency
COMMENTS_MAX_CONCURRENCY = 2    # ... comment-insight max_concurrency
API_RESERVED_CONCURRENCY = 20   # infra/stack.py API_RESERVED_CONCURRENCY (context api_reserved_concurrency)
API_RATE_LIMIT = 200            # infra/stack.py API_RATE_LIMIT: requests a second, the whole stage
OPS_RATE_LIMIT = 50             # infra/stack.py OPS_RATE_LIMIT: the operations usage plan
OPS_QUOTA_PER_DAY = 200_000     # infra/stack.py OPS_QUOTA_PER_DAY
SCORE_SHARDS = 8                # chalicelib/settings.py score_shards (KOE_SCORE_SHARDS)
RESPONSE_MONTH_SHARDS = 8       # chalicelib/domain/exports.py MONTH_SHARDS (responses by-month)
# The sparse indexes' one partition key each: adapters/dynamo/models.py OPEN_SHARD "open", SEND_SHARD "due",
# REMIND_SHARD "remind"; case_items.py ALL_SHARD "case", DUE_SHARD "due"; insight_items.py ALL_SHARD "all".
SINGLE_KEY_INDEXES = {"surveys/open-until": "open", "surveys/remind-at": "remind", "cases/all-cases": "case",
                      "cases/due-at": "due", "comment-insights/all-comments": "all"}

# MEASURED (bench/hot_bucket.py, docs/benchmarks.md, 2026-11-22): the busiest score counter key at 2,000
# answers a second took 3,856 write units a second unsharded and 528 with 8 shards (stream batches of 100).
SCORE_KEY_WCU_PER_ANSWER_UNSHARDED = 3856 / 2000
SCORE_SHARD_IMBALANCE = 528 / (3856 / 8)

# --- PUBLISHED: quotas ----------------------------------------------------------------------------------
LAMBDA_ACCOUNT_CONCURRENCY = Published(1000, "concurrent executions per Region (new accounts lower)",
                                       "https://docs.aws.Amazon.com/lambda/latest/dg/limits.html")
SQS_POLLER_MAX = Published(1000, "concurrent batches per SQS event source; +300 a minute from 5",
                           "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html")
DYNAMODB_PARTITION_WCU = Published(1000, "write units a second per partition (3,000 read)",
                                   "https://www.repost.aws/knowledge-center/on-demand-table-throttling-dynamodb")
DYNAMODB_PARTITION_RCU = Published(3000, "read units a second per partition",
                                   "https://www.repost.aws/knowledge-center/on-demand-table-throttling-dynamodb")
DYNAMODB_NEW_TABLE_WCU = Published(
    4000, "write units a second a new on-demand table sustains (then 2x its previous peak per 30 min)",
    "https://docs.amazonaws.cn/en_us/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html")
DYNAMODB_TABLE_QUOTA = Published(40000, "write (and read) units a second per table, account default",
                                 "https://www.repost.aws/knowledge-center/on-demand-table-throttling-dynamodb")
API_GATEWAY_ACCOUNT_RPS = Published(10000, "requests a second per account and Region",
                                    "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html")
SES_SANDBOX_RATE = Published(1, "email a second (and 200 a day) in the sandbox",
                             "https://docs.aws.amazon.com/console/ses/sandbox")
SES_PRODUCTION_RATE = Published(
    50, "emails a second: a starter production quota as an AWS re:Post answer recalls it; AWS publishes none "
    "('varies based on your use case', https://docs.aws.amazon.com/ses/latest/dg/quotas.html)",
    "https://www.repost.aws/ja/questions/QUvTAn_qdXQo-gEk7AuvYKxw/max-number-of-sending-emails-of-ses", "unconfirmed")
TWILIO_LONG_CODE_MPS = Published(1, "segments a second per US/CA long code (pre-10DLC per-number rate)",
                                 "http://www.twilio.com/help/faq/sms/how-quickly-can-i-send-sms-messages")
TWILIO_10DLC_CAMPAIGN_MPS = Published(
    225, "segments a second per 10DLC campaign, trust score 75-100 (75 per major carrier; 12 at 1-49)",
    "https://help.justcall.io/en/articles/8601354-messaging-throughput-for-us-based-carriers (a copy of Twilio's "
    "'Message throughput (MPS) and Trust Scores for A2P 10DLC in the US')", "secondary")
TWILIO_TOLL_FREE_MPS = Published(
    3, "segments a second per toll-free number (high-throughput toll-free 25-150 on request)",
    "https://support.twilio.com/hc/en-us/articles/4411046744987-Toll-Free-SMS-and-MMS-messaging-throughput-MPS")
TWILIO_SHORT_CODE_MPS = Published(100, "SMS a second per US short code by default (raised for a fee)",
                                  "https://support.twilio.com/hc/en-us/articles/223182068-What-is-a-short-code-")
TWILIO_INTERNATIONAL_MPS = Published(
    10, "segments a second per sender outside the +1 region (Japan)",
    "https://support.twilio.com/hc/en-us/articles/4411046744987-Toll-Free-SMS-and-MMS-messaging-throughput-MPS")
TMOBILE_DAILY_CAP = Published(
    200_000, "10DLC segments a day toward T-Mobile per brand for Russell 3000 companies (2,000 otherwise)",
    "https://support.twilio.com/hc/en-us/articles/1260804800549-T-Mobile-daily-message-limits-for-long-code-"
    "messaging-with-A2P-10DLC")

# --- PUBLISHED: prices (us-east-1; USD) ----------------------------------------------------------------
PRICE_DYNAMODB_WRITE = Published(
    0.625e-6, "per write request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/ (rate table not in "
    "the page text read on 2026-12-04; the figure as "
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing quotes it)",
    "secondary")
PRICE_DYNAMODB_READ = Published(0.125e-6, "per read request unit", PRICE_DYNAMODB_WRITE.url, "secondary")
PRICE_LAMBDA_REQUEST = Published(0.20e-6, "per request",
                                 "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html")
PRICE_LAMBDA_GB_SECOND = Published(0.0000166667, "per GB-second (x86; the whitepaper rounds it to $0.00001667)",
                                   PRICE_LAMBDA_REQUEST.url)
PRICE_API_GATEWAY_REST = Published(
    3.50e-6, "per REST API call (first 333 million a month)",
    "https://docs.aws.amazon.com/pt_br/whitepapers/latest/best-practices-api-gateway-private-apis-integration/"
    "cost-optimization.html")
PRICE_SQS_REQUEST = Published(0.40e-6, "per standard-queue request (64 KB chunk)",
                              "https://cloudburn.io/blog/amazon-sqs-pricing", "secondary")
PRICE_SNS_PUBLISH = Published(0.50e-6, "per publish, standard topic (deliveries to SQS and Lambda free)",
                              "https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/",
                              "secondary")
PRICE_SES_EMAIL = Published(
    0.10e-3, "per email, a-la-carte (accounts new since 2026-07-21 start on 'Essentials': $0.16 per 1,000)",
    "https://raw.githubusercontent.com/api-evangelist/amazon-ses/refs/heads/main/plans/amazon-ses-plans-pricing.yml "
    "(read from the AWS Price List API)", "secondary")
PRICE_TWILIO_US_SEGMENT = Published(
    0.0083, "per US SMS segment, outbound or inbound, before carrier fees",
    "https://dev.to/preecha/twilio-sms-api-cost-complete-pricing-breakdown-for-2026-1k25 (Twilio's own "
    "https://www.twilio.com/en-us/sms/pricing/us could not be read)", "secondary")
PRICE_TWILIO_JP_SEGMENT: Published | None = None      # unconfirmed: no page read gave Twilio's Japan price

PUBLISHED_FIGURES: Sequence[tuple[str, Published]] = (
    ("Lambda concurrent executions", LAMBDA_ACCOUNT_CONCURRENCY), ("Lambda SQS poller", SQS_POLLER_MAX),
    ("DynamoDB per partition (write)", DYNAMODB_PARTITION_WCU),
    ("DynamoDB per partition (read)", DYNAMODB_PARTITION_RCU),
    ("DynamoDB new on-demand table", DYNAMODB_NEW_TABLE_WCU), ("DynamoDB per table", DYNAMODB_TABLE_QUOTA),
    ("API Gateway per account", API_GATEWAY_ACCOUNT_RPS), ("SES sandbox", SES_SANDBOX_RATE),
    ("SES production", SES_PRODUCTION_RATE), ("Twilio long code", TWILIO_LONG_CODE_MPS),
    ("Twilio 10DLC campaign", TWILIO_10DLC_CAMPAIGN_MPS), ("Twilio toll-free", TWILIO_TOLL_FREE_MPS),
    ("Twilio short code", TWILIO_SHORT_CODE_MPS), ("Twilio international sender", TWILIO_INTERNATIONAL_MPS),
    ("T-Mobile 10DLC daily cap", TMOBILE_DAILY_CAP),
    ("DynamoDB write unit", PRICE_DYNAMODB_WRITE), ("DynamoDB read unit", PRICE_DYNAMODB_READ),
    ("Lambda request", PRICE_LAMBDA_REQUEST), ("Lambda GB-second", PRICE_LAMBDA_GB_SECOND),
    ("API Gateway REST call", PRICE_API_GATEWAY_REST), ("SQS request", PRICE_SQS_REQUEST),
    ("SNS publish", PRICE_SNS_PUBLISH), ("SES email", PRICE_SES_EMAIL), ("Twilio US segment", PRICE_TWILIO_US_SEGMENT),
)


# --- Limits -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    name: str
    load: float                # at the scale checked
    limit: float
    unit: str
    raise_with: str
    source: str                # KOE / PUBLISHED / ESTIMATE, short
    effect: str = "throttles: retried"       # what happens above it

    @property
    def utilisation(self) -> float:
        return self.load / self.limit if self.limit else math.inf

    def binds_at(self, monthly: float) -> float:
        """The monthly volume at which this limit is reached (every load is proportional to volume)."""
        return monthly / self.utilisation if self.utilisation else math.inf


def tick_sends_per_minute() -> float:
    """Releases and reminders one tick starts: at most BATCH each, and none once less than the reserve is
    left of the 30 s timeout (ESTIMATE: ~0.3 s a send; expiry and the case schedule take their share)."""
    return min(TICK_BATCH, (TICK_TIMEOUT_S - TICK_RESERVE_S) / SECONDS_PER_ITEM["tick send"])


def hot_keys(r: Rates, model: PeakModel = DEFAULT_MODEL, score_shards: int = SCORE_SHARDS) -> list[Check]:
    """DynamoDB partition keys that take a share of all surveys' writes (write units a second)."""
    units = r.table_units
    found = [Check(f"index {place} (one key: {key!r})", units.get(place, (0.0, 0.0))[0],
                   DYNAMODB_PARTITION_WCU.value, "WCU/s", "shard the index key (code: N shard values, read each)",
                   "MEASURED units")
             for place, key in SINGLE_KEY_INDEXES.items()]
    send_at = units.get("surveys/send-at", (0.0, 0.0))[0] + r.deferred * 1.0
    found.append(Check("index surveys/send-at (one key: 'due')", send_at, DYNAMODB_PARTITION_WCU.value, "WCU/s",
                       "shard the index key (code: SEND_SHARD)",
                       "MEASURED units (the send's lease) + ESTIMATE 1 unit a deferral"))
    procedure = model.busiest_procedure_share
    found.append(Check("outcomes, busiest procedure (partition key = procedure)", units["outcomes"][0] * procedure,
                       DYNAMODB_PARTITION_WCU.value, "WCU/s", "shard a procedure's counters like the scores' (code)",
                       "MEASURED units x ASSUMPTION share"))
    found.append(Check("outcomes/by-month, the busiest procedure's month#k", units["outcomes/by-month"][0] * procedure,
                       DYNAMODB_PARTITION_WCU.value, "WCU/s", "OUTCOME_SHARDS hashes procedures, not counters (code)",
                       "MEASURED units x ASSUMPTION share"))
    score_key = r.answers * SCORE_KEY_WCU_PER_ANSWER_UNSHARDED * (SCORE_SHARD_IMBALANCE if score_shards > 1 else 1)
    found.append(Check(f"scores, busiest dimension shard ({score_shards} shards)", score_key / score_shards,
                       DYNAMODB_PARTITION_WCU.value, "WCU/s", "KOE_SCORE_SHARDS (only ever up)",
                       "MEASURED bench/hot_bucket.py"))
    found.append(Check(f"responses/by-month, one of {RESPONSE_MONTH_SHARDS} month shards",
                       units["responses/by-month"][0] / RESPONSE_MONTH_SHARDS, DYNAMODB_PARTITION_WCU.value, "WCU/s",
                       "MONTH_SHARDS (domain/exports.py)", "MEASURED units"))
    return found


def us_sender_check(r: Rates, model: PeakModel) -> Check:
    """The US two-way sender the model assumes (model.us_sender), against its published throughput."""
    sender = {"10dlc": ("Twilio US: one 10DLC campaign, trust 75-100", TWILIO_10DLC_CAMPAIGN_MPS,
                        "short codes (100 MPS each): more 10DLC numbers add no throughput"),
              "toll_free": ("Twilio US: one toll-free number", TWILIO_TOLL_FREE_MPS,
                            "high-throughput toll-free (25-150 MPS), then a short code"),
              "short_code": ("Twilio US: one short code", TWILIO_SHORT_CODE_MPS, "more short codes, or bought MPS")}
    name, published, raise_with = sender[model.us_sender]
    return Check(name, r.sms_us, published.value, "seg/s", raise_with, f"PUBLISHED ({published.status})",
                 "Twilio queues (up to 10 h of segments a sender), then fails")


def checks(r: Rates, model: PeakModel = DEFAULT_MODEL) -> list[Check]:
    """Every limit, with the load the peak puts on it."""
    tick_per_s = tick_sends_per_minute() / 60
    reminders = r.surveys * (1 - model.response_rate)      # yesterday's peak hour, reminded 24 h later
    sms_share = model.channel_mix.get("sms_two_way", 0) + model.channel_mix.get("sms_link", 0)
    per_record = sms_share * SECONDS_PER_ITEM["dispatch sms"] + model.channel_mix.get("email", 0) * SECONDS_PER_ITEM[
        "dispatch email"]
    live = r.surveys - r.deferred
    us_daily_segments = r.daily * sum(model.weight("sms_two_way", k) * SEGMENTS[("sms_two_way", k)][0] for k in KINDS)
    unanswered_daily = r.daily * (1 - model.response_rate)
    late = "queues: surveys go out late"
    found = [
        Check("schedule: deferred releases + reminders at the peak", r.deferred + reminders, tick_per_s, "sends/s",
              "fan releases and reminders out to the intake queue (code); tick.BATCH and the timeout only nudge it",
              "KOE tick.BATCH, timeout; ESTIMATE 0.3 s a send", late),
        Check("schedule: a day's releases + reminders in the send window",
              r.daily * model.peak_hour_share * model.deferred_share + unanswered_daily,
              tick_sends_per_minute() * 60 * model.send_window_hours, "sends/day", "as above", "KOE; ESTIMATE",
              "never catches up"),
        Check("schedule: a day's expiries (100 a minute, all day)", unanswered_daily * model.working_days / 30,
              TICK_BATCH * 60 * 24, "surveys/day", "tick.BATCH for expiry, or expiry off the schedule (code)", "KOE",
              "never catches up: the funnel's expired count lags"),
        Check("dispatch: live surveys (10 invocations, a record at a time)", live * per_record, INTAKE_MAX_CONCURRENCY,
              "concurrent", "QUEUES intake max_concurrency (resources.py)", "KOE; ESTIMATE durations", late),
        Check("dispatch, once releases and reminders go through it", (r.surveys + reminders) * per_record,
              INTAKE_MAX_CONCURRENCY, "concurrent", "QUEUES intake max_concurrency (resources.py)",
              "KOE; ESTIMATE durations", late),
        Check("API stage throttle (all routes)", r.api, API_RATE_LIMIT, "req/s", "API_RATE_LIMIT / API_BURST_LIMIT",
              "KOE infra/stack.py", "refuses: 429 to Twilio's callbacks and customers' pages"),
        Check("API function reserved concurrency", r.concurrency.get("api_handler", 0.0), API_RESERVED_CONCURRENCY,
              "concurrent", "context api_reserved_concurrency", "KOE; ESTIMATE durations", "refuses: throttled"),
        Check("operations usage plan, requests a day", r.daily / model.events_per_post, OPS_QUOTA_PER_DAY, "POST/day",
              "OPS_QUOTA_PER_DAY (infra/stack.py), or more events a POST", "KOE; ASSUMPTION events a POST",
              "refuses: 429 to operations systems"),
        Check("operations usage plan, rate", r.ops_posts, OPS_RATE_LIMIT, "POST/s", "OPS_RATE_LIMIT", "KOE",
              "refuses: 429"),
        Check("alert delivery (5 invocations)", r.concurrency.get("deliver_alerts", 0.0), ALERTS_MAX_CONCURRENCY,
              "concurrent", "alert-deliveries max_concurrency", "KOE; ESTIMATE durations", "queues: alerts late"),
        Check("comment analysis (2 invocations)", r.concurrency.get("analyse_comments", 0.0),
              COMMENTS_MAX_CONCURRENCY, "concurrent", "comment-insight max_concurrency (and Comprehend's quota)",
              "KOE; ESTIMATE durations", "queues: insight late"),
        Check("Lambda account concurrency", sum(r.concurrency.values()), LAMBDA_ACCOUNT_CONCURRENCY.value,
              "concurrent", "a Service Quotas increase", "PUBLISHED", "refuses: throttled"),
        us_sender_check(r, model),
        Check("Twilio Japan: one international sender", r.sms_jp, TWILIO_INTERNATIONAL_MPS.value, "seg/s",
              "more senders in the Messaging Service", "PUBLISHED", "Twilio queues, then fails"),
        Check("SES production sending rate", r.emails, SES_PRODUCTION_RATE.value, "email/s",
              "a sending-quota increase (Service Quotas)", "PUBLISHED (unconfirmed)",
              "refuses: retried from the queue"),
        Check("API Gateway account rate", r.api, API_GATEWAY_ACCOUNT_RPS.value, "req/s", "a quota increase",
              "PUBLISHED", "refuses: 429"),
    ]
    if model.us_sender == "10dlc":
        found.append(Check("T-Mobile 10DLC daily cap (Russell 3000 brand)", us_daily_segments * model.tmobile_share,
                           TMOBILE_DAILY_CAP.value, "seg/day",
                           "a short code (no 10DLC cap) or a special business review",
                           "PUBLISHED; ASSUMPTION T-Mobile share", "refuses: blocked until midnight Pacific"))
    tables = {p: u for p, u in r.table_units.items() if "/" not in p}
    busiest_table = max(tables, key=lambda p: tables[p][0])
    found.append(Check(f"DynamoDB new on-demand table ({busiest_table})", tables[busiest_table][0],
                       DYNAMODB_NEW_TABLE_WCU.value, "WCU/s", "pre-warm (warm throughput) before the first peak",
                       "PUBLISHED", "throttles until it scales"))
    found.append(Check(f"DynamoDB per-table quota ({busiest_table})", tables[busiest_table][0],
                       DYNAMODB_TABLE_QUOTA.value, "WCU/s", "a Service Quotas increase", "PUBLISHED", "throttles"))
    return found + hot_keys(r, model)


def first_binding(found: Sequence[Check]) -> Check | None:
    """The limit reached first: the highest utilisation, if any is at or over 1."""
    worst = max(found, key=lambda c: c.utilisation)
    return worst if worst.utilisation >= 1 else None


def senders_needed(load: float, per_sender: float) -> int:
    return max(1, math.ceil(load / per_sender))


# --- Cost per million surveys -----------------------------------------------------------------------------

def cost_per_million(j: Journey) -> dict[str, float]:
    """USD per million surveys that end this way. SQS: koe's sends plus a receive and a delete per
    message a consumer takes (ESTIMATE: every message sent or published is taken once); SNS: koe's
    publishes plus SES's events per email (its Send and its Delivery)."""
    m = 1_000_000
    r = j.requests
    seconds = sum(j.work.values())
    costs = {
        "DynamoDB": m * (j.write_units * PRICE_DYNAMODB_WRITE.value + j.read_units * PRICE_DYNAMODB_READ.value),
        "Lambda": m * (j.invocations * PRICE_LAMBDA_REQUEST.value
                       + seconds * LAMBDA_MEMORY_GB * PRICE_LAMBDA_GB_SECOND.value),
        "API Gateway": m * sum(j.api.values()) * PRICE_API_GATEWAY_REST.value,
        "SQS": m * (r.sqs + 2 * (r.sqs + r.sns)) * PRICE_SQS_REQUEST.value,
        "SNS": m * (r.sns + SES_EVENTS_PER_EMAIL * r.ses) * PRICE_SNS_PUBLISH.value,
        "SES": m * r.ses * PRICE_SES_EMAIL.value,
    }
    if j.channel == "sms_two_way":
        costs["Twilio"] = m * (j.sms_out + j.sms_in) * PRICE_TWILIO_US_SEGMENT.value
    elif j.channel == "sms_link" and PRICE_TWILIO_JP_SEGMENT is not None:
        costs["Twilio"] = m * j.sms_out * PRICE_TWILIO_JP_SEGMENT.value
    return costs


def blended_cost_per_million(channel: str, model: PeakModel = DEFAULT_MODEL) -> dict[str, float]:
    """A million surveys of one channel, mixed as the model answers them."""
    share = model.channel_mix.get(channel, 0.0) or 1.0
    total: dict[str, float] = {}
    for kind in KINDS:
        weight = model.weight(channel, kind) / share if model.channel_mix.get(channel) else 0.0
        for part, usd in cost_per_million(journey(channel, kind, model)).items():
            total[part] = total.get(part, 0.0) + weight * usd
    return total


# --- The report -----------------------------------------------------------------------------------------

def table(headers: Sequence[str], rows: Sequence[Sequence[str]], text: Sequence[int] = (0,)) -> str:
    """A plain-text table; the columns named in `text` (by index, -1 the last) are left-aligned."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    left = {i % len(widths) for i in text}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=False))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def n(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == int(x):
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:,.2f}"


def volume(x: float) -> str:
    return f"{x / 1e6:,.1f} M" if x >= 1e5 else f"{x / 1e3:,.0f} k"


def report(model: PeakModel = DEFAULT_MODEL) -> str:
    out: list[str] = []
    say = out.append
    say(f"koe capacity model (inputs checked {CHECKED}; arithmetic only)")
    say(f"peak: the first hour of the send window (09:00) carries {model.peak_hour_share:.0%} of a working day's "
        f"surveys; {model.working_days:g} working days a month; busiest zone {model.busiest_zone_share:.0%} of "
        f"them; {model.deferred_share:.0%} of the peak released by the schedule")
    say("mix: " + ", ".join(f"{c} {s:.0%}" for c, s in model.channel_mix.items())
        + f"; answered {model.response_rate:.0%} (detractors {model.detractor_share:.0%} of them), each with a"
        " comment; unanswered: one reminder, then expired")
    say("")
    say("per survey (MEASURED requests and units on the local stack; unanswered = ESTIMATE; segments, API, "
        "Lambda = ESTIMATE)")
    rows = [[f"{j.channel} {j.kind}", n(j.requests.dynamodb), f"{j.write_units:g}/{j.read_units:g}",
             n(j.requests.sqs), n(j.requests.sns), n(j.requests.ses), n(j.requests.twilio),
             f"{j.sms_out:g}/{j.sms_in:g}", n(sum(j.api.values())), n(j.invocations)] for j in journeys(model)]
    say(table(["journey", "DynamoDB", "W/R units", "SQS", "SNS", "SES", "Twilio", "seg out/in", "API", "Lambda"],
              rows))
    all_rates = [rates(v, model) for v in SCALES]
    say("")
    say("peak rates")
    heads = ["per second"] + [volume(v) + "/month" for v in SCALES]
    say(table(heads, [
        ["surveys sent", *(n(r.surveys) for r in all_rates)],
        ["  of them released by the schedule", *(n(r.deferred) for r in all_rates)],
        ["answers", *(n(r.answers) for r in all_rates)],
        ["SMS segments out, US two-way", *(n(r.sms_us) for r in all_rates)],
        ["SMS segments out, Japan link", *(n(r.sms_jp) for r in all_rates)],
        ["emails (surveys + alerts)", *(n(r.emails) for r in all_rates)],
        ["API requests", *(n(r.api) for r in all_rates)],
        ["SQS messages sent by koe", *(n(r.sqs_sends) for r in all_rates)],
        ["DynamoDB write units (tables + indexes)", *(n(sum(w for w, _ in r.table_units.values())) for r in all_rates)],
        ["DynamoDB read units", *(n(sum(x for _, x in r.table_units.values())) for r in all_rates)],
        ["Lambda concurrency (rate x duration)", *(n(sum(r.concurrency.values())) for r in all_rates)],
    ]))
    say("")
    say("DynamoDB write/read units a second at the peak, per table and index (MEASURED units x rates)")
    places = sorted(all_rates[0].table_units)
    say(table(["table or index"] + [volume(v) for v in SCALES],
              [[p, *(f"{n(r.table_units[p][0])}/{n(r.table_units[p][1])}" for r in all_rates)] for p in places]))
    say("")
    say("Lambda concurrency at the peak (ESTIMATE durations x rates) and its cap")
    caps = {"api_handler": f"{API_RESERVED_CONCURRENCY} reserved", "dispatch": f"{INTAKE_MAX_CONCURRENCY} (queue)",
            "deliver_alerts": f"{ALERTS_MAX_CONCURRENCY} (queue)",
            "analyse_comments": f"{COMMENTS_MAX_CONCURRENCY} (queue)", "on_response": "stream shards",
            "on_ses_event": "account", "tick": "1 a minute"}
    say(table(["function", *(volume(v) for v in SCALES), "cap"],
              [[f, *(n(r.concurrency.get(f, 0.0)) for r in all_rates), caps.get(f, "")]
               for f in sorted(all_rates[0].concurrency)], text=(0, -1)))
    say("")
    say("hot partition keys (write units a second on one key; DynamoDB allows 1,000 a partition)")
    say(table(["key", *(volume(v) for v in SCALES), "raise with"],
              [[cs[0].name, *(n(k.load) for k in cs), cs[0].raise_with]
               for cs in zip(*(hot_keys(r, model) for r in all_rates), strict=True)], text=(0, -1)))
    say("")
    say("limits: load at each scale / limit; the monthly volume at which each binds (loads are proportional to "
        "volume, so the order is the same at every scale)")
    ladder = sorted(zip(*(checks(r, model) for r in all_rates), strict=True), key=lambda cs: -cs[0].utilisation)
    say(table(["limit", "unit", "limit value", *(volume(v) for v in SCALES), "binds at", "above it"],
              [[cs[0].name, cs[0].unit, n(cs[0].limit), *(f"{c.utilisation:.0%}" for c in cs),
                volume(cs[0].binds_at(SCALES[0])) + "/mo", cs[0].effect] for cs in ladder], text=(0, 1, -1)))
    say("")
    say("what raises each (in the order they bind)")
    for cs in ladder:
        say(f"  {cs[0].name}: {cs[0].raise_with} [{cs[0].source}]")
    say("")
    for r in all_rates:
        found = checks(r, model)
        first = first_binding(found)
        over = sorted((c for c in found if c.utilisation >= 1), key=lambda c: -c.utilisation)
        provider = [c for c in over if c.source.startswith("PUBLISHED")]
        say(f"{volume(r.monthly)}/month: " + (f"binds first: {first.name} at {n(first.load)} {first.unit} "
                                              f"({first.utilisation:.0%} of {n(first.limit)}); raise with: "
                                              f"{first.raise_with}" if first else "no limit reached"))
        say(f"  {len(over)} limits over: " + "; ".join(f"{c.name} {c.utilisation:.0%}" for c in over))
        say("  first provider quota over: "
            + (f"{provider[0].name} at {n(provider[0].load)} {provider[0].unit}" if provider else "none"))
    say("")
    say("Twilio senders needed at the peak")
    say(table(["sender", *(volume(v) for v in SCALES)], [
        ["US short codes (100 MPS)", *(str(senders_needed(r.sms_us, TWILIO_SHORT_CODE_MPS.value)) for r in all_rates)],
        ["US toll-free numbers (3 MPS; one per use case)",
         *(str(senders_needed(r.sms_us, TWILIO_TOLL_FREE_MPS.value)) for r in all_rates)],
        ["Japan senders (10 MPS)", *(str(senders_needed(r.sms_jp, TWILIO_INTERNATIONAL_MPS.value)) for r in all_rates)],
    ]))
    say("")
    say("cost per million surveys, USD (AWS list prices us-east-1 + carrier; Comprehend, CloudWatch, X-Ray, KMS "
        "and Secrets Manager left out: docs/deploy.md section 11)")
    parts = ["DynamoDB", "Lambda", "API Gateway", "SQS", "SNS", "SES"]
    cost_rows = []
    for j in journeys(model):
        c = cost_per_million(j)
        aws = sum(c[p] for p in parts)
        carrier = c.get("Twilio")
        cost_rows.append([f"{j.channel} {j.kind}", *(n(c[p]) for p in parts), n(aws),
                          n(carrier) if carrier is not None else ("0" if j.channel == "email" else "unconfirmed"),
                          n(aws + (carrier or 0))])
    for channel in CHANNELS:
        c = blended_cost_per_million(channel, model)
        aws = sum(c[p] for p in parts)
        carrier = c.get("Twilio")
        cost_rows.append([f"{channel}, the mix", *(n(c[p]) for p in parts), n(aws),
                          n(carrier) if carrier is not None else ("0" if channel == "email" else "unconfirmed"),
                          n(aws + (carrier or 0))])
    say(table(["per million", *parts, "AWS", "carrier", "total"], cost_rows))
    say("")
    say("sources of published figures")
    for name, published in PUBLISHED_FIGURES:
        say(f"  {name}: {published.value:g} {published.unit}; {published.cite()}")
    say("  Twilio Japan segment price: unconfirmed (no page read gave it): the link-SMS carrier cost is left open")
    say("")
    say("reproduce: .venv/bin/python bench/capacity.py")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--peak-hour-share", type=float, default=DEFAULT_MODEL.peak_hour_share)
    parser.add_argument("--deferred-share", type=float, default=DEFAULT_MODEL.deferred_share)
    parser.add_argument("--response-rate", type=float, default=DEFAULT_MODEL.response_rate)
    parser.add_argument("--zone-share", type=float, default=DEFAULT_MODEL.busiest_zone_share)
    args = parser.parse_args(argv)
    model = replace(DEFAULT_MODEL, peak_hour_share=args.peak_hour_share, deferred_share=args.deferred_share,
                    response_rate=args.response_rate, busiest_zone_share=args.zone_share)
    print(report(model))


if __name__ == "__main__":
    main()
