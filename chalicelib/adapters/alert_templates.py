"""The CX alert's words: templates/alerts/<language>.toml (ja, zh, en), one table per event (subject
and lead line) and one body for all, rendered for one reader's language and time zone.

Values come from `domain.alert_delivery.view`: every value from the message already on one line,
times already in the reader's and the customer's time zones. The templates are trusted text; a value
is only ever substituted into them (str.format reads the template, never a value), so a customer's
words cannot add a line, a field or a placeholder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.adapters.templates import TemplateError
from chalicelib.domain import alert_delivery
from chalicelib.domain.alert_delivery import AlertContent

CHANNEL = "alerts"


class TomlAlerts:
    def __init__(self, root: Path, cases_url: str = "https://koe.invalid/cases"):
        """`cases_url`: the case workspace (<public_base_url>/cases): each alert links to its case page,
        in the reader's language (through sign-in, back to the case)."""
        self._dir = root / CHANNEL
        self._cases_url = cases_url.rstrip("/")
        self._catalogs: dict[str, dict[str, Any]] = {}      # read once per warm Lambda

    def render(self, message: Mapping[str, Any], language: str, timezone: str) -> AlertContent:
        t = self._catalog(language)
        values = alert_delivery.view(message, timezone)
        event = t["events"].get(values["event"])
        if not isinstance(event, dict):
            raise TemplateError(f"no {values['event']!r} alert in {CHANNEL}/{language}.toml")
        words = t["words"]
        shown = {
            **values,
            "procedure": t.get("procedures", {}).get(values["procedure"], values["procedure"]),
            "branch": values["branch"] or words["none"],
            "agent": values["agent"] or words["none"],
            "phone": values["phone"] or words["none"],
            "comment": values["comment"] if values["comment"] is not None else words["no_comment"],
            "severity": t["severity"].get(values["severity"], values["severity"]),
            "status": t["status"].get(values["status"], values["status"]),
            "consent": t["consent"][values["consent"]],
            "reasons": words["separator"].join(t["reasons"].get(r, r) for r in values["reasons"]) or words["none"],
            "owner": _owner(values["owner"], t["owner"]),
            "case_url": f"{self._cases_url}/{quote(values['case_id'], safe='')}?{urlencode({'lang': language})}",
        }
        subject = event["subject"].format(**shown)
        body = t["body"]["text"].format(**shown, lead=event["lead"].format(**shown))
        # The templates are one line each where they must be; say so loudly if an edit breaks that.
        if "\n" in subject or "\r" in subject:
            raise TemplateError(f"the {values['event']!r} subject in {CHANNEL}/{language}.toml spans lines")
        return AlertContent(subject=subject, body=body.strip("\n") + "\n")

    def _catalog(self, language: str) -> dict[str, Any]:
        if language not in self._catalogs:
            path = self._dir / f"{language}.toml"
            try:
                with path.open("rb") as handle:
                    self._catalogs[language] = tomllib.load(handle)
            except FileNotFoundError as exc:
                raise TemplateError(f"no {CHANNEL} templates at {path}") from exc
        return self._catalogs[language]


def _owner(owner: str, kinds: Mapping[str, str]) -> str:
    """`agent:A-12` as the language says it ("agent A-12", "担当者 A-12")."""
    kind, _, ident = owner.partition(":")
    template = kinds.get(kind)
    return template.format(id=ident) if template and ident else owner
