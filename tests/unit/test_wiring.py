"""The wiring is stated once, in chalicelib/resources.py: which settings variable carries each
queue's URL, topic's ARN and the SES configuration set's name, and which app.py handler consumes
each queue, topic, stream and the schedule.
These tests hold app.py, chalicelib/settings.py, devstack/ and infra/ to it.

app.py and infra/stack.py are read as source (ast): importing app needs a full environment, and
infra needs aws-cdk, which only the infra venv has. Their expressions that name resources are
evaluated against chalicelib.resources, so what is checked is what they compute.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from chalicelib import resources, settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Chalice decorator each kind of event source is declared with in app.py.
DECORATOR_OF = {"queue": "on_sqs_message", "topic": "on_sns_message", "stream": "on_dynamodb_record",
                "schedule": "schedule"}
# Settings no test environment below leaves out: from_env refuses to run without them.
REQUIRED = {
    "KOE_PUBLIC_BASE_URL": "https://koe.example.com/api",
}


def _declared_env() -> dict[str, str]:
    return {**resources.queue_env(), **resources.topic_env(), resources.EMAIL.env: resources.EMAIL.name}


def _parse(relative: str) -> ast.Module:
    path = REPO_ROOT / relative
    return ast.parse(path.read_text(), filename=str(path))


def _decorators(function: ast.FunctionDef) -> Iterator[tuple[str, ast.Call | None]]:
    """(name, call) of each `@app.<name>(...)` / `@app.<name>` decorator."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if isinstance(target, ast.Attribute):
            yield target.attr, call


def _app_handlers() -> dict[str, dict[str, ast.Call | None]]:
    """app.py's decorated module-level functions -> {decorator name: its call}."""
    return {node.name: dict(_decorators(node)) for node in _parse("app.py").body
            if isinstance(node, ast.FunctionDef) and node.decorator_list}


def _resources_namespace(module: ast.Module) -> dict[str, Any]:
    """What a module's `from chalicelib import resources` / `from chalicelib.resources import x` bind."""
    namespace: dict[str, Any] = {}
    for node in module.body:
        if isinstance(node, ast.ImportFrom) and node.module == "chalicelib":
            namespace.update({a.asname or a.name: resources for a in node.names if a.name == "resources"})
        elif isinstance(node, ast.ImportFrom) and node.module == "chalicelib.resources":
            namespace.update({a.asname or a.name: getattr(resources, a.name) for a in node.names})
    return namespace


def _evaluate(expression: ast.expr, module: ast.Module, relative: str) -> Any:
    code = compile(ast.Expression(expression), f"<{relative}>", "eval")
    return eval(code, {"__builtins__": {}}, _resources_namespace(module))   # koe's own source


def _module_constant(relative: str, name: str) -> Any:
    module = _parse(relative)
    for node in module.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name):
            return _evaluate(node.value, module, relative)
    raise AssertionError(f"{relative} has no module-level {name} = ...")


