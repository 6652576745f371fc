"""The CDK stack, synthesized offline (real aws-cdk-lib, real `chalice package`), checked against
chalicelib/resources.py and chalicelib/settings.py, and linted with cfn-lint.

Needs the infra venv (`python3 -m venv .venv-infra && .venv-infra/bin/pip install -r
infra/requirements.txt`); `chalice package` downloads Lambda wheels from PyPI unless
.chalice/deployments/ already holds them. No AWS account or credentials are used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib import resources, settings

REPO = Path(__file__).resolve().parents[2]
INFRA_PY = REPO / ".venv-infra" / "bin" / "python"
CFN_LINT = REPO / ".venv-infra" / "bin" / "cfn-lint"
STAGE = "ci"
PREFIX = f"koe-{STAGE}-"
PUBLIC = "https://example.com/api"
EMAIL_IDENTITY = "example.jp"
SENDER = f"survey@{EMAIL_IDENTITY}"

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(not INFRA_PY.exists(), reason=(
        f"no infra venv at {INFRA_PY.parent.parent}: create it with `python3 -m venv .venv-infra && "
        ".venv-infra/bin/pip install -r infra/requirements.txt`")),
]


def _env(outdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KOE_", "CDK_", "AWS_")) and k != "VIRTUAL_ENV"}
    env.update(CDK_OUTDIR=str(outdir), AWS_DEFAULT_REGION="ap-northeast-1",
               JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    return env


def _run_synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    args = [str(INFRA_PY), str(REPO / "infra" / "app.py")]
    for pair in context:
        args += ["-c", pair]
    return subprocess.run(args, cwd=REPO, env=_env(outdir), capture_output=True, text=True,
                          timeout=900, check=False)


class Template:
    def __init__(self, path: Path):
        self.path = path
        self.doc = json.loads(path.read_text())
        self.resources: dict[str, dict[str, Any]] = self.doc["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    def named(self, kind: str, name_prop: str, name: str) -> tuple[str, dict[str, Any]]:
        hits = [(k, v) for k, v in self.of_type(kind).items()
                if v["Properties"].get(name_prop) == name]
        assert len(hits) == 1, f"expected one {kind} with {name_prop}={name}, found {len(hits)}"
        return hits[0]

    def table(self, logical: str) -> tuple[str, dict[str, Any]]:
        return self.named("AWS::DynamoDB::Table", "TableName", resources.physical(PREFIX, logical))

    def queue(self, logical: str) -> tuple[str, dict[str, Any]]:
        return self.named("AWS::SQS::Queue", "QueueName", resources.physical(PREFIX, logical))

    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Serverless::Function")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Template:
    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.perf_counter()
    done = _run_synth(outdir, f"stage={STAGE}", f"public_base_url={PUBLIC}", f"email_identity={EMAIL_IDENTITY}")
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, f"synth failed:\n{done.stdout}\n{done.stderr}"
    template = Template(outdir / f"{STAGE}.template.json")
    print(f"\nsynth {elapsed:.1f}s, {len(template.resources)} resources", file=sys.stderr)
    return template


def test_every_table_from_resources(synth: Template) -> None:
    assert len(synth.of_type("AWS::DynamoDB::Table")) == len(resources.TABLES)
    for spec in resources.TABLES:
        _, res = synth.table(spec.name)
        p = res["Properties"]
        assert (res["DeletionPolicy"], res["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain"), spec.name
        assert p["DeletionProtectionEnabled"] is True, spec.name
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        keys = {k["KeyType"]: k["AttributeName"] for k in p["KeySchema"]}
        assert keys == {"HASH": spec.hash_key, **({"RANGE": spec.range_key} if spec.range_key else {})}
        attrs = {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]}
        used = {spec.hash_key, spec.range_key} | {
            k for i in spec.indexes for k in (i.hash_key, i.range_key)}
        assert attrs == {k: spec.attributes[k] for k in used if k}, spec.name
        gsis = {g["IndexName"]: g for g in p.get("GlobalSecondaryIndexes", [])}
        assert set(gsis) == {i.name for i in spec.indexes}, spec.name
        for index in spec.indexes:
            got = {k["KeyType"]: k["AttributeName"] for k in gsis[index.name]["KeySchema"]}
            assert got == {"HASH": index.hash_key,
                           **({"RANGE": index.range_key} if index.range_key else {})}
            assert gsis[index.name]["Projection"]["ProjectionType"] == "ALL"
        if spec.stream:
            assert p["StreamSpecification"] == {"StreamViewType": spec.stream}
        else:
            assert "StreamSpecification" not in p, spec.name
        if spec.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute,
                                                    "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in p, spec.name


def test_every_queue_with_its_redrive(synth: Template) -> None:
    assert len(synth.of_type("AWS::SQS::Queue")) == len(resources.QUEUES) + len(_source_dead_letters())
    for spec in resources.QUEUES:
        _, res = synth.queue(spec.name)
        p = res["Properties"]
        assert p["VisibilityTimeout"] == spec.visibility_timeout_s
        if spec.dead_letter:
            dlq_id, _ = synth.queue(spec.dead_letter)
            assert p["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                          "maxReceiveCount": spec.max_receive_count}
        else:
            assert "RedrivePolicy" not in p
            assert p["MessageRetentionPeriod"] == 14 * 24 * 3600   # dead-letter queues keep 14 days


def test_topics_bus_and_rule_to_the_intake_queue(synth: Template) -> None:
    for topic in resources.TOPICS:
        synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, topic.name))
    bus_id, _ = synth.named("AWS::Events::EventBus", "Name",
                            resources.physical(PREFIX, resources.EVENT_BUS))
    for rule in resources.RULES:
        rule_id, res = synth.named("AWS::Events::Rule", "Name", resources.physical(PREFIX, rule.name))
        p = res["Properties"]
        assert p["EventBusName"] == {"Ref": bus_id}
        assert p["EventPattern"] == {"detail-type": [rule.detail_type]}
        queue_id, _ = synth.queue(rule.target_queue)
        assert [t["Arn"] for t in p["Targets"]] == [{"Fn::GetAtt": [queue_id, "Arn"]}]
        # ...and the queue lets exactly this rule send to it.
        policies = [v["Properties"]["PolicyDocument"]["Statement"]
                    for v in synth.of_type("AWS::SQS::QueuePolicy").values()
                    if {"Ref": queue_id} in v["Properties"]["Queues"]]
        allow = [s for statements in policies for s in statements
                 if s.get("Principal") == {"Service": "events.amazonaws.com"}]
        assert allow and allow[0]["Effect"] == "Allow"
        assert "sqs:SendMessage" in allow[0]["Action"]
        assert allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def _events(synth: Template, kind: str) -> list[dict[str, Any]]:
    return [ev["Properties"] for fn in synth.functions().values()
            for ev in (fn["Properties"].get("Events") or {}).values() if ev["Type"] == kind]


def test_each_queue_consumer_reads_its_queue_with_partial_batch_responses(synth: Template) -> None:
    read = set()
    for fn in synth.functions().values():
        handler = str(fn["Properties"]["Handler"]).rsplit(".", 1)[-1]
        for ev in (fn["Properties"].get("Events") or {}).values():
            if ev["Type"] != "SQS":
                continue
            queue_id, _ = synth.queue(resources.consumed_by(handler).name)
            assert ev["Properties"]["Queue"] == {"Fn::GetAtt": [queue_id, "Arn"]}, handler
            assert ev["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], handler
            read.add(handler)
    assert read == set(resources.queue_consumers().values())     # dispatch, deliver_alerts


def test_on_response_reads_the_responses_stream(synth: Template) -> None:
    streams = _events(synth, "DynamoDB")
    assert streams, "no DynamoDB stream event source: app.py's on_response is missing"
    streamed = [t.name for t in resources.TABLES if t.stream]
    ids = [synth.table(name)[0] for name in streamed]
    for ev in streams:
        assert ev["Stream"] in [{"Fn::GetAtt": [i, "StreamArn"]} for i in ids]
        assert ev["BisectBatchOnFunctionError"] is True
        # the same retries the local stream source applies (devstack/runner.py), from one figure
        assert ev["MaximumRetryAttempts"] == resources.STREAM_MAX_RETRIES
        assert ev["MaximumRecordAgeInSeconds"] == resources.STREAM_MAX_RECORD_AGE_S


def test_templates_layer_is_attached_and_holds_templates(synth: Template) -> None:
    (layer_id, layer), = synth.of_type("AWS::Lambda::LayerVersion").items()
    functions = synth.functions()
    assert functions
    for name, fn in functions.items():
        p = fn["Properties"]
        assert {"Ref": layer_id} in p.get("Layers", []), name
        assert p["Environment"]["Variables"]["KOE_TEMPLATES_DIR"] == "/opt/templates"
    # The layer's zip is built from a directory whose top level is templates/ (-> /opt/templates).
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    staged = synth.path.parent / f"asset.{asset_hash}" / "templates"
    shipped = {p.relative_to(staged) for p in staged.rglob("*") if p.is_file()}
    source = REPO / "templates"
    wanted = {p.relative_to(source) for p in source.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
              and p.name != ".DS_Store" and "node_modules" not in p.parts}
    # Of the dashboard's npm packages, only the charting library the app serves (no CDN at runtime).
    library = Path("dashboard") / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
    assert shipped == wanted | {library}
    assert (staged / library).read_bytes() == (source / library).read_bytes()


def test_environment_satisfies_settings_and_holds_no_secret(synth: Template) -> None:
    for fn in synth.functions().values():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["KOE_RESOURCE_PREFIX"] == PREFIX
        assert variables["KOE_PUBLIC_BASE_URL"] == PUBLIC
        assert "resolve:secretsmanager" not in json.dumps(variables)       # names, never values
        assert not {"KOE_API_KEYS", "KOE_CONTACT_HASH_KEY", "KOE_TWILIO_AUTH_TOKEN"} & set(variables)
        bucket_id = next(iter(synth.of_type("AWS::S3::Bucket")))
        assert variables[resources.CONFIG_DOCUMENT.bucket_env] == {"Ref": bucket_id}
        assert variables[resources.CONFIG_DOCUMENT.key_env] == resources.CONFIG_DOCUMENT.key
        # Intrinsics (queue URLs, topic ARN) stand in as plain strings: from_env must accept the set.
        env = {k: v if isinstance(v, str) else f"resolved-{k}" for k, v in variables.items()}
        parsed = settings.from_env(env)
        assert parsed.table_name("surveys") == resources.physical(PREFIX, "surveys")
        assert str(parsed.templates_dir) == "/opt/templates"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


COMPREHEND = {"comprehend:DetectSentiment", "comprehend:DetectKeyPhrases"}
SES_SEND = {("ses:SendEmail", "email"), ("ses:SendRawEmail", "email")}
TRACING = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}     # every function is traced


def _role_of(synth: Template, handler: str) -> tuple[str, dict[str, Any]]:
    _, fn = _function_named(synth, handler)
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id, synth.resources[role_id]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _logical_names(synth: Template) -> dict[str, str]:
    """CloudFormation id -> the resources.Grant name of each table, queue and topic."""
    names = {synth.table(t.name)[0]: f"table/{t.name}" for t in resources.TABLES}
    names |= {synth.named("AWS::SQS::Queue", "QueueName", resources.physical(PREFIX, q))[0]: f"queue/{q}"
              for q in [*(q.name for q in resources.QUEUES), *_source_dead_letters()]}
    names |= {synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, t.name))[0]: f"topic/{t.name}"
              for t in resources.TOPICS}
    return names


def _granted(synth: Template, handler: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the function's role holds on koe's tables, indexes, queues, topics,
    its SES identity ("email") and resource "*", in resources.Grant's names."""
    names = _logical_names(synth)
    found = set()
    for statement in _statements(_role_of(synth, handler)[1]):
        for resource in _as_list(statement["Resource"]):
            text = json.dumps(resource)
            if resource == "*":
                where = "*"
            elif ":secret:" in text:
                name = text.split(":secret:")[1].split('"')[0].removesuffix("-??????")
                where = f"secret/{name.removeprefix(PREFIX)}"
            elif text.endswith(f'"/{resources.CONFIG_DOCUMENT.key}"]]}}') and "Bucket" in text:
                where = "config"
            elif ":identity/" in text or ":configuration-set/" in text:
                where = "email"
            elif "Fn::GetAtt" in text and '"Arn"' in text and "StreamArn" not in text or "Ref" in text:
                ids = [i for i in names if f'"{i}"' in text]
                if len(ids) != 1:
                    continue
                where = names[ids[0]]
                if "/index/" in text:
                    where += "/index/" + text.split("/index/")[1].split('"')[0]
                elif "/stream/*" in text:
                    where += "/stream/*"
            else:
                continue
            found |= {(action, where) for action in _as_list(statement["Action"])}
    return found


