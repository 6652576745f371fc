"""The web survey page on fakes: GET only shows, POST records once, later comments replace the
earlier one, and a closed, unknown or tampered link records nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.domain import survey_token
from chalicelib.domain.model import Step, SurveyStatus
from chalicelib.domain.web_survey import COMMENT_DAYS, MAX_COMMENT, MAX_COMMENTS, Page, PageError, PageKind
from chalicelib.errors import StaleSurvey, StorageThrottled
from chalicelib.services.web_survey import WebDeps, show, submit
from tests.services.conftest import PLACES, SECRET, links_of

SURVEY = "claims-2026-000123-paid"
KEY = survey_token.link_key(SECRET)
TOKEN = survey_token.sign(KEY, SURVEY)


@dataclass
class RecordingPages:
    """Stands in for the renderer: remembers every page asked for; the HTML is the page's kind."""

    pages: list[Page] = field(default_factory=list)
    content_security_policy: str = "default-src 'none'"

    def render(self, page: Page) -> str:
        self.pages.append(page)
        return f"<{page.kind.value}>"

    @property
    def last(self) -> Page:
        return self.pages[-1]


@pytest.fixture
def pages() -> RecordingPages:
    return RecordingPages()


@pytest.fixture
def deps(world: Any, pages: RecordingPages) -> WebDeps:
    return WebDeps(store=world.store, pages=pages, links=links_of(KEY),
                   threshold_for=world.threshold_for, clock=world.clock, places=PLACES)


def survey(world: Any) -> Any:
    return world.store.surveys[SURVEY]


def answers(world: Any) -> dict[str, Any]:
    return {a.question: a for a in world.store.answers_for(SURVEY)}


def post(deps: WebDeps, token: str = TOKEN, accept_language: str | None = None, **form: str) -> str:
    return submit(token, urlencode(form), accept_language, deps).outcome


# --- GET: shows, never records -------------------------------------------------------------------

def test_an_open_survey_shows_the_form_in_its_language_and_records_nothing(world, deps, pages):
    world.dispatch(customer={"locale": "ja-JP"})
    before, writes = survey(world), world.store.requests

    outcome = show(TOKEN, None, "en", deps)

    assert (outcome.outcome, outcome.html) == ("form", "<form>")
    assert pages.last == Page(PageKind.FORM, "ja", "claim_payment")
    assert survey(world) == before and world.store.answers == {}
    assert world.store.requests == writes + 1          # one read: the survey


@pytest.mark.parametrize(("raw", "selected"), [("9", 9), ("0", 0), ("10", 10), (" 7 ", 7), ("11", None),
                                               ("-1", None), ("９", None), ("9.0", None), ("", None), (None, None)])
def test_score_in_the_link_is_pre_selected_not_recorded(world, deps, pages, raw, selected):
    world.dispatch()

    assert show(TOKEN, raw, None, deps).outcome == "form"

    assert pages.last.score == selected
    assert world.store.answers == {} and survey(world).status is SurveyStatus.SENT


@pytest.mark.parametrize(("accept_language", "language"), [
    ("ja-JP,ja;q=0.9,en;q=0.8", "ja"), ("zh-CN,zh;q=0.9", "zh"), ("fr-FR,zh-TW;q=0.5,ja;q=0.4", "zh"),
    ("en;q=0.2,ja;q=0.8", "ja"), ("ja;q=0", "en"), ("de", "en"), (None, "en"), ("", "en")])
def test_a_tampered_token_is_not_found_in_the_browsers_language(world, deps, pages, accept_language, language):
    world.dispatch()
    changed = TOKEN[:8] + ("A" if TOKEN[8] != "A" else "B") + TOKEN[9:]

    for token in (changed, "not-a-token", survey_token.sign(KEY, SURVEY, purpose="unsubscribe"),
                  survey_token.sign(b"another key" * 3, SURVEY)):
        assert show(token, "9", accept_language, deps).outcome == "not_found"
        assert pages.last == Page(PageKind.NOT_FOUND, language)
        assert post(deps, token, accept_language, score="9") == "not_found"
    assert world.store.answers == {} and survey(world).status is SurveyStatus.SENT


