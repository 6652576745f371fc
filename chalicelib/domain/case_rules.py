"""Which answers open a case, and how severe it is (KOE_CASE_RULES).

Four rules, each with a severity; a case takes the most severe rule that fired:
- **score**: at or below the escalation threshold in force when the customer answered
  (KOE_ESCALATION_THRESHOLD[_BY_PROCEDURE]);
- **keyword**: the comment names something the insurer must act on (解約, 苦情, complaint,
  "cancel my policy", 投诉, 退保 ...), whatever the score;
- **repeat**: the same customer was a detractor again within `repeat_days`;
- **sentiment** (off unless `sentiment_below` is set): the comment's sentiment score (-1..1, from the
  comment analyser, services/comment_insight.py) is at or below `sentiment_below`, whatever the score:
  a strongly negative comment on a passive score opens a case too.

Rules are configured per locale (keywords) and per procedure (any field):

    {"keywords": {"ja": ["解約", "苦情"], "zh": ["投诉", "退保"], "en": ["complaint", "cancel my policy"]},
     "score_severity": "normal", "keyword_severity": "high", "repeat_severity": "high", "repeat_days": 90,
     "sentiment_below": -0.6, "sentiment_severity": "high",
     "by_procedure": {"claim_payment": {"keyword_severity": "critical"}}}

Callback consent is read from the customer's own words: "please call me", 電話ください, 请给我回电
say yes; "don't call", 電話不要, 不要打电话 say no; anything else says nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.domain.cases import Severity, most_severe

DEFAULT_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "ja": ("解約", "苦情", "金融庁", "弁護士", "訴え"),
    "zh": ("投诉", "退保", "律师", "银保监", "起诉"),
    "en": ("complaint", "complain", "cancel my policy", "cancelling my policy", "canceling my policy",
           "lawyer", "ombudsman", "regulator"),
}


class InvalidCaseRules(ValueError):
    """KOE_CASE_RULES cannot be read; says which part."""


@dataclass(frozen=True)
class Rules:
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_KEYWORDS))
    score_severity: Severity = Severity.NORMAL
    keyword_severity: Severity = Severity.HIGH
    repeat_severity: Severity = Severity.HIGH
    repeat_days: int = 90
    sentiment_below: float | None = None      # None: the sentiment rule is off
    sentiment_severity: Severity = Severity.HIGH


@dataclass(frozen=True)
class CaseRules:
    default: Rules = Rules()
    by_procedure: Mapping[str, Rules] = field(default_factory=dict)

    def for_procedure(self, procedure: str) -> Rules:
        return self.by_procedure.get(procedure, self.default)


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    reasons: tuple[str, ...]         # score, keyword, repeat, sentiment: in that order


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def flagged_keywords(comment: str | None, locale: str, rules: Rules) -> tuple[str, ...]:
    """The configured keywords the comment contains (every locale's list: a Japanese customer may
    write in English). Latin keywords match whole words; CJK ones anywhere."""
    if not comment:
        return ()
    text = _fold(comment)
    found = []
    ordered = [locale] + [other for other in rules.keywords if other != locale]
    for language in ordered:
        for keyword in rules.keywords.get(language, ()):
            word = _fold(keyword)
            pattern = rf"(?<!\w){re.escape(word)}(?!\w)" if word.isascii() else re.escape(word)
            if re.search(pattern, text) and keyword not in found:
                found.append(keyword)
    return tuple(found)


def strongly_negative(sentiment: float | None, rules: Rules) -> bool:
    """Whether the sentiment rule fires for a comment's sentiment score (never when it is off)."""
    return rules.sentiment_below is not None and sentiment is not None and sentiment <= rules.sentiment_below


def assess(*, below_threshold: bool, comment: str | None, locale: str, repeat: bool, rules: Rules,
           sentiment: float | None = None) -> Verdict | None:
    """Whether the answers so far open a case, and with which severity; None: no case. `sentiment`
    is the comment's sentiment score once it has been analysed (None: not yet)."""
    fired: list[tuple[str, Severity]] = []
    if below_threshold:
        fired.append(("score", rules.score_severity))
    if flagged_keywords(comment, locale, rules):
        fired.append(("keyword", rules.keyword_severity))
    if repeat and below_threshold:
        fired.append(("repeat", rules.repeat_severity))
    if strongly_negative(sentiment, rules):
        fired.append(("sentiment", rules.sentiment_severity))
    if not fired:
        return None
    return Verdict(most_severe([severity for _, severity in fired]), tuple(reason for reason, _ in fired))


