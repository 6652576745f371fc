"""Reading a reply on the survey's scale (domain/questions.py): CSAT 1-5 and CES 1-7 read the same
forms NPS 0-10 does (digits, full width, kanji, words, "x/N", "x out of N", units, full marks), a
number outside the scale or a score on another scale gets the re-prompt, and NPS is unchanged."""

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.conversation import next_turn
from chalicelib.domain.model import Step, Survey, SurveyStatus
from chalicelib.domain.questions import BOUNDS, Scale, scores
from chalicelib.domain.replies import Reading, read_reply, read_score
from chalicelib.domain.score_forms import SEPARATORS

WORDS = "zero one two three four five six seven eight nine ten".split()
KANJI = "零一二三四五六七八九十"
SCALES = list(Scale)


@pytest.mark.parametrize("text, score, comment", [
    ("4", 4, None), ("４", 4, None), ("四", 4, None), ("four", 4, None), ("Four!", 4, None), ("1", 1, None),
    ("5", 5, None), ("4/5", 4, None), ("５／５", 5, None), ("4 out of 5", 4, None), ("four out of five", 4, None),
    ("4点", 4, None), ("4点です。丁寧でした", 4, "丁寧でした"), ("四分吧", 4, None), ("我给4分", 4, None),
    ("I'd give it a 4", 4, None), ("4 - fast and friendly", 4, "fast and friendly"),
    ("满分", 5, None), ("満点です！", 5, None), ("5点満点中4点", 4, None), ("满分5分，我给4分", 4, None),
    ("4分（满分5分）", 4, None),
    # a five-point scale is a star rating: "4 stars" answers CSAT
    ("4 stars", 4, None), ("5 stars!", 5, None), ("4星", 4, None), ("五星", 5, None), ("4つ星です", 4, None),
])
def test_csat_reads_one_to_five_in_every_form(text, score, comment):
    reply = read_score(text, Scale.CSAT)
    assert reply is not None, text
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("text", [
    # outside 1-5: the re-prompt asks for 1 to 5 (a "9" meant on 0-10 is not guessed into 1-5)
    "0", "zero", "6", "9", "10", "十", "９", "nine", "9点です", "10/10",
    # another scale
    "9/10", "4/10", "4 out of 10", "10点満点中8点", "满分10分", "4分（满分10分）", "4/7",
    # a range, two candidates, a hedge
    "4-5", "4 or 5", "四或五", "4 5", "about 4", "4 maybe", "4くらい",
    # stars that say something else
    "五星好评",
])
def test_csat_refuses_what_is_not_plainly_one_1_5_score(text):
    assert read_score(text, Scale.CSAT) is None, read_score(text, Scale.CSAT)


@pytest.mark.parametrize("text, score", [
    ("6", 6), ("６", 6), ("六", 6), ("seven", 7), ("1", 1), ("6/7", 6), ("6 out of 7", 6), ("six out of seven", 6),
    ("7点満点中6点", 6), ("满分7分，我给6分", 6), ("满分", 7), ("5点です", 5), ("6分吧", 6),
])
def test_ces_reads_one_to_seven(text, score):
    reply = read_score(text, Scale.CES)
    assert reply is not None and reply.score == score, text


@pytest.mark.parametrize("text", ["0", "8", "9", "10", "八", "eight", "6/10", "4/5", "4 out of 5", "5 stars",
                                  "5星", "10点満点中6点", "满分10分", "6-7", "6 or 7", "about 6"])
def test_ces_refuses_what_is_not_plainly_one_1_7_score(text):
    assert read_score(text, Scale.CES) is None, read_score(text, Scale.CES)


@pytest.mark.parametrize("text, score", [("9", 9), ("0", 0), ("10/10", 10), ("满分", 10), ("十", 10)])
def test_nps_is_read_as_before_and_is_the_default(text, score):
    assert read_score(text, Scale.NPS) == read_score(text) and read_score(text).score == score


@pytest.mark.parametrize("text", ["5/5", "4 out of 5", "5 stars", "五星", "满分5分", "6/7"])
def test_nps_still_refuses_the_other_scales(text):
    assert read_score(text, Scale.NPS) is None


# --- NPS's edge cases hold on every scale --------------------------------------------------------

