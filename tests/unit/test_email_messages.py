"""The email survey as a mail client receives it: templates/email/ rendered by adapters/email_templates.py
and put in MIME by adapters/ses_email.py. Both parts, the headers (List-Unsubscribe with one-click
POST), 11 score links with the right `?score=`, UTF-8 subjects in Japanese and Chinese, a layout mail
clients render (tables, inline styles), nothing loaded from anywhere, everything escaped."""

from __future__ import annotations

import email
import email.policy
import re
import tomllib
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.adapters.email_templates import JinjaEmails
from chalicelib.adapters.ses_email import build_message, sender_address
from chalicelib.adapters.templates import TemplateError
from chalicelib.domain.questions import Scale
from chalicelib.services.ports import EmailContent, OutgoingEmail
from chalicelib.services.send_survey import score_links
from chalicelib.settings import REPO_ROOT

EMAIL = REPO_ROOT / "templates" / "email"
LANGUAGES = ("en", "ja", "zh")
SURVEY = "https://koe.example.com/api/s/Y2xhaW1zLTIwMjYtMDAwMTIzLXBhaWQ.q83vEjRWeJCrze8SNFZ4kA"
UNSUBSCRIBE = "https://koe.example.com/api/u/Y2xhaW1zLTIwMjYtMDAwMTIzLXBhaWQ.Vn9rT2xJd0tQbXNaQ2VYYQ"
LINKS = score_links(SURVEY, UNSUBSCRIBE)
PROCEDURES = tomllib.loads((REPO_ROOT / "templates" / "sms" / "en.toml").read_text())["procedures"]
SUBJECTS = {"en": "How was your claim payment? A one-minute survey from Example Life",
            "ja": "【Example Life】保険金のお支払いに関するアンケートのお願い（1分）",
            "zh": "【Example Life】关于您的理赔付款的1分钟满意度调查"}


def catalog(language: str) -> dict[str, Any]:
    return tomllib.loads((EMAIL / f"{language}.toml").read_text(encoding="utf-8"))


def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in table.items():
        found |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return found


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_a: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.fixture(scope="module")
def emails() -> JinjaEmails:
    return JinjaEmails(REPO_ROOT / "templates", "Example Life")