_CONSENT_NO = (
    r"(?:don'?t|do not|please don'?t|no need to|never) (?:call|phone|ring)", r"no (?:phone )?calls?\b",
    r"電話(?:は)?(?:不要|いりません|しないで|やめて|結構)", r"連絡(?:は)?(?:不要|いりません|しないで)",
    r"(?:不要|别|不用|请勿)(?:给我)?(?:打电话|来电|回电)",
)
_CONSENT_YES = (
    r"\b(?:please )?(?:call|phone|ring) me\b", r"\bcall (?:me )?back\b", r"\bgive me a call\b",
    r"電話(?:を)?(?:ください|下さい|して(?:ほしい|欲しい|ください)|お願い)",
    r"(?:ご)?連絡(?:を)?(?:ください|下さい|お願い|してほしい)",
    r"折り返し", r"(?:请|請)?(?:给我|給我)?(?:打电话|回电|來電|来电)", r"联系我",
)


def callback_consent(text: str | None) -> bool | None:
    """True when the customer asks to be called, False when they ask not to be, None otherwise
    (a refusal wins over a request in the same words: "don't call me" contains "call me")."""
    if not text:
        return None
    folded = _fold(text)
    if any(re.search(pattern, folded) for pattern in _CONSENT_NO):
        return False
    if any(re.search(pattern, folded) for pattern in _CONSENT_YES):
        return True
    return None


def parse(raw: Mapping[str, Any]) -> CaseRules:
    """KOE_CASE_RULES's JSON object; InvalidCaseRules naming the part otherwise."""
    def rules(entry: Mapping[str, Any], base: Rules, where: str) -> Rules:
        unknown = set(entry) - {"keywords", "score_severity", "keyword_severity", "repeat_severity",
                                "repeat_days", "sentiment_below", "sentiment_severity", "by_procedure"}
        if unknown:
            raise InvalidCaseRules(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for name in ("score_severity", "keyword_severity", "repeat_severity", "sentiment_severity"):
            if name in entry:
                try:
                    changes[name] = Severity(entry[name])
                except ValueError as exc:
                    raise InvalidCaseRules(f"{where}.{name} is one of normal, high, critical") from exc
        if "repeat_days" in entry:
            days = entry["repeat_days"]
            if not isinstance(days, int) or days < 0:
                raise InvalidCaseRules(f"{where}.repeat_days is a whole number of days (0: off)")
            changes["repeat_days"] = days
        if "sentiment_below" in entry:
            below = entry["sentiment_below"]
            if below is not None and (isinstance(below, bool) or not isinstance(below, int | float)
                                      or not -1 <= below <= 1):
                raise InvalidCaseRules(f"{where}.sentiment_below is a sentiment score from -1 to 1 (null: off)")
            changes["sentiment_below"] = None if below is None else float(below)
        if "keywords" in entry:
            words = entry["keywords"]
            if not isinstance(words, Mapping) or not all(
                    isinstance(v, list) and all(isinstance(w, str) and w.strip() for w in v) for v in words.values()):
                raise InvalidCaseRules(f'{where}.keywords maps a language to a list of words, e.g. {{"ja": ["解約"]}}')
            changes["keywords"] = {**base.keywords, **{str(k): tuple(v) for k, v in words.items()}}
        return replace(base, **changes)

    default = rules({k: v for k, v in raw.items() if k != "by_procedure"}, Rules(), "KOE_CASE_RULES")
    by_procedure = raw.get("by_procedure", {})
    if not isinstance(by_procedure, Mapping):
        raise InvalidCaseRules("KOE_CASE_RULES.by_procedure maps a procedure to its rules")
    return CaseRules(default, {str(name): rules(entry, default, f"by_procedure.{name}")
                               for name, entry in by_procedure.items()})