EDGE_CASES = [
    # a hedge, before or after
    "about {a}?", "maybe {a}", "{a} maybe", "{a}-ish", "{a} or so", "{a}くらい", "{a}点くらい", "大概{a}分",
    "たぶん{a}",
    # a range or two candidates
    "{a}-{b}", "{a}–{b}", "{a} or {b}", "{a} to {b}", "{a}~{b}", "{a}到{b}", "{a}点か{b}点", "{a} {b}", "{a}, {b}",
    # a quantity, or a number that runs on into a word
    "{a} days late", "{a}分钟", "{a}時間", "{a}0%", "{a}点半", "{a}x", "{a}.5", "one of the best", "zero issues",
    # a leading phrase with no score after it
    "I give up", "给个好评", "score was bad", "", "   ",
]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("form", EDGE_CASES)
def test_what_is_not_one_plain_score_gets_the_reprompt_on_every_scale(scale, form):
    text = form.format(a=3, b=4)                         # 3 and 4 are on every scale
    assert read_score(text, scale) is None, (scale, text)


# --- properties -----------------------------------------------------------------------------------

def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


@st.composite
def plain_scores(draw, low: int = 0, high: int = 10):
    """A number with a unit, an ending and perhaps a comment, in one of the three languages; the
    unit names no scale, so the number means the same on every scale."""
    score = draw(st.integers(low, high))
    language = draw(st.sampled_from(["ja", "zh", "en"]))
    numerals = {"ja": [str(score), full_width(str(score)), KANJI[score]],
                "zh": [str(score), full_width(str(score)), KANJI[score]],
                "en": [str(score), full_width(str(score)), WORDS[score], WORDS[score].title()]}[language]
    units = {"ja": ["", "点", "てん"], "zh": ["", "分", "点"], "en": ["", " points"]}[language]
    endings = {"ja": ["", "です", "でした"], "zh": ["", "吧", "啦"], "en": ["", "!"]}[language]
    comments = {"ja": ["とても親切でした", "待ち時間が長かった"], "zh": ["服务很好", "等待时间太长"],
                "en": ["great service", "took too long"]}[language]
    separator = {"ja": "。", "zh": "，", "en": ", "}[language]
    text = "".join(draw(st.sampled_from(choices)) for choices in (numerals, units, endings))
    comment = draw(st.one_of(st.none(), st.sampled_from(comments)))
    return (text + separator + comment if comment else text), score, comment


@given(plain_scores(), st.sampled_from(SCALES))
def test_a_plain_number_means_the_same_on_every_scale_and_only_the_bounds_differ(form, scale):
    text, score, comment = form
    low, high = BOUNDS[scale]
    reading = read_reply(text, None, scale)
    if low <= score <= high:
        assert reading == (Reading("score_and_comment", score, comment) if comment else Reading("score", score))
    else:
        assert reading == Reading("unreadable"), (text, scale)


@given(st.sampled_from([Scale.CSAT, Scale.CES]), st.data())
def test_x_out_of_the_scales_top_reads_and_out_of_any_other_top_never_does(scale, data):
    low, high = BOUNDS[scale]
    score = data.draw(st.integers(low, high))
    top = data.draw(st.sampled_from([str(high), WORDS[high]]))
    joiner = data.draw(st.sampled_from(["/", " / ", " out of ", " of "]))
    reply = read_score(f"{score}{joiner}{top}", scale)
    assert reply is not None and reply.score == score
    other = data.draw(st.integers(1, 100).filter(lambda n: n != high))
    assert read_score(f"{score}{joiner}{other}", scale) is None


@given(st.sampled_from([Scale.CSAT, Scale.CES]), st.data())
def test_full_marks_are_the_scales_top_and_full_marks_of_another_scale_are_no_score(scale, data):
    low, high = BOUNDS[scale]
    score = data.draw(st.integers(low, high))
    assert read_score(f"{high}点満点中{score}点", scale).score == score
    assert read_score(f"满分{high}分，我给{score}分", scale).score == score
    assert read_score(data.draw(st.sampled_from(["满分", "滿分", "満点"])), scale).score == high
    other = data.draw(st.integers(1, 100).filter(lambda n: n != high))
    assert read_score(f"{other}点満点中{score}点", scale) is None


def said(score: int, clean: str, scale: Scale) -> bool:
    """The reply names this score somewhere (or full marks, for the scale's top): nothing is invented."""
    names = [str(score), WORDS[score], KANJI[score], "两" if score == 2 else "", "〇" if score == 0 else ""]
    names += ["满分", "滿分", "満点"] if score == BOUNDS[scale][1] else []
    return any(name and name in clean.lower() for name in names)


TOKENS = [*map(str, range(13)), "100", "9.5", *KANJI, "两", *WORDS, "点", "分", "/", "/5", "/7", "/10", "out of",
          "five", "seven", "stars", "星", "满分", "満点", "中", "です", "吧", "。", "，", "!", "-", "or", "到", "maybe",
          "I'd give it a", "给", " ", "服务很好"]