def _string_constants(relative: str) -> set[str]:
    return {node.value for node in ast.walk(_parse(relative))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.read = values, set[str]()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


# --- resources.py itself --------------------------------------------------------------------------

def test_each_variable_names_one_resource() -> None:
    named = ([q.env for q in resources.QUEUES if q.env] + [t.env for t in resources.TOPICS if t.env]
             + [resources.EMAIL.env])
    assert len(named) == len(set(named)) == len(_declared_env())
    assert all(var.startswith("KOE_") for var in named)


def test_each_handler_consumes_one_source() -> None:
    handlers = ([q.consumer for q in resources.QUEUES if q.consumer]
                + [t.consumer for t in resources.TOPICS if t.consumer]
                + [t.stream_consumer for t in resources.TABLES if t.stream_consumer]
                + [resources.SCHEDULE_CONSUMER])
    assert len(handlers) == len(set(handlers)) == len(resources.consumers())


def test_streams_are_consumed_only_where_the_table_has_one() -> None:
    for table in resources.TABLES:
        if table.stream_consumer:
            assert table.stream, f"{table.name} names a stream consumer but has no stream"


def test_a_consumed_queue_carries_a_variable_koe_reads() -> None:
    # The local runner finds a consumed queue's URL through that variable.
    for name, handler in resources.queue_consumers().items():
        var = resources.queue(name).env
        assert var and not resources.is_local(var), f"{name} (read by {handler}) needs an env"
        assert resources.consumed_by(handler).name == name


def test_a_consumed_topic_carries_a_variable_and_the_configuration_set_reports_to_a_topic() -> None:
    # The local runner finds a consumed topic's ARN through its variable (KOE_LOCAL_* will do: koe
    # itself only consumes it); SES's events go to a declared topic.
    for name, handler in resources.topic_consumers().items():
        assert resources.topic(name).env, f"{name} (read by {handler}) needs an env"
        assert resources.topic_consumed_by(handler).name == name
    assert resources.EMAIL.events_topic in {t.name for t in resources.TOPICS}
    assert set(resources.EMAIL.events) == {"send", "bounce", "complaint", "delivery"}   # send: records a send


# --- app.py -----------------------------------------------------------------------------------------

def test_each_consumer_is_a_handler_in_app_with_the_right_decorator() -> None:
    handlers = _app_handlers()
    for handler, source in resources.consumers().items():
        assert handler in handlers, f"resources.py names {handler} ({source}); app.py has no such handler"
        kind = source.split(":")[0]
        assert DECORATOR_OF[kind] in handlers[handler], (handler, source, sorted(handlers[handler]))


def test_every_event_handler_in_app_is_declared_in_resources() -> None:
    event_decorators = set(DECORATOR_OF.values())
    in_app = {name for name, decorators in _app_handlers().items() if event_decorators & set(decorators)}
    assert in_app == set(resources.consumers())


def test_app_names_the_declared_queue_of_each_sqs_handler() -> None:
    module = _parse("app.py")
    for handler, decorators in _app_handlers().items():
        call = decorators.get("on_sqs_message")
        if call is None:
            continue
        (queue,) = [k.value for k in call.keywords if k.arg == "queue"]
        assert _evaluate(queue, module, "app.py") == resources.physical(
            resources.DEFAULT_PREFIX, resources.consumed_by(handler).name)


def test_app_names_the_declared_topic_of_each_sns_handler() -> None:
    module = _parse("app.py")
    sns_handlers = {h: d["on_sns_message"] for h, d in _app_handlers().items() if "on_sns_message" in d}
    assert set(sns_handlers) == set(resources.topic_consumers().values())
    for handler, call in sns_handlers.items():
        assert call is not None
        (topic,) = [k.value for k in call.keywords if k.arg == "topic"]
        assert _evaluate(topic, module, "app.py") == resources.physical(
            resources.DEFAULT_PREFIX, resources.topic_consumed_by(handler).name)


# --- settings.py ------------------------------------------------------------------------------------

def _env_with_every_declared_variable() -> dict[str, str]:
    return {**REQUIRED, **{var: f"value-of-{var}" for var in _declared_env()}}


def test_every_declared_variable_koe_reads_lands_in_a_settings_field() -> None:
    env = RecordingEnv(_env_with_every_declared_variable())
    parsed = settings.from_env(env)
    values = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)}
    for var in _declared_env():
        if resources.is_local(var):
            continue
        assert var in env.read, f"{var} is declared in resources.py but from_env never reads it"
        assert f"value-of-{var}" in values.values(), f"from_env reads {var} into no field"


def test_local_variables_are_never_read_by_koe_but_the_local_token_switch() -> None:
    # KOE_LOCAL_TOKEN_SECRET turns on the local stack's bearer tokens: local-only by its name, which
    # infra/ refuses (tests/integration/test_infra_synth.py checks no function is told it).
    env = RecordingEnv(_env_with_every_declared_variable())
    settings.from_env(env)
    assert {var for var in env.read if resources.is_local(var)} <= {resources.LOCAL_TOKEN_SECRET_ENV}


def test_from_env_defaults_are_the_dataclass_defaults() -> None:
    parsed = settings.from_env({**REQUIRED, **{var: "x" for var in resources.queue_env(local=False)},
                                **{var: "x" for var in resources.topic_env()}})
    for f in dataclasses.fields(settings.Settings):
        if getattr(parsed, f.name) == "x":
            continue            # an optional queue URL, read from the declared variable given above
        if f.default is not dataclasses.MISSING:
            assert getattr(parsed, f.name) == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(parsed, f.name) == f.default_factory(), f.name
    assert parsed.resource_prefix == resources.DEFAULT_PREFIX


