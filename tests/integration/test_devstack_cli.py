"""`python -m devstack`'s options and its reading subcommands (`follow-ups`, `alerts`, `dead-letters`,
`scheduled`), against moto and DynamoDB Local with koe's resources provisioned (the session's servers,
on free ports); the local time machine (`advance`) against a carrier with a stack's clock; and
`make run`'s variables. Fictional data only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.__main__ import DEFAULT_DB_PATH, DEFAULT_READY_FILE, main, parse_args, write_ready_file
from devstack.carrier import Carrier
from devstack.provision import client, provision
from devstack.time_machine import StackClock, TimeMachine

REPO_ROOT = Path(__file__).resolve().parents[2]

FOLLOW_UP = {"type": "FollowUpCase", "case_id": "ev-cli-1", "survey_id": "ev-cli-1", "procedure": "claim_payment",
             "branch": "tokyo-chuo", "agent_id": "A-7", "score": 3, "comment": "待ち時間が長い",
             "customer_id": "C-9", "phone": "+1******0177"}
ALERT = ("Score: 3/10\nProcedure: claim_payment\nBranch: tokyo-chuo\nAgent: A-7\nCustomer: C-9\n"
         "Phone: +1******0177\nComment: 待ち時間が長い\nCase: ev-cli-1\nCall back by: 2026-11-23T10:00:00+00:00")


def ready_file(tmp_path: Path, env: dict[str, str], moto: Any) -> Path:
    """What `python -m devstack` writes once ready (the parts the readers use)."""
    path = tmp_path / "ready.json"
    path.write_text(json.dumps({"moto_endpoint": moto.endpoint, "env": env}))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def depth(env: dict[str, str], moto: Any, variable: str) -> int:
    attributes = client("sqs", moto.endpoint, env["AWS_REGION"]).get_queue_attributes(
        QueueUrl=env[variable], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_follow_ups_prints_each_case_as_a_json_line_and_leaves_it_queued(
        fresh_aws: dict[str, str], moto_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given two cases on the follow-up queue, as on_response puts them
    sqs = client("sqs", moto_server.endpoint, fresh_aws["AWS_REGION"])
    second = {**FOLLOW_UP, "case_id": "ev-cli-2", "comment": None}
    for message in (FOLLOW_UP, second):
        sqs.send_message(QueueUrl=fresh_aws["KOE_FOLLOW_UP_QUEUE_URL"],
                         MessageBody=json.dumps(message, ensure_ascii=False))
    ready = ready_file(tmp_path, fresh_aws, moto_server)
    # When reading them, twice
    code, lines, _ = run(capsys, "follow-ups", "--ready-file", str(ready))
    again, lines_again, _ = run(capsys, "follow-ups", "--ready-file", str(ready))
    # Then each case is one JSON line, the comment as the customer wrote it, oldest first
    assert code == again == 0
    assert [line["body"] for line in lines] == [FOLLOW_UP, second]
    assert lines[0]["body"]["comment"] == "待ち時間が長い"
    assert {"message_id", "sent_at", "receive_count"} <= set(lines[0])
    # And nothing was taken off the queue: the second read sees the same, and both are still queued
    assert [line["message_id"] for line in lines_again] == [line["message_id"] for line in lines]
    assert depth(fresh_aws, moto_server, "KOE_FOLLOW_UP_QUEUE_URL") == 2


def test_alerts_prints_the_cx_alerts_published_to_the_topic(
        fresh_aws: dict[str, str], moto_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given a CX alert published to the topic, as on_response publishes it
    client("sns", moto_server.endpoint, fresh_aws["AWS_REGION"]).publish(
        TopicArn=fresh_aws["KOE_CX_TOPIC_ARN"], Subject="koe: score 3 on claim_payment (tokyo-chuo)", Message=ALERT)
    ready = ready_file(tmp_path, fresh_aws, moto_server)
    # When reading the alerts
    code, lines, _ = run(capsys, "alerts", "--ready-file", str(ready))
    # Then the alert's text is there, and its lines as fields
    assert code == 0
    [alert] = lines
    assert alert["body"] == ALERT
    assert alert["fields"]["Comment"] == "待ち時間が長い"
    assert alert["fields"]["Case"] == "ev-cli-1"
    assert depth(fresh_aws, moto_server, "KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL") == 1


def test_dead_letters_prints_each_message_with_its_reason(
        fresh_aws: dict[str, str], moto_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given a malformed event dead-lettered with its reason, as services/batch.py does
    body = json.dumps({"event_id": "ev-cli-bad", "procedure": "claim_payment"})
    client("sqs", moto_server.endpoint, fresh_aws["AWS_REGION"]).send_message(
        QueueUrl=fresh_aws["KOE_INTAKE_DLQ_URL"], MessageBody=body, MessageAttributes={
            "reason": {"DataType": "String", "StringValue": "InvalidEvent: completed_at: is required"},
            "source_message_id": {"DataType": "String", "StringValue": "m-1"}})
    # When reading the dead letters (the ready file named before the subcommand works too)
    code, lines, _ = run(capsys, "--ready-file", str(ready_file(tmp_path, fresh_aws, moto_server)),
                         "dead-letters")
    # Then the event and its reason are printed
    assert code == 0
    [letter] = lines
    assert letter["body"]["event_id"] == "ev-cli-bad"
    assert letter["attributes"]["reason"] == "InvalidEvent: completed_at: is required"


def test_without_a_ready_file_the_readers_find_the_queues_by_their_default_names(
        moto_server: Any, dynamodb_local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given the stack's resources under the default prefix on a moto at another address
    env = provision(dynamodb_local.endpoint, moto_server.endpoint, "us-east-1", prefix="koe-local-")
    marker = {**FOLLOW_UP, "case_id": f"ev-cli-{uuid.uuid4().hex[:6]}"}
    client("sqs", moto_server.endpoint, "us-east-1").send_message(
        QueueUrl=env["KOE_FOLLOW_UP_QUEUE_URL"], MessageBody=json.dumps(marker))
    # When reading with only moto's address
    code, lines, _ = run(capsys, "follow-ups", "--moto-endpoint", moto_server.endpoint)
    # Then the queue was found by name
    assert code == 0
    assert marker in [line["body"] for line in lines]


def test_a_reader_says_what_to_do_when_no_stack_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # When the ready file named does not exist
    code = main(["alerts", "--ready-file", str(tmp_path / "missing.json")])
    # Then it fails with a hint, not a traceback
    assert code == 1
    assert "is the stack running" in capsys.readouterr().err


def test_options_keep_data_by_default_and_take_concurrency():
    # Given no options, the data is kept in the project's .koe/ folder, four invocations per queue
    defaults = parse_args([])
    assert (defaults.db_path, defaults.in_memory, defaults.concurrency) == (DEFAULT_DB_PATH, False, 4)
    assert DEFAULT_DB_PATH == REPO_ROOT / ".koe" / "dynamodb"
    assert defaults.ready_file == DEFAULT_READY_FILE and defaults.command is None
    # When asking for a throwaway run with more concurrency
    throwaway = parse_args(["--in-memory", "--concurrency", "8"])
    assert (throwaway.in_memory, throwaway.concurrency) == (True, 8)
    # Then a concurrency below 1, or both a folder and --in-memory, are refused
    for wrong in (["--concurrency", "0"], ["--in-memory", "--db-path", "x"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def test_the_ready_file_holds_secrets_so_only_its_owner_can_read_it(tmp_path: Path):
    class Ready:
        def addresses(self) -> dict[str, Any]:
            return {"api_key": "k" * 32,
                    "env": {"KOE_LOCAL_TOKEN_SECRET": "s" * 48, "KOE_LOCAL_CONTACT_KEYS": "h" * 64}}

    # Given a ready file left world-readable by an earlier run, and a process umask that lets others read
    path = tmp_path / "devstack.json"
    path.write_text("{}")
    path.chmod(0o644)
    previous = os.umask(0o022)
    try:
        # When the stack writes its ready file
        write_ready_file(path, Ready())
    finally:
        os.umask(previous)
    # Then it is whole, its owner's alone, and nothing else is left beside it
    assert json.loads(path.read_text())["env"]["KOE_LOCAL_TOKEN_SECRET"] == "s" * 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["devstack.json"]


def test_the_data_folder_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".koe/dynamodb/shared-local-instance.db"],
                             cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0


def test_make_run_passes_its_variables_to_python_m_devstack():
    # When `make run` is given every variable (dry run: nothing is executed)
    dry = subprocess.run(
        ["make", "-n", "run", "API_PORT=8001", "API_KEY=dev-key", "CARRIER_PORT=8026", "LINE_PORT=8027",
         "ALIBABA_PORT=8028", "WECHAT_PORT=8029",
         "DYNAMODB_PORT=8101", "MOTO_PORT=5001", "CONCURRENCY=2", "IN_MEMORY=1"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    # Then the stack is started with the matching options
    [command] = [line for line in dry.stdout.splitlines() if "-m devstack" in line]
    assert command.split("-m devstack", 1)[1].split() == [
        "--api-port", "8001", "--carrier-port", "8026", "--line-port", "8027", "--alibaba-port", "8028",
        "--wechat-port", "8029",
        "--dynamodb-port", "8101",
        "--moto-port", "5001",
        "--api-key", "'dev-key'", "--concurrency", "2", "--in-memory"]
    # And with none, exactly as before
    plain = subprocess.run(["make", "-n", "run"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    [command] = [line for line in plain.stdout.splitlines() if "-m devstack" in line]
    assert command.split("-m devstack", 1)[1].split() == []


# --- `scheduled` (DynamoDB Local) and `advance` (the local time machine, through the carrier) -------

def scheduled_item(survey_id: str, send_at: str, **fields: str) -> dict[str, Any]:
    """A scheduled survey as the surveys table holds it (PynamoDB's attribute names and formats)."""
    item = {"survey_id": survey_id, "procedure": "claim_payment", "customer_id": "C-9", "status": "scheduled",
            "reason": "outside_send_window", "channel": "sms_link", "channel_reason": "JP:sms_link",
            "send_shard": "due", "send_at": send_at, **fields}
    return {name: {"S": value} for name, value in item.items()}


def place(country: str | None, zone: str) -> dict[str, Any]:
    """A `customer_place` as dispatch stores it (chalicelib/adapters/dynamo/convert.PlaceItem)."""
    return {"M": {"timezone": {"S": zone}, **({"country": {"S": country}} if country else {})}}


def test_scheduled_prints_the_waiting_surveys_earliest_first_in_utc_and_local_time_without_contacts(
        fresh_aws: dict[str, str], dynamodb_local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Given scheduled surveys placed at dispatch (an email-only en-GB customer, a US number whose
    # event said Los Angeles), two stored before places were, and one already released
    dynamodb = client("dynamodb", dynamodb_local.endpoint, fresh_aws["AWS_REGION"])
    table = f"{fresh_aws['KOE_RESOURCE_PREFIX']}surveys"
    for item in (
            scheduled_item("ev-tokyo", "2026-11-24T00:00:00.000000+0000", phone="+819012345678"),
            scheduled_item("ev-ny", "2026-11-24T14:00:00.000000+0000", phone="+15550100177",
                           channel="sms_two_way", channel_reason="US:sms_two_way"),
            scheduled_item("ev-mail", "2026-11-23T23:00:00.000000+0000", email="hanako@example.jp",
                           channel="email", channel_reason="JP:email (no phone)"),
            {**scheduled_item("ev-london", "2026-11-24T09:00:00.000000+0000", email="oliver@example.com",
                              locale="en", channel="email", channel_reason="GB:email (no phone)"),
             "customer_place": place("GB", "Europe/London")},
            {**scheduled_item("ev-la", "2026-11-24T17:00:00.000000+0000", phone="+15550100178",
                              channel="sms_two_way", channel_reason="US:sms_two_way"),
             "customer_place": place("US", "America/Los_Angeles")}):
        dynamodb.put_item(TableName=table, Item=item)
    released = scheduled_item("ev-sent", "2026-11-20T00:00:00.000000+0000", phone="+819012345679", status="sent")
    del released["send_shard"], released["send_at"]
    dynamodb.put_item(TableName=table, Item=released)
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"dynamodb_endpoint": dynamodb_local.endpoint, "env": fresh_aws}))
    # When listing them
    code, lines, _ = run(capsys, "scheduled", "--ready-file", str(ready))
    # Then each is a line, earliest first, its send time in UTC and in the customer's stored zone
    assert code == 0
    assert [line["survey_id"] for line in lines] == ["ev-mail", "ev-tokyo", "ev-london", "ev-ny", "ev-la"]
    mail, tokyo, london, new_york, los_angeles = lines
    assert {k: london[k] for k in ("channel", "send_at", "send_at_local", "country", "timezone", "timezone_from")} == {
        "channel": "email", "send_at": "2026-11-24T09:00:00Z", "send_at_local": "2026-11-24T09:00:00+00:00",
        "country": "GB", "timezone": "Europe/London", "timezone_from": "survey"}
    assert (los_angeles["send_at_local"], los_angeles["timezone"]) == ("2026-11-24T09:00:00-08:00",
                                                                      "America/Los_Angeles")
    # those stored before places: the same rule on the phone number (and language)
    assert {k: tokyo[k] for k in ("procedure", "channel", "status", "send_at", "send_at_local", "timezone")} == {
        "procedure": "claim_payment", "channel": "sms_link", "status": "scheduled",
        "send_at": "2026-11-24T00:00:00Z", "send_at_local": "2026-11-24T09:00:00+09:00", "timezone": "Asia/Tokyo"}
    assert (new_york["send_at_local"], new_york["country"], new_york["timezone_from"]) == (
        "2026-11-24T09:00:00-05:00", "US", "worked out (stored before places)")
    # an email-only one with no language: nothing places it, so the fallback zone (UTC)
    assert (mail["send_at"], mail["send_at_local"], mail["timezone"]) == (
        "2026-11-23T23:00:00Z", "2026-11-23T23:00:00+00:00", "UTC")
    # and never a phone number or an address in clear
    assert (tokyo["to"], new_york["to"], mail["to"], london["to"]) == (
        "+81******5678", "+1******0177", "h*****@example.jp", "o*****@example.com")
    printed = json.dumps(lines)
    assert "9012345678" not in printed and "5550100177" not in printed and "hanako@" not in printed


