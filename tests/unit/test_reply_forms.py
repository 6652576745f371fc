"""The forms a reply takes in Japanese, Chinese and English, and `read_reply` over the whole reply."""

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.conversation import next_turn
from chalicelib.domain.model import Step, Survey, SurveyStatus
from chalicelib.domain.replies import Reading, read_keyword, read_reply, read_score
from chalicelib.domain.score_forms import SEPARATORS


@pytest.mark.parametrize("text, score, comment", [
    # Japanese: units, polite endings (part of the score), full marks, a comment after a separator
    ("9です", 9, None), ("9でした", 9, None), ("9ですね", 9, None), ("10点です", 10, None), ("9てん", 9, None),
    ("十点です", 10, None), ("９点です！", 9, None), ("9点です。とても親切でした", 9, "とても親切でした"),
    ("９点、対応が早かった", 9, "対応が早かった"), ("9点ですが、対応が遅かった", 9, "対応が遅かった"),
    ("満点", 10, None), ("満点です！最高", 10, "最高"), ("10点満点", 10, None), ("１０点満点です！", 10, None),
    ("10点満点中9点", 9, None), ("10点満点で9点です", 9, None), ("10点中8点", 8, None), ("点数は9点です", 9, None),
    # Chinese: 分 and 点, soft endings, full marks and "满分10分, 我给9分"
    ("８分", 8, None), ("十点", 10, None), ("九点", 9, None), ("零分", 0, None), ("〇点", 0, None), ("两分", 2, None),
    ("九分吧", 9, None), ("满分", 10, None), ("滿分", 10, None), ("满分！", 10, None), ("满分10分", 10, None),
    ("满分十分", 10, None), ("10分满分", 10, None), ("十分满分", 10, None), ("满分，服务很好", 10, "服务很好"),
    ("满分10分，我给9分", 9, None), ("满分10分，给九分吧", 9, None), ("9分，很好", 9, "很好"),
    ("给9分", 9, None), ("我给你们打10分", 10, None), ("给满分", 10, None), ("评分：8", 8, None),
    ("9分（满分10分）", 9, None), ("十分", 10, None),
    # English: words, "out of ten", a leading phrase that only announces the score
    ("ten", 10, None), ("Ten out of ten!", 10, None), ("ten out of ten would recommend", 10, "would recommend"),
    ("9!!!", 9, None), ("9/10", 9, None), ("I'd give it a 9", 9, None), ("I’d give it a 9", 9, None),
    ("I give it 10/10", 10, None), ("I would rate you an 8, fast payout", 8, "fast payout"),
    ("i'd say 7", 7, None), ("Score: 9", 9, None), ("my rating is ten", 10, None), ("10👍", 10, "👍"),
    # full width anywhere
    ("９／１０", 9, None), ("Ｔｅｎ ｏｕｔ ｏｆ ｔｅｎ！", 10, None), ("Ｉ'ｄ ｇｉｖｅ ｉｔ ａ ９", 9, None),
])
def test_reads_the_forms_customers_type(text, score, comment):
    reply = read_score(text)
    assert reply is not None, text
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("text", [
    # a hedge, before or after: the re-prompt asks for a number, as it always has for "about 8?"
    "about 8?", "maybe 8", "I'd say about 8", "8 maybe", "8-ish", "8 or so",
    "8くらい", "9点くらい", "大概8分", "たぶん9",
    # another scale, stated first or after
    "满分5分", "5点満点中4点", "100点満点", "4分（满分5分）", "9点満点", "满分/5", "I'd give it 5 stars",
    # a range or two candidates
    "9点か10点", "九分或十分", "9点です、10点です", "满分10分，9分或10分", "I'd give it a 9 or 10", "满分 or 9",
    # a number that is a quantity or runs on into a word
    "2 days late", "9分钟", "3時間", "90%", "9点半", "one of the best", "zero issues", "nine great",
    # full marks or 十分 that say something else
    "満点じゃない", "满分好评", "十分満足", "十分满意", "十分です", "一点也不好",
    # a leading phrase with no score after it
    "I give up", "给个好评", "score was bad",
])
def test_refuses_what_is_not_plainly_one_0_10_score(text):
    assert read_score(text) is None, read_score(text)


