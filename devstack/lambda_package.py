"""The Lambda package exactly as the CDK synth made it, run the way Lambda runs it.

`Package.from_template` finds, in a cdk.out directory, the deployment zip `chalice package` built and
the templates layer; `extract` lays them out as Lambda does (/var/task = the zip, /opt = the layer,
under a root of the caller's choosing); `invoke` runs one handler in a fresh interpreter whose
sys.path is only that layout and the standard library (`python -I -S`: no repository, no virtualenv
site-packages), with the environment the caller gives, and returns what the handler returned, how
long init (import + handler lookup) and the first event took, and the logs.

This file is also the program that fresh interpreter runs (`__main__` below): so it imports nothing
but the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Lambda::LayerVersion"
LAMBDA_PYTHON_PATHS = ("python/lib/python3.11/site-packages", "python")   # under /opt, after /var/task


class PackageError(RuntimeError):
    """The synthesized package is not what the template says it is (a missing asset, a handler)."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str                     # module.attribute, e.g. app.dispatch
    environment: dict[str, Any]      # as synthesized: strings and CloudFormation intrinsics
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class Package:
    zip_path: Path
    layer_dir: Path
    functions: dict[str, Function]

    @classmethod
    def from_template(cls, template_path: Path) -> Package:
        """The functions of a synthesized template and the assets they run from (cdk.out/asset.*)."""
        resources: dict[str, dict[str, Any]] = json.loads(template_path.read_text())["Resources"]
        out = template_path.parent
        functions, code_keys = {}, set()
        for logical_id, res in resources.items():
            if res["Type"] != SERVERLESS_FUNCTION:
                continue
            p = res["Properties"]
            code_keys.add(p["CodeUri"]["Key"])
            functions[logical_id] = Function(logical_id, p["Handler"], dict(p["Environment"]["Variables"]),
                                             int(p.get("Timeout", 3)), int(p.get("MemorySize", 128)))
        if len(code_keys) != 1:
            raise PackageError(f"expected one deployment package for all functions, found {sorted(code_keys)}")
        layers = [res for res in resources.values() if res["Type"] == LAYER]
        if len(layers) != 1:
            raise PackageError(f"expected one layer, found {len(layers)}")
        zip_path = out / f"asset.{code_keys.pop()}"
        layer_dir = out / f"asset.{layers[0]['Properties']['Content']['S3Key'].removesuffix('.zip')}"
        if not zip_path.is_file() or not layer_dir.is_dir():
            raise PackageError(f"assets missing from {out}: {zip_path.name}, {layer_dir.name}")
        return cls(zip_path, layer_dir, functions)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def task(self) -> Path:          # /var/task
        return self.root / "var" / "task"

    @property
    def opt(self) -> Path:           # /opt
        return self.root / "opt"

    def host_path(self, lambda_path: str) -> str:
        """/opt/templates -> <root>/opt/templates (a path the environment names, inside this layout)."""
        for mount, here in (("/opt", self.opt), ("/var/task", self.task)):
            if lambda_path == mount or lambda_path.startswith(mount + "/"):
                return str(here) + lambda_path[len(mount):]
        return lambda_path


def extract(package: Package, root: Path) -> Layout:
    layout = Layout(root)
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(layout.task)
    # A layer's zip holds its directory's contents: the directory IS /opt.
    for path in sorted(package.layer_dir.rglob("*")):
        target = layout.opt / path.relative_to(package.layer_dir)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return layout


@dataclass
class Invocation:
    result: Any
    init_ms: float                   # import of the handler's module + the attribute lookup
    first_event_ms: float            # the handler's first call
    logs: str                        # the process's stdout + stderr (Lambda sends both to CloudWatch)
    modules_outside: list[str] = field(default_factory=list)   # loaded from outside task/opt/stdlib
    origins: dict[str, str] = field(default_factory=dict)      # where boto3, tzdata are found
    zones: dict[str, str] = field(default_factory=dict)        # zone -> UTC offset, or the error


