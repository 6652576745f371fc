"""`python -m devstack`: run koe locally until Ctrl-C or SIGTERM (`make run`).

    python -m devstack [--api-port 8000] [--carrier-port 8025] [--dynamodb-port 8100]
                       [--moto-port 5000] [--tick-seconds 60] [--api-key KEY] [--ready-file PATH]

Prints where everything is; with --ready-file, writes the same as JSON once ready (and removes it
on exit) so scripts and tests can wait for it. Port 0 picks a free port.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.stack import LocalStack, PortInUse, StackOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    defaults = StackOptions()
    parser.add_argument("--api-port", type=int, default=defaults.api_port)
    parser.add_argument("--carrier-port", type=int, default=defaults.carrier_port)
    parser.add_argument("--dynamodb-port", type=int, default=defaults.dynamodb_port)
    parser.add_argument("--moto-port", type=int, default=defaults.moto_port)
    parser.add_argument("--tick-seconds", type=float, default=defaults.tick_seconds)
    parser.add_argument("--api-key", help="the API key to accept (default: a new random one)")
    parser.add_argument("--ready-file", type=Path, help="write addresses and env as JSON when ready")
    return parser.parse_args(argv)


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
        ("Carrier (Twilio API)", a["carrier_url"]),
        ("DynamoDB Local", a["dynamodb_endpoint"]),
        ("moto (SQS/SNS/SES/Events)", a["moto_endpoint"]),
        ("Intake queue", env["KOE_INTAKE_QUEUE_URL"]),
        ("Intake DLQ", env["KOE_INTAKE_DLQ_URL"]),
        ("Follow-up queue", env["KOE_FOLLOW_UP_QUEUE_URL"]),
        ("Follow-up DLQ", env["KOE_LOCAL_FOLLOW_UP_DLQ_URL"]),
        ("CX alerts topic", env["KOE_CX_TOPIC_ARN"]),
        ("CX alerts (read them)", env["KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL"]),
        ("Event bus", env["KOE_LOCAL_EVENT_BUS"]),
        ("Table prefix", env["KOE_RESOURCE_PREFIX"]),
        ("Tick every", f"{stack.options.tick_seconds:g} s"),
        ("API key", a["api_key"]),
    ]
    width = max(len(name) for name, _ in rows)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in stack.options.timings.items())
    return "\n".join([
        f"\nkoe local stack is ready ({timings})\n",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
        "",
        "Send a completed procedure (completed now; sending it again shows idempotency):",
        (f"  curl -H \"x-api-key: {a['api_key']}\" -H 'content-type: application/json' "
         f"-d '{demo_event()}' {a['api_url']}/v1/events"),
        "Text as the customer (or use the phone page):",
        ("  curl -H 'content-type: application/json' "
         f"-d '{{\"from\": \"+15550100123\", \"body\": \"9\"}}' {a['carrier_url']}/reply"),
        "",
        "Ctrl-C stops everything.",
    ])


def demo_event() -> str:
    """A fresh event for the printed curl: the sample's fixed completed_at would be stale."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps({
        "event_id": f"demo-{now[:19].replace(':', '')}", "procedure": "claim_payment", "completed_at": now,
        "customer": {"id": "C-0001", "phone": "+15550100123", "locale": "en-US"},
        "context": {"branch": "tokyo-chuo", "agent_id": "A-102"},
    })


def write_ready_file(path: Path, stack: LocalStack) -> None:
    # Write then rename, so a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(stack.addresses(), indent=2))
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = StackOptions(api_port=args.api_port, carrier_port=args.carrier_port,
                           dynamodb_port=args.dynamodb_port, moto_port=args.moto_port,
                           tick_seconds=args.tick_seconds, api_key=args.api_key)
    if args.ready_file:
        args.ready_file.unlink(missing_ok=True)     # a stale file would say "ready" too early
    signal.signal(signal.SIGTERM, interrupt_once)
    signal.signal(signal.SIGINT, interrupt_once)
    stack = LocalStack(options)
    try:
        stack.start()
        print(banner(stack), flush=True)
        if args.ready_file:
            write_ready_file(args.ready_file, stack)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
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
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
