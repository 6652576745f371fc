"""KOE_LOCAL_TOKEN_SECRET: the local stack's switch for its own bearer tokens. Unset (always, in
AWS): only the API key and Cognito's claims authenticate; set: at least 32 characters, and LocalTokens
joins the authenticators. Fictional secrets only."""

from __future__ import annotations

import pytest

from chalicelib.auth import ApiKeys, CognitoClaims, LocalTokens
from chalicelib.bootstrap import Components
from chalicelib.settings import SettingsError, from_env
from tests.unit.test_settings_email import QUEUES
from tests.unit.test_wiring import REQUIRED

SECRET = "unit-settings-local-token-secret-0123"


def settings(**env: str):
    return from_env({**REQUIRED, **QUEUES, **env})


def test_without_the_secret_the_api_key_and_cognito_claims_authenticate_only():
    unset = settings()
    assert unset.local_token_secret is None
    assert [type(a) for a in Components(unset).authenticators] == [ApiKeys, CognitoClaims]


def test_with_the_secret_the_local_tokens_join_and_the_secret_is_not_in_the_repr():
    configured = settings(KOE_LOCAL_TOKEN_SECRET=f"  {SECRET} ")
    assert configured.local_token_secret == SECRET
    assert [type(a) for a in Components(configured).authenticators] == [ApiKeys, CognitoClaims, LocalTokens]
    assert SECRET not in repr(configured)


def test_a_short_secret_is_refused_by_name_without_showing_it():
    with pytest.raises(SettingsError, match="KOE_LOCAL_TOKEN_SECRET must be at least 32") as refused:
        settings(KOE_LOCAL_TOKEN_SECRET="short-local-secret")
    assert "short-local-secret" not in str(refused.value)
