"""Events at volume (adapters/schema.py, domain/events.py, http.json_body, services/ingest.py): the
recorded event mutated field by field (wrong types, missing and extra keys, huge strings, bad dates,
phones and zones, nested junk) and arbitrary JSON are each accepted or refused with named fields, never
another exception; an accepted event is one the rest of koe can read."""

from __future__ import annotations

import copy
import json
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.adapters.schema import DEFAULT_CLOCK_SKEW, SCHEMA_PATH, event_errors, event_id_of, read_message
from chalicelib.domain.events import EVENTBRIDGE_DETAIL_TYPE, from_payload
from chalicelib.errors import InvalidEvent, InvalidRequest
from chalicelib.http import json_body
from chalicelib.services.ingest import IngestDeps, ingest
from tests.fakes.messaging import FakeIntakeQueue
from tests.fakes.stores import FakeEventLedger
from tests.fuzz.harness import fuzz
from tests.fuzz.text import NOISE

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "procedure-completed.json").read_text())
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029]")


def pattern(*path: str) -> str:
    node = SCHEMA
    for name in path:
        node = node[name]
    return str(node["pattern"])


# --- values: the right shape, nearly, and junk ---------------------------------------------------

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                         st.sampled_from([10**400, -(2**63), 2**53 + 1, 1e308, -0.0, float("inf"), float("nan")]))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
HUGE = st.tuples(st.sampled_from(["x", "漢", "😀", " ", "\n", "0"]), st.sampled_from([127, 128, 129, 255, 256, 257,
                                                                                     2048, 100_000])).map(
    lambda t: t[0] * t[1])
NOISY = st.tuples(st.text(max_size=8), st.sampled_from(NOISE), st.text(max_size=8)).map("".join)
JUNK = st.one_of(JSON, HUGE, NOISY, st.sampled_from(["", " ", "\n", "null", "{}", "[]", "NaN"]))


def near(regex: str, *valid: str) -> st.SearchStrategy[Any]:
    """A field's own shape (the schema's pattern, a trailing newline included: `$` allows one), its
    valid values, and the same with noise appended or prepended."""
    shaped = st.from_regex(regex).filter(lambda s: len(s) < 300)
    examples = st.sampled_from(valid) if valid else shaped
    noisy = st.one_of(st.tuples(examples, st.sampled_from(NOISE)).map(lambda t: t[0] + t[1]),
                      st.tuples(st.sampled_from(NOISE), examples).map(lambda t: t[0] + t[1]))
    return st.one_of(examples, examples, shaped, noisy)


def iso(at: datetime) -> str:
    return at.isoformat()


DATES = st.one_of(
    near(pattern("properties", "completed_at"), "2026-11-21T10:15:00+09:00", "2026-12-04T02:59:00Z"),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
                                            timezone(timedelta(hours=5, minutes=45))])).map(iso),
    st.datetimes().map(iso),                                                   # no offset
    st.sampled_from(["0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T10:00Z", "2026-13-01T00:00Z",
                     "2026-11-21T24:00Z", "2026-11-21T10:15:00+24:00", "2026-11-21 10:15:00+09:00", "2026-11-21",
                     "1764300000", "２０２６-11-21T10:15:00+09:00", "2026-11-21T10:15:00.1234567+09:00"]),
)
PHONES = near(pattern("properties", "customer", "properties", "phone"), "+15550100123", "+15550100199")
PHONES = st.one_of(PHONES, st.sampled_from(["+1 555-0100", "15550100123", "+0155501001", "＋１５５５０１００１２３",
                                            "+1555010012345678", "tel:+15550100123"]))
EMAILS = near(pattern("properties", "customer", "properties", "email"), "hanako@example.jp", "lee@example.com")
ZONES = st.one_of(st.sampled_from(sorted(zoneinfo.available_timezones())),
                  st.sampled_from(["America", "Etc", "Factory", "posixrules", "leapseconds", "zone1970.tab",
                                   "tzdata.zi", "../../etc/passwd", "/etc/localtime", "Asia//Tokyo", "UTC", "+09:00",
                                   "JST"]),
                  near(pattern("properties", "customer", "properties", "timezone"), "Asia/Tokyo"))
