"""The accounting under faults: N events through the whole local stack while AWS and the carrier fail
part of the time on purpose and functions are killed between writes (devstack/faults.py, the
carrier's --carrier-faults), answered by simulated customers through the carrier, the web page and
the mailbox; then every event, answer, case, alert and opt-out is counted.

    .venv/bin/python bench/fault_run.py [--events 1000] [--aws-faults SPEC] [--carrier-faults SPEC] [--json F]

The events: mixed procedures; 60 % US customers (two-way SMS), 20 % Japanese (a link SMS, answered on
the web page), 20 % email only (answered on the page the email links to); 5 % posted twice, 2 %
malformed. The customers: 30 % detractors, 10 % passives, 55 % promoters (each with a "why"), 5 %
opt out (STOP by SMS, the one-click unsubscribe by email); a customer whose answer koe did not
acknowledge (an error page, no SMS back) sends it again, as people do. The operations system sends a
batch again when the API answers 503 (or 502: the API function crashed). Afterwards each customer
who opted out completes another procedure: koe must suppress that survey itself (opted_out), not
learn it from the carrier's refusal.

What must hold (the exit code is 1 otherwise): every accepted event ends in exactly one of sent,
failed with its reason, suppressed with its reason, or dead-lettered with its reason (none twice,
none lost, none left `sending` or `scheduled`); every malformed event refused with its reason; every
acknowledged answer stored; one case per detractor, its follow-up message and its alerts not doubled
and not lost; every opt-out kept. Invitations that reached one customer twice are counted and named
by their window (docs/reliability.md); they are bounded, not zero.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from local_burst import ALL_DAY, CLOCK_START, dead_lettered, queued  # noqa: E402

from devstack import faults, iam, log_scan  # noqa: E402
from devstack.carrier import API_FAULTS, CALLBACK_FAULTS  # noqa: E402
from devstack.provision import client  # noqa: E402
from devstack.stack import LocalStack, StackOptions  # noqa: E402

# About one function invocation in five meets a fault (the run prints the measured share).
AWS_FAULTS = ("dynamodb:throttle=0.05,dynamodb:500=0.01,sqs:500=0.03,sns:500=0.03,ses:throttle=0.03,ses:reject=0.01,"
              "comprehend:throttle=0.05,"
              "crash:dynamodb=0.004,crash:sqs=0.01,crash:sns=0.01,crash:ses=0.01,crash:twilio=0.01")
CARRIER_FAULTS = "429=0.03,500=0.02,taken500=0.02,timeout=0.005,chat500=0.03,30003=0.01,30008=0.01"
SEND_LEASE_S = 20                 # the run's send lease (AWS: 120 s); the schedule ticks every TICK_S
TICK_S = 5.0
SETTLED_S = 8.0                   # nothing moved for this long: the run is over
PROCEDURES = ("claim_payment", "new_policy", "address_change", "call_center")
AFTERWARDS = "policy_renewal"      # the procedure each opted-out customer completes afterwards
TRIES = 6                          # a customer sends an unacknowledged answer again up to this often
MALFORMED = (
    lambda e: e.update(completed_at="yesterday"),
    lambda e: e["customer"].update(phone="555-0100", email=None),
    lambda e: e.pop("procedure"),
    lambda e: e.update(procedure="Claim Payment!"),
)


@dataclass
class Customer:
    index: int
    event_id: str
    kind: str                      # sms, link, email
    address: str                   # phone or email
    plan: str                      # detractor, passive, promoter, opt_out
    score: int | None
    duplicate: bool = False
    acknowledged: bool = False     # koe acknowledged the score (or the opt-out)
    comment_acknowledged: bool = False
    tries: int = 0                 # answers sent (again) before an acknowledgement
    gave_up: bool = False
    answered_sid: str | None = None


@dataclass
class Accounting:
    events: int
    posted: int
    malformed: int
    malformed_refused: int
    duplicates: int
    accepted: int
    batches_posted_again: int
    end_states: Counter[str] = field(default_factory=Counter)
    both: list[str] = field(default_factory=list)
    copies_dead_lettered: list[str] = field(default_factory=list)   # a second copy failed, the first surveyed
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    reached_twice: list[str] = field(default_factory=list)
    answers_acknowledged: int = 0
    answers_lost: list[str] = field(default_factory=list)
    customers_gave_up: int = 0
    gave_up: list[str] = field(default_factory=list)     # who, and where their survey stood
    resent_answers: int = 0
    detractors: int = 0
    cases: int = 0
    cases_missing: list[str] = field(default_factory=list)
    follow_ups_doubled: list[str] = field(default_factory=list)
    follow_ups_missing: list[str] = field(default_factory=list)
    follow_up_copies: int = 0        # a message delivered again with its message_id (at least once)
    alerts: int = 0
    alerts_doubled: list[str] = field(default_factory=list)
    cases_without_alert: list[str] = field(default_factory=list)
    opt_outs: int = 0
    opt_outs_lost: list[str] = field(default_factory=list)
    opt_outs_caught_by_carrier: list[str] = field(default_factory=list)
    opt_outs_dead_lettered: list[str] = field(default_factory=list)   # nothing sent: ended with its reason
    dead_letters: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    races: dict[str, int] = field(default_factory=dict)     # conditional writes that lost a real race
    invocations: int = 0
    faulted_invocations: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    # Settles that ran out of time: the counts were then taken with work still under way (what was
    # busy is printed), so they say nothing; a run is only as good as its settling.
    unsettled: list[str] = field(default_factory=list)

    @property
    def must_be_zero(self) -> dict[str, int]:
        return {"not settled": len(self.unsettled), "lost": len(self.lost), "both": len(self.both),
                "stuck": len(self.stuck),
                "malformed accepted": self.malformed - self.malformed_refused,
                "answers lost": len(self.answers_lost), "cases missing": len(self.cases_missing),
                "follow-ups doubled": len(self.follow_ups_doubled),
                "follow-ups missing": len(self.follow_ups_missing), "opt-outs lost": len(self.opt_outs_lost)}

    @property
    def bounded(self) -> dict[str, int]:
        """The duplicate windows that remain, named in docs/reliability.md: counted, not zero."""
        return {"invitations that reached one customer twice": len(self.reached_twice),
                "alerts that reached one destination twice": len(self.alerts_doubled)}


# --- the events and the customers ------------------------------------------------------------------

def customers_and_events(n: int, run: str, now: str, seed: int) -> tuple[list[Customer], list[dict[str, Any]],
                                                                      list[dict[str, Any]]]:
    """n customers with their events; the malformed events (2 %); the list to post (duplicates in)."""
    rng = random.Random(seed)
    customers: list[Customer] = []
    events: list[dict[str, Any]] = []
    us = (f"+1555010{i:04d}" for i in range(10_000) if f"+1555010{i:04d}" not in {*API_FAULTS, *CALLBACK_FAULTS})
    for index in range(n):
        kind = rng.choices(("sms", "link", "email"), (60, 20, 20))[0]
        plan = rng.choices(("detractor", "passive", "promoter", "opt_out"), (30, 10, 55, 5))[0]
        if kind == "link" and plan == "opt_out":     # a one-way SMS takes no STOP: a promoter instead
            plan = "promoter"
        score = None          # read off the invitation: the procedure's scale (NPS 0-10, CSAT 1-5, CES 1-7)
        event_id = f"fault-{run}-{index:05d}"
        if kind == "sms":
            address, customer = next(us), {"locale": "en-US"}
            customer["phone"] = address
            context = {"branch": "new-york-01", "agent_id": "A-310"}
        elif kind == "link":
            address = f"+8190{index:08d}"
            customer = {"phone": address, "locale": "ja-JP", "timezone": "Asia/Tokyo"}
            context = {"branch": "tokyo-chuo", "agent_id": "A-102"}
        else:
            address = f"fault-{run}-{index:05d}@example.com"
            customer = {"email": address, "locale": "zh-CN"}
            context = {"branch": "shanghai-01", "agent_id": "A-210"}
        customers.append(Customer(index, event_id, kind, address, plan, score))
        events.append({"event_id": event_id, "procedure": rng.choice(PROCEDURES), "completed_at": now,
                       "customer": {"id": f"C-F{index:05d}", **customer}, "context": context})
    malformed = []
    for m in range(max(1, n * 2 // 100)):
        bad = json.loads(json.dumps(events[m % n]))
        bad["event_id"] = f"fault-{run}-bad-{m:04d}"
        MALFORMED[m % len(MALFORMED)](bad)
        malformed.append(bad)
    twice = rng.sample(range(n), max(1, n * 5 // 100))
    for i in twice:
        customers[i].duplicate = True
    posted = events + [json.loads(json.dumps(events[i])) for i in twice] + malformed
    rng.shuffle(posted)
    return customers, events, posted


@dataclass
class Posted:
    answers: dict[str, str]         # each event id's last answer (accepted, rejected, duplicate...)
    batches_again: int              # batches sent again
    # Events of a batch sent again whole, the API having given no answer (a 502: its function killed,
    # perhaps after it queued some of them): each may be on the intake queue twice, as a planned
    # duplicate is.
    maybe_twice: set[str] = field(default_factory=set)


def post_all(api: str, key: str, events: list[dict[str, Any]], threads: int = 4) -> Posted:
    """Post in batches of 100; what the API answers `retry` for (its queue or table failed for them)
    is sent again, and a batch it gives no answer for is sent again whole, as an operations system
    does."""
    batches = [events[i:i + 100] for i in range(0, len(events), 100)]
    answers: dict[str, str] = {}
    again = Counter[str]()
    maybe_twice: set[str] = set()
    lock = threading.Lock()

    def post(batch: list[dict[str, Any]]) -> None:
        session = requests.Session()
        for attempt in range(10):
            try:
                answer = session.post(f"{api}/v1/events", json={"events": batch}, timeout=60,
                                      headers={"x-api-key": key})
            except requests.RequestException:
                answer = None
            if answer is not None and answer.status_code in (202, 207, 503) and "results" in answer.json():
                results = answer.json()["results"]
                with lock:
                    for result in results:
                        event_id = str(result.get("event_id"))
                        if answers.get(event_id) != "accepted":
                            answers[event_id] = str(result["status"])
                # what the API asks to be sent again (its queue or table failed for them)
                batch = [batch[int(r["index"])] for r in results if r["status"] == "retry"]
                if not batch:
                    return
            else:
                with lock:
                    maybe_twice.update(str(e.get("event_id")) for e in batch)
            with lock:
                again["batches"] += 1
            time.sleep(0.5 * (attempt + 1))
        print("a batch was refused 10 times", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(post, batches))
    return Posted(answers, again["batches"], maybe_twice)


class Customers:
    """The simulated customers: each acts once on the first invitation that reached them."""

    def __init__(self, stack: LocalStack, customers: list[Customer]) -> None:
        assert stack.carrier is not None
        self.stack, self.carrier = stack, stack.carrier
        self.by_address = {c.address: c for c in customers}
        self.started: set[str] = set()
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.pending = 0
        self._lock = threading.Lock()
        self._emails_seen = 0
        self.errors: Counter[str] = Counter()

    def poll(self) -> int:
        """Start the customers whose invitation arrived; returns how many are still acting."""
        for message in self.carrier.log.select():
            if message["direction"] == "outbound-api" and message["status"] == "delivered":
                self._start(message["to"], message["body"])
        emails = self.carrier.emails(None, self._emails_seen)
        self._emails_seen += len(emails)
        for email in emails:
            for to in _recipients(email):
                self._start(to, email)
        with self._lock:
            return self.pending

    def _start(self, address: str, invitation: Any) -> None:
        customer = self.by_address.get(address)
        if customer is None or address in self.started:
            return
        self.started.add(address)
        with self._lock:
            self.pending += 1
        self.pool.submit(self._act, customer, invitation)

    def _act(self, customer: Customer, invitation: Any) -> None:
        try:
            if customer.kind == "sms":
                self._by_sms(customer, str(invitation))
            elif customer.kind == "link":
                [link] = re.findall(r"https?://\S+", str(invitation))
                offered = self._offered(customer, link)
                if not offered:
                    return
                customer.score = score_for(customer, min(offered), max(offered))
                self._on_the_page(customer, link)
            else:
                self._by_email(customer, invitation)
        except Exception as exc:  # noqa: BLE001 - counted and printed: the run goes on
            self.errors[f"{customer.kind}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
        finally:
            with self._lock:
                self.pending -= 1

    def _by_sms(self, customer: Customer, invitation: str) -> None:
        # "Reply 0-10", "Reply 1 (very dissatisfied) to 5 (very satisfied)"
        low, high = (int(n) for n in re.findall(r"Reply (\d+)(?:-| \([^)]*\) to )(\d+)", invitation)[0])
        customer.score = score_for(customer, low, high)
        first = "STOP" if customer.plan == "opt_out" else str(customer.score)
        customer.acknowledged = self._say(customer, first)
        if customer.acknowledged and customer.plan != "opt_out":
            customer.comment_acknowledged = self._say(customer, "the payout took too long" if customer.plan ==
                                                      "detractor" else "quick and clear")

    def _say(self, customer: Customer, text: str) -> bool:
        """Acknowledged: koe answered the text with a message (an empty TwiML, koe's answer to a text it
        could not match to a survey, leaves the customer with nothing: they send it again); a STOP is
        acknowledged by the carrier's own opt-out message."""
        for attempt in range(TRIES):
            customer.tries += 1
            outcome = requests.post(f"{self.carrier.url}/reply", json={"from": customer.address, "body": text},
                                    timeout=30).json()
            replies = outcome.get("replies")
            if outcome.get("app_status") == 200 and replies is not None and (replies or text == "STOP"):
                return True
            time.sleep(1.0 + attempt)
        customer.gave_up = True
        return False

    def _offered(self, customer: Customer, link: str) -> list[int]:
        """The scores the survey page offers (opened again when it answers with an error)."""
        for attempt in range(TRIES):
            page = requests.get(link, timeout=30)
            offered = [int(n) for n in re.findall(r'name="score" value="(\d+)"', page.text)]
            if page.status_code == 200 and offered:
                return offered
            time.sleep(1.0 + attempt)
        customer.gave_up = True
        return []

    def _on_the_page(self, customer: Customer, link: str) -> None:
        comment = "対応が遅かった" if customer.plan == "detractor" else "早かった"
        form = {"score": str(customer.score), "comment": comment}
        for attempt in range(TRIES):
            customer.tries += 1
            answer = requests.post(link.split("?")[0], data=form, timeout=30)
            if answer.status_code == 200:
                customer.acknowledged = customer.comment_acknowledged = True
                return
            time.sleep(1.0 + attempt)
        customer.gave_up = True

    def _by_email(self, customer: Customer, email: dict[str, Any]) -> None:
        if customer.plan == "opt_out":
            for attempt in range(TRIES):
                customer.tries += 1
                if self.carrier.one_click_unsubscribe(str(email["message_id"])).get("unsubscribe_status") == 200:
                    customer.acknowledged = True
                    return
                time.sleep(1.0 + attempt)
            customer.gave_up = True
            return
        links = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', str(email.get("html", "")))]
        offered = [int(n) for h in links for n in re.findall(r"\?score=(\d+)$", h)]
        customer.score = score_for(customer, min(offered), max(offered))
        [link] = [h for h in links if h.endswith(f"?score={customer.score}")]
        self._on_the_page(customer, link)


