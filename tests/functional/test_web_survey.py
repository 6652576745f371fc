"""GET/POST /s/{token}: the web survey page through Chalice's routing and middleware; GET only
shows; POST records once; headers for a page a person reads; the answers reach on_response."""

from __future__ import annotations

import copy
from urllib.parse import urlencode

import pytest

from chalicelib.domain import survey_token
from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import StorageThrottled
from tests.functional.conftest import CONTACT_KEY, SURVEY, event, response_image

KEY = survey_token.link_key(CONTACT_KEY.encode())
TOKEN = survey_token.sign(KEY, SURVEY)
PAGE = f"/s/{TOKEN}"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def get(koe, path=PAGE, **headers):
    return koe.client.http.get(path, headers=headers)


def post(koe, path=PAGE, headers=FORM, **form):
    return koe.client.http.post(path, headers=headers, body=urlencode(form).encode())


def text(response):
    return response.body.decode("utf-8")


def recorded(koe):
    return copy.deepcopy((koe.store.surveys, koe.store.answers, koe.store.contacts))


def test_get_shows_the_form_as_a_page_and_records_nothing(koe):
    koe.dispatch(event())
    before = recorded(koe)

    response = get(koe)

    assert response.status_code == 200
    headers = response.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert (headers["Cache-Control"], headers["Referrer-Policy"], headers["X-Frame-Options"]) == (
        "no-store", "no-referrer", "DENY")
    assert headers["Content-Security-Policy"] == koe.components.pages.content_security_policy
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert '<html lang="en">' in text(response)
    assert "How likely are you to recommend Example Life after your claim payment?" in text(response)
    assert recorded(koe) == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
def test_a_get_with_any_or_no_content_type_is_no_415(koe, content_type):
    koe.dispatch(event())
    assert get(koe, **({"content-type": content_type} if content_type else {})).status_code == 200


def test_get_with_a_score_pre_selects_it_and_still_records_nothing(koe):
    koe.dispatch(event())
    before = recorded(koe)

    response = get(koe, f"{PAGE}?score=9")

    assert text(response).count(" checked>") == 1 and 'value="9" checked>' in text(response)
    assert recorded(koe) == before
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.SENT


def test_the_page_is_in_the_survey_language(koe):
    koe.dispatch(event(customer={"locale": "zh-CN"}))
    assert '<html lang="zh-Hans">' in text(get(koe, **{"accept-language": "ja"}))


@pytest.mark.parametrize("path", [f"{PAGE[:-3]}abc", "/s/not-a-token", f"/s/{survey_token.sign(KEY, 'nope')}"])
def test_a_tampered_or_unknown_token_is_a_friendly_404_in_the_browsers_language(koe, path):
    koe.dispatch(event())

    response = get(koe, path, **{"accept-language": "ja-JP,ja;q=0.9"})

    assert response.status_code == 404 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="ja">' in text(response) and "アンケートが見つかりません" in text(response)
    assert post(koe, path, score="9").status_code == 404
    assert koe.store.answers == {}


def test_post_records_the_answer_and_shows_thanks(koe):
    koe.dispatch(event())

    response = post(koe, score="3", comment="Slow payout")

    assert response.status_code == 200 and "Thank you for your feedback" in text(response)
    assert response.headers["Cache-Control"] == "no-store"
    survey = koe.store.get_survey(SURVEY)
    assert (survey.status, survey.score) == (SurveyStatus.ANSWERED, 3)
    answers = {a.question: a for a in koe.store.answers_for(SURVEY)}
    assert (answers["score"].text, answers["comment"].text, answers["comment"].score) == ("3", "Slow payout", 3)
    assert get(koe).status_code == 200 and "Anything you would like to add?" in text(get(koe))


def test_a_second_post_is_one_response_and_every_comment_is_kept(koe):
    koe.dispatch(event())
    post(koe, score="9", comment="fast")
    koe.clock.advance(hours=1)

    assert post(koe, score="1").status_code == 200
    assert post(koe, score="1", comment="and friendly").status_code == 200

    answers = koe.store.answers_for(SURVEY)
    assert [(a.question, a.score, a.text) for a in answers] == [
        ("score", 9, "9"), ("comment", 9, "fast"), ("comment", 9, "and friendly")]      # the first score stands


@pytest.mark.parametrize("body, why", [
    (b"score=1&score=10", "a field twice"), (b"score=9&comment=a&comment=b", "a comment twice"),
    (b"score=9&comment=%E3%81", "an escape cut short"), (b"score=9&comment=%zz", "not hex"),
    (b"score=9&comment=%FF%FE", "not UTF-8 once decoded"), (b"score=9&comment=\xff", "a body not UTF-8"),
])
def test_a_form_koe_cannot_read_is_400_with_the_form_again_and_records_nothing(koe, body, why):
    """Before: score=1&score=10 recorded 10, and a broken escape was stored as U+FFFD characters."""
    koe.dispatch(event(customer={"locale": "ja-JP"}))
    before = recorded(koe)

    response = koe.client.http.post(PAGE, headers=FORM, body=body)

    assert response.status_code == 400, why
    assert response.headers["Content-Type"] == "text/html; charset=utf-8" and '<html lang="ja">' in text(response)
    assert "送信内容を読み取れませんでした" in text(response)
    assert recorded(koe) == before


