"""Create koe's resources locally from `chalicelib.resources`, the definitions the CDK stack uses.

Tables go to DynamoDB Local; queues, topics, the event bus and its rule, and SES (the sender's
identity, which moto requires before it sends; the configuration set and its event destination) go
to moto. Idempotent: run it again against the same endpoints and prefix and it changes nothing. Returns
the environment koe reads (`chalicelib.settings.from_env`) plus a few KOE_LOCAL_* addresses only the
tests and developers use.

moto delivers nothing to a Lambda: each topic an `app.py` handler consumes gets a local queue
subscribed to it (SNS's JSON envelope, as SNS delivers to SQS), which `devstack.runner` turns into
SNS invocations of the handler. A queue that resources.py subscribes to a topic (`subscribes_to`:
the alert deliveries queue) is subscribed as in AWS, with its filter policy, and the runner polls it
like any consumed queue. moto's SES does not publish bounces or complaints either: the
carrier simulates them (`devstack/carrier.py`, POST /emails/feedback).

The secrets (resources.SECRETS) go to moto's Secrets Manager and the configuration document
(resources.CONFIG_DOCUMENT, `{}`: the environment's values stand) to a versioned bucket in moto's
S3: koe reads both exactly as it does in AWS, through the ids and the bucket the environment names.
Each is created with working values only when absent (a restart keeps them); the stack writes its
own values with `put_secret` (its API key, the contact key kept with its data, the carrier's token).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, Literal

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.resources import Queue, Rule, Table
from devstack.dynamodb_local import FAKE_CREDENTIALS

log = logging.getLogger(__name__)

# Settings variable -> logical queue / topic, as chalicelib.resources declares them (queues'
# KOE_LOCAL_* variables included: the local stack exports those for tests and developers).
QUEUE_ENV = resources.queue_env()
TOPIC_ENV = resources.topic_env()
CX_TOPIC = "cx-alerts"
# Local only: a queue subscribed to the CX topic so tests and developers can read the alerts.
ALERTS_INSPECT_QUEUE = "cx-alerts-inspect"
# The local sender of koe's email (fictional; an identity moto holds is one it sends from).
EMAIL_DOMAIN = "example.jp"
EMAIL_FROM = f"survey@{EMAIL_DOMAIN}"


# The services the local stack talks to; a Literal, so boto3-stubs' per-service overloads match.
Service = Literal["sqs", "sns", "dynamodb", "dynamodbstreams", "events", "ses", "sesv2", "secretsmanager", "s3"]


POOL = 10      # botocore's default: connections a client keeps open to its endpoint


def client(service: Service, endpoint: str, region: str, *, pool: int = POOL) -> Any:
    """A boto3 client bound to a local endpoint with fake credentials: it can never reach AWS.
    `pool`: connections it keeps; at least the threads that call it at once (urllib3 otherwise
    opens and discards one per extra caller, and logs "Connection pool is full" each time)."""
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        config=BotoConfig(retries={"max_attempts": 2}, max_pool_connections=pool),
                        **FAKE_CREDENTIALS)


def provision(dynamodb_endpoint: str, aws_endpoint: str, region: str, prefix: str,
              stand_ins: bool = False) -> dict[str, str]:
    """Every resource koe uses, unless it exists; returns the settings naming them. With `stand_ins`,
    also the optional channels' secrets (LINE's, Alibaba SMS's: the local stack, which runs their
    stand-ins): without them koe leaves those channels off."""
    dynamodb = client("dynamodb", dynamodb_endpoint, region)
    for table in resources.TABLES:
        create_table(dynamodb, table, resources.physical(prefix, table.name))
    queue_urls = create_queues(client("sqs", aws_endpoint, region), prefix)
    topic_arns = {topic.name: create_topic(client("sns", aws_endpoint, region),
                                           resources.physical(prefix, topic.name))
                  for topic in resources.TOPICS}
    events = client("events", aws_endpoint, region)
    bus = create_event_bus(events, resources.physical(prefix, resources.EVENT_BUS))
    sqs = client("sqs", aws_endpoint, region)
    for rule in resources.RULES:
        create_rule(events, sqs, rule, prefix, queue_urls[rule.target_queue])
    inspect_url = subscribe_inspect_queue(client("sns", aws_endpoint, region), sqs,
                                          topic_arns[CX_TOPIC], prefix)
    for topic in resources.topic_consumers():
        subscribe_consumer_queue(client("sns", aws_endpoint, region), sqs, topic_arns[topic], prefix, topic)
    for queue_name, topic in resources.subscriptions().items():
        subscribe_queue(client("sns", aws_endpoint, region), sqs, topic_arns[topic], queue_urls[queue_name],
                        resources.filter_policy(resources.queue(queue_name)))
    email = create_email(client("sesv2", aws_endpoint, region), client("ses", aws_endpoint, region), prefix,
                         topic_arns[resources.EMAIL.events_topic])
    configuration = {**create_secrets(client("secretsmanager", aws_endpoint, region), prefix, stand_ins),
                     **create_config_document(client("s3", aws_endpoint, region), prefix)}
    return build_env(prefix, dynamodb_endpoint, aws_endpoint, region, queue_urls, topic_arns, bus,
                     inspect_url, {**email, **configuration})


def build_env(prefix: str, dynamodb_endpoint: str, aws_endpoint: str, region: str,
              queue_urls: dict[str, str], topic_arns: dict[str, str], bus: str,
              inspect_url: str, email: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "KOE_RESOURCE_PREFIX": prefix,
        "KOE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "KOE_AWS_ENDPOINT": aws_endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "KOE_LOCAL_EVENT_BUS": bus,
        "KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL": inspect_url,
    }
    env.update({var: topic_arns[logical] for var, logical in TOPIC_ENV.items()})
    env.update({var: queue_urls[logical] for var, logical in QUEUE_ENV.items()})
    env.update(email or {})
    return env


# --- DynamoDB ---------------------------------------------------------------------------------

def table_request(table: Table, physical_name: str) -> dict[str, Any]:
    """The CreateTable request for one definition (on-demand, GSIs project everything)."""
    request: dict[str, Any] = {
        "TableName": physical_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind}
                                 for name, kind in table.attributes.items()],
        "KeySchema": key_schema(table.hash_key, table.range_key),
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": index.name, "KeySchema": key_schema(index.hash_key, index.range_key),
             "Projection": {"ProjectionType": "ALL"}}
            for index in table.indexes]
    if table.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream}
    return request


def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def create_table(dynamodb: Any, table: Table, physical_name: str) -> None:
    try:
        dynamodb.create_table(**table_request(table, physical_name))
        log.info("created table %s", physical_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=physical_name,
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    add_missing_indexes(dynamodb, table, physical_name)
    if table.ttl_attribute:
        enable_ttl(dynamodb, physical_name, table.ttl_attribute)


def add_missing_indexes(dynamodb: Any, table: Table, physical_name: str) -> None:
    """A table kept from an earlier run (the data folder) gets the indexes added since: the rest
    of it is left as it is."""
    existing = {i["IndexName"] for i in
                dynamodb.describe_table(TableName=physical_name)["Table"].get("GlobalSecondaryIndexes", [])}
    for index in table.indexes:
        if index.name in existing:
            continue
        keys = [k for k in (index.hash_key, index.range_key) if k]
        dynamodb.update_table(
            TableName=physical_name,
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": table.attributes[k]} for k in keys],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": index.name, "KeySchema": key_schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"}}}])
        log.info("added index %s to %s", index.name, physical_name)
        wait_for_index(dynamodb, physical_name, index.name)


def wait_for_index(dynamodb: Any, physical_name: str, index_name: str, timeout_s: float = 60.0) -> None:
    """DynamoDB builds one index at a time per table: the next waits until this one is active."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        indexes = dynamodb.describe_table(TableName=physical_name)["Table"].get("GlobalSecondaryIndexes", [])
        if any(i["IndexName"] == index_name and i.get("IndexStatus") == "ACTIVE" for i in indexes):
            return
        time.sleep(0.2)
    raise TimeoutError(f"index {index_name} of {physical_name} not active after {timeout_s:.0f} s")


