"""Local burst: N "procedure completed" events at once through the whole local stack, over HTTP.

Starts a LocalStack in-process on free loopback ports, posts N events (default 1,000) to
`POST /v1/events` in batches of 100 from a few threads, each for a distinct fictional US customer
(+1 555 010 XXXX: the 555-01xx block, the carrier's fault numbers left out), waits until every
invitation has reached the carrier, and prints:

- accepted events/s at the API (the posting phase),
- surveys/s end to end (first request sent -> last invitation at the carrier),
- p50 / p99 event -> SMS latency (the batch's request sent -> its invitation at the carrier),
- the accounting, read from the surveys table (a Scan) and the intake DLQ: sent, failed, suppressed
  by reason, dead-lettered, unaccounted (must be 0), and invitations the carrier got twice,
- where the time went: CPU seconds of this process (the runner, the carrier, Chalice's local server
  standing in for API Gateway), of koe's functions' worker processes, the API function's included
  (devstack/workers.py: each invocation runs in a worker of its function, as in Lambda), of DynamoDB
  Local's JVM and of the moto child, and the machine's idle time; with --profile, cProfile of every
  thread of this process (top functions by own time; the functions then run in this process, as with
  --in-process).

Before the measured burst, `--warm-up` events (default 200, other customers) go through the same
path and are left out of every figure: DynamoDB Local's JIT, the functions' first-call imports and
the kept-alive connections are then warm, as AWS's services are at 09:00. Their own throughput is
printed too (the cold figure); `--warm-up 0` measures a cold stack.

    .venv/bin/python bench/local_burst.py [--events 1000] [--threads 4] [--concurrency N] [--profile]
                                          [--in-process] [--replies THREADS] [--warm-up N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from botocore.client import BaseClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import log_scan  # noqa: E402
from devstack.carrier import API_FAULTS, CALLBACK_FAULTS, Message, MessageLog  # noqa: E402
from devstack.provision import client  # noqa: E402
from devstack.stack import LocalStack, StackOptions  # noqa: E402

MAX_EVENTS = 5000
BATCH = 100                         # POST /v1/events takes at most 100 events
PHONE_BLOCK = "+1555010"            # + 4 digits: +1 555 010 0000 .. 9999, all in 555-01xx
FAULT_NUMBERS = frozenset(API_FAULTS) | frozenset(CALLBACK_FAULTS)
SENT_STATUSES = frozenset({"sent", "delivered", "answered", "expired"})
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ALL_DAY = "00:00-23:59"


def phones(n: int) -> list[str]:
    """n distinct fictional numbers (+1 555 010-xxxx, then 011-xxxx), skipping the ones the carrier
    fails on purpose."""
    numbers = (f"{block}{i:04d}" for block in (PHONE_BLOCK, PHONE_BLOCK[:-1] + "1") for i in range(10_000))
    return [p for p in numbers if p not in FAULT_NUMBERS][:n]


CLOCK_START = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def make_event(run: str, index: int, phone: str, now: str) -> dict[str, Any]:
    return {
        "event_id": f"burst-{run}-{index:05d}", "procedure": "claim_payment", "completed_at": now,
        "customer": {"id": f"C-B{index:05d}", "phone": phone, "locale": "en-US"},
        "context": {"branch": "tokyo-chuo", "agent_id": f"A-B{index % 50:02d}"},
    }


class TimedLog(MessageLog):
    """The carrier's message log, noting when each invitation (an API send) arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}
        self.repeats: Counter[str] = Counter()
        self.repeat_times: list[float] = []     # when each later message to a number arrived (reminders)
        self._times = threading.Lock()

    def add(self, message: Message) -> Message:
        if message.direction == "outbound-api":
            with self._times:
                if message.to in self.arrivals:
                    self.repeats[message.to] += 1
                    self.repeat_times.append(time.monotonic())
                else:
                    self.arrivals[message.to] = time.monotonic()
        return super().add(message)


# --- requests by service and operation ------------------------------------------------------------------

