"""Starting the whole local stack (`python -m devstack`) as a subprocess, and what the outside world
can do to and see of it: post events, text the carrier, read queues and scores, read a survey in
DynamoDB Local, and use the stack's own commands (`scheduled`, `advance`). Shared by the e2e tests
and the browser test of the phone page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.types import TypeDeserializer

from devstack import log_scan
from devstack.stack import LINE_CHANNEL_ACCESS_TOKEN, LINE_CHANNEL_SECRET, TWILIO_AUTH_TOKEN
from tests import clock

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 90
# Every hour and every day open: journeys that must send at once do, whenever CI runs them.
OPEN_ALL_DAY = {"KOE_SEND_WINDOW": "00:00-23:59", "KOE_SKIP_HOLIDAYS": "false"}
# Settings a developer's shell may export that would change what a stack decides.
WINDOW_SETTINGS = ("KOE_SEND_WINDOW", "KOE_SEND_WINDOW_BY_COUNTRY", "KOE_SKIP_HOLIDAYS")


@contextmanager
def local_stack(folder: Path, settings: Mapping[str, str], tick_seconds: float = 2,
                carrier_rate: float | None = None) -> Iterator[dict[str, Any]]:
    """`python -m devstack` in memory on free ports with exactly these send-window `settings`, its
    clock started at the suite's pinned instant (tests/clock.py); yields its ready file's content
    (plus `ready_file`, its path). Stopped with SIGTERM after."""
    ready = folder / "ready.json"
    log = folder / "stack.log"
    env = {k: v for k, v in os.environ.items() if k not in WINDOW_SETTINGS} | dict(settings)
    with log.open("w") as stderr, (folder / "koe.log").open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", "0", "--carrier-port", "0", "--line-port", "0",
             "--alibaba-port", "0", "--wechat-port", "0",
             "--dynamodb-port", "0",
             "--moto-port", "0", "--tick-seconds", str(tick_seconds), "--in-memory", "--ready-file", str(ready),
             *clock.devstack_args(), *(["--carrier-rate", f"{carrier_rate:g}"] if carrier_rate else [])],
            cwd=ROOT, stdout=stdout, stderr=stderr, text=True, env=env)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(f"the local stack exited early:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the local stack did not become ready")
            time.sleep(0.2)
        running = {**json.loads(ready.read_text()), "ready_file": str(ready), "said": []}
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # What the stack logged holds no personal data, token or secret (devstack/log_scan.py).
    findings = log_scan.scan([log, folder / "koe.log"], secrets=stack_secrets(running), messages=running["said"])
    if findings:
        pytest.fail("the local stack logged what it must not:\n" + "\n".join(map(str, findings[:20])), pytrace=False)


def stack_secrets(running: Mapping[str, Any]) -> list[str]:
    """The running stack's secrets: its API key, the CX token secret, the contact keys, Twilio's token,
    LINE's channel access token and channel secret."""
    env = running.get("env", {})
    keyring = json.loads(env.get("KOE_LOCAL_CONTACT_KEYS", "{}") or "{}")
    return [running.get("api_key", ""), env.get("KOE_LOCAL_TOKEN_SECRET", ""), TWILIO_AUTH_TOKEN,
            LINE_CHANNEL_ACCESS_TOKEN, LINE_CHANNEL_SECRET, *(str(k) for k in _values(keyring))]


