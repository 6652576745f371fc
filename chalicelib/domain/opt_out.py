"""Whether a message means "stop contacting me", in English, Japanese or Chinese.

Not a list of exact strings: a message is an opt-out when, once the words that only carry
politeness or repeat the obvious ("please", "thanks", "texts", "ください", "了", "短信" ...) are set
aside, what remains is nothing but stop words ("stop", "unsubscribe", "やめて", "配信停止", "不要",
"别再发") — or when it contains a phrase that asks not to be contacted ("stop texting", "no more
messages", "送らないで", "别再发"). A message with any other content word is something else: "9 — the
agent couldn't stop smiling" is a score with a comment, "the agent stopped by" is a comment.

Pure; the caller passes the conversation's language, because some conventions belong to one
language only: a lone "R" or "T" opts out on Chinese networks and means nothing in English.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORDS = 12     # a longer message is a comment, unless it carries an explicit phrase

# --- English: words of a stop request, and words that only dress it up
EN_STOP = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
                     "unsub", "halt",
                     "td"})       # Chinese networks' "退订" in letters: unambiguous in any language
EN_FILLER = frozenset({
    "please", "pls", "plz", "kindly", "thanks", "thank", "you", "thx", "ty", "ok", "okay", "now",
    "just", "it", "all", "this", "that", "these", "those", "me", "texting", "texts", "text", "messages",
    "message", "messaging", "sms", "sending", "surveys", "survey", "the", "them", "any", "sorry",
    "asap", "immediately", "already", "again", "right", "away", "for", "good", "forever",
})
EN_PHRASES = (
    "stop texting", "stop messaging", "stop sending", "stop contacting", "stop the texts",
    "stop the messages", "stop these", "don't text", "dont text", "do not text", "don't message",
    "do not message", "don't contact", "dont contact", "do not contact", "no more texts",
    "no more text", "no more messages", "no more sms", "no more surveys", "remove me",
    "opt me out", "opt out", "opt-out", "unsubscribe", "leave me alone", "take me off",
)

# --- Japanese and Chinese: stop words and fillers, matched as substrings (no spaces between words)
JA_STOP = frozenset({"停止", "配信停止", "送信停止", "ストップ", "すとっぷ", "解除", "配信解除", "やめて", "止めて",
                     "やめろ", "いらない", "要らない", "不要", "配信不要", "結構", "拒否", "送らないで", "迷惑"})
JA_FILLER = ("お願いします", "おねがいします", "お願い", "ください", "下さい", "くださ", "して", "です", "ます",
             "もう", "本当に", "ほんとに", "メッセージ", "ショートメール", "sms", "アンケート", "は", "を", "ね", "よ")
JA_PHRASES = ("送らないで", "配信停止", "配信を停止", "送信しないで", "連絡しないで", "メッセージはいらない")
ZH_STOP = frozenset({"退订", "退訂", "取消订阅", "取消訂閱", "取消", "拒收", "不要", "别发", "別發", "别再发", "別再發",
                     "不要再发", "停止", "不用", "不需要", "停"})
ZH_FILLER = ("谢谢", "謝謝", "麻烦", "麻煩", "以后", "以後", "给我", "給我", "短信", "信息", "消息", "问卷", "問卷",
             "请", "請", "了", "吧", "啦", "呀", "我", "再", "都", "发", "發")
ZH_PHRASES = ("别再发", "別再發", "不要再发", "不要再發", "别发了", "不要发", "退订", "退訂",
              "取消订阅", "取消訂閱")     # "cancel the subscription"
ZH_ONLY_LETTERS = frozenset({"r", "t"})        # Chinese carriers' one-letter opt-outs

_KANA = re.compile(r"[\u3040-\u30ff]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_PUNCTUATION = re.compile(r"[\s\W_]+")


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits fold to ASCII), case-folded, ' for ’."""
    return unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").strip()


def is_opt_out(text: str, conversation_language: str | None = None) -> bool:
    clean = normalize(text)
    if not clean:
        return False
    if any(phrase in clean for phrase in EN_PHRASES + JA_PHRASES + ZH_PHRASES):
        return True
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", clean)
    stop_words = EN_STOP | ZH_ONLY_LETTERS if conversation_language == "zh" else EN_STOP
    if _CJK.search(clean):
        return _only_cjk_stop_words(clean, words, stop_words)
    return 0 < len(words) <= MAX_WORDS and any(w in stop_words for w in words) and all(
        w in stop_words or w in EN_FILLER for w in words)


def _only_cjk_stop_words(clean: str, latin_words: list[str], latin_stops: frozenset[str]) -> bool:
    """What is left of a CJK message without its fillers, punctuation and digits is stop words only."""
    if any(w not in latin_stops and w not in EN_FILLER for w in latin_words):
        return False
    rest = _PUNCTUATION.sub("", re.sub(r"[a-z]+", lambda m: "" if m[0] in EN_FILLER else m[0], clean))
    rest = re.sub(r"\d+", "", rest)
    stops = sorted(JA_STOP | ZH_STOP | latin_stops, key=len, reverse=True)
    fillers = sorted(JA_FILLER + ZH_FILLER, key=len, reverse=True)
    found_stop = False
    while rest:
        stop = next((s for s in stops if rest.startswith(s)), None)
        if stop is not None:
            rest, found_stop = rest[len(stop):], True
            continue
        filler = next((f for f in fillers if rest.startswith(f)), None)
        if filler is None:
            return False          # a content word: this message says something else
        rest = rest[len(filler):]
    return found_stop


def language_of(text: str, conversation_language: str | None = None) -> str:
    """The language a stop request was written in: kana is Japanese, other ideographs Chinese
    unless the words are the Japanese ones, Latin letters English -- except a lone T or R in a
    Chinese conversation, which is Chinese networks' opt-out (answered in Chinese)."""
    clean = normalize(text)
    if conversation_language == "zh" and clean.strip(" .!") in ZH_ONLY_LETTERS:
        return "zh"
    if _KANA.search(clean):
        return "ja"
    if _CJK.search(clean):
        return "ja" if any(w in clean for w in ("停止", "解除", "拒否", "迷惑", "結構")) else "zh"
    if clean.strip(" .!") in ("td",):
        return "zh"
    return "en"