def received(content: EmailContent, to: str = "hanako@example.jp") -> EmailMessage:
    """The message as the recipient's mail server parses it, from the bytes SES is given."""
    raw = build_message(OutgoingEmail(to, content, UNSUBSCRIBE), sender_address("survey@example.jp",
                                                                                  "Example Life")).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- the words -------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_every_string_of_english(language):
    assert keys(catalog(language)) == keys(catalog("en"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_procedure_has_its_question_and_label(language):
    words = catalog(language)
    assert set(PROCEDURES) <= set(words["questions"]) and set(PROCEDURES) <= set(words["procedures"])
    assert all("{brand}" in question for question in words["questions"].values())


# --- rendering -------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_eleven_score_buttons_link_to_the_survey_with_their_score(emails, language):
    html = emails.render("invitation", language, "claim_payment", LINKS).html
    buttons = [a for a in parse(html).all("a") if a.get("class") == "score"]
    assert len(buttons) == 11
    for n, button in enumerate(buttons):
        href = str(button["href"])
        assert href.split("?")[0] == SURVEY
        assert parse_qs(urlsplit(href).query) == {"score": [str(n)]}
    # each button's text is its number (a screen reader reads "9", as on the page)
    assert re.findall(r'class="score"[^>]*>(\d+)</a>', html) == [str(n) for n in range(11)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_email_is_a_table_layout_with_inline_styles_and_nothing_remote(emails, language):
    content = emails.render("invitation", language, "claim_payment", LINKS)
    tags = parse(content.html)
    assert content.html.startswith("<!doctype html>")
    assert tags.all("html") == [{"lang": catalog(language)["html_lang"]}]
    assert {"charset": "utf-8"} in tags.all("meta")
    assert tags.all("table") and all(t.get("role") == "presentation" for t in tags.all("table"))
    for forbidden in ("img", "script", "link", "style", "iframe", "object", "form", "video", "audio"):
        assert tags.all(forbidden) == [], forbidden
    assert not [name for _, attrs in tags.tags for name in attrs if name.startswith("on") or name == "src"]
    assert "url(" not in content.html and "@import" not in content.html
    hrefs = {str(a["href"]) for a in tags.all("a")}
    assert hrefs == {SURVEY, UNSUBSCRIBE, *(link for _, link in LINKS.scores)}     # only koe's own links
    assert all(a.get("style") for a in tags.all("a"))                            # styled inline


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_email_asks_why_names_the_brand_and_offers_to_unsubscribe(emails, language):
    words = catalog(language)
    content = emails.render("invitation", language, "claim_payment", LINKS)
    text = "".join(parse(content.html).text)
    assert "Example Life" in text and "Example Life" in content.subject
    assert words["invitation"]["why"] in text
    assert words["common"]["unsubscribe"] in text
    assert words["questions"]["claim_payment"].format(brand="Example Life") in text
    assert content.subject == SUBJECTS[language]
    # the text part: the survey link and the unsubscribe link written out, no markup
    assert SURVEY in content.text and UNSUBSCRIBE in content.text and "<" not in content.text
    assert words["invitation"]["why"] in content.text


def test_the_question_falls_back_for_an_unknown_procedure(emails):
    content = emails.render("invitation", "en", "something_new", LINKS)
    assert "to a friend or colleague?" in content.html and "recent request" in content.subject


def test_the_brand_is_escaped_in_html_and_left_as_is_in_text():
    content = JinjaEmails(REPO_ROOT / "templates", 'A&B <b>"Life"</b>').render("invitation", "en", "claim_payment",
                                                                              LINKS)
    assert "<b>" not in content.html and "A&amp;B &lt;b&gt;" in content.html
    assert 'A&B <b>"Life"</b>' in content.text


def test_an_unknown_message_or_language_is_a_template_error(emails):
    with pytest.raises(TemplateError):
        emails.render("farewell", "en", "claim_payment", LINKS)
    with pytest.raises(TemplateError):
        emails.render("common", "en", "claim_payment", LINKS)
    with pytest.raises(TemplateError):
        emails.render("invitation", "fr", "claim_payment", LINKS)


# --- the closing message: after a case is resolved; it asks nothing ------------------------------

CLOSING_SUBJECTS = {"en": "Thank you for your feedback on your claim payment",
                    "ja": "【Example Life】保険金のお支払いについてのご意見へのお礼",
                    "zh": "【Example Life】感谢您对理赔付款提出的宝贵意见"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_closing_email_thanks_the_customer_without_buttons_or_survey_link(emails, language):
    words = catalog(language)
    content = emails.render("closing", language, "claim_payment", LINKS)
    tags = parse(content.html)
    assert [a for a in tags.all("a") if a.get("class") == "score"] == [] and tags.all("h1") == []
    assert {str(a["href"]) for a in tags.all("a")} == {UNSUBSCRIBE}          # the unsubscribe link alone
    text = "".join(tags.text)
    for key in ("greeting", "intro", "outro", "footer"):
        assert words["closing"][key].format(brand="Example Life", procedure=words["procedures"]["claim_payment"]) \
            in text, key
    assert words["common"]["unsubscribe"] in text and words["common"]["scale_low"] not in text
    assert content.subject == CLOSING_SUBJECTS[language]
    # the text part: the words and the unsubscribe link, no survey link
    assert SURVEY not in content.text and UNSUBSCRIBE in content.text and "<" not in content.text
    assert words["closing"]["outro"].format(brand="Example Life") in content.text
    assert words["common"]["text_scores"] not in content.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_closing_email_is_the_same_mail_client_layout_with_one_click_unsubscribe(emails, language):
    content = emails.render("closing", language, "claim_payment", LINKS)
    tags = parse(content.html)
    assert content.html.startswith("<!doctype html>") and tags.all("html") == [{"lang": catalog(language)["html_lang"]}]
    assert tags.all("table") and all(t.get("role") == "presentation" for t in tags.all("table"))
    for forbidden in ("img", "script", "link", "style", "iframe", "form"):
        assert tags.all(forbidden) == [], forbidden
    message = received(content)
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == CLOSING_SUBJECTS[language]


def test_a_survey_email_keeps_the_common_footer(emails):
    content = emails.render("invitation", "en", "claim_payment", LINKS)
    assert catalog("en")["common"]["footer"].format(brand="Example Life") in content.html


# --- MIME -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_the_message_is_multipart_alternative_text_then_html_in_utf8(emails, language):
    content = emails.render("invitation", language, "claim_payment", LINKS)
    message = received(content)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]     # the richest last
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert [p.get_content().replace("\r\n", "\n") for p in parts] == [content.text, content.html]


@pytest.mark.parametrize("language", ["ja", "zh"])
def test_a_japanese_or_chinese_subject_is_encoded_and_reads_back_whole(emails, language):
    content = emails.render("invitation", language, "claim_payment", LINKS)
    raw = build_message(OutgoingEmail("hanako@example.jp", content, UNSUBSCRIBE),
                        sender_address("survey@example.jp", "Example Life")).as_bytes()
    assert raw.isascii()                         # headers RFC 2047, bodies quoted-printable: 7-bit clean
    subject_lines = re.search(rb"^Subject: (.*?)\r\n(?! )", raw, re.M | re.S)
    assert subject_lines and b"=?utf-8?" in subject_lines.group(1)
    # lines folded at 78, but for the unsubscribe URL, kept whole (a line may hold 998)
    long = [line for line in raw.split(b"\r\n") if len(line) > 78]
    assert long == [f"List-Unsubscribe: <{UNSUBSCRIBE}>".encode()]
    assert received(content)["Subject"] == SUBJECTS[language]


def test_the_headers_say_who_sends_and_how_to_unsubscribe_in_one_click(emails):
    message = received(emails.render("invitation", "en", "claim_payment", LINKS))
    assert message["From"] == "Example Life <survey@example.jp>"
    assert message["To"] == "hanako@example.jp"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"                    # RFC 2369, https only
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"      # RFC 8058
    assert message["Date"] and message["MIME-Version"] == "1.0"


def test_the_unsubscribe_url_stays_one_unencoded_line_however_long():
    long_url = "https://koe.example.com/api/u/" + "A" * 300 + ".q83vEjRWeJCrze8SNFZ4kA"
    content = EmailContent("s", "<p>h</p>", "t")
    raw = build_message(OutgoingEmail("a@example.jp", content, long_url), sender_address("s@example.jp", "B"))
    assert f"List-Unsubscribe: <{long_url}>\r\n".encode() in raw.as_bytes()


def test_the_sender_keeps_its_own_display_name_else_takes_the_brand():
    assert str(sender_address("survey@example.jp", "Example Life")) == "Example Life <survey@example.jp>"
    assert str(sender_address("Acme 保険 <survey@example.jp>", "Example Life")) == "Acme 保険 <survey@example.jp>"
    assert sender_address("Acme <survey@example.jp>", "B").addr_spec == "survey@example.jp"
    raw = build_message(OutgoingEmail("a@example.jp", EmailContent("s", "h", "t"), UNSUBSCRIBE),
                        sender_address("survey@example.jp", "Example Life 日本")).as_bytes()
    assert b"From: Example Life =?utf-8?" in raw and b"<survey@example.jp>" in raw


def test_score_links_keep_a_query_the_link_already_has():
    links = score_links("https://s.example.jp/s/tok?src=mail", UNSUBSCRIBE)
    assert links.scores[9] == (9, "https://s.example.jp/s/tok?src=mail&score=9")
    assert [n for n, _ in score_links(SURVEY, UNSUBSCRIBE).scores] == list(range(11))


# --- the survey's scale: CSAT 1-5 and CES 1-7 --------------------------------------------------------

SCALE_WORDS = {
    ("en", Scale.CSAT): ("How satisfied were you with your claim payment from Example Life?",
                         "1 = very dissatisfied", "5 = very satisfied", "Tap a number from 1 to 5"),
    ("ja", Scale.CSAT): ("今回のExample Lifeの保険金のお支払い手続きに、どの程度満足されましたか？",
                         "1＝不満", "5＝満足", "1〜5の数字をタップ"),
    ("zh", Scale.CSAT): ("您对Example Life本次理赔付款的满意程度如何？", "1 = 很不满意", "5 = 非常满意", "点选1到5"),
    ("en", Scale.CES): ("How much do you agree: “Example Life made my claim payment easy”?",
                        "1 = strongly disagree", "7 = strongly agree", "Tap a number from 1 to 7"),
    ("ja", Scale.CES): ("今回のExample Lifeでの保険金のお支払い手続きは、簡単でしたか？", "1＝まったくそう思わない",
                        "7＝とてもそう思う", "1〜7の数字をタップ"),
    ("zh", Scale.CES): ("您在多大程度上同意：“Example Life让本次理赔付款办理起来很轻松”？", "1 = 非常不同意",
                        "7 = 非常同意", "点选1到7"),
}


@pytest.mark.parametrize("language, scale", sorted(SCALE_WORDS))
def test_the_buttons_question_and_end_labels_are_the_surveys_scales(emails, language, scale):
    question, low_label, high_label, preheader = SCALE_WORDS[language, scale]
    links = score_links(SURVEY, UNSUBSCRIBE, scale)
    content = emails.render("invitation", language, "claim_payment", links, scale=scale)
    buttons = [a for a in parse(content.html).all("a") if a.get("class") == "score"]
    top = 5 if scale is Scale.CSAT else 7
    assert [parse_qs(urlsplit(str(b["href"])).query) for b in buttons] == [{"score": [str(n)]}
                                                                         for n in range(1, top + 1)]
    assert re.findall(r'class="score"[^>]*>(\d+)</a>', content.html) == [str(n) for n in range(1, top + 1)]
    text = "".join(parse(content.html).text)
    for words in (question, low_label, high_label):
        assert words in text and words in content.text, words
    assert preheader in text and "{low}" not in content.html + content.text         # the preheader: HTML only
    assert f"{low_label} / {high_label}" in content.text and "0" not in low_label
    assert content.subject == SUBJECTS[language]           # the subject names no scale


@pytest.mark.parametrize("language", LANGUAGES)
def test_nps_emails_still_say_0_to_10(emails, language):
    content = emails.render("invitation", language, "claim_payment", LINKS)
    assert catalog(language)["common"]["scale_low"] in content.text
    assert {"en": "from 0 to 10", "ja": "0〜10", "zh": "0到10"}[language] in content.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("scale", [Scale.CSAT, Scale.CES])
def test_every_procedure_has_its_question_on_every_scale(language, scale):
    words = catalog(language)[scale]
    assert set(PROCEDURES) <= set(words["questions"])
    assert all("{brand}" in question for question in words["questions"].values())


def test_score_links_follow_the_scale():
    assert [n for n, _ in score_links(SURVEY, UNSUBSCRIBE, Scale.CSAT).scores] == [1, 2, 3, 4, 5]
    assert [n for n, _ in score_links(SURVEY, UNSUBSCRIBE, Scale.CES).scores] == list(range(1, 8))


def test_a_language_without_the_scales_words_is_an_error_never_the_nps_question(tmp_path):
    (tmp_path / "email").mkdir()
    for name in ("survey.html", "survey.txt"):
        (tmp_path / "email" / name).write_text((EMAIL / name).read_text(encoding="utf-8"), encoding="utf-8")
    english = (EMAIL / "en.toml").read_text(encoding="utf-8")
    without_ces = english[:english.index("\n[ces]\n")]
    (tmp_path / "email" / "en.toml").write_text(without_ces, encoding="utf-8")
    emails = JinjaEmails(tmp_path, "Example Life")
    emails.render("invitation", "en", "claim_payment", score_links(SURVEY, UNSUBSCRIBE, Scale.CSAT), scale="csat")
    with pytest.raises(TemplateError, match="ces"):
        emails.render("invitation", "en", "claim_payment", score_links(SURVEY, UNSUBSCRIBE, Scale.CES), scale="ces")
