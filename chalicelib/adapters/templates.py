"""Message templates from templates/sms/{language}.toml, edited as files and reviewed like code.

In Lambda, templates/ ships as a layer mounted at /opt/templates (KOE_TEMPLATES_DIR)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any


class TemplateError(LookupError):
    """A language or message key has no template: a packaging or configuration fault."""


class TomlMessages:
    def __init__(self, root: Path, brand: str):
        self._root = root
        self._brand = brand

    @lru_cache(maxsize=8)
    def _catalog(self, language: str) -> dict[str, Any]:
        path = self._root / "sms" / f"{language}.toml"
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except FileNotFoundError as exc:
            raise TemplateError(f"no SMS templates at {path}") from exc

    def render(self, language: str, key: str, **values: str) -> str:
        catalog = self._catalog(language)
        if key not in catalog:
            raise TemplateError(f"no {key!r} message in {language}.toml")
        procedures = catalog.get("procedures", {})
        if "procedure" in values:
            values["procedure"] = procedures.get(values["procedure"], procedures.get("_default", ""))
        return str(catalog[key]).format(brand=self._brand, **values)