def invoke(layout: Layout, handler: str, event: Any, env: dict[str, str], *, function_name: str,
           timeout_s: int = 30, python: str = sys.executable, call: bool = True,
           zones: tuple[str, ...] = ()) -> Invocation:
    """Run `handler` on `event` in a fresh interpreter that sees only the layout and the stdlib
    (call=False: only import its module and look it up, e.g. `boto3.client` as a baseline). `zones`:
    IANA names the same interpreter then resolves with zoneinfo (their UTC offsets on 15 January 2026)."""
    with tempfile.TemporaryDirectory(prefix="koe-invoke-") as scratch:
        request, answer = Path(scratch) / "request.json", Path(scratch) / "answer.json"
        request.write_text(json.dumps({
            "task": str(layout.task), "opt": str(layout.opt), "handler": handler, "event": event,
            "function_name": function_name, "timeout_s": timeout_s, "answer": str(answer), "call": call,
            "zones": list(zones)}))
        # -B: /var/task is read-only in Lambda, no .pyc is ever written there (the zip holds none).
        done = subprocess.run([python, "-I", "-S", "-B", str(Path(__file__).resolve()), str(request)],
                              cwd=layout.task, env=env, capture_output=True, text=True,
                              timeout=timeout_s + 60, check=False)
        logs = done.stdout + done.stderr
        if done.returncode != 0 or not answer.is_file():
            raise PackageError(f"{handler} failed in the packaged function (exit {done.returncode}):\n{logs}")
        got = json.loads(answer.read_text())
    return Invocation(got["result"], got["init_ms"], got["first_event_ms"], logs,
                      got["modules_outside"], got["origins"], got["zones"])


# --- the environment infra gives a function, and first events -------------------------------------

# What infra gives every function that the local stack has no counterpart for.
OUTSIDE_THE_LOCAL_STACK = {"KOE_COGNITO_DOMAIN_URL": "https://koe-ci.auth.ap-northeast-1.amazoncognito.com",
                           "KOE_COGNITO_CLIENT_ID": "packagedclient0123456789"}


def function_env(function: Function, layout: Layout, aws: dict[str, str]) -> dict[str, str]:
    """The environment infra gives the function (the template's values; CloudFormation references
    resolved to the local stack's resources, `aws` as devstack.provision returns it), what Lambda
    sets, and the local endpoints in place of AWS. A reference the local stack cannot resolve is a
    KeyError: infra gave the function something new, and this must learn what stands in for it."""
    from chalicelib.resources import SECRETS

    secret_ids = {secret.env for secret in SECRETS}     # the operator's secrets in AWS, moto's here
    region = aws["AWS_REGION"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
           "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "LAMBDA_TASK_ROOT": str(layout.task),
           "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
           # No system zone database: zoneinfo must find the zones in the package (tzdata).
           "PYTHONTZPATH": "",
           "KOE_DYNAMODB_ENDPOINT": aws["KOE_DYNAMODB_ENDPOINT"], "KOE_AWS_ENDPOINT": aws["KOE_AWS_ENDPOINT"]}
    for key, value in function.environment.items():
        if key == "KOE_RESOURCE_PREFIX" or key in secret_ids:     # the local stack's resources, by its prefix
            value = aws[key]
        elif not isinstance(value, str):        # a Ref / GetAtt / Join: one of the stack's resources
            value = aws[key] if key in aws else OUTSIDE_THE_LOCAL_STACK[key]
        env[key] = layout.host_path(value)
    return env


def api_gateway_event(method: str, resource: str, path: str, path_parameters: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
    """An API Gateway (REST, proxy integration) event, as the stage `api` passes it."""
    headers = {"Host": "example.com", "X-Forwarded-Proto": "https", **(headers or {})}
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": path_parameters, "stageVariables": None, "body": body, "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}",
                               "stage": "api", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                               "identity": {"sourceIp": "192.0.2.10", "userAgent": "koe-packaged"}}}


