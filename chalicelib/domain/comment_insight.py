"""What koe learns from a customer's comment, and how it is counted per group.

An analyser (services/ports.CommentAnalyser: Amazon Comprehend in AWS, an offline analyser in the
local stack) reads one comment in one language and returns an `Insight`: a sentiment, a score in
[-1, 1] (positive minus negative) and the key phrases. Everything else is decided here, without I/O:

- the language a comment is read in (`language_for`): the survey's, unless the text's script says
  otherwise (a Japanese customer who writes in English is read in English);
- what is read: a survey's comments as one text (`thread`: every comment the customer sent, oldest
  first, one per line), so a later comment never hides an earlier one from the analysis;
- the thread's version (`version_of`): when its latest comment was received. A comment added to the
  thread makes a new version, analysed again; the same version twice (a replayed message) is not;
- what is stored for a version (`CommentInsight`) and the groups it is counted in (`groups_of`):
  procedure, branch, agent, channel and locale, and procedure, agent, channel and locale within the
  branch (a branch manager reads their branch without reading the others), per day in the reporting
  time zone. As in the scores (domain/scoring.py), a comment without a value for a dimension (no
  agent: a web survey, a walk-in; no branch) is counted in that dimension's NO_VALUE group, never left
  out: every breakdown of a scope and period has the same sentiment total;
- how storing a version moves the group counters (`changes`): +1 to its sentiment and phrases in its
  groups, -1 from the version it replaces (a late comment is kept but not counted, as in the scores);
- one group-day's counters (`GroupTally`, `apply`): a count per sentiment and its top phrases in a
  bounded map (Space-Saving: at most PHRASES_KEPT phrases, so an item never grows with the number of
  comments; a phrase that enters a full map takes the count of the least-counted one it replaces, an
  upper bound of its own).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from chalicelib.domain.languages import DEFAULT_LANGUAGE
from chalicelib.domain.languages import LANGUAGES as KOE_LANGUAGES
from chalicelib.domain.model import Answer

# The dimensions also counted within the comment's branch are the scores' ("<dimension>|branch=<b>"),
# and so is the group of the comments without a value for a dimension (NO_VALUE: `YYYY-MM-DD#`).
from chalicelib.domain.scoring import NO_VALUE, WITHIN_BRANCH, within_branch


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    MIXED = "mixed"           # Comprehend's: both, strongly; the offline analysers never say it


# The languages comments are read in, as Comprehend codes them: koe's own (zh is simplified Chinese),
# and traditional Chinese, so that a comment from Taiwan or Hong Kong is read as what it is.
TRADITIONAL_CHINESE = "zh-TW"
LANGUAGES = (*KOE_LANGUAGES, TRADITIONAL_CHINESE)
KEY_PHRASES = 5               # kept per comment, most salient first
PHRASE_MAX_CHARS = 60
PHRASES_KEPT = 20             # per group and day (the bounded map)


@dataclass(frozen=True)
class Insight:
    """What an analyser says about one comment."""

    sentiment: Sentiment
    score: float                          # -1 (negative) .. 1 (positive)
    key_phrases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not -1.0 <= self.score <= 1.0:
            raise ValueError(f"a sentiment score is between -1 and 1, got {self.score}")


_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")


def _survey_language(locale: str) -> str:
    folded = locale.replace("_", "-").lower()
    if folded.startswith(_TRADITIONAL):
        return TRADITIONAL_CHINESE
    base = folded.partition("-")[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def language_for(text: str, locale: str) -> str:
    """The language to read `text` in: kana is Japanese; Han without kana is the survey's Chinese or
    Japanese (Chinese when the survey is neither); Latin letters alone are English; anything else
    (digits, emoji) is the survey's language."""
    survey = _survey_language(locale)
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return survey if survey in ("ja", "zh", "zh-TW") else "zh"
    if _LATIN.search(text):
        return "en"
    return survey


def thread(comments: Sequence[Answer]) -> Answer | None:
    """A survey's comments as one: its latest comment (time, lateness, survey context) with the words
    of every comment, oldest first, one per line; None when no comment has words in it."""
    said = sorted((c for c in comments if c.text and c.text.strip()), key=lambda c: c.received_at)
    if not said:
        return None
    return replace(said[-1], text="\n".join((c.text or "").strip() for c in said))


def version_of(comment: Answer) -> str:
    """A comment's version: when it was received (UTC, to the microsecond)."""
    return comment.received_at.astimezone(UTC).isoformat(timespec="microseconds")


