"""The survey definitions setting (KOE_SURVEY_DEFINITIONS: what each procedure asks first, NPS by
default) and the escalation threshold it implies (a procedure's own, else NPS's
KOE_ESCALATION_THRESHOLD, else the scale's default: CSAT 2, CES 3)."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.questions import Definition, Scale
from chalicelib.settings import SettingsError, from_env
from tests.unit.test_settings_email import QUEUES
from tests.unit.test_wiring import REQUIRED

DEFINITIONS = {"claim_payment": {"scale": "csat", "version": 2}, "call_center": {"scale": "ces"}}


def settings(definitions: object = None, **env: str):
    extra = {"KOE_SURVEY_DEFINITIONS": json.dumps(definitions)} if definitions is not None else {}
    return from_env({**REQUIRED, **QUEUES, **extra, **env})


def test_every_procedure_asks_nps_version_1_unless_configured():
    assert settings().survey_definitions.for_procedure("claim_payment") == Definition(Scale.NPS, 1)


def test_each_procedure_asks_its_definition_and_the_others_the_default():
    definitions = settings(DEFINITIONS).survey_definitions
    assert definitions.for_procedure("claim_payment") == Definition(Scale.CSAT, 2)
    assert definitions.for_procedure("call_center") == Definition(Scale.CES, 1)
    assert definitions.for_procedure("new_policy") == Definition(Scale.NPS, 1)


def test_the_default_can_be_another_scale():
    definitions = settings({"_default": {"scale": "csat", "version": 3},
                            "new_policy": {"scale": "nps"}}).survey_definitions
    assert definitions.for_procedure("address_change") == Definition(Scale.CSAT, 3)
    assert definitions.for_procedure("new_policy") == Definition(Scale.NPS, 1)


@pytest.mark.parametrize("raw, problem", [
    ("not json", "must be a JSON object"),
    ("[1, 2]", "must be a JSON object"),
    ('{"claim_payment": {"scale": "stars"}}', "claim_payment.scale is one of nps, csat, ces"),
    ('{"claim_payment": {"scale": "csat", "version": 0}}', "claim_payment.version is a whole number"),
    ('{"claim_payment": {"scale": "csat", "version": "2"}}', "claim_payment.version is a whole number"),
    ('{"claim_payment": {"scale": "csat", "questions": 3}}', "claim_payment: a definition is"),
    ('{"claim_payment": "csat"}', "claim_payment: a definition is"),
])
def test_a_bad_definition_is_refused_naming_the_variable_and_the_part(raw, problem):
    with pytest.raises(SettingsError, match="KOE_SURVEY_DEFINITIONS") as refused:
        settings(KOE_SURVEY_DEFINITIONS=raw)
    assert problem in str(refused.value)


def test_the_threshold_is_the_procedures_own_on_its_scale_else_the_scales_default():
    s = settings(DEFINITIONS, KOE_ESCALATION_THRESHOLD="5",
                 KOE_ESCALATION_THRESHOLD_BY_PROCEDURE=json.dumps({"claim_payment": 3}))
    assert s.threshold_for("claim_payment", "csat") == 3                  # its own, on its scale
    assert s.threshold_for("call_center", "ces") == 3                     # CES's default
    assert s.threshold_for("address_change", "csat") == 2                 # CSAT's default
    assert s.threshold_for("new_policy", "nps") == s.threshold_for("new_policy") == 5   # KOE_ESCALATION_THRESHOLD
    # an NPS survey of claim_payment sent before it asked CSAT: NPS's threshold, not CSAT's 3
    assert s.threshold_for("claim_payment", "nps") == 5
    assert s.threshold_for("claim_payment", "") == 5                      # stored before definitions: NPS


def test_nps_thresholds_are_as_before():
    s = settings(KOE_ESCALATION_THRESHOLD_BY_PROCEDURE=json.dumps({"claim_payment": 4}))
    assert (s.threshold_for("claim_payment"), s.threshold_for("new_policy")) == (4, 6)


@pytest.mark.parametrize("threshold", [5, 6, 9])
def test_a_threshold_at_or_above_the_top_of_the_procedures_scale_is_refused(threshold):
    """A 0-10 threshold left on a procedure that now asks 1-5 would open a case for every answer."""
    with pytest.raises(SettingsError, match="KOE_ESCALATION_THRESHOLD_BY_PROCEDURE.claim_payment") as refused:
        settings(DEFINITIONS, KOE_ESCALATION_THRESHOLD_BY_PROCEDURE=json.dumps({"claim_payment": threshold}))
    assert "csat (1-5)" in str(refused.value) and "below 5" in str(refused.value)
