"""koe's named errors. Adapters turn SDK errors into these (`raise ... from exc`); `http.py` is the
one place that maps them to HTTP status codes, and services/batch.py the one place that maps them
to retry or dead letter."""

from __future__ import annotations


class KoeError(Exception):
    """Base of koe's own errors."""


class PermanentError(KoeError):
    """Retrying cannot help: the record goes to the dead-letter queue with this reason."""


class RetryableError(KoeError):
    """A passing fault (throttling, timeouts, 5xx): the record is retried."""


# --- requests (the HTTP edge answers these with 4xx; see http.ERRORS)
class InvalidRequest(KoeError):
    """The request itself is wrong (a missing field, a bad query parameter): 400, nothing changed.
    `details` are added to the JSON error body (e.g. the list of bad fields)."""

    def __init__(self, message: str, **details: object):
        self.details = details
        super().__init__(message)


class UnsupportedMediaType(InvalidRequest):
    """No Content-Type, or not the one the route reads: 415."""


class Unauthenticated(KoeError):
    """No credentials, or credentials koe does not accept: 401."""


class Forbidden(KoeError):
    """Authenticated, but the principal's role may not use this route: 403."""


# --- intake
class InvalidEvent(PermanentError):
    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['problem']}" for e in errors))


# --- storage
class SurveyExists(KoeError):
    """A survey for this event_id is already recorded: the event is a duplicate."""


class ConversationOpen(KoeError):
    """The contact has another conversation open (lost a race with a concurrent dispatch)."""


class StaleSurvey(RetryableError):
    """The survey changed between read and write (a concurrent reply): read again and retry."""


class StorageThrottled(RetryableError):
    """DynamoDB throttled us beyond the SDK's own retries."""


# --- sending (SMS, email)
class RecipientOptedOut(PermanentError):
    """The recipient opted out at the carrier: Twilio 21610 (not charged), or an address SES will not
    send to. `contact_key` names the contact that opted out when it is not the survey's own (an
    email address of a customer whose survey is keyed by phone); `audit` is what the opt-out records."""

    def __init__(self, message: str = "", *, contact_key: str | None = None, audit: str = "carrier:21610"):
        self.contact_key = contact_key
        self.audit = audit
        super().__init__(message or audit)


class UndeliverableRecipient(PermanentError):
    """The recipient cannot be reached: a number that cannot receive SMS (21211 invalid, 21614 not
    mobile, 21612/21408 unreachable; Alibaba's isv.MOBILE_NUMBER_ILLEGAL), an address SES refuses.
    The survey fails with the reason `<carrier>_<code>` (twilio_21614, ses_MessageRejected)."""

    def __init__(self, code: str, message: str = "", *, carrier: str = "twilio"):
        self.code = code
        self.carrier = carrier
        super().__init__(f"{carrier} {code} {message}".strip())


class NoSender(PermanentError):
    """A survey's channel has no sender configured: a deployment fault, dead-lettered with the reason."""

    def __init__(self, channel: str):
        self.channel = channel
        super().__init__(f"no sender for channel {channel!r}")


class RetryableSendError(RetryableError):
    """Throttling (Twilio 20429/HTTP 429, SES TooManyRequests), 5xx, a network fault, or a sending
    configuration fault (credentials, an unverified sender): try the send again later.

    `in_doubt`: the carrier may have taken the message all the same (a 5xx, a timeout, a dropped
    connection): it is not sent again until the survey's send lease ends. A refusal (throttled,
    credentials) is certain: nothing went out, so it may be sent again at once."""

    def __init__(self, message: str = "", *, in_doubt: bool = False):
        self.in_doubt = in_doubt
        super().__init__(message)


class EventInProgress(RetryableError):
    """Another invocation holds this event (its idempotency record is in progress), or one that died
    did, until its claim expires with that invocation's timeout: try again after that, not sooner."""


class SendNotRecorded(RetryableError):
    """The carrier took the message but its record could not be written (the store kept failing):
    the survey stays claimed (`sending`) under its lease, where the carrier's status callback
    records the message; it is sent again only if the lease ends with no word of it."""

    def __init__(self, survey_id: str):
        self.survey_id = survey_id
        super().__init__(f"survey {survey_id}: sent, not recorded")