@pytest.mark.parametrize("text, language, reading", [
    ("9", None, Reading("score", 9)),
    ("9点です。とても親切でした", "ja", Reading("score_and_comment", 9, "とても親切でした")),
    ("maybe 8", None, Reading("unreadable")),
    ("", None, Reading("unreadable")),
    ("9点です。もう送らないで", "ja", Reading("opt_out", keyword=read_keyword("送らないで"))),
])
def test_read_reply_gives_one_reading(text, language, reading):
    assert read_reply(text, language) == reading


@pytest.mark.parametrize("text, kind", [("STOP", "opt_out"), ("T", "opt_out"), ("再開", "opt_in"), ("帮助", "help")])
def test_keywords_come_first(text, kind):
    reading = read_reply(text, "zh")
    assert reading.kind == kind and reading.keyword == read_keyword(text, "zh") and reading.score is None


NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
SURVEY = Survey(survey_id="ev-1", procedure="claim_payment", customer_id="C-1", contact_key="k",
                locale="ja", channel="sms_two_way", channel_reason="two_way_sms_supported:JP",
                status=SurveyStatus.DELIVERED, created_at=NOW, completed_at=NOW, phone="+815550100123")


def test_a_score_and_comment_in_one_japanese_message_ends_the_conversation():
    turn = next_turn(SURVEY, "9点です。とても親切でした")
    assert (turn.reply, turn.step, turn.score, turn.closes) == ("thanks", Step.DONE, 9, True)
    assert [(r.question, r.text) for r in turn.recorded] == [
        ("score", "9点です。とても親切でした"), ("comment", "とても親切でした")]


def test_full_marks_with_the_score_after_it_asks_why():
    turn = next_turn(replace(SURVEY, locale="zh"), "满分10分，我给9分")
    assert (turn.reply, turn.step, turn.score) == ("why", Step.AWAIT_COMMENT, 9)


# --- properties ---------------------------------------------------------------------------------

KINDS = {"score", "score_and_comment", "opt_out", "opt_in", "help", "unreadable"}
KEYWORD_KINDS = {"stop": "opt_out", "start": "opt_in", "help": "help"}


def assert_one_reading(reading: Reading) -> None:
    assert reading.kind in KINDS
    if reading.kind in ("opt_out", "opt_in", "help"):
        assert reading.keyword is not None and KEYWORD_KINDS[reading.keyword.kind] == reading.kind
        assert (reading.score, reading.comment) == (None, None)
        return
    assert reading.keyword is None
    if reading.kind == "unreadable":
        assert (reading.score, reading.comment) == (None, None)
        return
    assert reading.score is not None and 0 <= reading.score <= 10
    if reading.kind == "score":
        assert reading.comment is None
    else:
        assert reading.comment and reading.comment == reading.comment.strip(SEPARATORS)


LANGUAGES = st.sampled_from([None, "en", "ja", "zh"])


@given(st.text(), LANGUAGES)
def test_any_text_gets_exactly_one_reading_composed_of_keyword_then_score(text, language):
    reading = read_reply(text, language)
    assert_one_reading(reading)
    keyword, score = read_keyword(text, language), read_score(text)
    if keyword is not None:
        assert reading.keyword == keyword
    elif score is None:
        assert reading.kind == "unreadable"
    else:
        assert (reading.score, reading.comment) == (score.score, score.comment)


