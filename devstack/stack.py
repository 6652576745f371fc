"""The whole local stack in one process: DynamoDB Local, moto, the provisioned resources, koe's
Chalice HTTP routes, the carrier (Twilio stand-in), the LINE Platform (LINE's stand-in, `devstack/line.py`),
Alibaba Cloud SMS (China SMS's stand-in, `devstack/alibaba_sms.py`) and the Runner (queue, stream,
schedule). LINE and China SMS are on: their secrets are in moto's Secrets Manager, koe's SDK clients talk
to the stand-ins (KOE_LINE_BASE_URL, KOE_ALIBABA_SMS_ENDPOINT), LINE's stand-in posts its webhooks to
`/line/webhook` and Alibaba's pushes its receipts to `/alibaba/sms/{reports,replies}/<token>` (the local
template book: devstack/local_cn_sms.py).

Everything binds 127.0.0.1 (DynamoDB Local's jar binds all interfaces; it is reached through
127.0.0.1 only). `stop()` is safe to call twice and also runs at interpreter exit, so the JVM and the
moto child never outlive the stack; it drains the runner first and says what the queues still hold.

With `db_path`, DynamoDB Local keeps the tables in that folder and the stack keeps beside them what
must match the data across restarts: the contact hash key (contacts are keyed by HMAC(phone)) and
where the streams were read up to. Queues, topics and the phone page's messages are in memory.

koe's components run on the stack's own clock (`devstack/time_machine.py`): the wall clock until
`python -m devstack advance` moves it forward (and fires the schedule once), so deferred surveys can
be released without waiting for the customer's morning. Production code is unchanged: the stack
builds `Components(settings, clock=...)` and installs it, as the functional tests install theirs.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Self, cast

from chalicelib import resources
from devstack import faults, iam, local_routing, local_surveys
from devstack.dynamodb_local import LOOPBACK, DynamoDBLocal, free_port, port_is_free
from devstack.lambda_events import LambdaContext
from devstack.moto_server import MotoServer
from devstack.private_files import write_private
from devstack.provision import provision
from devstack.runner import DEFAULT_CONCURRENCY, QueueDepth, Runner, describe_leftovers, queue_depth
from devstack.time_machine import StackClock, TimeMachine, pinned_at, utc_now
from devstack.workers import FunctionWorkers, WorkerDied, WorkerSpec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
TWILIO_NUMBER = "+15550009999"
# Made up and fixed, so a developer's scripts keep working across restarts; never real credentials.
TWILIO_ACCOUNT_SID = "AC" + "0" * 26 + "10ca15"
TWILIO_AUTH_TOKEN = "0123456789abcdef" * 2
# The local LINE channel's credentials (the stand-in checks the token and signs webhooks with the secret).
LINE_CHANNEL_ACCESS_TOKEN = "local-line-channel-access-token-" + "0123456789abcdef" * 2
LINE_CHANNEL_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
# The local Alibaba Cloud SMS account (fictional; the stand-in verifies the SDK's signature with the
# secret) and the token in its receipt routes' paths. Delivery reports follow a send by this long.
ALIBABA_ACCESS_KEY_ID = "LTAI5tKoeLocal0000000001"
ALIBABA_ACCESS_KEY_SECRET = "koeLocalAlibabaSmsSecret0000000001"
ALIBABA_RECEIPT_TOKEN = "koeLocalAlibabaReceipts0123456789abcdef"
ALIBABA_REPORT_AFTER_S = 0.5
# The local WeChat service account (fictional): the stand-in checks the appid and secret and signs its
# pushes with the Token.
WECHAT_APPID = "wx4b6f650000000001"
WECHAT_APPSECRET = "koeLocalWeChatAppSecret0000000001"
WECHAT_TOKEN = "koeLocalWeChatToken2026"
# The contact key's version id in the local stack (its key is kept in the data folder, as before).
LOCAL_CONTACT_KEY_ID = "local-1"


_started_once = False     # see LocalStack.start


class PortInUse(RuntimeError):
    def __init__(self, port: int, flag: str) -> None:
        super().__init__(f"port {port} on {LOOPBACK} is already in use; choose another with "
                         f"{flag} PORT (0 picks a free one)")
        self.port, self.flag = port, flag


@dataclass
class StackOptions:
    api_port: int = 8000
    carrier_port: int = 8025
    line_port: int = 8026                   # the LINE stand-in (devstack/line.py)
    alibaba_port: int = 8027                # the Alibaba Cloud SMS stand-in (devstack/alibaba_sms.py)
    wechat_port: int = 8028                 # the WeChat stand-in (devstack/wechat.py)
    dynamodb_port: int = 8100
    moto_port: int = 5000
    tick_seconds: float = 60.0
    carrier_rate: float | None = None       # the carrier's messages a second per sender (None: no limit)
    carrier_faults: dict[str, float] = field(default_factory=dict)   # Twilio faults by share (devstack/carrier.py)
    api_key: str | None = None              # None: a random key for this run
    token_secret: str | None = None         # signs CX bearer tokens; None: a random one for this run
    region: str = "us-east-1"
    prefix: str = "koe-local-"
    concurrency: int = DEFAULT_CONCURRENCY  # invocations in parallel per queue (Lambda's SQS pollers)
    db_path: Path | None = None             # DynamoDB Local's data folder; None: in memory
    clock_start: datetime | None = None     # koe's clock starts here (pinned); None: the wall clock
    workers: bool = True                    # each function's invocations in its own worker processes
    warm_workers: int = 1                   # started per function at start (Lambda's provisioned concurrency)
    api_concurrency: int = 8                # the API function's workers at most (its reserved concurrency)
    timings: dict[str, float] = field(default_factory=dict)    # filled by start(): seconds per step

    def check_ports(self) -> None:
        """Fail before starting anything when a fixed port is taken (0 means "any free port")."""
        for port, flag in ((self.api_port, "--api-port"), (self.carrier_port, "--carrier-port"),
                           (self.line_port, "--line-port"), (self.alibaba_port, "--alibaba-port"),
                           (self.wechat_port, "--wechat-port"),
                           (self.dynamodb_port, "--dynamodb-port"), (self.moto_port, "--moto-port")):
            if port and not port_is_free(port):
                raise PortInUse(port, flag)


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.env: dict[str, str] = {}
        self.dynamodb: DynamoDBLocal | None = None
        self.moto: MotoServer | None = None
        self.app: ModuleType | None = None
        self.carrier: Any = None
        self.line: Any = None                   # devstack.line.LinePlatform
        self.alibaba: Any = None                # devstack.alibaba_sms.AlibabaSmsPlatform
        self.wechat: Any = None                 # devstack.wechat.WeChatPlatform
        self.runner: Runner | None = None
        self.workers: dict[str, FunctionWorkers] = {}   # handler -> its worker processes
        self._warming: list[threading.Thread] = []
        self.api_port: int | None = None
        self._http: Any = None                  # chalice.local.LocalDevServer
        self._http_thread: threading.Thread | None = None
        self._stopped = False
        self.leftovers: dict[str, QueueDepth] = {}     # what stop() found on the queues
        start = self.options.clock_start
        self.clock = StackClock(pinned_at(start) if start else utc_now)   # koe's "now" in this stack
        self.time_machine = TimeMachine(self.clock, fire=self._fire_schedule)
        self._dynamodb_client: Any = None

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def start(self) -> Self:
        global _started_once
        if _started_once:
            # koe reads its settings and builds its clients once per process (as a warm Lambda
            # does) and Chalice's local server adopts the app object: a second stack in this
            # process would talk to the first one's (stopped) endpoints.
            raise RuntimeError("one LocalStack per process; start another with `python -m devstack`")
        _started_once = True
        self.options.check_ports()
        atexit.register(self.stop)      # also on errors below: nothing started may outlive us
        try:
            self._timed("dynamodb", self._start_dynamodb)
            self._timed("moto", self._start_moto)
            self._timed("provision", self._provision)
            self._timed("app", self._import_app)
            self._timed("http", self._start_http)
            self._timed("carrier", self._start_carrier)
            self._timed("line", self._start_line)
            self._timed("alibaba", self._start_alibaba)
            self._timed("wechat", self._start_wechat)
            self._timed("runner", self._start_runner)
        except BaseException:
            self.stop()
            raise
        return self

    def _timed(self, step: str, action: Callable[[], None]) -> None:
        started = time.monotonic()
        action()
        self.options.timings[step] = round(time.monotonic() - started, 3)

    def _start_dynamodb(self) -> None:
        self.dynamodb = DynamoDBLocal(self.options.dynamodb_port, self.options.region,
                                      db_path=self.options.db_path).start()

    def _start_moto(self) -> None:
        self.moto = MotoServer(self.options.moto_port).start()

    def _provision(self) -> None:
        assert self.dynamodb and self.moto
        self.env = provision(self.dynamodb.endpoint, self.moto.endpoint, self.options.region,
                             self.options.prefix, stand_ins=True)

    def _import_app(self) -> None:
        """Settings are read on first use, so the environment is complete before `app` loads."""
        self.api_port = self.options.api_port or free_port()
        self.line = self._make_line()           # binds now: its URL goes into the settings
        self.alibaba = self._make_alibaba()     # binds now: its endpoint goes into the settings
        self.wechat = self._make_wechat()       # binds now: its URL goes into the settings
        self.carrier = self._make_carrier()     # binds now: its URL goes into the settings
        self.env.update(self._app_settings())
        # The local routing table and alert settings, unless the environment brings its own (a test's
        # loopback chat receiver, a developer's own table).
        self.env.update({name: value for name, value in local_routing.settings(self.carrier.chat_webhook_url).items()
                         if name not in os.environ})
        # One procedure on each scale (NPS, CSAT, CES), unless the environment defines its own.
        self.env.update({name: value for name, value in local_surveys.settings().items() if name not in os.environ})
        os.environ.update(self.env)
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        self.app = importlib.import_module("app")
        iam.install(self.options.prefix)       # each function may call only what its role allows
        if os.environ.get(faults.ENV):         # AWS failing part of the time, on purpose (local only)
            faults.install(faults.Faults.parse(os.environ[faults.ENV], int(os.environ.get(faults.SEED_ENV, "0"))))
        # Build koe's components now, as a Lambda's init would: concurrent first invocations (the
        # runner's pollers, the HTTP threads) would otherwise each build their own. On the stack's
        # clock, which the time machine moves.
        bootstrap = importlib.import_module("chalicelib.bootstrap")
        settings = importlib.import_module("chalicelib.settings")
        bootstrap.install(bootstrap.Components(settings.current(), clock=self.clock))

    def _app_settings(self) -> dict[str, str]:
        return {
            **self._secrets(),
            # The local stack's own CX bearer tokens (`python -m devstack token`); never set in AWS.
            resources.LOCAL_TOKEN_SECRET_ENV: self.options.token_secret or secrets.token_urlsafe(48),
            "KOE_PUBLIC_BASE_URL": self.api_url,
            "KOE_TWILIO_BASE_URL": self.carrier.url,
            "KOE_LINE_BASE_URL": self.line.url,
            "KOE_ALIBABA_SMS_ENDPOINT": self.alibaba.endpoint,
            "KOE_ALIBABA_SMS_PROTOCOL": "http",
            "KOE_CN_SMS_TEMPLATES": json.dumps(self._cn_sms_templates(), ensure_ascii=False),
            "KOE_WECHAT_BASE_URL": self.wechat.url,
            "KOE_WECHAT_TEMPLATES": json.dumps(self._wechat_templates(), ensure_ascii=False),
            # The app's SDK clients must never find real credentials, whatever the shell exports.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }

    def _secrets(self) -> dict[str, str]:
        """The stack's values of koe's secrets, written to moto's Secrets Manager (koe reads them there,
        as in AWS); returns the KOE_LOCAL_* copies the seed, tests and developers use (koe never reads them)."""
        from devstack.provision import put_secret

        assert self.moto
        api_key = self.options.api_key or secrets.token_urlsafe(24)
        keyring = {"current": LOCAL_CONTACT_KEY_ID, "keys": {LOCAL_CONTACT_KEY_ID: self._contact_hash_key()}}
        twilio = {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN, "from": TWILIO_NUMBER}
        line = {"channel_access_token": LINE_CHANNEL_ACCESS_TOKEN, "channel_secret": LINE_CHANNEL_SECRET}
        alibaba = {"access_key_id": ALIBABA_ACCESS_KEY_ID, "access_key_secret": ALIBABA_ACCESS_KEY_SECRET,
                   "receipt_token": ALIBABA_RECEIPT_TOKEN}
        wechat = {"appid": WECHAT_APPID, "appsecret": WECHAT_APPSECRET, "token": WECHAT_TOKEN}
        values: dict[resources.Secret, dict[str, Any]] = {
            resources.TWILIO_SECRET: twilio, resources.API_KEYS_SECRET: {"keys": [api_key]},
            resources.CONTACT_KEYS_SECRET: keyring, resources.LINE_SECRET: line,
            resources.ALIBABA_SMS_SECRET: alibaba, resources.WECHAT_SECRET: wechat}
        for secret, value in values.items():
            put_secret(self.moto.endpoint, self.options.region, self.env[secret.env], value)
        return {"KOE_LOCAL_API_KEY": api_key, "KOE_LOCAL_CONTACT_KEYS": json.dumps(keyring)}

    def _contact_hash_key(self) -> str:
        """Random per run in memory; kept in the data folder with the data, since contacts (and
        their opt-outs) are keyed by HMAC(phone) and a new key would orphan them."""
        if self.options.db_path is None:
            return secrets.token_hex(32)
        path = self.options.db_path / "contact-hash-key"
        if not path.exists():
            write_private(path, secrets.token_hex(32))     # 0600 from its first byte
        return path.read_text().strip()

    def _make_line(self) -> Any:
        """The LINE stand-in on the stack's clock (reply tokens age as koe's time does), posting LINE's
        webhooks to this stack's API; it binds now and serves once started."""
        from devstack.line import LinePlatform

        return LinePlatform(channel_access_token=LINE_CHANNEL_ACCESS_TOKEN, channel_secret=LINE_CHANNEL_SECRET,
                            app_webhook_url=f"{self.api_url}/line/webhook", port=self.options.line_port,
                            clock=self.clock)

    def _cn_sms_templates(self) -> dict[str, Any]:
        """China SMS's approved templates: the environment's KOE_CN_SMS_TEMPLATES, else the local book."""
        from devstack import local_cn_sms

        if os.environ.get("KOE_CN_SMS_TEMPLATES"):
            return cast(dict[str, Any], json.loads(os.environ["KOE_CN_SMS_TEMPLATES"]))
        return local_cn_sms.template_book(f"{os.environ.get('KOE_SURVEY_LINK_BASE_URL') or self.api_url}/s")

    def _make_alibaba(self) -> Any:
        """The Alibaba Cloud SMS stand-in, approving koe's China SMS template book, pushing each message's
        delivery report a moment after it is sent and the customer's replies to this stack's receipt
        routes (the receipt token in the path, as Alibaba's console is given it)."""
        from devstack.alibaba_sms import AlibabaSmsPlatform

        receipts = f"{self.api_url}/alibaba/sms/{{}}/{ALIBABA_RECEIPT_TOKEN}"
        return AlibabaSmsPlatform.from_template_book(
            self._cn_sms_templates(), access_key_id=ALIBABA_ACCESS_KEY_ID,
            access_key_secret=ALIBABA_ACCESS_KEY_SECRET, report_url=receipts.format("reports"),
            reply_url=receipts.format("replies"), port=self.options.alibaba_port, clock=self.clock,
            report_after_s=ALIBABA_REPORT_AFTER_S)

    def _wechat_templates(self) -> dict[str, Any]:
        """WeChat's template book: the environment's KOE_WECHAT_TEMPLATES, else the local fictional book."""
        from chalicelib.domain.wechat import DEFAULT_TEMPLATES

        if os.environ.get("KOE_WECHAT_TEMPLATES"):
            return cast(dict[str, Any], json.loads(os.environ["KOE_WECHAT_TEMPLATES"]))
        return DEFAULT_TEMPLATES

    def _make_wechat(self) -> Any:
        """The WeChat stand-in on the stack's clock, knowing the book's templates, pushing the account's
        events (a follow, an unfollow, a text, each send's report) to this stack's `/wechat/events`."""
        from devstack.wechat import WeChatPlatform

        return WeChatPlatform.from_template_book(
            self._wechat_templates(), appid=WECHAT_APPID, secret=WECHAT_APPSECRET, token=WECHAT_TOKEN,
            app_webhook_url=f"{self.api_url}/wechat/events", port=self.options.wechat_port, clock=self.clock)

    def _make_carrier(self) -> Any:
        from devstack.carrier import Carrier

        assert self.moto
        email = resources.EMAIL     # the carrier simulates what SES reports to its topic
        return Carrier(account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN,
                       number=TWILIO_NUMBER, app_sms_url=f"{self.api_url}/twilio/sms",
                       port=self.options.carrier_port, moto_url=self.moto.endpoint,
                       ses_events_topic_arn=self.env[resources.topic(email.events_topic).env or ""],
                       ses_configuration_set=self.env[email.env], region=self.options.region,
                       time_machine=self.time_machine, scheduled=self.scheduled_surveys,
                       messages_per_second=self.options.carrier_rate, faults=self.options.carrier_faults,
                       faults_seed=int(os.environ.get(faults.SEED_ENV, "0")), line=self.line,
                       alibaba=self.alibaba, wechat=self.wechat)

    def _fire_schedule(self) -> Any:
        """One `tick` now (after the time machine moved the clock); None before the runner runs."""
        return self.runner.tick_once() if self.runner is not None else None

    def scheduled_surveys(self) -> list[dict[str, Any]]:
        """The surveys waiting for their send window (devstack/scheduled.py), for the phone page."""
        from devstack.provision import client
        from devstack.scheduled import scheduled_surveys

        assert self.dynamodb
        if self._dynamodb_client is None:
            self._dynamodb_client = client("dynamodb", self.dynamodb.endpoint, self.options.region)
        return scheduled_surveys(self._dynamodb_client, self.options.prefix)

    def _start_http(self) -> None:
        assert self.app and self.api_port
        invoke = None
        if self.options.workers:
            api = self._function_workers(resources.API_HANDLER, attribute="app",
                                         max_workers=self.options.api_concurrency)
            name, region = f"{self.options.prefix}{resources.API_HANDLER}", self.options.region

            def invoke(event: dict[str, Any], _context: Any) -> Any:
                return api(event, LambdaContext(function_name=name, region=region))
        self._http = local_http_server(self.app.app, self.api_port, invoke)
        self._http_thread = threading.Thread(target=self._http.server.serve_forever,
                                             name="chalice-local", daemon=True)
        self._http_thread.start()

    def _start_carrier(self) -> None:
        self.carrier.start()

    def _start_line(self) -> None:
        self.line.start()

    def _start_alibaba(self) -> None:
        self.alibaba.start()

    def _start_wechat(self) -> None:
        self.wechat.start()

    def _start_runner(self) -> None:
        assert self.dynamodb and self.moto
        positions = self.options.db_path / "stream-positions.json" if self.options.db_path else None
        self.runner = Runner(self.app, dynamodb_endpoint=self.dynamodb.endpoint,
                             aws_endpoint=self.moto.endpoint, region=self.options.region,
                             env=self.env, tick_seconds=self.options.tick_seconds,
                             concurrency=self.options.concurrency,
                             stream_positions=positions,
                             functions=self._function_workers if self.options.workers else None).start()
        # Warm workers for each function, started in the background: the first invocations are not
        # cold starts (`warmed()` waits for them).
        self._warming = [threading.Thread(target=self._warm, args=(workers, min(
                             self.options.warm_workers, workers.max_workers or self.options.warm_workers)),
                                          name=f"warm-{workers.spec.function}", daemon=True)
                         for workers in self.workers.values()]
        for thread in self._warming:
            thread.start()

    def warmed(self, timeout_s: float = 300.0) -> None:
        """Wait until the warm workers asked for (StackOptions.warm_workers) have started."""
        deadline = time.monotonic() + timeout_s
        for thread in self._warming:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _function_workers(self, handler: str, attribute: str | None = None,
                          max_workers: int | None = None) -> FunctionWorkers:
        """The worker processes `handler`'s invocations run in (devstack/workers.py)."""
        if handler not in self.workers:
            spec = WorkerSpec(handler, self.options.prefix, self.clock.shared(), str(REPO_ROOT),
                              logging.getLogger().getEffectiveLevel(), attribute=attribute)
            if max_workers is None:     # a queue's pollers run `concurrency` at once; a stream, topic, schedule one
                queue_consumers = set(resources.queue_consumers().values())
                max_workers = self.options.concurrency if handler in queue_consumers else 1
            self.workers[handler] = FunctionWorkers(spec, max_workers)
        return self.workers[handler]

    @staticmethod
    def _warm(workers: FunctionWorkers, n: int) -> None:
        try:
            workers.warm(n)
        except WorkerDied as exc:
            if not exc.signalled:
                log.exception("could not start a worker for %s", workers.spec.function)
            else:               # Ctrl-C while it was starting: the stack is stopping, nothing is wrong
                log.info("a warm worker for %s was stopped while starting", workers.spec.function)
        except Exception:       # the first invocation starts one instead, and says why it cannot
            log.exception("could not start a worker for %s", workers.spec.function)

    def addresses(self) -> dict[str, Any]:
        """Where everything is, for people (printed) and for tests (the ready file)."""
        assert self.dynamodb and self.moto
        return {
            "api_url": self.api_url,
            "phone_url": f"{self.carrier.url}/",
            "mailbox_url": f"{self.carrier.url}/mailbox",
            "clock_url": f"{self.carrier.url}/clock",
            "carrier_url": self.carrier.url,
            "line_url": self.line.url,
            "alibaba_url": self.alibaba.url,
            "wechat_url": self.wechat.url,
            "dynamodb_endpoint": self.dynamodb.endpoint,
            "moto_endpoint": self.moto.endpoint,
            "api_key": self.env["KOE_LOCAL_API_KEY"],
            "env": dict(self.env),
            "pid": os.getpid(),
        }

    def stop(self) -> None:
        """Stop in order: intake first (the HTTP API takes no new events), then the runner drains its
        batches in flight and the queues are reported, then the carrier and the LINE stand-in the runner
        was sending through, then the services everything stood on. Each part is stopped even if another fails."""
        if self._stopped:
            return
        self._stopped = True
        for name, action in (("http", self._http and self._stop_http),
                             ("runner", self.runner and self._drain),
                             ("workers", self.workers and self._retire_workers),
                             ("carrier", self.carrier and self.carrier.stop),
                             ("line", self.line and self.line.stop),
                             ("alibaba", self.alibaba and self.alibaba.stop),
                             ("wechat", self.wechat and self.wechat.stop),
                             ("moto", self.moto and self.moto.stop),
                             ("dynamodb", self.dynamodb and self.dynamodb.stop)):
            if not action:
                continue
            try:
                action()
            except Exception:
                log.exception("could not stop %s", name)
        atexit.unregister(self.stop)

    def _drain(self) -> None:
        """The runner finishes its batches in flight; then say what every queue still holds."""
        assert self.runner and self.moto
        self.runner.stop(report=False)
        sqs = self.runner.queue_sources[0].sqs if self.runner.queue_sources else None
        if sqs is None:
            return
        urls = {url.rsplit("/", 1)[-1]: url for var, url in self.env.items()
                if var.endswith(("_QUEUE_URL", "_DLQ_URL"))}
        for name, url in sorted(urls.items()):
            try:
                self.leftovers[name] = queue_depth(sqs, url)
            except Exception:
                log.warning("could not read the depth of %s", name)
        for line in describe_leftovers(self.leftovers):
            log.warning("%s", line)

    def worker_pids(self) -> list[int]:
        """Every function's worker processes now."""
        return [pid for workers in self.workers.values() for pid in workers.pids()]

    def _retire_workers(self) -> None:
        for workers in self.workers.values():
            workers.close()

    def _stop_http(self) -> None:
        if self._http_thread is not None:
            self._http.shutdown()       # from this thread, never the serving one (it would deadlock)
        self._http.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def local_http_server(chalice_app: Any, port: int, invoke: Any = None) -> Any:
    """Chalice's `chalice local` server for this app object, on 127.0.0.1:port.

    Config.create() reads no `.chalice/config.json`, so no stage environment variables can
    overwrite the ones the stack set. The server binds when created.
    """
    from chalice.config import Config

    from devstack.local_http import create_local_server

    config = Config.create(chalice_stage="local", app_name=chalice_app.app_name,
                           lambda_timeout=30, lambda_memory_size=512)
    return create_local_server(chalice_app, config, LOOPBACK, port, invoke)
