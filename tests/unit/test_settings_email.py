"""The email settings: KOE_EMAIL_FROM (an address, optionally with a display name; unset: no email
sender) and KOE_SES_CONFIGURATION_SET; the unsubscribe page's public URL."""

from __future__ import annotations

import pytest

from chalicelib.settings import SettingsError, from_env
from tests.unit.test_wiring import REQUIRED

QUEUES = {"KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "d", "KOE_FOLLOW_UP_QUEUE_URL": "f",
          "KOE_CX_TOPIC_ARN": "t"}


def settings(**env: str):
    return from_env({**REQUIRED, **QUEUES, **env})


def test_email_is_off_unless_a_sender_is_configured():
    assert settings().email_from is None and settings().ses_configuration_set is None
    configured = settings(KOE_EMAIL_FROM="Example Life <survey@example.jp>", KOE_SES_CONFIGURATION_SET="koe-email")
    assert configured.email_from == "Example Life <survey@example.jp>"
    assert configured.ses_configuration_set == "koe-email"


@pytest.mark.parametrize("bad", ["survey", "survey@", "@example.jp", "survey@localhost", "sur vey@example.jp"])
def test_a_sender_that_is_not_an_address_is_refused_by_name(bad):
    with pytest.raises(SettingsError, match="KOE_EMAIL_FROM"):
        settings(KOE_EMAIL_FROM=bad)


def test_the_unsubscribe_page_is_served_beside_the_survey_page():
    assert settings().unsubscribe_page_url == "https://koe.example.com/api/u"
    short = settings(KOE_SURVEY_LINK_BASE_URL="https://s.example.jp")
    assert (short.survey_page_url, short.unsubscribe_page_url) == ("https://s.example.jp/s", "https://s.example.jp/u")