@pytest.mark.parametrize("form", [{}, {"score": "eleven"}, {"score": "11", "comment": "hmm"}])
def test_an_invalid_score_is_400_with_the_form_and_a_localised_error(koe, form):
    koe.dispatch(event(customer={"locale": "ja-JP"}))
    before = recorded(koe)

    response = post(koe, **form)

    assert response.status_code == 400 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'role="alert">0〜10の中から点数をお選びください。' in text(response)
    assert recorded(koe) == before


def test_after_the_window_an_answer_is_kept_as_late_and_a_month_on_the_link_is_410(koe):
    koe.dispatch(event())
    koe.clock.advance(hours=24)
    koe.tick()                                         # expired
    assert get(koe).status_code == 200
    response = post(koe, score="9", comment="late")
    assert response.status_code == 200
    assert koe.store.get_survey(SURVEY).status == "late"
    assert all(a.late for a in koe.store.answers_for(SURVEY))
    assert "Thank you" in text(get(koe))               # answered: the thank-you page stays


def test_a_post_that_is_not_a_form_is_a_415_page_in_the_browsers_language(koe):
    """Before: the customer's page answered its errors in the API's JSON."""
    koe.dispatch(event())
    response = koe.client.http.post(PAGE, headers={"content-type": "application/json", "accept-language": "zh-CN"},
                                    body=b'{"score": 9}')
    assert response.status_code == 415 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-Hans">' in text(response) and "本页面只接收通过页面表单提交的回答" in text(response)
    assert response.headers["Content-Security-Policy"] == koe.components.pages.content_security_policy
    assert koe.store.answers == {}


def test_a_body_too_large_and_a_busy_store_are_pages_too(koe):
    koe.dispatch(event())
    large = koe.client.http.post(PAGE, headers={**FORM, "accept-language": "ja"}, body=b"comment=" + b"x" * 1024 * 1024)
    assert large.status_code == 413 and "送信内容が大きすぎます" in text(large)

    def busy(*args, **kwargs):
        raise StorageThrottled("ProvisionedThroughputExceededException")

    koe.store.update_survey = busy
    retry = post(koe, score="9")
    assert retry.status_code == 503 and "Please try again in a few minutes." in text(retry)
    assert retry.headers["Content-Type"] == "text/html; charset=utf-8"


def test_a_fault_on_the_customers_page_is_a_500_page_not_json(koe):
    koe.dispatch(event())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    koe.store.get_survey = broken
    response = get(koe, **{"accept-language": "en"})
    assert response.status_code == 500 and "Something went wrong" in text(response)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_the_apis_errors_stay_json(koe):
    response = koe.post_json("/v1/events", b"{", content_type="text/plain")
    assert response.status_code == 415 and response.json_body["code"] == "unsupported_media_type"


def test_web_answers_flow_through_the_stream_like_sms_answers(koe):
    """The responses stream carries a web answer (INSERT) and each later comment (MODIFY) to the
    case exactly as it does an SMS answer."""
    koe.dispatch(event())
    post(koe, score="2", comment="slow")
    assert koe.stream(response_image(score=2), response_image(question="comment", score=2,
                                                                 text={"S": "slow"})) == {"batchItemFailures": []}
    assert koe.cases.get_case(SURVEY).comment == "slow"

    koe.clock.advance(minutes=5)
    post(koe, comment="nobody called back")
    koe.stream(response_image(question="comment", score=2, text={"S": "nobody called back"},
                              received_at=koe.clock.now), event_name="MODIFY")

    case = koe.cases.get_case(SURVEY)
    assert case.comment == "nobody called back"
    assert [c.text for c in case.comments] == ["slow", "nobody called back"]
    assert [m["event"] for m in koe.alerts.published] == ["opened", "comment"]      # the later comment is told
    [(_, counts)] = koe.scores.read("procedure", "2026-11-21", "2026-11-21")
    assert counts.n == 1


def test_given_a_japanese_customer_then_the_link_sms_opens_the_page_and_the_answer_is_recorded(koe):
    japanese = event(customer={"phone": "+819012345678", "locale": "ja-JP"})
    del japanese["customer"]["email"]                       # no email: the channel policy picks the link SMS
    assert koe.dispatch(japanese) == {"batchItemFailures": []}
    [sms] = koe.sms.sent
    link = sms["body"].split("https://koe.example.com/api")[1].split()[0]
    assert link.startswith("/s/")
    page = koe.client.http.get(link + "?score=9")
    assert page.status_code == 200 and 'lang="ja"' in page.body.decode()
    assert koe.store.answers_for(SURVEY) == []                          # showing the page records nothing
    answered = koe.client.http.post(link, headers={"content-type": "application/x-www-form-urlencoded"},
                                    body=b"score=9&comment=%E6%97%A9%E3%81%8B%E3%81%A3%E3%81%9F")
    assert answered.status_code == 200
    assert [(a.question, a.score, a.text) for a in koe.store.answers_for(SURVEY)] == [
        ("score", 9, "9"), ("comment", 9, "早かった")]
