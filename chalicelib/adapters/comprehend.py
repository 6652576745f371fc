"""Amazon Comprehend as koe's CommentAnalyser (AWS): DetectSentiment and DetectKeyPhrases, one
call each per comment, in the comment's language (ja, zh, zh-TW, en: all supported by both).

- The text is cut to DetectSentiment's limit (5,000 bytes of UTF-8) on a character boundary; both
  calls read the same text.
- The score is Positive minus Negative of SentimentScore (-1..1); the sentiment is Comprehend's own
  (MIXED included).
- Key phrases: the most confident first, normalised and de-duplicated, at most KEY_PHRASES.
- Errors: throttling (ThrottlingException, TooManyRequestsException), 5xx and network faults are
  AnalyserUnavailable (retried; the client's standard retry mode has already backed off); a text
  Comprehend refuses (UnsupportedLanguage, TextSizeLimitExceeded, InvalidRequest) is
  UnanalysableComment (dead-lettered). Anything else (credentials, access denied) is a deployment
  fault: AnalyserUnavailable too, so the comments wait in the queue for the fix, then in the DLQ.
The client comes from bootstrap (one place builds real clients); no text is ever logged.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.comment_insight import KEY_PHRASES, LANGUAGES, Insight, Sentiment, top_phrases
from chalicelib.errors import AnalyserUnavailable, UnanalysableComment

MAX_TEXT_BYTES = 5000
REFUSED = frozenset({"UnsupportedLanguageException", "TextSizeLimitExceededException", "InvalidRequestException"})


class ComprehendAnalyser:
    def __init__(self, client: Any, max_phrases: int = KEY_PHRASES) -> None:
        self._comprehend = client
        self._max_phrases = max_phrases

    def analyse(self, text: str, language: str) -> Insight:
        if language not in LANGUAGES:
            raise UnanalysableComment(f"no Comprehend language for {language!r}")
        body = truncate(text, MAX_TEXT_BYTES)
        try:
            sentiment = self._comprehend.detect_sentiment(Text=body, LanguageCode=language)
            phrases = self._comprehend.detect_key_phrases(Text=body, LanguageCode=language)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in REFUSED:
                raise UnanalysableComment(f"comprehend {code}") from exc
            raise AnalyserUnavailable(f"comprehend {code or 'error'}") from exc
        except BotoCoreError as exc:
            raise AnalyserUnavailable(f"comprehend unreachable: {type(exc).__name__}") from exc
        scores = sentiment.get("SentimentScore", {})
        score = max(-1.0, min(1.0, float(scores.get("Positive", 0.0)) - float(scores.get("Negative", 0.0))))
        ranked = sorted(phrases.get("KeyPhrases", []), key=lambda p: -float(p.get("Score", 0.0)))
        return Insight(Sentiment(str(sentiment["Sentiment"]).lower()), round(score, 4),
                       top_phrases((str(p.get("Text", "")) for p in ranked), self._max_phrases))


def truncate(text: str, max_bytes: int) -> str:
    """At most `max_bytes` of UTF-8, cut between characters."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