def test_a_valid_token_for_no_survey_is_not_found(world, deps, pages):
    assert show(survey_token.sign(KEY, "no-such-survey"), None, "ja", deps).outcome == "not_found"
    assert pages.last.language == "ja"


def test_an_answered_survey_shows_thanks_with_the_comment_box(world, deps, pages):
    world.dispatch()
    post(deps, score="9")

    assert show(TOKEN, "3", None, deps).outcome == "thanks"

    assert pages.last == Page(PageKind.THANKS, "en", "claim_payment", comment_open=True)


def test_after_its_window_a_survey_still_shows_the_form_for_a_late_answer_then_closes(world, deps, pages):
    world.dispatch()
    world.clock.advance(hours=24)                      # the window ends (tick has not run yet)
    assert show(TOKEN, None, None, deps).outcome == "form"
    survey_after_tick = replace(survey(world), status=SurveyStatus.EXPIRED, open_until=None, reason="no_reply")
    world.store.surveys[SURVEY] = survey_after_tick
    assert show(TOKEN, None, None, deps).outcome == "form"
    world.clock.advance(days=30)                       # a month on, the link is closed for good
    assert show(TOKEN, None, None, deps).outcome == "closed"
    assert pages.last == Page(PageKind.CLOSED, "en", "claim_payment")


@pytest.mark.parametrize("status", [SurveyStatus.OPTED_OUT, SurveyStatus.FAILED, SurveyStatus.UNREADABLE])
def test_other_closed_surveys_show_closed(world, deps, status):
    world.dispatch()
    world.store.surveys[SURVEY] = replace(survey(world), status=status, open_until=None)
    assert show(TOKEN, None, None, deps).outcome == "closed"
    assert post(deps, score="9", comment="hello") == "closed"
    assert world.store.answers == {}


# --- POST: the first answer ----------------------------------------------------------------------

def test_the_first_post_answers_the_survey_like_an_sms_reply_would(world, deps, pages):
    world.dispatch()
    world.clock.advance(minutes=5)

    assert post(deps, score="3", comment="  The payout was slow.\r\nNobody called.  ") == "thanks"

    closed = survey(world)
    assert (closed.status, closed.step, closed.score, closed.reason, closed.open_until) == (
        SurveyStatus.ANSWERED, Step.DONE, 3, "web_form", None)
    score, comment = answers(world)["score"], answers(world)["comment"]
    assert (score.score, score.text, score.received_at) == (3, "3", world.clock())
    assert (comment.score, comment.text) == (3, "The payout was slow.\nNobody called.")
    for answer in (score, comment):
        assert (answer.procedure, answer.customer_id, answer.locale, answer.threshold, answer.phone_masked) == (
            "claim_payment", "C-88123", "en", 6, "+1******0123")
        assert answer.context["branch"] == "tokyo-chuo"
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())   # slot freed
    assert pages.last == Page(PageKind.THANKS, "en", "claim_payment", comment_open=True, comment_saved=True)


def test_web_answers_have_the_shape_of_sms_answers(world, deps):
    """Aggregation and escalation read both alike: every field but the raw text is the same."""
    world.dispatch()
    world.reply("3")
    world.reply("slow")
    by_sms = answers(world)
    world.store.answers.clear()
    world.store.surveys[SURVEY] = replace(survey(world), status=SurveyStatus.SENT, step=Step.AWAIT_SCORE,
                                          score=None, open_until=world.clock() + timedelta(hours=1))

    post(deps, score="3", comment="slow")

    for question in ("score", "comment"):
        assert replace(answers(world)[question], text=None) == replace(by_sms[question], text=None)


def test_the_threshold_in_force_is_recorded(world, deps):
    world.thresholds["claim_payment"] = 4
    world.dispatch()
    post(deps, score="5")
    assert answers(world)["score"].threshold == 4