def _trigger_grants(handler: str) -> set[tuple[str, str]]:
    """What a function's trigger needs of its role: reading its queue (Lambda's event source mapping)
    and sending the on-failure records of its stream and of its asynchronous invocations."""
    found = {(a, f"queue/{q.name}") for q in resources.QUEUES if q.consumer == handler
             for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}
    found |= {grant for t in resources.TABLES if t.stream_consumer == handler
              for grant in (("sqs:SendMessage", f"queue/{t.name}-stream-dlq"),
                            ("dynamodb:ListStreams", f"table/{t.name}/stream/*"))}
    found |= {("sqs:SendMessage", f"queue/{name}") for name, (kind, source) in _source_dead_letters().items()
              if kind in ("topic", "schedule")
              and handler == (source if kind == "schedule" else resources.topic_consumers()[source])}
    return found


@pytest.mark.parametrize("function", resources.FUNCTIONS, ids=lambda f: f.handler)
def test_each_function_runs_as_its_own_role_holding_exactly_its_declaration(
        synth: Template, function: resources.Function) -> None:
    declared = {(a, g.resource) for g in function.grants for a in g.actions}
    if ("ses:SendEmail", "email") in declared:
        declared |= SES_SEND           # SES v2's SendEmail authorises as SendRawEmail too
    assert _granted(synth, function.handler) == declared | _trigger_grants(function.handler) | TRACING


def test_iam_is_one_role_per_function_with_inline_policies_and_nothing_unscoped(synth: Template) -> None:
    roles = {k: v for k, v in synth.of_type("AWS::IAM::Role").items()
             if not k.startswith("ApiGatewayLogsRole")}       # API Gateway's, for its execution logs
    assert len(roles) == len(resources.FUNCTIONS) == len(synth.functions())
    assert len({fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in synth.functions().values()}) == len(roles)
    assert not synth.of_type("AWS::IAM::Policy") and not synth.of_type("AWS::IAM::ManagedPolicy")
    for role_id, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"]
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in _as_list(statement["Action"])), statement
            if _as_list(statement["Resource"]) == ["*"]:    # APIs that have no resource to scope them to
                assert set(_as_list(statement["Action"])) <= COMPREHEND | {
                    "xray:PutTraceSegments", "xray:PutTelemetryRecords"}, (role_id, statement)
        (logs,) = [st for st in _statements(role) if st["Sid"] == "Logs"]
        assert sorted(_as_list(logs["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_each_role_writes_to_its_own_functions_log_group_only(synth: Template) -> None:
    for function in resources.FUNCTIONS:
        fn_id, _ = _function_named(synth, function.handler)
        (logs,) = [st for st in _statements(_role_of(synth, function.handler)[1]) if st["Sid"] == "Logs"]
        arn = "".join(p if isinstance(p, str) else json.dumps(p) for p in logs["Resource"]["Fn::Join"][1])
        assert arn.endswith(f":log-group:/aws/lambda/koe-{STAGE}-{fn_id}-*:*"), (function.handler, arn)


def test_only_the_comment_analyser_may_call_comprehend_and_only_its_two_detections(synth: Template) -> None:
    analyser_role_id, _ = _role_of(synth, "analyse_comments")
    holders = {}
    for role_id, role in synth.of_type("AWS::IAM::Role").items():
        granted = {a for s in _statements(role) for a in _as_list(s["Action"]) if a.startswith("comprehend:")}
        if granted:
            holders[role_id] = granted
    assert holders == {analyser_role_id: COMPREHEND}


def test_no_role_may_scan_delete_or_batch_write_but_the_idempotency_layers_delete(synth: Template) -> None:
    for function in resources.FUNCTIONS:
        granted = _granted(synth, function.handler)
        assert not {a for a, _ in granted if a in ("dynamodb:Scan", "dynamodb:BatchWriteItem")}, function.handler
        deletes = {r for a, r in granted if a == "dynamodb:DeleteItem"}
        assert deletes == ({"table/idempotency"} if function.handler == "dispatch" else set()), function.handler


def test_each_function_is_told_the_names_of_the_secrets_it_reads_and_of_no_other(synth: Template) -> None:
    for function in resources.FUNCTIONS:
        _, fn = _function_named(synth, function.handler)
        variables = fn["Properties"]["Environment"]["Variables"]
        told = {var: value for var, value in variables.items() if var in {s.env for s in resources.SECRETS}}
        granted = {g.resource.removeprefix("secret/") for g in function.grants if g.resource.startswith("secret/")}
        # An optional secret (LINE's) is told only where the stage turns it on (context line=true: not here)
        assert told == {s.env: resources.physical(PREFIX, s.name) for s in resources.SECRETS
                        if s.name in granted and not s.optional}
        statements = _statements(_role_of(synth, function.handler)[1])
        arns = [r for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])
                for r in _as_list(st["Resource"])]
        assert len(arns) == len(granted), function.handler
        for arn in arns:      # the operator's secret, by its name, with the 6 characters Secrets Manager adds
            assert arn["Fn::Join"][1][-1].endswith(tuple(f":secret:{PREFIX}{name}-??????" for name in granted))
    assert not [f for f in resources.FUNCTIONS if f.handler in ("analyse_comments", "on_response", "deliver_alerts")
                and any(g.resource.startswith("secret/") for g in f.grants)]


def test_the_line_secret_is_granted_to_the_functions_that_push_and_answer_on_line_and_told_to_none(
        synth: Template) -> None:
    # Dispatch and the schedule push surveys; the API answers LINE's webhook (its signature, its reply)
    readers = {f.handler for f in resources.FUNCTIONS
               if f.allows("secretsmanager:GetSecretValue", f"secret/{resources.LINE_SECRET.name}")}
    assert readers == {resources.API_HANDLER, "dispatch", "tick"}
    for handler in readers:
        statements = _statements(_role_of(synth, handler)[1])
        arns = [json.dumps(r) for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])
                for r in _as_list(st["Resource"])]
        assert any(f":secret:{PREFIX}line-??????" in arn for arn in arns), handler
    # Without `-c line=true` no function is told its name: koe leaves LINE off (Settings.line_enabled)
    for _, fn in synth.functions().items():
        assert resources.LINE_SECRET.env not in fn["Properties"]["Environment"]["Variables"]


def test_the_alibaba_secret_is_granted_to_the_functions_that_send_china_sms_and_take_its_receipts_and_told_to_none(
        synth: Template) -> None:
    # Dispatch and the schedule send (surveys, reminders, closing messages); the API takes Alibaba's receipt
    # pushes (the token their URLs end with)
    readers = {f.handler for f in resources.FUNCTIONS
               if f.allows("secretsmanager:GetSecretValue", f"secret/{resources.ALIBABA_SMS_SECRET.name}")}
    assert readers == {resources.API_HANDLER, "dispatch", "tick"}
    for handler in readers:
        statements = _statements(_role_of(synth, handler)[1])
        arns = [json.dumps(r) for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])
                for r in _as_list(st["Resource"])]
        assert any(f":secret:{PREFIX}alibaba-sms-??????" in arn for arn in arns), handler
    # Without `-c cn_sms=true` no function is told its name: koe leaves China SMS off (Settings.cn_sms_enabled)
    for _, fn in synth.functions().items():
        assert resources.ALIBABA_SMS_SECRET.env not in fn["Properties"]["Environment"]["Variables"]


def test_the_wechat_secret_is_readable_by_the_senders_and_the_event_route_only_and_named_only_where_on(
        synth: Template) -> None:
    readers = {f.handler for f in resources.FUNCTIONS
               if f.allows("secretsmanager:GetSecretValue", f"secret/{resources.WECHAT_SECRET.name}")}
    assert readers == {resources.API_HANDLER, "dispatch", "tick"}
    for handler in readers:
        statements = _statements(_role_of(synth, handler)[1])
        arns = [json.dumps(r) for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])
                for r in _as_list(st["Resource"])]
        assert any(f":secret:{PREFIX}wechat-??????" in arn for arn in arns), handler
    for _, fn in synth.functions().items():
        assert resources.WECHAT_SECRET.env not in fn["Properties"]["Environment"]["Variables"]


CN_TEMPLATES = json.dumps({"zh-CN": {"invitation": {
    "sign_name": "示例人寿", "template_code": "SMS_480000011", "params": ["link"],
    "text": "请评价我们的服务：${link} 回T退订"}}}, ensure_ascii=False)


WECHAT_TEMPLATES = json.dumps({"zh-CN": {name: {
    "template_id": f"koeCiTemplate{name.capitalize()}0000000000000000", "title": "服务评价",
    "fields": {"keyword1": "{procedure}"}} for name in ("invitation", "reminder", "closing")}}, ensure_ascii=False)


