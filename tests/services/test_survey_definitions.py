"""A procedure's survey definition on fakes (KOE_SURVEY_DEFINITIONS): a CSAT procedure asks 1-5 and a
CES procedure 1-7, in the SMS conversation, on the web page and by the email's buttons; the answer is
recorded with the scale and the definition's version it was asked with, and the scale's escalation
threshold; a score outside the scale is re-prompted (SMS) or asked again (web)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.email_templates import JinjaEmails
from chalicelib.adapters.pages import JinjaPages
from chalicelib.domain import survey_token
from chalicelib.domain.model import Step, SurveyStatus
from chalicelib.domain.questions import Definition, Definitions, Scale
from chalicelib.services.send_survey import EmailSurveySender
from chalicelib.services.tick import tick
from chalicelib.services.unsubscribe import link as unsubscribe_link
from chalicelib.services.web_survey import WebDeps, show, submit
from chalicelib.settings import REPO_ROOT
from tests.fakes.messaging import FakeEmail
from tests.services.conftest import PLACES, SECRET, World, links_of

SURVEY = "claims-2026-000123-paid"
KEY = survey_token.link_key(SECRET)
TOKEN = survey_token.sign(KEY, SURVEY)
CSAT = Definitions(by_procedure={"claim_payment": Definition(Scale.CSAT, 2)})
CES = Definitions(by_procedure={"claim_payment": Definition(Scale.CES, 3)})
JP_LINK = {"customer": {"phone": "+819012345678", "locale": "ja-JP", "email": None, "timezone": None}}
CN_EMAIL = {"customer": {"phone": "+8613800138000", "email": "li.mei@example.com", "locale": "zh-CN"}}


def survey(world: World):
    return world.store.get_survey(SURVEY)


def answers(world: World) -> dict[str, object]:
    return {a.question: a for a in world.store.answers_for(SURVEY)}


def web_deps(world: World) -> WebDeps:
    return WebDeps(store=world.store, pages=JinjaPages(REPO_ROOT / "templates", "Example Life"), links=links_of(KEY),
                   threshold_for=world.threshold_for, clock=world.clock, places=PLACES)


def radios(html: str) -> list[str]:
    return re.findall(r'type="radio" id="score-\d+" name="score" value="(\d+)"', html)


# --- SMS: CSAT ----------------------------------------------------------------------------------------

def test_a_csat_procedure_asks_1_to_5_by_sms_and_records_the_answer_with_its_scale_and_version():
    world = World(definitions=CSAT)

    assert world.dispatch()["status"] == "sent"

    [sms] = world.sms.sent
    assert "how satisfied were you with your claim payment? Reply 1 (very dissatisfied) to 5" in sms["body"]
    assert (survey(world).scale, survey(world).definition_version) == ("csat", 2)
    assert world.reply("4") == "Thank you. What is the main reason for your score?"
    assert world.reply("the form was short").startswith("Thank you for your feedback")
    done = survey(world)
    assert (done.status, done.score, done.step) == (SurveyStatus.ANSWERED, 4, Step.DONE)
    recorded = answers(world)
    for question in ("score", "comment"):
        answer = recorded[question]
        assert (answer.score, answer.scale, answer.definition_version) == (4, "csat", 2)
        assert (answer.threshold, answer.channel) == (2, "sms_two_way")    # CSAT's default threshold


def test_a_9_on_a_csat_survey_is_reprompted_naming_1_to_5_and_the_next_reply_is_read():
    world = World(definitions=CSAT)
    world.dispatch()

    reprompt = world.reply("9")

    assert reprompt == ("Sorry, we could not read that. Please reply with a number from 1 (very dissatisfied) "
                        "to 5 (very satisfied).")
    assert survey(world).reprompts == 1 and world.store.answers == {}
    assert world.reply("4 out of 5") == "Thank you. What is the main reason for your score?"
    assert answers(world)["score"].score == 4


def test_two_replies_outside_the_scale_close_the_survey_as_unreadable():
    world = World(definitions=CSAT)
    world.dispatch()
    world.reply("9")
    world.reply("10/10")
    assert survey(world).status is SurveyStatus.UNREADABLE
    assert [m.body for m in world.store.inbound if m.reason == "unreadable"] == ["10/10"]


def test_a_japanese_csat_conversation_reads_full_width_and_kanji_and_reprompts_in_japanese():
    world = World(definitions=CSAT)
    world.dispatch(customer={"locale": "ja-JP"})                  # a US phone: two-way SMS in Japanese
    assert "1（不満）〜5（満足）で返信ください" in world.sms.sent[0]["body"]

    assert world.reply("九") == "読み取れませんでした。1（不満）〜5（満足）の数字で返信してください。"
    assert world.reply("四点です。丁寧でした").startswith("ご回答ありがとうございました")
    assert (answers(world)["score"].score, answers(world)["comment"].text) == (4, "丁寧でした")


def test_help_and_a_replay_answer_on_the_surveys_scale():
    world = World(definitions=CSAT)
    world.dispatch()
    assert "Reply with a score 1-5" in world.reply("HELP")
    first = world.reply("7", sid="SM" + "b" * 32)
    assert world.reply("7", sid="SM" + "b" * 32) == first and "1 (very dissatisfied) to 5" in first
    assert survey(world).reprompts == 1


def test_the_reminder_asks_on_the_surveys_scale():
    world = World(definitions=CSAT, reminder_after=timedelta(hours=24), response_window=timedelta(days=7))
    world.dispatch()
    world.clock.advance(hours=25)

    assert tick(world.tick_deps)["reminded"] == 1

    assert "how satisfied were you with your claim payment? Reply 1-5." in world.sms.sent[1]["body"]


# --- SMS: CES --------------------------------------------------------------------------------------

def test_a_ces_procedure_asks_1_to_7_and_reads_7_but_reprompts_8():
    world = World(definitions=CES)
    world.dispatch(customer={"locale": "zh-CN"})
    assert "请回复1（非常不同意）到7（非常同意）" in world.sms.sent[0]["body"]

    assert "请回复1（非常不同意）到7（非常同意）之间的数字" in world.reply("8分")
    assert world.reply("七分，很方便").startswith("感谢您的反馈")

    score = answers(world)["score"]
    assert (score.score, score.scale, score.definition_version, score.threshold) == (7, "ces", 3, 3)
    assert answers(world)["comment"].text == "很方便"


# --- the definition belongs to the survey ---------------------------------------------------------------

def test_other_procedures_keep_nps():
    world = World(definitions=CSAT)
    world.dispatch(event_id="policy-2026-000200", procedure="new_policy")
    nps = world.store.get_survey("policy-2026-000200")
    assert (nps.scale, nps.definition_version) == ("nps", 1) and "Reply 0-10" in world.sms.sent[0]["body"]
    world.reply("9")
    [score] = world.store.answers_for("policy-2026-000200")
    assert (score.score, score.scale, score.threshold) == (9, "nps", 6)


def test_an_answer_keeps_the_version_it_was_asked_with_after_the_definition_changes():
    world = World(definitions=CSAT)
    world.dispatch()
    world.definitions = Definitions(by_procedure={"claim_payment": Definition(Scale.NPS, 3)})   # changed

    world.reply("5")                                   # the customer answers the question they were asked

    assert (answers(world)["score"].scale, answers(world)["score"].definition_version) == ("csat", 2)
    assert answers(world)["score"].threshold == 2
    world.dispatch(event_id="claims-2026-000124-paid", customer={"phone": "+15550100124"})
    later = world.store.get_survey("claims-2026-000124-paid")
    assert (later.scale, later.definition_version) == ("nps", 3)


def test_a_procedures_own_threshold_applies_to_its_scale():
    world = World(definitions=CSAT)
    world.thresholds["claim_payment"] = 3
    world.dispatch()
    world.reply("3")
    assert answers(world)["score"].threshold == 3


# --- the web page --------------------------------------------------------------------------------------

@pytest.mark.parametrize("definitions, values, outside, language, question", [
    (CSAT, ["1", "2", "3", "4", "5"], "9", "ja", "どの程度満足されましたか"),
    (CES, ["1", "2", "3", "4", "5", "6", "7"], "0", "ja", "簡単でしたか"),
])
def test_the_web_page_shows_the_scales_buttons_and_a_score_outside_it_is_asked_again(definitions, values, outside,
                                                                                     language, question):
    world = World(definitions=definitions)
    world.dispatch(**JP_LINK)
    assert world.link(survey(world)) in world.sms.sent[0]["body"]          # the link SMS to Japan
    deps = web_deps(world)

    form = show(TOKEN, outside, None, deps)                                  # ?score=9 pre-selects nothing
    assert form.outcome == "form" and radios(form.html) == values and " checked" not in form.html
    assert question in form.html

    again = submit(TOKEN, urlencode({"score": outside, "comment": "遅かった"}), None, deps)
    assert again.outcome == "invalid" and f"1〜{values[-1]}の中から点数をお選びください。" in again.html
    assert world.store.answers == {} and survey(world).status is SurveyStatus.SENT

    assert submit(TOKEN, urlencode({"score": "2", "comment": "遅かった"}), None, deps).outcome == "thanks"
    score = answers(world)["score"]
    expected = definitions.for_procedure("claim_payment")
    assert (score.score, score.scale, score.definition_version, score.channel) == (
        2, expected.scale.value, expected.version, "sms_link")
    assert score.threshold == {Scale.CSAT: 2, Scale.CES: 3}[expected.scale]
    assert (survey(world).status, survey(world).score) == (SurveyStatus.ANSWERED, 2)


def test_a_score_in_the_link_is_pre_selected_when_it_is_on_the_scale():
    world = World(definitions=CSAT)
    world.dispatch(**JP_LINK)
    html = show(TOKEN, "4", None, web_deps(world)).html
    assert 'value="4" checked>' in html and html.count(" checked>") == 1


# --- email ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("definitions, top, question, low, high", [
    (CSAT, 5, "您对Example Life本次理赔付款的满意程度如何？", "1 = 很不满意", "5 = 非常满意"),
    (CES, 7, "您在多大程度上同意：“Example Life让本次理赔付款办理起来很轻松”？", "1 = 非常不同意", "7 = 非常同意"),
])
def test_the_email_has_one_button_per_score_of_the_scale_with_its_end_labels(definitions, top, question, low, high):
    email = FakeEmail()
    world = World(definitions=definitions)
    world.extra_senders["email"] = EmailSurveySender(
        email, JinjaEmails(REPO_ROOT / "templates", "Example Life"), world.link,
        lambda s: unsubscribe_link(links_of(KEY)(), "https://koe.example.jp/u", s), world.key)

    assert world.dispatch(**CN_EMAIL)["reason"] == "CN:email (sms_cn: not available; wechat: none)"

    (sent,) = email.sent
    page = world.link(survey(world))
    buttons = re.findall(r'href="([^"]+)" class="score"[^>]*>(\d+)</a>', sent.content.html)
    assert [(href.replace("&amp;", "&"), n) for href, n in buttons] == [
        (f"{page}?score={n}", str(n)) for n in range(1, top + 1)]
    assert question in sent.content.html and question in sent.content.text
    assert low in sent.content.html and high in sent.content.html
    assert f"点选1到{top}中的一个数字" in sent.content.html                       # the preheader
