"""koe's Twilio sender and signature check on rotating credentials (chalicelib/adapters/twilio_sms.py):
Twilio refusing cached credentials (20003) makes the sender read the secret again once; a signature
check tries the current and the previous token, and reads the secret again once on a mismatch."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from twilio.request_validator import RequestValidator

from chalicelib.adapters.twilio_sms import RotatingTwilioSms, SignatureCheck
from chalicelib.credentials import TwilioCredentials
from chalicelib.errors import CredentialsRejected, InvalidSignature

OLD = TwilioCredentials("AC" + "0" * 32, "a" * 32, "+15550100999")
NEW = TwilioCredentials("AC" + "0" * 32, "b" * 32, "+15550100999")
URL = "https://koe.example.com/api/twilio/sms"
FORM = {"MessageSid": "SM" + "1" * 32, "Body": "9"}


@dataclass
class Secret:
    """The Twilio secret behind a cache: `stored` changes at once, the cache on a fresh read."""

    stored: TwilioCredentials
    cached: TwilioCredentials
    reads: int = 0

    def __call__(self, fresh: bool) -> TwilioCredentials:
        if fresh:
            self.reads += 1
            self.cached = self.stored
        return self.cached


@dataclass
class Twilio:
    """Accepts only the live token."""

    live: str
    sent: list[str] = field(default_factory=list)

    def client(self, credentials: TwilioCredentials) -> Twilio.Client:
        return Twilio.Client(self, credentials)

    @dataclass
    class Client:
        twilio: Twilio
        credentials: TwilioCredentials

        def send(self, to: str, body: str, status_callback: str) -> str:
            if self.credentials.auth_token != self.twilio.live:
                raise CredentialsRejected("twilio 20003")
            self.twilio.sent.append(to)
            return "SM" + "2" * 32


def test_a_token_rotated_behind_the_cache_is_read_again_once_and_the_send_goes_out():
    secret, twilio = Secret(stored=NEW, cached=OLD), Twilio(live=NEW.auth_token)
    sender = RotatingTwilioSms(secret, twilio.client)  # type: ignore[arg-type]

    assert sender.send("+15550100123", "hi", "https://koe.example.com/cb").startswith("SM")
    assert twilio.sent == ["+15550100123"] and secret.reads == 1


def test_credentials_refused_and_unchanged_are_refused_without_a_second_send():
    secret, twilio = Secret(stored=OLD, cached=OLD), Twilio(live=NEW.auth_token)
    sender = RotatingTwilioSms(secret, twilio.client)  # type: ignore[arg-type]

    with pytest.raises(CredentialsRejected):
        sender.send("+15550100123", "hi", "https://koe.example.com/cb")
    assert twilio.sent == [] and secret.reads == 1


def _signed(token: str) -> str:
    return RequestValidator(token).compute_signature(URL, FORM)


def test_the_previous_token_is_accepted_while_it_is_listed():
    tokens = TwilioCredentials("AC" + "0" * 32, NEW.auth_token, "+15550100999", previous_auth_token=OLD.auth_token)
    check = SignatureCheck(lambda fresh: tokens.auth_tokens)
    check.verify(URL, FORM, _signed(OLD.auth_token))
    check.verify(URL, FORM, _signed(NEW.auth_token))
    with pytest.raises(InvalidSignature):
        check.verify(URL, FORM, _signed("c" * 32))


def test_a_mismatch_reads_the_secret_again_once_before_refusing():
    secret = Secret(stored=NEW, cached=OLD)
    check = SignatureCheck(lambda fresh: secret(fresh).auth_tokens)

    check.verify(URL, FORM, _signed(NEW.auth_token))
    assert secret.reads == 1
    with pytest.raises(InvalidSignature):
        check.verify(URL, FORM, _signed("c" * 32))
    assert secret.reads == 2
    with pytest.raises(InvalidSignature):
        check.verify(URL, FORM, None)
    assert secret.reads == 2            # no signature: refused without a read