@pytest.fixture(scope="module")
def with_cn_sms(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A stage with China's channels on: China SMS and WeChat (one synth for both)."""
    outdir = tmp_path_factory.mktemp("cdk.out.cn_sms")
    done = _run_synth(outdir, f"stage={STAGE}", f"public_base_url={PUBLIC}", "cn_sms=true", "wechat=true",
                      "app_env=" + json.dumps({"KOE_CN_SMS_TEMPLATES": CN_TEMPLATES,
                                               "KOE_WECHAT_TEMPLATES": WECHAT_TEMPLATES}))
    assert done.returncode == 0, f"synth failed:\n{done.stdout}\n{done.stderr}"
    return Template(outdir / f"{STAGE}.template.json")


def test_with_cn_sms_on_the_senders_and_the_api_are_told_the_alibaba_secret_and_the_templates(
        with_cn_sms: Template) -> None:
    told = set()
    for handler in (f.handler for f in resources.FUNCTIONS):
        variables = _function_named(with_cn_sms, handler)[1]["Properties"]["Environment"]["Variables"]
        if resources.ALIBABA_SMS_SECRET.env in variables:
            assert variables[resources.ALIBABA_SMS_SECRET.env] == resources.physical(PREFIX, "alibaba-sms")
            told.add(handler)
        assert resources.LINE_SECRET.env not in variables           # LINE stays off: its own flag
    assert told == {resources.API_HANDLER, "dispatch", "tick"}


def test_with_wechat_on_the_senders_and_the_api_are_told_the_wechat_secret(with_cn_sms: Template) -> None:
    told = set()
    for handler in (f.handler for f in resources.FUNCTIONS):
        variables = _function_named(with_cn_sms, handler)[1]["Properties"]["Environment"]["Variables"]
        if resources.WECHAT_SECRET.env in variables:
            assert variables[resources.WECHAT_SECRET.env] == resources.physical(PREFIX, "wechat")
            told.add(handler)
    assert told == {resources.API_HANDLER, "dispatch", "tick"}


def test_cn_sms_without_its_templates_or_with_a_plain_http_endpoint_is_refused(tmp_path: Path) -> None:
    probe = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import stack\n"
        "base = {'stage': 'ci', 'public_base_url': 'https://api.example.com/api'}\n"
        "for extra in ({'cn_sms': 'true'}, {'cn_sms': 'yes'},\n"
        "              {'app_env': json.dumps({'KOE_ALIBABA_SMS_PROTOCOL': 'http'})}, {'wechat': 'true'},\n"
        "              {'app_env': json.dumps({'KOE_WECHAT_BASE_URL': 'http://127.0.0.1:8028'})}):\n"
        "    try:\n"
        "        stack.KoeConfig.from_context({**base, **extra}.get)\n"
        "        print('taken:', extra)\n"
        "    except stack.ConfigError as exc:\n"
        "        print('refused:', exc)\n"
    )
    done = subprocess.run([str(INFRA_PY), "-c", probe, str(REPO / "infra"), str(REPO)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    refusals = done.stdout.strip().splitlines()
    assert len(refusals) == 5 and all(r.startswith("refused:") for r in refusals), done.stdout
    assert "KOE_CN_SMS_TEMPLATES" in refusals[0] and "cn_sms" in refusals[1]
    assert "KOE_ALIBABA_SMS_PROTOCOL" in refusals[2]
    assert "KOE_WECHAT_TEMPLATES" in refusals[3] and "KOE_WECHAT_BASE_URL" in refusals[4]


def test_the_configuration_document_bucket_is_versioned_private_kept_and_read_object_by_object(
        synth: Template) -> None:
    (bucket_id, bucket), = synth.of_type("AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert "BucketName" not in props                            # generated: bucket names are global
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    for function in resources.FUNCTIONS:
        assert ("s3:GetObject", "config") in {(a, g.resource) for g in function.grants for a in g.actions}
        statements = _statements(_role_of(synth, function.handler)[1])
        (read,) = [st for st in statements if "s3:GetObject" in _as_list(st["Action"])]
        assert _as_list(read["Action"]) == ["s3:GetObject"]
        assert read["Resource"]["Fn::Join"][1] == [{"Fn::GetAtt": [bucket_id, "Arn"]},
                                                   f"/{resources.CONFIG_DOCUMENT.key}"]


def test_the_indexes_the_api_queries_are_built(synth: Template) -> None:
    # GET /v1/responses.csv reads the responses' by-month index; /v1/scores, /v1/outcomes and the
    # dashboard's funnel the outcomes' by-month index (never a Scan), whose counters expire (TTL).
    for table, hash_key, range_key in (("responses", "month_shard", "received_at"),
                                       ("outcomes", "month_shard", "bucket")):
        _, built = synth.table(table)
        gsis = {g["IndexName"]: g for g in built["Properties"]["GlobalSecondaryIndexes"]}
        assert {k["KeyType"]: k["AttributeName"] for k in gsis["by-month"]["KeySchema"]} == {
            "HASH": hash_key, "RANGE": range_key}
        assert ("dynamodb:Query", f"table/{table}/index/by-month") in _granted(synth, resources.API_HANDLER)
    _, outcomes = synth.table("outcomes")
    assert outcomes["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_a_customers_surveys_are_indexed_and_only_the_api_may_query_them(synth: Template) -> None:
    # A case's page lists the customer's earlier surveys from the surveys' by-customer index (every
    # survey, newest first): the API reads it, no other function.
    _, surveys = synth.table("surveys")
    props = surveys["Properties"]
    gsis = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
    assert {k["KeyType"]: k["AttributeName"] for k in gsis["by-customer"]["KeySchema"]} == {
        "HASH": "customer_id", "RANGE": "created_at"}
    assert gsis["by-customer"]["Projection"]["ProjectionType"] == "ALL"
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert (types["customer_id"], types["created_at"]) == ("S", "S")       # an ISO time in UTC sorts as a string
    readers = {f.handler for f in resources.FUNCTIONS
               if ("dynamodb:Query", "table/surveys/index/by-customer") in _granted(synth, f.handler)}
    assert readers == {resources.API_HANDLER}


def test_comments_are_read_by_comprehend_in_aws_two_batches_at_a_time(synth: Template) -> None:
    for name, fn in synth.functions().items():
        assert fn["Properties"]["Environment"]["Variables"]["KOE_COMMENT_ANALYSER"] == "comprehend", name
    _, fn = _function_named(synth, "analyse_comments")
    (event,) = [ev["Properties"] for ev in fn["Properties"]["Events"].values() if ev["Type"] == "SQS"]
    assert event["ScalingConfig"] == {"MaximumConcurrency": resources.queue("comment-insight").max_concurrency} == {
        "MaximumConcurrency": 2}


def test_the_alert_queue_is_subscribed_to_the_alert_topic_with_the_sns_envelope(synth: Template) -> None:
    subscriptions = [v["Properties"] for v in synth.of_type("AWS::SNS::Subscription").values()
                     if v["Properties"]["Protocol"] == "sqs"]
    assert len(subscriptions) == len(resources.subscriptions())
    for name, topic in resources.subscriptions().items():
        queue_id, _ = synth.queue(name)
        topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, topic))
        (p,) = [s for s in subscriptions if s["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}]
        assert p["TopicArn"] == {"Ref": topic_id}
        assert p.get("RawMessageDelivery", False) is False          # the handler reads SNS's envelope
        assert p["FilterPolicy"] == resources.filter_policy(resources.queue(name))
        # The queue lets exactly that topic send to it.
        policies = [v["Properties"]["PolicyDocument"]["Statement"]
                    for v in synth.of_type("AWS::SQS::QueuePolicy").values()
                    if {"Ref": queue_id} in v["Properties"]["Queues"]]
        allow = [st for statements in policies for st in statements
                 if st.get("Principal") == {"Service": "sns.amazonaws.com"}]
        assert allow and allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": topic_id}


# cfn-lint 1.x no longer expands the SAM transform (it checks SAM resources against SAM schemas), so
# the template is also expanded with aws-sam-translator and the deployable result linted: that is
# where event source mappings, visibility vs. function timeouts, etc. are checked.
_EXPAND_SAM = """
import json, sys
from samtranslator.translator.transform import transform
class NoManagedPolicies:
    def load(self):
        return {}
print(json.dumps(transform(json.load(open(sys.argv[1])), {}, NoManagedPolicies())))
"""


@pytest.fixture(scope="module")
def expanded(synth: Template) -> Template:
    done = subprocess.run([str(INFRA_PY), "-c", _EXPAND_SAM, str(synth.path)],
                          env=_env(synth.path.parent), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    path = synth.path.with_suffix(".expanded.json")
    path.write_text(done.stdout)
    return Template(path)


def test_sam_expands_to_event_source_mappings(expanded: Template) -> None:
    mappings = list(expanded.of_type("AWS::Lambda::EventSourceMapping").values())
    intake_id, _ = expanded.queue("intake")
    sqs = [m["Properties"] for m in mappings
           if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [intake_id, "Arn"]}]
    assert len(sqs) == 1 and sqs[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    responses_id, _ = expanded.table("responses")
    stream = [m["Properties"] for m in mappings
              if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [responses_id, "StreamArn"]}]
    assert len(stream) == 1 and stream[0]["BisectBatchOnFunctionError"] is True
    assert not expanded.of_type("AWS::Serverless::Function")


@pytest.mark.parametrize("which", ["synthesized", "expanded"])
def test_cfn_lint_finds_no_error_or_warning(synth: Template, expanded: Template, which: str) -> None:
    path = synth.path if which == "synthesized" else expanded.path
    done = subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True,
                          timeout=300, check=False)
    # cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8 informational.
    assert done.returncode & (2 | 4) == 0, done.stdout + done.stderr


# --- email (SES) ----------------------------------------------------------------------------------

def _function_named(synth: Template, handler: str) -> tuple[str, dict[str, Any]]:
    entry = "app" if handler == resources.API_HANDLER else handler      # app.app: the API's function
    (hit,) = [(k, v) for k, v in synth.functions().items()
              if str(v["Properties"].get("Handler", "")).endswith(f".{entry}")]
    return hit


def test_ses_identity_and_configuration_set_report_to_the_ses_events_topic(synth: Template) -> None:
    spec = resources.EMAIL
    (identity_id, identity), = synth.of_type("AWS::SES::EmailIdentity").items()
    set_id, _ = synth.named("AWS::SES::ConfigurationSet", "Name", resources.physical(PREFIX, spec.name))
    assert identity["Properties"]["EmailIdentity"] == EMAIL_IDENTITY
    assert identity["Properties"]["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": set_id}}
    (destination,) = synth.of_type("AWS::SES::ConfigurationSetEventDestination").values()
    p = destination["Properties"]
    topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, spec.events_topic))
    assert p["ConfigurationSetName"] == {"Ref": set_id}
    assert p["EventDestination"]["Enabled"] is True
    assert sorted(p["EventDestination"]["MatchingEventTypes"]) == sorted(spec.events)
    assert p["EventDestination"]["SnsDestination"] == {"TopicARN": {"Ref": topic_id}}
    # SES may publish to the topic, for this account and this configuration set only.
    (policy,) = [v["Properties"] for v in synth.of_type("AWS::SNS::TopicPolicy").values()
                 if {"Ref": topic_id} in v["Properties"]["Topics"]]
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert (statement["Principal"], statement["Action"]) == ({"Service": "ses.amazonaws.com"}, "sns:Publish")
    condition = statement["Condition"]["StringEquals"]
    assert condition["AWS:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert {"Ref": set_id} in condition["AWS:SourceArn"]["Fn::Join"][1]


def test_on_ses_event_is_subscribed_to_the_ses_events_topic(synth: Template, expanded: Template) -> None:
    topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName",
                              resources.physical(PREFIX, resources.topic_consumed_by("on_ses_event").name))
    fn_id, fn = _function_named(synth, "on_ses_event")
    (event,) = fn["Properties"]["Events"].values()
    assert (event["Type"], event["Properties"]["Topic"]) == ("SNS", {"Ref": topic_id})
    # chalice package -> SAM -> the subscription and the permission SNS invokes the function with.
    subscriptions = [v["Properties"] for v in expanded.of_type("AWS::SNS::Subscription").values()
                     if v["Properties"]["TopicArn"] == {"Ref": topic_id}]
    assert len(subscriptions) == 1 and subscriptions[0]["Protocol"] == "lambda"
    assert subscriptions[0]["Endpoint"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    permissions = [v["Properties"] for v in expanded.of_type("AWS::Lambda::Permission").values()
                   if v["Properties"].get("SourceArn") == {"Ref": topic_id}]
    assert len(permissions) == 1 and permissions[0]["Principal"] == "sns.amazonaws.com"


def test_the_functions_are_told_the_sender_and_the_configuration_set(synth: Template) -> None:
    set_id, _ = synth.named("AWS::SES::ConfigurationSet", "Name", resources.physical(PREFIX, resources.EMAIL.name))
    for fn in synth.functions().values():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["KOE_EMAIL_FROM"] == SENDER
        assert variables[resources.EMAIL.env] == {"Ref": set_id}
        assert not [var for var in variables if resources.is_local(var)]


@pytest.mark.parametrize("handler", [f.handler for f in resources.FUNCTIONS if resources.SENDS_EMAIL in f.grants])
def test_the_role_sends_email_only_from_koe_through_its_identity_and_configuration_set(
        synth: Template, handler: str) -> None:
    _, role = _role_of(synth, handler)
    statements = _statements(role)
    sending = [s for s in statements if any(a.startswith("ses:") for a in _as_list(s["Action"]))]
    assert len(sending) == 1
    (statement,) = sending
    assert sorted(_as_list(statement["Action"])) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": SENDER}}
    identity_id = next(iter(synth.of_type("AWS::SES::EmailIdentity")))
    set_id, _ = synth.named("AWS::SES::ConfigurationSet", "Name", resources.physical(PREFIX, resources.EMAIL.name))
    arns = [r["Fn::Join"][1] for r in _as_list(statement["Resource"])]
    assert len(arns) == 2
    assert [":identity/", {"Ref": identity_id}] == arns[0][-2:]
    assert [":configuration-set/", {"Ref": set_id}] == arns[1][-2:]
    assert all("*" not in part for arn in arns for part in arn if isinstance(part, str))


def test_without_an_email_identity_nothing_of_ses_is_built_and_no_email_is_sent(tmp_path: Path) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}")
    assert done.returncode == 0, done.stderr
    template = Template(tmp_path / f"{STAGE}.template.json")
    assert not [t for t in (v["Type"] for v in template.resources.values()) if t.startswith("AWS::SES::")]
    actions = [a for role in template.of_type("AWS::IAM::Role").values()
               for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]
               for a in _as_list(s["Action"])]
    assert not [a for a in actions if a.startswith("ses:")]
    for fn in template.functions().values():
        assert "KOE_EMAIL_FROM" not in fn["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("context", [("email_identity=not a domain",),
                                     ("email_identity=example.jp", "email_from=survey@example.com"),
                                     ("email_from=survey@example.jp",)])