# --- devstack and infra -----------------------------------------------------------------------------

def test_runner_feeds_the_declared_consumers() -> None:
    from devstack import runner

    assert runner.DEFAULT_QUEUES == {resources.queue(name).env: handler
                                     for name, handler in resources.queue_consumers().items()}
    assert runner.DEFAULT_STREAMS == resources.stream_consumers()
    assert runner.DEFAULT_TOPICS == resources.topic_consumers()
    assert runner.DEFAULT_SCHEDULE == resources.SCHEDULE_CONSUMER


def test_provision_exports_the_declared_variables() -> None:
    from devstack import provision

    assert provision.QUEUE_ENV == resources.queue_env()
    assert provision.TOPIC_ENV == resources.topic_env()
    env = provision.build_env("p-", "http://ddb", "http://moto", "us-east-1",
                              {q.name: f"url-{q.name}" for q in resources.QUEUES},
                              {t.name: f"arn-{t.name}" for t in resources.TOPICS}, "bus", "inspect",
                              {resources.EMAIL.env: "p-email", "KOE_EMAIL_FROM": "survey@example.jp"})
    assert env[resources.EMAIL.env] == "p-email"
    assert {var: env[var] for var in resources.queue_env()} == {
        var: f"url-{name}" for var, name in resources.queue_env().items()}
    assert {var: env[var] for var in resources.topic_env()} == {
        var: f"arn-{name}" for var, name in resources.topic_env().items()}


def test_provision_subscribes_the_declared_queues_to_their_topics() -> None:
    from devstack import provision

    subscribed: list[tuple[str, str, dict[str, Any]]] = []

    class Sns:
        def list_subscriptions_by_topic(self, TopicArn: str) -> dict[str, Any]:
            return {"Subscriptions": []}

        def subscribe(self, **request: Any) -> None:
            subscribed.append((request["TopicArn"], request["Endpoint"], request.get("Attributes", {})))

    class Sqs:
        def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
            return {"Attributes": {"QueueArn": f"arn-of-{QueueUrl}"}}

    for name, topic in resources.subscriptions().items():
        provision.subscribe_queue(Sns(), Sqs(), f"topic-{topic}", f"url-{name}",
                                  resources.filter_policy(resources.queue(name)))
    assert resources.subscriptions() == {"alert-deliveries": "cx-alerts"}
    assert subscribed == [("topic-cx-alerts", "arn-of-url-alert-deliveries",
                           {"FilterPolicy": '{"event": [{"exists": true}]}'})]


def test_a_subscribed_queue_is_a_consumed_queue_of_a_declared_topic() -> None:
    topics = {t.name for t in resources.TOPICS}
    for name, topic in resources.subscriptions().items():
        assert topic in topics and resources.queue(name).consumer, name
        assert resources.queue(name).dead_letter, f"{name}: what its consumer cannot deliver needs a DLQ"


def _function_handlers() -> set[str]:
    """The Lambda functions app.py defines: its event handlers, and the API's (every route)."""
    handlers = {name for name, decorators in _app_handlers().items() if set(decorators) & set(DECORATOR_OF.values())}
    return handlers | {resources.API_HANDLER}


def test_every_function_of_app_py_declares_what_it_may_touch_once() -> None:
    declared = [f.handler for f in resources.FUNCTIONS]
    assert len(declared) == len(set(declared))
    assert set(declared) == _function_handlers()
    assert set(resources.EVENT_HANDLERS) == _function_handlers() - {resources.API_HANDLER}
    assert set(resources.APP_HANDLERS) == set(_app_handlers()) - {"observe"}     # observe: a middleware


def test_a_function_reads_the_secrets_its_handlers_use_and_no_other() -> None:
    for function in resources.FUNCTIONS:
        granted = {g.resource for g in function.grants if g.resource.startswith("secret/")}
        used = {f"secret/{s.name}" for s in resources.SECRETS
                for h in s.used_by if h == function.handler or (
                    function.handler == resources.API_HANDLER and h not in resources.EVENT_HANDLERS)}
        assert granted == used, function.handler
    assert {h for s in resources.SECRETS for h in s.used_by} <= set(resources.APP_HANDLERS)
    # the comment analyser, the alert deliverer and the stream consumer read no secret at all
    assert not [f for f in resources.FUNCTIONS if f.handler in ("analyse_comments", "deliver_alerts", "on_response")
                and any(g.resource.startswith("secret/") for g in f.grants)]