class RequestCounter:
    """Every botocore call made in this process (koe's, the runner's), by service and operation."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.enabled = False
        self._lock = threading.Lock()

    def install(self) -> None:
        # _make_api_call is botocore's private hook every client operation goes through (as in
        # bench/requests_per_survey.py); botocore-stubs declares only the public API.
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        counter = self

        def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if counter.enabled:
                with counter._lock:
                    counter.counts[(self.meta.service_model.service_name, operation)] += 1
            return original(self, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[attr-defined]  # private, see above


# --- CPU time per process ---------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_idle_seconds() -> float:
    """Idle time of all CPUs together, from /proc/stat (idle + iowait)."""
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(values[3]) + int(values[4])) / CLOCK_TICKS


WORKERS = "koe's functions (worker processes)"


@dataclass
class CpuMeter:
    pids: dict[str, int]
    workers: Callable[[], list[int]] = list       # the stack's worker processes, read at begin and end
    start: dict[str, float] = field(default_factory=dict)
    workers_start: dict[int, float] = field(default_factory=dict)
    idle_start: float = 0.0

    def begin(self) -> None:
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.workers_start = {pid: cpu_seconds(pid) for pid in self.workers()}
        self.idle_start = machine_idle_seconds()

    def end(self) -> tuple[dict[str, float], float]:
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        pids = self.workers()
        if pids or self.workers_start:
            # A worker started during the run counts from its start (its cold start is the run's work).
            used[f"{WORKERS}, {len(pids)}"] = sum(cpu_seconds(pid) - self.workers_start.get(pid, 0.0)
                                                  for pid in pids)
        return used, machine_idle_seconds() - self.idle_start


# --- profiling every thread of this process -----------------------------------------------------------

class ThreadProfiles:
    """cProfile, timed in each thread's CPU time (not wall time: waits on sockets and locks would
    swamp it), in every thread started after `install()`: request threads, the runner's pollers,
    the carrier's callback workers."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start(self, *_args: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()          # replaces this thread's profile function with cProfile's

    def install(self) -> None:
        threading.setprofile(self._start)

    def stop(self) -> None:
        threading.setprofile(None)
        for profile in list(self.profiles):
            profile.disable()

    def stats(self) -> pstats.Stats | None:
        live = [p for p in self.profiles if p.getstats()]
        if not live:
            return None
        stats = pstats.Stats(live[0])
        for profile in live[1:]:
            stats.add(profile)
        return stats

    def print_summary(self, n: int = 25) -> None:
        stats = self.stats()
        if stats is None:
            return
        # pstats keeps {(file, line, function): (calls, primitive calls, own time, cumulative, callers)}
        table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
        by_area: dict[str, float] = {}
        for (filename, _, _), (_, _, own, _, _) in table.items():
            # cProfile's own time can come out slightly negative for a function whose callees ran
            # on a clock tick boundary; those are left out of the shares.
            by_area[area(filename)] = by_area.get(area(filename), 0.0) + max(own, 0.0)
        total = sum(by_area.values())
        print(f"\nCPU time of this process by package (cProfile in thread CPU time, {len(self.profiles)} "
              f"threads, {total:.1f} s profiled):")
        for name, seconds in sorted(by_area.items(), key=lambda kv: -kv[1])[:18]:
            print(f"  {name:44} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
        print(f"\ntop {n} functions by own CPU time:")
        stats.sort_stats("tottime").print_stats(n)
        print("entry points (cumulative CPU time: koe's handlers, Chalice's local server, the carrier, "
              "the runner):")
        stats.sort_stats("cumulative").print_stats(
            r"(app\.py:\d+\((ingest_http|dispatch|sms_status|on_response)\))|"
            r"(chalice/local\.py:\d+\((do_POST|_generic_handle|_handle_binary)\))|"
            r"(carrier\.py:\d+\((do_POST|_run_callbacks|post_signed|send)\))|"
            r"(runner\.py:\d+\((poll|_deliver|_read|_refresh_shards)\))|"
            r"(local_burst\.py:\d+\(post\))")


def area(filename: str) -> str:
    """Which package a profiled function belongs to: koe, devstack, a dependency, the standard library."""
    if filename.startswith("~") or filename.startswith("<"):
        return "built-ins (C: sockets, locks, json, hashing ...)"
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return f"stdlib {path.stem if path.parent.name.startswith('python3') else path.parent.name}"
    top = relative.parts[0]
    return {"chalicelib": "koe (chalicelib/)", "app.py": "koe (app.py)"}.get(top, top)


# --- the burst ---------------------------------------------------------------------------------------

def post_all(api: str, key: str, events: list[dict[str, Any]], threads: int,
             posted_at: dict[str, float]) -> tuple[int, float]:
    """Post in batches of 100 from `threads` threads; returns (events accepted, seconds)."""
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]

    def post(batch: list[dict[str, Any]]) -> int:
        session = requests.Session()
        sent_at = time.monotonic()
        for event in batch:
            posted_at[event["customer"]["phone"]] = sent_at
        answer = session.post(f"{api}/v1/events", json={"events": batch}, timeout=60,
                              headers={"x-api-key": key})
        if answer.status_code != 202:
            print(f"batch refused: {answer.status_code} {answer.text[:300]}", file=sys.stderr)
            return 0
        return sum(1 for r in answer.json()["results"] if r["status"] == "accepted")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        accepted = sum(pool.map(post, batches))
    return accepted, time.monotonic() - started


