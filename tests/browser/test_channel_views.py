"""The phone page's views of the market channels in Chromium.

LINE: the phone page's LINE view against the whole local stack (`python -m devstack`, started
as the e2e tests start it), whose LINE Platform stand-in (devstack/line.py) the real `line-bot-sdk`
pushes to: a customer in Japan with a LINE user id adds koe's account as a friend on the page, receives
the invitation with a quick-reply button per score (0 to 10), taps "3", is asked why, types a reason and
is thanked; each tap and text reached koe as LINE's signed webhook. In each language koe writes LINE
messages in (the page's own words are English, as the rest of the phone page). Blocking koe's account
on the page opts the LINE user id out of LINE: the next survey goes by link SMS, with the reason.
Screenshots: docs/screenshots/line-invitation-<lang>.png, line-chat-<lang>.png.

China SMS: a mainland number's Messages thread shows what the Alibaba Cloud SMS stand-in accepted from
the real Alibaba SDK (the approved template, 【signature】 first, 回T退订 last, its delivery report's verdict);
the customer follows the link, answers on the survey page, comes back and texts 退订, which the stand-in
pushes to koe as Alibaba's reply receipt: the next survey is suppressed. In the two languages the
local template book is approved in (devstack/local_cn_sms.py). Screenshots:
docs/screenshots/china-sms-invitation-<lang>.png, china-sms-opt-out-<lang>.png.

WeChat: the phone page's WeChat view of a follower's chat with koe's service account on the WeChat
stand-in (devstack/wechat.py), which the real `wechatpy` client sends template messages to: a customer in
China known by an openid and an email address, without a phone, follows the account on the page, receives
the invitation as a template message card (its title, koe's values, "详情 / Details"), opens the survey
page from it in a new tab and answers 9; back on the page they unfollow, which the stand-in pushes to koe
as WeChat's signed event: the next survey goes by email, with the reason. In the two languages of the
local WeChat template book (chalicelib/domain/wechat.py DEFAULT_TEMPLATES). Screenshots:
docs/screenshots/wechat-invitation-<lang>.png, wechat-unfollow-<lang>.png."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import SCREENSHOTS, _require_browser, watched
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}        # as the phone page's test: the phone beside its panel
NPS_BUTTONS = [str(score) for score in range(11)]
WAIT_MS = 75_000            # the invitation: a tick, or a minute more when the run falls on 23:59 in Tokyo
# The customer's language: (locale, words of koe's "why?", start of its thanks, the reason typed).
LANGUAGES = {
    "ja": ("ja-JP", "理由", "ご回答ありがとうございました", "書類の説明が分かりにくかったです"),
    "zh": ("zh-CN", "原因", "感谢您的反馈", "材料说明不够清楚，打了好几次电话"),
    "en": ("en-GB", "reason", "Thank you for your feedback", "The forms were hard to follow"),
}


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    _require_browser()          # fail before spending a stack start on a machine without Chromium
    with local_stack(tmp_path_factory.mktemp("channel-views"), OPEN_ALL_DAY) as running:
        yield Koe(running)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
    yield watched(context.new_page())
    context.close()


def an_event(koe: Koe, user: str, phone: str, locale: str) -> dict[str, Any]:
    return {"event_id": f"browser-line-{uuid.uuid4().hex[:10]}", "procedure": "claim_payment",
            "completed_at": koe.now().isoformat(timespec="seconds"),
            "customer": {"id": f"C-{uuid.uuid4().hex[:6]}", "phone": phone, "line_user_id": user, "locale": locale,
                         "timezone": "Asia/Tokyo"},
            "context": {"branch": "tokyo-chuo", "agent_id": "A-browser"}}


def line_view(koe: Koe, user: str) -> str:
    return f"{koe.carrier}/?line={quote(user)}"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_line_user_taps_a_score_writes_why_and_is_thanked(koe: Koe, page: Any, language: str) -> None:
    locale, why, thanks, reason = LANGUAGES[language]
    user, phone = "U" + uuid.uuid4().hex, f"+8190000{30170 + list(LANGUAGES).index(language)}"

    # The customer opens LINE and adds koe's account as a friend
    page.goto(line_view(koe, user))
    page.get_by_role("tab", name="LINE").wait_for()
    assert page.get_by_role("tab", name="LINE").get_attribute("aria-selected") == "true"
    page.get_by_text("Not a friend of koe's account yet").wait_for()
    page.get_by_role("button", name="Add koe as a friend").click()
    page.get_by_text("Friends with koe's account").wait_for()

    # koe surveys them on LINE: the invitation, with a button per score
    posted = an_event(koe, user, phone, locale)
    assert koe.post(posted).status_code == 202
    buttons = page.locator("#quick button")
    buttons.first.wait_for(timeout=WAIT_MS)
    assert buttons.all_inner_texts() == NPS_BUTTONS
    assert "Example Life" in page.locator(".bubble.from-koe").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"line-invitation-{language}.png"))

    # Tapping "3" sends it; koe asks why, and the buttons are gone
    page.locator("#quick").get_by_role("button", name="3", exact=True).click()
    page.locator(".bubble.from-me", has_text="3").wait_for()
    page.locator(".bubble.from-koe", has_text=why).wait_for()
    assert page.locator("#quick").is_hidden()

    # The reason, typed and sent; koe thanks them
    koe.said.append(reason)             # must never show up in a log (local_stack scans them)
    page.get_by_role("textbox", name="LINE message").fill(reason)
    page.get_by_role("button", name="Send", exact=True).click()
    page.locator(".bubble.from-me", has_text=reason).wait_for()
    page.locator(".bubble.from-koe", has_text=thanks).wait_for()
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"line-chat-{language}.png"))

    answered = koe.survey_once(posted["event_id"], "answered")
    assert (answered["channel"], answered["score"]) == ("line", 3)
    assert [m["direction"] for m in koe.line_chat(user)] == ["push", "user", "reply", "user", "reply"]
    assert koe.invitations(phone) == []
    assert page.problems == []


def test_blocking_koes_account_on_the_page_opts_out_of_line(koe: Koe, page: Any) -> None:
    user, phone = "U" + uuid.uuid4().hex, "+819000030179"
    page.goto(line_view(koe, user))
    page.get_by_role("button", name="Add koe as a friend").click()
    page.get_by_text("Friends with koe's account").wait_for()

    # The customer blocks the account: LINE tells koe (an unfollow webhook), the page lets them unblock
    page.get_by_role("button", name="Block").click()
    page.get_by_text("You blocked koe's account").wait_for()
    assert page.locator("#status").inner_text() == "koe answered 200"
    assert page.get_by_role("button", name="Unblock").is_visible()
    assert page.get_by_role("textbox", name="LINE message").is_disabled()

    # koe's next survey of them goes by link SMS, and says why not LINE
    posted = an_event(koe, user, phone, "ja-JP")
    assert koe.post(posted).status_code == 202
    assert eventually(lambda: koe.invitations(phone), timeout=75)
    survey = koe.survey(posted["event_id"])
    assert survey is not None
    assert (survey["channel"], survey["channel_reason"]) == ("sms_link", "JP:sms_link (line: blocked)")
    assert koe.line_chat(user) == []
    assert page.problems == []


def answer_nine(koe: Koe, survey_page: Any, survey_id: str, thanks: str, language: str = "") -> None:
    """On the survey page a link opened (a new tab): 9, sent, thanked in `thanks`; the tab closed."""
    survey_page.wait_for_load_state()
    assert (survey_page.locator("html").get_attribute("lang") or "").startswith(language)
    survey_page.locator("label[for='score-9']").click()
    survey_page.locator("button[type=submit]").click()
    survey_page.get_by_text(thanks).wait_for()
    assert koe.survey_once(survey_id, "answered")["score"] == 9
    assert survey_page.problems == []
    survey_page.close()


# --- China SMS: a mainland number's Messages thread -------------------------------------------------

# The customer's language: (locale, start of the invitation after the signature, the page's thanks).
CHINA_LANGUAGES = {
    "zh": ("zh-CN", "感谢您办理本次业务", "感谢您的反馈"),
    "en": ("en-US", "Thank you for your business", "Thank you for your feedback"),
}


@pytest.mark.parametrize("language", list(CHINA_LANGUAGES))
def test_a_mainland_customer_reads_the_china_sms_answers_on_the_page_and_texts_tui_ding(
        koe: Koe, page: Any, language: str) -> None:
    locale, opening, thanks = CHINA_LANGUAGES[language]
    phone = f"+86138001381{70 + list(CHINA_LANGUAGES).index(language)}"
    page.goto(f"{koe.carrier}/?number={quote(phone)}")
    page.get_by_text(f"No messages with {phone} yet").wait_for()

    # koe surveys them by China SMS: the approved template, signed, ending with the unsubscribe words
    posted = {"event_id": f"browser-cn-{uuid.uuid4().hex[:10]}", "procedure": "claim_payment",
              "completed_at": koe.now().isoformat(timespec="seconds"),
              "customer": {"id": f"C-{uuid.uuid4().hex[:6]}", "phone": phone, "locale": locale,
                           "timezone": "Asia/Shanghai"},
              "context": {"branch": "tokyo-chuo", "agent_id": "A-browser"}}
    assert koe.post(posted).status_code == 202
    invitation = page.locator(".bubble.from-koe").first
    invitation.wait_for(timeout=WAIT_MS)
    assert invitation.inner_text().startswith(f"【示例人寿】{opening}") and invitation.inner_text().endswith("回T退订")
    page.locator(".meta", has_text=re.compile(r"delivered · \d seg · Alibaba Cloud SMS$")).wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"china-sms-invitation-{language}.png"))

    # The link opens the survey page (as a phone opens a link: a new tab), where they answer 9
    with page.context.expect_page() as opened:
        invitation.get_by_role("link").click()
    answer_nine(koe, watched(opened.value), posted["event_id"], thanks)

    # Back in Messages, they text 退订: Alibaba pushes it to koe as a reply receipt
    page.get_by_role("textbox", name="Text message").fill("退订")
    page.get_by_role("button", name="Send", exact=True).click()
    page.locator(".bubble.from-me", has_text="退订").wait_for()
    assert page.locator("#status").inner_text() == "app answered 200"
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"china-sms-opt-out-{language}.png"))

    # No survey reaches them any more
    later = dict(posted, event_id=f"browser-cn-{uuid.uuid4().hex[:10]}", procedure="address_change")
    assert koe.post(later).status_code == 202
    assert koe.survey_once(later["event_id"], "suppressed")["reason"] == "opted_out"
    assert len(koe.china_texts(phone)) == 1 and koe.texts_to(phone) == []
    assert page.problems == []


# --- WeChat: a follower's chat with koe's service account ---------------------------------------------

# The customer's language: (locale, the invitation's title, the procedure as koe names it, the page's
# language, its thanks).
WECHAT_LANGUAGES = {
    "zh": ("zh-CN", "服务评价邀请", "理赔付款", "zh", "感谢您的反馈"),
    "en": ("en-US", "Tell us how we did", "claim payment", "en", "Thank you for your feedback"),
}


def a_wechat_follower(koe: Koe, openid: str, email: str, locale: str, customer_id: str | None = None,
                      procedure: str = "claim_payment") -> dict[str, Any]:
    """A customer in China known by the account's openid and an email address, without a phone."""
    return {"event_id": f"browser-wx-{uuid.uuid4().hex[:10]}", "procedure": procedure,
            "completed_at": koe.now().isoformat(timespec="seconds"),
            "customer": {"id": customer_id or f"C-{uuid.uuid4().hex[:6]}", "wechat_openid": openid, "email": email,
                         "locale": locale, "timezone": "Asia/Shanghai"},
            "context": {"branch": "tokyo-chuo", "agent_id": "A-browser"}}


