"""Reading replies: scores in the forms customers really type, keywords in en/ja/zh."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.replies import read_keyword, read_score


@pytest.mark.parametrize("text, score, comment", [
    ("9", 9, None),
    ("９", 9, None),                              # full-width digit from a Japanese keyboard
    ("10/10", 10, None),
    ("9 the payout came fast", 9, "the payout came fast"),
    ("9/10 quick payout", 9, "quick payout"),
    ("nine", 9, None),
    ("Nine, fast", 9, "fast"),
    ("十", 10, None),
    ("十 早かった", 10, "早かった"),
    ("九分", 9, None),
    ("3点", 3, None),
    ("0", 0, None),
    ("  7  ", 7, None),
    ("10 points great", 10, "great"),
])
def test_reads_a_score_and_the_comment_after_it(text, score, comment):
    reply = read_score(text)
    assert reply is not None
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("text", ["11", "100", "9.5", "-1", "9x", "ninety", "great", "about 8", "一番", "", "   "])
def test_does_not_guess_a_score(text):
    assert read_score(text) is None


@pytest.mark.parametrize("text, kind, carrier, language", [
    ("STOP", "stop", True, "en"),
    ("stop", "stop", True, "en"),
    (" Unsubscribe ", "stop", True, "en"),
    ("ＳＴＯＰ", "stop", False, "en"),               # Twilio does not see full-width words
    ("停止", "stop", False, "ja"),
    ("配信停止", "stop", False, "ja"),
    ("退订", "stop", False, "zh"),
    ("TD", "stop", False, "zh"),
    ("please stop texting me", "stop", False, "en"),
    ("START", "start", True, "en"),
    ("再開", "start", False, "ja"),
    ("HELP", "help", False, "en"),
    ("ヘルプ", "help", False, "ja"),
])
def test_reads_keywords(text, kind, carrier, language):
    keyword = read_keyword(text)
    assert keyword is not None
    assert (keyword.kind, keyword.carrier_answers, keyword.language) == (kind, carrier, language)


@pytest.mark.parametrize("text", ["9", "the agent stopped by", "stopwatch", "great service"])
def test_ordinary_replies_are_not_keywords(text):
    assert read_keyword(text) is None


@given(st.text())
def test_any_text_reads_as_a_valid_score_or_nothing(text):
    reply = read_score(text)
    assert reply is None or 0 <= reply.score <= 10
    read_keyword(text)      # never raises


@given(st.integers(0, 10), st.sampled_from(["", " fast", "/10", "/10 ok", "点", " 早い"]))
def test_every_score_written_plainly_reads_back(score, suffix):
    reply = read_score(f"{score}{suffix}")
    assert reply is not None and reply.score == score


@given(st.integers(0, 10))
def test_full_width_digits_read_like_ascii(score):
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in str(score))
    assert read_score(full_width).score == score