def test_scheduled_says_so_when_nothing_waits_and_finds_default_names_without_a_ready_file(
        dynamodb_local: Any, moto_server: Any, capsys: pytest.CaptureFixture[str]):
    provision(dynamodb_local.endpoint, moto_server.endpoint, "us-east-1", prefix="koe-local-")
    code, lines, err = run(capsys, "scheduled", "--dynamodb-endpoint", dynamodb_local.endpoint)
    assert code == 0
    assert lines == [] or all(line["status"] == "scheduled" for line in lines)
    assert lines or "no survey is scheduled" in err


def test_scheduled_says_what_to_do_when_no_stack_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["scheduled", "--ready-file", str(tmp_path / "missing.json")]) == 1
    assert "is the stack running" in capsys.readouterr().err


@pytest.fixture
def stack_clock() -> Iterator[tuple[str, StackClock]]:
    """A carrier with a stack's clock (frozen wall clock), as `python -m devstack` runs it: its URL."""
    clock = StackClock(wall=lambda: datetime(2026, 11, 21, 14, 0, tzinfo=UTC))    # 23:00 in Tokyo
    carrier = Carrier(account_sid="AC" + "0" * 32, auth_token="0" * 32, number="+15550009999",
                      app_sms_url="http://127.0.0.1:9/twilio/sms",
                      time_machine=TimeMachine(clock, fire=lambda: {"released": 2}))
    carrier.start()
    yield carrier.url, clock
    carrier.stop()