def queue_event(queue_arn: str, body: str, region: str) -> dict[str, Any]:
    """One SQS record, first delivery."""
    record = {"messageId": "0f5a3c9e-1b2d-4e6f-8a7b-9c0d1e2f3a4b", "receiptHandle": "packaged-receipt",
              "body": body, "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
              "md5OfBody": "0" * 32, "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region}
    return {"Records": [record]}


def first_events(region: str, prefix: str, events_dir: Path) -> dict[str, dict[str, Any]]:
    """One event per packaged function (by logical id) that runs its handler through without
    sending anything: a web page with a bad token, a stale procedure, an SES complaint, a score
    item's update on the stream, an unreadable alert, a comment no longer stored, a tick.
    `events_dir`: tests/events (the recorded payloads)."""
    def arn(service: str, name: str) -> str:
        return f"arn:aws:{service}:{region}:123456789012:{name}"

    procedure = json.loads((events_dir / "procedure-completed.json").read_text())
    procedure.update(event_id="packaged-2020-000001", completed_at="2020-01-06T10:15:00+09:00")
    complaint = json.loads((events_dir / "sns-envelope-ses-complaint.json").read_text())
    score = {"survey_id": {"S": "S-packaged-1"}, "question": {"S": "score"}, "score": {"N": "9"}}
    stream = arn("dynamodb", f"table/{prefix}responses/stream/2026-01-01T00:00:00.000")
    return {
        "APIHandler": api_gateway_event("GET", "/s/{token}", "/s/not-a-token", {"token": "not-a-token"},
                                        {"Accept-Language": "ja"}),
        "Dispatch": queue_event(arn("sqs", f"{prefix}intake"), json.dumps(procedure), region),
        "OnSesEvent": {"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": f"{complaint['TopicArn']}:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "Sns": {"Type": "Notification", "MessageId": complaint["MessageId"], "TopicArn": complaint["TopicArn"],
                    "Subject": None, "Message": complaint["Message"], "Timestamp": complaint["Timestamp"],
                    "SignatureVersion": "1", "Signature": complaint["Signature"],
                    "SigningCertUrl": complaint["SigningCertURL"], "UnsubscribeUrl": complaint["UnsubscribeURL"],
                    "MessageAttributes": {}}}]},
        "OnResponse": {"Records": [{
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": region, "eventSourceARN": stream,
            "dynamodb": {"ApproximateCreationDateTime": 1795000000,
                         "Keys": {"survey_id": score["survey_id"], "question": score["question"]},
                         "NewImage": score, "OldImage": score, "SequenceNumber": "100", "SizeBytes": 64,
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}}]},
        "DeliverAlerts": queue_event(arn("sqs", f"{prefix}alert-deliveries"), "not an alert", region),
        "AnalyseComments": queue_event(arn("sqs", f"{prefix}comment-insight"),
                                       json.dumps({"survey_id": "S-packaged-0001", "version": "1"}), region),
        "Tick": {"version": "0", "id": "8d2f5a4e-1c3b-4e5d-9f6a-7b8c9d0e1f2a", "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": "123456789012", "time": "2026-11-18T01:30:00Z",
                 "region": region, "resources": [arn("events", f"rule/{prefix}tick")], "detail": {}},
    }


# --- inside the fresh interpreter ----------------------------------------------------------------

class _Context:
    """What Lambda passes as `context` (Powertools' idempotency reads the remaining time)."""

    def __init__(self, function_name: str, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
        self.aws_request_id = str(uuid.uuid4())
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2000/01/01/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _run(request: dict[str, Any]) -> dict[str, Any]:
    task, opt = request["task"], request["opt"]
    sys.path[:0] = [task, *(os.path.join(opt, p) for p in LAMBDA_PYTHON_PATHS)]
    module_name, _, attribute = request["handler"].rpartition(".")
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    function = getattr(module, attribute)
    initialised = time.perf_counter()
    result = (function(request["event"], _Context(request["function_name"], request["timeout_s"]))
              if request["call"] else None)
    finished = time.perf_counter()
    zones = {name: _offset(name) for name in request["zones"]}
    allowed = (task, opt, sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
    outside = sorted(name for name, m in list(sys.modules.items()) if name not in ("__main__", "__mp_main__")
                     and getattr(m, "__file__", None) and not str(m.__file__).startswith(allowed))
    # Where these would be imported from (Lambda's runtime has its own boto3: ours must come first).
    origins = {name: str(getattr(importlib.util.find_spec(name), "origin", None)) for name in ("boto3", "tzdata")}
    return {"result": result, "init_ms": (initialised - started) * 1000,
            "first_event_ms": (finished - initialised) * 1000, "modules_outside": outside, "origins": origins,
            "zones": zones}


def _offset(zone: str) -> str:
    import datetime
    import zoneinfo

    try:
        offset = datetime.datetime(2026, 1, 15, tzinfo=zoneinfo.ZoneInfo(zone)).utcoffset()
    except zoneinfo.ZoneInfoNotFoundError as exc:
        return f"ZoneInfoNotFoundError: {exc}"
    return str(offset)


def _main(request_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    answer = _run(request)
    Path(request["answer"]).write_text(json.dumps(answer, default=str))


if __name__ == "__main__":
    _main(sys.argv[1])
