"""Templates: every message exists in en/ja/zh, invitations fit one segment, opt-out is explained."""

import pytest

from chalicelib.adapters.templates import TemplateError, TomlMessages
from chalicelib.domain.sms import is_gsm7, segments
from chalicelib.domain.survey_token import link_key, sign
from chalicelib.settings import REPO_ROOT

KEYS = ("invitation", "reminder", "why", "reprompt", "thanks", "help", "opted_out", "opted_in")
PROCEDURES = ("claim_payment", "new_policy", "address_change", "call_center", "something_else")
LONG_BRAND = "Example Life Insurance"


@pytest.fixture
def messages():
    return TomlMessages(REPO_ROOT / "templates", LONG_BRAND)


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("key", KEYS)
def test_every_message_exists(messages, language, key):
    assert messages.render("sms", language, key, procedure="claim_payment").strip()


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_english_invitation_is_one_gsm7_segment_and_says_how_to_opt_out(messages, procedure):
    text = messages.render("sms", "en", "invitation", procedure=procedure)
    assert is_gsm7(text) and segments(text) == 1, (len(text), text)
    assert "STOP" in text


@pytest.mark.parametrize("language, opt_out", [("ja", "停止"), ("zh", "回复TD退订")])
def test_cjk_invitations_say_how_to_opt_out(messages, language, opt_out):
    for procedure in PROCEDURES:
        assert opt_out in messages.render("sms", language, "invitation", procedure=procedure)


def test_japanese_invitation_fits_one_ucs2_segment_with_the_default_brand():
    default = TomlMessages(REPO_ROOT / "templates", "Example Life")
    for procedure in PROCEDURES:
        assert segments(default.render("sms", "ja", "invitation", procedure=procedure)) == 1


def test_an_unknown_language_is_a_named_error(messages):
    with pytest.raises(TemplateError):
        messages.render("sms", "fr", "invitation", procedure="claim_payment")


@pytest.mark.parametrize("text, expected", [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
                                            ("あ" * 70, 1), ("あ" * 71, 2), ("€" * 80, 1), ("€" * 81, 2)])
def test_segments(text, expected):
    assert segments(text) == expected


# --- the link SMS: the invitation with its link stays within its segment budget -----------------

LINK = "https://koe.example.jp/s/" + sign(link_key(b"k"), "claims-2026-000123-paid")
LINK_BUDGET = {"en": 1, "ja": 2, "zh": 2}


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_link_invitation_with_its_link_fits_its_budget(messages, language, procedure):
    text = messages.render("sms_link", language, "invitation", procedure=procedure, link=LINK)
    assert LINK in text
    assert segments(text) <= LINK_BUDGET[language], (segments(text), len(text), text)


def test_the_chinese_link_invitation_carries_the_opt_out_instruction(messages):
    assert "回复TD退订" in messages.render("sms_link", "zh", "invitation", procedure="claim_payment", link=LINK)


def test_every_rendered_sms_reports_its_segments(messages):
    """Cost is per segment: every message koe can send is within two, so none is a surprise."""
    for channel, keys in (("sms", KEYS), ("sms_link", ("invitation", "reminder"))):
        for language in ("en", "ja", "zh"):
            for key in keys:
                text = messages.render(channel, language, key, procedure="address_change", link=LINK)
                assert 1 <= segments(text) <= 2, (channel, language, key, len(text))


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_link_reminder_with_its_link_fits_the_invitations_budget(messages, language, procedure):
    text = messages.render("sms_link", language, "reminder", procedure=procedure, link=LINK)
    assert LINK in text and segments(text) <= LINK_BUDGET[language], (len(text), text)