def koe_answered_200(page: Any) -> None:
    """The status line says what koe answered the stand-in's push (the chat may show the change first)."""
    page.locator("#status", has_text=re.compile(r"^koe answered 200$")).wait_for()


@pytest.mark.parametrize("language", list(WECHAT_LANGUAGES))
def test_a_wechat_follower_opens_the_template_message_answers_and_unfollowing_passes_wechat_over(
        koe: Koe, page: Any, language: str) -> None:
    locale, title, procedure, page_language, thanks = WECHAT_LANGUAGES[language]
    openid, address = "oKoe" + uuid.uuid4().hex[:24], f"wx-{language}-{uuid.uuid4().hex[:6]}@example.com"
    koe.said.append(openid)              # must never show up in a log (local_stack scans them)

    # The customer opens WeChat on the page and follows koe's service account
    page.goto(f"{koe.carrier}/?wechat={quote(openid)}")
    page.get_by_role("tab", name="WeChat").wait_for()
    assert page.get_by_role("tab", name="WeChat").get_attribute("aria-selected") == "true"
    page.get_by_text("Not following koe's account yet").wait_for()
    assert page.get_by_role("textbox", name="WeChat message").is_disabled()
    page.get_by_role("button", name="Follow", exact=True).click()
    page.get_by_text("Following koe's account").wait_for()
    koe_answered_200(page)

    # koe surveys them on WeChat: the account's invitation template, a card with koe's values and its link
    posted = a_wechat_follower(koe, openid, address, locale)
    assert koe.post(posted).status_code == 202
    card = page.locator(".card").first
    card.wait_for(timeout=WAIT_MS)
    assert card.locator(".card-title").inner_text() == title
    assert procedure in card.locator(".card-row").all_inner_texts()
    page.locator(".meta", has_text="template message · success").wait_for()
    details = card.get_by_role("link", name="详情 / Details")
    assert details.get_attribute("href").startswith(f"{koe.api}/s/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"wechat-invitation-{language}.png"))
    survey = koe.survey_once(posted["event_id"], "sent")
    assert (survey["channel"], survey["channel_reason"]) == ("wechat", "no_phone:wechat")

    # "详情" opens the survey page (as WeChat opens a template message's link), in their language: a 9
    with page.context.expect_page() as opened:
        details.click()
    answer_nine(koe, watched(opened.value), posted["event_id"], thanks, page_language)

    # Back in WeChat, they unfollow the account: the stand-in tells koe (an unsubscribe event)
    page.get_by_role("button", name="Unfollow", exact=True).click()
    page.get_by_text("You unfollowed koe's account").wait_for()
    koe_answered_200(page)
    assert page.get_by_role("textbox", name="WeChat message").is_disabled()
    assert page.get_by_role("button", name="Follow", exact=True).is_visible()
    page.locator(".phone").screenshot(path=str(SCREENSHOTS / f"wechat-unfollow-{language}.png"))

    # koe's next survey of them goes by email, and says why not WeChat; no new card
    later = a_wechat_follower(koe, openid, address, locale, posted["customer"]["id"], "address_change")
    assert koe.post(later).status_code == 202
    decided = eventually(lambda: (s := koe.survey(later["event_id"])) and s["status"] != "sending" and s, timeout=30)
    assert decided, "the later procedure was not decided"
    assert (decided["channel"], decided["channel_reason"]) == ("email", "no_phone:email"), decided
    assert len(koe.wechat_sent(openid)) == 1 and page.locator(".card").count() == 1
    assert page.problems == []