@given(st.lists(st.sampled_from(TOKENS), max_size=7), st.sampled_from(["", " "]), st.sampled_from(SCALES))
def test_any_mixture_reads_once_on_the_scale_and_invents_nothing(tokens, joiner, scale):
    text = joiner.join(tokens)
    reading = read_reply(text, None, scale)
    if reading.score is not None:
        assert reading.score in scores(scale), (text, scale, reading)
        assert said(reading.score, unicodedata.normalize("NFKC", text), scale), (text, reading)
        assert reading.comment is None or reading.comment == reading.comment.strip(SEPARATORS)


@given(st.text(), st.sampled_from(SCALES))
def test_any_text_reads_as_a_score_on_the_scale_or_nothing(text, scale):
    reply = read_score(text, scale)
    assert reply is None or reply.score in scores(scale)


# --- the conversation asks on the survey's scale ------------------------------------------------------

NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
SURVEY = Survey(survey_id="ev-1", procedure="claim_payment", customer_id="C-1", contact_key="k",
                locale="en", channel="sms_two_way", channel_reason="two_way_sms_supported:US",
                status=SurveyStatus.SENT, created_at=NOW, completed_at=NOW, phone="+15550100123",
                scale="csat", definition_version=2)


@pytest.mark.parametrize("scale, inside, outside", [("csat", "4", "9"), ("ces", "6", "8"), ("nps", "9", "11")])
def test_a_score_on_the_surveys_scale_asks_why_and_one_outside_it_is_reprompted(scale, inside, outside):
    survey = replace(SURVEY, scale=scale)
    turn = next_turn(survey, inside)
    assert (turn.reply, turn.step, turn.score) == ("why", Step.AWAIT_COMMENT, int(inside))
    first = next_turn(survey, outside)
    assert (first.reply, first.reprompts, first.recorded) == ("reprompt", 1, ())
    second = next_turn(replace(survey, reprompts=1), outside)
    assert (second.status, second.unread_text) == (SurveyStatus.UNREADABLE, outside)


def test_a_csat_score_with_a_comment_ends_the_conversation():
    turn = next_turn(SURVEY, "2 - nobody called me back")
    assert (turn.reply, turn.status, turn.score) == ("thanks", SurveyStatus.ANSWERED, 2)
    assert [(r.question, r.score, r.text) for r in turn.recorded] == [
        ("score", 2, "2 - nobody called me back"), ("comment", 2, "nobody called me back")]


def test_a_survey_stored_before_definitions_is_read_on_nps():
    assert next_turn(replace(SURVEY, scale=""), "9").score == 9


# --- the scale's own end labels: what the question shows the customer -----------------------------

@pytest.mark.parametrize("scale, text, score, comment", [
    (Scale.CES, "strongly agree", 7, None), (Scale.CES, "Strongly agree!", 7, None),
    (Scale.CES, "I strongly agree", 7, None), (Scale.CES, "strongly disagree", 1, None),
    (Scale.CES, "Strongly disagree - took weeks", 1, "took weeks"),
    (Scale.CES, "非常同意", 7, None), (Scale.CES, "非常不同意", 1, None), (Scale.CES, "非常同意，很方便", 7, "很方便"),
    (Scale.CES, "そう思う", 7, None), (Scale.CES, "とてもそう思う", 7, None), (Scale.CES, "そう思わない", 1, None),
    (Scale.CES, "まったくそう思わない", 1, None), (Scale.CES, "とてもそう思います", 7, None),
    (Scale.CSAT, "very satisfied", 5, None), (Scale.CSAT, "Very dissatisfied.", 1, None),
    (Scale.CSAT, "非常满意", 5, None), (Scale.CSAT, "很不满意", 1, None), (Scale.CSAT, "満足です", 5, None),
    (Scale.CSAT, "不満です。遅い", 1, "遅い"),
])
def test_the_labels_of_the_scale_s_ends_are_its_ends(scale, text, score, comment):
    reply = read_score(text, scale)
    assert reply is not None, text
    assert (reply.score, reply.comment) == (score, comment)


@pytest.mark.parametrize("scale, text", [
    (Scale.CES, "agree"), (Scale.CES, "somewhat agree"), (Scale.CES, "not strongly agree"),
    (Scale.CES, "strongly agreed that it was slow"), (Scale.CES, "very satisfied"), (Scale.CSAT, "strongly agree"),
    (Scale.NPS, "strongly agree"), (Scale.NPS, "very satisfied"), (Scale.CSAT, "満足できませんでした"),
    (Scale.CSAT, "不満はないです"), (Scale.CES, "そう思うけど遅い"), (Scale.CSAT, "very satisfied or 4"),
])
def test_a_label_is_read_only_whole_and_only_on_its_own_scale(scale, text):
    assert read_score(text, scale) is None, read_score(text, scale)