# At or below opens a case (domain/questions.DEFAULT_THRESHOLD), by the scale's highest score.
DETRACTOR_AT_MOST = {10: 6, 5: 2, 7: 3}


def score_for(customer: Customer, low: int, high: int) -> int | None:
    """The customer's score on the scale they were asked: a detractor at or below the threshold, a
    passive just above it, a promoter at the top."""
    worst = DETRACTOR_AT_MOST[high]
    rng = random.Random(customer.index)
    return {"detractor": rng.randint(low, worst), "passive": worst + 1, "promoter": high,
            "opt_out": None}[customer.plan]


def _recipients(email: dict[str, Any]) -> Iterable[str]:
    to = email.get("to")
    return to if isinstance(to, list) else [str(to)]


# --- the run ----------------------------------------------------------------------------------------

def run(n: int, aws_faults: str, carrier_faults: dict[str, float], seed: int, timeout_s: float,
        log: Path) -> Accounting:
    os.environ.setdefault("KOE_SEND_WINDOW", ALL_DAY)
    os.environ.setdefault("KOE_SKIP_HOLIDAYS", "false")
    os.environ["KOE_SEND_LEASE_S"] = str(SEND_LEASE_S)
    os.environ[faults.ENV] = aws_faults
    os.environ[faults.SEED_ENV] = str(seed)
    options = StackOptions(api_port=0, carrier_port=0, dynamodb_port=0, moto_port=0, tick_seconds=TICK_S,
                           clock_start=CLOCK_START, carrier_faults=carrier_faults)
    stack = LocalStack(options)
    with log_scan.log_to(log):
        stack.start()
        try:
            return _account(stack, n, seed, timeout_s)
        finally:
            stack.stop()


