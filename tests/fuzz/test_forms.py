"""Form posts and query strings at volume: Twilio's webhooks (http.form_params, require, twilio_ids,
the signature check), the web survey's form (domain/web_survey.read_form) and the case workspace's
form and inbox filters (domain/case_workspace.read_form, parse_inbox). Any bytes are fields or the
named error; what is read is what was sent, never half-read."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, unquote_to_bytes, urlencode

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from chalicelib.adapters.twilio_sms import SignatureCheck
from chalicelib.domain import sms
from chalicelib.domain import web_survey as web
from chalicelib.domain.case_workspace import (
    INBOX_PARAMETERS,
    MAX_READ,
    PAGE_SIZE,
    STATUS_TABS,
    InboxQuery,
    InvalidInbox,
    parse_inbox,
    read_form,
)
from chalicelib.domain.questions import Scale, in_scale
from chalicelib.errors import InvalidRequest, InvalidSignature
from chalicelib.http import form_params, require, twilio_ids
from chalicelib.services.case_workspace import FORM_FIELDS, MAX_FIELD_CHARS, MAX_FORM_BYTES
from tests.fuzz.harness import fuzz
from tests.fuzz.text import NOISE

EVENTS = Path(__file__).resolve().parents[1] / "events"


def recorded(name: str) -> list[tuple[str, str]]:
    lines = (EVENTS / name).read_text().splitlines()
    return [(name, value) for name, _, value in (line.partition("=") for line in lines if line)]


INBOUND, STATUS = recorded("twilio-inbound-sms.txt"), recorded("twilio-status-callback.txt")
VALUES = st.one_of(st.text(max_size=30), st.sampled_from(NOISE), st.sampled_from(["", "+", "%", "%2", "%zz", "%E3%81",
                                                                                    "%FF", "=", "&", "SM" + "0" * 32]),
                   st.tuples(st.sampled_from(["x", "%41", "é", "😀"]), st.integers(1, 5000)).map(lambda t: t[0] * t[1]))


@st.composite
def mutated(draw: st.DrawFn, fields: list[tuple[str, str]]) -> bytes:
    """A recorded form with up to four changes (a value replaced, a field dropped or sent twice, a
    field added), encoded as a browser or Twilio would, or not encoded at all, perhaps cut short or
    with raw bytes spliced in."""
    fields = list(fields)
    for _ in range(draw(st.integers(0, 4))):
        change = draw(st.sampled_from(["value", "drop", "twice", "add"]))
        at = draw(st.integers(0, max(len(fields) - 1, 0)))
        if change == "value" and fields:
            fields[at] = (fields[at][0], draw(VALUES))
        elif change == "drop" and fields:
            del fields[at]
        elif change == "twice" and fields:
            fields.append((fields[at][0], draw(VALUES)))
        else:
            fields.insert(at, (draw(st.text(max_size=12) | VALUES), draw(VALUES)))
    encoding = draw(st.sampled_from(["plus", "percent", "raw"]))
    if encoding == "raw":
        body = "&".join(f"{name}={value}" for name, value in fields).encode()
    else:
        body = urlencode(fields, quote_via=quote if encoding == "percent" else quote_plus).encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=6)) + body[cut:]
    return body


def bodies(fields: list[tuple[str, str]]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), mutated(fields), mutated(fields), st.text().map(str.encode))


URL = "https://koe.example.com/api/v1/twilio/inbound"
TOKEN = "0123456789abcdef0123456789abcdef"
SIGNATURES = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["", "=", "A" * 28]),
                       st.binary(min_size=20, max_size=20).map(lambda b: base64.b64encode(b).decode()))


@fuzz("forms", share=0.05)
@given(bodies(INBOUND), SIGNATURES)
def test_any_inbound_sms_post_is_an_sms_or_a_named_400_and_a_forged_one_is_refused(raw, signature):
    try:
        params = form_params(raw)
    except InvalidRequest:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    check = SignatureCheck(lambda fresh: [TOKEN])
    try:
        check.verify(URL, params, signature)
        raise AssertionError("a signature nobody computed was accepted")
    except InvalidSignature:
        pass
    check.verify(URL, params, RequestValidator(TOKEN).compute_signature(URL, params))   # Twilio's own
    try:
        require(params, "MessageSid", "From")
        twilio_ids(params)
    except InvalidRequest as refused:
        assert str(refused)
        return
    assert sms.is_message_sid(params["MessageSid"]) and params["From"]
    kept, cut = sms.kept_reply(params.get("Body", ""))
    assert len(kept) <= sms.MAX_REPLY_CHARS and cut == (len(params.get("Body", "")) > sms.MAX_REPLY_CHARS)


@fuzz("forms", share=0.03)
@given(bodies(STATUS), st.one_of(st.text(max_size=200), st.sampled_from(["claims-2026-000123-paid", "x" * 129])))
def test_any_status_callback_is_a_status_or_a_named_400(raw, survey):
    try:
        params = form_params(raw)
        fields = {**params, "survey": survey,
                  "MessageStatus": params.get("MessageStatus") or params.get("SmsStatus", "")}
        require(fields, "survey", "MessageSid", "MessageStatus")
        twilio_ids(fields)
    except InvalidRequest as refused:
        assert str(refused)
        return
    assert sms.is_message_sid(fields["MessageSid"]) and 0 < len(fields["survey"]) <= 128 and fields["MessageStatus"]


WEB_FORM = [("score", "9"), ("comment", "早い対応でした")]


@fuzz("forms", share=0.04)
@given(st.one_of(bodies(WEB_FORM), st.text()), st.sampled_from(list(Scale)))
def test_any_web_survey_post_is_its_fields_or_unreadable_never_half_read(raw, scale):
    try:
        form = web.read_form(raw)
    except web.UnreadableForm as refused:
        assert str(refused)
        return
    assert set(form) <= set(web.FORM_FIELDS) and all(isinstance(v, str) for v in form.values())
    # Never a U+FFFD the customer did not send: bytes that are not UTF-8 are refused, not replaced.
    sent = raw if isinstance(raw, bytes) else raw.encode()
    if "\ufffd".encode() not in unquote_to_bytes(sent.replace(b"+", b" ")):
        assert not any("\ufffd" in value for value in form.values())
    score = web.read_score(form.get("score"), scale)
    assert score is None or in_scale(scale, score)
    assert web.read_comment(form.get("comment")) == web.read_comment(form.get("comment")).strip()


CASE_FORM = [("csrf", "k1.abc"), ("version", "3"), ("seen", "2"), ("lang", "ja"), ("note", "折り返し電話済み")]


@fuzz("forms", share=0.04)
@given(st.one_of(bodies(CASE_FORM), st.tuples(st.sampled_from(["note=", "x="]), st.integers(3990, 17_000)).map(
    lambda t: (t[0] + "a" * t[1]).encode())))
def test_any_case_form_post_is_its_fields_or_a_named_refusal(raw):
    try:
        form = read_form(raw, FORM_FIELDS, max_bytes=MAX_FORM_BYTES, max_chars=MAX_FIELD_CHARS)
    except ValueError as refused:
        assert str(refused)
        return
    assert len(raw) <= MAX_FORM_BYTES
    assert set(form) <= FORM_FIELDS and all(len(value) <= MAX_FIELD_CHARS for value in form.values())


INBOX_VALUES = {
    "status": st.sampled_from([*STATUS_TABS, "", "Open", "closed"]),
    "severity": st.sampled_from(["normal", "high", "critical", "", "HIGH", "urgent"]),
    "owner": st.one_of(st.sampled_from(["agent:A-102", "branch:tokyo-chuo", "central:cx", "person:", "agent", ":x",
                                        ""]),
                       st.tuples(st.sampled_from(["agent", "branch", "central", "person", "x"]), st.text(max_size=10))
                       .map(":".join)),
    "page": st.one_of(st.integers(-2, MAX_READ // PAGE_SIZE + 3).map(str),
                      st.sampled_from(["", "１", "٣", "1_0", " 7 ", "1e3", "0x1", "4" * 5000, "+3", "-0"])),
    "from": st.one_of(st.dates().map(str), st.sampled_from(["2026-02-30", "20261121", "2026-W48-5", "2026-11", ""])),
    "to": st.one_of(st.dates().map(str), st.sampled_from(["2026-12-31", "２０２６-１１-２１", "2026-11-21T00:00", ""])),
}
PARAMS = st.one_of(
    st.fixed_dictionaries({}, optional={**INBOX_VALUES, "procedure": st.text(max_size=20),
                                        "branch": st.text(max_size=20), "lang": st.text(max_size=5)}),
    st.dictionaries(st.sampled_from(sorted(INBOX_PARAMETERS)) | st.text(max_size=8), st.text(max_size=20), max_size=4),
    st.text().map(lambda query: dict(parse_qsl(query, keep_blank_values=True))),
)


@fuzz("forms", share=0.04)
@given(PARAMS)
def test_any_inbox_query_is_a_query_that_reads_back_or_a_named_refusal(params):
    try:
        query = parse_inbox(params)
    except InvalidInbox as refused:
        assert str(refused)
        return
    assert isinstance(query, InboxQuery) and query.status in STATUS_TABS
    assert 1 <= query.page <= MAX_READ // PAGE_SIZE + 1
    assert not (query.from_day and query.to_day and query.from_day > query.to_day)
    assert parse_inbox(query.params()) == query          # the page's own links read back as the same query


@fuzz("forms", share=0.02)
@given(st.one_of(st.none(), st.text(), st.lists(st.tuples(st.sampled_from(["ja", "zh-CN", "en-US", "fr", "*", "ZH"]),
                                                         st.sampled_from(["", ";q=0", ";q=0.5", ";q=nan", ";q=inf",
                                                                          ";q=-1", ";q=1e999", ";Q=1"])),
                                               max_size=25).map(lambda parts: ",".join(a + b for a, b in parts))))
def test_any_accept_language_or_locale_gives_a_language_koe_has_pages_in(header):
    assert web.preferred_language(header) in web.LANGUAGES
    assert web.page_language(header) in web.LANGUAGES
