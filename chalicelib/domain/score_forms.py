"""The forms a score takes in an SMS reply, in English, Japanese and Chinese, on the survey's scale
(domain/questions.py: NPS 0-10, CSAT 1-5, CES 1-7).

A score is read only when nothing else could be meant: a leading number on the scale (digits, an
English word, one CJK numeral up to 十) with its unit, "out of <the scale's top>" ("9/10" on NPS,
"4/5" or "4 out of five" on CSAT, "6/7" on CES) and a polite ending, or full marks (满分, 満点: the
scale's top), perhaps after a phrase that only announces it ("I'd give it a", "我给", "点数は"); then
a comment after a separator. On CSAT, a five-point scale, "4 stars" ("4星", "4つ星") is a score too.
On CSAT and CES, the label of an end of the scale, as the question shows it, is that end:
"strongly agree" (7 on CES), "非常不同意" (1), "very satisfied" (5 on CSAT), "満足です" (domain/questions.py
END_LABELS); alone or before a separated comment, never inside a sentence ("strongly agreed that...").
A hedge ("about 8", "8 maybe"), a number outside the scale ("9" on CSAT, "0" on CES), another scale
("4/5" on NPS, "9/10" on CSAT), a range ("8-9"), two candidates ("7 8"), a quantity ("2 days") or a
number that runs on into a word ("9x", "一番", "9分钟") is not a score: the caller re-prompts, which
costs the customer one more text, where a wrong score would cost a wrong NPS or CSAT.

Pure and total on NFKC-normalised text: every string maps to a `ScoreReply` or `None`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.domain.questions import BOUNDS, END_LABELS, Scale


@dataclass(frozen=True)
class ScoreReply:
    score: int
    comment: str | None


_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_EN_WORDS = {w: i for i, w in enumerate(_WORDS)}
_KANJI = "零一二三四五六七八九十"
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9, "十": 10}
SEPARATORS = " \t\r\n,.;:!?-–—、。，：；！？/()（）「」『』【】~〜…"

# A number, wherever the rules look for one: it ends where the number ends (CJK has no spaces, no \b).
_NUMBER = (r"(?:\d+(?!\d)|(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)(?![a-z])"
           r"|[零〇一二三四五六七八九十两]+)")
_UNITS = r"点|分|てん|points?(?![a-z])|pts?(?![a-z])"
_UNIT = rf"(?:{_UNITS})"
_FULL_MARKS = r"(?:满分|滿分|満点)"
# Polite or softening endings are part of the score, not a comment: "9点です", "九分吧", "10点ですが、…".
_JA_ENDINGS = ("ですよね", "でしたね", "ですけど", "でしたけど", "でしたが", "ですね", "ですよ", "ですが",
               "だけど", "だった", "でした", "です", "だね", "だよ", "だ")
_ENDING = "|".join(_JA_ENDINGS + ("吧", "啦", "了", "哦", "呀"))

# Phrases that only announce the score. Hedges ("maybe", "about", "大概") are deliberately absent:
# an unsure score gets the re-prompt, as "about 8?" always has.
_LEAD_IN = re.compile(
    r"^(?:(?:i['’]?d|i would|i['’]?ll|i will|i)\s+(?:give|rate|score|say)"      # "I'd give it a 9"
    r"(?:\s+(?:it|you|you guys|them|this|the service))?(?:\s+an?)?"
    r"|(?:my\s+)?(?:score|rating)(?:\s+is|\s*[:=])?"                            # "score: 9"
    r"|我?(?:会|就)?(?:给|打)(?:你们|您|你)?打?个?"                                # "给9分", "我给你们打10分"
    r"|(?:评分|打分|分数|得分|点数は?|評価は?|スコアは?)\s*[:：]?"                  # "评分：9", "点数は9点"
    r"|(?:(?:it|that)['’]?s\s+)?an?(?=\s)"                                     # "a 10", "it's an 8"
    r")(?=\s|\d|[零〇一二三四五六七八九十两满滿満])\s*",
    re.IGNORECASE)
# Full marks first: "满分", "满分10分", "10分满分", "10点満点"; with 中/で ("10点満点中9点") the score follows.
_SCALE_FIRST = re.compile(
    rf"^(?:{_FULL_MARKS}(?:\s*(?P<a>{_NUMBER})\s*(?:分|点)?)?"
    rf"|(?P<b>{_NUMBER})\s*(?:分|点)\s*(?:{_FULL_MARKS}\s*(?P<of>中|で(?!す|し)|里)?|(?P<of2>中)))"
    rf"(?:\s*(?P<ending>{_ENDING}))?",
    re.IGNORECASE)

# After a score, full marks in brackets ("9 (满分10分)"): dropped when they name the survey's scale.
_SUFFIX_SCALE = (rf"\s*(?:[(（,，]\s*)?(?:{_FULL_MARKS}\s*(?P<a>{_NUMBER})\s*(?:分|点)?"
                 rf"|(?P<b>{_NUMBER})\s*(?:分|点)\s*{_FULL_MARKS})\s*[)）]?")
_OTHER_SCALE = re.compile(rf"^\s*(?:(?:/|⁄|out of|of|over)\s*{_NUMBER}|stars?\b|星)", re.IGNORECASE)
# "8 - 2 days late" is a score and a comment: a number with a unit of time after it is not a score.
_TIME_UNIT = (r"\s*(?:(?:days?|hours?|hrs?|minutes?|mins?|weeks?|months?|years?|yrs?)(?![a-z])"
              r"|日|時間|分钟|分鐘|天|周|週|ヶ月|か月|个月)")
_QUANTITY = re.compile(rf"^(?:{_TIME_UNIT}|\s*%)", re.IGNORECASE)
_RANGE = re.compile(rf"^\s*(?:-|–|—|~|〜|to|or|and|または|か|或者|或|到|至)\s*{_NUMBER}(?!{_TIME_UNIT})",
                    re.IGNORECASE)
_SECOND_NUMBER = re.compile(
    rf"^\s*(?:[,、，]\s*)?{_NUMBER}\s*{_UNIT}?\s*(?:{_ENDING})?\s*[.!?。！？]*\s*$", re.IGNORECASE)
_HEDGE_AFTER = re.compile(r"^[\s,.-]*(?:maybe|perhaps|probably|or so|ish)(?![a-z])", re.IGNORECASE)
_NOT_A_SCORE_AFTER = (_OTHER_SCALE, _QUANTITY, _RANGE, _SECOND_NUMBER, _HEDGE_AFTER)
# A number word needs punctuation before its comment: "nine, fast" is a score and a comment, "one of the
# best" and "zero issues" are not scores.
_WORD_RUNS_ON = re.compile(r"^\s+[^\W\d_]")
_STARTS_WITH_NUMBER = re.compile(_NUMBER, re.IGNORECASE)
_COMMA_LIKE = " \t\r\n,、，:：;；.。!！"
# A star rating is a five-point scale: "4 stars" answers CSAT (and is another scale anywhere else).
_STARS = r"|stars?(?![a-z])|つ星|星"
_STAR_SCALES = frozenset({Scale.CSAT})


@dataclass(frozen=True)
class _Forms:
    """The forms that depend on the scale: its bounds, how its top is named ("/10", "out of five")
    and the labels of its ends ("strongly agree"), if it has them."""

    low: int
    high: int
    head: re.Pattern[str]
    out_of_top: re.Pattern[str]
    label: re.Pattern[str] | None
    label_values: dict[str, int]          # case-folded label -> the end it names


@lru_cache(maxsize=len(Scale))
def _forms(scale: Scale) -> _Forms:
    low, high = BOUNDS[scale]
    top = f"{high}|{_WORDS[high]}"                     # "10|ten"
    unit = _UNITS + (_STARS if scale in _STAR_SCALES else "")
    head = re.compile(
        r"(?:(?P<n>\d{1,2}(?!\d|[.,]\d)|[a-z]+(?![a-z])|[零〇一二三四五六七八九十两]))"   # not 100, not 9.5
        rf"(?:\s*(?:/|⁄|out of|of|over)\s*(?P<of>{top}|{_KANJI[high]})(?![\d a-z]*\d)(?![a-z]))?"  # "/10"
        rf"(?:\s*(?P<unit>{unit}))?"
        rf"(?:\s*(?P<ending>{_ENDING}))?",
        re.IGNORECASE)
    # After a score: "out of 10" said again or in brackets ("9 (满分10分)") is dropped.
    out_of_top = re.compile(rf"^(?:\s*(?:/|out of|of|over)\s*(?:{top})(?![\d a-z]*\d)(?![a-z])|{_SUFFIX_SCALE})",
                            re.IGNORECASE)
    label_values = {label.casefold(): value for label, value in END_LABELS.get(scale, {}).items()}
    labels = "|".join(map(re.escape, sorted(label_values, key=len, reverse=True)))   # "非常不同意" before "非常同意"
    label = re.compile(rf"^(?:i\s+)?(?P<label>{labels})(?:\s*(?P<ending>{_ENDING}))?",
                       re.IGNORECASE) if labels else None
    return _Forms(low, high, head, out_of_top, label, label_values)


def read(clean: str, scale: Scale = Scale.NPS) -> ScoreReply | None:
    """The score on `scale` (and comment) in an NFKC-normalised, stripped reply, or None."""
    forms = _forms(scale)
    clean = _LEAD_IN.sub("", clean, count=1)
    scale_first = _SCALE_FIRST.match(clean)
    if scale_first:
        return _after_full_marks(scale_first, clean[scale_first.end():], forms)
    labelled = forms.label.match(clean) if forms.label else None
    if labelled:
        return _after_label(labelled, clean[labelled.end():], forms)
    return _leading_score(clean, forms)


def _value(numeral: str) -> int | None:
    if numeral.isdecimal():
        try:
            return int(numeral)
        except ValueError:       # over 4,300 digits (CPython's guard): no scale's number, and not a score
            return None
    return _EN_WORDS.get(numeral.lower(), _CJK_DIGITS.get(numeral))


def _is_top(match: re.Match[str], forms: _Forms, *groups: str) -> bool:
    """The scale a full-marks phrase names is the survey's (or it names none: full marks on it)."""
    return all(match[g] is None or _value(match[g]) == forms.high for g in groups)