FIELDS: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("event_id",): near(pattern("properties", "event_id"), "claims-2026-000123-paid"),
    ("procedure",): near(pattern("properties", "procedure"), "claim_payment", "call_center"),
    ("completed_at",): DATES,
    ("customer", "id"): near(pattern("properties", "customer", "properties", "id"), "C-88123"),
    ("customer", "phone"): PHONES,
    ("customer", "email"): EMAILS,
    ("customer", "locale"): near(pattern("properties", "customer", "properties", "locale"), "ja-JP", "zh-Hant-TW"),
    ("customer", "timezone"): ZONES,
}
CONTEXT_KEYS = near(pattern("properties", "context", "propertyNames"), "branch", "agent_id", "claim_open")
CONTEXT_VALUES = near(pattern("properties", "context", "additionalProperties"), "tokyo-chuo", "false")


CHANGES = ("field", "junk", "remove", "add", "context", "crowd", "replace")


@st.composite
def near_valid_events(draw: st.DrawFn, changes: tuple[str, ...] = CHANGES) -> Any:
    """The recorded event with one to four changes: a field set to its near shape or to junk, a key
    removed or added (at the top, in customer, in context), a few context entries of their own shape
    or many of any, customer or context replaced."""
    event = copy.deepcopy(EVENT)
    for _ in range(draw(st.integers(1, 4))):
        change = draw(st.sampled_from(changes))
        if change in ("field", "junk"):
            path = draw(st.sampled_from(sorted(FIELDS)))
            value = draw(FIELDS[path] if change == "field" else JUNK)
            parent = event if len(path) == 1 else event.get(path[0])
            if isinstance(parent, dict):
                parent[path[-1]] = value
        elif change == "remove":
            where = draw(st.sampled_from([event, event.get("customer"), event.get("context")]))
            if isinstance(where, dict) and where:
                del where[draw(st.sampled_from(sorted(where)))]
        elif change == "add":
            where = draw(st.sampled_from([event, event.get("customer")]))
            if isinstance(where, dict):
                where[draw(st.text(max_size=12) | st.sampled_from(["detail", "customer_id", "Event_id", "phone"]))] = \
                    draw(JUNK)
        elif change in ("context", "crowd"):
            context = event.setdefault("context", {})
            entries = (st.dictionaries(CONTEXT_KEYS, CONTEXT_VALUES, min_size=1, max_size=3) if change == "context"
                       else st.dictionaries(CONTEXT_KEYS | st.text(max_size=8), CONTEXT_VALUES | JUNK, max_size=22))
            if isinstance(context, dict):
                context.update(draw(entries))
        else:
            event[draw(st.sampled_from(["customer", "context"]))] = draw(JUNK)
    return event


# Half of them changed only within each field's own shape, so that many are accepted: what an
# accepted event must be is checked on those.
EVENTS = st.one_of(near_valid_events(("field", "context")), near_valid_events(), JSON)


# --- what an accepted event must be ----------------------------------------------------------------

def strings_and_keys(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, child in value.items() for s in [key, *strings_and_keys(child)]]
    return []


def assert_readable(event: dict[str, Any]) -> None:
    """What dispatch relies on: the typed event, its time zone-aware date not in the future, a
    contact, nothing that could forge a line in a log or an alert, context keys in their own shape."""
    typed = from_payload(event)
    assert typed.completed_at.tzinfo is not None and typed.completed_at <= NOW + DEFAULT_CLOCK_SKEW
    assert typed.customer.phone or typed.customer.email
    assert not any(CONTROL.search(s) for s in strings_and_keys(event)), event
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key) for key in typed.context), typed.context
    assert all(len(value) <= 256 for value in typed.context.values())
    if typed.customer.timezone:
        zoneinfo.ZoneInfo(typed.customer.timezone)


