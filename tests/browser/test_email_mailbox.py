"""The email survey in Chromium: koe's email sender (the real SES adapter, on a moto server) sends a
survey email; the carrier's mailbox page shows it as a mail client would (a sandboxed frame, links
live); the customer taps "9" in the email, lands on the web survey with 9 selected, sends it, and the
answer is recorded. In English and Japanese; screenshots of the email go to docs/screenshots/."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.adapters.email_templates import JinjaEmails
from chalicelib.adapters.ses_email import SesEmail
from chalicelib.domain import survey_token
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.services.send_survey import EmailSurveySender, send_survey
from chalicelib.settings import REPO_ROOT
from devstack.carrier import Carrier
from devstack.provision import EMAIL_FROM, client, create_email, create_topic
from tests.browser.conftest import KEY, SCREENSHOTS, Site

pytestmark = pytest.mark.browser

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
THANKS = {"en": "Thank you for your feedback", "ja": "ご回答ありがとうございました"}
BUTTON_HINT = {"en": "Tap a number to answer:", "ja": "数字をタップしてお答えください："}
COMMENT = {"en": "Quick payout, thank you.", "ja": "お支払いが早く、助かりました。"}


def problems(page: Any) -> list[str]:
    """Console errors, but for the sandbox refusing to run scripts in the email's frame (the email has
    none; Chromium says so when the test reads the frame): that refusal is the mailbox working."""
    return [p for p in page.problems if not p.startswith("Blocked script execution in 'about:srcdoc'")]


@pytest.fixture(scope="module")
def mail(moto_server: Any) -> Iterator[tuple[Carrier, str]]:
    """SES on moto as the local stack provisions it, and the carrier reading it: (carrier, configuration set)."""
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    topic = create_topic(client("sns", moto_server.endpoint, REGION), f"{prefix}ses-events")
    settings = create_email(client("sesv2", moto_server.endpoint, REGION), client("ses", moto_server.endpoint, REGION),
                            prefix, topic)
    configuration_set = next(v for k, v in settings.items() if k != "KOE_EMAIL_FROM")
    carrier = Carrier(account_sid="AC" + "5a1e" * 8, auth_token="0" * 32, number="+15550009999",
                      app_sms_url="http://127.0.0.1:9/twilio/sms", moto_url=moto_server.endpoint,
                      ses_events_topic_arn=topic, ses_configuration_set=configuration_set, region=REGION)
    carrier.start()
    yield carrier, configuration_set
    carrier.stop()


def email_survey(site: Site, moto_endpoint: str, configuration_set: str, language: str) -> tuple[str, str]:
    """A survey sent by email through koe's own sender, its links pointing at the site; (survey id, address)."""
    now = site.components.clock()
    survey_id = f"browser-email-{language}-{uuid.uuid4().hex[:6]}"
    address = f"customer-{survey_id}@example.jp"
    survey = Survey(
        survey_id=survey_id, procedure="claim_payment", customer_id="C-88123", contact_key=f"ck-{survey_id}",
        locale=language, channel="email", channel_reason="browser test", status=SurveyStatus.SENDING,
        created_at=now, completed_at=now - timedelta(hours=1), email=address,
        context={"branch": "tokyo-chuo", "agent_id": "A-102"}, open_until=now + timedelta(hours=24))
    site.store.open_survey(survey, now)
    sender = EmailSurveySender(
        SesEmail(client("sesv2", moto_endpoint, REGION), EMAIL_FROM, "Example Life", configuration_set),
        JinjaEmails(REPO_ROOT / "templates", "Example Life"),
        link_for=lambda s: f"{site.base_url}/s/{survey_token.sign(KEY, s.survey_id)}",
        unsubscribe_link_for=lambda s: f"{site.base_url}/u/{survey_token.sign(KEY, s.survey_id, 'unsubscribe')}",
        contact_key=site.components.contact_key)
    assert send_survey(survey, {"email": sender}, site.store, now)["status"] == "sent"
    return survey_id, address


@pytest.mark.parametrize("language", ["en", "ja"])
def test_a_customer_taps_9_in_the_email_and_answers_on_the_page(site: Site, mail: tuple[Carrier, str],
                                                                moto_server: Any, phone: Any, language: str) -> None:
    carrier, configuration_set = mail
    survey_id, address = email_survey(site, moto_server.endpoint, configuration_set, language)

    assert phone.goto(f"{carrier.url}/mailbox?to={address}").status == 200
    email = phone.frame_locator("article iframe").first
    assert email.locator("html").get_attribute("lang") == language
    assert email.get_by_text(BUTTON_HINT[language]).is_visible()
    buttons = email.locator("a.score")
    assert buttons.count() == 11 and buttons.all_inner_texts() == [str(n) for n in range(11)]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.locator("article iframe").first.screenshot(path=str(SCREENSHOTS / f"email-survey-{language}.png"))

    with phone.expect_navigation():
        email.get_by_role("link", name="9", exact=True).click()        # the email's link takes the whole tab

    assert phone.url.startswith(f"{site.base_url}/s/") and phone.url.endswith("?score=9")
    assert phone.locator("#score-9").is_checked()
    assert site.store.answers_for(survey_id) == []                      # opening the link recorded nothing
    phone.locator("#comment").fill(COMMENT[language])
    phone.get_by_role("button").click()
    phone.wait_for_load_state()
    assert phone.locator("h1").inner_text() == THANKS[language]
    answers = {a.question: a for a in site.store.answers_for(survey_id)}
    assert (answers["score"].score, answers["comment"].text) == (9, COMMENT[language])
    assert site.store.surveys[survey_id].status is SurveyStatus.ANSWERED
    assert problems(phone) == []


def test_the_unsubscribe_link_in_the_email_asks_then_unsubscribes(site: Site, mail: tuple[Carrier, str],
                                                                  moto_server: Any, phone: Any) -> None:
    carrier, configuration_set = mail
    _, address = email_survey(site, moto_server.endpoint, configuration_set, "ja")
    phone.goto(f"{carrier.url}/mailbox?to={address}")

    with phone.expect_navigation():
        phone.frame_locator("article iframe").first.get_by_role("link", name="アンケートメールの配信を停止する").click()

    assert phone.url.startswith(f"{site.base_url}/u/")
    assert phone.locator("h1").inner_text() == "アンケートメールの配信を停止しますか？"
    phone.get_by_role("button", name="配信を停止する").click()
    phone.wait_for_load_state()
    assert phone.locator("h1").inner_text() == "配信を停止しました"
    contact = site.store.get_contact(site.components.contact_key(address))
    assert contact is not None and contact.opted_out
    assert problems(phone) == []
