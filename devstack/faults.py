"""Faults on purpose, LOCAL ONLY: AWS answering part of koe's calls with throttling or a 5xx, so a
run shows what holds when AWS fails part of the time. Never imported by chalicelib/ or by anything
packaged for Lambda (tests/unit/test_layers.py keeps devstack/ out of it).

`KOE_LOCAL_FAULTS` names each fault and the share of calls it hits, e.g.

    dynamodb:throttle=0.1,dynamodb:500=0.02,sqs:500=0.05,sns:500=0.05,ses:throttle=0.05,comprehend:throttle=0.1

and `KOE_LOCAL_FAULTS_SEED` makes a run repeatable. A fault is raised as the SDK raises it after its
own retries (a `ClientError` with AWS's error code for that service), only for the calls a function
makes while it runs (devstack/iam.py's `acting_as`): Lambda's own polling of queues and streams is
AWS's, not koe's, and is left alone. The carrier's faults (Twilio 429 / 500, undelivered) are the
carrier's own (devstack/carrier.py, `--carrier-faults`).

Crashes: `crash:<point>=share` kills the invocation right after a call that changed something
succeeded, before koe's code hears of it: `crash:dynamodb` after a write to a table, `crash:sqs` after
a message was sent, `crash:sns` after a publish, `crash:ses` after an email was taken, `crash:twilio`
after the carrier took an SMS. The invocation ends with `Crash`, a BaseException no handler of koe's
catches (as nothing runs in a process that was killed); the runner then does what Lambda does when a
function dies: the queue's batch comes back after its visibility timeout, the stream's batch is
retried, the schedule's next tick runs; a crashed API function is answered 502 by the local API
Gateway (devstack/local_http.py), and the caller decides whether to send again.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack import iam

log = logging.getLogger(__name__)

ENV = "KOE_LOCAL_FAULTS"
SEED_ENV = "KOE_LOCAL_FAULTS_SEED"
# service (as the SDK names it) -> fault -> (AWS's error code, HTTP status)
ERRORS: Mapping[str, Mapping[str, tuple[str, int]]] = {
    "dynamodb": {"throttle": ("ProvisionedThroughputExceededException", 400), "500": ("InternalServerError", 500)},
    "sqs": {"throttle": ("ThrottlingException", 400), "500": ("InternalFailure", 500)},
    "sns": {"throttle": ("Throttling", 400), "500": ("InternalError", 500)},
    "ses": {"throttle": ("TooManyRequestsException", 429), "500": ("InternalFailure", 500),
            "reject": ("MessageRejected", 400)},
    "comprehend": {"throttle": ("ThrottlingException", 400), "500": ("InternalServerException", 500)},
}
SDK_NAME = {"ses": "sesv2"}       # the service name the SDK's client reports
# Where a crash may strike: right after one of these calls succeeded (what it changed stays changed).
WRITES: Mapping[str, frozenset[str]] = {
    "dynamodb": frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}),
    "sqs": frozenset({"SendMessage", "SendMessageBatch", "DeleteMessage"}),
    "sns": frozenset({"Publish"}),
    "ses": frozenset({"SendEmail"}),
}
CRASH_POINTS = (*WRITES, "twilio")
# What a conditional write answers when another invocation changed the item first: counted, never
# injected (an injected one would claim a change that did not happen, a state AWS never produces).
RACES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
CRASH = "crash"


class Crash(BaseException):
    """The function's process was killed here (KOE_LOCAL_FAULTS `crash:<point>`): a BaseException, so
    no `except Exception` of koe's sees it, as no code runs in a process that is gone."""

    def __init__(self, point: str, function: str | None):
        self.point, self.function = point, function
        super().__init__(f"{function or 'a function'} killed after a {point} call succeeded (injected by {ENV})")


class InvalidFaults(ValueError):
    """KOE_LOCAL_FAULTS is not `service:fault=share` pairs of known faults."""


