"""The web survey page in Chromium at a phone's size, in English, Japanese and Chinese: a customer
opens the link (a score pre-selected), picks a score with the mouse and the keyboard, writes why,
sends, and sees the thank-you page; the store then holds the answers. Plus the page's accessibility
as the browser sees it: labels, the legend, the tab order, visible focus, contrast, tap targets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.domain.model import SurveyStatus
from tests.browser.conftest import SCREENSHOTS, Site

pytestmark = pytest.mark.browser

QUESTIONS = {
    "en": "How likely are you to recommend Example Life after your claim payment?",
    "ja": "今回の保険金のお支払い手続きを踏まえて、Example Lifeをご友人やご家族に勧める可能性はどのくらいありますか？",
    "zh": "经过本次理赔付款，您向亲友推荐Example Life的可能性有多大？",
}
HTML_LANG = {"en": "en", "ja": "ja", "zh": "zh-Hans"}
COMMENTS = {"en": "The payout came fast, but nobody told me it had been sent.",
            "ja": "お支払いは早かったのですが、送金のお知らせがありませんでした。",
            "zh": "理赔到账很快，但没有人通知我已经付款。"}
THANKS = {"en": "Thank you for your feedback", "ja": "ご回答ありがとうございました", "zh": "感谢您的反馈"}
SCORE_REQUIRED = {"en": "Please choose a score from 0 to 10.", "ja": "0〜10の中から点数をお選びください。",
                  "zh": "请选择0到10之间的分数。"}


def radio(page: Any, score: int) -> Any:
    return page.locator(f"#score-{score}")


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_a_customer_answers_on_a_phone(site: Site, phone: Any, language: str) -> None:
    link = site.survey(language)

    response = phone.goto(f"{link}?score=9")

    assert response.status == 200
    assert phone.get_attribute("html", "lang") == HTML_LANG[language]
    assert phone.locator("legend").inner_text() == QUESTIONS[language]
    assert radio(phone, 9).is_checked()                             # pre-selected from the link ...
    assert site.answers(link) == {}                                 # ... and not recorded by showing it
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390   # no sideways scrolling
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / f"web-survey-{language}.png"), full_page=True)

    phone.locator("label[for=score-6]").click()                     # the mouse (a tap) on the box ...
    assert radio(phone, 6).is_checked() and not radio(phone, 9).is_checked()
    phone.keyboard.press("ArrowRight")                              # ... then the keyboard: 6 -> 7
    assert radio(phone, 7).is_checked()
    phone.locator("#comment").fill(COMMENTS[language])
    phone.get_by_role("button").click()

    phone.wait_for_load_state()
    assert phone.locator("h1").inner_text() == THANKS[language]
    assert phone.locator("[role=status]").count() == 1              # "we have your comment"
    assert phone.locator("#comment").count() == 1                   # and the box for more
    if language == "en":
        phone.screenshot(path=str(SCREENSHOTS / "web-survey-thanks-en.png"), full_page=True)
    answers = site.answers(link)
    assert (answers["score"].score, answers["score"].text) == (7, "7")
    assert (answers["comment"].score, answers["comment"].text) == (7, COMMENTS[language])
    survey = site.store.surveys[answers["score"].survey_id]
    assert (survey.status, survey.score) == (SurveyStatus.ANSWERED, 7)
    assert phone.problems == []                                     # e.g. no style refused by the CSP


def test_opening_the_link_again_changes_no_score_and_keeps_the_latest_comment(site: Site, phone: Any) -> None:
    link = site.survey("en")
    phone.goto(link)
    phone.locator("label[for=score-3]").click()
    phone.get_by_role("button").click()
    phone.wait_for_load_state()

    phone.locator("#comment").fill("Nobody called me back.")
    phone.get_by_role("button").click()
    phone.wait_for_load_state()
    phone.goto(f"{link}?score=10")                                  # the link again, another score

    assert phone.locator("h1").inner_text() == THANKS["en"]
    answers = site.answers(link)
    assert answers["score"].score == 3 and answers["comment"].text == "Nobody called me back."


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_sending_without_a_score_shows_the_error_in_the_page_language(site: Site, phone: Any, language: str) -> None:
    link = site.survey(language)
    phone.goto(link)
    phone.locator("#comment").fill("…")

    with phone.expect_navigation() as navigation:
        phone.get_by_role("button").click()

    assert navigation.value.status == 400
    assert phone.get_by_role("alert").inner_text() == SCORE_REQUIRED[language]
    assert phone.locator("#comment").input_value() == "…"          # what was typed is kept
    assert site.answers(link) == {}


def test_a_broken_link_is_a_friendly_page_in_the_browsers_language(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    try:
        page = context.new_page()
        response = page.goto(f"{site.base_url}/s/this-link-was-cut")
        assert response.status == 404
        assert page.get_attribute("html", "lang") == "ja"
        assert page.locator("h1").inner_text() == "アンケートが見つかりません"
    finally:
        context.close()


# --- accessibility, as the browser sees it ----------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ja", "zh"])
def test_every_field_is_labelled_and_the_scores_have_a_legend(site: Site, phone: Any, language: str) -> None:
    phone.goto(site.survey(language))

    unlabelled = phone.evaluate("""() => [...document.querySelectorAll('input, textarea, select')]
        .filter(field => !field.labels.length || !field.labels[0].innerText.trim()).map(field => field.id)""")
    assert unlabelled == []
    group = phone.evaluate("""() => {
        const radios = [...document.querySelectorAll('input[type=radio]')];
        const sets = new Set(radios.map(r => r.closest('fieldset')));
        const fieldset = radios[0].closest('fieldset');
        return {radios: radios.length, fieldsets: sets.size,
                legend: fieldset && fieldset.querySelector(':scope > legend')?.innerText.trim()};
    }""")
    assert group == {"radios": 11, "fieldsets": 1, "legend": QUESTIONS[language]}
    for score in range(11):                                         # the accessible name is the number
        assert phone.get_by_role("radio", name=str(score), exact=True).count() == 1
    assert phone.get_by_role("group", name=QUESTIONS[language]).count() == 1
    assert phone.get_by_role("textbox").count() == 1


def test_tab_reaches_the_score_then_the_comment_then_send(site: Site, phone: Any) -> None:
    phone.goto(site.survey("ja"))

    focused = []
    for _ in range(3):
        phone.keyboard.press("Tab")
        focused.append(phone.evaluate("document.activeElement.id || document.activeElement.tagName"))

    assert focused == ["score-0", "comment", "BUTTON"]


def test_keyboard_focus_is_visible(site: Site, phone: Any) -> None:
    phone.goto(site.survey("en"))

    phone.keyboard.press("Tab")                                     # onto the first score
    score_outline = phone.evaluate("getComputedStyle(document.querySelector('label[for=score-0]')).outlineStyle")
    phone.keyboard.press("Tab")
    comment_outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    phone.keyboard.press("Tab")
    button_outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")

    assert (score_outline, comment_outline, button_outline) == ("solid", "solid", "solid")


def test_score_boxes_are_big_enough_to_tap(site: Site, phone: Any) -> None:
    phone.goto(site.survey("zh"))

    sizes = phone.evaluate("""() => [...document.querySelectorAll('label.score, button')]
        .map(element => { const box = element.getBoundingClientRect(); return [box.width, box.height]; })""")

    assert len(sizes) == 12 and all(width >= 44 and height >= 44 for width, height in sizes), sizes


CONTRAST = """(selector) => [...document.querySelectorAll(selector)].map(element => {
    let color = getComputedStyle(element).color, node = element, background = 'rgba(0, 0, 0, 0)';
    while (node && /rgba\\(.*, 0\\)$/.test(background)) {
        background = getComputedStyle(node).backgroundColor; node = node.parentElement;
    }
    return [color, background];
})"""


def _luminance(css: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _ratio(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_text_contrast_is_at_least_4_5_to_1(site: Site, phone: Any) -> None:
    phone.goto(site.survey("en") + "?score=9")                      # a selected score too
    pairs = []
    for selector in (".brand", "legend h1", "label.score span", ".anchors span", "label.field", "button"):
        pairs += phone.evaluate(CONTRAST, selector)
    phone.get_by_role("button").click()                             # no score: the error message
    phone.wait_for_load_state()
    phone.goto(site.survey("en"))
    phone.get_by_role("button").click()
    phone.wait_for_load_state()
    pairs += phone.evaluate(CONTRAST, ".error")

    ratios = {f"{fg} on {bg}": round(_ratio(fg, bg), 2) for fg, bg in pairs}
    assert len(pairs) > 15 and all(ratio >= 4.5 for ratio in ratios.values()), ratios


# --- a procedure asked on CSAT (1-5) or CES (1-7): KOE_SURVEY_DEFINITIONS ---------------------------

CSAT_QUESTIONS = {"ja": "今回のExample Lifeの保険金のお支払い手続きに、どの程度満足されましたか？",
                  "en": "How satisfied were you with your claim payment from Example Life?"}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_customer_answers_a_csat_survey_on_a_phone(site: Site, phone: Any, language: str) -> None:
    link = site.survey(language, scale="csat")

    phone.goto(f"{link}?score=4")

    assert phone.locator("legend").inner_text() == CSAT_QUESTIONS[language]
    values = phone.evaluate("() => [...document.querySelectorAll('input[type=radio]')].map(r => r.value)")
    assert values == ["1", "2", "3", "4", "5"] and radio(phone, 4).is_checked()
    tops = phone.evaluate("() => new Set([...document.querySelectorAll('label.score')].map(l => l.offsetTop)).size")
    assert tops == 1                                                # the five scores in one row
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / f"web-survey-csat-{language}.png"), full_page=True)

    phone.locator("label[for=score-2]").click()
    phone.keyboard.press("ArrowRight")                              # 2 -> 3
    phone.locator("#comment").fill(COMMENTS[language])
    phone.get_by_role("button").click()

    phone.wait_for_load_state()
    assert phone.locator("h1").inner_text() == THANKS[language]
    answers = site.answers(link)
    assert (answers["score"].score, answers["score"].scale, answers["score"].definition_version) == (3, "csat", 2)
    assert answers["score"].threshold == 2                          # CSAT's default: 1 and 2 open a case
    assert phone.problems == []


def test_a_ces_survey_shows_seven_scores_in_one_row_big_enough_to_tap(site: Site, phone: Any) -> None:
    phone.goto(site.survey("zh", scale="ces"))

    boxes = phone.evaluate("""() => [...document.querySelectorAll('label.score')]
        .map(element => { const box = element.getBoundingClientRect(); return [box.width, box.height, box.top]; })""")

    assert len(boxes) == 7 and len({top for _, _, top in boxes}) == 1, boxes
    assert all(width >= 44 and height >= 44 for width, height, _ in boxes), boxes
    assert phone.locator(".anchors").inner_text().split("\n") == ["1 = 非常不同意", "7 = 非常同意"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "web-survey-ces-zh.png"), full_page=True)