def test_every_grant_names_a_declared_resource_and_actions_of_its_service() -> None:
    tables = {t.name: {i.name for i in t.indexes} for t in resources.TABLES}
    queues, topics = {q.name for q in resources.QUEUES}, {t.name for t in resources.TOPICS}
    service_of = {"table": "dynamodb", "queue": "sqs", "topic": "sns", "email": "ses", "secret": "secretsmanager",
                  "config": "s3"}
    secrets = {s.name for s in resources.SECRETS}
    for function in resources.FUNCTIONS:
        for grant in function.grants:
            kind, _, name = grant.resource.partition("/")
            assert grant.actions and all(":" in a and "*" not in a for a in grant.actions), grant
            if grant.resource == "*":       # only APIs that have no resource to scope them to
                assert {a.split(":")[0] for a in grant.actions} <= {"comprehend"}, grant
                continue
            assert {a.split(":")[0] for a in grant.actions} == {service_of[kind]}, grant
            if kind == "table":
                table, _, index = name.partition("/index/")
                assert table in tables and (not index or index in tables[table]), grant
                assert not index or grant.actions == ("dynamodb:Query",), grant
            elif kind == "queue":
                assert name in queues, grant
            elif kind == "topic":
                assert name in topics, grant
            elif kind == "secret":
                assert name in secrets and grant.actions == ("secretsmanager:GetSecretValue",), grant
            elif kind == "config":
                assert grant.actions == ("s3:GetObject",), grant


def _touches(function: resources.Function, table: str, actions: set[str] | None = None) -> bool:
    return any(g.resource == f"table/{table}" or g.resource.startswith(f"table/{table}/")
               for g in function.grants if actions is None or actions & set(g.actions))


WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def test_a_private_table_is_touched_by_its_function_only_and_a_written_by_table_written_by_its_only() -> None:
    for table in resources.TABLES:
        if table.private_to:
            assert not table.written_by, f"{table.name}: private (one reader) or written_by (all read), not both"
            assert {f.handler for f in resources.FUNCTIONS if _touches(f, table.name)} == {table.private_to}
        if table.written_by:
            assert {f.handler for f in resources.FUNCTIONS if _touches(f, table.name, WRITES)} == {table.written_by}


def test_infra_sets_the_declared_variables_koe_reads() -> None:
    assert _module_constant("infra/stack.py", "QUEUE_URL_ENV") == resources.queue_env(local=False)
    assert _module_constant("infra/stack.py", "TOPIC_ARN_ENV") == resources.topic_env(local=False)
    assert _module_constant("infra/stack.py", "EMAIL") == resources.EMAIL


@pytest.mark.parametrize("relative", ["devstack/runner.py", "devstack/provision.py", "infra/stack.py"])
def test_the_wiring_is_not_written_again(relative: str) -> None:
    written = _string_constants(relative) & (set(_declared_env()) | set(resources.consumers()))
    assert not written, f"{relative} repeats what resources.py declares: {sorted(written)}"


# --- each function's wiring (chalicelib/bootstrap/functions.py) against its grants ------------------

def _needs(*resources_actions: str) -> frozenset[tuple[str, str]]:
    """("<resource>", "<action prefix>") pairs from "resource action-prefix" strings."""
    return frozenset(tuple(pair.split(" ", 1)) for pair in resources_actions)   # type: ignore[misc]


