"""Survey fatigue: whether one more survey is too many for this customer, as one pure policy.

- no survey while the customer's claim is still open (`context.claim_open`): a survey about a
  payment that has not been made yet reads as indifference;
- a cooldown per procedure (no second survey about the same kind of procedure within N days);
- a cap across procedures: at most `cap` surveys per contact per rolling `cap_days`;
- a sampling rate per procedure: a busy touchpoint (the call centre) need not survey everyone.
  Whether an event is sampled depends on its event_id alone, so a replay decides the same.

A re-survey after a resolved case (`context.resurvey_of`) is the follow-up the CX team promised:
no cooldown and no sampling for it; the claim and the cap still apply.

Each "no" is a reason stored on the survey. The contact keeps a bounded history for this: the
surveys inside the longest period any rule looks at, plus the newest one per procedure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

Surveyed = tuple[str, datetime]          # (procedure, when the survey was opened)

CLAIM_OPEN = "claim_open"
RESURVEY_OF = "resurvey_of"
COOLDOWN = "cooldown"
FATIGUE_CAP = "fatigue_cap"
NOT_SAMPLED = "not_sampled"
_TRUE = frozenset({"true", "yes", "1", "y", "open"})


@dataclass(frozen=True)
class FatigueRules:
    cap: int = 2                          # surveys per contact ...
    cap_days: int = 30                    # ... per rolling period
    sampling: Mapping[str, float] = field(default_factory=dict)   # procedure -> share surveyed, 0..1

    def rate(self, procedure: str) -> float:
        return self.sampling.get(procedure, 1.0)


def claim_is_open(context: Mapping[str, str]) -> bool:
    return context.get("claim_open", "").strip().lower() in _TRUE


def sample_point(event_id: str) -> float:
    """Where an event falls in [0, 1): the same event always falls in the same place."""
    digest = hashlib.sha256(event_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def skip_reason(procedure: str, event_id: str, context: Mapping[str, str], surveyed: Iterable[Surveyed],
                now: datetime, cooldown_days: int, rules: FatigueRules) -> str | None:
    """Why this event must not be surveyed, or None."""
    history = list(surveyed)
    if claim_is_open(context):
        return CLAIM_OPEN
    resurvey = bool(context.get(RESURVEY_OF))
    same = [when for name, when in history if name == procedure]
    if same and now - max(same) < timedelta(days=cooldown_days) and not resurvey:
        return COOLDOWN
    if sum(now - when < timedelta(days=rules.cap_days) for _, when in history) >= rules.cap:
        return FATIGUE_CAP
    if sample_point(event_id) >= rules.rate(procedure) and not resurvey:
        return NOT_SAMPLED
    return None


def after_survey(surveyed: Iterable[Surveyed], procedure: str, now: datetime,
                 horizon_days: int) -> tuple[Surveyed, ...]:
    """The history to store once this survey opens: bounded by the horizon (the longest period a
    rule looks back), keeping the newest survey of each procedure whatever its age."""
    history = [*surveyed, (procedure, now)]
    newest: dict[str, datetime] = {}
    for name, when in history:
        newest[name] = max(when, newest.get(name, when))
    recent = {(name, when) for name, when in history if now - when < timedelta(days=horizon_days)}
    return tuple(sorted(recent | set(newest.items()), key=lambda entry: (entry[1], entry[0])))
