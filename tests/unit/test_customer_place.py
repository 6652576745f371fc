"""Where the customer is: one rule, applied at dispatch and stored; a record from before places were
is placed by the same rule on what it holds."""

from datetime import UTC, datetime

import pytest

from chalicelib.domain.customer_place import COUNTRY_ZONES, Facts, PlaceRules, customer_place, locale_country
from chalicelib.domain.model import Place, Survey, SurveyStatus


@pytest.mark.parametrize("locale, country", [
    ("en-GB", "GB"), ("en_gb", "GB"), ("zh-Hant-TW", "TW"), ("ja", "JP"), ("zh", "CN"), ("en", None),
    ("fr", None), (None, None), ("", None),
])
def test_the_locales_country_is_its_region_else_a_language_spoken_in_one_country(locale, country):
    assert locale_country(locale) == country


def test_the_country_is_the_phone_numbers_else_the_locales():
    assert customer_place(Facts(phone_country="US", locale="en-GB")).country == "US"
    assert customer_place(Facts(locale="en-GB")).country == "GB"
    assert customer_place(Facts(phone_country=None, locale="ja")).country == "JP"


def test_the_zone_is_the_events_then_the_phone_numbers_then_the_countrys_then_the_fallback():
    assert customer_place(Facts("JP", "Asia/Tokyo", "Europe/Paris")).timezone == "Europe/Paris"
    assert customer_place(Facts("US", "Asia/Tokyo")).timezone == "Asia/Tokyo"
    assert customer_place(Facts("CN")).timezone == "Asia/Shanghai"
    assert customer_place(Facts(locale="en-GB")).timezone == "Europe/London"
    assert customer_place(Facts("FR"), fallback_timezone="Asia/Tokyo") == Place("FR", "Asia/Tokyo")
    assert customer_place(Facts("FR"), {**COUNTRY_ZONES, "FR": "Europe/Paris"}).timezone == "Europe/Paris"
    assert customer_place(Facts(locale="en")) == Place(None, "UTC")


def test_rules_look_the_phone_number_up():
    rules = PlaceRules(region_of=lambda phone: "JP", timezone_of=lambda phone: None)
    assert rules.decide("+819012345678", "en-US") == Place("JP", "Asia/Tokyo")
    assert rules.decide(None, "en-US", "America/Chicago") == Place("US", "America/Chicago")


def survey(**changes):
    at = datetime(2026, 11, 24, tzinfo=UTC)
    base = dict(survey_id="s", procedure="p", customer_id="c", contact_key="k", locale="en", channel="email",
                channel_reason="r", status=SurveyStatus.SENT, created_at=at, completed_at=at)
    return Survey(**{**base, **changes})


def test_a_stored_place_is_read_never_worked_out_again():
    rules = PlaceRules(region_of=lambda phone: "US")
    stored = Place("GB", "Europe/London")
    assert rules.of_survey(survey(phone="+15550100123", place=stored)) == stored


def test_a_survey_from_before_places_is_placed_by_the_same_rule_on_what_it_holds():
    rules = PlaceRules(region_of=lambda phone: "US", fallback_timezone="Asia/Tokyo")
    assert rules.of_survey(survey(phone="+15550100123")) == Place("US", "America/New_York")
    assert rules.of_survey(survey(locale="ja")) == Place("JP", "Asia/Tokyo")
    assert rules.of_survey(survey(locale="en")) == Place(None, "Asia/Tokyo")
    assert rules.of(None, locale="en", timezone="America/New_York") == Place(None, "America/New_York")