def assert_named(errors: Any) -> None:
    assert isinstance(errors, list)
    for error in errors:
        assert set(error) == {"field", "problem"} and all(isinstance(v, str) and v for v in error.values()), error


@fuzz("events", share=0.06)
@given(EVENTS)
@example({**EVENT, "context": {"branch\n": "tokyo-chuo"}})       # found by fuzzing: the key's pattern ends in `$`
def test_any_event_is_accepted_and_readable_or_refused_with_every_bad_field_named(event):
    errors = event_errors(event, NOW)
    assert_named(errors)
    if not errors:
        assert_readable(event)
    # The intake queue's reading of the same event, bare or in EventBridge's envelope, agrees.
    for body in (json.dumps(event), json.dumps({"detail-type": EVENTBRIDGE_DETAIL_TYPE, "detail": event})):
        try:
            assert read_message(body, NOW) == event and not errors
        except InvalidEvent as refused:
            assert refused.errors == errors and errors


# Bodies of intake messages as the queue hands them over: any text, any JSON, envelopes of any
# detail-type, nesting deeper than the parser's recursion.
MESSAGES = st.one_of(
    st.text(),
    JSON.map(json.dumps),
    EVENTS.map(json.dumps),
    st.tuples(st.sampled_from([EVENTBRIDGE_DETAIL_TYPE, "Other"]) | JSON, EVENTS).map(
        lambda t: json.dumps({"detail-type": t[0], "detail": t[1], "source": "koe.example"})),
    st.tuples(st.sampled_from(["[", "{\"a\":", "[{\"detail\":"]), st.integers(1, 100_000)).map(lambda t: t[0] * t[1]),
)


@fuzz("events", share=0.02)
@given(MESSAGES)
@example('[{"detail":' * 2000)                        # found by fuzzing: deeper than json reads, a RecursionError
def test_any_intake_message_is_a_valid_event_or_invalid_event(body):
    try:
        event = read_message(body, NOW)
    except InvalidEvent as refused:
        assert_named(refused.errors)
        assert refused.errors
    else:
        assert event_errors(event, NOW) == []
        assert_readable(event)
    found = event_id_of(body)
    assert found is None or isinstance(found, str)


class Request:
    """The two things json_body reads of Chalice's request."""

    def __init__(self, content_type: str | None, raw_body: bytes):
        self.headers = {} if content_type is None else {"content-type": content_type}
        self.raw_body = raw_body


REQUEST_BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    EVENTS.map(lambda e: json.dumps(e, ensure_ascii=False).encode()),
    st.lists(EVENTS, max_size=4).map(lambda es: json.dumps({"events": es}).encode()),
    st.tuples(JSON, st.lists(EVENTS, max_size=3)).map(lambda t: json.dumps({"events": t[1], "x": t[0]}).encode()),
    st.tuples(st.sampled_from([b"[", b"{\"events\":[", b"{\"a\":"]), st.integers(1, 50_000)).map(lambda t: t[0] * t[1]),
    st.tuples(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]), st.binary(max_size=20)).map(b"".join),
)
CONTENT_TYPES = st.one_of(st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                           "text/plain", "application/x-www-form-urlencoded", None]),
                          st.text(max_size=20))


@fuzz("events", share=0.02)
@given(CONTENT_TYPES, REQUEST_BODIES)
def test_any_intake_request_is_answered_with_a_status_per_event_or_a_named_400(content_type, raw):
    try:
        body = json_body(Request(content_type, raw))
        answer = ingest(body, IngestDeps(FakeIntakeQueue(), lambda e: event_errors(e, NOW), FakeEventLedger(),
                                         lambda: NOW))
    except InvalidRequest as refused:
        assert str(refused)
        return
    assert answer.outcome in ("accepted", "conflict", "rejected")
    for result in answer.body["results"]:
        assert result["status"] in ("accepted", "rejected", "conflict", "duplicate_in_request")
        if result["status"] == "rejected":
            assert_named(result["errors"])


def test_the_event_the_mutations_start_from_is_valid():
    assert event_errors(EVENT, NOW) == []
