"""The schedule closes conversations; the scores report reads counted buckets."""

from datetime import date

import pytest

from chalicelib.domain.model import SurveyStatus
from chalicelib.services.on_answers import on_answers
from chalicelib.services.scores import InvalidQuery, parse_query, report
from chalicelib.services.tick import expire_conversations

SURVEY = "claims-2026-000123-paid"


def test_an_unanswered_survey_expires_and_frees_the_phone(world):
    world.dispatch()
    world.clock.advance(hours=23)
    assert expire_conversations(world.store, world.clock())["closed"] == 0
    world.clock.advance(hours=2)
    assert expire_conversations(world.store, world.clock())["closed"] == 1
    assert world.store.get_survey(SURVEY).status is SurveyStatus.EXPIRED
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())


def test_a_score_without_a_comment_still_counts_as_answered(world):
    world.dispatch()
    world.reply("8")
    world.clock.advance(hours=25)
    expire_conversations(world.store, world.clock())
    assert world.store.get_survey(SURVEY).status is SurveyStatus.ANSWERED


def test_the_report_gives_nps_and_honest_sample_sizes(world):
    for n, (phone, reply) in enumerate([("+15550100101", "10"), ("+15550100102", "9"), ("+15550100103", "3")]):
        world.dispatch(event_id=f"ev-{n}", customer={"phone": phone})
        world.reply(reply, sender=phone)
        on_answers(world.store.answers_for(f"ev-{n}"), world.answer_deps)
    body = report(parse_query({"dimension": "branch", "from": "2026-11-01", "to": "2026-11-30"}, date(2026, 11, 21)),
                  world.scores, world.store, min_n=30)
    [nps] = body["results"]
    [group] = nps["groups"]
    assert (group["value"], group["n"], group["promoters"], group["detractors"]) == ("tokyo-chuo", 3, 2, 1)
    # p = 2/3, d = 1/3: NPS 33.3; var = 1 - 1/9 = 0.8889, margin = 196 * sqrt(0.8889 / 3) = 106.7
    assert (group["score"], group["margin"], group["too_few"]) == (33.3, 106.7, True)


@pytest.mark.parametrize("params, problem", [
    ({"dimension": "planet"}, "dimension"),
    ({"from": "yesterday"}, "dates"),
    ({"from": "2026-11-22", "to": "2026-11-21"}, "after"),
    ({"from": "2024-01-01", "to": "2026-11-21"}, "days"),
])
def test_bad_queries_name_the_problem(params, problem):
    with pytest.raises(InvalidQuery, match=problem):
        parse_query(params, date(2026, 11, 21))


def test_defaults_are_the_last_30_days_by_procedure():
    query = parse_query(None, date(2026, 11, 21))
    assert (query.dimension, query.from_day, query.to_day) == ("procedure", "2026-10-23", "2026-11-21")


def test_an_unknown_query_parameter_is_refused_naming_it():
    with pytest.raises(InvalidQuery, match="dimesion"):
        parse_query({"dimesion": "branch"}, date(2026, 11, 21))


def test_every_schedule_job_runs_when_one_fails_and_the_failure_is_still_raised():
    from chalicelib.services.tick import run_jobs

    ran: list[str] = []

    def broken() -> dict[str, int]:
        ran.append("broken")
        raise ValueError("a poison item")

    def fine() -> dict[str, int]:
        ran.append("fine")
        return {"closed": 1}

    with pytest.raises(ValueError, match="poison"):
        run_jobs({"surveys": broken, "cases": fine})
    assert ran == ["broken", "fine"]
    assert run_jobs({"cases": fine}) == {"closed": 1}