def _account(stack: LocalStack, n: int, seed: int, timeout_s: float) -> Accounting:
    assert stack.carrier is not None and stack.runner is not None
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:6]
    now = stack.clock().isoformat(timespec="seconds")
    customers, events, posted = customers_and_events(n, run_id, now, seed)
    api, key = stack.api_url, stack.env["KOE_LOCAL_API_KEY"]
    first = post_all(api, key, posted)
    answers, again = first.answers, first.batches_again
    people = Customers(stack, customers)
    ids = {e["event_id"] for e in events}
    unsettled = _settle(stack, people, ids, timeout_s)
    first_settled = time.monotonic() - started
    # Those who opted out complete another procedure: koe itself must not survey them.
    opted = [c for c in customers if c.plan == "opt_out" and c.acknowledged]
    later = [_afterwards(e, run_id) for e in events if e["event_id"] in {c.event_id for c in opted}]
    post_all(api, key, later)
    unsettled += _settle(stack, people, ids | {e["event_id"] for e in later}, timeout_s / 4)

    malformed = [e for e in posted if "-bad-" in e["event_id"]]
    a = Accounting(events=n, posted=len(posted), malformed=len(malformed),
                   malformed_refused=sum(1 for e in malformed if answers.get(e["event_id"]) == "rejected"),
                   duplicates=sum(c.duplicate for c in customers),
                   accepted=sum(1 for i in ids if answers.get(i) == "accepted"), batches_posted_again=again,
                   unsettled=unsettled)
    surveys = _items(stack, "surveys", "survey_id")
    letters = dead_lettered(stack, ids | {e["event_id"] for e in later})
    _end_states(a, ids, answers, surveys, letters, {c.event_id for c in customers if c.duplicate} | first.maybe_twice)
    _invitations(a, stack, customers)
    _answers(a, stack, customers, surveys)
    _cases_and_alerts(a, stack, customers, surveys)
    _opt_outs(a, opted, later, surveys | _items(stack, "surveys", "survey_id"), letters)
    a.dead_letters = {name: queued(client("sqs", stack.env["KOE_AWS_ENDPOINT"], stack.options.region), url)
                      for name, url in _dlq_urls(stack).items()}
    a.injected = {f"aws {k}": v for k, v in faults.injected().items()}
    a.injected.update({f"twilio {k}": v for k, v in stack.carrier.faults_injected.items()})
    a.races = dict(faults.races())
    a.invocations = sum(iam.invocations().values())
    a.faulted_invocations = faults.faulted_invocations()
    a.customers_gave_up = sum(c.gave_up for c in customers)
    a.gave_up = [_where(c, surveys) for c in customers if c.gave_up]
    a.resent_answers = sum(max(0, c.tries - (2 if c.kind == "sms" and c.plan != "opt_out" else 1)) for c in customers)
    if people.errors:
        print(f"customer errors: {dict(people.errors)}", file=sys.__stderr__)
    a.seconds = time.monotonic() - started
    a.phases = {"posted, answered and settled": round(first_settled, 1),
                "opted-out customers' next procedure settled": round(a.seconds - first_settled, 1)}
    return a