def wait_for_invitations(log: TimedLog, stack: LocalStack, expected: int, timeout_s: float,
                         quiet_s: float = 10.0) -> None:
    """Until every expected invitation arrived, or nothing has moved for `quiet_s` with the intake
    queue empty (some events ended otherwise: the accounting says how), or the timeout."""
    sqs = client("sqs", stack.env["KOE_AWS_ENDPOINT"], stack.options.region)
    deadline, last, moved_at = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        arrived = len(log.arrivals)
        if arrived >= expected:
            return
        if arrived != last:
            last, moved_at = arrived, time.monotonic()
        elif time.monotonic() - moved_at > quiet_s and not queued(sqs, stack.env["KOE_INTAKE_QUEUE_URL"]):
            return
        time.sleep(0.05)
    print(f"timed out after {timeout_s:.0f} s with {len(log.arrivals)} of {expected} invitations",
          file=sys.stderr)


def wait_until(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def queued(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def settle_sending(stack: LocalStack, ids: set[str], timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """The run's surveys, once none is left `sending` (its send finished) or the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        surveys = scan_surveys(stack, ids)
        if time.monotonic() > deadline or not any(s.get("status") == "sending" for s in surveys):
            return surveys
        time.sleep(0.2)


def scan_surveys(stack: LocalStack, ids: set[str]) -> list[dict[str, Any]]:
    dynamodb = client("dynamodb", stack.env["KOE_DYNAMODB_ENDPOINT"], stack.options.region)
    table = stack.env["KOE_RESOURCE_PREFIX"] + "surveys"
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="survey_id, #s, reason, step",
            ExpressionAttributeNames={"#s": "status"}):
        for item in page["Items"]:
            if item["survey_id"]["S"] in ids:
                items.append({name: next(iter(value.values())) for name, value in item.items()})
    return items


def dead_lettered(stack: LocalStack, ids: set[str]) -> dict[str, str]:
    """event_id -> reason for this run's events on the intake DLQ (read, left in place)."""
    sqs = client("sqs", stack.env["KOE_AWS_ENDPOINT"], stack.options.region)
    found: dict[str, str] = {}
    for _ in range(max(3, queued(sqs, stack.env["KOE_INTAKE_DLQ_URL"]) // 10 + 3)):
        messages = sqs.receive_message(QueueUrl=stack.env["KOE_INTAKE_DLQ_URL"], MaxNumberOfMessages=10,
                                       VisibilityTimeout=30, MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        for message in messages:
            event_id = str(json.loads(message["Body"]).get("event_id", ""))
            if event_id in ids:
                found[event_id] = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
    return found


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


@dataclass
class Result:
    events: int
    accepted: int
    post_s: float
    started: float
    wall_s: float
    callbacks_s: float
    arrivals: dict[str, float]
    posted_at: dict[str, float]
    repeats: int
    surveys: list[dict[str, Any]]
    letters: dict[str, str]
    cpu: dict[str, float]
    idle_s: float
    requests: Counter[tuple[str, str]]
    concurrency: int
    workers: bool
    replies: list[float] = field(default_factory=list)    # --replies: each reply's round trip, seconds
    replies_s: float = 0.0
    replies_unanswered: int = 0
    scores_recorded: int = 0
    warm_up: int = 0                # events sent before the burst, left out of its figures
    warm_up_figure: str = ""        # what they measured (a cold stack)


def reply_burst(stack: LocalStack, numbers: list[str], threads: int) -> tuple[list[float], float, int]:
    """Every customer answers "9" at once (`threads` at a time, through the carrier's /reply, which posts
    Twilio's signed webhook and returns the TwiML answer): each reply's round trip from the customer's
    side to koe's next message ("why?"), the whole burst's seconds, and the replies koe left
    unanswered (no TwiML message, or an error)."""
    assert stack.carrier is not None
    url = f"{stack.carrier.url}/reply"
    local = threading.local()

    def reply(number: str) -> float | None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        sent = time.monotonic()
        answer = session.post(url, json={"from": number, "body": "9"}, timeout=120)
        took = time.monotonic() - sent
        outcome = answer.json() if answer.status_code == 200 else {}
        return took if outcome.get("app_status") == 200 and outcome.get("replies") else None

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        timings = list(pool.map(reply, numbers))
    return sorted(t for t in timings if t is not None), time.monotonic() - started, timings.count(None)


def warm_up(stack: LocalStack, n: int, skip: int, threads: int, timeout_s: float) -> str:
    """n events for other customers (the numbers after the burst's `skip`) through the whole path,
    their callbacks done; returns what they measured (the cold figure), left out of the burst's."""
    assert stack.carrier is not None
    log = TimedLog()
    stack.carrier.log = log
    now = stack.clock().isoformat(timespec="seconds")
    events = [make_event(f"warm{uuid.uuid4().hex[:4]}", i, phone, now)
              for i, phone in enumerate(phones(skip + n)[skip:])]
    started = time.monotonic()
    accepted, _ = post_all(stack.api_url, stack.env["KOE_LOCAL_API_KEY"], events, threads, {})
    wait_for_invitations(log, stack, accepted, timeout_s)
    wait_until(lambda: not stack.carrier.callbacks_pending, timeout_s=60)
    last = max(log.arrivals.values(), default=started)
    return (f"{len(log.arrivals)} of {n} invitations in {last - started:.2f} s = "
            f"{len(log.arrivals) / max(last - started, 1e-9):.1f} surveys/s")


def run_burst(n: int, threads: int, options: StackOptions, timeout_s: float,
              profiles: ThreadProfiles | None, reply_threads: int = 0, warm: int = 0) -> Result:
    counter = RequestCounter()
    counter.install()
    if profiles:
        profiles.install()        # before start: the runner's pollers are threads started there
    stack = LocalStack(options)
    stack.start()
    try:
        stack.warmed()
        cold = warm_up(stack, warm, n, threads, timeout_s) if warm else ""
        log = TimedLog()
        stack.carrier.log = log
        assert stack.dynamodb and stack.moto
        here = ("this process (runner, carrier, local API Gateway)" if options.workers
                else "this process (koe, Chalice local, runner, carrier)")
        meter = CpuMeter({here: os.getpid(), "DynamoDB Local (java)": stack.dynamodb.pid,
                          "moto (child)": stack.moto.pid}, workers=stack.worker_pids)
        api, key = stack.api_url, stack.env["KOE_LOCAL_API_KEY"]
        now = stack.clock().isoformat(timespec="seconds")
        run = uuid.uuid4().hex[:6]
        events = [make_event(run, i, phone, now) for i, phone in enumerate(phones(n))]
        ids = {e["event_id"] for e in events}
        posted_at: dict[str, float] = {}

        counter.enabled = True
        meter.begin()
        started = time.monotonic()
        accepted, post_s = post_all(api, key, events, threads, posted_at)
        wait_for_invitations(log, stack, accepted, timeout_s)
        # The loop's work for these surveys ends with the carrier's sent/delivered callbacks.
        wait_until(lambda: not stack.carrier.callbacks_pending, timeout_s=60)
        callbacks_done = time.monotonic()
        cpu, idle = meter.end()
        wall = time.monotonic() - started
        counter.enabled = False
        if profiles:
            profiles.stop()
        surveys = settle_sending(stack, ids)
        letters = dead_lettered(stack, ids)
        replies: tuple[list[float], float, int] = ([], 0.0, 0)
        scored = 0
        if reply_threads:
            replies = reply_burst(stack, sorted(log.arrivals), reply_threads)
            scored = sum(1 for s in scan_surveys(stack, ids) if s.get("status") == "answered"
                         or s.get("step") == "await_comment")
    finally:
        stack.stop()
    return Result(len(events), accepted, post_s, started, wall, callbacks_done - started,
                  dict(log.arrivals), posted_at,
                  sum(log.repeats.values()), surveys, letters, cpu, idle, counter.counts,
                  options.concurrency, options.workers, *replies, scored, warm, cold)


def report(r: Result, threads: int) -> int:
    """Print the figures; returns the number of unaccounted events."""
    latencies = sorted(r.arrivals[p] - r.posted_at[p] for p in r.arrivals if p in r.posted_at)
    last = max(r.arrivals.values(), default=r.started)
    statuses = Counter(str(s.get("status")) for s in r.surveys)
    suppressed = Counter(str(s.get("reason")) for s in r.surveys if s.get("status") == "suppressed")
    sent = sum(n for status, n in statuses.items() if status in SENT_STATUSES)
    recorded = {str(s["survey_id"]) for s in r.surveys}
    letters_only = {i for i in r.letters if i not in recorded}
    unaccounted = r.events - len(recorded) - len(letters_only) + statuses["sending"]

    print(f"local burst: {r.events} events, {threads} posting threads, concurrency {r.concurrency} "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    if r.warm_up:
        print(f"  warm-up (left out below)   {r.warm_up_figure}")
    print(f"  accepted at the API        {r.accepted} in {r.post_s:.2f} s = {r.accepted / r.post_s:.1f} events/s")
    e2e_s = max(last - r.started, 1e-9)
    print(f"  invitations at the carrier {len(r.arrivals)} in {e2e_s:.2f} s = "
          f"{len(r.arrivals) / e2e_s:.1f} surveys/s end to end")
    print(f"  delivery callbacks done    {r.callbacks_s:.2f} s after the first request")
    if latencies:
        print(f"  event -> SMS latency       p50 {percentile(latencies, 50):.2f} s, "
              f"p99 {percentile(latencies, 99):.2f} s, max {latencies[-1]:.2f} s")
    print("accounting (surveys table scan + intake DLQ):")
    print(f"  sent {sent}")
    print(f"  failed {statuses['failed']}")
    print(f"  suppressed {statuses['suppressed']}"
          + (f" ({', '.join(f'{reason} {n}' for reason, n in suppressed.most_common())})" if suppressed else ""))
    print(f"  dead-lettered {len(r.letters)}"
          + (f" (first reason: {next(iter(r.letters.values()))[:120]})" if r.letters else ""))
    other = {s: n for s, n in statuses.items() if s not in SENT_STATUSES | {"failed", "suppressed", "sending"}}
    if other:
        print(f"  other statuses {other}")
    print(f"  unaccounted {unaccounted} (must be 0); invitations sent twice {r.repeats}")
    cpus = os.cpu_count() or 1
    print(f"where the time went (CPU seconds from the first request to the last delivery callback, "
          f"{r.wall_s:.1f} s; "
          f"{cpus} CPUs = {cpus * r.wall_s:.0f} CPU s):")
    for name, seconds in r.cpu.items():
        print(f"  {name:52} {seconds:7.1f}  ({1000 * seconds / max(1, len(r.arrivals)):.1f} ms per survey)")
    print(f"  {'idle (all CPUs)':52} {r.idle_s:7.1f}")
    if r.replies or r.replies_unanswered:
        n = len(r.replies) + r.replies_unanswered
        print(f"reply burst: {n} customers answer at once: {len(r.replies)} answered with koe's next message in "
              f"{r.replies_s:.1f} s ({n / max(r.replies_s, 1e-9):.1f} replies/s); reply -> next message p50 "
              f"{percentile(r.replies, 50):.2f} s, p99 {percentile(r.replies, 99):.2f} s, max {r.replies[-1]:.2f} s; "
              f"unanswered {r.replies_unanswered}; surveys with the score recorded {r.scores_recorded}")
    print("requests made from this process, per survey" + (
        " (the runner's; the functions' own, in their workers: bench/requests_per_survey.py):"
        if r.workers else ":"))
    for (service, operation), n in sorted(r.requests.items(), key=lambda kv: -kv[1]):
        print(f"  {service:16} {operation:28} {n:6d}  {n / max(1, r.events):6.2f}")
    return unaccounted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000, help=f"1..{MAX_EVENTS}")
    parser.add_argument("--threads", type=int, default=4, help="threads posting batches of 100")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="invocations per event source (default: the stack's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the invitations")
    parser.add_argument("--profile", action="store_true", help="cProfile every thread (slows the run)")
    parser.add_argument("--in-process", action="store_true",
                        help="invoke the functions in this process, not in worker processes of each function")
    parser.add_argument("--replies", type=int, default=0, metavar="THREADS",
                        help="then every customer answers at once, THREADS replies in flight (e.g. 100)")
    parser.add_argument("--warm-up", type=int, default=200, metavar="N",
                        help="events for other customers first, left out of the figures (0: a cold stack)")
    parser.add_argument("--log", type=Path, default=Path("/tmp/koe-local-burst.log"),
                        help="where koe's logs and the servers' request lines go")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS:
        parser.error(f"--events must be between 1 and {MAX_EVENTS}")
    if not 0 <= args.warm_up <= MAX_EVENTS:
        parser.error(f"--warm-up must be between 0 and {MAX_EVENTS}")

    # Every invitation now, whatever the hour: koe defers sends outside the customer's send window
    # (KOE_SEND_WINDOW, 09:00-20:00 local time by default), and this measures sending, not waiting.
    os.environ.setdefault("KOE_SEND_WINDOW", ALL_DAY)
    # And the stack's clock starts at a fixed instant (a Wednesday, 10:00 in New York), so no figure
    # depends on the date or hour the benchmark runs at.
    options = StackOptions(api_port=0, carrier_port=0, dynamodb_port=0, moto_port=0, tick_seconds=3600,
                           clock_start=CLOCK_START)
    if args.concurrency is not None:
        options.concurrency = args.concurrency
    # cProfile sees this process's threads only: profiling runs the functions here.
    options.workers = not (args.in_process or args.profile)
    # As many warm workers per function as it may run at once (Lambda's provisioned concurrency):
    # the burst measures sending, not interpreters starting (a cold start is ~1.5 s of CPU each).
    options.warm_workers = max(options.concurrency, options.api_concurrency)
    profiles = ThreadProfiles() if args.profile else None
    # koe logs (JSON lines, as in Lambda) and the local servers' request lines go to a file: the
    # work of writing them stays in the figures, the screen keeps the report.
    with log_scan.log_to(args.log):
        result = run_burst(args.events, args.threads, options, args.timeout, profiles, args.replies, args.warm_up)
    unaccounted = report(result, args.threads)
    if profiles:
        profiles.print_summary()
    # What the burst logged holds no phone number, address, token or secret (devstack/log_scan.py).
    findings = log_scan.scan([args.log])
    print(f"logs: {args.log} ({len(findings)} findings of personal data, tokens or secrets)")
    for finding in findings[:10]:
        print(f"  {finding}")
    print(f"reproduce: .venv/bin/python bench/local_burst.py --events {args.events}"
          + (f" --replies {args.replies}" if args.replies else "")
          + (f" --warm-up {args.warm_up}" if args.warm_up != 200 else ""))
    missing = result.replies_unanswered or (args.replies and result.scores_recorded < len(result.replies))
    return 0 if unaccounted == 0 and not findings and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
