"""The 09:00 release storm: N surveys deferred overnight, released when the customers' send window
opens, through the whole local stack, with the carrier taking at most R messages a second per sender
(as Twilio's senders do: 429 / 20429 above it). Run twice: without a pace (KOE_SEND_RATES unset: the
schedule sends as fast as the carrier answers) and with the pace set to the carrier's rate
(KOE_SEND_RATES=sms=R). Prints, for each: the carrier's 429s, the busiest second at the carrier, how
long until every survey was sent, the ticks cut short, and the accounting (every survey sent once).

Events are posted at 02:00 in New York (the customers' zone) and wait for 09:00; the stack's clock then
moves to 09:00 and runs at wall pace, the schedule ticking every --tick-seconds (60, as in AWS; each
tick has 30 s, as the Lambda function does).

    .venv/bin/python bench/release_storm.py [--events 2000] [--rate 20] [--tick-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from local_burst import TimedLog, phones, post_all, scan_surveys  # noqa: E402

from devstack import log_scan  # noqa: E402
from devstack.stack import LocalStack, StackOptions  # noqa: E402

NIGHT = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)         # 02:00 in New York, a Wednesday
OPENS = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)        # 09:00 in New York: the window opens
WINDOW = "09:00-20:00"


@dataclass
class Storm:
    paced: bool
    events: int
    accepted: int
    deferred: int
    throttled: int
    busiest_second: int
    release_s: float
    sent: int
    statuses: Counter[str]
    repeats: int
    cut_short: int
    reminders: int = 0              # with --reminders: the reminders the next morning, their 429s and time
    reminder_throttled: int = 0
    reminder_busiest_second: int = 0
    reminders_s: float = 0.0
    reminded_twice: int = 0


def run(n: int, rate: float, paced: bool, tick_seconds: float, timeout_s: float, log: Path,
        reminders: bool = False) -> Storm:
    os.environ["KOE_SEND_WINDOW"] = WINDOW
    os.environ["KOE_SKIP_HOLIDAYS"] = "false"
    if paced:
        os.environ["KOE_SEND_RATES"] = f"sms={rate:g}"
    else:
        os.environ.pop("KOE_SEND_RATES", None)
    options = StackOptions(api_port=0, carrier_port=0, dynamodb_port=0, moto_port=0, tick_seconds=tick_seconds,
                           clock_start=NIGHT, carrier_rate=rate)
    stack = LocalStack(options)
    with log_scan.log_to(log, mode="a"):
        stack.start()
        try:
            return _storm(stack, n, paced, timeout_s, reminders)
        finally:
            stack.stop()


def _storm(stack: LocalStack, n: int, paced: bool, timeout_s: float, reminders: bool = False) -> Storm:
    carrier = stack.carrier
    assert carrier is not None and stack.time_machine is not None
    timed = TimedLog()
    carrier.log = timed
    events: list[dict[str, Any]] = [{"event_id": f"storm-{'p' if paced else 'u'}-{i:05d}", "procedure": "claim_payment",
               "completed_at": NIGHT.isoformat(), "customer": {"id": f"C-S{i:05d}", "phone": phone, "locale": "en-US"},
               "context": {"branch": "new-york-01", "agent_id": "A-310"}} for i, phone in enumerate(phones(n))]
    ids = {str(e["event_id"]) for e in events}
    accepted, _ = post_all(stack.api_url, stack.env["KOE_LOCAL_API_KEY"], events, 4, {})
    deadline = time.monotonic() + timeout_s
    while sum(1 for s in scan_surveys(stack, ids) if s.get("status") == "scheduled") < accepted:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    deferred = sum(1 for s in scan_surveys(stack, ids) if s.get("status") == "scheduled")
    opened = time.monotonic()
    stack.time_machine.advance(to=OPENS)         # the window opens; the schedule fires at once
    while len(timed.arrivals) < deferred and time.monotonic() < deadline:
        time.sleep(1)
    release_s = (max(timed.arrivals.values()) - opened) if timed.arrivals else 0.0
    per_second = Counter(int(at - opened) for at in timed.arrivals.values())
    statuses = Counter(str(s.get("status")) for s in scan_surveys(stack, ids))
    storm = Storm(paced, n, accepted, deferred, carrier.throttled, max(per_second.values(), default=0), release_s,
                  len(timed.arrivals), statuses, sum(timed.repeats.values()), 0)
    if reminders:
        _reminders(stack, timed, storm, deadline)
    return storm


def _reminders(stack: LocalStack, timed: TimedLog, storm: Storm, deadline: float) -> None:
    """The next morning nobody has answered: each survey's one reminder comes due at 09:00 (24 h after
    its send, inside the window) and goes out at the same pace."""
    assert stack.carrier is not None and stack.time_machine is not None
    throttled_before, expected = stack.carrier.throttled, storm.sent
    opened = time.monotonic()
    stack.time_machine.advance(to=OPENS + timedelta(days=1, minutes=30))
    while len(timed.repeat_times) < expected and time.monotonic() < deadline:
        time.sleep(1)
    per_second = Counter(int(at - opened) for at in timed.repeat_times)
    storm.reminders = len(timed.repeat_times)
    storm.reminder_throttled = stack.carrier.throttled - throttled_before
    storm.reminder_busiest_second = max(per_second.values(), default=0)
    storm.reminders_s = (max(timed.repeat_times) - opened) if timed.repeat_times else 0.0
    storm.reminded_twice = sum(1 for count in timed.repeats.values() if count > 1)


def count_in(log: Path, text: str) -> int:
    return sum(line.count(text) for line in log.read_text(encoding="utf-8", errors="replace").splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="the carrier's messages a second per sender")
    parser.add_argument("--tick-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--log", type=Path, default=Path("/tmp/koe-release-storm.log"))
    parser.add_argument("--only", choices=["paced", "unpaced"], help="one run, its result as JSON (one stack "
                                                                     "per process)")
    parser.add_argument("--modes", default="unpaced,paced", help="which runs: unpaced, paced or both")
    parser.add_argument("--reminders", action="store_true", help="then the reminders, the next morning")
    args = parser.parse_args(argv)
    common = ["--events", str(args.events), "--rate", f"{args.rate:g}", "--tick-seconds", f"{args.tick_seconds:g}",
              "--timeout", f"{args.timeout:g}", "--log", str(args.log), *(["--reminders"] if args.reminders else [])]
    if args.only:
        storm = run(args.events, args.rate, args.only == "paced", args.tick_seconds, args.timeout, args.log,
                    args.reminders)
        print(json.dumps({**asdict(storm), "statuses": dict(storm.statuses)}))
        return 0
    args.log.write_text("")
    results = []
    for mode in [m for m in ("unpaced", "paced") if m in args.modes.split(",")]:
        before = count_in(args.log, "schedule job cut short")
        done = subprocess.run([sys.executable, __file__, *common, "--only", mode], capture_output=True, text=True,
                              check=False, timeout=args.timeout + 300)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        fields = json.loads(done.stdout.strip().splitlines()[-1])
        storm = Storm(**{**fields, "statuses": Counter(fields["statuses"])})
        storm.cut_short = count_in(args.log, "schedule job cut short") - before
        results.append(storm)
    print(f"release storm: {args.events} surveys deferred overnight, released at 09:00 New York; the carrier takes "
          f"{args.rate:g} messages/s per sender; a tick every {args.tick_seconds:g} s (30 s each)")
    print(f"{'schedule':<28}{'deferred':>9}{'sent':>7}{'429s':>7}{'busiest s':>10}{'all sent in':>13}"
          f"{'msgs/s':>8}{'ticks cut':>10}{'twice':>7}")
    for r in results:
        rate = r.sent / r.release_s if r.release_s else 0.0
        name = f"paced (KOE_SEND_RATES=sms={args.rate:g})" if r.paced else "unpaced"
        print(f"{name:<28}{r.deferred:>9}{r.sent:>7}{r.throttled:>7}{r.busiest_second:>10}{r.release_s:>11.1f} s"
              f"{rate:>8.1f}{r.cut_short:>10}{r.repeats:>7}")
        print(f"{'':<28}statuses: {dict(sorted(r.statuses.items()))}")
        if args.reminders:
            pace = r.reminders / r.reminders_s if r.reminders_s else 0.0
            print(f"{'':<28}reminders the next morning: {r.reminders} sent, {r.reminder_throttled} × 429, busiest "
                  f"second {r.reminder_busiest_second}, all in {r.reminders_s:.1f} s ({pace:.1f}/s), "
                  f"numbers reminded twice {r.reminded_twice}")
    findings = log_scan.scan([args.log])
    print(f"logs: {args.log} ({len(findings)} findings of personal data, tokens or secrets)")
    print(f"reproduce: .venv/bin/python bench/release_storm.py --events {args.events} --rate {args.rate:g} "
          f"--tick-seconds {args.tick_seconds:g} --modes {args.modes}{' --reminders' if args.reminders else ''}")
    unsent = [r for r in results if r.sent != r.deferred
              or r.repeats != (r.reminders if args.reminders else 0) or r.reminded_twice]
    return 1 if unsent or findings else 0


if __name__ == "__main__":
    sys.exit(main())
