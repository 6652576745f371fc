"""CX alerts to people, the pure part: the published message schema, who hears (routing, subscriber
filters with SNS semantics, one destination per address), the words in three languages, the chat
payload, the backoff, and reading KOE_ALERT_SUBSCRIBERS."""

from __future__ import annotations

import json
import tomllib
from urllib.parse import quote

import pytest

from chalicelib.adapters.alert_messages import read_alert
from chalicelib.adapters.alert_templates import TomlAlerts
from chalicelib.adapters.templates import TemplateError
from chalicelib.domain import alert_delivery, case_alerts, case_routing
from chalicelib.domain.alert_delivery import (
    CHAT,
    EMAIL,
    AlertContent,
    InvalidSubscribers,
    Subscriber,
    chat_payload,
    destination_key,
    destinations,
    parse_subscribers,
    retry_delay,
)
from chalicelib.domain.case_routing import ContactPoint
from chalicelib.errors import InvalidAlert
from chalicelib.settings import REPO_ROOT, SettingsError, from_env
from tests.fakes.alert_delivery import CX_CHAT, ROUTING_JSON, TOKYO_CHAT, an_alert, sns_envelope
from tests.unit.test_wiring import REQUIRED as REQUIRED_SETTINGS

REQUIRED = {**REQUIRED_SETTINGS, "KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "d",
            "KOE_FOLLOW_UP_QUEUE_URL": "f", "KOE_CX_TOPIC_ARN": "t"}

SCHEMA = REPO_ROOT / "chalicelib" / "schemas" / "case-alert.schema.json"
TEMPLATES = REPO_ROOT / "templates"
LANGUAGES = ("ja", "zh", "en")
ROUTING = case_routing.parse(ROUTING_JSON)
FORGED = "slow\nCase: someone-else\r\nScore: 10/10\u2028Owner: nobody\x1b[8m"


def subscriber(name: str = "cx-ops", *, email: str | None = None, chat: str | None = None,
               language: str = "en", timezone: str = "UTC", **filter: list[str]) -> Subscriber:
    return Subscriber(name, ContactPoint(email=email, chat=chat, language=language, timezone=timezone),
                      {k: frozenset(v) for k, v in filter.items()})


# --- the published schema ---------------------------------------------------------------------------

@pytest.mark.parametrize("event", case_alerts.EVENTS)
def test_every_alert_follows_its_published_versioned_schema(event: str) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for message in (an_alert(event), an_alert(event, to=("central", "branch:tokyo-chuo", "person:cx-lead")),
                    an_alert(event, to=(), comment=None, callback_consent=None, phone_masked=None,
                             context={}, reasons=())):
        assert list(Draft202012Validator(schema).iter_errors(message)) == []
        assert message["schema_version"] == schema["properties"]["schema_version"]["const"]
    assert set(schema["properties"]["event"]["enum"]) == set(case_alerts.EVENTS)
    assert set(schema["properties"]) == set(an_alert(event))


def test_the_reader_takes_the_sns_envelope_or_a_bare_alert() -> None:
    alert = an_alert("breach", to=("person:mgr-tokyo",))
    assert read_alert(sns_envelope(alert)) == alert
    assert read_alert(json.dumps(alert)) == alert


@pytest.mark.parametrize("body, problem", [
    ("{not json", "(message): not JSON"),
    (json.dumps({"Type": "Notification", "Message": "koe: score 3"}), "the SNS Message is not JSON"),
    (json.dumps([1, 2]), "(alert): must be a JSON object"),
    (json.dumps({**an_alert(), "event": "exploded"}), "event: enum"),
    (json.dumps({**an_alert(), "extra": 1}), "extra: not a field of the alert"),
    (json.dumps({k: v for k, v in an_alert().items() if k != "owner"}), "owner: required"),
    (json.dumps({**an_alert(), "first_contact_due": "tomorrow"}), "first_contact_due: not an ISO 8601"),
])
def test_what_is_not_a_readable_alert_is_invalid_and_says_where_never_what(body: str, problem: str) -> None:
    with pytest.raises(InvalidAlert) as caught:
        read_alert(body)
    assert problem in str(caught.value)
    assert "payout" not in str(caught.value)          # the comment (personal data) is never in a reason


# --- who hears ----------------------------------------------------------------------------------------

