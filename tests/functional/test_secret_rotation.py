"""Secrets read at run time (tests/fakes/secrets.py stands in for Secrets Manager behind its cache):
each handler reads only the secrets its use case needs, and each secret rotates without a redeploy:
the contact keys (old links and old opt-outs keep working while the old key is listed), Twilio's
auth token (the previous one accepted during a rotation; a token rotated behind the cache read again
once), and the API keys (added and removed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import resources
from chalicelib.adapters.twilio_sms import RotatingTwilioSms
from chalicelib.credentials import TwilioCredentials
from chalicelib.domain.model import SurveyStatus
from tests.fakes import secrets
from tests.fakes.messaging import FakeSms
from tests.functional.conftest import (
    AUTH_TOKEN,
    CONTACT_KEY,
    SURVEY,
    Koe,
    event,
    fake_components,
    response_image,
    serving,
)

NEW_CONTACT_KEY = "functional-contact-hash-key-rotated-2027"
NEW_TOKEN = "c0ffee00" * 4
FORGED_TOKEN = "deadbeef" * 4
ROTATED = {"current": "2027-01", "keys": {"2027-01": NEW_CONTACT_KEY, "2026-11": CONTACT_KEY}}
OLD_KEY_REMOVED = {"current": "2027-01", "keys": {"2027-01": NEW_CONTACT_KEY}}


@pytest.fixture
def koe() -> Iterator[Koe]:
    """The functional tier's app, whose SMS sender is koe's own Twilio sender on the Twilio secret
    (RotatingTwilioSms): only the SDK client it builds per credentials is a fake, recording them."""
    built = fake_components()
    built.__dict__["sms"] = RotatingTwilioSms(lambda fresh: built.credentials.twilio(fresh=fresh), CARRIER.client)
    CARRIER.sent.clear()
    CARRIER.clients.clear()
    with serving(built) as served:
        yield served


class Carrier(FakeSms):
    """Twilio's side: what was sent, and the credentials of each SDK client koe built."""

    clients: list[TwilioCredentials] = []

    def client(self, credentials: TwilioCredentials) -> FakeSms:
        self.clients.append(credentials)
        return self


CARRIER = Carrier()


def store(koe: Koe) -> secrets.FakeSecrets:
    return koe.components.secrets


def rotate(koe: Koe, secret_id: str, value: Any, *, expire: bool = True) -> None:
    store(koe).rotate(secret_id, value)
    if expire:                      # the cache's max age passed
        store(koe).expire()


def twilio_secret(koe: Koe, **changes: str) -> dict[str, str]:
    return {**store(koe).stored[secrets.TWILIO], **changes}


# --- which use case reads which secret

def _reply(koe: Koe) -> None:
    koe.reply("9")


def _web_page(koe: Koe) -> None:
    assert koe.client.http.get(koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1]
                               ).status_code == 200


def _status(koe: Koe) -> None:
    sid = CARRIER.sent[-1]["sid"]
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0123456789abcdef" * 2}
    assert koe.twilio(f"/twilio/status?survey={SURVEY}", form).status_code == 200


USE_CASES = {
    # (what runs before, the secrets' cache then emptied and the reads forgotten), the use case, what it reads
    "ingest an event": (None, lambda koe: koe.post_json("/v1/events", event()), {secrets.API_KEYS}),
    "dispatch a survey by SMS": (None, lambda koe: koe.dispatch(event()), {secrets.CONTACT_KEYS, secrets.TWILIO}),
    "an SMS reply": (lambda koe: koe.dispatch(event()), _reply, {secrets.TWILIO, secrets.CONTACT_KEYS}),
    "a delivery report": (lambda koe: koe.dispatch(event()), _status, {secrets.TWILIO}),
    "the web survey page": (lambda koe: koe.dispatch(event()), _web_page, {secrets.CONTACT_KEYS}),
    "answers stored": (None, lambda koe: koe.stream(response_image()), set()),
    "the schedule with nothing due": (None, lambda koe: koe.tick(), set()),
    "the dashboard's sign-in page": (None, lambda koe: koe.client.http.get("/dashboard"), set()),
}


@pytest.mark.parametrize("given, when, reads", USE_CASES.values(), ids=USE_CASES.keys())
def test_each_use_case_reads_only_the_secrets_it_needs(koe, given, when, reads):
    if given is not None:
        given(koe)
        store(koe).fetched.clear()
        store(koe).expire()

    when(koe)

    assert set(store(koe).fetched) == reads


# The app.py handler each use case runs in (resources.SECRETS' used_by names them).
HANDLER = {"ingest an event": "ingest_http", "dispatch a survey by SMS": "dispatch", "an SMS reply": "sms_inbound",
           "a delivery report": "sms_status", "the web survey page": "web_survey_page", "answers stored": "on_response",
           "the schedule with nothing due": "tick", "the dashboard's sign-in page": "dashboard"}
