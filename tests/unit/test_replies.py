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
    ("取消订阅", "stop", False, "zh"),              # "cancel the subscription"
    ("取消訂閱", "stop", False, "zh"),
    ("请取消订阅，谢谢", "stop", False, "zh"),
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


# --- opt-outs in natural wording: the rule, in both directions ----------------------------------

@pytest.mark.parametrize("text, language", [
    ("stop please", "en"), ("please stop", "en"), ("stop it", "en"), ("STOP STOP", "en"),
    ("Stop. Thanks", "en"), ("no more texts", "en"), ("Please stop texting me!", "en"),
    ("unsubscribe me", "en"), ("やめて", "ja"), ("やめてください", "ja"), ("もう送らないでください", "ja"),
    ("配信停止してください", "ja"), ("不要", "zh"), ("别再发了", "zh"), ("不要了，谢谢", "zh"),
    ("请不要再发短信了", "zh"),
])
def test_a_polite_or_wordy_stop_is_a_stop(text, language):
    keyword = read_keyword(text)
    assert keyword is not None and (keyword.kind, keyword.language) == ("stop", language)


@pytest.mark.parametrize("text", [
    "9 — the agent couldn't stop smiling", "the agent stopped by", "I want to cancel my policy",
    "不要紧，很好", "不要担心", "停车场很方便", "止まらない笑顔", "ok thanks",
])
def test_a_message_that_says_something_else_is_not_a_stop(text):
    assert read_keyword(text) is None


@pytest.mark.parametrize("letter", ["R", "T", "r", " T "])
def test_a_lone_r_or_t_opts_out_in_chinese_conversations_only(letter):
    assert read_keyword(letter, conversation_language="zh").kind == "stop"
    assert read_keyword(letter, conversation_language="en") is None
    assert read_keyword(letter) is None


POLITE = ["please", "pls", "thanks", "thank you", "now", "it", "ok", "just", "sorry", "right now", "asap"]
STOPS = ["stop", "STOP", "Stop", "unsubscribe", "quit", "stop texting me", "no more messages", "ＳＴＯＰ"]
SEPARATORS = [" ", ", ", ". ", "! ", " - "]


@given(st.lists(st.sampled_from(POLITE), max_size=2), st.sampled_from(STOPS),
       st.lists(st.sampled_from(POLITE), max_size=2), st.sampled_from(SEPARATORS), st.booleans())
def test_a_stop_word_with_a_few_polite_words_around_it_is_always_a_stop(before, stop, after, sep, shout):
    text = sep.join([*before, stop, *after])
    text = text.upper() if shout else text
    assert read_keyword(text).kind == "stop", text


JA_POLITE = ["もう", "ください", "お願いします", "本当に", "。", "！"]
JA_STOPS = ["やめて", "停止", "配信停止", "送らないで", "ストップ"]
ZH_POLITE = ["请", "了", "谢谢", "吧", "给我", "。", "！", "，"]
ZH_STOPS = ["不要", "退订", "别再发", "拒收", "不要再发"]


@given(st.data())
def test_a_japanese_or_chinese_stop_with_politeness_around_it_is_always_a_stop(data):
    polite, stops = data.draw(st.sampled_from([(JA_POLITE, JA_STOPS), (ZH_POLITE, ZH_STOPS)]))
    text = "".join([*data.draw(st.lists(st.sampled_from(polite), max_size=2)), data.draw(st.sampled_from(stops)),
                    *data.draw(st.lists(st.sampled_from(polite), max_size=3))])
    assert read_keyword(text).kind == "stop", text


CONTENT = ["the agent", "couldn't", "smiling", "the bus", "by", "the payout", "was fast", "my claim", "rain",
           "talking", "helpful", "the line", "queue", "never", "wanted"]


@given(st.integers(0, 10), st.lists(st.sampled_from(CONTENT), min_size=1, max_size=4),
       st.sampled_from(["stop", "stopped", "stopping", "Stop", "STOP"]), st.integers(0, 4),
       st.sampled_from([" ", " - ", ", ", " — "]))
def test_a_score_whose_comment_happens_to_contain_stop_stays_a_score(score, words, stop, at, sep):
    comment = " ".join([*words[:at], stop, *words[at:]])
    text = f"{score}{sep}{comment}"
    assert read_keyword(text) is None, text
    reply = read_score(text)
    assert reply is not None and reply.score == score


# --- a reply on another scale, a range or two numbers is not an NPS score ------------------------

@pytest.mark.parametrize("text", ["5/5", "4 out of 5", "four out of five", "5 stars", "3 of 5", "8/100",
                                  "8-9", "8–9", "7 or 8", "seven or eight", "8 to 9", "8~9", "8到9", "七或八",
                                  "7 8", "7, 8"])
def test_another_scale_a_range_or_two_candidates_gets_the_reprompt(text):
    assert read_score(text) is None


@pytest.mark.parametrize("text, score, comment", [
    ("four out of ten", 4, None), ("9 out of 10", 9, None), ("nine out of 10", 9, None),
    ("9/10", 9, None), ("7点", 7, None), ("8分", 8, None), ("10/10 great", 10, "great"),
    ("8 - 2 days late", 8, "2 days late"), ("9 - great service", 9, "great service"),
])
def test_x_out_of_10_and_units_keep_working(text, score, comment):
    reply = read_score(text)
    assert reply is not None and (reply.score, reply.comment) == (score, comment)


@given(st.integers(0, 10), st.integers(0, 10), st.sampled_from(["-", " - ", " or ", " to ", "~", "到", " 或 "]))
def test_a_range_of_two_scores_is_never_read_as_one(low, high, joiner):
    assert read_score(f"{low}{joiner}{high}") is None


@given(st.integers(0, 10), st.integers(1, 100).filter(lambda n: n != 10), st.sampled_from(["/", " out of ", " of "]))
def test_a_score_out_of_anything_but_10_is_never_read(score, scale, joiner):
    assert read_score(f"{score}{joiner}{scale}") is None
