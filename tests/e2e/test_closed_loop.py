"""The closed loop through the whole local stack (`python -m devstack`), as the CX team lives it:
a detractor's reply opens a case with the right owner and business-hour deadlines within a tick;
the owner hears about it by email (the local mailbox) and by chat (a loopback webhook receiver this
test starts); the ladder escalates on the stack's clock (its time machine); the owner works the case
through /v1/cases with a bearer token from `python -m devstack token`, resolves it, and the
customer receives the closing message. Every step is on the case's timeline."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import local_routing
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
PHONE = "+15550100177"


class ChatReceiver:
    """A Slack-compatible incoming webhook on 127.0.0.1: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:        # noqa: N802 (the standard library's name)
                length = int(self.headers.get("content-length", "0"))
                received.append({"path": self.path, "payload": json.loads(self.rfile.read(length))})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChatReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[ChatReceiver]:
    with ChatReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory, receiver: ChatReceiver) -> Iterator[Koe]:
    routing = local_routing.routing(lambda channel: f"{receiver.url}/{channel}")
    routing["people"]["A-102"]["chat"] = f"{receiver.url}/a-102"         # the owner reads chat too
    settings = {**OPEN_ALL_DAY, "KOE_CASE_ROUTING": json.dumps(routing),
                "KOE_ALERT_RETRY_SECONDS": str(local_routing.ALERT_RETRY_SECONDS)}
    with local_stack(tmp_path_factory.mktemp("stack"), settings) as running:
        yield Koe(running)


def token(koe: Koe, *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "devstack", "token", *argv, "--ready-file", koe.ready_file],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def api(koe: Koe, bearer: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{koe.api}{path}", json=body, timeout=10,
                            headers={"authorization": f"Bearer {bearer}"})


def emails(koe: Koe, to: str, case_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{koe.carrier}/emails", params={"to": to}, timeout=10)
    return [e for e in answer.json() if case_id in e["body"]]


def chats(receiver: ChatReceiver, path: str, case_id: str) -> list[dict[str, Any]]:
    return [p for p in receiver.posts if p["path"] == path and case_id in json.dumps(p["payload"], ensure_ascii=False)]


def test_a_detractor_is_called_back_and_told_what_was_done(koe: Koe, receiver: ChatReceiver) -> None:
    event = json.loads(json.dumps(SAMPLE))
    event["event_id"] = case_id = f"e2e-loop-{uuid.uuid4().hex[:10]}"
    event["completed_at"] = koe.now().isoformat(timespec="seconds")
    event["customer"]["phone"] = PHONE
    assert koe.post(event).status_code == 202
    assert eventually(lambda: koe.invitations(PHONE))
    koe.reply(PHONE, "2")
    koe.reply(PHONE, "nobody called me back, please call me")
    admin = token(koe, "--role", "cx_admin")

    # Within a tick: the case, owned by the agent, due in business hours, in both time zones.
    opened = eventually(lambda: (r := api(koe, admin, "GET", f"/v1/cases/{case_id}")).status_code == 200 and r.json())
    assert opened, "no case was opened"
    assert (opened["owner"], opened["severity"], opened["branch"]) == ("agent:A-102", "normal", "tokyo-chuo")
    first_due = datetime.fromisoformat(opened["first_contact_due"]["at"])
    assert first_due > datetime.fromisoformat(opened["opened_at"])
    assert opened["first_contact_due"]["customer"]["timezone"] == "Asia/Tokyo"
    assert opened["first_contact_due"]["owner"]["timezone"] == "Asia/Tokyo"

    # The owner hears about it by email and by chat; the later comment is announced too.
    assert eventually(lambda: emails(koe, "a-102@example.jp", case_id))
    assert eventually(lambda: chats(receiver, "/a-102", case_id))
    commented = eventually(lambda: (c := api(koe, admin, "GET", f"/v1/cases/{case_id}").json())["comment"] and c)
    assert commented["callback_consent"] is True

    # The ladder climbs on the stack's clock: past the breach, the branch manager is told.
    breach = next(s for s in opened["ladder"] if s["step"] == "breach")
    koe.advance("--to", (datetime.fromisoformat(breach["at"]) + timedelta(minutes=1)).isoformat())
    stale_token = api(koe, admin, "GET", f"/v1/cases/{case_id}")
    assert stale_token.status_code == 401                # days later: yesterday's token has expired
    admin = token(koe, "--role", "cx_admin")
    climbed = eventually(lambda: {"breach", "reminder"} <= {
        e["kind"] for e in api(koe, admin, "GET", f"/v1/cases/{case_id}").json()["timeline"]} and True)
    assert climbed, "the ladder did not climb"
    assert eventually(lambda: emails(koe, "mgr-tokyo-chuo@example.jp", case_id))

    # The owner works it through the API with an agent's token, at the version read.
    agent = token(koe, "--role", "agent", "--agent", "A-102", "--branch", "tokyo-chuo")
    other_branch = token(koe, "--role", "branch_manager", "--branch", "shanghai-01")
    assert api(koe, other_branch, "GET", f"/v1/cases/{case_id}").status_code == 404
    version = api(koe, agent, "GET", f"/v1/cases/{case_id}").json()["version"]
    for action, extra in (("claim", {}), ("contact-attempts", {"outcome": "reached"}),
                          ("resolve", {"root_cause": "claim_delay", "action": "apologised"})):
        answer = api(koe, agent, "POST", f"/v1/cases/{case_id}/{action}", {"version": version, **extra})
        assert answer.status_code == 200, answer.text
        version = answer.json()["version"]
    stale = api(koe, agent, "POST", f"/v1/cases/{case_id}/reopen", {"version": version - 1})
    assert stale.status_code == 409

    # The customer is told what was done, once, and every step is on the timeline.
    # (the sample customer's locale is ja-JP: the closing text is templates/sms/ja.toml's)
    closing = eventually(lambda: [m for m in koe.texts_to(PHONE) if "対応いたしました" in m["body"]])
    assert len(closing) == 1
    final = eventually(lambda: (c := api(koe, admin, "GET", f"/v1/cases/{case_id}").json())["closing_message"] == "sent"
                       and c)
    kinds = [e["kind"] for e in final["timeline"]]
    assert kinds[0] == "opened" and kinds[-1] == "closing_sent"
    for step in ("first_contact_overdue", "reminder", "breach", "claimed", "contact_attempt", "resolved"):
        assert step in kinds, kinds
    # The comment came with the score (one stream batch: on the case from the start) or after it
    # (a "comment" entry): either way it is on the case.
    assert final["comment"] == "nobody called me back, please call me"
    assert final["status"] == "resolved" and final["expires_at"]