def _afterwards(event: dict[str, Any], run_id: str) -> dict[str, Any]:
    again: dict[str, Any] = json.loads(json.dumps(event))
    again["event_id"] = event["event_id"].replace(f"fault-{run_id}-", f"fault-{run_id}-later-")
    again["procedure"] = AFTERWARDS
    return again


def _settle(stack: LocalStack, people: Customers, ids: set[str], timeout_s: float) -> list[str]:
    """Until every queue a function consumes is empty, the responses stream is read to its end (its
    batches' retries done), no survey of the run is `sending` or
    `scheduled`, no callback is pending, every customer who got an invitation has acted, and that
    held SETTLED_S (the follow-up queue, read by the CX team's CRM, is not koe's to empty). Returns
    what was still busy when the time ran out (nothing: settled)."""
    assert stack.runner is not None and stack.carrier is not None
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    busy: list[str] = []
    while time.monotonic() < deadline:
        acting = people.poll()
        depths = stack.runner.leftovers(report=False)
        statuses = Counter(str(s.get("status")) for s in _items(stack, "surveys", "survey_id", ids).values())
        busy = [what for what, on in (
            (f"{acting} customers acting", acting), ("carrier callbacks pending", stack.carrier.callbacks_pending),
            (f"{statuses['sending']} surveys sending", statuses["sending"]),
            (f"{statuses['scheduled']} surveys scheduled", statuses["scheduled"]),
            *((f"queue {name}: {d.waiting} waiting, {d.in_flight} in flight", d.waiting or d.in_flight)
              for name, d in depths.items()),
            *((f"stream of {source.name} not caught up", not source.caught_up)
              for source in stack.runner.stream_sources)) if on]
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLED_S:
            return []
        time.sleep(2.0)
    print(f"not settled after {timeout_s:.0f} s: {busy}", file=sys.__stderr__)
    return busy or ["not quiet for SETTLED_S"]


