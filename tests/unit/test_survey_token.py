"""Signed survey links: round trip, tampering, purpose, shape."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.survey_token import TamperedToken, link_key, sign, verify

KEY = link_key(b"test-contact-hash-key")


@given(st.text(min_size=1, max_size=128))
def test_a_signed_token_gives_its_survey_back(survey_id):
    assert verify(KEY, sign(KEY, survey_id)) == survey_id


def test_the_token_is_url_safe_and_short():
    token = sign(KEY, "claims-2026-000123-paid")
    assert all(c.isalnum() or c in "-_." for c in token) and len(token) < 70


@pytest.mark.parametrize("change", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),           # the MAC changed
    lambda t: sign(KEY, "claims-2026-000124-paid").split(".")[0] + "." + t.split(".")[1],  # another survey
    lambda t: t.replace(".", ""), lambda t: "", lambda t: ".", lambda t: "%%%.%%%", lambda t: t + "." + t,
])
def test_a_changed_or_made_up_token_is_refused(change):
    with pytest.raises(TamperedToken):
        verify(KEY, change(sign(KEY, "claims-2026-000123-paid")))


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
