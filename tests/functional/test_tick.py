"""tick: the every-minute schedule releases scheduled surveys and closes ended conversations."""

from tests.functional.conftest import SURVEY, event


def test_given_an_open_survey_when_24_hours_pass_then_the_tick_expires_it(koe):
    koe.dispatch(event())
    koe.clock.advance(hours=23)
    assert koe.tick()["closed"] == 0
    koe.clock.advance(hours=2)
    assert koe.tick()["closed"] == 1
    assert koe.store.get_survey(SURVEY).status == "expired"
    assert not koe.contact().has_open_conversation(koe.clock())


def test_given_nothing_open_then_the_tick_closes_nothing(koe):
    assert koe.tick() == {"released": 0, "release_raced": 0, "postponed": 0, "release_failed": 0,
                          "reminded": 0, "reminder_failed": 0, "closed": 0, "raced": 0,
                          "rungs": 0, "closings": 0, "resurveys": 0, "case_raced": 0, "case_failed": 0}


def test_given_an_event_at_night_in_new_york_then_it_is_scheduled_and_the_tick_sends_it_at_nine(koe):
    us_evening = event(customer={"timezone": "America/New_York"})         # 01:20 UTC: 20:20 in New York
    koe.dispatch(us_evening)
    assert (koe.store.get_survey(SURVEY).status, koe.sms.sent) == ("scheduled", [])
    koe.clock.advance(hours=12, minutes=39)                                 # 08:59 in New York
    assert koe.tick()["released"] == 0
    koe.clock.advance(minutes=1)
    assert koe.tick()["released"] == 1 and len(koe.sms.sent) == 1
    assert koe.store.get_survey(SURVEY).status == "sent"