def enable_ttl(dynamodb: Any, physical_name: str, attribute: str) -> None:
    # DynamoDB Local rejects enabling TTL twice, so look first: that keeps provisioning idempotent.
    current = dynamodb.describe_time_to_live(TableName=physical_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    dynamodb.update_time_to_live(
        TableName=physical_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})


# --- SQS, SNS, EventBridge ---------------------------------------------------------------------

def create_queues(sqs: Any, prefix: str) -> dict[str, str]:
    """Every queue, dead-letter queues first so a source queue's redrive target exists; logical -> URL."""
    dead_letters = {q.dead_letter for q in resources.QUEUES if q.dead_letter}
    ordered = sorted(resources.QUEUES, key=lambda q: q.name not in dead_letters)
    urls: dict[str, str] = {}
    for queue in ordered:
        urls[queue.name] = create_queue(sqs, queue, prefix, urls)
    return urls


def create_queue(sqs: Any, queue: Queue, prefix: str, urls: dict[str, str]) -> str:
    # Attributes are set after creation: CreateQueue with other attributes than an existing
    # queue's fails in SQS, SetQueueAttributes does not.
    url: str = sqs.create_queue(QueueName=resources.physical(prefix, queue.name))["QueueUrl"]
    attributes = {"VisibilityTimeout": str(queue.visibility_timeout_s)}
    if queue.dead_letter:
        attributes["RedrivePolicy"] = json.dumps({
            "deadLetterTargetArn": queue_arn(sqs, urls[queue.dead_letter]),
            "maxReceiveCount": str(queue.max_receive_count)})
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
               ["Attributes"]["QueueArn"])


