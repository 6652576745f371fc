"""Email through Amazon SES (API v2 `SendEmail`, raw content): koe builds the MIME message itself.

The message: multipart/alternative, a text and an HTML part in UTF-8 (quoted-printable); `From` from
KOE_EMAIL_FROM (the brand as display name when it names none); `List-Unsubscribe` with the signed
unsubscribe link and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 2369, RFC 8058: the
one-click unsubscribe mailbox providers ask bulk senders for). Sent through the configuration set
KOE_SES_CONFIGURATION_SET, whose event destination reports bounces, complaints and deliveries to the
`ses-events` topic (services/email_feedback.py). The boto3 `sesv2` client comes from bootstrap.
`SesAlertEmail` sends the CX alerts to people (services/deliver_alerts.py) the same way: plain text,
from the same sender, through the same configuration set, with the same error mapping.

SES errors become koe's named errors:
- throttling (TooManyRequests, LimitExceeded, Throttling), 5xx, network faults -> RetryableSendError;
- the account or the sender cannot send (SendingPaused, AccountSuspended, MailFromDomainNotVerified,
  a configuration set that does not exist, access denied, the sender not verified) -> RetryableSendError:
  a deployment fault, retried and then dead-lettered with the reason, as Twilio's 20003;
- a rejected recipient (MessageRejected, an address SES cannot read) -> UndeliverableRecipient
  (the survey fails as `ses_<code>`);
- an address on the suppression list, when SES says so at send time -> RecipientOptedOut
  (audit `ses:suppressed`). SES v2 usually accepts such a message and reports it as a permanent
  bounce (bounceSubType OnAccountSuppressionList), which opts the address out the same way.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, parseaddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.alert_delivery import AlertContent
from chalicelib.domain.email_feedback import SURVEY_TAG, survey_tag
from chalicelib.errors import RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from chalicelib.services.ports import OutgoingEmail

THROTTLED = {"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"}
CONFIG_FAULTS = {"SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException",
                 "NotFoundException", "AccessDeniedException", "AccessDenied"}
REJECTED = {"MessageRejected", "BadRequestException", "InvalidParameterValue"}
ONE_CLICK = "List-Unsubscribe=One-Click"
CHARSET = "utf-8"
UNFOLDED = frozenset({"list-unsubscribe"})      # URLs: written as they are, on one line


class _Policy(EmailPolicy):
    """SMTP's policy (CRLF, headers folded at 78), except that a header holding a URL is written on
    one line as it is: folding a long URL, which has no space to fold at, would turn it into
    RFC 2047 encoded words that no mail client reads as a link (a line may hold 998 characters)."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in UNFOLDED and str(value).isascii():
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in UNFOLDED and str(value).isascii():
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return bytes(super().fold_binary(name, value))


POLICY = _Policy(linesep="\r\n")


class SesEmail:
    def __init__(self, client: Any, sender: str, brand: str, configuration_set: str | None = None):
        self._ses = client
        self._from = sender_address(sender, brand)
        self._configuration_set = configuration_set

    @property
    def from_address(self) -> str:
        """The bare sending address (what SES checks against the verified identity)."""
        return self._from.addr_spec

    def send(self, email: OutgoingEmail) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": build_message(email, self._from).as_bytes()}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        tag = survey_tag(email.survey_id) if email.survey_id else None
        if tag is not None:     # SES repeats it in the configuration set's events (services/email_feedback.py)
            request["EmailTags"] = [{"Name": SURVEY_TAG, "Value": tag}]
        try:
            answer = self._ses.send_email(**request)
        except ClientError as exc:
            raise self._named(exc) from exc
        except BotoCoreError as exc:          # connection errors, timeouts
            raise RetryableSendError(f"ses unreachable: {type(exc).__name__}", in_doubt=True) from exc
        return str(answer["MessageId"])

    def _named(self, exc: ClientError) -> Exception:
        return named_error(exc, self.from_address)


def named_error(exc: ClientError, from_address: str) -> Exception:
    """An SES error as koe's named error (the module's docstring says which is which)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "")) or "unknown"
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in THROTTLED or status == 429:
        return RetryableSendError(f"ses {code}")                    # refused: nothing went out
    if status >= 500:
        return RetryableSendError(f"ses {code}", in_doubt=True)
    if code in CONFIG_FAULTS or (code in REJECTED and from_address.lower() in message.lower()):
        return RetryableSendError(f"ses {code}: cannot send from {from_address}")   # our setup
    if "suppression list" in message.lower():
        return RecipientOptedOut(f"ses {code}: on the suppression list", audit="ses:suppressed")
    # No address or message text in the reason: it is stored on the survey and logged.
    return UndeliverableRecipient(code, "rejected by ses", carrier="ses")


class SesAlertEmail:
    """CX alerts to people (domain/alert_delivery.py) by email: plain text, from KOE_EMAIL_FROM,
    through the same configuration set as the surveys. No unsubscribe headers: these go to koe's own
    staff and subscribers, who change what they receive in KOE_CASE_ROUTING / KOE_ALERT_SUBSCRIBERS."""

    def __init__(self, client: Any, sender: str, brand: str, configuration_set: str | None = None):
        self._ses = client
        self._from = sender_address(sender, brand)
        self._configuration_set = configuration_set

    def deliver(self, address: str, content: AlertContent) -> None:
        message = EmailMessage(policy=POLICY)
        message["From"] = self._from
        message["To"] = address
        message["Subject"] = content.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message.set_content(content.body, subtype="plain", charset=CHARSET, cte="quoted-printable")
        request: dict[str, Any] = {
            "FromEmailAddress": self._from.addr_spec,
            "Destination": {"ToAddresses": [address]},
            "Content": {"Raw": {"Data": message.as_bytes()}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            self._ses.send_email(**request)
        except ClientError as exc:
            raise named_error(exc, self._from.addr_spec) from exc
        except BotoCoreError as exc:          # connection errors, timeouts
            raise RetryableSendError(f"ses unreachable: {type(exc).__name__}", in_doubt=True) from exc


def sender_address(sender: str, brand: str) -> Address:
    """KOE_EMAIL_FROM as a header address: its display name, else the brand."""
    name, address = parseaddr(sender)
    username, _, domain = address.rpartition("@")
    return Address(display_name=name or brand, username=username, domain=domain)


def build_message(email: OutgoingEmail, sender: Address) -> EmailMessage:
    """The MIME message SES sends as is: text and HTML alternatives, the unsubscribe headers."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = ONE_CLICK
    message.set_content(email.content.text, subtype="plain", charset=CHARSET, cte="quoted-printable")
    message.add_alternative(email.content.html, subtype="html", charset=CHARSET, cte="quoted-printable")
    return message
