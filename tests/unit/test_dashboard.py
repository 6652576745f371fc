"""The dashboard's pure decisions: the query (language, grouping per role), the chart band, cookies."""

from __future__ import annotations

import pytest

from chalicelib.domain.dashboard import (
    InvalidDashboardQuery,
    band_series,
    cookie_value,
    cx_principal,
    parse_query,
)
from chalicelib.domain.principal import Principal, Role

ADMIN = Principal("u-1", Role.CX_ADMIN)
MANAGER = Principal("u-2", Role.BRANCH_MANAGER, branch="tokyo-chuo")
AGENT = Principal("u-3", Role.AGENT, branch="tokyo-chuo", agent_id="A-102")


@pytest.mark.parametrize("lang, accept, expected", [
    (None, "ja-JP,ja;q=0.9,en;q=0.5", "ja"),
    (None, "zh-CN,zh;q=0.9", "zh"),
    (None, "fr-FR,de;q=0.8", "en"),
    (None, None, "en"),
    ("zh", "ja", "zh"),            # the switch wins over the browser
    ("xx", "ja", "ja"),            # a language koe has no words in: the browser's
])
def test_the_language_is_the_switch_else_the_browser_else_english(lang, accept, expected):
    params = {"lang": lang} if lang else {}
    assert parse_query(params, accept, ADMIN).language == expected


def test_each_role_has_its_default_breakdown_and_an_agent_always_sees_their_own():
    assert parse_query({}, None, ADMIN).dimension == "branch"
    assert parse_query({}, None, MANAGER).dimension == "agent"
    assert parse_query({"dimension": "procedure"}, None, AGENT).dimension == "agent"
    query = parse_query({"dimension": "channel", "period": "week", "from": "2026-11-01", "to": ""}, None, ADMIN)
    assert query.params == {"from": "2026-11-01", "dimension": "channel", "period": "week"}


@pytest.mark.parametrize("params, says", [
    ({"dimension": "colour"}, "dimension"), ({"period": "year"}, "period"), ({"dimesion": "branch"}, "dimesion")])
def test_a_bad_parameter_is_named(params, says):
    with pytest.raises(InvalidDashboardQuery, match=says):
        parse_query(params, None, ADMIN)


def test_the_band_is_the_score_plus_and_minus_its_margin_and_a_point_without_one_has_none():
    trend = [{"period": "2026-11-01", "score": 40.0, "margin": 12.5, "n": 50, "too_few": False},
             {"period": "2026-11-02", "score": -100.0, "margin": None, "n": 1, "too_few": True},
             {"period": "2026-11-03", "score": None, "margin": None, "n": 0, "too_few": True}]
    assert band_series(trend) == {
        "labels": ["2026-11-01", "2026-11-02", "2026-11-03"], "score": [40.0, -100.0, None],
        "lower": [27.5, None, None], "upper": [52.5, None, None], "n": [50, 1, 0], "too_few": [False, True, True]}


def test_a_cookie_is_read_by_its_exact_name():
    header = "koe_sessionx=no; other=1; koe_session=abc.def.ghi; last=2"
    assert cookie_value(header, "koe_session") == "abc.def.ghi"
    assert cookie_value("koe_session=", "koe_session") is None
    assert cookie_value(None, "koe_session") is None


def test_only_the_cx_roles_open_the_dashboard():
    assert cx_principal(Principal("api-key-1", Role.OPERATIONS)) is None
    assert cx_principal(None) is None
    assert cx_principal(MANAGER) == MANAGER


def test_the_band_stays_within_what_the_metric_can_be():
    trend = [{"period": "2026-11-19", "metric": "nps", "score": -50.0, "margin": 70.0, "n": 9, "too_few": True},
             {"period": "2026-11-20", "metric": "ces", "score": 6.5, "margin": 0.8, "n": 9, "too_few": True},
             {"period": "2026-11-21", "metric": "csat", "score": 100.0, "margin": 0.0, "n": 9, "too_few": True}]
    series = band_series(trend)
    assert (series["lower"], series["upper"]) == ([-100.0, 5.7, 100.0], [20.0, 7.0, 100.0])