def _items(stack: LocalStack, table: str, key: str, ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    dynamodb = client("dynamodb", stack.env["KOE_DYNAMODB_ENDPOINT"], stack.options.region)
    found: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.env["KOE_RESOURCE_PREFIX"] + table):
        for item in page["Items"]:
            value = {name: next(iter(v.values())) for name, v in item.items()}
            if ids is None or value[key] in ids:
                found[f"{value[key]}|{value.get('question', '')}" if table == "responses" else value[key]] = value
    return found


def _dlq_urls(stack: LocalStack) -> dict[str, str]:
    sqs = client("sqs", stack.env["KOE_AWS_ENDPOINT"], stack.options.region)
    prefix = stack.env["KOE_RESOURCE_PREFIX"]
    names = ("intake-dlq", "alert-deliveries-dlq", "follow-up-dlq", "responses-stream-dlq", "comment-insight-dlq")
    return {name: sqs.get_queue_url(QueueName=prefix + name)["QueueUrl"] for name in names}


def _end_states(a: Accounting, ids: set[str], answers: dict[str, str], surveys: dict[str, dict[str, Any]],
                letters: dict[str, str], posted_twice: set[str]) -> None:
    for event_id in sorted(ids):
        survey, letter = surveys.get(event_id), letters.get(event_id)
        if answers.get(event_id) != "accepted":
            a.end_states[f"not accepted: {answers.get(event_id)}"] += 1
            continue
        if survey is None and letter is None:
            a.lost.append(event_id)
            continue
        if survey is None:
            a.end_states["dead-lettered"] += 1
            continue
        status, reason = str(survey.get("status")), str(survey.get("reason") or "")
        if letter is not None and not reason.startswith("dead_lettered"):
            if event_id in posted_twice and status not in ("sending", "scheduled"):
                a.copies_dead_lettered.append(event_id)     # one copy failed, the other surveyed the event
            else:
                a.both.append(event_id)                     # a survey that went on, and a dead letter
        if status in ("sending", "scheduled"):
            a.stuck.append(event_id)
        a.end_states[f"{status}:{reason.split(':')[0]}" if status in ("failed", "suppressed") else status] += 1


