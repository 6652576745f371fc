"""What a survey asks first, per procedure (KOE_SURVEY_DEFINITIONS), then "why?":

- `nps`  0-10 "how likely are you to recommend us" (default): promoters 9-10, detractors 0-6;
- `csat` 1-5  "how satisfied were you": satisfied 4-5 (top two boxes);
- `ces`  1-7  "it was easy to ...", 1 strongly disagree .. 7 strongly agree: reported as a mean; easy 5-7.

A definition has a version; a survey keeps the version it was sent with, and so does each answer, so
changing a definition never rewrites what earlier customers were asked.

    {"claim_payment": {"scale": "csat", "version": 2}, "call_center": {"scale": "ces", "version": 1}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Scale(StrEnum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


# Lowest and highest score of each scale.
BOUNDS: Mapping[Scale, tuple[int, int]] = {Scale.NPS: (0, 10), Scale.CSAT: (1, 5), Scale.CES: (1, 7)}
# The escalation threshold when none is configured for the procedure: at or below opens a case.
DEFAULT_THRESHOLD: Mapping[Scale, int] = {Scale.NPS: 6, Scale.CSAT: 2, Scale.CES: 3}


# The words each scale's ends carry where the question is shown (templates/sms, sms_link, web and
# email: "1 (strongly disagree) to 7 (strongly agree)", "1＝まったくそう思わない", "5 = 非常满意"): a customer
# who answers with the label means that end. CSAT and CES are labelled categories (a Likert item);
# NPS's labels only anchor a 0-10 line ("very likely" may mean an 8): it has none here, and a
# label reply on NPS gets the re-prompt.
END_LABELS: Mapping[Scale, Mapping[str, int]] = {
    Scale.CSAT: {
        "very dissatisfied": 1, "very satisfied": 5,
        "不満": 1, "満足": 5,
        "很不满意": 1, "很不滿意": 1, "非常满意": 5, "非常滿意": 5,
    },
    Scale.CES: {
        "strongly disagree": 1, "strongly agree": 7,
        "そう思わない": 1, "そう思いません": 1, "まったくそう思わない": 1, "全くそう思わない": 1,
        "まったくそう思いません": 1, "全くそう思いません": 1,
        "そう思う": 7, "そう思います": 7, "とてもそう思う": 7, "とてもそう思います": 7,
        "非常不同意": 1, "非常同意": 7,
    },
}


class InvalidDefinitions(ValueError):
    """KOE_SURVEY_DEFINITIONS cannot be read; says which part."""


def scale_of(name: str | None) -> Scale:
    """A stored scale name (absent on surveys and answers from before definitions: nps)."""
    return Scale(name) if name else Scale.NPS


def in_scale(scale: Scale, score: int) -> bool:
    low, high = BOUNDS[scale]
    return low <= score <= high


def scores(scale: Scale) -> range:
    low, high = BOUNDS[scale]
    return range(low, high + 1)


@dataclass(frozen=True)
class Definition:
    scale: Scale = Scale.NPS
    version: int = 1


@dataclass(frozen=True)
class Definitions:
    default: Definition = Definition()
    by_procedure: Mapping[str, Definition] = field(default_factory=dict)

    def for_procedure(self, procedure: str) -> Definition:
        return self.by_procedure.get(procedure, self.default)


def parse(raw: Mapping[str, Any]) -> Definitions:
    """{"<procedure>" | "_default": {"scale": "nps|csat|ces", "version": N}}; InvalidDefinitions otherwise."""
    def one(name: str, entry: Any) -> Definition:
        if not isinstance(entry, Mapping) or set(entry) - {"scale", "version"}:
            raise InvalidDefinitions(f"{name}: a definition is {{\"scale\": \"csat\", \"version\": 2}}")
        try:
            scale = Scale(entry.get("scale", "nps"))
        except ValueError as exc:
            raise InvalidDefinitions(f"{name}.scale is one of {', '.join(s.value for s in Scale)}") from exc
        version = entry.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidDefinitions(f"{name}.version is a whole number >= 1")
        return Definition(scale, version)

    definitions = {str(name): one(str(name), entry) for name, entry in raw.items()}
    return Definitions(definitions.pop("_default", Definition()), definitions)
