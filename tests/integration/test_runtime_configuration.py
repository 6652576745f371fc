"""Secrets and the configuration document as AWS serves them (moto, provisioned by devstack.provision):
read at run time through their caches, a rotated secret or a new document version picked up without
a redeploy once the max age passes, a malformed document refused by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import config_document, resources
from chalicelib import settings as settings_module
from chalicelib.bootstrap import Components, components, install
from chalicelib.errors import SecretUnavailable, SettingsError
from chalicelib.settings import from_env
from devstack.provision import put_secret
from tests.unit.test_wiring import REQUIRED

BRANCHES = 300          # a routing table far beyond Lambda's 4 KB of environment variables


def routing(branches: int, queue: str = "cx") -> dict[str, Any]:
    return {"central": {"queue": queue},
            "branches": {f"branch-{n:03d}": {"manager": f"mgr-{n:03d}", "timezone": "Asia/Tokyo"}
                         for n in range(branches)}}


def s3(env: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=env["KOE_AWS_ENDPOINT"], region_name=env["AWS_REGION"])


def upload(env: dict[str, str], document: Any) -> str:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    put = s3(env).put_object(Bucket=env["KOE_CONFIG_BUCKET"], Key=env["KOE_CONFIG_KEY"], Body=body)
    return str(put["VersionId"])


@pytest.fixture
def aws(fresh_aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process's environment as a function's in AWS: secret ids and the configuration document
    named, caches that age at once (max age 0), no components built yet."""
    env = {**REQUIRED, **fresh_aws, "KOE_SECRETS_MAX_AGE_SECONDS": "0", "KOE_CONFIG_MAX_AGE_SECONDS": "0",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    previous = install(None)
    _forget()
    try:
        yield env
    finally:
        install(previous)
        _forget()


def _forget() -> None:
    settings_module._environment.cache_clear()
    settings_module._documented = None
    config_document._readers.clear()


# --- secrets

def test_the_secrets_devstack_provisions_are_read_where_the_settings_name_them(fresh_aws):
    built = Components(from_env({**REQUIRED, **fresh_aws}))
    assert len(built.credentials.api_keys()) == 1
    assert built.contact_keyring().current == "local-1"
    assert built.credentials.twilio().account_sid.startswith("AC")


def test_a_rotated_secret_is_read_once_the_cache_ages_and_not_before(fresh_aws):
    cached = Components(from_env({**REQUIRED, **fresh_aws}))                     # max age 300 s
    ageing = Components(from_env({**REQUIRED, **fresh_aws, "KOE_SECRETS_MAX_AGE_SECONDS": "0"}))
    before = cached.credentials.api_keys()
    assert ageing.credentials.api_keys() == before

    put_secret(fresh_aws["KOE_AWS_ENDPOINT"], fresh_aws["AWS_REGION"], fresh_aws["KOE_API_KEYS_SECRET_ID"],
               {"keys": ["ops-key-rotated-0123456789", *before]})

    assert cached.credentials.api_keys() == before
    assert ageing.credentials.api_keys() == ("ops-key-rotated-0123456789", *before)


def test_a_secret_that_cannot_be_read_is_retryable_and_a_malformed_one_is_named(fresh_aws):
    missing = Components(from_env({**REQUIRED, **fresh_aws, "KOE_TWILIO_SECRET_ID": "koe-nowhere-twilio"}))
    with pytest.raises(SecretUnavailable, match="koe-nowhere-twilio"):
        missing.credentials.twilio()
    put_secret(fresh_aws["KOE_AWS_ENDPOINT"], fresh_aws["AWS_REGION"], fresh_aws["KOE_TWILIO_SECRET_ID"],
               {"account_sid": "AC" + "0" * 32, "from": "+15550009999"})
    with pytest.raises(SettingsError, match=r"twilio secret \(KOE_TWILIO_SECRET_ID\): auth_token is required"):
        Components(from_env({**REQUIRED, **fresh_aws})).credentials.twilio()
    unset = Components(from_env({**REQUIRED, **{k: v for k, v in fresh_aws.items() if k != "KOE_API_KEYS_SECRET_ID"}}))
    with pytest.raises(SettingsError, match="KOE_API_KEYS_SECRET_ID is required"):
        unset.credentials.api_keys()


# --- the configuration document

def test_a_routing_table_beyond_the_environment_limit_is_read_from_the_document(aws):
    document = {"KOE_CASE_ROUTING": routing(BRANCHES)}
    assert len(json.dumps(document)) > 4 * 1024
    version = upload(aws, document)

    settings = settings_module.current()

    assert settings.config_version == version
    assert len(settings.case_routing.branches) == BRANCHES


def test_a_new_document_version_rebuilds_the_components_without_a_redeploy_and_keeps_their_clock(aws):
    upload(aws, {"KOE_CASE_ROUTING": routing(2)})
    first = components()
    assert components() is first                         # unchanged: the same components

    upload(aws, {"KOE_CASE_ROUTING": routing(3, queue="cx-2")})
    second = components()

    assert second is not first and second.clock is first.clock
    assert len(second.settings.case_routing.branches) == 3


def test_a_malformed_document_is_a_settings_error_naming_the_key_and_a_warm_function_keeps_its_settings(aws):
    upload(aws, {"KOE_CASE_ROUTING": routing(2)})
    good = settings_module.current()

    version = upload(aws, {"KOE_CASE_ROUTING": {"central": "not an object"}})

    assert settings_module.refreshed(good) is good           # a warm function keeps serving
    _forget()
    with pytest.raises(SettingsError) as refused:             # a cold one says what is wrong, where
        settings_module.current()
    assert "KOE_CASE_ROUTING" in str(refused.value) and version in str(refused.value)


@pytest.mark.parametrize("document, named", [
    (b"{not json", "is not JSON"),
    (b'["a list"]', "must be a JSON object of settings"),
    (json.dumps({"KOE_TWILIO_SECRET_ID": "x"}).encode(), "KOE_TWILIO_SECRET_ID is not a setting it carries"),
])
def test_a_document_of_the_wrong_shape_is_refused_by_name(aws, document, named):
    upload(aws, document)
    with pytest.raises(SettingsError, match=named):
        settings_module.current()


def test_an_unchanged_document_is_not_downloaded_again(aws):
    upload(aws, {"KOE_CASE_RULES": {"repeat_days": 90}})
    reader = config_document.for_settings(settings_module._environment())
    first = reader.read()
    again = reader.read()                  # max age 0: asks S3, which answers 304 Not Modified
    assert again == first and first.values == {"KOE_CASE_RULES": {"repeat_days": 90}}


def test_the_declared_document_fields_are_settings_the_environment_also_accepts():
    # Each field is read by the same reader as its variable: an empty object (or list) is accepted.
    empty = {name: [] if name == "KOE_ALERT_SUBSCRIBERS" else {} for name in resources.CONFIG_DOCUMENT.fields}
    assert from_env({**REQUIRED, "KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "q",
                     "KOE_FOLLOW_UP_QUEUE_URL": "q", "KOE_CX_TOPIC_ARN": "t"}, empty, "v1").config_version == "v1"
