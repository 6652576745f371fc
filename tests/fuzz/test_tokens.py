"""Tokens at volume: survey links (domain/survey_token.LinkKeys) and the local stack's bearer tokens
(domain/local_token.py, then domain/claims.py). Any text is refused with the named error (or None);
a real token changed in any way (a character flipped, cut, lengthened, another purpose, another key
id) is refused; only the token as made gives its survey or its claims back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.domain import local_token
from chalicelib.domain.claims import principal_from_claims
from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.survey_token import MAX_TOKEN_CHARS, LinkKeys, TamperedToken, UnknownKeyId, link_key
from tests.fuzz.harness import fuzz
from tests.fuzz.text import NOISE

KEYS = LinkKeys("2027-01", {"2027-01": link_key(b"fuzz-contact-key-2027"),
                            "2026-06": link_key(b"fuzz-contact-key-2026")})
PURPOSES = ("survey", "unsubscribe")
URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SURVEY_IDS = st.one_of(st.text(min_size=1, max_size=128),
                       st.from_regex(r"[a-z]{3,8}-2026-[0-9]{6}-[a-z]{4}", fullmatch=True))
# Characters a change may bring in: the token's own alphabet, its separator, padding, and anything.
REPLACEMENTS = st.one_of(st.sampled_from(URL_SAFE + ".=%+/ "), st.characters(), st.sampled_from(NOISE))


@st.composite
def changed(draw: st.DrawFn, token: str) -> str:
    """The token with one change: a character replaced, removed or added, its case flipped, cut
    short, lengthened, or its key id replaced or dropped."""
    kid, _, body = token.rpartition(".")
    at = draw(st.integers(0, len(token) - 1))
    change = draw(st.sampled_from(["replace", "remove", "add", "case", "cut", "lengthen", "kid", "no kid"]))
    if change == "replace":
        return token[:at] + draw(REPLACEMENTS.filter(lambda c: c != token[at])) + token[at + 1:]
    if change == "remove":
        return token[:at] + token[at + 1:]
    if change == "add":
        return token[:at] + draw(REPLACEMENTS) + token[at:]
    if change == "case":
        return token[:at] + token[at].swapcase() + token[at + 1:]
    if change == "cut":
        return token[:at]
    if change == "lengthen":
        return token + draw(st.text(URL_SAFE + ".", min_size=1, max_size=MAX_TOKEN_CHARS))
    if change == "kid":
        return draw(st.sampled_from([*KEYS.keys, "2027-02", "", "2027-01.2027-01"]) | st.text(max_size=10)) + "." + body
    return body


@fuzz("tokens", share=0.06)
@given(SURVEY_IDS, st.sampled_from(PURPOSES), st.sampled_from(PURPOSES), st.data())
def test_a_changed_survey_link_is_refused_and_only_the_link_as_made_opens_its_survey(survey_id, made_for, opened_for,
                                                                                    data):
    token = KEYS.sign(survey_id, made_for)
    candidate = data.draw(changed(token))
    body = token.rpartition(".")[2]
    # The link as made, or its body alone (the spelling of links from before key ids), opens it.
    if made_for == opened_for and candidate in (token, body):
        assert KEYS.verify(candidate, opened_for) == survey_id
        return
    with pytest.raises(TamperedToken) as refused:
        KEYS.verify(candidate, opened_for)
    kid, separator, _ = candidate.rpartition(".")
    unlisted = len(candidate) <= MAX_TOKEN_CHARS and separator and kid not in KEYS.keys
    assert isinstance(refused.value, UnknownKeyId) == bool(unlisted), candidate


TOKEN_LIKE = st.one_of(
    st.text(),
    st.text(URL_SAFE + ".", max_size=1100),
    st.tuples(st.sampled_from([*KEYS.keys, "2027-02"]), st.binary(min_size=17, max_size=600)).map(
        lambda t: f"{t[0]}.{base64.urlsafe_b64encode(t[1]).rstrip(b'=').decode()}"),
)


@fuzz("tokens", share=0.05)
@given(TOKEN_LIKE, st.sampled_from(PURPOSES))
def test_any_text_is_refused_as_a_survey_link(text, purpose):
    with pytest.raises(TamperedToken):
        KEYS.verify(text, purpose)


SECRET = "fuzz-local-secret-0123456789abcdef"
ISSUED = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
CLAIMS = [{"sub": "local-agent", "cognito:groups": ["agent"], "custom:agent_id": "A-12", "custom:branch": "tokyo-chuo"},
          {"sub": "local-manager", "cognito:groups": ["branch_manager"], "custom:branch": "tokyo-chuo"},
          {"sub": "local-admin", "cognito:groups": ["cx_admin", "agent"]}]


@fuzz("tokens", share=0.05)
@given(st.sampled_from(CLAIMS), st.integers(0, 3600), st.data())
def test_a_changed_bearer_token_is_not_a_token_and_the_token_as_made_gives_its_principal(claims, seconds, data):
    token = local_token.mint(SECRET, claims, ISSUED, timedelta(hours=1))
    candidate = data.draw(changed(token).filter(lambda t: t != token) | st.just(token))
    found = local_token.verify(SECRET, candidate, ISSUED + timedelta(seconds=seconds))
    if candidate == token:
        assert found is not None and isinstance(principal_from_claims(found), Principal)
    else:
        assert found is None, candidate
    assert local_token.verify("fuzz-local-secret-another-one-000", token, ISSUED) is None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: object, payload_text: str) -> str:
    """A token made by hand with the right secret: any header, any payload text."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload_text.encode())}"
    return f"{signing_input}.{b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())}"


