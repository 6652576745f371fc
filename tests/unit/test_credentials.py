"""The secrets' shapes (chalicelib/credentials.py): each read from the secret its setting names, a
malformed one refused by name and field without its value, and every declared secret named by a setting."""

from __future__ import annotations

import pytest

from chalicelib import resources
from chalicelib.credentials import Credentials
from chalicelib.errors import SettingsError
from chalicelib.settings import from_env, secret_ids
from tests.fakes import secrets
from tests.unit.test_settings_email import QUEUES
from tests.unit.test_wiring import REQUIRED as PUBLIC_URL

REQUIRED = {**PUBLIC_URL, **QUEUES}

TOKEN = "f00d" * 8


def credentials(**stored: object) -> Credentials:
    settings = from_env({**REQUIRED, **secrets.SECRET_ENV})
    return Credentials(secrets.FakeSecrets(dict(stored)), secret_ids(settings))


def test_every_declared_secret_is_named_by_a_setting():
    settings = from_env({**REQUIRED, **secrets.SECRET_ENV})
    assert set(secret_ids(settings)) == {s.name for s in resources.SECRETS}
    assert all(secret_ids(settings)[s.name] == secrets.SECRET_ENV[s.env] for s in resources.SECRETS)


def test_the_line_secret_gives_the_channel_access_token_and_secret_and_names_a_missing_field():
    read = credentials(**{secrets.LINE: {"channel_access_token": "line-token", "channel_secret": "ab" * 16}}).line()
    assert (read.channel_access_token, read.channel_secret) == ("line-token", "ab" * 16)
    assert "line-token" not in repr(read) and "ab" * 16 not in repr(read)
    with pytest.raises(SettingsError, match="the line secret .*channel_secret is required"):
        credentials(**{secrets.LINE: {"channel_access_token": "line-token"}}).line()


def test_the_twilio_secret_gives_the_current_token_first_and_the_previous_one_during_a_rotation():
    read = credentials(**{secrets.TWILIO: {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN,
                                           "from": "+15550100999", "previous_auth_token": "beef" * 8}}).twilio()
    assert read.auth_tokens == (TOKEN, "beef" * 8)
    assert TOKEN not in repr(read)


@pytest.mark.parametrize("secret_id, value, read, named", [
    (secrets.TWILIO, {"account_sid": "AC0", "from": "+15550100999"}, "twilio", "auth_token is required"),
    (secrets.TWILIO, {"account_sid": "AC0", "auth_token": TOKEN, "from": "x", "previous_auth_token": ""},
     "twilio", "previous_auth_token is a non-empty string"),
    (secrets.API_KEYS, {"keys": "one,two"}, "api_keys", "keys is a list of API keys"),
    (secrets.API_KEYS, {"keys": ["short"]}, "api_keys", "each at least 16 characters"),
    (secrets.CONTACT_KEYS, {"current": "a", "keys": {"b": TOKEN}}, "contact_keyring", "current must name one"),
    (secrets.CONTACT_KEYS, ["not", "an", "object"], "contact_keyring", "the secret is a JSON object"),
])
def test_a_malformed_secret_is_a_settings_error_naming_it_and_its_field_never_its_value(secret_id, value, read, named):
    with pytest.raises(SettingsError, match=named) as refused:
        getattr(credentials(**{secret_id: value}), read)()
    assert "KOE_" in str(refused.value) and TOKEN not in str(refused.value)


def test_a_secret_no_setting_names_is_a_settings_error_saying_what_needs_it():
    unnamed = Credentials(secrets.FakeSecrets({}), secret_ids(from_env(REQUIRED)))
    with pytest.raises(SettingsError, match="KOE_TWILIO_SECRET_ID is required to send SMS"):
        unnamed.twilio()