def _leading_score(clean: str, forms: _Forms) -> ScoreReply | None:
    head = forms.head.match(clean)
    if head is None:
        return None
    value = _value(head["n"])
    rest = clean[head.end():]
    if value is None or not forms.low <= value <= forms.high or rest[:1].isalnum():
        return None          # "eleven", "9" on CSAT, "9x", "ninety", "一番", "9分钟", "十分満足"
    if head["n"] == "十" and head["unit"] == "分" and head["ending"] in _JA_ENDINGS:
        return None          # "十分です" is Japanese for "that's enough", not ten points
    scale = forms.out_of_top.match(rest)
    if scale:
        if not _is_top(scale, forms, "a", "b"):
            return None      # "4分（满分5分）" on NPS
        rest = rest[scale.end():]
    if any(rule.match(rest) for rule in _NOT_A_SCORE_AFTER):
        return None
    if head["n"].lower() in _EN_WORDS and head.end() == head.end("n") and _WORD_RUNS_ON.match(rest):
        return None          # "one of the best"; "ten out of ten would recommend" still reads
    return ScoreReply(value, rest.strip(SEPARATORS) or None)


def _after_label(match: re.Match[str], rest: str, forms: _Forms) -> ScoreReply | None:
    """An end's label, whole: "strongly agree", "strongly agree - quick"; not "strongly agreed"."""
    if rest[:1].isalnum() or any(rule.match(rest) for rule in _NOT_A_SCORE_AFTER):
        return None
    return ScoreReply(forms.label_values[match["label"].casefold()], rest.strip(SEPARATORS) or None)


def _after_full_marks(match: re.Match[str], rest: str, forms: _Forms) -> ScoreReply | None:
    """满分 alone is the scale's top (10 on NPS); "满分10分，我给9分" or "10点満点中9点" name the
    scale, then the score."""
    if not _is_top(match, forms, "a", "b"):
        return None          # "满分5分" or "100点満点" on NPS
    following = _LEAD_IN.sub("", rest.lstrip(_COMMA_LIKE), count=1)
    if match["of"] or match["of2"] or _STARTS_WITH_NUMBER.match(following):
        # The score follows the scale ("10点満点中9点", "满分10分，我给9分"), or it is no score at all
        # ("满分10分，9分或10分"): a number after full marks is never taken for a comment.
        return _leading_score(following, forms)
    if rest[:1].isalnum() or any(rule.match(rest) for rule in _NOT_A_SCORE_AFTER):
        return None          # "満点じゃない", "满分好评" (no separator: re-prompt), "满分 or 9", "满分/5"
    return ScoreReply(forms.high, rest.strip(SEPARATORS) or None)