def _invitations(a: Accounting, stack: LocalStack, customers: list[Customer]) -> None:
    """Invitations that reached one customer more than once (delivered SMS, or emails)."""
    assert stack.carrier is not None
    reached: Counter[str] = Counter()
    for message in stack.carrier.log.select():
        if message["direction"] == "outbound-api" and message["status"] == "delivered":
            reached[message["to"]] += 1
    for email in stack.carrier.emails(None):
        for to in _recipients(email):
            reached[to] += 1
    a.reached_twice = sorted(c.event_id for c in customers if reached[c.address] > 1)


def _answers(a: Accounting, stack: LocalStack, customers: list[Customer], surveys: dict[str, dict[str, Any]]) -> None:
    responses = _items(stack, "responses", "survey_id", {c.event_id for c in customers})
    for c in customers:
        if c.plan == "opt_out" or not c.acknowledged:
            continue
        a.answers_acknowledged += 1
        if f"{c.event_id}|score" not in responses:
            a.answers_lost.append(_where(c, surveys))


def _where(customer: Customer, surveys: dict[str, dict[str, Any]]) -> str:
    """A customer's event and where its survey stands (ids and codes: what tracing it starts from)."""
    survey = surveys.get(customer.event_id, {})
    return (f"{customer.event_id} ({customer.kind}, {customer.plan}; survey {survey.get('status')}, "
            f"{survey.get('reason') or 'no reason'}, step {survey.get('step')})")


