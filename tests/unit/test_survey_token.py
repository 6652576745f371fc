"""Survey links: round trip, tampering, purpose, shape, and a token that says nothing of its survey."""

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.survey_token import MAX_TOKEN_CHARS, TamperedToken, link_key, sign, verify

KEY = link_key(b"test-contact-hash-key")
SURVEY = "claims-2026-000123-paid"          # an operations system's event id: business data


@given(st.text(min_size=1, max_size=128))
def test_a_signed_token_gives_its_survey_back(survey_id):
    assert verify(KEY, sign(KEY, survey_id)) == survey_id


def test_the_token_is_url_safe_and_short():
    token = sign(KEY, SURVEY)
    assert all(c.isalnum() or c in "-_" for c in token) and len(token) < 70
    assert len(sign(KEY, "x" * 128)) <= MAX_TOKEN_CHARS


def _readable(token: str) -> list[bytes]:
    """Every way a reader could decode the token, from each offset (base64 aligns every 4 characters)."""
    return [base64.urlsafe_b64decode(token[start:] + "=" * (-len(token[start:]) % 4))
            for start in range(4) if len(token[start:]) % 4 != 1]


def test_the_token_carries_nothing_readable_of_its_survey():
    token = sign(KEY, SURVEY)
    # Then neither the survey id, nor any 4 characters of it, can be read out of the token
    assert SURVEY not in token
    for decoded in _readable(token):
        assert not any(SURVEY[i:i + 4].encode() in decoded for i in range(len(SURVEY) - 3))
    # And surveys that differ by one character get tokens alike in nothing but their length
    neighbour = sign(KEY, SURVEY[:-1] + "x")
    assert len(neighbour) == len(token)
    assert sum(a == b for a, b in zip(token, neighbour, strict=True)) < len(token) // 4


def test_one_survey_and_purpose_always_get_the_same_token():
    # Links are made again (a reminder, an email's buttons): they must stay the same link.
    assert sign(KEY, SURVEY) == sign(KEY, SURVEY)
    assert sign(KEY, SURVEY) != sign(KEY, SURVEY, "unsubscribe")


@pytest.mark.parametrize("change", [
    lambda t: t[:5] + ("A" if t[5] != "A" else "B") + t[6:],      # the tag changed
    lambda t: t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:],   # the survey part changed
    lambda t: sign(KEY, "claims-2026-000124-paid")[:22] + t[22:],  # another survey's tag
    lambda t: t[:22], lambda t: "", lambda t: ".", lambda t: "%%%.%%%", lambda t: t + "." + t,
    lambda t: t[:10] + "%" + t[10:], lambda t: t + "A" * MAX_TOKEN_CHARS,
])
def test_a_changed_or_made_up_token_is_refused(change):
    with pytest.raises(TamperedToken):
        verify(KEY, change(sign(KEY, SURVEY)))


def test_a_token_for_one_purpose_does_not_open_another_nor_work_with_another_key():
    token = sign(KEY, "s-1", purpose="unsubscribe")
    with pytest.raises(TamperedToken):
        verify(KEY, token, purpose="survey")
    with pytest.raises(TamperedToken):
        verify(link_key(b"another-secret"), token, purpose="unsubscribe")
    assert link_key(b"x") != b"x" and len(link_key(b"x")) == 32


@given(st.text(max_size=500))
def test_any_text_is_refused_or_read_never_raises_anything_else(text):
    with contextlib.suppress(TamperedToken):
        verify(KEY, text)
