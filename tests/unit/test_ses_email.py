"""The SES adapter (adapters/ses_email.py) against a stub of boto3's sesv2 client: the request it makes,
and SES's errors as koe's named errors. The real SES API (moto) is in tests/integration/test_ses_adapter.py."""

from __future__ import annotations

import base64
import email
import email.policy
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from chalicelib.adapters.ses_email import SesEmail
from chalicelib.errors import RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from chalicelib.services.ports import EmailContent, OutgoingEmail

EMAIL = OutgoingEmail("li.mei@example.com", EmailContent("【Example Life】调查", "<p>你好</p>", "你好"),
                      "https://koe.example.com/api/u/tok.mac")


@dataclass
class StubSes:
    requests: list[dict[str, Any]] = field(default_factory=list)
    raises: Exception | None = None

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.raises is not None:
            raise self.raises
        return {"MessageId": "0106019a-ses-1"}


def error(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")


def test_it_sends_raw_mime_from_koe_through_the_configuration_set():
    stub = StubSes()
    assert SesEmail(stub, "survey@example.jp", "Example Life", "koe-prod-email").send(EMAIL) == "0106019a-ses-1"
    (request,) = stub.requests
    assert request["FromEmailAddress"] == "survey@example.jp"
    assert request["Destination"] == {"ToAddresses": ["li.mei@example.com"]}
    assert request["ConfigurationSetName"] == "koe-prod-email"
    raw = request["Content"]["Raw"]["Data"]
    assert isinstance(raw, bytes)          # boto3 base64-encodes it on the wire
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["List-Unsubscribe"] == "<https://koe.example.com/api/u/tok.mac>"
    assert parsed["Subject"] == "【Example Life】调查" and parsed["From"] == "Example Life <survey@example.jp>"
    assert base64.b64encode(raw)            # sendable


def test_without_a_configuration_set_none_is_named():
    stub = StubSes()
    SesEmail(stub, "Acme <survey@example.jp>", "Example Life").send(EMAIL)
    assert "ConfigurationSetName" not in stub.requests[0]
    assert stub.requests[0]["FromEmailAddress"] == "survey@example.jp"


@pytest.mark.parametrize("raised, in_doubt", [
    (error("TooManyRequestsException", "Too many requests", 429), False),
    (error("LimitExceededException", "Maximum sending rate exceeded."), False),
    (error("Throttling", "Rate exceeded"), False),
    (error("InternalFailure", "", 500), True),
    (error("ServiceUnavailable", "", 503), True),
    (EndpointConnectionError(endpoint_url="https://email.ap-northeast-1.amazonaws.com"), True),
    (ReadTimeoutError(endpoint_url="https://email.ap-northeast-1.amazonaws.com"), True),
])
def test_throttling_5xx_and_network_faults_are_retried(raised, in_doubt):
    """A refusal is certain (nothing went out); a 5xx or a lost connection may have sent it."""
    with pytest.raises(RetryableSendError) as caught:
        SesEmail(StubSes(raises=raised), "survey@example.jp", "B").send(EMAIL)
    assert caught.value.in_doubt is in_doubt


@pytest.mark.parametrize("raised", [
    error("SendingPausedException", "Sending is paused for this account."),
    error("AccountSuspendedException", "The account is suspended."),
    error("MailFromDomainNotVerifiedException", "MAIL FROM domain not verified"),
    error("NotFoundException", "Configuration set <koe-prod-email> does not exist.", 404),
    error("AccessDeniedException", "not authorized to perform: ses:SendEmail", 403),
    error("MessageRejected", "Email address is not verified. The following identities failed the check in "
                             "region AP-NORTHEAST-1: survey@example.jp"),
])
def test_a_sender_that_cannot_send_is_our_fault_retried_then_dead_lettered(raised):
    with pytest.raises(RetryableSendError, match="cannot send from survey@example.jp"):
        SesEmail(StubSes(raises=raised), "survey@example.jp", "B").send(EMAIL)


@pytest.mark.parametrize(("raised", "code"), [
    (error("MessageRejected", "Email address is not verified. The following identities failed the check in "
                              "region AP-NORTHEAST-1: li.mei@example.com"), "MessageRejected"),  # the sandbox
    (error("BadRequestException", "Illegal address"), "BadRequestException"),
    (error("InvalidParameterValue", "Missing domain"), "InvalidParameterValue"),
])
def test_a_recipient_ses_refuses_fails_the_survey_with_the_code(raised, code):
    with pytest.raises(UndeliverableRecipient) as refused:
        SesEmail(StubSes(raises=raised), "survey@example.jp", "B").send(EMAIL)
    assert (refused.value.carrier, refused.value.code) == ("ses", code)
    assert "li.mei" not in str(refused.value)           # no address in the reason stored and logged


def test_an_address_on_the_suppression_list_has_opted_out():
    raised = error("MessageRejected", "Address is on the account-level suppression list.")
    with pytest.raises(RecipientOptedOut) as opted_out:
        SesEmail(StubSes(raises=raised), "survey@example.jp", "B").send(EMAIL)
    assert opted_out.value.audit == "ses:suppressed" and opted_out.value.contact_key is None