def _cases_and_alerts(a: Accounting, stack: LocalStack, customers: list[Customer],
                      surveys: dict[str, dict[str, Any]]) -> None:
    assert stack.carrier is not None
    detractors = {c.event_id for c in customers if c.plan == "detractor" and c.acknowledged}
    cases = _items(stack, "cases", "case_id", {c.event_id for c in customers})
    a.detractors, a.cases = len(detractors), len(cases)
    a.cases_missing = sorted(detractors - set(cases))
    follow_ups: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)   # (case, event) -> message ids
    sqs = client("sqs", stack.env["KOE_AWS_ENDPOINT"], stack.options.region)
    url = stack.env["KOE_FOLLOW_UP_QUEUE_URL"]
    for _ in range(queued(sqs, url) // 10 + 3):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           VisibilityTimeout=60).get("Messages", []):
            body = json.loads(message["Body"])
            body = json.loads(body["Message"]) if "Message" in body else body
            follow_ups[(str(body.get("case_id")), str(body.get("event")))][str(body.get("message_id"))] += 1
    # Doubled: one piece of news under two message ids (copies of one message id the CRM takes once).
    a.follow_ups_doubled = sorted(f"{case}:{kind}" for (case, kind), ids in follow_ups.items()
                                  if kind == "opened" and len(ids) > 1 and case in cases)
    a.follow_up_copies = sum(n - 1 for ids in follow_ups.values() for n in ids.values())
    a.follow_ups_missing = sorted(case for case in cases if not any(c == case for c, _ in follow_ups))
    alerts = Counter[tuple[str, str, str]]()
    for chat in stack.carrier.chat_messages():
        text = str(chat["payload"].get("text", ""))
        for case in cases:
            if case in text:
                alerts[(chat["channel"], case, text.splitlines()[0] if text else "")] += 1
    for email in stack.carrier.emails(None):
        body = str(email.get("body", ""))
        for case in cases:
            if case in body:
                for to in _recipients(email):
                    alerts[(to, case, str(email.get("subject", "")))] += 1
    a.alerts = sum(alerts.values())
    a.alerts_doubled = sorted(f"{to} {case}" for (to, case, _), count in alerts.items() if count > 1)
    alerted = {case for _, case, _ in alerts}
    a.cases_without_alert = sorted(set(cases) - alerted)


def _opt_outs(a: Accounting, opted: list[Customer], later: list[dict[str, Any]],
              surveys: dict[str, dict[str, Any]], letters: dict[str, str]) -> None:
    """An opt-out holds when the customer's next procedure is suppressed for it, or ends as a dead
    letter with its reason before any survey was recorded (nothing could have been sent); it is lost
    when anything else happened."""
    a.opt_outs = len(opted)
    for event in later:
        survey = surveys.get(event["event_id"])
        reason = str((survey or {}).get("reason") or "")
        if survey is not None and survey.get("status") == "suppressed" and reason == "opted_out":
            continue
        if survey is None and letters.get(event["event_id"]):
            a.opt_outs_dead_lettered.append(event["event_id"])
            continue
        if survey is not None and reason.startswith("opted_out_at_carrier"):
            a.opt_outs_caught_by_carrier.append(event["event_id"])
        a.opt_outs_lost.append(event["event_id"])


# --- the report ----------------------------------------------------------------------------------

def report(a: Accounting, command: str) -> int:
    print(f"fault run: {a.events} events ({a.posted} posted: {a.duplicates} twice, {a.malformed} malformed), "
          f"settled in {a.seconds:.0f} s {a.phases}")
    share = a.faulted_invocations / a.invocations if a.invocations else 0.0
    print(f"  faults: {sum(a.injected.values())} injected, in {a.faulted_invocations} of {a.invocations} "
          f"function invocations ({share:.0%}): {dict(sorted(a.injected.items()))}")
    print("  races (not injected: conditional writes another invocation got to first): "
          f"{dict(sorted(a.races.items()))}")
    print(f"  the API: {a.accepted} accepted, {a.malformed_refused} of {a.malformed} malformed refused with "
          f"their reasons, {a.batches_posted_again} batches sent again after a 503 or 502")
    print("  end states of the accepted events:")
    for state, count in sorted(a.end_states.items(), key=lambda kv: -kv[1]):
        print(f"    {state:40} {count:6d}")
    print(f"  answers: {a.answers_acknowledged} acknowledged, {len(a.answers_lost)} lost; {a.resent_answers} "
          f"sent again by customers after no acknowledgement, {a.customers_gave_up} customers gave up")
    print(f"  cases: {a.cases} for {a.detractors} acknowledged detractors; missing {len(a.cases_missing)}; "
          f"follow-ups doubled {len(a.follow_ups_doubled)}, missing {len(a.follow_ups_missing)}, "
          f"copies of one message_id {a.follow_up_copies}")
    print(f"  alerts: {a.alerts} delivered, doubled {len(a.alerts_doubled)}, cases with none "
          f"{len(a.cases_without_alert)}")
    print(f"  opt-outs: {a.opt_outs} acknowledged, lost {len(a.opt_outs_lost)} "
          f"(of which the carrier's own list caught {len(a.opt_outs_caught_by_carrier)}); the next procedure "
          f"dead-lettered with its reason before any survey, nothing sent: {len(a.opt_outs_dead_lettered)}")
    print(f"  invitations that reached one customer twice: {len(a.reached_twice)} of {a.events} "
          f"(a resend after an undelivered one is not counted: the first never arrived)")
    print(f"  events posted twice (5 % on purpose, and batches sent again after a 502) whose one copy was "
          f"dead-lettered while the other surveyed the event: "
          f"{len(a.copies_dead_lettered)} (a redrive answers duplicate_event)")
    print(f"  bounded windows (docs/reliability.md): {a.bounded}")
    print(f"  dead-letter queues: {a.dead_letters}")
    failing = {k: v for k, v in a.must_be_zero.items() if v}
    print(f"  must be 0: {a.must_be_zero} -> {'FAILED: ' + str(failing) if failing else 'all 0'}")
    for name in ("lost", "both", "stuck", "answers_lost", "cases_missing", "follow_ups_doubled", "alerts_doubled",
                 "opt_outs_lost", "reached_twice", "copies_dead_lettered", "gave_up", "unsettled"):
        if getattr(a, name):
            print(f"    {name}: {getattr(a, name)[:10]}")
    print(f"reproduce: {command}")
    return 1 if failing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--aws-faults", default=AWS_FAULTS)
    parser.add_argument("--carrier-faults", default=CARRIER_FAULTS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds the run may take to settle (default: 600 + 0.25 a event; 10,000: 3,100)")
    parser.add_argument("--log", type=Path, default=Path("/tmp/koe-fault-run.log"))
    parser.add_argument("--json", type=Path, help="also write the accounting here")
    args = parser.parse_args(argv)
    shares = {k: float(v) for k, _, v in (p.partition("=") for p in args.carrier_faults.split(",") if p)}
    timeout = args.timeout if args.timeout is not None else 600 + 0.25 * args.events
    accounting = run(args.events, args.aws_faults, shares, args.seed, timeout, args.log)
    findings = log_scan.scan([args.log])
    print(f"logs: {args.log} ({len(findings)} findings of personal data, tokens or secrets)")
    command = (f".venv/bin/python bench/fault_run.py --events {args.events} --seed {args.seed} "
               f"--aws-faults '{args.aws_faults}' --carrier-faults '{args.carrier_faults}'")
    failed = report(accounting, command)
    if args.json:
        plain = {f.name: dict(v) if isinstance(v := getattr(accounting, f.name), dict) else v
                 for f in fields(accounting)}
        args.json.write_text(json.dumps({**plain, "must_be_zero": accounting.must_be_zero,
                                         "bounded": accounting.bounded,
                                         "log_findings": len(findings)}, indent=1))
    return failed or (1 if findings else 0)


if __name__ == "__main__":
    sys.exit(main())
