"""Reading a customer's SMS reply: a keyword (STOP/START/HELP in en, ja, zh) or a 0-10 score.

Pure and total: every string maps to a keyword, a score or `None`; nothing raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain import opt_out

# Twilio's default handling answers these itself and blocks further sends after a STOP word,
# so koe must not answer them a second time.
CARRIER_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
CARRIER_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "ヘルプ", "帮助", "幫助"})
# Opt-in words Twilio does not know: koe honours them and answers them itself. (Opt-outs in any
# wording are read by domain/opt_out.py.)
OWN_OPT_IN = frozenset({"再開", "開始", "订阅", "開始配信"})

KeywordKind = Literal["stop", "start", "help"]


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    carrier_answers: bool     # True when Twilio's own opt-out handling already replies
    language: str = "en"      # the language the customer used: answer in it when no survey says


_JA = frozenset({"再開", "開始", "開始配信", "ヘルプ"})
_ZH = frozenset({"订阅", "帮助", "幫助"})


def _language(word: str) -> str:
    return "ja" if word in _JA else "zh" if word in _ZH else "en"


@dataclass(frozen=True)
class ScoreReply:
    score: int
    comment: str | None


_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())}
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9, "十": 10}
_NUMERIC = re.compile(
    r"^(?P<n>\d{1,2})(?!\d|[.,]\d)"                       # 0-10, not the start of 100 or 9.5
    r"(?:\s*(?:/|out of|of)\s*10(?!\d))?"                 # "/10", "out of 10"
    r"(?:\s*(?:点|分|てん|points?\b|pts?\b))?"              # units
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_WORD = re.compile(r"^(?P<n>[a-z]+)\b(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_CJK = re.compile(r"^(?P<n>[零〇一二三四五六七八九十])(?:\s*(?P<unit>点|分|てん))?(?P<rest>.*)$", re.DOTALL)
_SEPARATORS = " \t\r\n,.;:!?-–—、。，：；！？/()（）"

# After a score: what makes it not a 0-10 answer. A number is digits, an English number word or
# CJK numerals; each ends where the number ends (CJK text has no spaces, so no \b).
_NUMBER = (r"(?:\d+(?!\d)|(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)(?![a-z])"
           r"|[零〇一二三四五六七八九十两]+)")
_OUT_OF_TEN = re.compile(r"^\s*(?:/|out of|of|over)\s*(?:10|ten)(?![\d a-z]*\d)(?![a-z])", re.IGNORECASE)
_OTHER_SCALE = re.compile(rf"^\s*(?:(?:/|out of|of|over)\s*{_NUMBER}|stars?\b|星)", re.IGNORECASE)
# "8 - 2 days late" is a score and a comment: a number with a unit of time after it is not a score.
_TIME_UNIT = r"\s*(?:days?|hours?|hrs?|minutes?|mins?|weeks?|months?|日|時間|分钟|天|周|週|ヶ月|か月|个月)"
_RANGE = re.compile(rf"^\s*(?:-|–|—|~|〜|to|or|and|または|か|或者|或|到|至)\s*{_NUMBER}(?!{_TIME_UNIT})",
                    re.IGNORECASE)
_SECOND_NUMBER = re.compile(rf"^\s*[,、，]?\s*{_NUMBER}\s*(?:点|分)?\s*[.!?。！？]*\s*$", re.IGNORECASE)


def normalize(text: str) -> str:
    """NFKC folds full-width digits and letters ("９" -> "9", "ＳＴＯＰ" -> "STOP")."""
    return unicodedata.normalize("NFKC", text).strip()


def read_keyword(text: str, conversation_language: str | None = None) -> Keyword | None:
    """STOP / START / HELP in any of the three languages; a stop request in natural wording too
    ("stop please", "no more texts", "やめて", "别再发了"). `conversation_language` is the open
    survey's language, if any: Chinese carrier conventions (a lone R or T) apply to zh only."""
    clean = normalize(text)
    word = clean.strip(_SEPARATORS).upper()
    # Twilio matches its words exactly (trimmed, any case); "ＳＴＯＰ" or "stop!" reach koe unanswered.
    carrier_sees_it = text.strip().upper() == word
    if word in CARRIER_OPT_OUT:
        return Keyword("stop", carrier_answers=carrier_sees_it)
    if word in CARRIER_OPT_IN:
        return Keyword("start", carrier_answers=carrier_sees_it)
    if word in OWN_OPT_IN:
        return Keyword("start", carrier_answers=False, language=_language(word))
    if word in HELP_WORDS:
        return Keyword("help", carrier_answers=False, language=_language(word))
    if opt_out.is_opt_out(text, conversation_language):
        return Keyword("stop", carrier_answers=False, language=opt_out.language_of(text))
    return None


def _ends_number(match: re.Match[str], rest: str) -> bool:
    if match.re is _CJK:    # ideographs run together: 一番 is "best", not "1"
        return bool(match["unit"]) or rest[0] in _SEPARATORS
    return not rest[0].isalnum()


def read_score(text: str) -> ScoreReply | None:
    """A leading 0-10 score and what follows it as the comment: "9", "９", "10/10", "nine", "十",
    "9/10 quick payout", "four out of ten". Anything else is None and the caller re-prompts: not a
    0-10 number (11, 9.5, "about 8?"), a score on another scale ("5/5", "4 out of 5", "5 stars"), a
    range ("8-9", "7 or 8", "8到9") or two candidate numbers ("7 8")."""
    clean = normalize(text)
    for pattern, value_of in ((_NUMERIC, int), (_WORD, _EN_WORDS.get), (_CJK, _CJK_DIGITS.get)):
        match = pattern.match(clean)
        if not match:
            continue
        value = value_of(match["n"].lower())
        if value is None or not 0 <= value <= 10:
            return None
        rest = match["rest"]
        if rest and not _ends_number(match, rest):
            return None      # "9x", "ninety", "一番": not a score followed by a comment
        rest = _OUT_OF_TEN.sub("", rest, count=1)
        if _OTHER_SCALE.match(rest) or _RANGE.match(rest) or _SECOND_NUMBER.match(rest):
            return None
        comment = rest.strip(_SEPARATORS) or None
        return ScoreReply(value, comment)
    return None