CONTACT_KEYS = _needs("secret/contact-keys secretsmanager:GetSecretValue")
TWILIO = _needs("secret/twilio secretsmanager:GetSecretValue")
LINE = _needs("secret/line secretsmanager:GetSecretValue")
ALIBABA_SMS = _needs("secret/alibaba-sms secretsmanager:GetSecretValue")
WECHAT = _needs("secret/wechat secretsmanager:GetSecretValue")
# What each piece of the edge (bootstrap/adapters.py Adapters) needs its function to be granted: the
# resources it calls, each with an action of its service. A store spanning several tables names the
# ones every use of it touches (the conversations: the contact's opt-outs); which of its other tables a
# use touches is checked as the functions run (devstack/iam.py, tests/integration/test_devstack.py).
NEEDS: dict[str, frozenset[tuple[str, str]]] = {
    "conversations": _needs("table/contacts dynamodb:GetItem"),
    "cases": _needs("table/cases dynamodb:"),
    "scores": _needs("table/scores dynamodb:"),
    "outcomes": _needs("table/outcomes dynamodb:"),
    "event_ledger": _needs("table/events dynamodb:"),
    "idempotency": _needs("table/idempotency dynamodb:PutItem"),
    "alert_ledger": _needs("table/alert-deliveries dynamodb:"),
    "comment_insights": _needs("table/comment-insights dynamodb:", "table/comment-groups dynamodb:"),
    "comment_source": _needs("table/responses dynamodb:GetItem"),
    "answer_archive": _needs("table/responses dynamodb:"),
    "intake_queue": _needs("queue/intake sqs:SendMessage"),
    "dead_letters": _needs("queue/intake-dlq sqs:SendMessage"),
    "follow_ups": _needs("queue/follow-up sqs:SendMessage"),
    "insight_requests": _needs("queue/comment-insight sqs:SendMessage"),
    "insight_dead_letters": _needs("queue/comment-insight-dlq sqs:SendMessage"),
    "alert_dead_letters": _needs("queue/alert-deliveries-dlq sqs:SendMessage"),
    "alert_visibility": _needs("queue/alert-deliveries sqs:ChangeMessageVisibility"),
    "intake_visibility": _needs("queue/intake sqs:ChangeMessageVisibility", "queue/intake sqs:DeleteMessage"),
    "intake_marks": _needs("table/idempotency dynamodb:PutItem", "table/idempotency dynamodb:GetItem"),
    "alerts": _needs("topic/cx-alerts sns:Publish"),
    "email": _needs("email ses:SendEmail"),
    "alert_email": _needs("email ses:SendEmail"),
    "comment_analyser": _needs("* comprehend:DetectSentiment", "* comprehend:DetectKeyPhrases"),
    "sms": TWILIO,
    "signature": TWILIO,
    "line": LINE,
    "line_webhook": LINE,
    "cn_sms": ALIBABA_SMS,
    "alibaba_receipt_token": ALIBABA_SMS,
    "wechat": WECHAT,
    "wechat_webhook": WECHAT,
    "authenticators": _needs("secret/api-keys secretsmanager:GetSecretValue"),
    "contact_keyring": CONTACT_KEYS, "link_keys": CONTACT_KEYS, "contact_key": CONTACT_KEYS,
    "contact_keys": CONTACT_KEYS, "survey_link": CONTACT_KEYS, "unsubscribe_link": CONTACT_KEYS,
    # One sender per channel: Twilio's (its links signed with the contact keys), SES's (its
    # unsubscribe link too) where KOE_EMAIL_FROM is set, LINE's where KOE_LINE_SECRET_ID is, and China
    # SMS's where KOE_ALIBABA_SMS_SECRET_ID and KOE_CN_SMS_TEMPLATES are, WeChat's where
    # KOE_WECHAT_SECRET_ID and KOE_WECHAT_TEMPLATES are, as in AWS.
    "senders": TWILIO | CONTACT_KEYS | _needs("email ses:SendEmail") | LINE | ALIBABA_SMS | WECHAT,
    # No AWS call (templates in the package, chat webhooks over HTTPS, Cognito's user API is authorised
    # by the user's token), or no piece at all.
    **{name: frozenset() for name in ("messages", "pages", "email_templates", "alert_templates", "dashboard_pages",
                                      "cn_templates", "wechat_templates", "chat", "hosted_ui", "local_sign_in",
                                      "dashboard_sessions",
                                      "dashboard_url", "today")},
}
# The raw clients and every secret at once: for the edge's own pieces, never for a wiring.
EDGE_ONLY = {"sqs", "sns", "dynamodb", "sesv2", "secrets", "credentials"}


def _edge_pieces() -> set[str]:
    from chalicelib.bootstrap.adapters import Adapters

    return {name for name in vars(Adapters) if not name.startswith("_")} - {"settings", "clock"}


