"""The web survey's pages (templates/web/ through adapters/pages.py): every language says
everything, the HTML is escaped, accessible by structure, and carries no script."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib.adapters.pages import JinjaPages
from chalicelib.adapters.templates import TemplateError
from chalicelib.domain.questions import Scale
from chalicelib.domain.web_survey import LANGUAGES, Page, PageError, PageKind
from chalicelib.settings import REPO_ROOT

WEB = REPO_ROOT / "templates" / "web"
PROCEDURES = tomllib.loads((REPO_ROOT / "templates" / "sms" / "en.toml").read_text())["procedures"]


def catalog(language: str) -> dict[str, Any]:
    return tomllib.loads((WEB / f"{language}.toml").read_text(encoding="utf-8"))


def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in table.items():
        found |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return found


@pytest.fixture(scope="module")
def pages() -> JinjaPages:
    return JinjaPages(REPO_ROOT / "templates", "Example Life")


class Tags(HTMLParser):
    """The start tags of a page, with their attributes, and the text inside each element id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_every_string_of_english(language):
    assert keys(catalog(language)) == keys(catalog("en"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_procedure_has_its_question_and_the_brand(language):
    questions = catalog(language)["questions"]
    assert set(PROCEDURES) <= set(questions)
    assert all("{brand}" in question for question in questions.values())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(PageKind))
def test_each_page_renders_in_each_language_without_script(pages, language, kind):
    html = pages.render(Page(kind, language, "claim_payment", comment_open=True))
    tags = parse(html)
    assert html.startswith("<!doctype html>")
    assert tags.all("html") == [{"lang": catalog(language)["html_lang"]}]
    assert tags.all("script") == []
    assert not [name for _, attrs in tags.tags for name in attrs if name.startswith("on")]   # no handlers
    assert tags.all("link") == [] and "http" not in html.replace("http-equiv", "")    # no third-party asset
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in tags.all("meta")


def test_the_form_has_a_legend_eleven_labelled_radios_and_a_labelled_textarea(pages):
    tags = parse(pages.render(Page(PageKind.FORM, "en", "claim_payment", score=9)))
    radios = [a for a in tags.all("input") if a.get("type") == "radio"]
    assert [a["value"] for a in radios] == [str(n) for n in range(11)]
    assert {a["name"] for a in radios} == {"score"}
    labelled = {a["for"] for a in tags.all("label")}
    assert {a["id"] for a in radios} | {"comment"} <= labelled
    assert [a["value"] for a in radios if "checked" in a] == ["9"]
    assert len(tags.all("fieldset")) == 1 and len(tags.all("legend")) == 1
    assert tags.all("form") == [{"method": "post", "accept-charset": "UTF-8"}]   # posts to its own URL
    assert tags.all("textarea")[0]["maxlength"] == "1000"


def test_the_question_names_the_procedure_and_falls_back(pages):
    assert ("How likely are you to recommend Example Life after your claim payment?"
            in pages.render(Page(PageKind.FORM, "en", "claim_payment")))
    assert "保険金のお支払い手続き" in pages.render(Page(PageKind.FORM, "ja", "claim_payment"))
    assert "理赔付款" in pages.render(Page(PageKind.FORM, "zh", "claim_payment"))
    assert "to a friend or colleague?" in pages.render(Page(PageKind.FORM, "en", "something_new"))


def test_an_error_is_announced_and_tied_to_its_field(pages):
    html = pages.render(Page(PageKind.FORM, "ja", "claim_payment", comment="遅い", error=PageError.SCORE_REQUIRED))
    tags = parse(html)
    assert {"class": "error", "id": "error", "role": "alert"} in tags.all("p")
    assert tags.all("fieldset")[0]["aria-describedby"] == "scale-hint error"
    assert "0〜10の中から点数をお選びください。" in html and ">遅い</textarea>" in html
    too_long = parse(pages.render(Page(PageKind.FORM, "en", error=PageError.COMMENT_TOO_LONG)))
    assert too_long.all("textarea")[0]["aria-invalid"] == "true"


def test_what_the_customer_typed_and_the_brand_are_escaped():
    pages = JinjaPages(REPO_ROOT / "templates", 'Ex<b>"ample"</b>')
    html = pages.render(Page(PageKind.FORM, "en", "claim_payment",
                             comment='</textarea><script>alert("x")</script>'))
    assert "<script>" not in html and "&lt;/textarea&gt;&lt;script&gt;" in html
    assert "<b>" not in html and "Ex&lt;b&gt;" in html


def test_the_thank_you_page_offers_the_comment_box_only_while_comments_are_taken(pages):
    open_box = parse(pages.render(Page(PageKind.THANKS, "en", comment_open=True, comment_saved=True)))
    assert len(open_box.all("textarea")) == 1 and {"class": "notice", "role": "status"} in open_box.all("p")
    assert parse(pages.render(Page(PageKind.THANKS, "en"))).all("textarea") == []


def test_the_policy_allows_exactly_the_inline_style_and_nothing_else(pages):
    html = pages.render(Page(PageKind.FORM, "en"))
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    policy = pages.content_security_policy
    assert f"style-src 'sha256-{digest}'" in policy
    assert policy.startswith("default-src 'none';") and "script-src" not in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy


def test_an_unknown_language_is_a_template_error(pages):
    with pytest.raises(TemplateError):
        pages.render(Page(PageKind.FORM, "fr"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_unsubscribe_page_asks_with_one_button_and_names_the_masked_address(pages, language):
    html = pages.render(Page(PageKind.UNSUBSCRIBE, language, address="h*****@example.jp"))
    tags = parse(html)
    assert tags.all("form") == [{"method": "post", "accept-charset": "UTF-8"}]    # posts to its own URL
    assert len(tags.all("button")) == 1 and catalog(language)["unsubscribe_submit"] in html
    assert "h*****@example.jp" in html and {"class": "address"} in tags.all("p")
    done = pages.render(Page(PageKind.UNSUBSCRIBED, language, address="h*****@example.jp"))
    assert {"class": "notice", "role": "status"} in parse(done).all("p") and parse(done).all("form") == []
    assert catalog(language)["unsubscribed_title"] in done


def test_an_address_is_masked_to_its_first_letter_and_domain():
    from chalicelib.domain.web_survey import masked_address

    assert masked_address("hanako@example.jp") == "h*****@example.jp"
    assert masked_address("a@example.jp") == "a*@example.jp"
    assert masked_address("") == masked_address(None) == masked_address("no-at-sign") == ""


# --- the survey's scale: CSAT 1-5 and CES 1-7 -------------------------------------------------------

SCALE_WORDS = {
    ("en", Scale.CSAT): ("How satisfied were you with your claim payment from Example Life?",
                         "1 = very dissatisfied", "5 = very satisfied", "Please choose a score from 1 to 5."),
    ("ja", Scale.CSAT): ("今回のExample Lifeの保険金のお支払い手続きに、どの程度満足されましたか？",
                         "1＝不満", "5＝満足", "1〜5の中から点数をお選びください。"),
    ("zh", Scale.CSAT): ("您对Example Life本次理赔付款的满意程度如何？", "1 = 很不满意", "5 = 非常满意",
                         "请选择1到5之间的分数。"),
    ("en", Scale.CES): ("How much do you agree: “Example Life made my claim payment easy”?",
                        "1 = strongly disagree", "7 = strongly agree", "Please choose a score from 1 to 7."),
    ("ja", Scale.CES): ("今回のExample Lifeでの保険金のお支払い手続きは、簡単でしたか？",
                        "1＝まったくそう思わない", "7＝とてもそう思う", "1〜7の中から点数をお選びください。"),
    ("zh", Scale.CES): ("您在多大程度上同意：“Example Life让本次理赔付款办理起来很轻松”？", "1 = 非常不同意",
                        "7 = 非常同意", "请选择1到7之间的分数。"),
}


@pytest.mark.parametrize("language, scale", sorted(SCALE_WORDS))
def test_the_form_asks_the_scales_question_with_its_radios_and_end_labels(pages, language, scale):
    question, low_label, high_label, error = SCALE_WORDS[language, scale]
    low, high = (1, 5) if scale is Scale.CSAT else (1, 7)
    html = pages.render(Page(PageKind.FORM, language, "claim_payment", scale=scale, score=low,
                             error=PageError.SCORE_REQUIRED))
    tags = parse(html)
    radios = [a for a in tags.all("input") if a.get("type") == "radio"]
    assert [a["value"] for a in radios] == [str(n) for n in range(low, high + 1)]
    assert {a["id"] for a in radios} <= {a["for"] for a in tags.all("label")}
    assert [a["value"] for a in radios if "checked" in a] == [str(low)]
    assert f"<h1>{question}</h1>" in html
    assert f"<span>{low_label}</span><span>{high_label}</span>" in html
    assert error in html and "10" not in error
    assert {"class": f"scale scale-{scale}"} in tags.all("div")          # its own grid: one row


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("scale", [Scale.CSAT, Scale.CES])
def test_every_procedure_has_its_question_on_every_scale(language, scale):
    words = catalog(language)[scale]
    assert set(PROCEDURES) <= set(words["questions"])
    assert all("{brand}" in question for question in words["questions"].values())
    assert words["scale_low"].startswith("1") and words["scale_high"].startswith("5" if scale is Scale.CSAT else "7")


def test_the_nps_form_is_unchanged_and_other_pages_name_no_scale(pages):
    nps = parse(pages.render(Page(PageKind.FORM, "en", "claim_payment")))
    assert [a["value"] for a in nps.all("input") if a.get("type") == "radio"] == [str(n) for n in range(11)]
    assert (pages.render(Page(PageKind.THANKS, "ja", scale=Scale.CSAT, comment_open=True))
            == pages.render(Page(PageKind.THANKS, "ja", comment_open=True)))


def test_a_language_without_the_scales_words_is_an_error_never_the_nps_question(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "page.css").write_text((WEB / "page.css").read_text())
    (tmp_path / "web" / "page.html").write_text((WEB / "page.html").read_text())
    english = (WEB / "en.toml").read_text(encoding="utf-8")
    without_csat = english[:english.index("\n[csat]\n")] + english[english.index("\n[ces]\n"):]
    (tmp_path / "web" / "en.toml").write_text(without_csat, encoding="utf-8")
    without = JinjaPages(tmp_path, "Example Life")
    assert "<h1>How likely" in without.render(Page(PageKind.FORM, "en", "claim_payment"))
    with pytest.raises(TemplateError, match="csat"):
        without.render(Page(PageKind.FORM, "en", "claim_payment", scale=Scale.CSAT))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_is_worded_in_every_language(language):
    assert set(catalog(language)["errors"]) == {error.value for error in PageError}


@pytest.mark.parametrize("error, words", [(PageError.TOO_LARGE, "送信内容が大きすぎます"),
                                          (PageError.TRY_LATER, "数分後にもう一度お試しください"),
                                          (PageError.NOT_A_FORM, "専用のフォーム")])
def test_the_error_page_says_what_went_wrong_in_the_customers_language(pages, error, words):
    html = pages.render(Page(PageKind.ERROR, "ja", error=error))
    assert '<html lang="ja">' in html and "エラーが発生しました" in html and words in html


@pytest.mark.parametrize("kind", [PageKind.FORM, PageKind.THANKS])
def test_the_customers_own_words_are_isolated_from_the_page(pages, kind):
    """Before: a right-to-left override (U+202E) in a comment shown again could turn the text around."""
    html = pages.render(Page(kind, "en", "claim_payment", comment="\u202egnitirw", comment_open=True,
                             error=PageError.COMMENT_TOO_LONG))
    [textarea] = parse(html).all("textarea")
    assert textarea["dir"] == "auto" and "\u202egnitirw</textarea>" in html
    address = pages.render(Page(PageKind.UNSUBSCRIBE, "en", address="h\u202e*****@example.jp"))
    assert "<bdi>h\u202e*****@example.jp</bdi>" in address
