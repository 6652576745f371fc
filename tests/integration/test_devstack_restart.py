"""What survives a restart of the local stack: `python -m devstack --db-path DIR` keeps DynamoDB Local's
tables (surveys, contacts and opt-outs, answers, cases, scores, idempotency) in DIR, with the contact
hash key and the streams' read positions beside them; queues and the phone page start empty.

Each stack is a child process (`LocalStack` is one per process); ports are free ones (0).
Fictional numbers only (555-01xx).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.dynamodb_local import DynamoDBLocal, DynamoDBLocalError
from devstack.provision import client
from tests import clock

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 90
AGENT = "A-restart"


def until(condition: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"condition not met within {timeout_s} s")


@contextmanager
def devstack(db_path: Path, workdir: Path, name: str, later: timedelta = timedelta(0)) -> Iterator[dict[str, Any]]:
    """`python -m devstack --db-path db_path` on free ports until the block ends (SIGTERM, exit 0), its
    clock started `later` than the suite's pinned instant (a restart happens after the first run)."""
    ready, output = workdir / f"{name}.json", workdir / f"{name}.log"
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", "0", "--carrier-port", "0", "--line-port", "0",
             "--alibaba-port", "0", "--wechat-port", "0",
             "--dynamodb-port", "0", "--moto-port", "0", "--tick-seconds", "3600", "--concurrency", "2",
             "--db-path", str(db_path), "--ready-file", str(ready),
             "--clock-start", (clock.start() + later).isoformat()],
            cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "KOE_SEND_WINDOW": "00:00-23:59"})   # send now, whatever the hour
    try:
        until(lambda: ready.exists() or proc.poll() is not None, timeout_s=STARTUP_S)
        assert proc.poll() is None, output.read_text()[-3000:]
        yield json.loads(ready.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, output.read_text()[-3000:]


class Koe:
    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        self.api, self.carrier, self.key = stack["api_url"], stack["carrier_url"], stack["api_key"]
        self.dynamodb = client("dynamodb", stack["dynamodb_endpoint"], stack["env"]["AWS_REGION"])
        self.prefix = stack["env"]["KOE_RESOURCE_PREFIX"]

    def post(self, phone: str, procedure: str = "claim_payment") -> str:
        from devstack import tokens

        event_id = f"restart-{uuid.uuid4().hex[:10]}"
        answer = requests.post(f"{self.api}/v1/events", headers={"x-api-key": self.key}, timeout=10, json={
            "event_id": event_id, "procedure": procedure,
            "completed_at": tokens.stack_now(self.carrier).isoformat(timespec="seconds"),
            "customer": {"id": "C-R1", "phone": phone, "locale": "en-US"},
            "context": {"branch": "tokyo-chuo", "agent_id": AGENT}})
        assert answer.status_code == 202, answer.text
        return event_id

    def invitations(self, phone: str) -> list[dict[str, Any]]:
        texts = requests.get(f"{self.carrier}/messages", params={"to": phone}, timeout=10).json()
        return [m for m in texts if m["direction"] == "outbound-api"]

    def reply(self, phone: str, body: str) -> dict[str, Any]:
        answer: dict[str, Any] = requests.post(f"{self.carrier}/reply", json={"from": phone, "body": body},
                                               timeout=20).json()
        return answer

    def survey(self, survey_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(TableName=f"{self.prefix}surveys", ConsistentRead=True,
                                      Key={"survey_id": {"S": survey_id}}).get("Item")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def agent_scores(self) -> dict[str, Any] | None:
        from devstack import tokens

        secret = self.stack["env"]["KOE_LOCAL_TOKEN_SECRET"]
        bearer = tokens.mint(secret, "cx_admin", now=tokens.stack_now(self.carrier))
        answer = requests.get(f"{self.api}/v1/scores", params={"dimension": "agent"}, timeout=10,
                              headers={"authorization": f"Bearer {bearer}"})
        assert answer.status_code == 200, answer.text
        groups = [g for result in answer.json()["results"] for g in result["groups"]]
        return next((g for g in groups if g["value"] == AGENT), None)


def test_surveys_opt_outs_and_scores_survive_a_restart_on_the_same_db_path(tmp_path: Path):
    db_path = tmp_path / "dynamodb"
    promoter, other, stopper, later = "+15550100181", "+15550100184", "+15550100182", "+15550100183"
    # Given a stack keeping its data in db_path, where two customers answered 9 (each answer counted
    # in its own stream batch) and another texted STOP
    with devstack(db_path, tmp_path, "first") as stack:
        koe = Koe(stack)
        answered = koe.post(promoter)
        until(lambda: koe.invitations(promoter))
        koe.reply(promoter, "9")
        until(lambda: (koe.agent_scores() or {}).get("n") == 1)
        koe.post(other)
        until(lambda: koe.invitations(other))
        koe.reply(other, "9")
        until(lambda: (koe.agent_scores() or {}).get("n") == 2)
        koe.post(stopper)
        until(lambda: koe.invitations(stopper))
        assert koe.reply(stopper, "STOP")["app_status"] == 200
        first_key = (db_path / "contact-hash-key").read_text()
    assert (db_path / "shared-local-instance.db").exists()

    # When the stack is started again on the same folder (new ports, new processes)
    with devstack(db_path, tmp_path, "second", later=timedelta(hours=1)) as stack:
        koe = Koe(stack)
        # Then the survey is there with its score
        survey = koe.survey(answered)
        assert survey is not None and survey["score"] == "9"
        # And the opt-out still holds: a new event for that customer is suppressed, nothing is sent
        suppressed = koe.post(stopper, procedure="address_change")
        recorded = until(lambda: koe.survey(suppressed))
        assert (recorded["status"], recorded["reason"]) == ("suppressed", "opted_out")
        assert koe.invitations(stopper) == []           # the phone page's history did not survive
        # And answers already counted are not counted again: the stream resumes where it stopped (read
        # from its start, the two answers would come as one new batch, which no token deduplicates)
        koe.post(later)
        until(lambda: koe.invitations(later))
        koe.reply(later, "10")
        group = until(lambda: (g := koe.agent_scores()) and g["n"] >= 3 and g)
        assert (group["n"], group["promoters"]) == (3, 3)
    assert (db_path / "contact-hash-key").read_text() == first_key


def test_dynamodb_local_is_in_memory_unless_given_a_folder(tmp_path: Path):
    # Given no folder, DynamoDB Local keeps nothing (the test fixtures rely on it)
    assert DynamoDBLocal(port=0).storage_args() == ["-inMemory"]
    # Given a folder, it keeps its data there
    assert DynamoDBLocal(port=0, db_path=tmp_path).storage_args() == ["-dbPath", str(tmp_path.resolve())]


def test_a_second_dynamodb_local_on_the_same_folder_is_refused(tmp_path: Path):
    # Given DynamoDB Local running on a folder
    with DynamoDBLocal(port=0, db_path=tmp_path / "db"):
        # When another one is started on the same folder
        with pytest.raises(DynamoDBLocalError, match="in use by another DynamoDB Local"):
            DynamoDBLocal(port=0, db_path=tmp_path / "db").start()
    # Then, once the first has stopped, the folder can be used again
    with DynamoDBLocal(port=0, db_path=tmp_path / "db") as again:
        assert again.client().list_tables()["TableNames"] == []


# --- Ctrl-C, then `make run` again at once ---------------------------------------------------------

def _start_in_a_terminal(ports: list[int], workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`python -m devstack` on these fixed ports as a terminal runs it: the leader of its own process
    group, so Ctrl-C (SIGINT to the whole foreground group) reaches every process in it."""
    ready, output = workdir / f"{name}.json", workdir / f"{name}.log"
    api, carrier, line, alibaba, wechat, dynamodb, moto = ports
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", str(api), "--carrier-port", str(carrier),
             "--line-port", str(line), "--alibaba-port", str(alibaba), "--wechat-port", str(wechat),
             "--dynamodb-port", str(dynamodb), "--moto-port", str(moto), "--tick-seconds", "3600",
             "--in-memory", "--ready-file", str(ready), *clock.devstack_args()],
            cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT, process_group=0)
    return proc, ready, output


def _ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def test_ctrl_c_stops_in_order_with_the_queue_report_and_the_stack_starts_again_at_once(tmp_path: Path):
    from devstack.dynamodb_local import free_port

    ports = [free_port() for _ in range(7)]
    # Given `make run` on fixed ports, used (connections closed by the servers sit in TIME_WAIT)
    proc, ready, output = _start_in_a_terminal(ports, tmp_path, "first")
    try:
        until(lambda: ready.exists() or proc.poll() is not None, timeout_s=STARTUP_S)
        assert proc.poll() is None, output.read_text()[-3000:]
        stack = json.loads(ready.read_text())
        for _ in range(5):
            requests.get(f"{stack['carrier_url']}/clock", timeout=10)
            requests.post(f"{stack['api_url']}/v1/events", json={}, timeout=10, headers={"x-api-key": stack["api_key"]})
            # LINE's stand-in too: a LINE user follows (its webhook to the API, the API's answer)
            requests.post(f"{stack['line_url']}/customer/follow", json={"user": "U" + "4b6f65" * 5 + "00"}, timeout=10)
    finally:
        # When the developer presses Ctrl-C
        code = _ctrl_c(proc)
    log = output.read_text()
    # Then it stops cleanly: the runner drained and the queues were reported before moto went away
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "queues were empty at the stop" in log or "still queued" in log, log[-3000:]
    assert "could not read the depth" not in log, log[-3000:]

    # And started again at once on the same ports, it is ready
    again, ready_again, output_again = _start_in_a_terminal(ports, tmp_path, "second")
    try:
        until(lambda: ready_again.exists() or again.poll() is not None, timeout_s=STARTUP_S)
        assert again.poll() is None, output_again.read_text()[-3000:]
    finally:
        assert _ctrl_c(again) == 0, output_again.read_text()[-3000:]
