"""The web survey's pages: `templates/web/page.html` (Jinja2, autoescaped) with the words of
`templates/web/<language>.toml` and the style of `templates/web/page.css`, inlined.

No scripts, no third-party assets (no web fonts, no CDN). The inline style is allowed by its
SHA-256 in the Content-Security-Policy, so the policy needs no 'unsafe-inline'.
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
from chalicelib.domain.web_survey import LANGUAGES, MAX_COMMENT, SCORES, Page, PageKind

CHANNEL = "web"
TEMPLATE = "page.html"
STYLE = "page.css"


class JinjaPages:
    def __init__(self, root: Path, brand: str):
        self._dir = root / CHANNEL
        self._brand = brand
        self._env = Environment(loader=FileSystemLoader(self._dir), autoescape=True,
                                undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        try:
            self._css = (self._dir / STYLE).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise TemplateError(f"no web page style at {self._dir / STYLE}") from exc
        digest = base64.b64encode(hashlib.sha256(self._css.encode("utf-8")).digest()).decode("ascii")
        self._csp = ("default-src 'none'; " f"style-src 'sha256-{digest}'; "
                     "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        self._words: dict[str, dict[str, Any]] = {}     # read once per warm Lambda

    @property
    def content_security_policy(self) -> str:
        return self._csp

    def render(self, page: Page) -> str:
        t = self._catalog(page.language)
        questions = t.get("questions", {})
        question = questions.get(page.procedure) or questions.get("_default", "")
        headings = {PageKind.FORM: t["page_title"], PageKind.THANKS: t["thanks_title"],
                    PageKind.CLOSED: t["closed_title"], PageKind.NOT_FOUND: t["not_found_title"],
                    PageKind.UNSUBSCRIBE: t["unsubscribe_title"], PageKind.UNSUBSCRIBED: t["unsubscribed_title"]}
        title = headings[page.kind] if page.kind is PageKind.FORM else f"{headings[page.kind]} | {self._brand}"
        return self._env.get_template(TEMPLATE).render(
            page=page, t=t, brand=self._brand, question=question, title=title,
            css=Markup(self._css), scores=SCORES, max_comment=MAX_COMMENT)

    def _catalog(self, language: str) -> dict[str, Any]:
        if language not in LANGUAGES:
            raise TemplateError(f"no web page in {language!r}")
        if language not in self._words:
            path = self._dir / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    raw = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no web page words at {path}") from exc
            self._words[language] = self._fill(raw)
        return self._words[language]

    def _fill(self, value: Any) -> Any:
        """Every string with {brand} and {max_comment} filled in, tables included."""
        if isinstance(value, dict):
            return {key: self._fill(item) for key, item in value.items()}
        if isinstance(value, str):
            return value.format(brand=self._brand, max_comment=f"{MAX_COMMENT:,}")
        return value
