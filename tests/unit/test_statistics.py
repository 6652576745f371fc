"""Every figure against values computed by hand (the working is in each test's comment)."""

from __future__ import annotations

import pytest

from chalicelib.domain import statistics
from chalicelib.domain.model import Counts
from chalicelib.domain.questions import Scale
from chalicelib.domain.scoring import counts_for


def total(scores, scale=Scale.NPS):
    return sum((counts_for(s, scale) for s in scores), Counts())


def test_nps_with_its_margin_from_the_variance_of_the_promoter_detractor_difference():
    # 10 answers: 5 promoters, 3 passives, 2 detractors. p = 0.5, d = 0.2, NPS = 100 (0.5 - 0.2) = 30.0.
    # var = p + d - (p - d)^2 = 0.7 - 0.09 = 0.61; margin = 100 * 1.96 * sqrt(0.61 / 10) = 48.41 -> 48.4
    f = statistics.figure(Scale.NPS, total([10, 9, 9, 10, 9, 7, 8, 7, 3, 6]), min_n=30)
    assert (f.metric, f.value, f.margin, f.n, f.too_few) == ("nps", 30.0, 48.4, 10, True)


def test_nps_at_a_larger_sample_is_not_flagged_and_its_margin_shrinks():
    # 400 answers: 200 promoters, 100 passives, 100 detractors. p = 0.5, d = 0.25: NPS 25.0.
    # var = 0.75 - 0.0625 = 0.6875; margin = 196 * sqrt(0.6875 / 400) = 196 * 0.041458 = 8.1258 -> 8.1
    f = statistics.figure(Scale.NPS, total([10] * 200 + [8] * 100 + [2] * 100), min_n=30)
    assert (f.value, f.margin, f.too_few) == (25.0, 8.1, False)


def test_all_promoters_have_no_spread():
    f = statistics.figure(Scale.NPS, total([10, 9, 10]), min_n=2)
    assert (f.value, f.margin, f.too_few) == (100.0, 0.0, False)


def test_csat_is_the_share_satisfied_with_a_binomial_margin():
    # 8 answers, satisfied (4-5): 5. p = 0.625: CSAT 62.5 %.
    # margin = 100 * 1.96 * sqrt(0.625 * 0.375 / 8) = 196 * sqrt(0.029296875) = 196 * 0.171163 = 33.548 -> 33.5
    f = statistics.figure(Scale.CSAT, total([5, 4, 4, 5, 4, 3, 2, 1], Scale.CSAT), min_n=30)
    assert (f.metric, f.value, f.margin, f.n) == ("csat", 62.5, 33.5, 8)


def test_ces_is_the_mean_with_a_t_style_margin_from_the_sample_deviation():
    # scores 7, 6, 5, 5, 2: n = 5, sum = 25, mean = 5.0; sum of squares = 49+36+25+25+4 = 139.
    # s^2 = (139 - 25^2 / 5) / 4 = (139 - 125) / 4 = 3.5
    # margin = 1.96 * sqrt(3.5 / 5) = 1.96 * 0.83666 = 1.6399 -> 1.64
    f = statistics.figure(Scale.CES, total([7, 6, 5, 5, 2], Scale.CES), min_n=30)
    assert (f.metric, f.value, f.margin, f.n) == ("ces", 5.0, 1.64, 5)


@pytest.mark.parametrize("scale", list(Scale))
def test_no_answers_is_no_figure_and_one_answer_has_no_margin(scale):
    assert statistics.figure(scale, Counts(), 30) == statistics.Figure(statistics.METRIC[scale], None, None, 0, True)
    one = statistics.figure(scale, total([5], scale), 1)
    assert one.margin is None and one.n == 1 and not one.too_few


def test_rates():
    assert statistics.rate(45, 60) == 0.75 and statistics.rate(1, 3) == 0.3333 and statistics.rate(5, 0) is None


@pytest.mark.parametrize("day, period, expected", [
    ("2026-11-22", "day", "2026-11-22"), ("2026-11-22", "week", "2026-W47"), ("2026-11-23", "week", "2026-W48"),
    ("2027-01-01", "week", "2026-W53"), ("2026-11-22", "month", "2026-11"),
])
def test_periods(day, period, expected):
    assert statistics.period_of(day, period) == expected


@pytest.mark.parametrize("period, expected", [
    ("day", ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]),
    ("week", ["2026-W53", "2027-W01"]),           # 2026 has an ISO week 53; 2027-01-04 starts W01
    ("month", ["2026-12", "2027-01"]),
])
def test_every_period_of_a_range_is_listed_in_order_even_without_answers(period, expected):
    assert statistics.periods_between("2026-12-30", "2027-01-04" if period == "week" else "2027-01-02",
                                      period) == expected