def normalise_phrase(phrase: str) -> str:
    """How phrases are compared and counted: NFKC, case-folded, single spaces, at most
    PHRASE_MAX_CHARS characters ('' when nothing is left)."""
    folded = " ".join(unicodedata.normalize("NFKC", phrase).casefold().split())
    return folded[:PHRASE_MAX_CHARS].strip()


def top_phrases(phrases: Iterable[str], limit: int = KEY_PHRASES) -> tuple[str, ...]:
    """The first `limit` distinct phrases (normalised), in the order given (most salient first)."""
    kept: list[str] = []
    for phrase in phrases:
        normal = normalise_phrase(phrase)
        if normal and normal not in kept:
            kept.append(normal)
        if len(kept) == limit:
            break
    return tuple(kept)


# --- the queue message: which comment to analyse ---------------------------------------------------

class UnreadableRequest(ValueError):
    """A comment-insight queue message koe cannot read."""


@dataclass(frozen=True)
class InsightRequest:
    survey_id: str
    version: str

    def to_body(self) -> str:
        return json.dumps({"survey_id": self.survey_id, "version": self.version})


def read_request(body: str) -> InsightRequest:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise UnreadableRequest("not JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("survey_id"), str) or not value["survey_id"]:
        raise UnreadableRequest("survey_id (a string) is required")
    return InsightRequest(value["survey_id"], str(value.get("version", "")))


def requests_for(answers: Iterable[Answer]) -> list[InsightRequest]:
    """One request per comment with words in it (a survey's comment once per batch: its latest)."""
    found: dict[str, InsightRequest] = {}
    for answer in answers:
        if answer.question == "comment" and answer.text and answer.text.strip():
            found[answer.survey_id] = InsightRequest(answer.survey_id, version_of(answer))
    return list(found.values())


# --- what is stored per comment ---------------------------------------------------------------------

@dataclass(frozen=True)
class CommentInsight:
    survey_id: str
    version: str                          # version_of the comment analysed
    sentiment: Sentiment
    score: float
    key_phrases: tuple[str, ...]
    language: str
    received_at: datetime
    day: str                              # YYYY-MM-DD of received_at in the reporting time zone
    procedure: str
    branch: str | None
    agent_id: str | None
    channel: str
    locale: str
    survey_score: int | None              # the score the customer gave with it
    scale: str
    text: str                             # the comment: shown to the CX team, never logged
    phone_masked: str | None
    analysed_at: datetime
    counted: bool = True                  # in the group counters (a late comment is not)

    @classmethod
    def of(cls, comment: Answer, insight: Insight, language: str, tz: ZoneInfo, now: datetime) -> CommentInsight:
        return cls(
            survey_id=comment.survey_id, version=version_of(comment), sentiment=insight.sentiment,
            score=round(insight.score, 4), key_phrases=top_phrases(insight.key_phrases), language=language,
            received_at=comment.received_at, day=comment.received_at.astimezone(tz).date().isoformat(),
            procedure=comment.procedure, branch=comment.context.get("branch") or None,
            agent_id=comment.context.get("agent_id") or None, channel=comment.channel, locale=comment.locale,
            survey_score=comment.score, scale=comment.scale, text=comment.text or "",
            phone_masked=comment.phone_masked, analysed_at=now, counted=not comment.late)


@dataclass(frozen=True)
class InsightChange:
    """Store `new` where `previous` (None: nothing yet) is stored now."""

    previous: CommentInsight | None
    new: CommentInsight


# --- groups and their counters ---------------------------------------------------------------------

# dimension -> where its value comes from on an insight
GROUPS: dict[str, str] = {"procedure": "procedure", "branch": "branch", "agent": "agent_id",
                          "channel": "channel", "locale": "locale"}


@dataclass(frozen=True, order=True)
class GroupKey:
    dimension: str                        # a GROUPS key, or within_branch(dimension, branch)
    day: str
    value: str                            # NO_VALUE: the comments without one

    @property
    def sort_key(self) -> str:
        return f"{self.day}#{self.value}"


def groups_of(insight: CommentInsight) -> list[GroupKey]:
    """One group per dimension (NO_VALUE's where the comment has no value), and per dimension within
    the comment's branch when it has one (a comment of no branch is in no branch's scope)."""
    values = {dim: str(getattr(insight, source) or NO_VALUE) for dim, source in GROUPS.items()}
    keys = [GroupKey(dim, insight.day, value) for dim, value in values.items()]
    if insight.branch:
        keys += [GroupKey(within_branch(dim, insight.branch), insight.day, values[dim]) for dim in WITHIN_BRANCH]
    return keys


@dataclass(frozen=True)
class Delta:
    counts: Mapping[str, int] = field(default_factory=dict)      # sentiment -> change
    phrases: Mapping[str, int] = field(default_factory=dict)     # phrase -> change


def changes(batch: Sequence[InsightChange]) -> dict[GroupKey, Delta]:
    """The counter changes of storing every change of the batch: one Delta per group-day touched
    (none where a replacement leaves a group as it was)."""
    counts: dict[GroupKey, Counter[str]] = {}
    phrases: dict[GroupKey, Counter[str]] = {}

    def move(insight: CommentInsight | None, sign: int) -> None:
        if insight is None or not insight.counted:
            return
        for key in groups_of(insight):
            counts.setdefault(key, Counter())[insight.sentiment.value] += sign
            for phrase in set(insight.key_phrases):
                phrases.setdefault(key, Counter())[phrase] += sign

    for change in batch:
        move(change.previous, -1)
        move(change.new, +1)
    found = {}
    for key in sorted(counts):
        moved = {s: n for s, n in counts[key].items() if n}
        words = {p: n for p, n in phrases.get(key, Counter()).items() if n}
        if moved or words:
            found[key] = Delta(moved, words)
    return found


@dataclass(frozen=True)
class GroupTally:
    """One group's counters on one day. `version` is the stored item's (0: not stored yet): the store
    writes the next one only where it is still at this one."""

    key: GroupKey
    counts: Mapping[str, int] = field(default_factory=dict)
    phrases: Mapping[str, int] = field(default_factory=dict)
    version: int = 0

    @property
    def n(self) -> int:
        return sum(self.counts.values())


def apply(tally: GroupTally, delta: Delta, kept: int = PHRASES_KEPT) -> GroupTally:
    """The tally after `delta`, at the next version: counts never below 0, phrases bounded by `kept`
    (Space-Saving for a phrase that finds the map full)."""
    counts = {s.value: max(0, tally.counts.get(s.value, 0) + delta.counts.get(s.value, 0)) for s in Sentiment}
    phrases = dict(tally.phrases)
    for phrase, change in sorted(delta.phrases.items(), key=lambda kv: (kv[1], kv[0])):   # decrements first
        if change < 0:
            if phrase in phrases:
                phrases[phrase] += change
                if phrases[phrase] <= 0:
                    del phrases[phrase]
        elif phrase in phrases:
            phrases[phrase] += change
        elif len(phrases) < kept:
            phrases[phrase] = change
        else:
            least = min(phrases, key=lambda p: (phrases[p], p))
            phrases[phrase] = phrases.pop(least) + change
    return GroupTally(tally.key, {s: n for s, n in counts.items() if n}, phrases, tally.version + 1)


def chunks(batch: Sequence[InsightChange], max_items: int) -> list[list[InsightChange]]:
    """The batch split so that each write holds at most `max_items` items: one per insight plus one
    per group-day its changes touch."""
    found: list[list[InsightChange]] = []
    current: list[InsightChange] = []
    keys: set[GroupKey] = set()
    for change in batch:
        mine = set(changes([change]))
        if current and len(current) + 1 + len(keys | mine) > max_items:
            found.append(current)
            current, keys = [], set()
        current.append(change)
        keys |= mine
    if current:
        found.append(current)
    return found


@dataclass(frozen=True)
class GroupSummary:
    value: str
    counts: Mapping[str, int]
    phrases: tuple[tuple[str, int], ...]          # the top phrases, most counted first

    @property
    def n(self) -> int:
        return sum(self.counts.values())


def summarise(tallies: Iterable[GroupTally], top: int = 10) -> list[GroupSummary]:
    """Per value, over the days read: summed counts and the `top` phrases (most counted first, then
    by phrase), groups with the most comments first, the comments without a value (NO_VALUE) last."""
    counts: dict[str, Counter[str]] = {}
    phrases: dict[str, Counter[str]] = {}
    for tally in tallies:
        counts.setdefault(tally.key.value, Counter()).update(tally.counts)
        phrases.setdefault(tally.key.value, Counter()).update(tally.phrases)
    found = [GroupSummary(value, {s.value: counts[value].get(s.value, 0) for s in Sentiment},
                          tuple(sorted(phrases[value].items(), key=lambda kv: (-kv[1], kv[0]))[:top]))
             for value in counts]
    return sorted(found, key=lambda g: (g.value == NO_VALUE, -g.n, g.value))