def _values(tree: Any) -> Iterable[Any]:
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _values(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _values(value)
    else:
        yield tree


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _read(url: str, **params: str) -> Any:
    """A stand-in's JSON answer to a GET (200, else the test fails with its body)."""
    answer = requests.get(url, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


class Koe:
    """What the outside world can do to and see of a running koe."""

    def __init__(self, stack: dict[str, Any]):
        self.api, self.carrier, self.key = stack["api_url"], stack["carrier_url"], stack["api_key"]
        self.line = stack["line_url"]           # the LINE Platform stand-in (devstack/line.py)
        self.alibaba = stack["alibaba_url"]     # the Alibaba Cloud SMS stand-in (devstack/alibaba_sms.py)
        self.wechat = stack["wechat_url"]       # the WeChat stand-in (devstack/wechat.py)
        self.env = stack["env"]
        self.ready_file = stack["ready_file"]
        self.said: list[str] = stack.setdefault("said", [])
        aws = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.sqs = boto3.client("sqs", endpoint_url=stack["moto_endpoint"], **aws)
        self.events = boto3.client("events", endpoint_url=stack["moto_endpoint"], **aws)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=stack["dynamodb_endpoint"], **aws)

    def post(self, payload: Any, key: str | None = None) -> requests.Response:
        return requests.post(f"{self.api}/v1/events", json=payload, timeout=10,
                             headers={"x-api-key": self.key if key is None else key})

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.carrier}/messages", params={"to": phone}, timeout=10).json()

    def invitations(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.texts_to(phone) if m["direction"] == "outbound-api"]

    def reply(self, phone: str, body: str, message_sid: str | None = None) -> dict[str, Any]:
        self.said.append(body)          # must never show up in a log (local_stack scans them)
        payload = {"from": phone, "body": body, **({"message_sid": message_sid} if message_sid else {})}
        return requests.post(f"{self.carrier}/reply", json=payload, timeout=20).json()

    # --- LINE: the customer's side of the stand-in (devstack/line.py), as a LINE user does it

    def line_chat(self, user: str) -> list[dict[str, Any]]:
        """The user's chat with koe's account, both ways, oldest first."""
        messages: list[dict[str, Any]] = _read(f"{self.line}/chat", user=user)["messages"]
        return messages

    def line_from_koe(self, user: str) -> list[dict[str, Any]]:
        """What koe sent the user (pushes and replies)."""
        return [m for m in self.line_chat(user) if m["direction"] != "user"]

    def line_customer(self, action: str, **fields: str) -> dict[str, Any]:
        """follow, unfollow, say (user, text) or redeliver (event_id): the stand-in posts the signed
        webhook to koe; what koe answered (`app_status`), the event id and its reply token."""
        return self._customer(f"{self.line}/customer/{action}", fields)

    def line_says(self, user: str, text: str) -> dict[str, Any]:
        return self.line_customer("say", user=user, text=text)

    # --- China SMS: what the Alibaba stand-in accepted (devstack/alibaba_sms.py)

    def china_texts(self, phone: str) -> list[dict[str, Any]]:
        """The messages China SMS sent to `phone`, oldest first: text as the phone shows it, template code."""
        sent: list[dict[str, Any]] = _read(f"{self.alibaba}/messages", phone=phone)
        return sent

    # --- WeChat: the follower's side and what the account sent (devstack/wechat.py)

    def wechat_sent(self, openid: str) -> list[dict[str, Any]]:
        """The template messages sent to `openid`, oldest first: title, filled fields, url."""
        sent: list[dict[str, Any]] = _read(f"{self.wechat}/messages", openid=openid)
        return sent

    def wechat_customer(self, action: str, **fields: str) -> dict[str, Any]:
        """follow, unfollow or say (openid, text): the stand-in pushes the signed event to koe."""
        return self._customer(f"{self.wechat}/customer/{action}", fields)

    def _customer(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        """The customer's side of a stand-in: what koe answered the push it made."""
        if "text" in fields:
            self.said.append(fields["text"])     # must never show up in a log
        answer = requests.post(url, json=fields, timeout=30)
        assert answer.status_code == 200, answer.text
        outcome: dict[str, Any] = answer.json()
        return outcome

    def cx_token(self, role: str = "cx_admin") -> str:
        """A bearer token of the CX role, signed with the stack's secret on the stack's clock."""
        from devstack import tokens

        return tokens.mint(self.env["KOE_LOCAL_TOKEN_SECRET"], role, now=tokens.stack_now(self.carrier))

    def scores(self, dimension: str) -> dict[str, Any]:
        """GET /v1/scores as a cx_admin; `groups` are the NPS groups (with `nps`, the group's score)."""
        answer = requests.get(f"{self.api}/v1/scores", params={"dimension": dimension}, timeout=10,
                              headers={"authorization": f"Bearer {self.cx_token()}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        groups = [g for result in body["results"] if result["scale"] == "nps" for g in result["groups"]]
        return {**body, "groups": [{**g, "nps": g["score"]} for g in groups]}

    def group(self, dimension: str, value: str) -> dict[str, Any] | None:
        return next((g for g in self.scores(dimension)["groups"] if g["value"] == value), None)

    def queue_bodies(self, url_key: str) -> list[str]:
        """Every message on a queue, left in place (visibility 0)."""
        seen: dict[str, str] = {}
        for _ in range(5):
            answer = self.sqs.receive_message(QueueUrl=self.env[url_key], MaxNumberOfMessages=10,
                                              VisibilityTimeout=0, MessageAttributeNames=["All"])
            for message in answer.get("Messages", []):
                reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
                seen[message["MessageId"]] = message["Body"] + ("\nreason: " + reason if reason else "")
        return list(seen.values())

    # --- DynamoDB Local, the stack's clock and its commands

    def survey(self, survey_id: str) -> dict[str, Any] | None:
        """The survey item as stored (plain values), or None."""
        item = self.dynamodb.get_item(TableName=f"{self.env['KOE_RESOURCE_PREFIX']}surveys",
                                      Key={"survey_id": {"S": survey_id}}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        deserializer = TypeDeserializer()
        return {name: deserializer.deserialize(value) for name, value in item.items()}

    def survey_once(self, survey_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        """The survey once dispatch (or tick) has given it `status`; fails with what it has instead."""
        found = eventually(lambda: (s := self.survey(survey_id)) and s["status"] == status and s, timeout)
        assert found, f"survey {survey_id} is {self.survey(survey_id)!r}, not {status}"
        return dict(found)

    def now(self) -> datetime:
        """The stack's clock (the time machine's), as koe reads it."""
        answer = requests.get(f"{self.carrier}/clock", timeout=10)
        assert answer.status_code == 200, answer.text
        return datetime.fromisoformat(answer.json()["now"])

    def devstack(self, *argv: str) -> tuple[list[dict[str, Any]], str]:
        """Run `python -m devstack ARGV --ready-file ...` as a person would: (JSON lines, stderr)."""
        done = subprocess.run([sys.executable, "-m", "devstack", *argv, "--ready-file", self.ready_file],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()], done.stderr

    def scheduled(self) -> list[dict[str, Any]]:
        return self.devstack("scheduled")[0]

    def advance(self, *argv: str) -> dict[str, Any]:
        [outcome] = self.devstack("advance", *argv)[0]
        return outcome
