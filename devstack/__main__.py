"""`python -m devstack`: run koe locally until Ctrl-C or SIGTERM (`make run`); or read what it produced.

    python -m devstack [--api-port 8000] [--carrier-port 8025] [--line-port 8026] [--dynamodb-port 8100]
                       [--moto-port 5000] [--tick-seconds 60] [--api-key KEY] [--concurrency 4]
                       [--db-path .koe/dynamodb | --in-memory] [--ready-file .koe/devstack.json]
                       [--clock-start 2026-11-18T01:30:00Z]
    python -m devstack follow-ups      # the follow-up queue's cases, as JSON lines (left on the queue)
    python -m devstack alerts          # the CX alerts (the local queue subscribed to the topic)
    python -m devstack dead-letters    # the intake dead-letter queue, with each message's reason
    python -m devstack alert-dead-letters  # the CX alerts that could not be delivered, with reasons
    python -m devstack scheduled       # the surveys waiting for their send window (DynamoDB Local)
    python -m devstack advance --hours N | --to 2026-11-24T00:00:00Z
                                       # LOCAL ONLY: move the stack's clock forward, fire the schedule
    python -m devstack token --role cx_admin|branch_manager|agent [--branch B] [--agent A] [--hours H]
                             [--dashboard]
                                       # LOCAL ONLY: a CX user's bearer token for the CX routes, or
                                       # with --dashboard a link that signs in to /dashboard as them
    python -m devstack seed [--days 30] [--per-day 40] [--seed 7]
                                       # LOCAL ONLY: a month of events, answers and cases in the running
                                       # stack, for the CX dashboard (devstack/seed.py; `make seed`)

Prints where everything is and writes the same as JSON to the ready file once ready (removed on
exit), so scripts, tests and the reading subcommands find the stack. Port 0 picks a free port.
DynamoDB Local keeps its tables in --db-path (they survive a restart); --in-memory throws them away.
Stopping drains: batches in flight finish, then what the queues still hold is reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import resources
from devstack import tokens
from devstack.private_files import write_private
from devstack.stack import REPO_ROOT, LocalStack, PortInUse, StackOptions

DATA_DIR = REPO_ROOT / ".koe"                   # git-ignored
DEFAULT_DB_PATH = DATA_DIR / "dynamodb"
DEFAULT_READY_FILE = DATA_DIR / "devstack.json"
DEFAULT_TOKEN_SECRET = DATA_DIR / "local-token-secret"   # signs the CX tokens (devstack/tokens.py)
# `python -m devstack seed` (devstack/seed.py, imported only when seeding): a month of 40 a day.
DEFAULT_SEED_DAYS, DEFAULT_SEED_PER_DAY, DEFAULT_SEED_RNG = 30, 40, 7
# Subcommand -> (what it reads, the settings variable of its queue's URL, its logical queue name).
READERS = {
    "follow-ups": ("the follow-up queue: one case per detractor, for the CX team's CRM",
                   "KOE_FOLLOW_UP_QUEUE_URL", "follow-up"),
    "alerts": ("the CX alerts published to the cx-alerts topic (a local queue subscribed to it)",
               "KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL", "cx-alerts-inspect"),
    "dead-letters": ("the intake dead-letter queue, with the reason of each message",
                     "KOE_INTAKE_DLQ_URL", "intake-dlq"),
    "alert-dead-letters": ("the CX alerts deliver_alerts gave up on, with the reason of each message",
                           "KOE_ALERT_DELIVERIES_DLQ_URL", "alert-deliveries-dlq"),
    "insight-dead-letters": ("the comments analyse_comments gave up on (survey id and version), with the reason "
                             "of each message", "KOE_COMMENT_INSIGHT_DLQ_URL", "comment-insight-dlq"),
}


def clock_start(text: str) -> datetime:
    from devstack.time_machine import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    defaults = StackOptions()
    parser.add_argument("--api-port", type=int, default=defaults.api_port)
    parser.add_argument("--carrier-port", type=int, default=defaults.carrier_port)
    parser.add_argument("--alibaba-port", type=int, default=defaults.alibaba_port,
                        help="the Alibaba Cloud SMS stand-in (China SMS: SendSms, receipts; devstack/alibaba_sms.py)")
    parser.add_argument("--wechat-port", type=int, default=defaults.wechat_port,
                        help="the WeChat stand-in (template messages, the account's event pushes; devstack/wechat.py)")
    parser.add_argument("--line-port", type=int, default=defaults.line_port,
                        help="the LINE Platform stand-in (LINE's Messaging API and webhooks; devstack/line.py)")
    parser.add_argument("--dynamodb-port", type=int, default=defaults.dynamodb_port)
    parser.add_argument("--moto-port", type=int, default=defaults.moto_port)
    parser.add_argument("--tick-seconds", type=float, default=defaults.tick_seconds)
    parser.add_argument("--carrier-faults", type=_shares, default={},
                        help="Twilio's faults on that share of sends, e.g. 429=0.05,500=0.05,30003=0.02,30008=0.02 "
                             "(local only; with KOE_LOCAL_FAULTS for AWS's: devstack/faults.py)")
    parser.add_argument("--carrier-rate", type=float, default=None,
                        help="the carrier takes at most this many messages a second per sender (429 above it), "
                             "as Twilio's senders do; default: no limit")
    parser.add_argument("--api-key", help="the API key to accept (default: a new random one)")
    parser.add_argument("--concurrency", type=positive, default=defaults.concurrency,
                        help="invocations in parallel per queue, as Lambda's SQS pollers "
                             f"(default {defaults.concurrency})")
    parser.add_argument("--in-process", action="store_true",
                        help="invoke the functions in the stack's own process (for a debugger) instead of "
                             "worker processes of each function, as Lambda runs them (devstack/workers.py)")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--db-path", type=Path, default=DEFAULT_DB_PATH,
                         help="DynamoDB Local's data folder, kept across restarts (default: %(default)s)")
    storage.add_argument("--in-memory", action="store_true",
                         help="keep nothing: DynamoDB Local in memory, for a throwaway run")
    parser.add_argument("--ready-file", type=Path, default=DEFAULT_READY_FILE,
                        help="write addresses and env as JSON when ready (default: %(default)s)")
    parser.add_argument("--clock-start", type=clock_start, default=None, metavar="ISO",
                        help="start koe's clock at this instant (e.g. 2026-11-18T01:30:00Z) and let it run "
                             "from there, whatever the date and hour: tests, benchmarks and demos "
                             "(default: the wall clock)")
    commands = parser.add_subparsers(dest="command",
                                     metavar="{follow-ups,alerts,dead-letters,alert-dead-letters,insight-dead-letters,"
                                            "scheduled,advance,token,seed}")
    for name, (what, _, _) in READERS.items():
        reader = commands.add_parser(name, help=f"print {what} as JSON lines, leaving them queued",
                                     description=f"Print {what} as JSON lines, leaving them queued.")
        reader.add_argument("--ready-file", dest="reader_ready_file", type=Path, default=None,
                            help=f"the running stack's ready file (default: {DEFAULT_READY_FILE})")
        reader.add_argument("--moto-endpoint", default=None,
                            help="without a ready file: moto's URL (default: "
                                 f"http://127.0.0.1:{defaults.moto_port})")
    scheduled = commands.add_parser(
        "scheduled", help="print the surveys waiting for their send window as JSON lines (DynamoDB Local)",
        description="Print the surveys waiting for their customer's send window, earliest first, as JSON "
                    "lines: survey id, procedure, channel, send_at in UTC and in the customer's zone "
                    "(from the phone number), the recipient masked. Read from DynamoDB Local.")
    scheduled.add_argument("--ready-file", dest="reader_ready_file", type=Path, default=None,
                           help=f"the running stack's ready file (default: {DEFAULT_READY_FILE})")
    scheduled.add_argument("--dynamodb-endpoint", default=None,
                           help="without a ready file: DynamoDB Local's URL (default: "
                                f"http://127.0.0.1:{defaults.dynamodb_port})")
    advance = commands.add_parser(
        "advance", help="LOCAL ONLY: move the stack's clock forward, then fire the schedule once",
        description="The local time machine (never in AWS): move the running stack's clock forward, then "
                    "fire the schedule once, so surveys scheduled for the customer's morning are "
                    "released now. The clock only moves forward and goes back to the wall clock when "
                    "the stack restarts.")
    move = advance.add_mutually_exclusive_group(required=True)
    move.add_argument("--hours", type=hours, help="how far forward, e.g. 10 or 0.5")
    move.add_argument("--to", type=moment, metavar="TIME",
                      help="a time with its offset to move to, e.g. the send_at `scheduled` prints")
    advance.add_argument("--ready-file", dest="reader_ready_file", type=Path, default=None,
                         help=f"the running stack's ready file (default: {DEFAULT_READY_FILE})")
    advance.add_argument("--carrier-url", default=None,
                         help=f"without a ready file: the carrier's URL (default: http://127.0.0.1:{defaults.carrier_port})")
    token = commands.add_parser(
        "token", help="LOCAL ONLY: print a CX user's bearer token for the local stack",
        description="Print a bearer token the local stack accepts as a CX user (as Cognito's ID token would "
                    "be in AWS), signed with the stack's local secret; send it as `Authorization: Bearer "
                    "<token>`. Valid from the stack's clock for --hours.")
    token.add_argument("--role", required=True, choices=tokens.CX_ROLES,
                       help="cx_admin: everything CX; branch_manager: one branch; agent: their own cases")
    token.add_argument("--branch", help="the branch (required for branch_manager; optional for agent)")
    token.add_argument("--agent", help="the agent id (required for agent)")
    token.add_argument("--hours", type=float, default=tokens.DEFAULT_HOURS,
                       help="how long it is valid (default: %(default)g)")
    token.add_argument("--subject", help="the token's sub (default: local-<role>[-<agent or branch>])")
    token.add_argument("--dashboard", action="store_true",
                       help="print a sign-in link that opens the CX dashboard as this user instead of the token")
    token.add_argument("--ready-file", dest="reader_ready_file", type=Path, default=None,
                       help=f"the running stack's ready file (default: {DEFAULT_READY_FILE})")
    token.add_argument("--secret-file", type=Path, default=DEFAULT_TOKEN_SECRET,
                       help="without a ready file: the project's local token secret (default: %(default)s; "
                            "made on first use, and what `python -m devstack` signs with)")
    seeder = commands.add_parser(
        "seed", help="LOCAL ONLY: fill the running stack with a month of events, answers and cases",
        description="Fill the running local stack (`make run`) with a month of true data for the CX dashboard: "
                    "events posted to /v1/events, customers answering by SMS, on the web page and by email "
                    "through the carrier, cases worked through /v1/cases. Sets the stack's clock back once "
                    "and walks it forward to the wall clock (devstack/seed.py). Best on a fresh stack "
                    "(`make run IN_MEMORY=1`): data already newer than the rewound clock stays as it is.")
    seeder.add_argument("--days", type=positive, default=DEFAULT_SEED_DAYS,
                        help="how many days back from now (default: %(default)s)")
    seeder.add_argument("--per-day", type=positive, default=DEFAULT_SEED_PER_DAY,
                        help="completed procedures per day (default: %(default)s)")
    seeder.add_argument("--seed", dest="rng_seed", type=int, default=DEFAULT_SEED_RNG,
                        help="the random seed: the same seed makes the same month (default: %(default)s)")
    seeder.add_argument("--ready-file", dest="reader_ready_file", type=Path, default=None,
                        help=f"the running stack's ready file (default: {DEFAULT_READY_FILE})")
    args = parser.parse_args(argv)
    if args.command == "token":
        wrong = tokens.problem(args.role, args.branch, args.agent, args.hours)
        if wrong:
            token.error(wrong)
    return args


def hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("must be a number of hours") from exc
    if not value >= 0:
        raise argparse.ArgumentTypeError("the stack's clock only moves forward")
    return value


def moment(text: str) -> str:
    from devstack.time_machine import iso, parse_time

    try:
        return iso(parse_time(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def interrupt_once(_signum: int, _frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C, once: further signals are ignored so cleanup is not cut short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def banner(stack: LocalStack) -> str:
    a, env = stack.addresses(), stack.env
    rows = [
        ("API", a["api_url"]),
        ("Phone page", a["phone_url"]),
        ("Mailbox page", a["mailbox_url"]),
        ("Carrier (Twilio API)", a["carrier_url"]),
        ("LINE (Messaging API)", f"{a['line_url']}  (chat as a LINE user: {a['phone_url']}?line={DEMO_LINE_USER})"),
        ("China SMS (Alibaba SMS)", f"{a['alibaba_url']}  (a mainland phone: {a['phone_url']}?number={DEMO_CN_PHONE})"),
        ("WeChat (service account)", f"{a['wechat_url']}  (a follower's chat: {a['phone_url']}?wechat=<openid>)"),
        ("DynamoDB Local", a["dynamodb_endpoint"]),
        ("moto (SQS/SNS/SES/Events)", a["moto_endpoint"]),
        ("Intake queue", env["KOE_INTAKE_QUEUE_URL"]),
        ("Intake DLQ", env["KOE_INTAKE_DLQ_URL"]),
        ("Follow-up queue", env["KOE_FOLLOW_UP_QUEUE_URL"]),
        ("Follow-up DLQ", env["KOE_LOCAL_FOLLOW_UP_DLQ_URL"]),
        ("CX alerts topic", env["KOE_CX_TOPIC_ARN"]),
        ("CX alerts (read them)", env["KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL"]),
        ("Email sender (SES)", f"{env['KOE_EMAIL_FROM']} via {env[resources.EMAIL.env]}"),
        ("Event bus", env["KOE_LOCAL_EVENT_BUS"]),
        ("Table prefix", env["KOE_RESOURCE_PREFIX"]),
        ("Tick every", f"{stack.options.tick_seconds:g} s"),
        ("Clock", (f"started at {stack.options.clock_start:%Y-%m-%dT%H:%M:%SZ} (--clock-start)"
                   if stack.options.clock_start else "the wall clock")
         + "; `python -m devstack advance` moves it forward (local only)"),
        ("Concurrency", f"{stack.options.concurrency} invocations per queue"),
        ("Data", f"{stack.options.db_path} (tables survive a restart; queues do not)"
                 if stack.options.db_path else "in memory: nothing is kept (--in-memory)"),
        ("API key", a["api_key"]),
        ("CX bearer tokens", "python -m devstack token --role cx_admin (or make token ROLE=...)"),
        ("CX dashboard", "python -m devstack token --role cx_admin --dashboard  (prints a sign-in link)"),
    ]
    width = max(len(name) for name, _ in rows)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in stack.options.timings.items())
    return "\n".join([
        f"\nkoe local stack is ready ({timings})\n",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
        "",
        "Send a completed procedure (completed now; sending it again shows idempotency):",
        (f"  curl -H \"x-api-key: {a['api_key']}\" -H 'content-type: application/json' "
         f"-d '{demo_event(stack.clock())}' {a['api_url']}/v1/events"),
        "Text as the customer (or use the phone page):",
        ("  curl -H 'content-type: application/json' "
         f"-d '{{\"from\": \"+15550100123\", \"body\": \"9\"}}' {a['carrier_url']}/reply"),
        "Survey a customer on LINE (Japan, with a LINE user id): the user adds koe's account as a friend, then",
        (f"  curl -H 'content-type: application/json' -d '{{\"user\": \"{DEMO_LINE_USER}\"}}' "
         f"{a['carrier_url']}/line/follow"),
        (f"  curl -H \"x-api-key: {a['api_key']}\" -H 'content-type: application/json' "
         f"-d '{demo_event(stack.clock(), line=True)}' {a['api_url']}/v1/events"),
        f"  and answers on the phone page's LINE view: {a['phone_url']}?line={DEMO_LINE_USER}",
        "Survey a customer in mainland China (China SMS through Alibaba, an approved template; answers on the page):",
        (f"  curl -H \"x-api-key: {a['api_key']}\" -H 'content-type: application/json' "
         f"-d '{demo_event(stack.clock(), china=True)}' {a['api_url']}/v1/events"),
        f"  and read it (or text 退订) on the phone page: {a['phone_url']}?number={DEMO_CN_PHONE}",
        "Survey a customer by email (no phone: email; read it on the mailbox page):",
        (f"  curl -H \"x-api-key: {a['api_key']}\" -H 'content-type: application/json' "
         f"-d '{demo_event(stack.clock(), email=True)}' {a['api_url']}/v1/events"),
        "Make SES report a hard bounce of it (the address is then opted out of email):",
        ("  curl -H 'content-type: application/json' "
         f"-d '{{\"to\": \"{DEMO_EMAIL}\", \"kind\": \"bounce\"}}' {a['carrier_url']}/emails/feedback"),
        "Call the CX routes as a CX user (branch_manager needs --branch, agent --agent):",
        (f"  curl -H \"Authorization: Bearer $(python -m devstack token --role cx_admin)\" "
         f"{a['api_url']}/v1/cases"),
        "Read what koe produced (left on the queues):",
        "  python -m devstack follow-ups    python -m devstack alerts    python -m devstack dead-letters",
        "Surveys waiting for the customer's morning, and the local time machine that releases them:",
        "  python -m devstack scheduled     python -m devstack advance --hours 10",
        "",
        "Ctrl-C stops everything (batches in flight finish first).",
    ])


DEMO_EMAIL = "hanako@example.jp"
DEMO_LINE_USER = "U" + "4b6f65" * 5 + "00"       # fictional: U and 32 hex digits
DEMO_JP_PHONE = "+819000010123"                   # fictional
DEMO_CN_PHONE = "+8613800138000"                  # fictional


def demo_event(at: datetime, email: bool = False, line: bool = False, china: bool = False) -> str:
    """A fresh event for the printed curl, completed `at` (the stack's clock): the sample's fixed
    completed_at would be stale. With `email`, a customer with an address and no phone (surveyed by
    email, in Japanese); with `line`, a Japanese customer with a LINE user id (surveyed on LINE); with
    `china`, a customer with a mainland number (surveyed by China SMS, in Chinese)."""
    now = at.astimezone(UTC).isoformat(timespec="seconds")
    customer = ({"id": "C-0002", "email": DEMO_EMAIL, "locale": "ja-JP"} if email
                else {"id": "C-0003", "phone": DEMO_JP_PHONE, "line_user_id": DEMO_LINE_USER, "locale": "ja-JP"} if line
                else {"id": "C-0004", "phone": DEMO_CN_PHONE, "locale": "zh-CN"} if china
                else {"id": "C-0001", "phone": "+15550100123", "locale": "en-US"})
    kind = "email-" if email else "line-" if line else "cn-" if china else ""
    return json.dumps({
        "event_id": f"demo-{kind}{now[:19].replace(':', '')}", "procedure": "claim_payment",
        "completed_at": now, "customer": customer, "context": {"branch": "tokyo-chuo", "agent_id": "A-102"},
    })


def write_ready_file(path: Path, stack: LocalStack) -> None:
    # It holds the API key, the token secret and the contact hash key: its owner's alone (0600),
    # written whole then renamed, so a reader never sees half a file.
    write_private(path, json.dumps(stack.addresses(), indent=2))


def _shares(text: str) -> dict[str, float]:
    """`429=0.05,500=0.05`: each name with its share of 0..1."""
    shares: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            share = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{part!r} is name=share") from exc
        if not sep or not 0 <= share <= 1:
            raise argparse.ArgumentTypeError(f"{part!r} is name=share with a share from 0 to 1")
        shares[name.strip()] = share
    return shares


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "scheduled":
        return print_scheduled(args)
    if args.command == "advance":
        return advance_clock(args)
    if args.command == "token":
        return print_token(args)
    if args.command == "seed":
        return run_seed(args)
    if args.command:
        return read_queue(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = StackOptions(api_port=args.api_port, carrier_port=args.carrier_port, line_port=args.line_port,
                           alibaba_port=args.alibaba_port, wechat_port=args.wechat_port,
                           dynamodb_port=args.dynamodb_port, moto_port=args.moto_port,
                           tick_seconds=args.tick_seconds, api_key=args.api_key, carrier_rate=args.carrier_rate,
                           carrier_faults=args.carrier_faults,
                           concurrency=args.concurrency, clock_start=args.clock_start,
                           workers=not args.in_process,
                           db_path=None if args.in_memory else args.db_path,
                           # kept beside the ready file (.koe/) so tokens outlive a restart; --in-memory
                           # keeps nothing
                           token_secret=None if args.in_memory else tokens.secret_in(
                               args.ready_file.parent / DEFAULT_TOKEN_SECRET.name))
    args.ready_file.parent.mkdir(parents=True, exist_ok=True)
    args.ready_file.unlink(missing_ok=True)     # a stale file would say "ready" too early
    signal.signal(signal.SIGTERM, interrupt_once)
    signal.signal(signal.SIGINT, interrupt_once)
    stack = LocalStack(options)
    try:
        stack.start()
        print(banner(stack), flush=True)
        write_ready_file(args.ready_file, stack)
        # Short sleeps: a Ctrl-C the kernel hands to another thread (a server's, a warmer's) only sets
        # Python's flag, and the main thread runs the handler when it next wakes: a long sleep here
        # once left a stopped stack running (its warm workers, started after "ready", died at once).
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\nstopping: finishing the batches in flight...", flush=True)
        return 0
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        logging.getLogger("devstack").exception("the local stack could not start")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        args.ready_file.unlink(missing_ok=True)


# --- reading what koe produced ---------------------------------------------------------------------

def read_queue(args: argparse.Namespace) -> int:
    """Print every message on one of the stack's queues as a JSON line, leaving them on the queue."""
    from botocore.exceptions import BotoCoreError, ClientError

    from devstack.provision import client

    _, variable, logical = READERS[args.command]
    try:
        endpoint, region, url = queue_address(args, variable, logical)
        sqs = client("sqs", endpoint, region)
        for message in peek(sqs, url):
            print(json.dumps(message, ensure_ascii=False), flush=True)
    except (BotoCoreError, ClientError, OSError, ValueError) as exc:
        print(f"error: cannot read {logical} ({exc}); is the stack running (`make run`)? Pass its "
              "--ready-file, or --moto-endpoint", file=sys.stderr)
        return 1
    return 0


def ready_file_of(args: argparse.Namespace) -> tuple[Path, bool]:
    """The ready file to read, and whether it was named (before or after the subcommand)."""
    given = args.reader_ready_file or (args.ready_file if args.ready_file != DEFAULT_READY_FILE else None)
    return given or DEFAULT_READY_FILE, given is not None


def read_ready(args: argparse.Namespace, override: str | None) -> dict[str, Any] | None:
    """The running stack's ready file, unless an address was given instead (`override`); a ready
    file that was named must exist."""
    path, named = ready_file_of(args)
    if override is None and path.exists():
        ready: dict[str, Any] = json.loads(path.read_text())
        return ready
    if named:
        raise ValueError(f"no ready file at {path}")
    return None


def queue_address(args: argparse.Namespace, variable: str, logical: str) -> tuple[str, str, str]:
    """(moto endpoint, region, queue URL): from the ready file when there is one, else the defaults."""
    ready = read_ready(args, args.moto_endpoint)
    if ready is not None:
        return ready["moto_endpoint"], ready["env"]["AWS_REGION"], ready["env"][variable]
    from devstack.provision import client

    defaults = StackOptions()
    endpoint = args.moto_endpoint or f"http://127.0.0.1:{defaults.moto_port}"
    name = f"{defaults.prefix}{logical}"
    url = str(client("sqs", endpoint, defaults.region).get_queue_url(QueueName=name)["QueueUrl"])
    return endpoint, defaults.region, url


def print_scheduled(args: argparse.Namespace) -> int:
    """Print the scheduled surveys (devstack/scheduled.py) as JSON lines, earliest first."""
    from botocore.exceptions import BotoCoreError, ClientError

    from devstack.provision import client
    from devstack.scheduled import scheduled_surveys

    defaults = StackOptions()
    try:
        ready = read_ready(args, args.dynamodb_endpoint)
        if ready is not None:
            endpoint, region = ready["dynamodb_endpoint"], ready["env"]["AWS_REGION"]
            prefix = ready["env"]["KOE_RESOURCE_PREFIX"]
        else:
            endpoint = args.dynamodb_endpoint or f"http://127.0.0.1:{defaults.dynamodb_port}"
            region, prefix = defaults.region, defaults.prefix
        surveys = scheduled_surveys(client("dynamodb", endpoint, region), prefix)
    except (BotoCoreError, ClientError, OSError, ValueError) as exc:
        print(f"error: cannot read the scheduled surveys ({exc}); is the stack running (`make run`)? Pass "
              "its --ready-file, or --dynamodb-endpoint", file=sys.stderr)
        return 1
    for survey in surveys:
        print(json.dumps(survey, ensure_ascii=False), flush=True)
    if not surveys:
        print("no survey is scheduled", file=sys.stderr)
    return 0


def advance_clock(args: argparse.Namespace) -> int:
    """The local time machine: POST /clock/advance on the stack's carrier; print what it answered."""
    try:
        ready = read_ready(args, args.carrier_url)
        url = ready["carrier_url"] if ready else args.carrier_url or f"http://127.0.0.1:{StackOptions().carrier_port}"
        move = {"hours": args.hours} if args.hours is not None else {"to": args.to}
        request = urllib.request.Request(f"{url}/clock/advance", data=json.dumps(move).encode("utf-8"),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            outcome = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        print(f"error: the stack refused ({exc.code}): {exc.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot reach the stack's clock ({exc}); is the stack running (`make run`)? Pass its "
              "--ready-file, or --carrier-url", file=sys.stderr)
        return 1
    print(json.dumps(outcome), flush=True)
    tick = outcome.get("tick")
    done = (f"the schedule released {tick.get('released', 0)} survey(s)" if isinstance(tick, dict)
            else "the schedule failed (see the stack's log)")
    print(f"the stack's clock is now {outcome['now']} ({outcome['offset_hours']:+g} h); {done}", file=sys.stderr)
    return 0


def print_token(args: argparse.Namespace) -> int:
    """A CX user's token on stdout (alone, for `$(...)`), what it is on stderr. Signed with the running
    stack's secret (its ready file) or else the project's (--secret-file), on the stack's clock."""
    try:
        ready = read_ready(args, None)
        env = ready.get("env", {}) if ready else {}
        secret = env.get(resources.LOCAL_TOKEN_SECRET_ENV) or tokens.secret_in(args.secret_file)
        now = tokens.stack_now(ready.get("carrier_url") if ready else None)
        token = tokens.mint(secret, args.role, branch=args.branch, agent=args.agent, hours=args.hours,
                            now=now, subject=args.subject)
    except (OSError, ValueError) as exc:
        print(f"error: cannot make a token ({exc})", file=sys.stderr)
        return 1
    scope = ", ".join(f"{name} {value}" for name, value in (("branch", args.branch), ("agent", args.agent)) if value)
    until = (now + timedelta(hours=args.hours)).isoformat(timespec="seconds")
    if args.dashboard:
        api_url = ready.get("api_url") if ready else f"http://127.0.0.1:{StackOptions().api_port}"
        print(tokens.sign_in_link(str(api_url), token), flush=True)
        print(f"open it in a browser: the CX dashboard as {args.role}{f' ({scope})' if scope else ''}, signed in "
              f"until {until} on the stack's clock", file=sys.stderr)
        return 0
    print(token, flush=True)
    print(f"{args.role} token{f' ({scope})' if scope else ''}, valid until {until} on the stack's clock; "
          "send it as `Authorization: Bearer <token>`", file=sys.stderr)
    return 0


def run_seed(args: argparse.Namespace) -> int:
    """`make seed`: the progress bar on stderr, the summary on stdout."""
    from devstack import seed

    path, _ = ready_file_of(args)
    if not path.exists():
        print(f"error: no running stack (no ready file at {path}): start one with `make run` in another "
              "terminal (`make run IN_MEMORY=1` for a fresh one), or pass its --ready-file", file=sys.stderr)
        return 1
    try:
        summary = seed.seed(json.loads(path.read_text()), days=args.days, events_per_day=args.per_day,
                            rng_seed=args.rng_seed, progress=seed.ProgressBar(sys.stderr))
    except (seed.SeedError, ValueError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: what was seeded stays; the stack's clock is back at the wall clock", file=sys.stderr)
        return 130
    print("\n".join(summary.lines()), flush=True)
    return 0


def peek(sqs: Any, url: str, hold_s: int = 30) -> Iterator[dict[str, Any]]:
    """Every visible message, oldest first as SQS hands them out; each is held invisible while the
    rest are read (so none is read twice), then released at once. Like the console's "poll for
    messages", each read counts as a receive (a queue with a redrive policy moves a message to its
    dead-letter queue after maxReceiveCount receives: 10 for the follow-up queue)."""
    held: list[dict[str, Any]] = []
    try:
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=hold_s,
                                        WaitTimeSeconds=0, AttributeNames=["All"],
                                        MessageAttributeNames=["All"]).get("Messages", [])
            if not batch:
                break
            held.extend(batch)
    finally:
        for start in range(0, len(held), 10):
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(held[start:start + 10])])
    held.sort(key=lambda m: int(m.get("Attributes", {}).get("SentTimestamp", "0")))
    return iter([json_line(m) for m in held])


def json_line(message: dict[str, Any]) -> dict[str, Any]:
    """message id, when it was sent, its attributes (e.g. a dead letter's reason) and the body:
    parsed when it is JSON (follow-ups), else the text, with its `Label: value` lines as fields
    (alerts)."""
    attributes = message.get("Attributes", {})
    sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", "0")) / 1000, UTC)
    line: dict[str, Any] = {"message_id": message["MessageId"],
                            "sent_at": sent.isoformat(timespec="seconds"),
                            "receive_count": int(attributes.get("ApproximateReceiveCount", "1"))}
    custom = {name: value.get("StringValue") for name, value in message.get("MessageAttributes", {}).items()}
    if custom:
        line["attributes"] = custom
    body = message["Body"]
    try:
        line["body"] = json.loads(body)
    except ValueError:
        line["body"] = body
        fields = [row.split(": ", 1) for row in body.splitlines()]
        if fields and all(len(pair) == 2 for pair in fields):
            line["fields"] = dict(fields)
    return line


if __name__ == "__main__":
    sys.exit(main())