def test_synth_refuses_a_wrong_email_identity(tmp_path: Path, context: tuple[str, ...]) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}", *context)
    assert done.returncode != 0
    assert "email_" in done.stderr


def test_synth_refuses_a_missing_public_base_url(tmp_path: Path) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}")
    assert done.returncode != 0
    assert "public_base_url" in done.stderr


# --- the CX team: Cognito users and the authorizer on every CX route --------------------------------

# The CX team's routes (app.py): each must be in the registry behind the authorizer, never operations'.
CX_PATHS = ("/v1/cases", "/v1/case-codes", "/v1/case-stats", "/v1/comments", "/v1/responses.csv")


def _edge_routes() -> dict[tuple[str, str], frozenset[Any]]:
    """app.py's Edge registry: every role-protected route and the roles it is open to."""
    import app as app_module

    return dict(app_module.edge.protected_routes())


def test_the_cx_user_pool_is_admin_made_email_signed_in_strongly_protected_and_retained(synth: Template) -> None:
    (pool_id, pool), = synth.of_type("AWS::Cognito::UserPool").items()
    p = pool["Properties"]
    assert (pool["DeletionPolicy"], pool["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")  # as the tables
    assert p["DeletionProtection"] == "ACTIVE"
    assert p["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True      # no self sign-up
    assert p["UsernameAttributes"] == ["email"] and p["AutoVerifiedAttributes"] == ["email"]
    password = p["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(password[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    assert (p["MfaConfiguration"], p["EnabledMfas"]) == ("ON", ["SOFTWARE_TOKEN_MFA"])
    assert p["AccountRecoverySetting"]["RecoveryMechanisms"] == [{"Name": "verified_email", "Priority": 1}]
    custom = {a["Name"]: a for a in p["Schema"] if a.get("AttributeDataType") == "String" and a["Name"] != "email"}
    assert set(custom) == {"branch", "agent_id"}
    assert all(a["Mutable"] is True for a in custom.values())


def test_the_groups_are_the_cx_roles_and_never_operations(synth: Template) -> None:
    pool_id = next(iter(synth.of_type("AWS::Cognito::UserPool")))
    groups = {g["Properties"]["GroupName"]: g["Properties"]
              for g in synth.of_type("AWS::Cognito::UserPoolGroup").values()}
    assert set(groups) == {"cx_admin", "branch_manager", "agent"}
    assert all(g["UserPoolId"] == {"Ref": pool_id} for g in groups.values())
    assert groups["cx_admin"]["Precedence"] < groups["branch_manager"]["Precedence"] < groups["agent"]["Precedence"]


def test_the_dashboard_client_uses_the_code_flow_without_a_secret_and_cannot_write_its_scope(synth: Template) -> None:
    (client,) = synth.of_type("AWS::Cognito::UserPoolClient").values()
    p = client["Properties"]
    assert p["GenerateSecret"] is False
    assert p["AllowedOAuthFlows"] == ["code"] and p["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in p["AllowedOAuthScopes"] and p["SupportedIdentityProviders"] == ["COGNITO"]
    assert p["CallbackURLs"] == [f"{PUBLIC}/dashboard"]
    assert (p["IdTokenValidity"], p["TokenValidityUnits"]["IdToken"]) == (60, "minutes")
    assert {"custom:branch", "custom:agent_id"} <= set(p["ReadAttributes"])
    # The dashboard has Cognito check its session on every page (GetUser needs this scope).
    assert "aws.cognito.signin.user.admin" in p["AllowedOAuthScopes"]
    assert not [a for a in p["WriteAttributes"] if a.startswith("custom:")]     # nobody widens their own scope


def test_the_hosted_ui_has_a_domain_and_the_stack_says_where_to_sign_in(synth: Template) -> None:
    pool_id = next(iter(synth.of_type("AWS::Cognito::UserPool")))
    (domain,) = synth.of_type("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"] == {"Domain": f"koe-{STAGE}", "UserPoolId": {"Ref": pool_id}}
    assert {"CxUserPoolId", "CxUserPoolClientId", "CxSignInUrl"} <= set(synth.doc["Outputs"])


def test_the_functions_know_the_hosted_ui_and_the_dashboard_client(synth: Template) -> None:
    (client_id, _), = synth.of_type("AWS::Cognito::UserPoolClient").items()
    (domain_id, _), = synth.of_type("AWS::Cognito::UserPoolDomain").items()
    for name, fn in synth.functions().items():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["KOE_COGNITO_CLIENT_ID"] == {"Ref": client_id}, name
        assert domain_id in json.dumps(variables["KOE_COGNITO_DOMAIN_URL"]), name
    # GetUser takes the user's token as its credential: no function is granted any cognito-idp action.
    assert "cognito-idp:" not in json.dumps([r["Properties"] for r in synth.of_type("AWS::IAM::Role").values()])


def test_every_cx_route_is_behind_the_cognito_authorizer_and_every_operations_route_needs_a_plans_key(
        synth: Template) -> None:
    pool_id = next(iter(synth.of_type("AWS::Cognito::UserPool")))
    swagger = synth.resources["RestAPI"]["Properties"]["DefinitionBody"]
    assert swagger["securityDefinitions"]["koeCxUsers"] == {
        "type": "apiKey", "name": "Authorization", "in": "header",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
        "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools",
                                           "providerARNs": [{"Fn::GetAtt": [pool_id, "Arn"]}]}}
    # The list comes from app.py's Edge registry: a CX route added later is checked here too.
    routes = _edge_routes()
    operations = {route for route, roles in routes.items() if "operations" in roles}
    assert operations >= {("/v1/events", "POST"), ("/v1/outcomes", "GET")}
    assert ("/v1/scores", "GET") not in operations          # the CX team's, read by the dashboard
    cx = {route for route in routes if route not in operations}
    assert [path for path, _ in cx if path.startswith(CX_PATHS)], (
        f"no CX route under {CX_PATHS} in app.py's registry: nothing here shows the authorizer attached")
    assert not [path for path, _ in operations if path.startswith(CX_PATHS)], "a CX path is open to the API key"
    for path, method in sorted(routes):
        operation = swagger["paths"][path][method.lower()]
        if (path, method) in operations:
            assert operation.get("security") == [{"koeOperationsKey": []}], f"{method} {path}: the API key only"
        else:
            assert operation.get("security") == [{"koeCxUsers": []}], f"{method} {path} lacks the Cognito authorizer"
    # ...and nothing else (the public webhooks check their own proof) carries it.
    secured = {(path, method.upper()) for path, operations_ in swagger["paths"].items()
               for method, operation in operations_.items() if isinstance(operation, dict) and "security" in operation}
    assert secured == set(routes)
    assert swagger["securityDefinitions"]["koeOperationsKey"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    # The authorizer's own 401 answers in koe's error shape.
    unauthorized = swagger["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    assert unauthorized["statusCode"] == "401"
    assert json.loads(unauthorized["responseTemplates"]["application/json"])["code"] == "unauthenticated"


def test_what_api_gateway_answers_itself_is_in_koes_error_shape_and_never_cached(synth: Template) -> None:
    from chalicelib.http import NO_ROUTE

    responses = synth.resources["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    # A path (or a method) the API does not have: API Gateway's 403 "Missing Authentication Token"
    # becomes koe's 404, as the local stack answers a path no route has.
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert json.loads(missing["responseTemplates"]["application/json"]) == dict(NO_ROUTE)
    # Every other refusal or failure of the gateway's own keeps its status, in the same shape.
    for kind, code in (("DEFAULT_4XX", "refused_by_gateway"), ("DEFAULT_5XX", "gateway_error")):
        template = responses[kind]["responseTemplates"]["application/json"]
        assert "statusCode" not in responses[kind]
        assert json.loads(template.replace("$context.error.messageString", '"Limit Exceeded"')) == {
            "error": "Limit Exceeded", "code": code}
    for kind, response in responses.items():
        assert response["responseParameters"]["gatewayresponse.header.Cache-Control"] == "'no-store'", kind


def test_no_function_is_told_the_local_token_secret(synth: Template) -> None:
    for name, fn in synth.functions().items():
        assert resources.LOCAL_TOKEN_SECRET_ENV not in fn["Properties"]["Environment"]["Variables"], name
    assert resources.LOCAL_TOKEN_SECRET_ENV not in json.dumps(synth.doc)


@pytest.mark.parametrize("context, says", [
    ('app_env={"KOE_LOCAL_TOKEN_SECRET": "' + "x" * 40 + '"}', "KOE_LOCAL_TOKEN_SECRET"),
    ("auth_domain_prefix=Not_Valid", "auth_domain_prefix"),
    ("auth_domain_prefix=koe-cognito", "auth_domain_prefix"),
])
def test_synth_refuses_the_local_token_secret_and_a_wrong_hosted_ui_prefix(tmp_path: Path, context: str,
                                                                          says: str) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}", context)
    assert done.returncode != 0
    assert says in done.stderr


# --- a first deploy that cannot strand resources: removal policies and deletion protection -----------

# Properties that give a resource a physical name of our choosing (a second resource with that name
# cannot be created while the first exists), by CloudFormation property name, across resource types.
NAME_PROPERTIES = ("TableName", "UserPoolName", "QueueName", "TopicName", "BucketName", "LogGroupName",
                   "RoleName", "FunctionName", "LayerName", "AlarmName", "Name", "Domain", "EmailIdentity",
                   "ConfigurationSetName", "ClientName", "GroupName", "StageName", "PolicyName",
                   "ManagedPolicyName", "SecretName", "StreamName", "RuleName")
# A DeletionPolicy that deletes what the stack operation that created the resource made, when that
# operation rolls back. No DeletionPolicy at all is CloudFormation's Delete.
GONE_ON_ROLLBACK = (None, "Delete", "RetainExceptOnCreate")


def _named(template: Template) -> dict[str, dict[str, Any]]:
    """Resources with a physical name of our choosing (not one CloudFormation generates)."""
    return {k: v for k, v in template.resources.items()
            if any(prop in v.get("Properties", {}) for prop in NAME_PROPERTIES)
            and v["Type"] != "AWS::Lambda::Permission"}   # FunctionName there names the function it permits


def _data(template: Template) -> dict[str, dict[str, Any]]:
    """Where koe's data lives: the tables of resources.py and the CX team's user pool."""
    tables = dict(template.table(spec.name) for spec in resources.TABLES)
    return {**tables, **template.of_type("AWS::Cognito::UserPool"), **template.of_type("AWS::S3::Bucket")}


@pytest.mark.parametrize("which", ["synthesized", "expanded"])
def test_no_resource_is_ever_retained_by_a_rolled_back_first_deploy(synth: Template, expanded: Template,
                                                                   which: str) -> None:
    template = synth if which == "synthesized" else expanded
    retained = {k: v["DeletionPolicy"] for k, v in template.resources.items()
                if v.get("DeletionPolicy") not in GONE_ON_ROLLBACK}
    assert retained == {}


def test_every_named_resource_is_deleted_when_the_first_deploy_rolls_back(expanded: Template) -> None:
    named = _named(expanded)
    # Not vacuous: every table, queue and topic of resources.py, the user pool, the bus, the log groups.
    expected = {expanded.table(t.name)[0] for t in resources.TABLES} | {
        expanded.queue(q.name)[0] for q in resources.QUEUES} | {
        expanded.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, t.name))[0]
        for t in resources.TOPICS} | set(expanded.of_type("AWS::Cognito::UserPool")) | set(
        expanded.of_type("AWS::Events::EventBus")) | set(expanded.of_type("AWS::Logs::LogGroup"))
    assert expected <= set(named)
    # one per function, and the API's access log
    assert len(expanded.of_type("AWS::Logs::LogGroup")) == len(expanded.of_type("AWS::Lambda::Function")) + 1
    blocking = {k: (v["Type"], v.get("DeletionPolicy")) for k, v in named.items()
                if v.get("DeletionPolicy") not in GONE_ON_ROLLBACK}
    assert blocking == {}


def test_functions_and_roles_have_names_cloudformation_generates(expanded: Template) -> None:
    """A retry after a rollback never meets a function or role of the failed attempt by name."""
    for kind, prop in (("AWS::Lambda::Function", "FunctionName"), ("AWS::IAM::Role", "RoleName")):
        resources_of_kind = expanded.of_type(kind)
        assert resources_of_kind, kind
        assert not [k for k, v in resources_of_kind.items() if prop in v["Properties"]], kind


def test_data_survives_updates_and_deletes_and_is_protected_from_deletion(synth: Template) -> None:
    data = _data(synth)
    assert len(data) == len(resources.TABLES) + 2          # the tables, the user pool, the configuration bucket
    for logical, res in data.items():
        assert (res["DeletionPolicy"], res["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain"), logical
    for spec in resources.TABLES:
        _, res = synth.table(spec.name)
        assert res["Properties"]["DeletionProtectionEnabled"] is True, spec.name
    (pool,) = synth.of_type("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"
    # Only data is kept; queues, topics, the bus, alarms and log groups go with the stack.
    kept = {k for k, v in synth.resources.items() if v.get("DeletionPolicy") == "RetainExceptOnCreate"}
    # ...and API Gateway's account-wide logging role: the account's setting may still name it.
    (logs_role,) = [k for k in synth.of_type("AWS::IAM::Role") if k.startswith("ApiGatewayLogsRole")]
    assert kept == set(data) | {logs_role}


def test_a_new_stage_can_be_created_unprotected_so_a_failed_first_deploy_rolls_back_whole(tmp_path: Path) -> None:
    """CloudFormation's rollback cannot delete a table or a user pool under deletion protection (the
    rollback fails and the stack is stuck in ROLLBACK_FAILED): the first deploy of a stage is made
    with deletion_protection=false, the next one turns it on (infra/README.md)."""
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}", "deletion_protection=false")
    assert done.returncode == 0, done.stderr
    template = Template(tmp_path / f"{STAGE}.template.json")
    for spec in resources.TABLES:
        _, res = template.table(spec.name)
        assert res["Properties"].get("DeletionProtectionEnabled", False) is False, spec.name
        assert res["DeletionPolicy"] == "RetainExceptOnCreate", spec.name
    (pool,) = template.of_type("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["DeletionProtection"] == "INACTIVE"
    assert pool["DeletionPolicy"] == "RetainExceptOnCreate"
    warnings = [entry["data"] for entries in json.loads((tmp_path / f"{STAGE}.metadata.json").read_text()).values()
                for entry in entries if entry["type"] == "aws:cdk:warning"]
    assert [w for w in warnings if "deletion_protection=false" in w]     # the CDK CLI shows it at deploy


def test_synth_refuses_a_wrong_deletion_protection(tmp_path: Path) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}", "deletion_protection=maybe")
    assert done.returncode != 0
    assert "deletion_protection" in done.stderr


# --- the first deploy of a stage: sending paused until the public URL is known (issue 15, item 4) ------

SENDING = {"dispatch", "tick"}      # the handlers whose triggers text or email customers


def _sending_triggers(template: Template) -> dict[str, list[Any]]:
    """handler -> the `Enabled` of each of its queue and schedule triggers (None: not set)."""
    found: dict[str, list[Any]] = {}
    for fn in template.functions().values():
        handler = str(fn["Properties"]["Handler"]).rsplit(".", 1)[-1]
        for ev in (fn["Properties"].get("Events") or {}).values():
            if ev["Type"] in ("SQS", "Schedule"):
                found.setdefault(handler, []).append(ev["Properties"].get("Enabled"))
    return found


@pytest.fixture(scope="module")
def pending(tmp_path_factory: pytest.TempPathFactory) -> Template:
    outdir = tmp_path_factory.mktemp("cdk.out.pending")
    done = _run_synth(outdir, f"stage={STAGE}", "public_base_url=pending")
    assert done.returncode == 0, f"synth failed:\n{done.stdout}\n{done.stderr}"
    return Template(outdir / f"{STAGE}.template.json")


def test_a_first_deploy_without_a_public_url_sends_nothing_and_says_so(pending: Template) -> None:
    triggers = _sending_triggers(pending)
    # dispatch's intake queue and the tick's schedule are there, switched off; nothing else sends
    assert set(triggers) >= SENDING and all(triggers[h] == [False] for h in SENDING), triggers
    assert all(enabled in (None, True) for h, values in triggers.items() if h not in SENDING for enabled in values)
    environments = [fn["Properties"].get("Environment", {}).get("Variables", {})
                    for fn in pending.functions().values()]
    globals_env = pending.doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    urls = {env.get("KOE_PUBLIC_BASE_URL") for env in [globals_env, *environments]} - {None}
    assert urls == {"https://pending.invalid/api"}        # RFC 2606: a name that can never resolve
    assert pending.doc["Outputs"]["SendingPaused"]["Value"] == "true"
    assert "EndpointURL" in pending.doc["Outputs"]        # what the second deploy takes


def test_a_deploy_with_the_public_url_sends(synth: Template) -> None:
    triggers = _sending_triggers(synth)
    assert all(triggers[h] == [True] for h in SENDING), triggers
    assert synth.doc["Outputs"]["SendingPaused"]["Value"] == "false"


# --- operators' alarms and dashboard ----------------------------------------------------------------
# Every alarm goes to the operators' topic (never to cx-alerts, whose queue is the CX team's); the
# expected sets come from the template's own functions, queues and tables and from resources.py.

OPS_TOPIC = resources.physical(PREFIX, "ops-alarms")
# koe's own metrics (chalicelib.observability.count) an operator must hear about.
KOE_FAILURE_METRICS = {"WebhookForged", "SurveyFailed", "ScheduleJobFailed", "AlertUnrouted",
                       "AlertUndeliverable", "RecordDeadLettered"}


def _alarms(synth: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in synth.of_type("AWS::CloudWatch::Alarm").items()}


def _alarm_metrics(p: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every plain metric an alarm reads."""
    if "MetricName" in p:
        return [(p["Namespace"], p["MetricName"], {d["Name"]: d["Value"] for d in p.get("Dimensions", [])})]
    found = []
    for query in p.get("Metrics", []):
        if "MetricStat" in query:
            m = query["MetricStat"]["Metric"]
            found.append((m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}))
    return found


def _alarmed(synth: Template, namespace: str, metric: str, dimension: str, value: Any) -> list[dict[str, Any]]:
    return [p for p in _alarms(synth).values()
            if any((ns, name) == (namespace, metric) and dims.get(dimension) == value
                   for ns, name, dims in _alarm_metrics(p))]


def _expressions(p: dict[str, Any]) -> list[str]:
    return [q["Expression"] for q in p.get("Metrics", []) if "Expression" in q]


def _ops_topic_id(synth: Template) -> str:
    topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName", OPS_TOPIC)
    return topic_id


def test_every_alarm_tells_the_operators_topic_both_ways_and_never_the_cx_topic(synth: Template) -> None:
    ops = {"Ref": _ops_topic_id(synth)}
    cx_id, _ = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, "cx-alerts"))
    alarms = _alarms(synth)
    assert len(alarms) > 40
    names = [p["AlarmName"] for p in alarms.values()]
    assert len(set(names)) == len(names)
    for p in alarms.values():
        assert p["AlarmName"].startswith(PREFIX), p["AlarmName"]
        assert p["AlarmActions"] == [ops] and p["OKActions"] == [ops], p["AlarmName"]
        assert len(p.get("AlarmDescription", "")) > 40, p["AlarmName"]
        assert "TreatMissingData" in p, p["AlarmName"]
        assert cx_id not in json.dumps(p), p["AlarmName"]


def test_every_function_has_its_errors_throttles_and_duration_alarms(synth: Template) -> None:
    functions = synth.functions()
    assert len(functions) >= 7
    for fn_id, fn in functions.items():
        ref = {"Ref": fn_id}
        for metric in ("Errors", "Throttles"):
            (p,) = _alarmed(synth, "AWS/Lambda", metric, "FunctionName", ref)
            assert (p["Statistic"], p["Threshold"], p["ComparisonOperator"], p["TreatMissingData"]) == (
                "Sum", 1, "GreaterThanOrEqualToThreshold", "notBreaching"), (fn_id, metric)
        (p,) = _alarmed(synth, "AWS/Lambda", "Duration", "FunctionName", ref)
        timeout_ms = fn["Properties"]["Timeout"] * 1000
        assert p["ExtendedStatistic"] == "p99"
        assert timeout_ms * 0.5 <= p["Threshold"] < timeout_ms, fn_id


def test_the_stream_consumers_iterator_age_is_alarmed(synth: Template) -> None:
    consumers = set(resources.stream_consumers().values())
    assert consumers
    for handler in consumers:
        fn_id, _ = _function_named(synth, handler)
        (p,) = _alarmed(synth, "AWS/Lambda", "IteratorAge", "FunctionName", {"Ref": fn_id})
        assert p["Statistic"] == "Maximum"
        assert 0 < p["Threshold"] < 6 * 3600 * 1000      # well before records age out of the stream


def test_every_queue_has_an_age_alarm_and_every_dead_letter_queue_a_not_empty_alarm(synth: Template) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    # resources.py's queues, and the stack's own dead-letter queues of what AWS delivers (<source>-dlq)
    assert {resources.physical(PREFIX, q.name) for q in resources.QUEUES} < {
        q["Properties"]["QueueName"] for q in queues.values()}
    for queue_id, queue in queues.items():
        (p,) = _alarmed(synth, "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName",
                        {"Fn::GetAtt": [queue_id, "QueueName"]})
        assert 0 < p["Threshold"] < queue["Properties"]["MessageRetentionPeriod"], queue_id
    streamed = {t.name + "-stream-dlq" for t in resources.TABLES if t.stream}
    dlqs = {q.dead_letter for q in resources.QUEUES if q.dead_letter} | (streamed & {q.name for q in resources.QUEUES})
    declared = {q.name for q in resources.QUEUES}
    of_sources = {str(q["Properties"]["QueueName"]).removeprefix(PREFIX) for q in queues.values()} - declared
    assert len(dlqs) >= 4 and of_sources and all(name.endswith("-dlq") for name in of_sources), of_sources
    for dlq in dlqs | of_sources:
        queue_id, _ = synth.queue(dlq)
        (p,) = _alarmed(synth, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                        {"Fn::GetAtt": [queue_id, "QueueName"]})
        assert (p["Threshold"], p["ComparisonOperator"], p["AlarmName"]) == (
            0, "GreaterThanThreshold", resources.physical(PREFIX, f"{dlq}-not-empty"))


def test_the_api_alarms_on_5xx_and_p99_latency_by_its_stage_own_name(synth: Template) -> None:
    title = synth.resources["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    assert STAGE in title                   # API Gateway's metrics know an API by its name only
    five, = _alarmed(synth, "AWS/ApiGateway", "5XXError", "ApiName", title)
    latency, = _alarmed(synth, "AWS/ApiGateway", "Latency", "ApiName", title)
    assert five["Statistic"] == "Sum" and latency["ExtendedStatistic"] == "p99"
    stage = synth.resources["RestAPI"]["Properties"]["StageName"]
    assert _alarm_metrics(five)[0][2]["Stage"] == _alarm_metrics(latency)[0][2]["Stage"] == stage


def test_every_table_alarms_on_throttled_requests(synth: Template) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert len(tables) == len(resources.TABLES)
    expressions = [e for p in _alarms(synth).values() for e in _expressions(p)]
    for table in tables.values():
        name = table["Properties"]["TableName"]
        hits = [e for e in expressions if "ThrottledRequests" in e and f"TableName = '{name}'" in e]
        assert len(hits) == 1, name


def test_koes_own_failure_metrics_are_alarmed_and_each_is_one_chalicelib_emits(synth: Template) -> None:
    emitted = set()
    for path in (REPO / "chalicelib").rglob("*.py"):
        emitted |= set(re.findall(r'\bcount\(\s*"(\w+)"', path.read_text()))
    alarmed = set()
    for p in _alarms(synth).values():
        for expression in _expressions(p):
            match = re.fullmatch(r"SELECT SUM\((\w+)\) FROM koe", expression)
            if match:
                alarmed.add(match.group(1))
    assert KOE_FAILURE_METRICS <= alarmed
    assert alarmed <= emitted, alarmed - emitted


def test_a_rejected_china_sms_template_alarms_at_once(synth: Template) -> None:
    found = [p for p in _alarms(synth).values()
             if any(e == "SELECT SUM(CnSmsTemplateRejected) FROM koe" for e in _expressions(p))]
    assert len(found) == 1 and found[0]["Threshold"] == 1, found
    assert "KOE_CN_SMS_TEMPLATES" in found[0]["AlarmDescription"]


def test_ses_reputation_is_alarmed_when_koe_sends_email(synth: Template) -> None:
    for metric in ("Reputation.ComplaintRate", "Reputation.BounceRate"):
        (p,) = [p for p in _alarms(synth).values() if p.get("MetricName") == metric]
        assert p["Namespace"] == "AWS/SES" and 0 < p["Threshold"] < 0.1


def test_the_operators_topic_is_encrypted_by_a_key_cloudwatch_may_use_and_refuses_plain_http(
        synth: Template) -> None:
    topic_id = _ops_topic_id(synth)
    key_ref = synth.resources[topic_id]["Properties"]["KmsMasterKeyId"]
    key_id = key_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in key_ref else key_ref["Ref"]
    key = synth.resources[key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [st for st in key["Properties"]["KeyPolicy"]["Statement"]
                  if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and set(_as_list(cloudwatch[0]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # for this topic only: SNS's encryption context names it
    context = cloudwatch[0]["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"]
    assert context["Fn::Join"][1][-1] == f":{resources.physical(PREFIX, 'ops-alarms')}"
    (policy,) = [p["Properties"] for p in synth.of_type("AWS::SNS::TopicPolicy").values()
                 if p["Properties"]["Topics"] == [{"Ref": topic_id}]]
    statements = policy["PolicyDocument"]["Statement"]
    deny = [st for st in statements if st["Effect"] == "Deny"]
    assert len(deny) == 1 and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Principal"] in ("*", {"AWS": "*"})
    (publish,) = [st for st in statements if st["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == "sns:Publish"
    assert "aws:SourceAccount" in publish["Condition"]["StringEquals"]
    assert not [s for s in synth.of_type("AWS::SNS::Subscription").values()
                if s["Properties"]["TopicArn"] == {"Ref": topic_id}]       # no ops_email given


def test_the_dashboard_shows_every_alarm_and_every_function(synth: Template) -> None:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == resources.physical(PREFIX, "operations")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id in _alarms(synth):
        assert json.dumps({"Fn::GetAtt": [alarm_id, "Arn"]}) in body, alarm_id
    for fn_id in synth.functions():
        assert json.dumps({"Ref": fn_id}) in body, fn_id


def test_ops_email_subscribes_to_the_operators_topic_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    done = _run_synth(tmp_path / "bad", f"stage={STAGE}", f"public_base_url={PUBLIC}", "ops_email=not-an-address")
    assert done.returncode != 0 and "ops_email" in done.stderr
    done = _run_synth(tmp_path / "ok", f"stage={STAGE}", f"public_base_url={PUBLIC}", "ops_email=ops@example.com")
    assert done.returncode == 0, done.stderr
    template = Template(tmp_path / "ok" / f"{STAGE}.template.json")
    topic_id = _ops_topic_id(template)
    subs = [s["Properties"] for s in template.of_type("AWS::SNS::Subscription").values()
            if s["Properties"]["TopicArn"] == {"Ref": topic_id}]
    assert subs == [{"Protocol": "email", "TopicArn": {"Ref": topic_id}, "Endpoint": "ops@example.com"}]


# --- no silent drop: dead letters of what AWS delivers to koe; the CRM's queue; koe's topics ---------

DAY_S = 24 * 3600


def _source_dead_letters() -> dict[str, tuple[str, str]]:
    """The dead-letter queue of each source AWS delivers from (infra/stack.py names it <source>-dlq):
    the EventBridge rules (to their queue), the topics with a Lambda consumer, the schedule."""
    found = {f"{rule.name}-dlq": ("rule", rule.name) for rule in resources.RULES}
    found.update({f"{topic}-dlq": ("topic", topic) for topic in resources.topic_consumers()})
    found.update({f"{topic}-dlq": ("subscription", topic) for topic in resources.subscriptions().values()})
    found[f"{resources.SCHEDULE_CONSUMER}-dlq"] = ("schedule", resources.SCHEDULE_CONSUMER)
    return found


def _queue_policy(synth: Template, queue_id: str) -> list[dict[str, Any]]:
    return [st for v in synth.of_type("AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in v["Properties"]["Queues"] for st in v["Properties"]["PolicyDocument"]["Statement"]]


def _tls_only(statements: list[dict[str, Any]], action: str) -> bool:
    return any(st["Effect"] == "Deny" and action in _as_list(st["Action"])
               and st["Principal"] in ("*", {"AWS": "*"})
               and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for st in statements)


def _invoke_config(expanded: Template, fn_id: str) -> dict[str, Any]:
    (config,) = [v["Properties"] for v in expanded.of_type("AWS::Lambda::EventInvokeConfig").values()
                 if v["Properties"]["FunctionName"] == {"Ref": fn_id}]
    return config


def test_each_delivery_source_has_a_dead_letter_queue_kept_14_days_encrypted_and_tls_only(synth: Template) -> None:
    assert len(_source_dead_letters()) == (len(resources.RULES) + len(resources.topic_consumers())
                                           + len(set(resources.subscriptions().values())) + 1)
    for name in _source_dead_letters():
        queue_id, queue = synth.queue(name)
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * DAY_S, name
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
        assert "RedrivePolicy" not in queue["Properties"], name
        assert _tls_only(_queue_policy(synth, queue_id), "sqs:*"), name


def test_each_rule_target_retries_for_a_day_then_dead_letters(synth: Template) -> None:
    for name, (kind, rule_name) in _source_dead_letters().items():
        if kind != "rule":
            continue
        _, rule = synth.named("AWS::Events::Rule", "Name", resources.physical(PREFIX, rule_name))
        (target,) = rule["Properties"]["Targets"]
        dlq_id, _ = synth.queue(name)
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": DAY_S}


def test_ses_feedback_undelivered_or_failed_lands_in_the_topic_dead_letter_queue(
        synth: Template, expanded: Template) -> None:
    for topic, handler in resources.topic_consumers().items():
        topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, topic))
        dlq = {"Fn::GetAtt": [synth.queue(f"{topic}-dlq")[0], "Arn"]}
        fn_id, _ = _function_named(synth, handler)
        # SNS could not invoke the function (its retries over 23 days, or a refusal): the subscription's redrive.
        (subscription,) = [v["Properties"] for v in expanded.of_type("AWS::SNS::Subscription").values()
                           if v["Properties"]["TopicArn"] == {"Ref": topic_id}]
        assert subscription["Endpoint"] == {"Fn::GetAtt": [fn_id, "Arn"]}
        assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": dlq}
        # The function failed its async retries: Lambda's on-failure destination.
        config = _invoke_config(expanded, fn_id)
        assert config["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}
        assert config["MaximumRetryAttempts"] == 2 and config["MaximumEventAgeInSeconds"] == 6 * 3600


def test_the_tick_dead_letters_its_schedule_target_and_its_failed_invocations_without_retrying_them(
        synth: Template, expanded: Template) -> None:
    handler = resources.SCHEDULE_CONSUMER
    dlq = {"Fn::GetAtt": [synth.queue(f"{handler}-dlq")[0], "Arn"]}
    fn_id, _ = _function_named(synth, handler)
    (rule,) = [v["Properties"] for v in expanded.of_type("AWS::Events::Rule").values()
               if "ScheduleExpression" in v["Properties"]]
    assert rule["Name"] == resources.physical(PREFIX, handler)
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": dlq}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}
    config = _invoke_config(expanded, fn_id)
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}
    # The next tick, a minute later, redoes what is due: a failed one is recorded, never retried.
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 60)


def test_each_dead_letter_queue_admits_only_its_source_and_each_function_only_its_own_failures(
        synth: Template, expanded: Template) -> None:
    for name, (kind, source) in _source_dead_letters().items():
        queue_id, _ = synth.queue(name)
        (allow,) = [st for st in _queue_policy(synth, queue_id) if st["Effect"] == "Allow"]
        assert _as_list(allow["Action"]) == ["sqs:SendMessage"], name
        assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}, name
        source_arn = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
        if kind == "rule":
            rule_id, _ = synth.named("AWS::Events::Rule", "Name", resources.physical(PREFIX, source))
            assert (allow["Principal"], source_arn) == ({"Service": "events.amazonaws.com"},
                                                        {"Fn::GetAtt": [rule_id, "Arn"]}), name
        elif kind in ("topic", "subscription"):
            topic_id, _ = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, source))
            assert (allow["Principal"], source_arn) == ({"Service": "sns.amazonaws.com"}, {"Ref": topic_id}), name
        else:
            assert allow["Principal"] == {"Service": "events.amazonaws.com"}, name
            assert source_arn["Fn::Join"][1][-1] == f":rule/{resources.physical(PREFIX, source)}", name
        if kind not in ("rule", "subscription"):
            # Lambda sends the on-failure record as the function's role: that role, and no other, may.
            handler = source if kind == "schedule" else resources.topic_consumers()[source]
            role_id, role = _role_of(synth, handler)
            (grant,) = [st for st in _statements(role) if {"Fn::GetAtt": [queue_id, "Arn"]} in _as_list(st["Resource"])]
            assert _as_list(grant["Action"]) == ["sqs:SendMessage"], name
            others = [r for k, r in synth.of_type("AWS::IAM::Role").items() if k != role_id]
            assert all(queue_id not in json.dumps(_statements(r)) for r in others), name


def test_a_queue_read_outside_the_stack_keeps_its_messages_as_long_as_sqs_allows(synth: Template) -> None:
    dead_letters = {q.dead_letter for q in resources.QUEUES if q.dead_letter} | {
        f"{t.name}-stream-dlq" for t in resources.TABLES if t.stream}
    outside = [q.name for q in resources.QUEUES if q.consumer is None and q.name not in dead_letters]
    assert outside == ["follow-up"]             # the CX team's CRM reads it (docs/operations.md)
    for name in outside:
        _, queue = synth.queue(name)
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * DAY_S, name
    # The queues koe consumes itself keep SQS's default.
    _, intake = synth.queue(resources.consumed_by("dispatch").name)
    assert intake["Properties"]["MessageRetentionPeriod"] == 4 * DAY_S


def test_every_topic_is_tls_only_and_encrypted_with_a_key_its_aws_publishers_may_use(synth: Template) -> None:
    (key_id, key), = synth.of_type("AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    # Who publishes besides koe's roles: SES to its events topic (CloudWatch alarms go to the operators'
    # topic, encrypted with the same key: checked with it below).
    aws_publishers = {resources.EMAIL.events_topic: "ses.amazonaws.com"}
    for spec in resources.TOPICS:
        topic_id, topic = synth.named("AWS::SNS::Topic", "TopicName", resources.physical(PREFIX, spec.name))
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}, spec.name
        statements = [st for v in synth.of_type("AWS::SNS::TopicPolicy").values()
                      if {"Ref": topic_id} in v["Properties"]["Topics"]
                      for st in v["Properties"]["PolicyDocument"]["Statement"]]
        assert _tls_only(statements, "sns:Publish"), spec.name
        service = aws_publishers.get(spec.name)
        if service is None:
            continue
        (grant,) = [st for st in key_statements if st.get("Principal") == {"Service": service}]
        assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        context = grant["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"]
        assert context["Fn::Join"][1][-1] == f":{resources.physical(PREFIX, spec.name)}", spec.name
        # The topic policy lets that service publish (a topic policy replaces SNS's default one).
        (allow,) = [st for st in statements if st["Effect"] == "Allow" and st["Principal"] == {"Service": service}]
        assert allow["Condition"]["StringEquals"][next(k for k in allow["Condition"]["StringEquals"]
                                                      if k.lower() == "aws:sourceaccount")] == {"Ref": "AWS::AccountId"}
    # one grant per AWS publisher: SES for its topic, CloudWatch for the operators' topic
    assert len([st for st in key_statements if "Service" in st.get("Principal", {})]) == len(aws_publishers) + 1
    ops_id = _ops_topic_id(synth)
    assert synth.resources[ops_id]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_every_role_that_publishes_may_use_the_topics_key_through_sns_only(synth: Template) -> None:
    (key_id, _), = synth.of_type("AWS::KMS::Key").items()
    for role_id, role in synth.of_type("AWS::IAM::Role").items():
        statements = _statements(role)
        publishes = any("sns:Publish" in _as_list(st["Action"]) for st in statements)
        uses_key = [st for st in statements if {"Fn::GetAtt": [key_id, "Arn"]} in _as_list(st["Resource"])]
        assert bool(uses_key) == publishes, role_id
        for st in uses_key:
            assert set(_as_list(st["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}, role_id
            assert st["Condition"]["StringEquals"]["kms:ViaService"] == {
                "Fn::Join": ["", ["sns.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}, role_id


# ---- cdk-nag, the API stage --------------------------------------------------------------------------

NAG = REPO / "infra" / "nag.py"


def test_cdk_nag_both_packs_find_nothing_unacknowledged_and_every_acknowledgement_has_a_use(
        expanded: Template, tmp_path: Path) -> None:
    done = subprocess.run([str(INFRA_PY), str(NAG), str(expanded.path), str(tmp_path / "nag.out")],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(done.stdout)
    assert report["findings"] == [], json.dumps(report["findings"], indent=1)
    assert report["unused_acknowledgements"] == []
    assert report["acknowledged"] and all(len(a["reason"]) > 40 for a in report["acknowledged"])
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_api_has_one_stage_traced_logged_and_throttled(synth: Template, expanded: Template) -> None:
    stages = expanded.of_type("AWS::ApiGateway::Stage")
    assert [s["Properties"]["StageName"] for s in stages.values()] == ["api"]     # no SAM "Stage" stage
    (stage,) = stages.values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert (settings["LoggingLevel"], settings["DataTraceEnabled"]) == ("ERROR", False)
    assert settings["MetricsEnabled"] is True
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (200, 400)
    log_format = json.loads(props["AccessLogSetting"]["Format"])
    assert log_format["status"] == "$context.status" and log_format["resource"] == "$context.resourcePath"
    assert not [v for v in log_format.values() if "path" in v.lower() and "resourcePath" not in v]   # no raw path
    assert not [v for v in log_format.values() if "querystring" in v.lower() or "body" in v.lower()]
    (group_id, group), = [(k, v) for k, v in synth.of_type("AWS::Logs::LogGroup").items()
                          if k.startswith("ApiAccessLogs")]
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert group["Properties"]["RetentionInDays"] == 30
    (account,) = synth.of_type("AWS::ApiGateway::Account").values()
    role = synth.resources[account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"}


def test_sns_keeps_what_it_cannot_deliver_to_a_subscribed_queue(synth: Template) -> None:
    for queue_name, topic in resources.subscriptions().items():
        queue_id, _ = synth.queue(queue_name)
        dlq_id, _ = synth.queue(f"{topic}-dlq")
        (subscription,) = [s for s in synth.of_type("AWS::SNS::Subscription").values()
                           if s["Properties"]["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}]
        assert subscription["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}


# ---- the Lambda package: pinned, locked, and run as Lambda runs it ----------------------------------

LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE = "python3.11", "x86_64"
PACKAGED_FUNCTIONS = {"APIHandler": "app.app", "Dispatch": "app.dispatch", "OnSesEvent": "app.on_ses_event",
                      "OnResponse": "app.on_response", "DeliverAlerts": "app.deliver_alerts",
                      "AnalyseComments": "app.analyse_comments", "Tick": "app.tick"}


def test_every_function_and_the_templates_layer_run_python_3_11_on_x86_64(synth: Template) -> None:
    functions = synth.functions()
    assert {name: fn["Properties"]["Handler"] for name, fn in functions.items()} == PACKAGED_FUNCTIONS
    for name, fn in functions.items():
        assert fn["Properties"]["Runtime"] == LAMBDA_RUNTIME, name
        assert fn["Properties"]["Architectures"] == [LAMBDA_ARCHITECTURE], name
    (_, layer), = synth.of_type("AWS::Lambda::LayerVersion").items()
    assert layer["Properties"]["CompatibleRuntimes"] == [LAMBDA_RUNTIME]
    assert layer["Properties"]["CompatibleArchitectures"] == [LAMBDA_ARCHITECTURE]


def test_synth_refuses_to_package_with_another_python_or_without_the_lock(tmp_path: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import stack\n"
        "stack._check_packaging_python((3, 11))\n"
        "attempts = (lambda: stack._check_packaging_python((3, 12)),\n"
        "            lambda: stack._locked_source(Path(sys.argv[3])))\n"
        "for attempt in attempts:\n"
        "    try:\n"
        "        attempt()\n"
        "    except stack.ConfigError as exc:\n"
        "        print('refused:', exc)\n"
    )
    done = subprocess.run([str(INFRA_PY), "-c", probe, str(REPO / "infra"), str(REPO), str(tmp_path)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    refusals = done.stdout.strip().splitlines()
    assert len(refusals) == 2, done.stdout
    assert "python3.12" in refusals[0] and "python3.11" in refusals[0]
    assert "requirements.lock" in refusals[1]


def _deployment_zip(synth: Template) -> Path:
    from devstack.lambda_package import Package

    return Package.from_template(synth.path).zip_path


def _lock_pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", (REPO / "requirements.lock").read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_package_installs_exactly_the_lock_built_for_python_3_11_on_x86_64(synth: Template) -> None:
    import zipfile

    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(_deployment_zip(synth)) as archive:
        names = archive.namelist()
    shipped = {}
    for name in names:
        found = re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", name)
        if found:
            shipped[canonicalize_name(found.group(1))] = found.group(2)
    # The lock's versions, nothing less (a deploy next month ships the same) and nothing more (no
    # requirements-dev.txt package: moto, pytest, chalice itself are not in the package).
    assert shipped == _lock_pins()
    compiled = [n for n in names if n.endswith(".so")]
    assert compiled, "no compiled extension at all: is rpds-py (jsonschema) still in the package?"
    assert [n for n in compiled if not re.search(r"\.(cpython-311-x86_64-linux-gnu|abi3)\.so$", n)] == []
    assert {"rpds", "aiohttp", "multidict", "yarl", "frozenlist"} <= {n.split("/")[0] for n in compiled}
    # The zone database, whatever Lambda's image carries in /usr/share/zoneinfo.
    assert {f"tzdata/zoneinfo/{zone}" for zone in ("Asia/Tokyo", "Asia/Shanghai", "America/New_York")} <= set(names)
    assert {"app.py", "chalice/app.py", "chalicelib/__init__.py"} <= set(names)


ZONES = {"Asia/Tokyo": "9:00:00", "Asia/Shanghai": "8:00:00", "America/New_York": "-1 day, 19:00:00"}


@pytest.fixture(scope="module")
def package(synth: Template) -> Any:
    from devstack.lambda_package import Package

    return Package.from_template(synth.path)


@pytest.fixture(scope="module")
def lambda_layout(package: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from devstack.lambda_package import extract

    return extract(package, tmp_path_factory.mktemp("lambda"))


def _api_event(*args: Any) -> dict[str, Any]:
    from devstack.lambda_package import api_gateway_event

    return api_gateway_event(*args)


def _first_event(logical_id: str) -> Any:
    """devstack.lambda_package's first event of that function (the one bench/packaged_cold_start.py times)."""
    from devstack.lambda_package import first_events

    return lambda region: first_events(region, PREFIX, REPO / "tests" / "events")[logical_id]


def _chart_library() -> str:
    return (REPO / "templates" / "dashboard" / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js").read_text()


def _is_page(status: int) -> Any:
    def check(result: dict[str, Any], logs: str) -> None:
        assert result["statusCode"] == status, result
        assert result["headers"]["Content-Type"].startswith("text/html"), result["headers"]
        assert "<html" in result["body"] and "</html>" in result["body"]
    return check


def _is_error(status: int, code: str) -> Any:
    def check(result: dict[str, Any], logs: str) -> None:
        assert (result["statusCode"], json.loads(result["body"])["code"]) == (status, code), f"{result}\n{logs}"
    return check


def _is_chart_library(result: dict[str, Any], logs: str) -> None:
    assert result["statusCode"] == 200, f"{result}\n{logs}"
    assert result["body"] == _chart_library()


def _returns(expected: dict[str, Any]) -> Any:
    def check(result: dict[str, Any], logs: str) -> None:
        assert result == expected, logs
    return check


def _counts_nothing(*keys: str) -> Any:
    def check(result: dict[str, Any], logs: str) -> None:
        assert set(keys) <= set(result) and set(result.values()) == {0}, f"{result}\n{logs}"
    return check


def _no_failures(*logged: str) -> Any:
    def check(result: dict[str, Any], logs: str) -> None:
        assert result == {"batchItemFailures": []}, logs
        for text in logged:
            assert text in logs, logs
    return check


# function, event (built from the region), what the answer and the logs must show
PACKAGED_CASES: dict[str, tuple[str, Any, Any]] = {
    "a web survey link with a bad token is a 4xx page": (
        "APIHandler", _first_event("APIHandler"),
        _is_page(404)),     # the customer's page (templates/web/page.html, from the layer)
    "an SMS webhook with a bad signature is a 403": (
        "APIHandler", lambda region: _api_event(
            "POST", "/twilio/sms", "/twilio/sms", None,
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90LWEtc2lnbmF0dXJl"},
            "MessageSid=SM00000000000000000000000000000001&From=%2B15550100123&Body=9"),
        _is_error(403, "invalid_signature")),
    "the dashboard's chart library comes from the templates layer": (
        "APIHandler", lambda region: _api_event("GET", "/dashboard/assets/{name}", "/dashboard/assets/chart.umd.min.js",
                                                {"name": "chart.umd.min.js"}),
        _is_chart_library),
    "dispatch skips a stale procedure": (
        "Dispatch", _first_event("Dispatch"),
        _no_failures("stale_event")),
    "an SES complaint opts the address out of email": (
        "OnSesEvent", _first_event("OnSesEvent"),
        _returns({"kind": "complaint", "recipients": 1, "opted_out": 1, "send_recorded": False})),
    "a score item's update on the stream is no new answer": (
        "OnResponse", _first_event("OnResponse"),
        _no_failures("answers processed")),
    "an unreadable alert is dead-lettered": (
        "DeliverAlerts", _first_event("DeliverAlerts"),
        _no_failures("InvalidAlert")),
    "a comment no longer stored is skipped": (
        "AnalyseComments", _first_event("AnalyseComments"),
        _no_failures("no_comment")),
    "the minute's tick runs on empty tables": (
        "Tick", _first_event("Tick"),
        _counts_nothing("reminded", "closed", "released")),
}


def _invoke_case(case: str, package: Any, layout: Any, aws: dict[str, str]) -> Any:
    from devstack.lambda_package import function_env, invoke

    logical_id, make_event, check = PACKAGED_CASES[case]
    function = package.functions[logical_id]
    done = invoke(layout, function.handler, make_event(aws["AWS_REGION"]), function_env(function, layout, aws),
                  function_name=logical_id, timeout_s=function.timeout_s, zones=tuple(ZONES))
    check(done.result, done.logs)
    return done


def test_every_packaged_function_has_a_case() -> None:
    assert {case[0] for case in PACKAGED_CASES.values()} == set(PACKAGED_FUNCTIONS)


@pytest.mark.parametrize("case", sorted(PACKAGED_CASES))
def test_the_packaged_function_runs_from_the_zip_and_the_layer_alone(
        case: str, package: Any, lambda_layout: Any, fresh_aws: dict[str, str]) -> None:
    done = _invoke_case(case, package, lambda_layout, fresh_aws)
    assert done.modules_outside == []
    assert done.origins["boto3"].startswith(str(lambda_layout.task))    # the locked boto3, not the runtime's
    assert done.zones == ZONES
    assert done.origins["tzdata"].startswith(str(lambda_layout.task))


def _break_template(layout: Any) -> None:
    (layout.opt / "templates" / "web" / "page.html").unlink()


def _break_dependency(layout: Any) -> None:
    import shutil

    shutil.rmtree(layout.task / "jsonschema")


def _break_with_a_dev_only_import(layout: Any) -> None:
    app_py = layout.task / "app.py"
    future = "from __future__ import annotations\n"
    app_py.write_text(app_py.read_text().replace(future, future + "import moto  # requirements-dev.txt only\n", 1))


@pytest.mark.parametrize(("breakage", "case", "failure"), [
    (_break_template, "a web survey link with a bad token is a 4xx page", "statusCode.: 500"),
    (_break_dependency, "dispatch skips a stale procedure", "ModuleNotFoundError"),
    (_break_with_a_dev_only_import, "the minute's tick runs on empty tables", "No module named 'moto'"),
])
def test_a_missing_template_dependency_or_a_dev_only_import_fails_the_packaged_function(
        breakage: Any, case: str, failure: str, package: Any, fresh_aws: dict[str, str], tmp_path: Path) -> None:
    from devstack.lambda_package import PackageError, extract

    layout = extract(package, tmp_path)     # a copy of its own: the other tests' layout stays whole
    _invoke_case(case, package, layout, fresh_aws)       # whole, it runs
    breakage(layout)
    with pytest.raises((PackageError, AssertionError), match=failure):
        _invoke_case(case, package, layout, fresh_aws)


def test_the_api_keeps_its_reserved_concurrency_and_each_queue_consumer_its_maximum(
        synth: Template, expanded: Template) -> None:
    _, api = _function_named(synth, resources.API_HANDLER)
    assert api["Properties"]["ReservedConcurrentExecutions"] == 20
    others = [fn for fn in synth.functions().values() if fn is not api]
    assert not [fn for fn in others if "ReservedConcurrentExecutions" in fn["Properties"]]
    for queue_name, handler in resources.queue_consumers().items():
        queue_id, _ = expanded.queue(queue_name)
        (mapping,) = [m["Properties"] for m in expanded.of_type("AWS::Lambda::EventSourceMapping").values()
                      if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": resources.queue(queue_name).max_concurrency}
        assert resources.queue(queue_name).max_concurrency, handler


def test_synth_refuses_a_wrong_reserved_concurrency(tmp_path: Path) -> None:
    done = _run_synth(tmp_path, f"stage={STAGE}", f"public_base_url={PUBLIC}", "api_reserved_concurrency=lots")
    assert done.returncode != 0 and "api_reserved_concurrency" in done.stderr


def test_the_operations_keys_usage_plan_bounds_what_a_leaked_key_can_do(synth: Template, expanded: Template) -> None:
    (expanded_plan,) = expanded.of_type("AWS::ApiGateway::UsagePlan").values()
    assert expanded_plan["Properties"]["ApiStages"][0]["Stage"] == {"Ref": "RestAPIapiStage"}   # SAM's stage
    (plan_id, plan), = synth.of_type("AWS::ApiGateway::UsagePlan").items()
    props = plan["Properties"]
    assert props["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert props["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    assert props["Quota"] == {"Limit": 200_000, "Period": "DAY"}
    assert synth.doc["Outputs"]["OperationsUsagePlanId"]["Value"] == {"Ref": plan_id}