def test_the_recipients_resolve_through_the_routing_table_with_their_language_and_zone() -> None:
    plan = destinations(an_alert(to=("agent:A-102", "branch:tokyo-chuo")), ROUTING, ())
    assert [(d.kind, d.address, d.language, d.timezone, d.source) for d in plan.destinations] == [
        (EMAIL, "a-102@example.jp", "ja", "Asia/Tokyo", "agent:A-102"),
        (EMAIL, "tokyo-chuo@example.jp", "ja", "Asia/Tokyo", "branch:tokyo-chuo"),
        (CHAT, TOKYO_CHAT, "ja", "Asia/Tokyo", "branch:tokyo-chuo"),
    ]
    assert plan.unresolved == ()


def test_one_destination_per_address_the_first_to_name_it_decides_its_language() -> None:
    twin = subscriber("ops", email="A-102@Example.jp", chat=TOKYO_CHAT, language="en")
    plan = destinations(an_alert(to=("agent:A-102", "branch:tokyo-chuo")), ROUTING, (twin,))
    assert [d.source for d in plan.destinations] == ["agent:A-102", "branch:tokyo-chuo", "branch:tokyo-chuo"]
    assert [d.language for d in plan.destinations] == ["ja", "ja", "ja"]


def test_an_unresolvable_recipient_is_listed_and_central_hears_instead() -> None:
    plan = destinations(an_alert(to=("agent:A-999", "person:nobody")), ROUTING, ())
    assert plan.unresolved == ("agent:A-999", "person:nobody")
    assert {(d.kind, d.address) for d in plan.destinations} == {(EMAIL, "cx@example.jp"), (CHAT, CX_CHAT)}
    assert plan.destinations[0].source == "central (for agent:A-999)"


def test_without_a_reachable_central_an_unresolvable_recipient_reaches_no_one_but_is_listed() -> None:
    routing = case_routing.parse({"central": {"queue": "cx"}})
    plan = destinations(an_alert(to=("agent:A-102", "central")), routing, ())
    assert plan.destinations == () and plan.unresolved == ("agent:A-102", "central")


def test_a_destination_key_is_stable_and_names_no_address() -> None:
    key = destination_key(EMAIL, "A-102@example.jp")
    assert key == destination_key(EMAIL, " a-102@EXAMPLE.jp ") and key.startswith("email:")
    assert "example" not in key and "hooks" not in destination_key(CHAT, TOKYO_CHAT)
    # Webhook tokens are case-sensitive: two URLs that differ in case are two channels.
    assert destination_key(CHAT, TOKYO_CHAT) != destination_key(CHAT, TOKYO_CHAT.upper())
    assert alert_delivery.delivery_id("case-1:opened", key) == f"case-1:opened#{key}"


# --- subscriber filters: SNS filter-policy semantics ------------------------------------------------

@pytest.mark.parametrize("filters, wanted", [
    ({}, True),                                                        # no filter: everything
    ({"severity": ["high", "critical"]}, True),                        # any value within a key
    ({"severity": ["critical"]}, False),
    ({"severity": ["high"], "procedure": ["claim_payment"]}, True),    # all keys must match
    ({"severity": ["high"], "procedure": ["new_policy"]}, False),
    ({"event": ["breach", "lead"]}, False),
    ({"branch": ["tokyo-chuo", "osaka-01"], "event": ["opened"]}, True),
])
def test_a_subscriber_hears_what_its_filter_matches(filters: dict[str, list[str]], wanted: bool) -> None:
    plan = destinations(an_alert("opened", to=()), ROUTING, (subscriber(chat=CX_CHAT, **filters),))
    assert bool(plan.destinations) is wanted


def test_a_filter_on_an_attribute_the_alert_lacks_matches_nothing() -> None:
    no_branch = an_alert(to=(), context={"agent_id": "A-102"})       # SNS drops the empty attribute
    assert destinations(no_branch, ROUTING, (subscriber(chat=CX_CHAT, branch=["tokyo-chuo"]),)).destinations == ()


# --- the words, in three languages -----------------------------------------------------------------

@pytest.fixture(scope="module")
def templates() -> TomlAlerts:
    return TomlAlerts(TEMPLATES, "https://koe.example.jp/cases")


def test_every_language_has_every_event_and_the_same_tables() -> None:
    catalogs = {lang: tomllib.loads((TEMPLATES / "alerts" / f"{lang}.toml").read_text(encoding="utf-8"))
                for lang in LANGUAGES}
    for lang, catalog in catalogs.items():
        assert set(catalog["events"]) == set(case_alerts.EVENTS), lang
        assert all(set(words) == {"subject", "lead"} for words in catalog["events"].values()), lang
        for table in ("words", "severity", "status", "consent", "reasons", "owner", "procedures"):
            assert set(catalog[table]) == set(catalogs["en"][table]), (lang, table)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", case_alerts.EVENTS)
