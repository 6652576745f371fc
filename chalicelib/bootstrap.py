"""The one place that builds real adapters from settings: tables, Twilio, SQS, SNS.

Each piece is built on first use and kept for the life of the process (a warm Lambda reuses it);
each handler pays only for the clients it uses. Tests hand fakes to services directly and never
come here; the local stack comes here with endpoints pointing at DynamoDB Local and moto.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import settings as settings_module
from chalicelib.domain import eligibility
from chalicelib.domain.identity import contact_key
from chalicelib.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


class Components:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock

    # --- AWS clients
    def _client(self, service: str, endpoint: str | None) -> Any:
        import boto3
        from botocore.config import Config

        # Standard retry mode backs off on throttling; what still fails becomes a named error.
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
        return boto3.client(service, region_name=self.settings.region, endpoint_url=endpoint, config=config)

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs", self.settings.aws_endpoint)

    @cached_property
    def sns(self) -> Any:
        return self._client("sns", self.settings.aws_endpoint)

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb", self.settings.dynamodb_endpoint)

    # --- storage
    @cached_property
    def _tables(self) -> Any:
        from chalicelib.adapters import dynamo

        dynamo.configure(self.settings)
        return dynamo

    @cached_property
    def conversations(self) -> Any:
        return self._tables.DynamoConversationStore(self.settings)

    @cached_property
    def cases(self) -> Any:
        return self._tables.DynamoCaseStore(self.settings)

    @cached_property
    def scores(self) -> Any:
        return self._tables.DynamoScoreStore(self.settings)

    @cached_property
    def idempotency(self) -> Any:
        from chalicelib.adapters.idempotency import Idempotency

        return Idempotency(self.settings.table_name("idempotency"), self.dynamodb)

    # --- messaging
    @cached_property
    def intake_queue(self) -> Any:
        from chalicelib.adapters.aws import SqsIntakeQueue

        return SqsIntakeQueue(self.sqs, self.settings.intake_queue_url)

    @cached_property
    def dead_letters(self) -> Any:
        from chalicelib.adapters.aws import SqsDeadLetters

        return SqsDeadLetters(self.sqs, self.settings.intake_dlq_url)

    @cached_property
    def follow_ups(self) -> Any:
        from chalicelib.adapters.aws import SqsFollowUps

        return SqsFollowUps(self.sqs, self.settings.follow_up_queue_url)

    @cached_property
    def alerts(self) -> Any:
        from chalicelib.adapters.aws import SnsAlerts

        return SnsAlerts(self.sns, self.settings.cx_topic_arn)

    @cached_property
    def sms(self) -> Any:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        from chalicelib.adapters.twilio_sms import TwilioSms

        s = self.settings
        client = Client(s.twilio_account_sid, s.twilio_auth_token, http_client=TwilioHttpClient(timeout=5))
        if s.twilio_base_url:          # the local stand-in carrier
            client.api.base_url = s.twilio_base_url
        return TwilioSms(client, s.twilio_from)

    @cached_property
    def signature(self) -> Any:
        from chalicelib.adapters.twilio_sms import SignatureCheck

        return SignatureCheck(self.settings.twilio_auth_token)

    @cached_property
    def messages(self) -> Any:
        from chalicelib.adapters.templates import TomlMessages

        return TomlMessages(self.settings.templates_dir, self.settings.brand)

    def today(self) -> date:
        """Today in the reporting time zone: the day scores are counted in."""
        return self.clock().astimezone(ZoneInfo(self.settings.reporting_timezone)).date()

    # --- service dependencies
    def contact_key(self, address: str) -> str:
        return contact_key(self.settings.contact_hash_key, address)

    @cached_property
    def dispatch_deps(self) -> Any:
        from chalicelib.services.dispatch import DispatchDeps

        s = self.settings
        return DispatchDeps(
            store=self.conversations, sms=self.sms, messages=self.messages, contact_key=self.contact_key,
            policy=eligibility.Policy(s.cooldown_days, s.max_event_age_hours, s.default_locale),
            cooldown_days=s.cooldown_for, conversation_hours=s.conversation_hours,
            status_callback_url=s.status_callback_url, clock=self.clock)

    @cached_property
    def dispatch_once(self) -> Callable[[dict[str, Any]], dict[str, str]]:
        from chalicelib.services.dispatch import dispatch_event

        deps = self.dispatch_deps
        return self.idempotency.wrap(lambda event: dispatch_event(event, deps))

    @cached_property
    def reply_deps(self) -> Any:
        from chalicelib.services.handle_reply import ReplyDeps

        s = self.settings
        return ReplyDeps(store=self.conversations, messages=self.messages, contact_key=self.contact_key,
                         threshold_for=s.threshold_for, clock=self.clock)

    @cached_property
    def answer_deps(self) -> Any:
        from chalicelib.services.on_answers import AnswerDeps

        s = self.settings
        return AnswerDeps(scores=self.scores, cases=self.cases, follow_ups=self.follow_ups, alerts=self.alerts,
                          reporting_tz=ZoneInfo(s.reporting_timezone), sla_hours=s.case_sla_hours,
                          clock=self.clock)


_components: Components | None = None


def components() -> Components:
    """This process's components, built on first use from the environment."""
    global _components
    if _components is None:
        _components = Components(settings_module.current())
    return _components
