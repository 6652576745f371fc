"""Reading a customer's SMS reply: a keyword (STOP/START/HELP in en, ja, zh) or a 0-10 score.

Pure and total: every string maps to a keyword, a score or `None`; nothing raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# Twilio's default handling answers these itself and blocks further sends after a STOP word,
# so koe must not answer them a second time.
CARRIER_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
CARRIER_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "ヘルプ", "帮助", "幫助"})
# Words Twilio does not know: koe honours them and answers them itself.
OWN_OPT_OUT = frozenset({"停止", "配信停止", "ストップ", "解除", "退订", "TD", "T", "R", "拒收", "取消", "退訂"})
OWN_OPT_IN = frozenset({"再開", "開始", "订阅", "開始配信"})
OPT_OUT_PHRASES = (
    "STOP TEXTING", "STOP MESSAGING", "STOP SENDING", "STOP CONTACTING", "DON'T TEXT", "DO NOT TEXT",
    "UNSUBSCRIBE", "REMOVE ME", "OPT OUT", "配信停止", "送らないで", "退订", "不要再发",
)

KeywordKind = Literal["stop", "start", "help"]


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    carrier_answers: bool     # True when Twilio's own opt-out handling already replies
    language: str = "en"      # the language the customer used: answer in it when no survey says


_JA = frozenset({"停止", "配信停止", "ストップ", "解除", "再開", "開始", "開始配信", "ヘルプ", "送らないで"})
_ZH = frozenset({"退订", "退訂", "TD", "T", "R", "拒收", "取消", "订阅", "帮助", "幫助", "不要再发"})


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


def normalize(text: str) -> str:
    """NFKC folds full-width digits and letters ("９" -> "9", "ＳＴＯＰ" -> "STOP")."""
    return unicodedata.normalize("NFKC", text).strip()


def read_keyword(text: str) -> Keyword | None:
    clean = normalize(text)
    word = clean.strip(_SEPARATORS).upper()
    # Twilio matches its words exactly (trimmed, any case); "ＳＴＯＰ" or "stop!" reach koe unanswered.
    carrier_sees_it = text.strip().upper() == word
    if word in CARRIER_OPT_OUT:
        return Keyword("stop", carrier_answers=carrier_sees_it)
    if word in CARRIER_OPT_IN:
        return Keyword("start", carrier_answers=carrier_sees_it)
    if word in OWN_OPT_OUT:
        return Keyword("stop", carrier_answers=False, language=_language(word))
    if word in OWN_OPT_IN:
        return Keyword("start", carrier_answers=False, language=_language(word))
    if word in HELP_WORDS:
        return Keyword("help", carrier_answers=False, language=_language(word))
    upper = clean.upper()
    phrase = next((p for p in OPT_OUT_PHRASES if p in upper), None)
    if phrase:
        return Keyword("stop", carrier_answers=False, language=_language(phrase))
    return None


def _ends_number(match: re.Match[str], rest: str) -> bool:
    if match.re is _CJK:    # ideographs run together: 一番 is "best", not "1"
        return bool(match["unit"]) or rest[0] in _SEPARATORS
    return not rest[0].isalnum()


def read_score(text: str) -> ScoreReply | None:
    """A leading 0-10 score and what follows it as the comment: "9", "９", "10/10", "nine", "十",
    "9/10 quick payout". Anything else (11, 9.5, "about 8?") is None: the caller re-prompts."""
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
        comment = rest.strip(_SEPARATORS) or None
        return ScoreReply(value, comment)
    return None
