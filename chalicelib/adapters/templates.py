"""Message templates addressed by channel and language: templates/<channel>/<language>.toml
(`sms`, `sms_link`, `line`; the web page and email have their own Jinja2 renderers, `pages.py` and
`email_templates.py`, beside their words in the same tree), edited as files and reviewed like code.

A survey asks on its scale (domain/questions.py): the messages that name it ("Reply 0-10": see
`SCALED`) are NPS's at the top of a catalog and another scale's in its own table, `[csat]` or
`[ces]`; a CSAT survey never falls back to NPS's words (TemplateError instead). Every other message
is the same on every scale.

In Lambda, templates/ ships as a layer mounted at /opt/templates (KOE_TEMPLATES_DIR)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from chalicelib.domain.questions import Scale
from chalicelib.errors import PermanentError

# The messages of each channel that name the survey's scale (the link SMS names none: the page does).
SCALED: dict[str, frozenset[str]] = {"sms": frozenset({"invitation", "reminder", "reprompt", "help"}),
                                     "line": frozenset({"invitation", "reminder", "reprompt", "help"})}


class TemplateError(PermanentError, LookupError):
    """A channel, language or message key has no template: a packaging or configuration fault
    (permanent: retrying cannot help; a use case records it as a failure with this reason)."""


class TomlMessages:
    def __init__(self, root: Path, brand: str):
        self._root = root
        self._brand = brand
        self._catalogs: dict[tuple[str, str], dict[str, Any]] = {}     # read once per warm Lambda

    def _catalog(self, channel: str, language: str) -> dict[str, Any]:
        if (channel, language) not in self._catalogs:
            path = self._root / channel / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    self._catalogs[channel, language] = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no {channel} templates at {path}") from exc
        return self._catalogs[channel, language]

    def render(self, channel: str, language: str, key: str, *, scale: str = Scale.NPS, **values: str) -> str:
        catalog = self._catalog(channel, language)
        if scale != Scale.NPS and key in SCALED.get(channel, ()):
            catalog, where = catalog.get(scale, {}), f"[{scale}] of {channel}/{language}.toml"
        else:
            where = f"{channel}/{language}.toml"
        if key not in catalog:
            raise TemplateError(f"no {key!r} message in {where}")
        procedures = self._catalog(channel, language).get("procedures", {})
        if "procedure" in values:
            values["procedure"] = procedures.get(values["procedure"], procedures.get("_default", ""))
        return str(catalog[key]).format(brand=self._brand, **values)
