"""koe's Twilio adapter through the real SDK against the local carrier: sends, named errors, signatures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from chalicelib.adapters.twilio_sms import SignatureCheck, TwilioSms
from chalicelib.errors import InvalidSignature, RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from devstack.carrier import Carrier

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "fedcba9876543210" * 2
NUMBER = "+15550009999"
CALLBACK = "http://127.0.0.1:9/twilio/status?survey=s1"     # nothing listens: callbacks fail quietly


@pytest.fixture(scope="module")
def carrier() -> Iterator[Carrier]:
    carrier = Carrier(account_sid=ACCOUNT, auth_token=TOKEN, number=NUMBER,
                      app_sms_url="http://127.0.0.1:9/twilio/sms")
    carrier.start()
    yield carrier
    carrier.stop()


def adapter(carrier: Carrier, token: str = TOKEN) -> TwilioSms:
    client = Client(ACCOUNT, token, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = carrier.url
    return TwilioSms(client, NUMBER)


def test_sends_through_the_real_sdk(carrier):
    sid = adapter(carrier).send("+15550100150", "Reply 0-10", CALLBACK)
    assert sid.startswith("SM")
    [message] = requests.get(f"{carrier.url}/messages", params={"to": "+15550100150"}, timeout=5).json()
    assert (message["sid"], message["body"]) == (sid, "Reply 0-10")


@pytest.mark.parametrize("to, error", [
    ("+15550100190", UndeliverableRecipient),      # 21614 not a mobile number
    ("+15550100192", RetryableSendError),          # 20429 throttled
])
def test_carrier_errors_become_named_errors(carrier, to, error):
    with pytest.raises(error) as raised:
        adapter(carrier).send(to, "hello", CALLBACK)
    assert not getattr(raised.value, "in_doubt", False)     # a refusal: nothing went out


def test_an_opted_out_number_is_a_named_error(carrier):
    requests.post(f"{carrier.url}/reply", json={"from": "+15550100151", "body": "STOP"}, timeout=5)
    with pytest.raises(RecipientOptedOut):
        adapter(carrier).send("+15550100151", "hello", CALLBACK)


def test_wrong_credentials_are_retried_not_blamed_on_the_customer(carrier):
    with pytest.raises(RetryableSendError, match="20003"):
        adapter(carrier, token="0" * 32).send("+15550100152", "hello", CALLBACK)


def test_an_unreachable_carrier_is_retryable():
    client = Client(ACCOUNT, TOKEN, http_client=TwilioHttpClient(timeout=2))
    client.api.base_url = "http://127.0.0.1:9"
    with pytest.raises(RetryableSendError) as raised:
        TwilioSms(client, NUMBER).send("+15550100153", "hello", CALLBACK)
    assert raised.value.in_doubt        # a lost connection or a timeout may have sent it


def test_signatures_are_checked_over_url_and_every_field():
    url = "https://koe.example.com/api/twilio/sms"
    params = {"From": "+15550100123", "Body": "9", "ToCity": "", "MessageSid": "SM" + "1" * 32}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    check = SignatureCheck(lambda fresh: (TOKEN,))
    check.verify(url, params, signature)
    for forged in ({**params, "Body": "0"}, {k: v for k, v in params.items() if k != "ToCity"}):
        with pytest.raises(InvalidSignature):
            check.verify(url, forged, signature)
    with pytest.raises(InvalidSignature):
        check.verify(url.replace("https", "http"), params, signature)
    with pytest.raises(InvalidSignature):
        check.verify(url, params, None)
