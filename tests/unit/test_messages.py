"""Templates: every message exists in en/ja/zh, invitations and closing messages fit one segment,
opt-out is explained."""

import pytest

from chalicelib.adapters.templates import TemplateError, TomlMessages
from chalicelib.domain.sms import is_gsm7, segments
from chalicelib.domain.survey_token import link_key, sign
from chalicelib.settings import REPO_ROOT

KEYS = ("invitation", "reminder", "why", "reprompt", "thanks", "help", "opted_out", "opted_in", "closing")
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
    for channel, keys in (("sms", KEYS), ("sms_link", ("invitation", "reminder", "closing"))):
        for language in ("en", "ja", "zh"):
            for key in keys:
                text = messages.render(channel, language, key, procedure="address_change", link=LINK)
                assert 1 <= segments(text) <= 2, (channel, language, key, len(text))


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_link_reminder_with_its_link_fits_the_invitations_budget(messages, language, procedure):
    text = messages.render("sms_link", language, "reminder", procedure=procedure, link=LINK)
    assert LINK in text and segments(text) <= LINK_BUDGET[language], (len(text), text)


# --- the closing message (services/case_schedule.py): after a case is resolved, unasked for -------

OPT_OUT = {("sms", "en"): "Reply STOP to opt out", ("sms", "ja"): "配信停止は「停止」と返信",
           ("sms", "zh"): "回复TD退订", ("sms_link", "en"): "STOP to opt out", ("sms_link", "zh"): "回复TD退订"}


@pytest.mark.parametrize("channel", ["sms", "sms_link"])
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_an_english_or_chinese_closing_message_is_one_segment_with_the_longest_brand(messages, channel, language,
                                                                                      procedure):
    text = messages.render(channel, language, "closing", procedure=procedure, link=LINK)
    assert segments(text) == 1, (len(text), text)
    assert language != "en" or is_gsm7(text)


@pytest.mark.parametrize("channel", ["sms", "sms_link"])
def test_a_japanese_closing_message_is_one_segment_with_the_default_brand(channel):
    default = TomlMessages(REPO_ROOT / "templates", "Example Life")
    for procedure in PROCEDURES:
        text = default.render(channel, "ja", "closing", procedure=procedure, link=LINK)
        assert segments(text) == 1, (len(text), text)


@pytest.mark.parametrize("channel, language", sorted(OPT_OUT))
def test_the_closing_message_says_how_to_opt_out(messages, channel, language):
    """Unasked for, like the invitation: it says how to stop, wherever the invitation does (the
    Chinese ones always: 回复TD退订)."""
    for procedure in PROCEDURES:
        assert OPT_OUT[channel, language] in messages.render(channel, language, "closing", procedure=procedure,
                                                             link=LINK)


LABELS = {("sms", "en"): "claim payment", ("sms", "ja"): "保険金のお支払い手続き", ("sms", "zh"): "理赔付款",
          ("sms_link", "en"): "claim payment", ("sms_link", "ja"): "保険金のお支払い", ("sms_link", "zh"): "理赔付款"}


@pytest.mark.parametrize("channel, language", sorted(LABELS))
def test_the_closing_message_names_the_brand_and_procedure_and_carries_no_link(messages, channel, language):
    text = messages.render(channel, language, "closing", procedure="claim_payment", link=LINK)
    assert LONG_BRAND in text and LABELS[channel, language] in text
    assert "http" not in text and "{" not in text      # nothing to answer: the link is not used


# --- the survey's scale (KOE_SURVEY_DEFINITIONS): CSAT 1-5 and CES 1-7 ------------------------------

SCALED_KEYS = ("invitation", "reminder", "reprompt", "help")
OTHER_SCALES = {"csat": (1, 5), "ces": (1, 7)}


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
@pytest.mark.parametrize("key", SCALED_KEYS)
def test_every_message_that_names_the_scale_has_its_own_words_per_scale(messages, language, scale, key):
    text = messages.render("sms", language, key, scale=scale, procedure="claim_payment")
    nps = messages.render("sms", language, key, procedure="claim_payment")
    low, high = OTHER_SCALES[scale]
    assert text != nps and f"{low}" in text and f"{high}" in text, text
    assert "0-10" not in text and "0〜10" not in text and "10" not in text.replace(LONG_BRAND, "")


@pytest.mark.parametrize("language", ["en", "ja", "zh"])
@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
@pytest.mark.parametrize("key", ["why", "thanks", "opted_out", "opted_in", "closing"])
def test_messages_that_name_no_scale_are_the_same_on_every_scale(messages, language, scale, key):
    assert (messages.render("sms", language, key, scale=scale, procedure="claim_payment")
            == messages.render("sms", language, key, procedure="claim_payment"))


@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_every_scales_english_invitation_is_one_gsm7_segment_with_the_longest_brand(messages, scale, procedure):
    text = messages.render("sms", "en", "invitation", scale=scale, procedure=procedure)
    assert is_gsm7(text) and segments(text) == 1 and "STOP" in text, (len(text), text)


@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
def test_every_scales_japanese_invitation_fits_one_ucs2_segment_with_the_default_brand(scale):
    default = TomlMessages(REPO_ROOT / "templates", "Example Life")
    for procedure in PROCEDURES:
        text = default.render("sms", "ja", "invitation", scale=scale, procedure=procedure)
        assert segments(text) == 1 and "停止" in text, (len(text), text)


@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
def test_every_scales_chinese_invitation_and_reprompt_carry_the_opt_out(messages, scale):
    for key in ("invitation", "reminder", "reprompt", "help"):
        assert "回复TD退订" in messages.render("sms", "zh", key, scale=scale, procedure="claim_payment")


@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
def test_every_scales_sms_is_within_two_segments_with_the_longest_brand(messages, scale):
    for channel, keys in (("sms", KEYS), ("sms_link", ("invitation", "reminder", "closing"))):
        for language in ("en", "ja", "zh"):
            for key in keys:
                for procedure in PROCEDURES:
                    text = messages.render(channel, language, key, scale=scale, procedure=procedure, link=LINK)
                    assert 1 <= segments(text) <= 2, (channel, language, key, len(text))


@pytest.mark.parametrize("scale", sorted(OTHER_SCALES))
def test_the_link_sms_names_no_scale_and_is_the_same_on_every_scale(messages, scale):
    for language in ("en", "ja", "zh"):
        assert (messages.render("sms_link", language, "invitation", scale=scale, procedure="call_center", link=LINK)
                == messages.render("sms_link", language, "invitation", procedure="call_center", link=LINK))


def test_a_language_without_a_scales_words_is_an_error_never_the_nps_question(tmp_path):
    """A survey asked on CSAT must never be invited to "Reply 0-10" (its "9" would be re-prompted)."""
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "en.toml").write_text('invitation = "Reply 0-10"\nwhy = "Why?"\n[procedures]\n_default = "x"\n')
    messages = TomlMessages(tmp_path, "Example Life")
    with pytest.raises(TemplateError, match=r"\[csat\]"):
        messages.render("sms", "en", "invitation", scale="csat", procedure="x")
    assert messages.render("sms", "en", "why", scale="csat") == "Why?"
