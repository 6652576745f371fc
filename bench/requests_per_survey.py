"""Requests per survey: every AWS and Twilio API request koe's code makes for one fully answered
survey (event -> sent -> delivered -> score -> why -> comment -> aggregated -> escalated when the
score is low), counted by service and operation on the real local stack. By default a two-question
SMS survey of a detractor; `--channel sms_link` (a Japanese number: a link SMS to the web survey) and
`--channel email` (a customer with an address only) answer on the web page instead, one form post
with the score and the comment; `--score 9` measures a promoter (no case, no alert).

Calls that AWS's own event source mappings make in production (the runner's ReceiveMessage,
DeleteMessage, GetRecords ...) are listed apart: Lambda makes them, not koe.

    .venv/bin/python bench/requests_per_survey.py [--channel sms_two_way|sms_link|email] [--score 3]
"""

from __future__ import annotations

import argparse
import html
import json
import re
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

from chalicelib.resources import TABLES  # noqa: E402
from devstack.stack import LocalStack, StackOptions  # noqa: E402

EVENT_SOURCE_OPERATIONS = {
    "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch", "GetQueueAttributes", "GetQueueUrl", "DescribeStream",
    "GetShardIterator", "GetRecords", "ListStreams", "DescribeTable",
}
PHONE = "+15550100171"
JAPANESE_PHONE = "+819012340171"          # a link SMS: Twilio has no two-way SMS in Japan
EMAIL = "bench-171@example.jp"
CHANNELS = ("sms_two_way", "sms_link", "email")
SURVEY_LINK = re.compile(r"https?://[^\s\"'<>?]+/s/[A-Za-z0-9_.-]+")

# The DynamoDB operations that can report the capacity they consumed (ReturnConsumedCapacity).
CAPACITY_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                       "BatchWriteItem", "TransactGetItems", "TransactWriteItems"}

counts: Counter[tuple[str, str]] = Counter()
polling: Counter[tuple[str, str]] = Counter()
# Read and write units DynamoDB Local reports for koe's requests (tables and indexes): what on-demand bills.
capacity: dict[str, float] = {"read": 0.0, "write": 0.0}
# The same units by kind and where they were spent: ("write", "surveys") for the table,
# ("write", "surveys/open-until") for one of its indexes (bench/capacity.py reads these). DynamoDB Local
# reports a TransactWriteItems as 2 units per table however many items of that table it writes (measured:
# 5 updates of one table, 2 units); AWS bills 2 write units per transactional item (of up to 1 KB), so a
# table's units in a transaction are counted as at least 2 per item it names (ConditionCheck included).
# An index's units in a transaction are as reported (whether an item is in a sparse index is not visible
# in the request).
Units = dict[tuple[str, str], float]
units_by_table: Units = {}
lock = threading.Lock()


def consumed(operation: str, answer: Any) -> float:
    """The capacity units a DynamoDB answer reports (a list for batches and transactions)."""
    found = answer.get("ConsumedCapacity") if isinstance(answer, dict) else None
    items = found if isinstance(found, list) else [found] if isinstance(found, dict) else []
    return sum(float(item.get("CapacityUnits", 0.0)) for item in items)


def logical_table(physical: str) -> str:
    """koe's name of a deployed table: the longest of resources.TABLES' names it ends with."""
    names = [t.name for t in TABLES if physical.endswith(t.name)]
    return max(names, key=len) if names else physical


def transaction_items(api_params: dict[str, Any]) -> Counter[str]:
    """How many items of each table a TransactWriteItems names (Put, Update, Delete, ConditionCheck)."""
    per_table: Counter[str] = Counter()
    for action in api_params.get("TransactItems", []):
        for request in action.values():
            per_table[logical_table(str(request.get("TableName", "?")))] += 1
    return per_table


def units_by_place(answer: Any, in_transaction: Counter[str] | None = None) -> list[tuple[str, float]]:
    """The units an answer reports per table and per index (ReturnConsumedCapacity=INDEXES), a table's
    raised to 2 per item a transaction names (AWS's rule; see units_by_table)."""
    found = answer.get("ConsumedCapacity") if isinstance(answer, dict) else None
    items = found if isinstance(found, list) else [found] if isinstance(found, dict) else []
    places: list[tuple[str, float]] = []
    for item in items:
        table = logical_table(str(item.get("TableName", "?")))
        reported = float(item.get("Table", {}).get("CapacityUnits", 0.0))
        places.append((table, max(reported, 2.0 * (in_transaction or Counter())[table])))
        for index, spent in (item.get("GlobalSecondaryIndexes") or {}).items():
            places.append((f"{table}/{index}", float(spent.get("CapacityUnits", 0.0))))
    return places


