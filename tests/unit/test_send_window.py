"""The send window: inside it now, else the next opening on a day that is not a holiday."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.send_window import (
    InvalidWindow,
    SendWindows,
    Window,
    next_opening,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NO_HOLIDAYS = lambda day: False  # noqa: E731


def utc(iso):
    return datetime.fromisoformat(iso).astimezone(UTC)


@pytest.mark.parametrize("local, expected", [
    ("2026-11-24T09:00:00+09:00", "2026-11-24T09:00:00+09:00"),      # opens at 09:00 sharp
    ("2026-11-24T19:59:59+09:00", "2026-11-24T19:59:59+09:00"),
    ("2026-11-24T20:00:00+09:00", "2026-11-25T09:00:00+09:00"),      # closed from 20:00
    ("2026-11-24T03:00:00+09:00", "2026-11-24T09:00:00+09:00"),
])
def test_the_window_in_the_customers_time(local, expected):
    assert next_opening(utc(local), TOKYO, Window(), NO_HOLIDAYS) == utc(expected)


def test_holidays_are_skipped_however_many():
    holidays = {date(2026, 11, 25), date(2026, 11, 26)}
    found = next_opening(utc("2026-11-24T21:00:00+09:00"), TOKYO, Window(), holidays.__contains__)
    assert found == utc("2026-11-27T09:00:00+09:00")


def test_the_answer_is_in_utc_across_a_daylight_saving_change():
    new_york = ZoneInfo("America/New_York")        # clocks go back on 1 November 2026
    found = next_opening(utc("2026-10-31T22:00:00-04:00"), new_york, Window(), NO_HOLIDAYS)
    assert found == utc("2026-11-01T09:00:00-05:00") and found.tzinfo == UTC


@pytest.mark.parametrize("text, window", [("09:00-20:00", Window()), ("8:30-21:00", Window(time(8, 30), time(21)))])
def test_a_window_reads_from_configuration(text, window):
    assert Window.parse(text) == window


@pytest.mark.parametrize("text", ["9-20", "20:00-09:00", "25:00-26:00", "09:00-09:00", ""])
def test_a_bad_window_is_a_named_error(text):
    with pytest.raises(InvalidWindow):
        Window.parse(text)


def test_windows_per_country_fall_back_to_the_default():
    windows = SendWindows(Window(), {"US": Window(time(8), time(21))})
    assert windows.for_country("US").end == time(21) and windows.for_country("JP") == Window()


def test_send_hours_use_the_places_country_window_zone_and_holidays():
    from chalicelib.domain.model import Place
    from chalicelib.domain.send_window import SendHours

    hours = SendHours(SendWindows(Window(), {"GB": Window(time(10), time(19))}),
                      lambda country: (lambda day: country == "GB" and day == date(2026, 12, 25)))
    london = Place("GB", "Europe/London")
    assert hours.next_opening(utc("2026-11-24T09:30:00+00:00"), london) == utc("2026-11-24T10:00:00+00:00")
    assert hours.next_opening(utc("2026-12-24T19:30:00+00:00"), london) == utc("2026-12-26T10:00:00+00:00")
    assert hours.next_opening(utc("2026-11-24T11:30:00+00:00"), Place(None, "Asia/Tokyo")) == utc(
        "2026-11-25T00:00:00+00:00")                                       # 20:30 in Tokyo: the next morning
