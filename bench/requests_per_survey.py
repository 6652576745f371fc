"""Requests per survey: every AWS and Twilio API request koe's code makes for one fully answered
two-question SMS survey of a detractor (event -> sent -> delivered -> score -> why -> comment ->
aggregated -> escalated), counted by service and operation on the real local stack.

Calls that AWS's own event source mappings make in production (the runner's ReceiveMessage,
DeleteMessage, GetRecords ...) are listed apart: Lambda makes them, not koe.

    .venv/bin/python bench/requests_per_survey.py
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from botocore.client import BaseClient
from twilio.http.http_client import TwilioHttpClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.stack import LocalStack, StackOptions  # noqa: E402

EVENT_SOURCE_OPERATIONS = {
    "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch", "GetQueueAttributes", "GetQueueUrl", "DescribeStream",
    "GetShardIterator", "GetRecords", "ListStreams", "DescribeTable",
}
PHONE = "+15550100171"

counts: Counter[tuple[str, str]] = Counter()
polling: Counter[tuple[str, str]] = Counter()
lock = threading.Lock()


def install_counters() -> None:
    # _make_api_call is botocore's private hook every client operation goes through; botocore-stubs
    # declares only the public API.
    original_call = BaseClient._make_api_call  # type: ignore[attr-defined]
    original_request = TwilioHttpClient.request

    def counted_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        with lock:
            (polling if operation_name in EVENT_SOURCE_OPERATIONS else counts)[(service, operation_name)] += 1
        return original_call(self, operation_name, api_params)

    def counted_request(self: TwilioHttpClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            counts[("twilio", f"{method} {url.rsplit('/', 1)[-1]}")] += 1
        return original_request(self, method, url, *args, **kwargs)

    BaseClient._make_api_call = counted_call  # type: ignore[attr-defined]  # private, see above
    TwilioHttpClient.request = counted_request


def settle(seconds: float = 2.0) -> None:
    """Wait until no request has been counted for `seconds` (queues, callbacks and the stream drained)."""
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < seconds:
        total = sum(counts.values())
        if total != last:
            last, quiet_since = total, time.monotonic()
        time.sleep(0.1)


# The stack's clock starts here, whatever today's date and hour (`--clock-start`): a Wednesday at
# 12:00 in Tokyo (the sample customer's zone), inside the send window, so the survey measured is sent
# at once, never deferred to the next morning.
CLOCK_START = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)


def main() -> None:
    stack = LocalStack(StackOptions(api_port=0, carrier_port=0, dynamodb_port=0, moto_port=0, tick_seconds=3600,
                                    clock_start=CLOCK_START))
    stack.start()
    try:
        install_counters()                      # after provisioning: only the survey is counted
        api, carrier = stack.api_url, stack.carrier.url
        key = stack.env["KOE_LOCAL_API_KEY"]
        event = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
        event["completed_at"] = stack.clock().isoformat(timespec="seconds")
        event["customer"].update(phone=PHONE, locale="en-US")
        stages: list[tuple[str, Counter[tuple[str, str]]]] = []

        def stage(name: str) -> None:
            settle()
            stages.append((name, counts.copy()))

        requests.post(f"{api}/v1/events", json=event, headers={"x-api-key": key}, timeout=10)
        stage("event -> sent -> delivered")
        texts = requests.get(f"{carrier}/messages", params={"to": PHONE}, timeout=10).json()
        if not texts:       # a deferred survey would measure something else: say so, do not print figures
            raise SystemExit(f"the survey was not sent at {stack.clock():%Y-%m-%d %H:%M} UTC (deferred?)")
        requests.post(f"{carrier}/reply", json={"from": PHONE, "body": "3"}, timeout=10)
        stage("score (+ aggregate, escalate)")
        requests.post(f"{carrier}/reply", json={"from": PHONE, "body": "slow payout"}, timeout=10)
        stage("why -> comment (+ case comment)")
    finally:
        stack.stop()
    report(stages)


def report(stages: list[tuple[str, Counter[tuple[str, str]]]]) -> None:
    print("requests per fully answered detractor SMS survey (koe's own calls)")
    previous: Counter[tuple[str, str]] = Counter()
    for name, snapshot in stages:
        delta = snapshot - previous
        by_service: Counter[str] = Counter()
        for (service, _), n in delta.items():
            by_service[service] += n
        print(f"  {name:34} " + ", ".join(f"{s} {n}" for s, n in sorted(by_service.items())))
        previous = snapshot
    final = stages[-1][1]
    print("by operation:")
    for (service, operation), n in sorted(final.items()):
        print(f"  {service:10} {operation:28} {n}")
    totals: Counter[str] = Counter()
    for (service, _), n in final.items():
        totals[service] += n
    print("total: " + ", ".join(f"{s} {n}" for s, n in sorted(totals.items())))
    print(f"DynamoDB requests: {totals['dynamodb']} (target <= 20)")
    print("event-source polling (made by Lambda in AWS, by devstack's runner here): "
          + ", ".join(f"{s}.{o} {n}" for (s, o), n in sorted(polling.items())))
    print("reproduce: .venv/bin/python bench/requests_per_survey.py")


if __name__ == "__main__":
    main()