def test_advance_moves_the_stack_clock_and_prints_what_the_schedule_released(
        stack_clock: tuple[str, StackClock], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url, clock = stack_clock
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"carrier_url": url}))
    # When moving 10 hours, then to the send time `scheduled` printed
    code, [by], err = run(capsys, "advance", "--hours", "10", "--ready-file", str(ready))
    again, [to], _ = run(capsys, "advance", "--to", "2026-11-24T00:00:00Z", "--carrier-url", url)
    # Then the stack's clock is there, and the schedule ran after each move
    assert code == again == 0
    assert (by["now"], by["offset_hours"], by["tick"]) == ("2026-11-22T00:00:00Z", 10.0, {"released": 2})
    assert "the schedule released 2 survey(s)" in err
    assert (to["now"], to["offset_hours"]) == ("2026-11-24T00:00:00Z", 58.0)
    assert clock() == datetime(2026, 11, 24, tzinfo=UTC)


def test_advance_goes_forward_only_and_says_what_to_do_when_no_stack_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    for wrong in (["advance"], ["advance", "--hours", "-1"], ["advance", "--to", "tomorrow"],
                  ["advance", "--to", "2026-11-24T00:00:00"], ["advance", "--hours", "1", "--to", "2026-11-24T00:00Z"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)
    assert main(["advance", "--hours", "1", "--ready-file", str(tmp_path / "missing.json")]) == 1
    assert "is the stack running" in capsys.readouterr().err


# --- `token`: the CX team's bearer tokens for the local stack -----------------------------------------

TOKEN_SECRET = "cli-local-token-secret-0123456789abcdef"


def claims_of(token: str, secret: str, now: datetime) -> dict[str, Any]:
    from chalicelib.domain.local_token import verify

    claims = verify(secret, token, now)
    assert claims is not None, "the token does not verify with the stack's secret"
    return claims


def test_token_signs_with_the_running_stacks_secret_on_its_clock(
        stack_clock: tuple[str, StackClock], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from chalicelib.auth import LocalTokens
    from chalicelib.domain.principal import Principal, Role

    # Given a running stack (its ready file: its env and its carrier, whose clock was moved forward)
    url, clock = stack_clock
    clock.advance(timedelta(hours=10))
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"carrier_url": url, "env": {"KOE_LOCAL_TOKEN_SECRET": TOKEN_SECRET}}))
    # When asking for an agent's token
    code = main(["token", "--role", "agent", "--agent", "A-12", "--branch", "tokyo-01", "--ready-file", str(ready)])
    out, err = capsys.readouterr()
    # Then stdout is the token alone, signed with the stack's secret, issued on the stack's clock
    assert code == 0
    [token] = out.split()
    claims = claims_of(token, TOKEN_SECRET, clock())
    assert claims["iat"] == int(clock().timestamp()) and claims["exp"] - claims["iat"] == 8 * 3600
    assert claims["cognito:groups"] == ["agent"] and claims["sub"] == "local-agent-A-12"
    # and the app's authenticator makes the agent of it, on that clock
    assert LocalTokens(TOKEN_SECRET, clock).authenticate({"authorization": f"Bearer {token}"}, {}) == Principal(
        "local-agent-A-12", Role.AGENT, branch="tokyo-01", agent_id="A-12")
    assert "agent token (branch tokyo-01, agent A-12)" in err and TOKEN_SECRET not in out + err