SECRET_OF = {secrets.TWILIO: resources.TWILIO_SECRET, secrets.API_KEYS: resources.API_KEYS_SECRET,
             secrets.CONTACT_KEYS: resources.CONTACT_KEYS_SECRET}


@pytest.mark.parametrize("use_case", USE_CASES)
def test_each_use_case_reads_only_secrets_declared_for_its_handler(koe, use_case):
    given, when, _ = USE_CASES[use_case]
    if given is not None:
        given(koe)
        store(koe).fetched.clear()
        store(koe).expire()

    when(koe)

    assert all(HANDLER[use_case] in SECRET_OF[read].used_by for read in store(koe).fetched)


def test_a_secret_is_read_once_while_its_cache_is_fresh(koe):
    koe.dispatch(event())
    koe.dispatch(event(event_id="claims-2026-000124-paid", customer={"phone": "+15550100124"}))
    assert store(koe).fetched.count(secrets.CONTACT_KEYS) == 1 and store(koe).fetched.count(secrets.TWILIO) == 1


# --- the contact keys

def test_a_link_sent_before_a_contact_key_rotation_opens_after_it_while_the_old_key_is_listed(koe):
    koe.dispatch(event())
    old_link = koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1]
    assert old_link.startswith("/s/2026-11.")

    rotate(koe, secrets.CONTACT_KEYS, ROTATED)

    assert koe.client.http.get(old_link).status_code == 200
    assert koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1].startswith("/s/2027-01.")
    new_link = koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1]
    assert koe.client.http.get(new_link).status_code == 200


def test_a_link_whose_key_was_removed_is_the_invalid_link_page_not_an_error(koe):
    koe.dispatch(event())
    old_link = koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1]

    rotate(koe, secrets.CONTACT_KEYS, OLD_KEY_REMOVED)

    for response in (koe.client.http.get(old_link),
                     koe.client.http.post(old_link, headers={"content-type": "application/x-www-form-urlencoded"},
                                          body=b"score=9")):
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert koe.store.get_survey(SURVEY).status is not SurveyStatus.ANSWERED


def test_an_unsubscribe_link_sent_before_the_rotation_still_unsubscribes_after(koe):
    koe.dispatch(event())                     # by SMS, to a customer with an email address too
    survey = koe.store.get_survey(SURVEY)
    link = koe.components.unsubscribe_link(survey).split("/api", 1)[1]

    rotate(koe, secrets.CONTACT_KEYS, ROTATED)
    response = koe.client.http.post(link, headers={"content-type": "application/x-www-form-urlencoded"}, body=b"")

    assert response.status_code == 200
    assert koe.store.get_contact(koe.components.contact_key("hanako@example.jp")).opted_out


def test_an_opt_out_recorded_before_the_rotation_still_suppresses_a_survey_after(koe):
    koe.reply("STOP")                                   # no survey yet: the contact opts out
    assert koe.contact().opted_out

    rotate(koe, secrets.CONTACT_KEYS, ROTATED)
    koe.dispatch(event())

    survey = koe.store.get_survey(SURVEY)
    assert survey.status is SurveyStatus.SUPPRESSED and survey.reason == "opted_out"
    assert CARRIER.sent == []


def test_an_opt_in_after_the_rotation_clears_the_opt_out_written_under_the_old_key(koe):
    koe.reply("STOP")
    rotate(koe, secrets.CONTACT_KEYS, ROTATED)

    koe.reply("START", sid="SM" + "2" * 32)
    koe.dispatch(event())

    assert koe.store.get_survey(SURVEY).status is not SurveyStatus.SUPPRESSED
    assert len(CARRIER.sent) == 1


def test_a_survey_sent_before_the_rotation_takes_its_reply_after(koe):
    koe.dispatch(event())
    rotate(koe, secrets.CONTACT_KEYS, ROTATED)

    koe.reply("9")

    assert koe.store.get_survey(SURVEY).score == 9


def test_new_contacts_are_written_under_the_current_key_after_the_rotation(koe):
    rotate(koe, secrets.CONTACT_KEYS, ROTATED)
    koe.dispatch(event())

    keyring = koe.components.contact_keyring()
    assert koe.store.get_survey(SURVEY).contact_key == keyring.contact_key(event()["customer"]["phone"])
    assert keyring.current == "2027-01"


def test_a_malformed_contact_keys_secret_is_a_named_503_on_a_page_never_a_500(koe):
    koe.dispatch(event())
    link = koe.components.survey_link(koe.store.get_survey(SURVEY)).split("/api", 1)[1]
    rotate(koe, secrets.CONTACT_KEYS, {"current": "2027-02", "keys": {"2027-01": NEW_CONTACT_KEY}})

    response = koe.client.http.get(link)

    assert response.status_code == 503


