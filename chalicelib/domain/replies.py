"""Reading a customer's SMS reply: a keyword (STOP/START/HELP in en, ja, zh) or a score on the
survey's scale (NPS 0-10 unless told: domain/questions.py).

Pure and total: every string maps to a keyword, a score or `None` (`read_reply`: one `Reading`);
nothing raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain import opt_out, score_forms
from chalicelib.domain.questions import Scale
from chalicelib.domain.score_forms import ScoreReply

__all__ = ["Keyword", "Reading", "ScoreReply", "normalize", "read_keyword", "read_reply", "read_score"]

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


_SEPARATORS = " \t\r\n,.;:!?-–—、。，：；！？/()（）"   # may surround a keyword: "stop!", "(HELP)"


# A keycap emoji is a digit, an optional emoji presentation selector (U+FE0F) and the combining
# keycap (U+20E3): "9️⃣" is the digit 9 drawn in a box. 🔟 (U+1F51F) is ten in one character.
_KEYCAP = re.compile("([0-9])\ufe0f?\u20e3")
_KEYCAP_TEN = "\U0001f51f"


def normalize(text: str) -> str:
    """NFKC folds full-width digits and letters ("９" -> "9", "ＳＴＯＰ" -> "STOP"); keycap emoji
    are the digits they show ("9️⃣" -> "9", "🔟" -> "10"), leaving nothing behind for a comment."""
    folded = unicodedata.normalize("NFKC", text)
    return _KEYCAP.sub(r"\1", folded).replace(_KEYCAP_TEN, "10").strip()


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
        return Keyword("stop", carrier_answers=False,
                       language=opt_out.language_of(text, conversation_language))
    return None


def read_score(text: str, scale: Scale = Scale.NPS) -> ScoreReply | None:
    """A leading score on `scale` and what follows it as the comment. On NPS (0-10): "9", "９",
    "10/10", "nine", "十", "9/10 quick payout", "four out of ten", "9点です。とても親切でした", "九分吧",
    "满分", "10点満点中9点", "I'd give it a 9"; on CSAT (1-5) "4", "四", "4/5", "four out of five",
    "4 stars", "5点満点中4点", "满分" (5); on CES (1-7) "6", "6/7", "七". Anything else is None and
    the caller re-prompts: a number outside the scale (11 on NPS, 0 or 9 on CSAT, 9.5, "about
    8?"), a score on another scale ("5/5" or "5 stars" on NPS, "9/10" on CSAT), a range ("8-9",
    "7 or 8", "8到9") or two candidate numbers ("7 8"). The forms are in domain/score_forms.py."""
    return score_forms.read(normalize(text), scale)


ReadingKind = Literal["score", "score_and_comment", "opt_out", "opt_in", "help", "unreadable"]
_KEYWORD_READINGS: dict[KeywordKind, ReadingKind] = {"stop": "opt_out", "start": "opt_in", "help": "help"}


@dataclass(frozen=True)
class Reading:
    """What a whole reply says: exactly one kind, with the score, comment or keyword it carries."""
    kind: ReadingKind
    score: int | None = None
    comment: str | None = None
    keyword: Keyword | None = None


def read_reply(text: str, conversation_language: str | None = None, scale: Scale = Scale.NPS) -> Reading:
    """The keyword first (a stop request wins over anything else in the message), then the score
    on the survey's `scale`."""
    keyword = read_keyword(text, conversation_language)
    if keyword is not None:
        return Reading(_KEYWORD_READINGS[keyword.kind], keyword=keyword)
    score = read_score(text, scale)
    if score is None:
        return Reading("unreadable")
    if score.comment:
        return Reading("score_and_comment", score.score, score.comment)
    return Reading("score", score.score)
