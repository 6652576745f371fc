"""Text as customers and machines write it, for the fuzz tests: the width and case variants the
parsers promise to fold, and the noise that rides along (emoji, controls, invisible marks)."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

# Characters that change or hide meaning: zero-width and direction marks, a BOM, NUL, ESC, line and
# paragraph separators, a combining accent, ligatures and letters whose case maps to two letters,
# digits of other scripts and their compatibility forms (circled, bold, superscript, Roman).
NOISE = ("\u200b", "\u200d", "\u200e", "\u202e", "\ufeff", "\x00", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029",
         "\u0301", "\u3000", "\t", "\r\n", "ß", "ﬁ", "İ", "ǅ", "ſ", "K", "Ⅸ", "⑨", "⒐", "²", "٩", "९", "๙", "𝟗",
         "😀", "👍🏽", "👨\u200d👩\u200d👧", "🔟", "9\ufe0f\u20e3", "\U0001f1ef\U0001f1f5", "\ufffd", "\U000e0041")

_HALF_WIDTH_KANA = {unicodedata.normalize("NFKC", chr(c)): chr(c) for c in range(0xFF61, 0xFFA0)
                    if len(unicodedata.normalize("NFKC", chr(c))) == 1}
_HALF_WIDTH_MARKS = {"\u3099": "\uff9e", "\u309a": "\uff9f"}     # the voiced and semi-voiced marks


def full_width(text: str) -> str:
    """ASCII as the full-width forms a Japanese or Chinese keyboard types ("9" -> "９", " " -> "　")."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def half_width_kana(text: str) -> str:
    """Katakana as the half-width forms older phones send ("ヘルプ" -> "ﾍﾙﾌﾟ")."""
    out = []
    for c in text:
        base, *marks = unicodedata.normalize("NFD", c)
        if base in _HALF_WIDTH_KANA and all(m in _HALF_WIDTH_MARKS for m in marks):
            out.append(_HALF_WIDTH_KANA[base] + "".join(_HALF_WIDTH_MARKS[m] for m in marks))
        else:
            out.append(c)
    return "".join(out)


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    """The text with each ASCII letter in either case."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip and c.isascii() and c.isalpha() else c
                   for c, flip in zip(text, flips, strict=True))


@st.composite
def widened(draw: st.DrawFn, text: str) -> str:
    """The text with any of its characters full-width (ASCII) or half-width (katakana)."""
    picks = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(half_width_kana(full_width(c)) if pick else c for c, pick in zip(text, picks, strict=True))


def long_runs(pieces: st.SearchStrategy[str], max_repeats: int = 6000) -> st.SearchStrategy[str]:
    """A piece repeated up to `max_repeats` times, between up to two other pieces each side: texts of
    thousands of characters without asking Hypothesis to draw each character."""
    around = st.lists(pieces, max_size=2).map("".join)
    return st.tuples(around, pieces, st.integers(1, max_repeats), around).map(lambda t: t[0] + t[1] * t[2] + t[3])


def long_numbers(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A run of one digit (of any script), short or past the 4,300 digits int() refuses to read
    (CPython's guard against quadratic parsing), between pieces."""
    digits = st.characters(categories=["Nd"])
    length = st.one_of(st.integers(1, 40), st.integers(4000, 6000))
    around = st.lists(pieces, max_size=2).map("".join)
    return st.tuples(around, digits, length, around).map(lambda t: t[0] + t[1] * t[2] + t[3])