def create_topic(sns: Any, physical_name: str) -> str:
    return str(sns.create_topic(Name=physical_name)["TopicArn"])     # idempotent by name


def create_event_bus(events: Any, physical_name: str) -> str:
    try:
        events.create_event_bus(Name=physical_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    return physical_name


def create_rule(events: Any, sqs: Any, rule: Rule, prefix: str, queue_url: str) -> None:
    """PutRule and PutTargets replace what exists, so running them again is harmless."""
    bus = resources.physical(prefix, rule.bus)
    name = resources.physical(prefix, rule.name)
    events.put_rule(Name=name, EventBusName=bus, State="ENABLED",
                    EventPattern=json.dumps({"detail-type": [rule.detail_type]}))
    events.put_targets(Rule=name, EventBusName=bus,
                       Targets=[{"Id": rule.target_queue, "Arn": queue_arn(sqs, queue_url)}])


def subscribe_inspect_queue(sns: Any, sqs: Any, topic_arn: str, prefix: str) -> str:
    """The local-only queue that receives every CX alert as the raw published message."""
    url: str = sqs.create_queue(QueueName=resources.physical(prefix, ALERTS_INSPECT_QUEUE))["QueueUrl"]
    arn = queue_arn(sqs, url)
    existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(sub["Endpoint"] == arn for sub in existing):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})
    return url


def consumer_queue_name(prefix: str, topic: str) -> str:
    """The local-only queue subscribed to a topic an app.py handler consumes (the runner reads it)."""
    return resources.physical(prefix, f"{topic}-subscription")


def subscribe_consumer_queue(sns: Any, sqs: Any, topic_arn: str, prefix: str, topic: str) -> str:
    """A queue receiving the topic's messages in SNS's JSON envelope (no raw delivery): the shape an
    SNS subscription hands to Lambda, record by record."""
    url: str = sqs.create_queue(QueueName=consumer_queue_name(prefix, topic))["QueueUrl"]
    arn = queue_arn(sqs, url)
    existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(sub["Endpoint"] == arn for sub in existing):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, queue_url: str, filter_policy: dict[str, Any]) -> None:
    """A queue of resources.QUEUES subscribed to its topic as infra/ subscribes it: SNS's JSON
    envelope (no raw delivery), with the subscription's filter policy (moto applies it)."""
    arn = queue_arn(sqs, queue_url)
    existing = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if any(sub["Endpoint"] == arn for sub in existing):
        return
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)


# --- SES -----------------------------------------------------------------------------------------

def create_email(sesv2: Any, ses: Any, prefix: str, events_topic_arn: str) -> dict[str, str]:
    """The sender's identity (moto sends only from an identity it holds; SES, from a verified one), the
    configuration set koe sends through, and its event destination to the events topic. Returns the
    settings that make koe send email: KOE_EMAIL_FROM and the configuration set's variable."""
    spec = resources.EMAIL
    name = resources.physical(prefix, spec.name)
    _unless_exists(lambda: sesv2.create_email_identity(EmailIdentity=EMAIL_DOMAIN))
    _unless_exists(lambda: sesv2.create_configuration_set(ConfigurationSetName=name))
    # moto's SES v2 has no event destination call; v1's works on the same configuration sets (as in AWS).
    _unless_exists(lambda: ses.create_configuration_set_event_destination(
        ConfigurationSetName=name,
        EventDestination={"Name": f"{name}-to-{spec.events_topic}", "Enabled": True,
                          "MatchingEventTypes": list(spec.events),
                          "SNSDestination": {"TopicARN": events_topic_arn}}))
    return {"KOE_EMAIL_FROM": EMAIL_FROM, spec.env: name}


