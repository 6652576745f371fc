"""The web survey page `/s/{token}`: the page customers reach from a link SMS or an email.

`show` (GET) only reads: email security scanners open every link, so showing a page never records
anything, not even the `?score=N` the link may carry (it pre-selects that score on the form).
`submit` (POST) records a score on the survey's scale (0-10, 1-5 or 1-7: anything else is the form
again, 400, asking for the scale's range): the first post closes the open survey as `answered` through
`survey_moves.close`, with the same `score` and `comment` answers an SMS reply produces (threshold,
masked phone, context), so aggregation and escalation (responses stream -> on_answers) are unchanged.
A later post never changes the score (the first score stands: it was counted once, and a second
post's score is ignored, not a second answer); its comment is added with `save_comment`: every
comment is kept with its time and reaches the responses stream as its own record, so the case rules,
the case, comment insight and the export see each one. The same words as the latest comment again
(a reload, a double click) are kept once; a survey holds at most MAX_COMMENTS (then the thank-you
page with an error, 400). Two posts racing (a double click): the store refuses the second `score`
answer (StaleSurvey, or a transaction conflict), the loser reads the survey again and is handled as
a later post, so both requests answer the thank-you page.

The body is read strictly (domain/web_survey.read_form): a post koe cannot read (not UTF-8, a broken
%-escape, a field twice) is the page again with an error, 400, and records nothing.

The outcome names the page and (through http.WEB_STATUS) its status: form / thanks 200, invalid 400,
closed 410, not_found 404. `error_page` is the page for what the edge refuses on a customer's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain import survey_token
from chalicelib.domain import web_survey as web
from chalicelib.domain.conversation import recorded_answer
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.model import Answer, Survey, SurveyStatus
from chalicelib.domain.questions import scale_of
from chalicelib.domain.web_survey import Page, PageError, PageKind, State
from chalicelib.errors import RetryableError
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.ports import CommentSaved, ConversationStore, Pages

ATTEMPTS = 2                 # a post that lost a race reads the survey again once
ANSWERED_ON_WEB = "web_form"  # the reason recorded on a survey answered through the page
ANSWERED_LATE = "web_form_after_window"   # ... and on one answered after its response window


@dataclass(frozen=True)
class WebDeps:
    store: ConversationStore
    pages: Pages
    links: Callable[[], survey_token.LinkKeys]   # the listed link keys, read when a token is (they rotate)
    threshold_for: Callable[[str, str], int]   # (procedure, scale) -> escalation threshold
    clock: Callable[[], datetime]
    places: PlaceRules                    # the place an answer carries (older surveys: worked out)


@dataclass(frozen=True)
class WebOutcome:
    outcome: str             # form, thanks, invalid, closed, not_found (http.WEB_STATUS)
    html: str


@dataclass(frozen=True)
class _Visit:
    """The survey a token opens, read once per request, and where its page stands now."""

    survey: Survey
    now: datetime
    language: str
    state: State


def _visit(token: str, deps: WebDeps) -> _Visit | None:
    survey = _survey(token, deps)
    if survey is None:
        return None
    now = deps.clock()
    return _Visit(survey, now, web.page_language(survey.locale), web.state(survey, now))


def show(token: str, score: str | None, accept_language: str | None, deps: WebDeps) -> WebOutcome:
    """The page for a GET: the form (with `score` pre-selected), the thank-you page, or why not."""
    visit = _visit(token, deps)
    if visit is None:
        return _not_found(accept_language, deps)
    survey, now, language, current = visit.survey, visit.now, visit.language, visit.state
    if current in (State.OPEN, State.LATE):
        scale = scale_of(survey.scale)
        page = Page(PageKind.FORM, language, survey.procedure, scale=scale, score=web.read_score(score, scale))
        return _render("form", page, deps)
    if current is State.ANSWERED:
        return _thanks(survey, language, now, deps)
    return _render("closed", Page(PageKind.CLOSED, language, survey.procedure), deps)


def submit(token: str, body: str | bytes | None, accept_language: str | None, deps: WebDeps) -> WebOutcome:
    """A form post (the raw urlencoded body): `score` (on the survey's scale) and `comment`; see the
    module docstring."""
    for _ in range(ATTEMPTS - 1):
        try:
            return _submit(token, body, accept_language, deps)
        except RetryableError as exc:     # StaleSurvey, or a transaction conflict (StorageThrottled)
            logger.info("survey changed under a web answer, reading again", extra={"error": type(exc).__name__})
    return _submit(token, body, accept_language, deps)      # the last attempt lets the error through (503)


def _submit(token: str, body: str | bytes | None, accept_language: str | None, deps: WebDeps) -> WebOutcome:
    visit = _visit(token, deps)
    if visit is None:
        return _not_found(accept_language, deps)
    survey, now, language, current = visit.survey, visit.now, visit.language, visit.state
    if current is State.CLOSED:
        return _too_late(survey, language, deps)
    kind = PageKind.FORM if current in (State.OPEN, State.LATE) else PageKind.THANKS
    try:
        form = web.read_form(body)
    except web.UnreadableForm as exc:
        logger.info("web form refused", extra={"survey_id": survey.survey_id, "why": str(exc)})
        return _invalid(Page(kind, language, survey.procedure, scale=scale_of(survey.scale),
                             error=PageError.FORM_UNREADABLE,
                             comment_open=kind is PageKind.THANKS and web.takes_comment(survey, now)), deps)
    comment = web.read_comment(form.get("comment"))
    if comment and current is State.ANSWERED and not web.takes_comment(survey, now):
        return _too_late(survey, language, deps)
    if len(comment) > web.MAX_COMMENT:
        scale = scale_of(survey.scale)
        return _invalid(Page(kind, language, survey.procedure, scale=scale,
                             score=web.read_score(form.get("score"), scale), comment=comment,
                             error=PageError.COMMENT_TOO_LONG, comment_open=True), deps)
    if current in (State.OPEN, State.LATE):
        return _first_answer(survey, form.get("score"), comment, language, now, deps, late=current is State.LATE)
    if not comment:                      # the same answer again: nothing to record
        return _thanks(survey, language, now, deps)
    return _later_comment(survey, comment, language, now, deps)


def _first_answer(survey: Survey, raw_score: str | None, comment: str, language: str, now: datetime,
                  deps: WebDeps, late: bool = False) -> WebOutcome:
    scale = scale_of(survey.scale)
    score = web.read_score(raw_score, scale)
    if score is None:                    # none, or not on the survey's scale ("9" on CSAT)
        return _invalid(Page(PageKind.FORM, language, survey.procedure, scale=scale, comment=comment,
                             error=PageError.SCORE_REQUIRED), deps)
    answers = [replace(_answer(survey, "score", score, (raw_score or "").strip(), now, deps), late=late)]
    if comment:
        answers.append(replace(_answer(survey, "comment", score, comment, now, deps), late=late))
    status, reason = (SurveyStatus.LATE, ANSWERED_LATE) if late else (SurveyStatus.ANSWERED, ANSWERED_ON_WEB)
    closed = survey_moves.close(deps.store, survey, status, reason, now, answers=answers, score=score)
    count("WebAnswerRecorded")
    logger.info("web answer recorded", extra={"survey_id": survey.survey_id, "with_comment": bool(comment)})
    return _thanks(closed, language, now, deps, comment_saved=bool(comment))


def _later_comment(survey: Survey, comment: str, language: str, now: datetime, deps: WebDeps) -> WebOutcome:
    answer = replace(_answer(survey, "comment", survey.score, comment, now, deps),
                     late=survey.status is SurveyStatus.LATE)
    if lifecycle.is_open(survey.status):      # scored by SMS, the "why?" answered on the page
        survey = survey_moves.close(deps.store, survey, SurveyStatus.ANSWERED, ANSWERED_ON_WEB, now,
                                    answers=[answer])
    else:
        saved = deps.store.save_comment(answer)
        if saved is CommentSaved.CLOSED:
            return _too_late(survey, language, deps)
        if saved is CommentSaved.FULL:
            count("WebCommentRefused", reason="too_many")
            return _invalid(Page(PageKind.THANKS, language, survey.procedure, comment=comment,
                                 error=PageError.TOO_MANY_COMMENTS, comment_open=True), deps)
    count("WebCommentRecorded")
    logger.info("web comment recorded", extra={"survey_id": survey.survey_id})
    return _thanks(survey, language, now, deps, comment_saved=True)


def _answer(survey: Survey, question: str, score: int | None, text: str, now: datetime, deps: WebDeps) -> Answer:
    """The same answer an SMS reply records (domain/conversation.py), so the stream reads both alike."""
    return recorded_answer(survey, question, score, text, now, deps.threshold_for(survey.procedure, survey.scale),
                           deps.places.of_survey(survey))


def _survey(token: str, deps: WebDeps) -> Survey | None:
    try:
        survey_id = deps.links().verify(token)
    except survey_token.TamperedToken as exc:
        count("WebTokenRefused")
        logger.info("web survey token refused", extra={"unknown_key_id": isinstance(exc, survey_token.UnknownKeyId)})
        return None
    survey = deps.store.get_survey(survey_id)
    if survey is None:
        logger.info("web survey token for no survey", extra={"survey_id": survey_id})
    return survey


def _thanks(survey: Survey, language: str, now: datetime, deps: WebDeps, *,
            comment_saved: bool = False) -> WebOutcome:
    page = Page(PageKind.THANKS, language, survey.procedure, comment_open=web.takes_comment(survey, now),
                comment_saved=comment_saved)
    return _render("thanks", page, deps)


def _too_late(survey: Survey, language: str, deps: WebDeps) -> WebOutcome:
    count("WebAnswerTooLate")
    return _render("closed", Page(PageKind.CLOSED, language, survey.procedure), deps)


def error_page(status: int, accept_language: str | None, pages: Pages) -> str:
    """The page a customer sees when the edge refuses their request (chalicelib/page_errors.py): what
    went wrong for a person, in their browser's language, never JSON."""
    return pages.render(Page(PageKind.ERROR, web.preferred_language(accept_language),
                             error=web.error_for_status(status)))


def _invalid(page: Page, deps: WebDeps) -> WebOutcome:
    count("WebAnswerInvalid")
    return _render("invalid", page, deps)


def _not_found(accept_language: str | None, deps: WebDeps) -> WebOutcome:
    return _render("not_found", Page(PageKind.NOT_FOUND, web.preferred_language(accept_language)), deps)


def _render(outcome: str, page: Page, deps: WebDeps) -> WebOutcome:
    return WebOutcome(outcome, deps.pages.render(page))
