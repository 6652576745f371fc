"""bench/capacity.py: the capacity model's arithmetic on small inputs, and its copies of koe's settings
kept equal to the settings themselves (docs/capacity.md)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_model", ROOT / "bench" / "capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


capacity = load_model()


def test_doubling_the_surveys_doubles_every_peak_rate() -> None:
    # Given two months, one with twice the surveys of the other
    one, two = capacity.rates(1_000_000), capacity.rates(2_000_000)
    # Then every rate at the peak doubles
    assert two.surveys == pytest.approx(2 * one.surveys)
    assert two.sms_us == pytest.approx(2 * one.sms_us)
    assert two.emails == pytest.approx(2 * one.emails)
    assert two.table_units["surveys/open-until"][0] == pytest.approx(2 * one.table_units["surveys/open-until"][0])
    assert sum(two.concurrency.values()) == pytest.approx(2 * sum(one.concurrency.values()))


def test_the_peak_is_a_working_days_share_in_its_first_hour() -> None:
    model = capacity.PeakModel(working_days=20, busiest_zone_share=0.5, peak_hour_share=0.36)
    assert capacity.peak_surveys_per_second(2_000_000, model) == pytest.approx(2_000_000 / 20 * 0.5 * 0.36 / 3600)


def test_the_same_limit_binds_first_at_every_scale_and_more_of_them_bind_at_100_million() -> None:
    # Loads are proportional to volume, so the order in which limits bind does not change with scale
    found = {v: capacity.checks(capacity.rates(v)) for v in capacity.SCALES}
    firsts = {capacity.first_binding(c).name for c in found.values()}
    assert len(firsts) == 1
    over = [sum(1 for c in found[v] if c.utilisation >= 1) for v in capacity.SCALES]
    assert over == sorted(over) and over[-1] > over[0]
    # ... and a limit's break-even volume is the same whichever scale it is computed at
    at_1m = {c.name: c.binds_at(1_000_000) for c in found[1_000_000]}
    assert all(c.binds_at(100_000_000) == pytest.approx(at_1m[c.name]) for c in found[100_000_000])


def test_no_limit_binds_when_nothing_is_sent() -> None:
    quiet = capacity.checks(capacity.rates(1))
    assert capacity.first_binding(quiet) is None


def test_score_shards_divide_the_busiest_score_key() -> None:
    peak = capacity.rates(10_000_000)
    eight = next(c for c in capacity.hot_keys(peak, score_shards=8) if c.name.startswith("scores"))
    sixteen = next(c for c in capacity.hot_keys(peak, score_shards=16) if c.name.startswith("scores"))
    assert sixteen.load == pytest.approx(eight.load / 2)


def test_stage_lines_add_up_per_place() -> None:
    assert capacity.parse_units("surveys 2/1, cases 6/0", "surveys 4/0") == {"surveys": (6.0, 1.0),
                                                                          "cases": (6.0, 0.0)}


def test_a_two_way_detractor_pays_five_segments_and_an_email_survey_none() -> None:
    two_way = capacity.cost_per_million(capacity.journey("sms_two_way", "detractor"))
    assert two_way["Twilio"] == pytest.approx(1_000_000 * 5 * capacity.PRICE_TWILIO_US_SEGMENT.value)
    assert "Twilio" not in capacity.cost_per_million(capacity.journey("email", "promoter"))


def test_a_channel_mix_of_one_channel_costs_that_channels_journeys() -> None:
    model = replace(capacity.DEFAULT_MODEL, channel_mix={"email": 1.0}, response_rate=0.0)
    blended = capacity.blended_cost_per_million("email", model)
    alone = capacity.cost_per_million(capacity.journey("email", "unanswered", model))
    assert blended == pytest.approx(alone)


def test_the_report_prints_and_ends_with_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    capacity.main([])
    printed = capsys.readouterr().out
    assert "binds first" in printed
    assert printed.rstrip().endswith("reproduce: .venv/bin/python bench/capacity.py")


def test_the_models_copies_of_koes_settings_are_koes_settings() -> None:
    from chalicelib import resources
    from chalicelib.domain.exports import MONTH_SHARDS
    from chalicelib.settings import Settings

    assert capacity.INTAKE_MAX_CONCURRENCY == resources.queue("intake").max_concurrency
    assert capacity.ALERTS_MAX_CONCURRENCY == resources.queue("alert-deliveries").max_concurrency
    assert capacity.COMMENTS_MAX_CONCURRENCY == resources.queue("comment-insight").max_concurrency
    assert capacity.SCORE_SHARDS == Settings.__dataclass_fields__["score_shards"].default
    assert capacity.RESPONSE_MONTH_SHARDS == MONTH_SHARDS

    def constant(path: str, name: str) -> int:
        found = re.search(rf"^{name} = ([\d_]+)", (ROOT / path).read_text(), re.MULTILINE)
        assert found is not None, (path, name)
        return int(found[1])

    for name in ("API_RATE_LIMIT", "API_RESERVED_CONCURRENCY", "OPS_RATE_LIMIT", "OPS_QUOTA_PER_DAY"):
        assert getattr(capacity, name) == constant("infra/stack.py", name)
    assert capacity.TICK_BATCH == constant("chalicelib/services/tick.py", "BATCH")
    assert capacity.TICK_RESERVE_S * 1000 == constant("chalicelib/services/budget.py", "DEFAULT_RESERVE_MS")
    chalice = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert capacity.TICK_TIMEOUT_S == chalice["lambda_timeout"]
    assert capacity.LAMBDA_MEMORY_GB * 1024 == chalice["lambda_memory_size"]