# --- secrets and the configuration document -------------------------------------------------------

def first_values() -> dict[str, dict[str, Any]]:
    """Working values for a new secret (fictional; random where a value is a key)."""
    return {
        resources.TWILIO_SECRET.name: {"account_sid": "AC" + "0" * 32, "auth_token": secrets.token_hex(16),
                                       "from": "+15550009999"},
        resources.API_KEYS_SECRET.name: {"keys": [secrets.token_urlsafe(24)]},
        resources.CONTACT_KEYS_SECRET.name: {"current": "local-1", "keys": {"local-1": secrets.token_hex(32)}},
        resources.LINE_SECRET.name: {"channel_access_token": secrets.token_urlsafe(32),
                                     "channel_secret": secrets.token_hex(16)},
        resources.ALIBABA_SMS_SECRET.name: {"access_key_id": "LTAI" + secrets.token_hex(10),
                                            "access_key_secret": secrets.token_urlsafe(22),
                                            "receipt_token": secrets.token_hex(24)},
        resources.WECHAT_SECRET.name: {"appid": "wx" + secrets.token_hex(8), "appsecret": secrets.token_hex(16),
                                       "token": secrets.token_hex(12)},
    }


def create_secrets(secretsmanager: Any, prefix: str, stand_ins: bool = False) -> dict[str, str]:
    """Each secret koe reads, unless it exists; returns the settings naming them (KOE_*_SECRET_ID).
    An optional one (a channel's: LINE's, Alibaba SMS's) is made only with `stand_ins` (the local stack,
    which runs those channels' stand-ins and writes their values): without its name koe leaves the
    channel off, as a stage without `line=true` / `cn_sms=true`."""
    values = first_values()
    needed = [secret for secret in resources.SECRETS if not secret.optional or stand_ins]
    for secret in needed:
        name = resources.physical(prefix, secret.name)
        _unless_exists(lambda name=name, value=values[secret.name]: secretsmanager.create_secret(
            Name=name, SecretString=json.dumps(value)))
    return {secret.env: resources.physical(prefix, secret.name) for secret in needed}


def put_secret(aws_endpoint: str, region: str, secret_id: str, value: dict[str, Any]) -> None:
    """A new version of the secret, as an operator's rotation writes it (koe reads it once its cache ages)."""
    client("secretsmanager", aws_endpoint, region).put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))


def create_config_document(s3: Any, prefix: str) -> dict[str, str]:
    """The versioned bucket and, unless it exists, the document (`{}`); returns the settings naming them."""
    spec = resources.CONFIG_DOCUMENT
    bucket = resources.physical(prefix, spec.bucket)
    _unless_exists(lambda: s3.create_bucket(Bucket=bucket))
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    try:
        s3.head_object(Bucket=bucket, Key=spec.key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey"):
            raise
        s3.put_object(Bucket=bucket, Key=spec.key, Body=b"{}", ContentType="application/json")
    return {spec.bucket_env: bucket, spec.key_env: spec.key}


def _unless_exists(create: Any) -> None:
    try:
        create()
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if "AlreadyExist" not in code and code not in ("ResourceExistsException", "BucketAlreadyOwnedByYou"):
            raise


def scratch_storage(endpoint: str, prefix: str, tables: Sequence[str], region: str = "us-east-1") -> Any:
    """Settings whose stores are bound to `tables` (logical names), made afresh under `prefix` on the
    DynamoDB at `endpoint` (the benchmarks that measure storage alone: no queue, topic or secret)."""
    from chalicelib.adapters import dynamo
    from chalicelib.settings import from_env

    ddb = client("dynamodb", endpoint, region)
    for logical in tables:
        create_table(ddb, resources.table(logical), resources.physical(prefix, logical))
    unused = {var: "unused" for var in {**resources.queue_env(), **resources.topic_env()}}   # no queue, no topic
    settings = from_env({**unused, "KOE_PUBLIC_BASE_URL": "https://koe.example.com", "KOE_DYNAMODB_ENDPOINT": endpoint,
                         "KOE_RESOURCE_PREFIX": prefix, "AWS_REGION": region})
    dynamo.configure(settings)
    return settings
