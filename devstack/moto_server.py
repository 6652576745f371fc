"""moto in server mode on 127.0.0.1: SQS, SNS, SES and EventBridge for the local stack and the tests.

Two ways to run it:
- a child process (default): its state is its own. In-process, moto keeps one global state that any
  `mock_aws()` in the same process resets (checked: queues created through the server vanish when a
  unit test enters `mock_aws`), so a pytest session mixing unit and integration tests needs this.
- in-process (`in_process=True`): `moto.server.ThreadedMotoServer`, faster to start.

The child also answers `GET /koe-local/ses-sent?since=N&to=ADDRESS&id=MESSAGE_ID` (`ses_sent`): the
SES messages alone (from the N-th on, to that address, with that id: each filter optional), for the
local mailbox (devstack/mailbox.py), which would otherwise read moto's whole state
(/moto-api/data.json) on every look.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from devstack.dynamodb_local import LOOPBACK, port_is_free
from devstack.mailbox import SES_SENT_PATH

if TYPE_CHECKING:  # at run time moto is imported only where a server starts (a slow import)
    from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


class MotoServerError(RuntimeError):
    """moto could not start."""


class MotoServer:
    """Start with start(); `.endpoint` is then http://127.0.0.1:PORT; stop() shuts it down."""

    def __init__(self, port: int = 0, *, in_process: bool = False, timeout_s: float = 30.0) -> None:
        self.requested_port = port
        self.in_process = in_process
        self.timeout_s = timeout_s
        self.port: int | None = None
        self._threaded: ThreadedMotoServer | None = None     # when in-process
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise MotoServerError("moto is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The process serving moto: the child, or this process when in-process."""
        if self._proc is not None:
            return self._proc.pid
        if self._threaded is not None:
            return os.getpid()
        raise MotoServerError("moto is not started")

    def start(self) -> Self:
        if self.requested_port and not port_is_free(self.requested_port):
            # ThreadedMotoServer would wait forever for a server thread that died on bind.
            raise MotoServerError(f"port {self.requested_port} on {LOOPBACK} is already in use")
        if self.in_process:
            self._start_in_process()
        else:
            self._start_child()
        log.info("moto ready at %s", self.endpoint)
        return self

    def _start_in_process(self) -> None:
        from moto.server import ThreadedMotoServer

        _quiet_request_log()
        self._threaded = ThreadedMotoServer(ip_address=LOOPBACK, port=self.requested_port,
                                            verbose=False)
        self._threaded.start()
        self.port = int(self._threaded.get_host_and_port()[1])

    def _start_child(self) -> None:
        """Run this module as a child; it prints its port once serving, and exits on stdin EOF."""
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open for the child's life)
            prefix="moto-", suffix=".log")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.moto_server", "--port", str(self.requested_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            # Its own session: the terminal's Ctrl-C goes to the stack alone, which stops moto once
            # the runner has drained and the queues were reported (it exits on stdin EOF).
            env=env, cwd=REPO_ROOT, start_new_session=True)
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], self.timeout_s)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            time.sleep(0.2)     # let the child finish writing its traceback
            raise MotoServerError(f"moto did not start (exit code {self._proc.poll()}):\n"
                                  f"{self._stderr_tail()}")
        return int(json.loads(line)["port"])

    def _stderr_tail(self, lines: int = 30) -> str:
        if self._stderr is None:
            return ""
        return "\n".join(Path(self._stderr.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            threaded.stop()
        proc, self._proc = self._proc, None
        if proc is not None:
            _end_child(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _end_child(proc: subprocess.Popen[str]) -> None:
    """Closing stdin asks the child to exit; terminate/kill only if it does not."""
    if proc.stdin is not None:
        proc.stdin.close()
    for ask in (None, proc.terminate, proc.kill):
        if ask is not None:
            ask()
        try:
            proc.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


def _quiet_request_log() -> None:
    # werkzeug logs one line per request; the stack makes several per second when idle.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _fast_sqs_clock() -> None:
    """moto's SQS reads the clock through `unix_time()`, which builds two datetimes per call, and
    calls it for every message in the queue on every send and receive (its message-count attributes
    scan the whole queue): with 1,000 messages queued a SendMessageBatch took ~85 ms of CPU and a
    receive + delete ~130 ms (measured, moto 5.2). The same value from `time.time()` is ~50x cheaper.
    Only in the child, where nothing freezes time; the in-process server (and `mock_aws` in unit
    tests) keep moto's own clock."""
    import moto.sqs.models as sqs_models
    from moto.core import utils

    slow = utils.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else slow(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    for name, fast in (("unix_time", unix_time), ("unix_time_millis", unix_time_millis)):
        if hasattr(sqs_models, name):       # a later moto may not import them by name: then no change
            setattr(sqs_models, name, fast)


def _thread_safe_sqs() -> None:
    """moto's SQS queue appends a sent message under the queue's lock, but a delete rebuilds the
    queue's message list without it: a SendMessage and a DeleteMessage at the same moment lose the
    message sent (found by the 10,000-survey release storm: 83 accepted events never reached
    dispatch; moto 5.x). AWS never loses a message it accepted, so here a delete and a receive take
    the queue's lock too (the lock is reentrant; a long poll waits on it, releasing it meanwhile)."""
    import functools

    import moto.sqs.models as sqs_models

    queue_delete = sqs_models.Queue.delete_message

    @functools.wraps(queue_delete)
    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            queue_delete(self, receipt_handle)

    receive = sqs_models.SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return receive(self, queue_name, *args, **kwargs)

    sqs_models.Queue.delete_message = delete_message  # type: ignore[method-assign]
    sqs_models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


SES_FIELDS = ("id", "source", "destinations", "raw_data", "subject", "body", "template", "template_data")
# What SES v2's SendEmail was told beyond what moto keeps: its message tags and configuration set, by
# message id (the SES events of that message carry the tags).
_SENT_WITH: dict[str, dict[str, Any]] = {}


def _ses_send_events() -> None:
    """SES's event publishing of "Send": a message SES v2 takes through a configuration set whose
    event destination matches `send` is published to that destination's SNS topic, its EmailTags in
    `mail.tags`, as SES does (moto publishes no SES event). Published as SendEmail answers: SES's own
    comes within seconds, so koe's record of the send and this event race, as in AWS."""
    import functools

    import moto.sesv2.responses as sesv2_responses

    send_email = sesv2_responses.SESV2Response.send_email

    @functools.wraps(send_email)
    def sending(self: Any) -> str:
        answer = send_email(self)
        params = json.loads(self.body)
        message_id = str(json.loads(answer)["MessageId"])
        tags = {str(t.get("Name")): [str(t.get("Value"))] for t in params.get("EmailTags") or []}
        _SENT_WITH[message_id] = {"tags": tags, "configuration_set": params.get("ConfigurationSetName")}
        _publish_send(self, message_id, params, tags)
        return answer

    sesv2_responses.SESV2Response.send_email = sending  # type: ignore[method-assign]


def _publish_send(response: Any, message_id: str, params: dict[str, Any], tags: dict[str, list[str]]) -> None:
    from moto.sns.models import sns_backends

    from devstack.mailbox import feedback_notification

    configuration_set = params.get("ConfigurationSetName")
    destination = response.sesv2_backend.core_backend.config_set_event_destination.get(configuration_set or "")
    if not destination or "send" not in [str(e).lower() for e in destination.get("MatchingEventTypes", [])]:
        return
    topic_arn = (destination.get("SNSDestination") or {}).get("TopicARN")
    if not topic_arn:
        return
    recipients = (params.get("Destination") or {}).get("ToAddresses") or [""]
    event = feedback_notification("send", {"message_id": message_id, "from": params.get("FromEmailAddress", ""),
                                           "tags": tags}, recipients[0], configuration_set=configuration_set or "",
                                  region=response.region, account_id=response.current_account)
    sns_backends[response.current_account][response.region].publish(json.dumps(event), arn=topic_arn)


def ses_sent(since: int = 0, to: str | None = None, message_id: str | None = None) -> dict[str, Any]:
    """The messages moto's SES accepted, from the `since`-th on, to `to` and with id `message_id`
    when given, each with its `index` and `kind`: data.json's "ses" section, in its order
    (SendEmail's, then raw, then templated) and shape. data.json serialises every object moto ever
    made (every SQS message too) on each read: a seeded month's mailbox read that way took ~0.8 s per
    look, growing with every email, and a one-click unsubscribe (every email parsed) ~2 s."""
    from moto.ses import models

    from devstack.mailbox import SES_KINDS, addressed_to

    found = []
    instances = [(kind, instance) for kind in SES_KINDS for instance in list(getattr(models, kind).instances_tracked)]
    for index, (kind, instance) in enumerate(instances[since:], start=since):
        if message_id is not None and getattr(instance, "id", None) != message_id:
            continue
        if to is not None and not addressed_to(getattr(instance, "destinations", None), to):
            continue
        fields = {name: getattr(instance, name) for name in SES_FIELDS if hasattr(instance, name)}
        found.append({"index": index, "kind": kind, **fields, **_SENT_WITH.get(str(fields.get("id")), {})})
    return {"messages": found}


class _LocalRoutes:
    """WSGI middleware in front of moto's app: SES_SENT_PATH here, everything else to moto."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != SES_SENT_PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        from urllib.parse import parse_qs

        query = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        since = query.get("since", "0")
        if not since.isdigit():
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"since is a whole number"]
        body = json.dumps(ses_sent(int(since), query.get("to") or None, query.get("id") or None)).encode("utf-8")
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _serve(port: int) -> None:
    """Child entry point: serve on 127.0.0.1, report the port, live until stdin closes."""
    from moto.server import ThreadedMotoServer

    _quiet_request_log()
    _fast_sqs_clock()
    _thread_safe_sqs()
    _ses_send_events()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    # werkzeug's server reads `.app` on each request: the mailbox's route goes in front of moto's.
    # (`_server` is ThreadedMotoServer's own; without it the mailbox falls back to data.json.)
    wsgi = getattr(server, "_server", None)
    if wsgi is not None and hasattr(wsgi, "app"):
        wsgi.app = _LocalRoutes(wsgi.app)
    print(json.dumps({"port": server.get_host_and_port()[1]}), flush=True)
    # EOF on stdin means the parent stopped us or died: either way, do not outlive it.
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="moto server on 127.0.0.1 (child of the devstack)")
    parser.add_argument("--port", type=int, default=0)
    _serve(parser.parse_args().port)
