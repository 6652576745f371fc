"""The CX dashboard's pages: `templates/dashboard/<name>.html` (Jinja2, autoescaped) with the words of
`templates/dashboard/<language>.toml` and the style of `dashboard.css`, inlined (allowed by its
SHA-256 in the Content-Security-Policy).

Scripts are files the app serves itself (`/dashboard/assets/<name>`, `script-src 'self'`): the
charting library installed from npm (`templates/dashboard/package.json`, Chart.js, MIT) and
`dashboard.js`, which draws the charts from the page's data (a `<script type="application/json">`
block: data, not code). Nothing is loaded from another origin.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from chalicelib.adapters.pages import inline_style, page_environment
from chalicelib.adapters.templates import TemplateError
from chalicelib.domain.web_survey import LANGUAGES

FOLDER = "dashboard"
STYLE = "dashboard.css"
# What /dashboard/assets/<name> serves: name -> (path under templates/dashboard/, content type).
CHART_LIBRARY = "node_modules/chart.js/dist/chart.umd.min.js"
ASSETS: Mapping[str, tuple[str, str]] = {
    "chart.umd.min.js": (CHART_LIBRARY, "text/javascript; charset=utf-8"),
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
}


class JinjaDashboard:
    def __init__(self, root: Path, brand: str):
        self._dir = root / FOLDER
        self._brand = brand
        self._env = page_environment(self._dir)
        self._css, style_source = inline_style(self._dir / STYLE, "dashboard")
        self.content_security_policy = (
            "default-src 'none'; script-src 'self'; " f"style-src {style_source}; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        self._words: dict[str, dict[str, Any]] = {}

    def render(self, name: str, language: str, view: Mapping[str, Any]) -> str:
        words = self._catalog(language)
        return self._env.get_template(f"{name}.html").render(
            t=words, v=view, language=language, brand=self._brand, css=Markup(self._css))

    def asset(self, name: str) -> tuple[bytes, str] | None:
        """An asset's bytes and content type; None for a name not served (never a path from the URL)."""
        known = ASSETS.get(name)
        if known is None:
            return None
        path, content_type = known
        try:
            return (self._dir / path).read_bytes(), content_type
        except FileNotFoundError as exc:
            raise TemplateError(f"the dashboard asset {name} is missing at {self._dir / path}: "
                                "install it with `npm --prefix templates/dashboard ci` (make install)") from exc

    def _catalog(self, language: str) -> dict[str, Any]:
        if language not in LANGUAGES:
            raise TemplateError(f"no dashboard in {language!r}")
        if language not in self._words:
            path = self._dir / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    self._words[language] = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no dashboard words at {path}") from exc
        return self._words[language]
