"""SMS replies at volume (domain/replies.py, domain/score_forms.py, domain/opt_out.py): any text reads
as exactly one thing on every scale, a score always within its scale, the same each time; the
keywords read in any case and width, with noise around them. The forms themselves are tests/unit."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.domain import opt_out
from chalicelib.domain.questions import END_LABELS, Scale, in_scale
from chalicelib.domain.replies import (
    _SEPARATORS,
    CARRIER_OPT_IN,
    CARRIER_OPT_OUT,
    HELP_WORDS,
    OWN_OPT_IN,
    read_keyword,
    read_reply,
    read_score,
)
from tests.fuzz.harness import fuzz
from tests.fuzz.text import NOISE, long_numbers, long_runs, recased, widened

LANGUAGES = st.sampled_from([None, "en", "ja", "zh"])
SCORE_KINDS = ("score", "score_and_comment")
KINDS = (*SCORE_KINDS, "opt_out", "opt_in", "help", "unreadable")

# What replies are made of: numbers in digits, words and numerals, the scales' units and ends,
# lead-ins and hedges, every keyword and stop phrase the modules know, punctuation and noise.
NUMBERS = [*map(str, range(13)), "100", "4300", "9.5", "09", "-1", "1e3", "0x9", "½", *"零〇一二三四五六七八九十两百",
           "zero", "one", "two", "five", "seven", "nine", "ten", "Ten", "NINE", "eleven", "twelve", "ninety", "十分"]
SCALE_WORDS = ["/10", "/5", "/7", "⁄10", "out of ten", "out of 10", "out of five", "of 7", "over 10",
               "满分", "滿分", "満点", "10点満点中", "满分10分", "5点満点中", "中", "里", "星", "つ星",
               "stars", "star", "points", "pts", "点", "分", "てん", "です", "でした", "ですね", "だ", "吧", "啦", "了",
               *END_LABELS[Scale.CSAT], *END_LABELS[Scale.CES]]
LEAD_INS = ["I'd give it a", "I’d give you guys an", "i would rate them", "my score is", "score:", "rating =",
            "a", "an", "it's an", "我给", "我给你们打", "给", "评分：", "打分", "点数は", "評価は", "スコアは"]
HEDGES = ["about", "maybe", "perhaps", "or so", "ish", "大概", "たぶん", "差不多", "くらい",
          "or", "to", "~", "〜", "到", "或"]
QUANTITIES = ["days", "hours", "mins", "%", "分钟", "日", "時間", "天", "个月"]
KEYWORDS = sorted(CARRIER_OPT_OUT | CARRIER_OPT_IN | OWN_OPT_IN | HELP_WORDS | opt_out.EN_STOP | opt_out.JA_STOP
                  | opt_out.ZH_STOP | {"R", "T", "r", "t", "TD"})
FILLERS = sorted(opt_out.EN_FILLER) + list(opt_out.JA_FILLER + opt_out.ZH_FILLER)
PHRASES = list(opt_out.EN_PHRASES + opt_out.JA_PHRASES + opt_out.ZH_PHRASES)
COMMENTS = ["great service", "the agent stopped by", "stopwatch", "一番", "とても親切でした", "服务很好", "理赔太慢了",
            "payout took 2 days", "=HYPERLINK(\"https://example.com\")", "<b>ok</b>", "'; DROP TABLE", "\\u0000"]
PUNCTUATION = list(_SEPARATORS) + ["「", "」", "【", "】", "…", "...", "!!!", "？？", "。。", "(", "）"]
PIECES = st.sampled_from(NUMBERS + SCALE_WORDS + LEAD_INS + HEDGES + QUANTITIES + KEYWORDS + FILLERS + PHRASES
                         + COMMENTS + PUNCTUATION + list(NOISE))
JOINERS = st.sampled_from(["", " ", "  ", "\n", ", ", "、", "　", "\t"])


@st.composite
def vocabulary_replies(draw: st.DrawFn) -> str:
    """Up to eight pieces of reply vocabulary, joined, then perhaps widened and recased."""
    text = draw(JOINERS).join(draw(st.lists(PIECES, min_size=1, max_size=8)))
    if draw(st.booleans()):
        text = draw(widened(text))
    if draw(st.booleans()):
        text = draw(recased(text))
    return text


# Arbitrary Unicode (controls, unassigned code points, every script), numbers of every script,
# the vocabulary, long runs of both (up to ~30,000 characters) and numbers of thousands of digits.
REPLIES = st.one_of(
    st.text(),
    st.text(st.characters(categories=["Nd", "Nl", "No", "Zs", "Cc", "Cf", "Mn"]), max_size=30),
    vocabulary_replies(),
    long_runs(PIECES),
    long_numbers(PIECES),
    long_runs(st.text(max_size=5), max_repeats=2000),
)


@fuzz("replies", share=0.6)
@given(REPLIES, LANGUAGES)
# Found by fuzzing: a number past the 4,300 digits int() reads, next to full marks, raised ValueError.
@example("满分" + "0" * 4301, None)
@example("1" * 4301 + "分满分", None)
@example("满分，" + "0" * 4400 + "10分", None)
def test_any_reply_reads_as_one_thing_on_every_scale_the_score_within_it_and_the_same_each_time(text, language):
    for scale in Scale:
        reading = read_reply(text, language, scale)
        assert reading.kind in KINDS
        if reading.kind in SCORE_KINDS:
            assert reading.score is not None and in_scale(scale, reading.score), (text, scale, reading)
            assert (reading.kind == "score_and_comment") == bool(reading.comment)
        else:
            assert reading.score is None and reading.comment is None
        assert (reading.keyword is not None) == (reading.kind in ("opt_out", "opt_in", "help"))
        score = read_score(text, scale)
        assert score is None or in_scale(scale, score.score), (text, scale, score)
        # Deterministic: the same text (another copy of it) reads the same again.
        assert read_reply("".join(list(text)), language, scale) == reading
        assert read_score(text, scale) == score


EXACT_KEYWORDS = sorted([(w, "stop") for w in CARRIER_OPT_OUT] + [(w, "start") for w in CARRIER_OPT_IN | OWN_OPT_IN]
                        + [(w, "help") for w in HELP_WORDS])
SURROUNDINGS = st.text(st.sampled_from(_SEPARATORS + "\u3000"), max_size=4)


@fuzz("replies", share=0.2)
@given(st.sampled_from(EXACT_KEYWORDS), st.data(), SURROUNDINGS, SURROUNDINGS, LANGUAGES)
def test_a_keyword_reads_in_any_case_and_width_with_separators_around_it(keyword, data, before, after, language):
    word, kind = keyword
    written = data.draw(widened(data.draw(recased(word))))
    text = before + written + after
    found = read_keyword(text, language)
    assert found is not None and found.kind == kind, text
    assert found.language == ("ja" if word in {"再開", "開始", "開始配信", "ヘルプ"}
                              else "zh" if word in {"订阅", "帮助", "幫助"} else "en")
    # Twilio answers its own words only when it sees them exactly: in ASCII, any case, only blanks around.
    twilio_sees_it = word in CARRIER_OPT_OUT | CARRIER_OPT_IN and written.isascii() and all(
        c.isspace() for c in before + after)
    assert found.carrier_answers == twilio_sees_it, text
    # The whole reply is that keyword, whatever else the modules could read in it.
    assert read_reply(text, language).kind == {"stop": "opt_out", "start": "opt_in", "help": "help"}[kind]


@fuzz("replies", share=0.2)
@given(vocabulary_replies(), st.data(), LANGUAGES, st.sampled_from(list(Scale)))
def test_a_reply_reads_the_same_in_any_case_and_width(text, data, language, scale):
    variant = data.draw(widened(data.draw(recased(text))))
    original, changed = read_reply(text, language, scale), read_reply(variant, language, scale)
    assert (changed.kind, changed.score) == (original.kind, original.score), (text, variant)
    assert (changed.comment or "").casefold() == (original.comment or "").casefold(), (text, variant)
    if original.keyword is not None and changed.keyword is not None:
        assert changed.keyword.language == original.keyword.language
