"""Reading the web survey's form post (domain/web_survey.read_form): what a browser sends reads back
exactly; anything koe would have to guess at is refused, never half-read."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.web_survey import UnreadableForm, error_for_status, read_form


@given(st.dictionaries(st.sampled_from(["score", "comment"]), st.text()),
       st.dictionaries(st.text(min_size=1).filter(lambda n: n not in ("score", "comment")), st.text(), max_size=3))
def test_any_form_a_browser_encodes_reads_back_as_sent(form, other):
    assert read_form(urlencode({**form, **other}).encode()) == form
    assert read_form(urlencode({**form, **other}, quote_via=quote)) == form


@pytest.mark.parametrize("body", [b"score=1&score=10", b"comment=a&score=9&comment=b", b"comment=%E3%81",
                                  b"comment=%zz", b"comment=%4", b"comment=50%", b"comment=%FF", b"\xff=9",
                                  b"score=9&comment=\xe3\x81"])
def test_a_body_that_cannot_be_read_plainly_is_refused(body):
    with pytest.raises(UnreadableForm):
        read_form(body)


def test_blanks_and_fields_without_a_value_are_empty_and_nothing_is_no_field():
    assert read_form(b"score=&comment") == {"score": "", "comment": ""}
    assert read_form(b"") == read_form(None) == read_form(b"&&") == {}
    assert read_form(b"comment=%E6%97%A9%E3%81%84+%2B") == {"comment": "早い +"}


@pytest.mark.parametrize("status, error", [(400, "bad_request"), (405, "bad_request"), (413, "too_large"),
                                           (415, "not_a_form"), (500, "try_later"), (503, "try_later")])
def test_each_status_has_words_for_a_person(status, error):
    assert error_for_status(status).value == error
