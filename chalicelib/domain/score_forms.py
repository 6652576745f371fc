"""The forms a 0-10 score takes in an SMS reply, in English, Japanese and Chinese.

A score is read only when nothing else could be meant: a leading number 0-10 (digits, an English
word, one CJK numeral up to 十) with its unit, "out of 10" and a polite ending, or full marks (满分,
満点), perhaps after a phrase that only announces it ("I'd give it a", "我给", "点数は"); then a
comment after a separator. A hedge ("about 8", "8 maybe"), another scale ("4/5"), a
range ("8-9"), two candidates ("7 8"), a quantity ("2 days") or a number that runs on into a word
("9x", "一番", "9分钟") is not a score: the caller re-prompts, which costs the customer one more
text, where a wrong score would cost a wrong NPS.

Pure and total on NFKC-normalised text: every string maps to a `ScoreReply` or `None`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreReply:
    score: int
    comment: str | None


_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9, "十": 10}
SEPARATORS = " \t\r\n,.;:!?-–—、。，：；！？/()（）「」『』【】~〜…"

# A number, wherever the rules look for one: it ends where the number ends (CJK has no spaces, no \b).
_NUMBER = (r"(?:\d+(?!\d)|(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)(?![a-z])"
           r"|[零〇一二三四五六七八九十两]+)")
_UNIT = r"(?:点|分|てん|points?(?![a-z])|pts?(?![a-z]))"
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
    r")(?=\s|\d|[零〇一二三四五六七八九十两满滿満])\s*",
    re.IGNORECASE)
_HEAD = re.compile(
    r"(?:(?P<n>\d{1,2}(?!\d|[.,]\d)|[a-z]+(?![a-z])|[零〇一二三四五六七八九十两]))"   # not 100, not 9.5
    r"(?:\s*(?:/|⁄|out of|of|over)\s*(?P<of>10|ten|十)(?![\d a-z]*\d)(?![a-z]))?"    # "/10", "out of ten"
    rf"(?:\s*(?P<unit>{_UNIT}))?"
    rf"(?:\s*(?P<ending>{_ENDING}))?",
    re.IGNORECASE)
# Full marks first: "满分", "满分10分", "10分满分", "10点満点"; with 中/で ("10点満点中9点") the score follows.
_SCALE_FIRST = re.compile(
    rf"^(?:{_FULL_MARKS}(?:\s*(?P<a>{_NUMBER})\s*(?:分|点)?)?"
    rf"|(?P<b>{_NUMBER})\s*(?:分|点)\s*(?:{_FULL_MARKS}\s*(?P<of>中|で(?!す|し)|里)?|(?P<of2>中)))"
    rf"(?:\s*(?P<ending>{_ENDING}))?",
    re.IGNORECASE)

# After a score: "out of 10" said again or in brackets ("9 (满分10分)") is dropped; another scale is not a score.
_SUFFIX_SCALE = (rf"\s*(?:[(（,，]\s*)?(?:{_FULL_MARKS}\s*(?P<a>{_NUMBER})\s*(?:分|点)?"
                 rf"|(?P<b>{_NUMBER})\s*(?:分|点)\s*{_FULL_MARKS})\s*[)）]?")
_OUT_OF_TEN = re.compile(rf"^(?:\s*(?:/|out of|of|over)\s*(?:10|ten)(?![\d a-z]*\d)(?![a-z])|{_SUFFIX_SCALE})",
                         re.IGNORECASE)
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


def read(clean: str) -> ScoreReply | None:
    """The score (and comment) in an NFKC-normalised, stripped reply, or None."""
    clean = _LEAD_IN.sub("", clean, count=1)
    scale_first = _SCALE_FIRST.match(clean)
    if scale_first:
        return _after_full_marks(scale_first, clean[scale_first.end():])
    return _leading_score(clean)


def _value(numeral: str) -> int | None:
    if numeral.isdecimal():
        return int(numeral)
    return _EN_WORDS.get(numeral.lower(), _CJK_DIGITS.get(numeral))


def _is_ten(match: re.Match[str], *groups: str) -> bool:
    """The scale a full-marks phrase names is 10 (or it names none: full marks on koe's 0-10)."""
    return all(match[g] is None or _value(match[g]) == 10 for g in groups)


def _leading_score(clean: str) -> ScoreReply | None:
    head = _HEAD.match(clean)
    if head is None:
        return None
    value = _value(head["n"])
    rest = clean[head.end():]
    if value is None or value > 10 or rest[:1].isalnum():
        return None          # "eleven", "9x", "ninety", "一番", "9分钟", "十分満足"
    if head["n"] == "十" and head["unit"] == "分" and head["ending"] in _JA_ENDINGS:
        return None          # "十分です" is Japanese for "that's enough", not ten points
    scale = _OUT_OF_TEN.match(rest)
    if scale:
        if not _is_ten(scale, "a", "b"):
            return None      # "4分（满分5分）"
        rest = rest[scale.end():]
    if any(rule.match(rest) for rule in _NOT_A_SCORE_AFTER):
        return None
    if head["n"].lower() in _EN_WORDS and head.end() == head.end("n") and _WORD_RUNS_ON.match(rest):
        return None          # "one of the best"; "ten out of ten would recommend" still reads
    return ScoreReply(value, rest.strip(SEPARATORS) or None)


def _after_full_marks(match: re.Match[str], rest: str) -> ScoreReply | None:
    """满分 alone is 10; "满分10分，我给9分" or "10点満点中9点" name the scale, then the score."""
    if not _is_ten(match, "a", "b"):
        return None          # "满分5分", "100点満点"
    following = _LEAD_IN.sub("", rest.lstrip(_COMMA_LIKE), count=1)
    if match["of"] or match["of2"] or _STARTS_WITH_NUMBER.match(following):
        # The score follows the scale ("10点満点中9点", "满分10分，我给9分"), or it is no score at all
        # ("满分10分，9分或10分"): a number after full marks is never taken for a comment.
        return _leading_score(following)
    if rest[:1].isalnum() or any(rule.match(rest) for rule in _NOT_A_SCORE_AFTER):
        return None          # "満点じゃない", "满分好评" (no separator: re-prompt), "满分 or 9", "满分/5"
    return ScoreReply(10, rest.strip(SEPARATORS) or None)
