"""The web survey's pages: `templates/web/page.html` (Jinja2, autoescaped) with the words of
`templates/web/<language>.toml` and the style of `templates/web/page.css`, inlined.

No scripts, no third-party assets (no web fonts, no CDN). The inline style is allowed by its
SHA-256 in the Content-Security-Policy, so the policy needs no 'unsafe-inline'.

The form asks on the survey's scale (`Page.scale`): its radio buttons (0-10, 1-5, 1-7), its question
and the labels of its ends, NPS's at the top of a language's words, another scale's in its own table
([csat], [ces]); a language without them cannot show that scale (TemplateError, never NPS's words
over five buttons). {low} and {high}, the scale's ends, are filled in everywhere (the error text).
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from chalicelib.adapters.templates import TemplateError
from chalicelib.domain.questions import BOUNDS, Scale, scores
from chalicelib.domain.web_survey import LANGUAGES, MAX_COMMENT, Page, PageKind

CHANNEL = "web"
TEMPLATE = "page.html"
STYLE = "page.css"
SCALE_WORDS = ("questions", "scale_low", "scale_high")


def page_environment(folder: Path) -> Environment:
    """Jinja2 for a folder of HTML pages: autoescaped, strict about missing names."""
    return Environment(loader=FileSystemLoader(folder), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def inline_style(path: Path, what: str) -> tuple[str, str]:
    """A page's stylesheet, inlined, and its CSP source (`'sha256-…'`): no 'unsafe-inline' needed."""
    try:
        css = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"no {what} style at {path}") from exc
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return css, f"'sha256-{digest}'"


class JinjaPages:
    def __init__(self, root: Path, brand: str):
        self._dir = root / CHANNEL
        self._brand = brand
        self._env = page_environment(self._dir)
        self._css, style_source = inline_style(self._dir / STYLE, "web page")
        self._csp = ("default-src 'none'; " f"style-src {style_source}; "
                     "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        self._words: dict[tuple[str, Scale], dict[str, Any]] = {}     # read once per warm Lambda

    @property
    def content_security_policy(self) -> str:
        return self._csp

    def render(self, page: Page) -> str:
        t = self._catalog(page.language, page.scale)
        s = self._scale_words(t, page)
        question = s["questions"].get(page.procedure) or s["questions"].get("_default", "")
        headings = {PageKind.FORM: t["page_title"], PageKind.THANKS: t["thanks_title"],
                    PageKind.CLOSED: t["closed_title"], PageKind.NOT_FOUND: t["not_found_title"],
                    PageKind.UNSUBSCRIBE: t["unsubscribe_title"], PageKind.UNSUBSCRIBED: t["unsubscribed_title"],
                    PageKind.ERROR: t["error_title"]}
        title = headings[page.kind] if page.kind is PageKind.FORM else f"{headings[page.kind]} | {self._brand}"
        return self._env.get_template(TEMPLATE).render(
            page=page, t=t, s=s, brand=self._brand, question=question, title=title,
            css=Markup(self._css), scores=scores(page.scale), max_comment=MAX_COMMENT)

    @staticmethod
    def _scale_words(t: dict[str, Any], page: Page) -> dict[str, Any]:
        """The question per procedure and the end labels of the page's scale."""
        table = t if page.scale is Scale.NPS else t.get(page.scale, {})
        missing = [key for key in SCALE_WORDS if key not in table]
        if missing:
            raise TemplateError(f"no {', '.join(missing)} for {page.scale.value} in {CHANNEL}/{page.language}.toml")
        return {key: table[key] for key in SCALE_WORDS}

    def _catalog(self, language: str, scale: Scale) -> dict[str, Any]:
        if language not in LANGUAGES:
            raise TemplateError(f"no web page in {language!r}")
        if (language, scale) not in self._words:
            path = self._dir / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    raw = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no web page words at {path}") from exc
            low, high = BOUNDS[scale]
            self._words[language, scale] = self._fill(raw, {"low": str(low), "high": str(high)})
        return self._words[language, scale]

    def _fill(self, value: Any, ends: dict[str, str]) -> Any:
        """Every string with {brand}, {max_comment}, {low} and {high} filled in, tables included."""
        if isinstance(value, dict):
            return {key: self._fill(item, ends) for key, item in value.items()}
        if isinstance(value, str):
            return value.format(brand=self._brand, max_comment=f"{MAX_COMMENT:,}", **ends)
        return value