NUMBERS = st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=12),
                    st.sampled_from([10**400, -(10**400), 2**1024, 1e308, 1764810000, 1764813600, 0]))
JSON = st.recursive(st.one_of(st.none(), NUMBERS), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)), max_leaves=8)
GROUPS = st.one_of(JSON, st.sampled_from(["cx_admin", "agent,branch_manager", "[agent branch_manager]", "operations",
                                          ["agent", 7], ["cx_admin\n"]]))
PAYLOADS = st.fixed_dictionaries(
    {"iss": st.sampled_from(["koe-local", "other"]) | JSON, "aud": st.sampled_from(["koe-local", ["koe-local"]]) | JSON,
     "token_use": st.sampled_from(["id", "access"]) | JSON},
    optional={"sub": st.sampled_from(["local-agent", "", " ", "a@example.com", "x" * 129]) | JSON,
              "cognito:groups": GROUPS, "custom:branch": JSON, "custom:agent_id": JSON,
              "iat": NUMBERS, "exp": NUMBERS, "nbf": NUMBERS})
PAYLOAD_TEXTS = st.one_of(PAYLOADS.map(json.dumps), JSON.map(json.dumps), st.text(),
                          st.sampled_from(['{"exp": NaN}', '{"exp": Infinity}', '{"iat": 1e999}', "[" * 5000]))


@fuzz("tokens", share=0.04)
@given(st.one_of(st.just({"alg": "HS256", "typ": "JWT"}), JSON), PAYLOAD_TEXTS, st.integers(1764800000, 1764830000))
# Found by fuzzing: an int past any float raised OverflowError from math.isfinite.
@example({"alg": "HS256"}, json.dumps({"iss": "koe-local", "aud": "koe-local", "token_use": "id", "nbf": 2**1024}),
         1764810000)
def test_any_payload_signed_with_the_secret_gives_claims_and_a_principal_or_nothing_never_an_error(header, payload,
                                                                                                   now):
    token = signed(header, payload)
    found = local_token.verify(SECRET, token, datetime.fromtimestamp(now, UTC))
    assert found is None or isinstance(found, dict)
    if found is not None:
        principal = principal_from_claims(found)
        assert principal is None or principal.role in (Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT)
    assert isinstance(local_token.payload_unverified(token), dict)


@fuzz("tokens", share=0.02)
@given(st.one_of(st.text(), st.text(URL_SAFE + ".", max_size=4200)))
def test_any_text_is_not_a_bearer_token(text):
    assert local_token.verify(SECRET, text, ISSUED) is None
    assert isinstance(local_token.payload_unverified(text), dict)