def test_without_a_stack_token_makes_the_project_secret_once_and_reuses_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    import devstack.__main__ as cli

    monkeypatch.setattr(cli, "DEFAULT_READY_FILE", tmp_path / "no-stack.json")     # no stack running
    secret_file = tmp_path / "koe" / "local-token-secret"
    # When asking twice, with no secret yet
    first = main(["token", "--role", "cx_admin", "--secret-file", str(secret_file), "--hours", "1"])
    token_1 = capsys.readouterr().out.strip()
    second = main(["token", "--role", "branch_manager", "--branch", "osaka-02", "--secret-file", str(secret_file)])
    token_2 = capsys.readouterr().out.strip()
    # Then the secret was made once, readable by its owner only, and signs both
    assert first == second == 0
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32 and secret_file.stat().st_mode & 0o077 == 0
    now = datetime.now(UTC)
    assert claims_of(token_1, secret, now)["exp"] - claims_of(token_1, secret, now)["iat"] == 3600
    assert claims_of(token_2, secret, now)["custom:branch"] == "osaka-02"


@pytest.mark.parametrize("argv, says", [
    (["token", "--role", "branch_manager"], "--role branch_manager needs --branch"),
    (["token", "--role", "agent", "--branch", "tokyo-01"], "--role agent needs --agent"),
    (["token", "--role", "operations"], "invalid choice: 'operations'"),
    (["token"], "the following arguments are required: --role"),
    (["token", "--role", "cx_admin", "--hours", "0"], "--hours must be more than 0"),
])
def test_token_refuses_what_cannot_make_a_user_with_a_clear_error(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_make_token_passes_its_variables_to_python_m_devstack_token():
    dry = subprocess.run(["make", "-n", "token", "ROLE=agent", "AGENT=A-12", "BRANCH=tokyo-01", "HOURS=2"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    [command] = [line for line in dry.stdout.splitlines() if "-m devstack" in line]
    assert command.split("-m devstack", 1)[1].split() == [
        "token", "--role", "'agent'", "--branch", "'tokyo-01'", "--agent", "'A-12'", "--hours", "'2'"]