def test_every_event_renders_in_every_language(templates: TomlAlerts, language: str, event: str) -> None:
    content = templates.render(an_alert(event), language, "Asia/Tokyo")
    assert content.subject and "\n" not in content.subject and "{" not in content.subject
    assert "{" not in content.body and "}" not in content.body
    for value in ("claims-2026-000123-paid", "C-88123", "+1******0123", "A-102", "3/10", "tokyo-chuo",
                  "The payout took three weeks."):
        assert value in content.body, (language, event, value)


def test_the_body_shows_every_field_and_the_due_times_in_both_zones(templates: TomlAlerts) -> None:
    # First contact due 09:20 UTC: 18:20 in Tokyo (the reader), 04:20 in New York (the customer).
    body = templates.render(an_alert(), "en", "Asia/Tokyo").body
    lines = body.splitlines()
    assert lines[0] == "A customer gave a low score. Please contact them before the first-contact deadline."
    assert [line.split(":")[0] for line in lines[2:]] == [
        "Severity", "Procedure", "Branch", "Agent", "Score", "Opened because", "Comment", "Customer ID", "Phone",
        "Call back", "Owner", "Status", "First contact by", "Resolve by", "Event at", "Case", "Open the case"]
    assert ("First contact by: 2026-11-21 18:20 (Asia/Tokyo); customer's time 2026-11-21 04:20 "
            "(America/New_York)") in lines
    assert "Resolve by: 2026-11-25 10:20 (Asia/Tokyo); customer's time 2026-11-24 20:20 (America/New_York)" in lines
    assert "Severity: high" in lines and "Procedure: claim payment" in lines and "Owner: agent A-102" in lines
    assert "Opened because: low score, keyword in the comment" in lines
    assert "Call back: yes, the customer agreed to a call" in lines
    case_id = an_alert()["case_id"]
    assert lines[-1] == f"Open the case: https://koe.example.jp/cases/{quote(case_id, safe='')}?lang=en"


def test_japanese_and_chinese_read_naturally(templates: TomlAlerts) -> None:
    ja = templates.render(an_alert("first_contact_overdue"), "ja", "Asia/Tokyo")
    assert ja.subject == "【koe】初回連絡の期限を過ぎています：保険金のお支払い（tokyo-chuo）スコア3"
    assert ("初回連絡の期限：2026-11-21 18:20（Asia/Tokyo）／"
            "お客さまの現地時間 2026-11-21 04:20（America/New_York）") in ja.body.splitlines()
    assert "重要度：高" in ja.body and "折り返し電話：可（お客さまが電話連絡に同意）" in ja.body
    zh = templates.render(an_alert("breach"), "zh", "Asia/Shanghai")
    assert zh.subject == "【koe】已超过解决期限：理赔付款（tokyo-chuo）评分3"
    assert "解决期限：2026-11-25 09:20（Asia/Shanghai）／客户当地时间 2026-11-24 20:20（America/New_York）" in zh.body


@pytest.mark.parametrize("language, none_yet", [("en", "Comment: none yet"), ("ja", "コメント：まだありません"),
                                                ("zh", "客户意见：暂无")])
def test_a_missing_comment_says_none_yet(templates: TomlAlerts, language: str, none_yet: str) -> None:
    body = templates.render(an_alert(comment=None, callback_consent=None, phone_masked=None, context={}),
                            language, "UTC").body
    assert none_yet in body.splitlines()


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_customer_value_can_add_a_line(templates: TomlAlerts, language: str) -> None:
    plain = templates.render(an_alert(), language, "Asia/Tokyo")
    forged = templates.render(an_alert(comment=FORGED, customer_id="C-1\nPhone: +81 90", procedure="x\ny",
                                       context={"branch": "tokyo\nAgent: A-999", "agent_id": "A-102\r\n"}),
                              language, "Asia/Tokyo")
    assert len(forged.body.splitlines()) == len(plain.body.splitlines())
    assert "\\nCase: someone-else" in forged.body and "\x1b" not in forged.body and "\u2028" not in forged.body
    assert "\n" not in forged.subject and "\r" not in forged.subject and "tokyo\\nAgent: A-999" in forged.subject


def test_a_placeholder_in_a_customer_value_stays_text(templates: TomlAlerts) -> None:
    body = templates.render(an_alert(comment="{case_id} {0} {lead.__class__}"), "en", "UTC").body
    assert "Comment: {case_id} {0} {lead.__class__}" in body.splitlines()