WORDS = "zero one two three four five six seven eight nine ten".split()
KANJI = "零一二三四五六七八九十"
TOKENS = [*map(str, range(13)), "100", "9.5", "09", "-1", *KANJI, "〇", "两", "百", *WORDS, "eleven", "Ten",
          "点", "分", "てん", "points", "pts", "/", "⁄", "/10", "/5", "out of", "of", "ten", "满分", "満点", "中", "で",
          "です", "でした", "ですね", "吧", "啦", "了", "。", "、", "，", "!", "！", "?", ",", ".", "-", "~",
          "(", "（", ")",
          "or", "to", "或", "到", "か", "stop", "STOP", "停止", "退订", "やめて", "不要", "别再发", "T", "R", "help",
          "START", "再開", "I'd give it a", "I give", "给", "我给", "打", "评分：", "点数は", "maybe", "about", "大概",
          "くらい", "stars", "days", "分钟", "%", "great", "的", "服务很好", "とても親切", "钟", "番", " ", "　", "\n"]


def said(score: int, clean: str) -> bool:
    """The reply names this score somewhere (or full marks, for 10): nothing is invented."""
    names = [str(score), WORDS[score], KANJI[score], "两" if score == 2 else "", "〇" if score == 0 else ""]
    names += ["满分", "滿分", "満点"] if score == 10 else []
    return any(name and name in clean.lower() for name in names)


@given(st.lists(st.sampled_from(TOKENS), max_size=8), st.sampled_from(["", " "]), LANGUAGES)
def test_mixtures_of_numbers_units_punctuation_and_stop_words_read_once_and_invent_nothing(tokens, joiner, language):
    text = joiner.join(tokens)
    reading = read_reply(text, language)
    assert_one_reading(reading)
    if reading.score is not None:
        assert said(reading.score, unicodedata.normalize("NFKC", text)), (text, reading)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


# Score forms per language: (lead-ins, numerals, units, endings, separators, comments).
JA = (["", "点数は", "評価は"], "ja", ["", "点", "てん", " 点"], ["", "です", "でした", "ですね", "ですよ", "ですが"],
      ["。", "、", " ", "！", "!", "\n", "　", "。 "], ["とても親切でした", "対応が早かった", "説明が分かりやすい",
                                                   "待ち時間が長かった", "担当者が丁寧", "満足しています"])
ZH = (["", "给", "我给", "打", "我给你们打", "评分："], "zh", ["", "分", "点"], ["", "吧", "啦"],
      ["，", "。", "！", " ", ",", "；", "! "], ["服务很好", "理赔很快", "客服态度好", "等待时间太长", "流程简单"])
EN = (["", "I'd give it a ", "I give it ", "I'd rate it ", "Score: ", "my score is "], "en",
      ["", " points", "/10", " / 10", " out of 10", " out of ten"], ["", "!", "!!!"],
      [", ", " - ", ". ", "! ", " — ", "; "], ["great service", "the payout came fast", "quick and friendly",
                                             "the agent was helpful", "took too long", "could be better"])


@st.composite
def score_forms(draw):
    leads, lang, units, endings, separators, comments = draw(st.sampled_from([JA, ZH, EN]))
    score = draw(st.integers(0, 10))
    numerals = [str(score), full_width(str(score))]
    numerals += [KANJI[score]] + (["〇"] if score == 0 else ["两"] if score == 2 and lang == "zh" else [])
    if lang == "en":
        numerals = [str(score), full_width(str(score)), WORDS[score], WORDS[score].title(), WORDS[score].upper()]
    numeral, unit, ending = (draw(st.sampled_from(choices)) for choices in (numerals, units, endings))
    comment = draw(st.one_of(st.none(), st.sampled_from(comments)))
    text = f"{draw(st.sampled_from(leads))}{numeral}{unit}{ending}"
    if comment is not None:
        text += draw(st.sampled_from(separators)) + comment
    return text, lang, score, comment


@given(score_forms())
def test_every_score_with_unit_ending_and_comment_reads_back(form):
    text, language, score, comment = form
    expected = Reading("score_and_comment", score, comment) if comment else Reading("score", score)
    assert read_reply(text, language) == expected, text


