"""tick: the every-minute schedule closes conversations whose window has passed."""

from tests.functional.conftest import SURVEY, event


def test_given_an_open_survey_when_24_hours_pass_then_the_tick_expires_it(koe):
    koe.dispatch(event())
    koe.clock.advance(hours=23)
    assert koe.tick() == {"closed": 0, "raced": 0}
    koe.clock.advance(hours=2)
    assert koe.tick() == {"closed": 1, "raced": 0}
    assert koe.store.get_survey(SURVEY).status == "expired"
    assert not koe.contact().has_open_conversation(koe.clock())


def test_given_nothing_open_then_the_tick_closes_nothing(koe):
    assert koe.tick() == {"closed": 0, "raced": 0}