def _granted(function: resources.Function, resource: str, action: str) -> bool:
    return any((g.resource == resource or g.resource.startswith(f"{resource}/index/"))
               and any(a.startswith(action) for a in g.actions) for g in function.grants)


def test_every_piece_of_the_edge_states_what_it_needs() -> None:
    assert _edge_pieces() == set(NEEDS) | EDGE_ONLY


def test_each_function_has_one_wiring() -> None:
    from chalicelib.bootstrap.functions import BY_FUNCTION

    assert set(BY_FUNCTION) == {f.handler for f in resources.FUNCTIONS}


@pytest.mark.parametrize("function", [f.handler for f in resources.FUNCTIONS])
def test_a_functions_wiring_reaches_only_what_its_grants_allow(function: str) -> None:
    from chalicelib.bootstrap.functions import BY_FUNCTION

    declared = resources.function(function)
    reach = BY_FUNCTION[function].reach()
    assert reach <= set(NEEDS), f"{function} reaches {sorted(reach - set(NEEDS))}: not for a wiring"
    missing = sorted((piece, resource, action) for piece in reach for resource, action in NEEDS[piece]
                     if not _granted(declared, resource, action))
    assert not missing, f"{function}'s wiring reaches pieces its grants do not allow: {missing}"


@pytest.mark.parametrize("function", [f.handler for f in resources.FUNCTIONS])
def test_a_functions_wiring_reads_only_the_secrets_declared_for_its_handlers(function: str) -> None:
    from chalicelib.bootstrap.functions import BY_FUNCTION

    handlers = {h for h in resources.APP_HANDLERS if (h if h in resources.EVENT_HANDLERS else resources.API_HANDLER)
                == function}
    declared = {f"secret/{s.name}" for s in resources.SECRETS if handlers & set(s.used_by)}
    read = {resource for piece in BY_FUNCTION[function].reach() for resource, _ in NEEDS[piece]
            if resource.startswith("secret/")}
    assert read <= declared


def test_what_some_functions_cannot_reach() -> None:
    from chalicelib.bootstrap.functions import BY_FUNCTION, AnalyseComments, OnSesEvent

    no_topic = [f.handler for f in resources.FUNCTIONS if not any(g.resource.startswith("topic/") for g in f.grants)]
    assert no_topic and all("alerts" not in BY_FUNCTION[f].reach() for f in no_topic)
    twilio = {"sms", "signature", "senders"}
    assert not OnSesEvent.reach() & (twilio | {"intake_queue", "dead_letters", "follow_ups", "alerts"})
    secret_pieces = {piece for piece, needs in NEEDS.items() if any(r.startswith("secret/") for r, _ in needs)}
    assert not AnalyseComments.reach() & (twilio | secret_pieces | EDGE_ONLY)


def _edge_names_used(node: ast.ClassDef) -> set[str]:
    """`self.edge.<name>` and `edge.<name>` (edge = self.edge) in a class's own code."""
    def is_edge(value: ast.expr) -> bool:
        return ((isinstance(value, ast.Name) and value.id == "edge")
                or (isinstance(value, ast.Attribute) and value.attr == "edge"
                    and isinstance(value.value, ast.Name) and value.value.id == "self"))
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and is_edge(n.value)}


def test_a_wiring_takes_from_the_edge_only_what_it_declares() -> None:
    from chalicelib.bootstrap import use_cases

    classes = [n for n in _parse("chalicelib/bootstrap/use_cases.py").body if isinstance(n, ast.ClassDef)]
    assert classes
    for node in classes:
        used = _edge_names_used(node) - {"settings", "clock"}
        undeclared = used - getattr(use_cases, node.name).reach()
        assert not undeclared, f"{node.name} takes {sorted(undeclared)} from the edge without declaring it (USES)"


def test_a_wiring_cannot_take_what_it_does_not_declare() -> None:
    from chalicelib.bootstrap import Components, OutOfReach
    from chalicelib.bootstrap.functions import Dispatch, OnSesEvent

    built = Components(settings.from_env(_env_with_every_declared_variable()))
    with pytest.raises(OutOfReach):
        _ = built.wiring(OnSesEvent).edge.sms
    with pytest.raises(OutOfReach):
        _ = built.wiring(Dispatch).edge.alerts
    assert built.wiring(Dispatch).edge.dead_letters is built.dead_letters     # the edge's own piece, kept