class CredentialsRejected(RetryableSendError):
    """The carrier refused koe's credentials (Twilio 20003, LINE 401, Alibaba InvalidAccessKeyId.NotFound
    or SignatureDoesNotMatch): a rotated token koe has not read yet, or a wrong one. The sender reads the
    secret again once before giving up (then: retried later)."""


class TemplateRejected(PermanentError):
    """China SMS or WeChat (`carrier`): the approved signature and template do not take this message.
    Alibaba refused them (isv.SMS_TEMPLATE_ILLEGAL, isv.SMS_SIGNATURE_ILLEGAL,
    isv.TEMPLATE_MISSING_PARAMETERS ...: `code` is Alibaba's), WeChat refused its template (wechat_40037,
    wechat_47003), or koe found before sending that the values are not the approved template's
    parameters or that it has no approved template for the message (`code` koe_params,
    koe_unknown_template). A deployment fault (the template book, or the provider's console), never the
    customer's: retrying cannot help, so it is dead-lettered with the reason (codes and names, never
    values)."""

    def __init__(self, code: str, message: str = "", *, template_code: str | None = None,
                 carrier: str = "alibaba"):
        self.code = code
        self.template_code = template_code
        self.carrier = carrier
        super().__init__(" ".join(part for part in (carrier, code, template_code, message) if part))


class ReplyTokenExpired(PermanentError):
    """LINE refused a reply token (400 "Invalid reply token"): older than LINE's minute, or used
    already. That token never works again: the caller answers by push instead (it costs a message)."""


# --- CX alerts
class InvalidAlert(PermanentError):
    """A message on the alert deliveries queue is not a case alert koe can read (not JSON, not the
    published schema): dead-lettered with the reason (field names, never values)."""


class AlertDeliveryIncomplete(RetryableError):
    """Some destinations of an alert failed for now (or are being delivered by another invocation):
    the record is retried, and the destinations already delivered are skipped."""


class AlertDestinationsBusy(AlertDeliveryIncomplete):
    """Nothing failed, but some destinations are claimed by another invocation (or by one that died,
    until its claim's lease ends): retried once that lease can have ended, not sooner."""


# --- comment insight
class AnalyserUnavailable(RetryableError):
    """The comment analyser throttled koe (Comprehend's ThrottlingException, TooManyRequests), failed
    (5xx) or could not be reached: the comment is analysed again later."""


class UnanalysableComment(PermanentError):
    """The analyser refuses the comment itself (an unsupported language, a text it cannot take):
    retrying cannot help, so its message is dead-lettered with the reason (never the text)."""


class InvalidInsightRequest(PermanentError):
    """A comment-insight queue message koe cannot read: dead-lettered with the reason."""


class InsightConflict(RetryableError):
    """Another version of the comment's insight was stored meanwhile, or its group counters kept
    changing under koe: the message is retried (and finds the stored version)."""


# --- webhooks
class InvalidSignature(KoeError):
    """X-Twilio-Signature missing or wrong for the configured public URL, or x-line-signature missing
    or wrong for the body: 403, no state change."""


class InvalidWebhook(InvalidRequest):
    """A correctly signed webhook body koe cannot read (not JSON, not the provider's shape): 400,
    nothing changed. Names the field, never a value."""


# --- queues
class EnqueueFailed(RetryableError):
    """SQS did not take a message after retries; the caller must be told to send it again."""


class CaseNotFound(KoeError):
    """No such case, or one the caller may not see (the same answer: no existence leak): 404."""


class VersionConflict(KoeError):
    """The case changed since the caller read it (another person saved it first): 409, read again."""

    def __init__(self, message: str, current_version: int | None = None):
        super().__init__(message)
        self.current_version = current_version


class InvalidCaseState(KoeError):
    """The case's state does not allow the move (resolving a resolved case): 409."""


class UnknownOwner(InvalidRequest):
    """A case assigned to an owner the routing table does not know (an agent who is not in it or not
    active, a branch or central queue that does not exist): 400 `unknown_owner`, nothing changed."""


class StaleCase(RetryableError):
    """A case kept changing while koe added to it (a comment, a re-survey's answer): retried."""


class SettingsError(ValueError):
    """A required setting is missing or a value cannot be read; names the variable
    (chalicelib/settings.py and the case and alert settings it reads through)."""


class SecretUnavailable(RetryableError):
    """A secret could not be read (Secrets Manager unreachable, throttled, missing, or not granted):
    retried later (503 at the HTTP edge); the secret's id is named, its value never."""