@given(score_forms(), st.sampled_from(["!", "。", "！", "!!!", "?"]))
def test_trailing_punctuation_adds_nothing(form, punctuation):
    text, language, score, comment = form
    if comment is None:
        assert read_reply(text + punctuation, language) == Reading("score", score), text


@given(score_forms(), st.sampled_from(["about ", "maybe ", "around ", "大概", "たぶん", "差不多"]))
def test_a_hedged_score_always_gets_the_reprompt(form, hedge):
    text, language, _, _ = form
    assert read_reply(hedge + text, language).kind == "unreadable", hedge + text


@given(st.one_of(score_forms().map(lambda form: form[0]), st.text()), LANGUAGES)
def test_full_width_reads_like_ascii(text, language):
    ascii_reading, wide_reading = read_reply(text, language), read_reply(full_width(text), language)
    assert (wide_reading.kind, wide_reading.score, wide_reading.comment) == (
        ascii_reading.kind, ascii_reading.score, ascii_reading.comment)
    if ascii_reading.keyword:      # only whether Twilio saw the word may differ
        assert replace(wide_reading.keyword, carrier_answers=False) == replace(ascii_reading.keyword,
                                                                              carrier_answers=False)


@given(st.integers(0, 10), st.integers(0, 10), st.sampled_from(["点", "分", "てん"]),
       st.sampled_from(["或", "到", "か", "~", "〜", "-", " or ", " 或 ", "、", " "]), st.booleans())
def test_two_cjk_scores_are_never_read_as_one(low, high, unit, joiner, kanji):
    first, second = (KANJI[low], KANJI[high]) if kanji else (str(low), str(high))
    assert read_score(f"{first}{unit}{joiner}{second}{unit}") is None


@given(st.integers(0, 100).filter(lambda n: n != 10), st.integers(0, 10), st.booleans())
def test_full_marks_on_any_scale_but_10_is_never_read(scale, score, chinese):
    text = f"满分{scale}分，{score}分" if chinese else f"{scale}点満点中{score}点"
    assert read_score(text) is None, text


# --- emoji digits, "a 10", the scale's own labels --------------------------------------------------

@pytest.mark.parametrize("text, score, comment", [
    ("9️⃣", 9, None), ("9⃣", 9, None), ("🔟", 10, None), ("0️⃣", 0, None), ("1️⃣0️⃣", 10, None),
    ("9️⃣ fast payout", 9, "fast payout"), ("🔟!", 10, None), ("8️⃣/🔟", 8, None),
])
def test_keycap_emoji_are_the_digits_they_show_and_leave_no_comment(text, score, comment):
    reply = read_score(text)
    assert reply is not None, text
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("text, score, comment", [
    ("a 10", 10, None), ("A 10!", 10, None), ("an 8", 8, None), ("a 9, quick payout", 9, "quick payout"),
    ("it's a 10", 10, None), ("It’s an 8", 8, None), ("a ten", 10, None),
])
def test_a_score_after_an_article_reads_like_one_after_i_d_give_it(text, score, comment):
    reply = read_score(text)
    assert reply is not None, text
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("text", ["a 2 day wait", "a 10 minute call", "an 8 or 9", "about a 9", "a lot", "a 9x"])
def test_an_article_does_not_make_a_quantity_or_a_hedge_a_score(text):
    assert read_score(text) is None, read_score(text)


@given(st.integers(0, 10), st.booleans(), st.sampled_from(["", "!", " fast", "/🔟"]))
def test_any_score_drawn_in_keycaps_reads_as_its_digits(score, selector, after):
    keycaps = "🔟" if score == 10 and not selector else "".join(
        f"{digit}{chr(0xFE0F) if selector else ''}\u20e3" for digit in str(score))
    reply = read_score(keycaps + after)
    assert reply is not None and reply.score == score
    assert reply.comment == ("fast" if after == " fast" else None)