# --- Twilio's auth token

def test_a_webhook_signed_with_the_previous_token_is_accepted_during_a_rotation(koe):
    koe.dispatch(event())
    rotate(koe, secrets.TWILIO, twilio_secret(koe, auth_token=NEW_TOKEN, previous_auth_token=AUTH_TOKEN))

    form = {"MessageSid": "SM" + "3" * 32, "From": "+15550100123", "Body": "9"}
    old = koe.twilio("/twilio/sms", form, signature=koe.sign("/twilio/sms", form, token=AUTH_TOKEN))
    new = koe.twilio("/twilio/sms", {**form, "MessageSid": "SM" + "4" * 32},
                     signature=koe.sign("/twilio/sms", {**form, "MessageSid": "SM" + "4" * 32}, token=NEW_TOKEN))

    assert old.status_code == 200 and new.status_code == 200


def test_a_webhook_signed_with_neither_token_is_refused(koe):
    koe.dispatch(event())
    rotate(koe, secrets.TWILIO, twilio_secret(koe, auth_token=NEW_TOKEN, previous_auth_token=AUTH_TOKEN))

    form = {"MessageSid": "SM" + "3" * 32, "From": "+15550100123", "Body": "9"}
    forged = koe.twilio("/twilio/sms", form, signature=koe.sign("/twilio/sms", form, token=FORGED_TOKEN))

    assert forged.status_code == 403 and forged.json_body["code"] == "invalid_signature"
    assert koe.store.get_survey(SURVEY).score is None


def test_a_token_rotated_behind_the_cache_is_read_again_once_and_a_forgery_still_gets_403(koe):
    koe.dispatch(event())
    # The operator promoted Twilio's secondary token; koe's cache still holds the old one
    rotate(koe, secrets.TWILIO, twilio_secret(koe, auth_token=NEW_TOKEN), expire=False)
    reads = store(koe).fetched.count(secrets.TWILIO)

    form = {"MessageSid": "SM" + "3" * 32, "From": "+15550100123", "Body": "9"}
    signed = koe.twilio("/twilio/sms", form, signature=koe.sign("/twilio/sms", form, token=NEW_TOKEN))
    assert signed.status_code == 200
    assert store(koe).fetched.count(secrets.TWILIO) == reads + 1

    forged = koe.twilio("/twilio/sms", form, signature=koe.sign("/twilio/sms", form, token=FORGED_TOKEN))
    assert forged.status_code == 403
    assert store(koe).fetched.count(secrets.TWILIO) == reads + 2      # one read again, then refused


# --- the API keys

def test_an_api_key_added_to_the_secret_is_accepted_and_a_removed_one_refused_without_a_redeploy(koe):
    new_key = "ops-key-3-rotated-2027"
    rotate(koe, secrets.API_KEYS, {"keys": [new_key, "ops-key-2-0123456789"]})
    assert koe.post_json("/v1/events", event(), key=new_key).status_code == 202
    assert koe.post_json("/v1/events", event(event_id="claims-2", ), key="ops-key-2-0123456789").status_code == 202

    rotate(koe, secrets.API_KEYS, {"keys": [new_key]})
    refused = koe.post_json("/v1/events", event(event_id="claims-3"), key="ops-key-2-0123456789")

    assert refused.status_code == 401


def test_a_new_api_key_waits_for_the_cache_to_age(koe):
    assert koe.post_json("/v1/events", event()).status_code == 202        # the keys are cached
    rotate(koe, secrets.API_KEYS, {"keys": ["ops-key-3-rotated-2027"]}, expire=False)
    assert koe.post_json("/v1/events", event(event_id="claims-2"), key="ops-key-3-rotated-2027").status_code == 401
    store(koe).expire()
    assert koe.post_json("/v1/events", event(event_id="claims-2"), key="ops-key-3-rotated-2027").status_code == 202


def test_secrets_are_never_in_the_settings():
    from chalicelib.settings import Settings

    names = set(Settings.__dataclass_fields__)
    assert not names & {"api_keys", "contact_hash_key", "twilio_auth_token", "twilio_account_sid", "twilio_from"}
    assert json.dumps(sorted(names))      # ids only: *_secret_id


def test_a_send_after_the_twilio_secret_rotated_uses_the_new_credentials(koe):
    koe.dispatch(event())
    rotate(koe, secrets.TWILIO, twilio_secret(koe, auth_token=NEW_TOKEN))

    koe.dispatch(event(event_id="claims-2026-000124-paid", customer={"phone": "+15550100124"}))

    assert [c.auth_token for c in CARRIER.clients] == [AUTH_TOKEN, NEW_TOKEN]
    assert len(CARRIER.sent) == 2