def test_a_score_alone_is_an_answer_without_a_comment(world, deps):
    world.dispatch()
    assert post(deps, score="10", comment="   ") == "thanks"
    assert set(answers(world)) == {"score"} and survey(world).score == 10


@pytest.mark.parametrize("score", [None, "", "11", "-1", "abc", "9.5", "１０"])
def test_an_invalid_score_shows_the_form_again_with_an_error_and_records_nothing(world, deps, pages, score):
    world.dispatch()
    before = survey(world)
    form = {"comment": "slow payout"} | ({"score": score} if score is not None else {})

    assert post(deps, **form) == "invalid"

    assert pages.last == Page(PageKind.FORM, "en", "claim_payment", comment="slow payout",
                              error=PageError.SCORE_REQUIRED)
    assert survey(world) == before and world.store.answers == {}


def test_a_comment_too_long_is_refused_and_nothing_is_recorded(world, deps, pages):
    world.dispatch()

    assert post(deps, score="8", comment="x" * (MAX_COMMENT + 1)) == "invalid"

    assert (pages.last.kind, pages.last.error, pages.last.score) == (PageKind.FORM, PageError.COMMENT_TOO_LONG, 8)
    assert world.store.answers == {} and survey(world).status is SurveyStatus.SENT
    assert post(deps, score="8", comment="x" * MAX_COMMENT) == "thanks"


def test_after_the_window_an_answer_is_kept_as_late_and_out_of_the_scores(world, deps, pages):
    world.dispatch()
    world.clock.advance(hours=24, seconds=1)

    assert post(deps, score="3", comment="too late but still") == "thanks"

    late = survey(world)
    assert (late.status, late.reason, late.score) == (SurveyStatus.LATE, "web_form_after_window", 3)
    answers = world.store.answers_for(SURVEY)
    assert [(a.question, a.late) for a in answers] == [("score", True), ("comment", True)]
    from zoneinfo import ZoneInfo

    from chalicelib.domain.scoring import contributions
    assert contributions(answers, ZoneInfo("UTC")) == []              # kept out of the scores
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())


# --- POST again: one response, the latest comment --------------------------------------------------

def test_a_second_post_keeps_the_first_score(world, deps):
    world.dispatch()
    post(deps, score="9")
    first = answers(world)["score"]
    world.clock.advance(minutes=1)

    assert post(deps, score="2") == "thanks"

    assert answers(world) == {"score": first} and survey(world).score == 9


def test_the_same_post_twice_is_one_response(world, deps):
    world.dispatch()
    post(deps, score="9", comment="fast")
    recorded = dict(world.store.answers)

    assert post(deps, score="9", comment="fast") == "thanks"

    assert world.store.answers == recorded


def comments(world: Any) -> list[tuple[str | None, Any]]:
    return [(a.text, a.received_at) for a in world.store.answers_for(SURVEY) if a.question == "comment"]


def test_every_later_comment_is_kept_with_its_time(world, deps, pages):
    """Before: a later comment replaced the earlier one everywhere."""
    world.dispatch()
    post(deps, score="4", comment="The form was confusing.")
    first = world.clock()
    world.clock.advance(seconds=1)

    assert post(deps, comment="解約します") == "thanks"
    second = world.clock()
    assert pages.last.comment_saved
    world.clock.advance(days=1)
    assert post(deps, score="10", comment="And nobody called back.") == "thanks"

    assert comments(world) == [("The form was confusing.", first), ("解約します", second),
                               ("And nobody called back.", world.clock())]
    assert all(a.score == 4 for a in world.store.answers_for(SURVEY))
    assert answers(world)["score"].score == 4 and survey(world).score == 4      # the first score stands


def test_the_same_comment_sent_again_is_kept_once(world, deps, pages):
    world.dispatch()
    post(deps, score="4")
    post(deps, comment="slow")
    world.clock.advance(seconds=5)

    assert post(deps, comment="slow") == "thanks" and pages.last.comment_saved      # a reload, a double click

    assert [text for text, _ in comments(world)] == ["slow"]


