"""Honest figures from counters: each with its n, its 95 % margin of error, and a "too few answers"
flag below a configured n (the figure is shown and flagged, never hidden).

- **NPS** = 100 (p − d), p and d the shares of promoters and detractors. Each answer scores +1, 0 or
  −1, so the variance of one answer is p + d − (p − d)²; the margin is 100 · 1.96 · √(var / n).
- **CSAT** = % satisfied (4–5 of 5); margin 100 · 1.96 · √(p (1 − p) / n).
- **CES** = the mean (1–7); margin 1.96 · s / √n, s the sample standard deviation (n − 1), from the
  counters' sum and sum of squares.
- **Rates**: response rate = answered / delivered, delivery rate = delivered / sent (None without a
  denominator).

Periods: a day, its ISO week (`2026-W47`, Monday first) or its month (`2026-11`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from chalicelib.domain.model import Counts
from chalicelib.domain.questions import Scale

Z95 = 1.96
METRIC = {Scale.NPS: "nps", Scale.CSAT: "csat", Scale.CES: "ces"}
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Figure:
    metric: str              # nps, csat (% satisfied) or ces (mean)
    value: float | None
    margin: float | None     # 95 %: value ± margin; None with fewer than 2 answers
    n: int
    too_few: bool


def figure(scale: Scale, counts: Counts, min_n: int) -> Figure:
    n = counts.n
    if n == 0:
        return Figure(METRIC[scale], None, None, 0, True)
    if scale is Scale.NPS:
        p, d = counts.promoters / n, counts.detractors / n
        value, variance = 100 * (p - d), p + d - (p - d) ** 2
        margin = 100 * Z95 * math.sqrt(max(variance, 0.0) / n)
        digits = 1
    elif scale is Scale.CSAT:
        p = counts.promoters / n
        value, margin, digits = 100 * p, 100 * Z95 * math.sqrt(p * (1 - p) / n), 1
    else:
        value = counts.score_sum / n
        variance = (counts.score_sq_sum - counts.score_sum ** 2 / n) / (n - 1) if n > 1 else 0.0
        margin, digits = Z95 * math.sqrt(max(variance, 0.0) / n), 2
    return Figure(METRIC[scale], round(value, digits), round(margin, digits) if n > 1 else None, n, n < min_n)


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def period_of(day: str, period: str) -> str:
    """The period a day (YYYY-MM-DD) falls in."""
    if period == "day":
        return day
    when = date.fromisoformat(day)
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return day[:7]
    raise ValueError(f"period is one of {', '.join(PERIODS)}")


def periods_between(from_day: str, to_day: str, period: str) -> list[str]:
    """Every period (day, ISO week, month) that a day of `from_day`..`to_day` falls in, in order: a
    trend's axis, with the periods that have no answers (they are gaps, not missing)."""
    first, last = date.fromisoformat(from_day), date.fromisoformat(to_day)
    found: list[str] = []
    for offset in range((last - first).days + 1):
        key = period_of((first + timedelta(days=offset)).isoformat(), period)
        if not found or found[-1] != key:
            found.append(key)
    return found