def install_counters() -> None:
    # _make_api_call is botocore's private hook every client operation goes through; botocore-stubs
    # declares only the public API.
    original_call = BaseClient._make_api_call  # type: ignore[attr-defined]
    original_request = TwilioHttpClient.request

    def counted_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        with lock:
            (polling if operation_name in EVENT_SOURCE_OPERATIONS else counts)[(service, operation_name)] += 1
        measured = service == "dynamodb" and operation_name in CAPACITY_OPERATIONS
        if measured:
            api_params = {**api_params, "ReturnConsumedCapacity": "INDEXES"}
        answer = original_call(self, operation_name, api_params)
        if measured:
            kind = "read" if operation_name in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems") \
                else "write"
            with lock:
                capacity[kind] += consumed(operation_name, answer)
                in_transaction = transaction_items(api_params) if operation_name == "TransactWriteItems" else None
                for place, spent in units_by_place(answer, in_transaction):
                    units_by_table[(kind, place)] = units_by_table.get((kind, place), 0.0) + spent
        return answer

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channel", choices=CHANNELS, default="sms_two_way",
                        help="how the customer is surveyed (default: two-way SMS)")
    parser.add_argument("--score", type=int, default=3, help="the score the customer gives (default 3: a detractor)")
    parser.add_argument("--comment", default="slow payout", help="the customer's answer to 'why?'")
    args = parser.parse_args(argv)
    # The requests are counted by hooking the SDK and Twilio's client in this process: the functions
    # run here, not in worker processes (their code and requests are the same either way).
    stack = LocalStack(StackOptions(api_port=0, carrier_port=0, dynamodb_port=0, moto_port=0, tick_seconds=3600,
                                    clock_start=CLOCK_START, workers=False))
    stack.start()
    try:
        install_counters()                      # after provisioning: only the survey is counted
        api, carrier = stack.api_url, stack.carrier.url
        key = stack.env["KOE_LOCAL_API_KEY"]
        event = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
        event["completed_at"] = stack.clock().isoformat(timespec="seconds")
        if args.channel == "sms_two_way":
            event["customer"].update(phone=PHONE, locale="en-US")
        elif args.channel == "sms_link":
            event["customer"].update(phone=JAPANESE_PHONE, locale="ja-JP")
        else:
            event["customer"].update(email=EMAIL, locale="ja-JP")
            event["customer"].pop("phone")
        stages: list[tuple[str, Counter[tuple[str, str]]]] = []
        units: list[Units] = []

        def stage(name: str) -> None:
            settle()
            stages.append((name, counts.copy()))
            units.append(units_by_table.copy())

        requests.post(f"{api}/v1/events", json=event, headers={"x-api-key": key}, timeout=10)
        stage("event -> sent" + (" -> delivered" if args.channel != "email" else ""))
        if args.channel == "email":
            texts = [m["body"] for m in requests.get(f"{carrier}/emails", params={"to": EMAIL}, timeout=10).json()]
        else:
            number = PHONE if args.channel == "sms_two_way" else JAPANESE_PHONE
            texts = [m["body"] for m in requests.get(f"{carrier}/messages", params={"to": number}, timeout=10).json()]
        if not texts:       # a deferred survey would measure something else: say so, do not print figures
            raise SystemExit(f"the survey was not sent at {stack.clock():%Y-%m-%d %H:%M} UTC (deferred?)")
        if args.channel == "sms_two_way":
            requests.post(f"{carrier}/reply", json={"from": PHONE, "body": str(args.score)}, timeout=10)
            stage("score (+ aggregate, escalate)")
            requests.post(f"{carrier}/reply", json={"from": PHONE, "body": args.comment}, timeout=10)
            stage("why -> comment (+ case comment)")
        else:
            links = SURVEY_LINK.findall(html.unescape(texts[0]))
            if not links:
                raise SystemExit(f"no web-survey link in the {args.channel} survey")
            requests.get(links[0], timeout=10).raise_for_status()
            stage("web survey page opened")
            requests.post(links[0], data={"score": str(args.score), "comment": args.comment},
                          timeout=10).raise_for_status()
            stage("score + comment (+ aggregate, escalate)")
    finally:
        stack.stop()
    report(stages, f"{args.channel}, score {args.score}")
    report_units(stages, units)
    print("reproduce: .venv/bin/python bench/requests_per_survey.py " + " ".join(sys.argv[1:]))


def report_units(stages: list[tuple[str, Counter[tuple[str, str]]]], units: list[Units]) -> None:
    """Capacity units per stage, by table and index: what each partition of each table is asked for."""
    print("DynamoDB capacity units by stage, table and index (write / read; a transaction's table units "
          "at 2 per item, as AWS bills them):")
    previous: Units = {}
    totals = {"write": 0.0, "read": 0.0}
    for (name, _), snapshot in zip(stages, units, strict=True):
        delta = {key: n - previous.get(key, 0.0) for key, n in snapshot.items() if n != previous.get(key, 0.0)}
        places = sorted({place for _, place in delta})
        spent = ", ".join(f"{place} {delta.get(('write', place), 0.0):g}/{delta.get(('read', place), 0.0):g}"
                          for place in places)
        print(f"  {name:34} {spent}")
        for (kind, _), n in delta.items():
            totals[kind] += n
        previous = snapshot
    print(f"  total (as AWS bills them): write {totals['write']:g}, read {totals['read']:g}")


def report(stages: list[tuple[str, Counter[tuple[str, str]]]], scenario: str) -> None:
    print(f"requests per fully answered survey ({scenario}; koe's own calls)")
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
    print(f"DynamoDB capacity units (as DynamoDB Local reports them, tables and indexes): "
          f"read {capacity['read']:g}, write {capacity['write']:g}")
    print("event-source polling (made by Lambda in AWS, by devstack's runner here): "
          + ", ".join(f"{s}.{o} {n}" for (s, o), n in sorted(polling.items())))


if __name__ == "__main__":
    main()
