"""The local stack's IAM: each function may make exactly the AWS calls its role allows in AWS.

In AWS every Lambda function runs as its own role, built by infra/stack.py from the function's
declaration in `chalicelib.resources.FUNCTIONS`. Locally all functions share one process and one set
of SDK clients, so without this a function could call anything and the first sign of a missing grant
would be an AccessDenied in production. Here every SDK call made while a function runs (the runner
and the HTTP server say which one, `acting_as`) is turned into the IAM actions and resources AWS
would authorise it against (`required`), and refused with AWS's own `AccessDeniedException` when the
function's declaration does not grant it. Calls made outside a function (provisioning, the runner's
own ReceiveMessage/DeleteMessage, which Lambda's event source mapping makes, the carrier, tests) are
not checked.

`KOE_LOCAL_IAM_RECORD=<file>` also appends every checked call (function, action, resource, allowed)
to that file as JSON lines: what a test reads to show each grant is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from chalicelib import resources

log = logging.getLogger(__name__)

RECORD_ENV = "KOE_LOCAL_IAM_RECORD"
_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("koe_acting_function", default=None)
_invocation: contextvars.ContextVar[int | None] = contextvars.ContextVar("koe_invocation", default=None)
# The receipt handles whose visibility a function changed itself, while a runner watches (`watching`).
_visibility_set: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("koe_visibility_set", default=None)
_record_lock = threading.Lock()
_count_lock = threading.Lock()
_invocations: Counter[str] = Counter()       # function -> invocations so far in this process

# DynamoDB's transactional and batch operations are authorised per item, by the item's own action.
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}
_BATCH_AS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
             "ChangeMessageVisibilityBatch": "ChangeMessageVisibility", "PublishBatch": "Publish"}
# Authorised by the caller's token, not by IAM (Cognito's user APIs).
_NOT_IAM = {("cognito-idp", "GetUser")}
_IAM_PREFIX = {"sesv2": "ses", "dynamodbstreams": "dynamodb"}


@contextlib.contextmanager
def acting_as(handler: str) -> Iterator[None]:
    """SDK calls made inside are the function `handler`'s (its declaration in resources.FUNCTIONS):
    one invocation of it, numbered (what a fault or a crash is counted against, devstack/faults.py)."""
    with _count_lock:
        _invocations[handler] += 1
        number = sum(_invocations.values())
    token, invocation = _acting.set(handler), _invocation.set(number)
    try:
        yield
    finally:
        _invocation.reset(invocation)
        _acting.reset(token)


@contextlib.contextmanager
def watching_visibility() -> Iterator[set[str]]:
    """Collects the receipt handles whose visibility the function invoked inside sets itself
    (ChangeMessageVisibility): the runner leaves those messages as the function left them."""
    _install_visibility_notes()
    handles: set[str] = set()
    token = _visibility_set.set(handles)
    try:
        yield handles
    finally:
        _visibility_set.reset(token)


def visibility_set(handles: Iterable[str]) -> None:
    """Note handles whose visibility a function set (also from a worker process's report)."""
    watched = _visibility_set.get()
    if watched is not None:
        watched.update(handles)


def _install_visibility_notes() -> None:
    """Note every ChangeMessageVisibility made while a watch is on (this process, once)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call     # type: ignore[attr-defined]
    if getattr(original, "koe_notes_visibility", False):
        return

    def noted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        answer = original(client, operation, params)
        if _visibility_set.get() is not None:
            if operation == "ChangeMessageVisibility":
                visibility_set([str(params.get("ReceiptHandle", ""))])
            elif operation == "ChangeMessageVisibilityBatch":
                visibility_set(str(e.get("ReceiptHandle", "")) for e in params.get("Entries", []))
        return answer

    noted.__dict__.update(getattr(original, "__dict__", {}))     # what the wrapper below says of itself
    noted.koe_notes_visibility = True     # type: ignore[attr-defined]
    with _record_lock:
        if not getattr(BaseClient._make_api_call, "koe_notes_visibility", False):   # type: ignore[attr-defined]
            BaseClient._make_api_call = noted     # type: ignore[attr-defined]


def invocation() -> int | None:
    """The number of the invocation running in this context (None: the stack's own work)."""
    return _invocation.get()


def invocations() -> Mapping[str, int]:
    """Invocations so far in this process, by function."""
    with _count_lock:
        return dict(_invocations)


def acting() -> str | None:
    """The function whose code is running in this context (None: the stack's own work)."""
    return _acting.get()


def as_function(handler: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """`call` (a Chalice handler) invoked as the function `handler`."""
    def invoke(*args: Any, **kwargs: Any) -> Any:
        with acting_as(handler):
            return call(*args, **kwargs)
    return invoke


def _name(value: str, prefix: str) -> str:
    """The logical name of a deployed resource name, URL or ARN (koe-local-surveys -> surveys)."""
    last = value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return last[len(prefix):] if last.startswith(prefix) else f"!{last}"


def required(service: str, operation: str, params: Mapping[str, Any], prefix: str) -> list[tuple[str, str]]:
    """The (IAM action, resource) pairs AWS authorises this call against. Resources are written as
    resources.FUNCTIONS grants them: `table/<t>`, `table/<t>/index/<i>`, `queue/<q>`, `topic/<t>`,
    `secret/<s>`, `*`; a resource outside koe's prefix as `!<name>` (never granted)."""
    if (service, operation) in _NOT_IAM:
        return []
    iam = _IAM_PREFIX.get(service, service)
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", f"table/{_name(body['TableName'], prefix)}")
                    for item in params.get("TransactItems", []) for kind, body in item.items()]
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", f"table/{_name(item['Get']['TableName'], prefix)}")
                    for item in params.get("TransactItems", [])]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", f"table/{_name(table, prefix)}")
                    for table in params.get("RequestItems", {})]
        table = f"table/{_name(params['TableName'], prefix)}"
        if params.get("IndexName"):
            table += f"/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", table)]
    action = f"{iam}:{_BATCH_AS.get(operation, operation)}"
    if service == "sqs":
        where = params.get("QueueUrl") or params.get("QueueName") or ""
        return [(action, f"queue/{_name(where, prefix)}")]
    if service == "sns":
        return [(action, f"topic/{_name(params.get('TopicArn', ''), prefix)}")]
    if service in ("ses", "sesv2"):
        return [(action, "email")]
    if service == "secretsmanager":
        secret = params.get("SecretId", "")
        # An ARN ends in -<6 random characters> Secrets Manager adds to the name.
        name = secret.rsplit(":", 1)[-1].rsplit("-", 1)[0] if secret.startswith("arn:") else secret
        return [(action, f"secret/{_name(name, prefix)}")]
    if service == "s3":
        bucket, key = _name(params.get("Bucket", ""), prefix), params.get("Key", "")
        document = resources.CONFIG_DOCUMENT
        return [(action, "config" if (bucket, key) == (document.bucket, document.key) else f"!{bucket}/{key}")]
    return [(action, "*")]


