"""The email channel's templates: `templates/email/survey.html` (Jinja2, autoescaped) and
`survey.txt` (plain text, not escaped), with the words of `templates/email/<language>.toml`.

A message (`invitation`, `reminder`, `closing`) is a table of the language's words: the same two
templates render every message. A message with `survey = false` (the closing message) asks nothing:
no question, no score buttons, no survey link; every email keeps its footer (a message's own
`footer`, else [common]'s) and the unsubscribe link. HTML for mail clients: tables, inline styles, no images, no remote
assets (tests/unit/test_email_messages.py checks it).

The question and the labels of the scale's ends are the survey's scale's: NPS's in [questions] and
[common], another scale's in its own table ([csat], [ces]: `questions`, `scale_low`, `scale_high`);
a language without them cannot ask that scale (TemplateError, never NPS's words over 1-5 buttons).
{low} and {high}, the scale's ends, are filled in everywhere ("Tap a number from {low} to {high}").
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chalicelib.adapters.templates import TemplateError
from chalicelib.domain.questions import BOUNDS, Scale, scale_of
from chalicelib.services.ports import EmailContent, SurveyLinks

CHANNEL = "email"
HTML = "survey.html"
TEXT = "survey.txt"
SHARED = ("common", "questions", "procedures", *Scale)      # tables that are not messages
SCALE_WORDS = ("questions", "scale_low", "scale_high")


class JinjaEmails:
    def __init__(self, root: Path, brand: str):
        self._dir = root / CHANNEL
        self._brand = brand
        self._env = Environment(loader=FileSystemLoader(self._dir), undefined=StrictUndefined,
                                autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        self._words: dict[str, dict[str, Any]] = {}      # read once per warm Lambda

    def render(self, message: str, language: str, procedure: str, links: SurveyLinks,
               scale: str = Scale.NPS) -> EmailContent:
        asked = scale_of(scale)
        t = self._catalog(language, procedure, asked)
        if message in SHARED or not isinstance(t.get(message), dict):
            raise TemplateError(f"no {message!r} email in {CHANNEL}/{language}.toml")
        words = t[message]
        s = self._scale_words(t, asked, language)
        questions = s["questions"]
        values = {"t": t, "w": words, "s": s, "brand": self._brand, "links": links, "subject": words["subject"],
                  "question": questions.get(procedure) or questions.get("_default", ""),
                  "is_survey": bool(words.get("survey", True)),
                  "footer": words.get("footer") or t.get("common", {}).get("footer", "")}
        return EmailContent(subject=words["subject"],
                            html=self._env.get_template(HTML).render(values),
                            text=self._env.get_template(TEXT).render(values))

    @staticmethod
    def _scale_words(t: dict[str, Any], scale: Scale, language: str) -> dict[str, Any]:
        """The question per procedure and the end labels of `scale`."""
        table = {**t.get("common", {}), "questions": t.get("questions", {})} if scale is Scale.NPS else t.get(scale, {})
        missing = [key for key in SCALE_WORDS if key not in table]
        if missing:
            raise TemplateError(f"no {', '.join(missing)} for {scale.value} in {CHANNEL}/{language}.toml")
        return {key: table[key] for key in SCALE_WORDS}

    def _catalog(self, language: str, procedure: str, scale: Scale = Scale.NPS) -> dict[str, Any]:
        if language not in self._words:
            path = self._dir / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    self._words[language] = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no {CHANNEL} templates at {path}") from exc
        raw = self._words[language]
        procedures = raw.get("procedures", {})
        label = procedures.get(procedure) or procedures.get("_default", "")
        low, high = BOUNDS[scale]
        filled: dict[str, Any] = self._fill(raw, {"brand": self._brand, "procedure": label,
                                                  "low": str(low), "high": str(high)})
        return filled

    def _fill(self, value: Any, names: dict[str, str]) -> Any:
        """Every string with {brand}, {procedure}, {low} and {high} filled in, tables included."""
        if isinstance(value, dict):
            return {key: self._fill(item, names) for key, item in value.items()}
        if isinstance(value, str):
            return value.format(**names)
        return value