@dataclass
class Faults:
    shares: Mapping[tuple[str, str], float]          # (service, fault) -> share of calls, 0..1
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    # Not injected: the races koe's conditional writes really lost (their condition was false when
    # they arrived), by AWS's error code, counted in the same calls.
    races: Counter[str] = field(default_factory=Counter)
    faulted: set[int] = field(default_factory=set)      # the invocations (devstack/iam.py) a fault hit
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> Faults:
        shares: dict[tuple[str, str], float] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, value = part.partition("=")
            service, _, fault = name.strip().lower().partition(":")
            known_fault = fault in ERRORS.get(service, {}) or (service == CRASH and fault in CRASH_POINTS)
            if not sep or not known_fault:
                known = ", ".join([f"{s}:{f}" for s, faults in ERRORS.items() for f in faults]
                                  + [f"{CRASH}:{point}" for point in CRASH_POINTS])
                raise InvalidFaults(f"{part!r}: a fault is service:fault=share, one of {known}")
            try:
                share = float(value)
            except ValueError as exc:
                raise InvalidFaults(f"{part!r}: the share is a number from 0 to 1") from exc
            if not 0 <= share <= 1:
                raise InvalidFaults(f"{part!r}: the share is a number from 0 to 1")
            shares[(service, fault)] = share
        return cls(shares, seed)

    def draw(self, sdk_service: str) -> tuple[str, int] | None:
        """The error to raise for one call of this service, or None (the call goes through)."""
        service = service_of(sdk_service)
        for (name, fault), share in self.shares.items():
            if name != service or share <= 0:
                continue
            if self._hit(name, fault, share):
                return ERRORS[name][fault]
        return None

    def crashes(self, point: str) -> bool:
        """Whether the invocation dies right after this successful call (`crash:<point>`)."""
        share = self.shares.get((CRASH, point), 0.0)
        return share > 0 and self._hit(CRASH, point, share)

    def count(self, met: Mapping[str, int], races: Mapping[str, int], invocation: int | None) -> None:
        """Faults drawn and races met elsewhere (a worker process), counted here against `invocation`."""
        with self._lock:
            self.injected.update(met)
            self.races.update(races)
            if met and invocation is not None:
                self.faulted.add(invocation)

    def lost_race(self, code: str) -> None:
        with self._lock:
            self.races[code] += 1

    def _hit(self, name: str, fault: str, share: float) -> bool:
        invocation = iam.invocation()
        with self._lock:
            hit = self._random.random() < share
            if hit:
                self.injected[f"{name}:{fault}"] += 1
                if invocation is not None:
                    self.faulted.add(invocation)
        return hit


def service_of(sdk_service: str) -> str:
    return next((s for s, sdk in SDK_NAME.items() if sdk == sdk_service), sdk_service)


def crash_after(point: str) -> None:
    """Raise Crash if a crash is drawn at `point` for the function running now (see the docstring)."""
    function = iam.acting()
    if _installed is not None and function is not None and _installed.crashes(point):
        raise Crash(point, function)


_installed: Faults | None = None


def install(faults: Faults) -> None:
    """Inject `faults` into every SDK call a function makes in this process (once)."""
    global _installed
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    if _installed is not None:
        _installed = faults
        return
    _installed = faults
    original = BaseClient._make_api_call     # type: ignore[attr-defined]

    def faulty(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if iam.acting() is None or _installed is None:
            return original(client, operation, params)
        service = service_of(client.meta.service_model.service_name)
        error = _installed.draw(service)
        if error is not None:
            code, status = error
            body: Any = {"Error": {"Code": code, "Message": f"injected by {ENV}"},
                         "ResponseMetadata": {"HTTPStatusCode": status}}
            raise ClientError(body, operation)
        try:
            answer = original(client, operation, params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in RACES:
                _installed.lost_race(code)
            raise
        if operation in WRITES.get(service, ()):
            crash_after(service)
        return answer

    BaseClient._make_api_call = faulty     # type: ignore[attr-defined]
    _install_twilio_crash()
    log.warning("faults injected on purpose (%s): %s", ENV,
                ", ".join(f"{s}:{f}={share:g}" for (s, f), share in faults.shares.items()))


def _install_twilio_crash() -> None:
    """`crash:twilio`: after the carrier answered 201 to a message koe's function sent."""
    from twilio.http.http_client import TwilioHttpClient

    original = TwilioHttpClient.request

    def request(self: TwilioHttpClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = original(self, method, url, *args, **kwargs)
        if method.upper() == "POST" and url.endswith("/Messages.json") and response.status_code == 201:
            crash_after("twilio")
        return response

    TwilioHttpClient.request = request


def injected() -> Mapping[str, int]:
    """How many calls each fault hit so far in this process."""
    return dict(_installed.injected) if _installed is not None else {}


def met() -> tuple[dict[str, int], dict[str, int]]:
    """(faults injected, races lost) so far in this process, by name."""
    if _installed is None:
        return {}, {}
    with _installed._lock:
        return dict(_installed.injected), dict(_installed.races)


def absorb(injected: Mapping[str, int], races: Mapping[str, int]) -> None:
    """Count what one invocation met in a worker process (devstack/workers.py) in this process's
    figures, against the invocation running in this context (numbered by devstack/iam.py)."""
    if _installed is not None and (injected or races):
        _installed.count(injected, races, iam.invocation())


def races() -> Mapping[str, int]:
    """Conditional writes that lost a race so far (every process of the stack), by AWS's code."""
    return dict(_installed.races) if _installed is not None else {}


def faulted_invocations() -> int:
    """How many function invocations met at least one fault or crash so far in this process."""
    return len(_installed.faulted) if _installed is not None else 0