def test_comments_beyond_the_most_a_survey_keeps_are_refused_with_an_error(world, deps, pages):
    world.dispatch()
    post(deps, score="4", comment="0")
    for n in range(1, MAX_COMMENTS):
        world.clock.advance(seconds=1)
        assert post(deps, comment=str(n)) == "thanks"

    assert post(deps, comment="one more") == "invalid"

    assert (pages.last.kind, pages.last.error, pages.last.comment) == (
        PageKind.THANKS, PageError.TOO_MANY_COMMENTS, "one more")
    assert len(comments(world)) == MAX_COMMENTS


def test_a_survey_answered_late_takes_later_comments_as_late_ones(world, deps):
    """Before: a later comment on a survey answered after its window was refused as closed."""
    world.dispatch()
    world.clock.advance(hours=24, seconds=1)
    post(deps, score="3", comment="late")
    world.clock.advance(hours=1)

    assert post(deps, comment="still waiting") == "thanks"

    assert [(a.text, a.late) for a in world.store.answers_for(SURVEY) if a.question == "comment"] == [
        ("late", True), ("still waiting", True)]


def test_comments_are_taken_until_comment_days_after_the_survey(world, deps, pages):
    world.dispatch()
    post(deps, score="6")
    world.clock.advance(days=COMMENT_DAYS)

    assert show(TOKEN, None, None, deps).outcome == "thanks"
    assert pages.last.comment_open is False
    assert post(deps, score="6") == "thanks"               # nothing to record: still the thank-you page
    assert post(deps, comment="too late") == "closed"
    assert "comment" not in answers(world)


def test_a_survey_scored_by_sms_takes_its_why_on_the_page(world, deps, pages):
    world.dispatch()
    world.reply("3")                                       # score by SMS; "why?" is pending
    assert show(TOKEN, None, None, deps).outcome == "thanks"
    assert pages.last.comment_open

    assert post(deps, score="10", comment="slow payout") == "thanks"

    assert (survey(world).status, survey(world).score) == (SurveyStatus.ANSWERED, 3)
    assert answers(world)["comment"].text == "slow payout" and answers(world)["score"].score == 3


# --- two posts racing -------------------------------------------------------------------------------

@dataclass
class RacingStore:
    """The fake store, with another post arriving between this post's read and its write."""

    store: Any
    other: Any = None           # called once, just before the first update_survey is written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def update_survey(self, *args: Any, **kwargs: Any) -> None:
        other, self.other = self.other, None
        if other is not None:
            other()
        self.store.update_survey(*args, **kwargs)


def test_two_posts_racing_record_one_score_and_the_losers_comment(world, deps):
    world.dispatch()
    racing = RacingStore(world.store)
    racing_deps = replace(deps, store=racing)
    racing.other = lambda: post(deps, score="9")           # wins: its write lands first

    assert post(racing_deps, score="2", comment="slow") == "thanks"

    assert answers(world)["score"].score == 9 and survey(world).score == 9
    assert answers(world)["comment"].text == "slow" and answers(world)["comment"].score == 9
    assert [a.question for a in world.store.answers_for(SURVEY)] == ["score", "comment"]


def test_a_post_losing_every_race_lets_stale_survey_through(world, deps):
    world.dispatch()

    class AlwaysStale(RacingStore):
        def update_survey(self, *args: Any, **kwargs: Any) -> None:
            raise StaleSurvey(SURVEY)

    with pytest.raises(StaleSurvey):
        post(replace(deps, store=AlwaysStale(world.store)), score="9")
    assert world.store.answers == {}


def test_a_transaction_conflict_is_read_again_like_a_lost_race(world, deps):
    world.dispatch()
    racing = RacingStore(world.store)

    def conflict() -> None:
        post(deps, score="9")
        raise StorageThrottled("TransactionConflict")

    racing.other = conflict

    assert post(replace(deps, store=racing), score="9") == "thanks"
    assert [a.question for a in world.store.answers_for(SURVEY)] == ["score"]
