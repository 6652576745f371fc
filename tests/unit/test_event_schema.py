"""The published event schema: the sample passes; every bad field is named with its problem."""

import copy
import json
from pathlib import Path

import pytest

from chalicelib.adapters.schema import SCHEMA_PATH, event_errors, event_id_of, read_message
from chalicelib.domain.events import MAX_CONTEXT_VALUE_CHARS, MAX_EVENT_ID_CHARS, PROCEDURE, from_payload, unwrap
from chalicelib.errors import InvalidEvent

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

SAMPLE = json.loads((EVENTS_DIR / "procedure-completed.json").read_text())


def test_the_sample_event_is_valid_and_reads_as_an_event():
    assert event_errors(SAMPLE) == []
    event = from_payload(SAMPLE)
    assert (event.event_id, event.customer.phone, event.context["branch"]) == (
        "claims-2026-000123-paid", "+15550100123", "tokyo-chuo")
    assert event.completed_at.utcoffset().total_seconds() == 9 * 3600


def test_every_bad_field_is_listed():
    bad = {"event_id": "has space", "procedure": "Claim", "completed_at": "2026-11-21 10:00",
           "customer": {"id": "C-1", "phone": "090-1234"}, "context": {"branch": 3}, "extra": 1}
    fields = {e["field"] for e in event_errors(bad)}
    assert fields == {"event_id", "procedure", "completed_at", "customer.phone", "context.branch", "extra"}


def test_missing_fields_and_channels():
    errors = event_errors({"customer": {"id": "C-1"}})
    assert {(e["field"], e["problem"]) for e in errors} >= {
        ("event_id", "is required"), ("procedure", "is required"), ("completed_at", "is required"),
        ("customer", "needs a phone, an email or a LINE user id")}


def test_dates_and_time_zones_must_be_real():
    event = json.loads(json.dumps(SAMPLE))
    event["completed_at"] = "2026-02-30T10:00:00+09:00"
    event["customer"]["timezone"] = "Mars/Olympus"
    assert {e["field"] for e in event_errors(event)} == {"completed_at", "customer.timezone"}


def test_the_eventbridge_envelope_is_unwrapped():
    envelope = json.loads((EVENTS_DIR / "eventbridge-to-sqs.json").read_text())
    assert event_errors(unwrap(envelope)) == []


def test_the_schema_file_is_published_json():
    assert json.loads(SCHEMA_PATH.read_text())["title"] == "ProcedureCompleted"


CONTROL_CHARACTERS = ["\x00", "\r\n", "\n", "\x1b[31m", "\u2028", "\x85", "\x7f"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["event_id", "customer.id", "context.branch", "context.agent_id", "procedure"])
def test_control_characters_anywhere_are_refused_naming_the_field(field, control):
    event = copy.deepcopy(SAMPLE)
    *parents, name = field.split(".")
    target = event
    for parent in parents:
        target = target[parent]
    for value in (f"{target[name]}{control}", f"{control}{target[name]}", f"a{control}b"):
        target[name] = value
        assert field in {e["field"] for e in event_errors(event)}, repr(value)


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_a_context_key_with_a_control_character_is_refused(control):
    event = copy.deepcopy(SAMPLE)
    event["context"][f"branch{control}"] = "tokyo-chuo"       # "branch\n" passes the key's pattern ($)
    assert event_errors(event) != []


@pytest.mark.parametrize("body", ["[" * 100_000, '{"detail-type": "ProcedureCompleted", "detail": ' + "[" * 100_000])
def test_a_message_nested_deeper_than_json_reads_is_an_invalid_event_without_an_id(body):
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        read_message(body)
    assert event_id_of(body) is None


def test_text_in_any_script_is_not_a_control_character():
    event = copy.deepcopy(SAMPLE)
    event["customer"]["id"] = "山田 太郎"
    event["context"]["branch"] = "東京・中央支店"
    assert event_errors(event) == []


def test_the_limits_the_http_edge_checks_ids_by_are_the_schemas():
    schema = json.loads(SCHEMA_PATH.read_text())["properties"]
    assert schema["event_id"]["maxLength"] == MAX_EVENT_ID_CHARS
    assert schema["context"]["additionalProperties"]["maxLength"] == MAX_CONTEXT_VALUE_CHARS
    assert schema["procedure"]["pattern"] == f"^{PROCEDURE.pattern}$"


@pytest.mark.parametrize("kind", [{}, {"email": True}, {"line": True}])
def test_the_local_stacks_demo_events_are_valid(kind):
    # What `python -m devstack` prints to paste: SMS, email and LINE customers
    from datetime import UTC, datetime

    from devstack.__main__ import DEMO_LINE_USER, demo_event

    payload = json.loads(demo_event(datetime(2026, 11, 18, 3, tzinfo=UTC), **kind))
    assert event_errors(payload) == []
    if kind.get("line"):
        assert from_payload(payload).customer.line_user_id == DEMO_LINE_USER