def test_an_unknown_zone_or_language_is_said_plainly(templates: TomlAlerts) -> None:
    body = templates.render(an_alert(customer_timezone="Mars/Olympus"), "en", "Nowhere/City").body
    assert "First contact by: 2026-11-21 09:20 (UTC); customer's time 2026-11-21 09:20 (UTC)" in body
    with pytest.raises(TemplateError):
        templates.render(an_alert(), "fr", "UTC")


# --- chat and backoff ----------------------------------------------------------------------------------

def test_the_chat_payload_is_slack_text_that_cannot_ping_or_link() -> None:
    payload = chat_payload(AlertContent("[koe] New case <!channel>", "Comment: <!here> & <https://x.example|y>\n"))
    assert payload == {"text": "*[koe] New case &lt;!channel&gt;*\n"
                               "Comment: &lt;!here&gt; &amp; &lt;https://x.example|y&gt;\n"}


def test_the_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [retry_delay(n, 30, 900) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay(1, 2, 900) == 2 and retry_delay(10_000, 30, 100_000) == 12 * 3600


# --- KOE_ALERT_SUBSCRIBERS ------------------------------------------------------------------------------

def test_subscribers_are_read_with_their_filters() -> None:
    (ops,) = parse_subscribers([{"name": "cx-ops", "chat": CX_CHAT, "email": "ops@example.jp", "language": "ja",
                                 "timezone": "Asia/Tokyo", "filter": {"severity": ["high", "critical"]}}])
    assert ops == subscriber("cx-ops", chat=CX_CHAT, email="ops@example.jp", language="ja", timezone="Asia/Tokyo",
                             severity=["high", "critical"])
    assert parse_subscribers([]) == ()


@pytest.mark.parametrize("raw, problem", [
    ({"name": "x"}, "must be a JSON list"),
    (["x"], "[0] must be an object"),
    ([{"chat": CX_CHAT}], "[0].name is required"),
    ([{"name": "ops"}], "[0] (ops) needs an email or a chat webhook"),
    ([{"name": "ops", "email": "ops"}], "email must be an email address"),
    ([{"name": "ops", "chat": "ftp://x"}], "chat must be an http(s) URL"),
    ([{"name": "ops", "chat": CX_CHAT, "language": "fr"}], "language must be one of ja, zh, en"),
    ([{"name": "ops", "chat": CX_CHAT, "timezone": "Asia/Atlantis"}], "timezone must be an IANA time zone"),
    ([{"name": "ops", "chat": CX_CHAT, "filter": {"score": ["3"]}}], "filter has unknown keys: score"),
    ([{"name": "ops", "chat": CX_CHAT, "filter": {"severity": "high"}}], "severity must be a non-empty list"),
    ([{"name": "ops", "chat": CX_CHAT, "hook": 1}], "unknown keys: hook"),
    ([{"name": "ops", "chat": CX_CHAT}, {"name": "ops", "email": "o@example.jp"}], "names must be unique: ops"),
])
def test_a_bad_subscriber_is_refused_saying_which_and_why(raw: object, problem: str) -> None:
    with pytest.raises(InvalidSubscribers) as caught:
        parse_subscribers(raw)
    assert problem in str(caught.value)


def test_settings_read_the_subscribers_and_name_the_variable_when_wrong() -> None:
    raw = json.dumps([{"name": "cx-ops", "chat": CX_CHAT, "filter": {"event": ["breach", "lead"]}}])
    parsed = from_env({**REQUIRED, "KOE_ALERT_SUBSCRIBERS": raw, "KOE_ALERT_RETRY_SECONDS": "5"})
    assert [s.name for s in parsed.alert_subscribers] == ["cx-ops"] and parsed.alert_retry_seconds == 5
    for bad in ("[{", '[{"name": "ops"}]'):
        with pytest.raises(SettingsError, match="KOE_ALERT_SUBSCRIBERS"):
            from_env({**REQUIRED, "KOE_ALERT_SUBSCRIBERS": bad})
    with pytest.raises(SettingsError, match="KOE_CASE_ROUTING"):
        from_env({**REQUIRED, "KOE_CASE_ROUTING": '{"people": {"x": {"language": "fr"}}}'})


def test_the_routing_table_comes_from_the_settings() -> None:
    parsed = from_env({**REQUIRED, "KOE_CASE_ROUTING": json.dumps(ROUTING_JSON)})
    assert parsed.case_routing is parsed.cases.routing
    assert parsed.case_routing.contact_point("person:mgr-tokyo") == ContactPoint(
        email="mgr-tokyo@example.jp", language="ja", timezone="Asia/Tokyo")