def denied(handler: str, calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The calls `handler`'s declaration does not grant."""
    return [(action, where) for action, where in calls if not resources.function(handler).allows(action, where)]


def install(prefix: str) -> None:
    """Check every SDK call of this process made while a function runs (idempotent)."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call     # type: ignore[attr-defined]
    if getattr(original, "koe_checked", False):
        return
    record = os.environ.get(RECORD_ENV)

    def checked(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        handler = _acting.get()
        if handler is not None:
            service = client.meta.service_model.service_name
            calls = required(service, operation, params, prefix)
            refused = denied(handler, calls)
            if record:
                _record(record, handler, calls, refused)
            if refused:
                action, where = refused[0]
                log.error("local IAM: %s may not %s on %s", handler, action, where)
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": (
                    f"koe-local-{handler} is not authorized to perform: {action} on resource: {where} "
                    "(chalicelib/resources.py FUNCTIONS does not grant it)")}}, operation)
        return original(client, operation, params)

    checked.koe_checked = True     # type: ignore[attr-defined]
    BaseClient._make_api_call = checked     # type: ignore[attr-defined]


def _record(path: str, handler: str, calls: list[tuple[str, str]], refused: list[tuple[str, str]]) -> None:
    lines = [json.dumps({"function": handler, "action": a, "resource": r, "allowed": (a, r) not in refused})
             for a, r in calls]
    with _record_lock, open(path, "a", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
