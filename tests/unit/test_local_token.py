"""The local stack's HS256 bearer tokens (domain/local_token.py): round trip, expiry with leeway, and
every forgery refused as "not a token" (None), never an exception. Fictional secrets and users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.local_token import LEEWAY, MAX_LIFETIME, mint, verify

SECRET = "local-test-secret-" + "0123456789abcdef"          # 34 characters
NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
CLAIMS = {"sub": "local-agent", "cognito:groups": ["agent"], "custom:agent_id": "A-12"}


def token(**changes):
    return mint(SECRET, {**CLAIMS, **changes}, NOW, timedelta(hours=1))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged(header: dict, payload: dict, secret: str | None = SECRET) -> str:
    """A token made by hand: any header, any payload, signed with `secret` (None: no signature)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    return f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())}"


def payload_of(t: str) -> dict:
    part = t.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_a_minted_token_verifies_to_its_claims_with_the_standard_ones_added():
    claims = verify(SECRET, token(), NOW)
    assert claims == {**CLAIMS, "iss": "koe-local", "aud": "koe-local", "token_use": "id",
                      "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 3600}


def test_the_header_names_hs256_and_the_token_is_compact_and_url_safe():
    t = token()
    header = json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert t.count(".") == 2 and all(c.isalnum() or c in "-_." for c in t)


def test_a_token_expires_after_its_lifetime_plus_the_leeway_only():
    t = token()
    assert verify(SECRET, t, NOW + timedelta(hours=1) + LEEWAY) is not None
    assert verify(SECRET, t, NOW + timedelta(hours=1) + LEEWAY + timedelta(seconds=1)) is None


def test_a_token_issued_in_the_future_is_refused_beyond_the_leeway():
    # A clock a minute off is tolerated; a token minted ahead of the verifier (hours ahead: made up,
    # or minted on the local stack's clock before a restart set it back to the wall clock) is not.
    assert verify(SECRET, token(), NOW - LEEWAY) is not None
    assert verify(SECRET, token(), NOW - LEEWAY - timedelta(seconds=1)) is None
    assert verify(SECRET, token(), NOW - timedelta(hours=10)) is None


def test_a_token_living_longer_than_the_longest_lifetime_is_refused_even_when_current():
    day = mint(SECRET, CLAIMS, NOW, MAX_LIFETIME)
    assert verify(SECRET, day, NOW + timedelta(hours=1)) is not None
    for lifetime in (MAX_LIFETIME + timedelta(seconds=1), timedelta(days=3650)):
        long_lived = forged({"alg": "HS256", "typ": "JWT"}, {
            **payload_of(day), "exp": int((NOW + lifetime).timestamp())})
        assert verify(SECRET, long_lived, NOW + timedelta(hours=1)) is None
    with pytest.raises(ValueError, match="at most"):
        mint(SECRET, CLAIMS, NOW, MAX_LIFETIME + timedelta(seconds=1))


def test_another_secret_or_a_changed_payload_is_refused():
    assert verify("another-local-secret-0123456789abcdef", token(), NOW) is None
    head, _, signature = token().split(".")
    promoted = b64(json.dumps({**payload_of(token()), "cognito:groups": ["cx_admin"]}).encode())
    assert verify(SECRET, f"{head}.{promoted}.{signature}", NOW) is None


@pytest.mark.parametrize("header", [
    {"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "HS512"}, {"alg": "RS256"}, {"alg": "hs256"},
    {"typ": "JWT"}, {"alg": "HS256", "crit": ["exp"]},
])
def test_only_hs256_is_accepted_whatever_the_token_says_of_itself(header):
    payload = payload_of(token())
    assert verify(SECRET, forged(header, payload), NOW) is None
    assert verify(SECRET, forged(header, payload, secret=None), NOW) is None     # alg none: no signature


@pytest.mark.parametrize("change", [
    {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example"}, {"iss": None},
    {"aud": "another-client"}, {"aud": None}, {"token_use": "access"}, {"token_use": None},
    {"exp": "tomorrow"}, {"exp": True}, {"exp": None}, {"iat": None}, {"iat": "now"},
    {"nbf": int((NOW + timedelta(hours=1)).timestamp())},
])
def test_a_token_signed_right_but_not_a_local_id_token_is_refused(change):
    payload = {k: v for k, v in {**payload_of(token()), **change}.items() if v is not None}
    assert verify(SECRET, forged({"alg": "HS256", "typ": "JWT"}, payload), NOW) is None


def test_an_audience_list_naming_koe_local_is_accepted():
    payload = {**payload_of(token()), "aud": ["koe-local", "another"]}
    assert verify(SECRET, forged({"alg": "HS256"}, payload), NOW) is not None


@pytest.mark.parametrize("time", ['"exp":Infinity', '"exp":NaN', f'"exp":{10**400}', f'"nbf":{-(2**1024)}'])
def test_nan_infinity_and_numbers_past_any_float_are_not_times(time):
    head = b64(b'{"alg":"HS256"}')
    body = b64(('{"iss":"koe-local","aud":"koe-local","token_use":"id","iat":1,"exp":2,' + time + "}").encode())
    signature = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert verify(SECRET, f"{head}.{body}.{signature}", NOW) is None


@pytest.mark.parametrize("malformed", [
    "", ".", "..", "a.b", "a.b.c.d", "a.b.c", "%%%.%%%.%%%", "eyJ.eyJ.x", "a" * 5000,
    b64(b"[1]") + "." + b64(b"{}") + ".sig", b64(b"\xff\xfe") + ".e30.sig", "é.é.é",
])
def test_malformed_tokens_are_none(malformed):
    assert verify(SECRET, malformed, NOW) is None


@given(st.text(max_size=300))
def test_any_text_is_none_never_an_exception(text):
    assert verify(SECRET, text, NOW) is None


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=300))
def test_any_compact_looking_text_is_none_never_an_exception(text):
    assert verify(SECRET, text, NOW) is None


def test_a_short_secret_or_no_lifetime_cannot_mint():
    with pytest.raises(ValueError):
        mint("short", CLAIMS, NOW, timedelta(hours=1))
    with pytest.raises(ValueError):
        mint(SECRET, CLAIMS, NOW, timedelta(0))
