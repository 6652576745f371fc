"""Services on fakes: a world of in-memory stores and recording messengers, and a settable clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters import holiday_calendar
from chalicelib.adapters.email_templates import JinjaEmails
from chalicelib.adapters.phone_numbers import region_of, timezone_of
from chalicelib.adapters.templates import TomlMessages
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.channel_policy import ChannelPolicy
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.eligibility import Policy
from chalicelib.domain.identity import contact_key
from chalicelib.domain.model import Place, Survey
from chalicelib.domain.questions import DEFAULT_THRESHOLD, Definitions, scale_of
from chalicelib.domain.send_window import SendHours
from chalicelib.domain.survey_token import LinkKeys, link_key, sign
from chalicelib.services import unsubscribe
from chalicelib.services.case_schedule import CaseScheduleDeps
from chalicelib.services.cases import CaseDeps
from chalicelib.services.dispatch import DispatchDeps, dispatch_event
from chalicelib.services.handle_reply import InboundSms, ReplyDeps, handle_reply
from chalicelib.services.on_answers import AnswerDeps
from chalicelib.services.record_status import StatusDeps
from chalicelib.services.send_survey import EmailSurveySender, SmsLinkSurveySender, SmsSurveySender
from chalicelib.services.tick import TickDeps
from chalicelib.settings import REPO_ROOT
from tests.fakes.messaging import FakeAlerts, FakeDeadLetters, FakeEmail, FakeFollowUps, FakeIntakeQueue, FakeSms
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeScoreStore

EVENTS = Path(__file__).resolve().parents[1] / "events"
SECRET = b"test-contact-hash-key"
UNSUBSCRIBE_BASE = "https://koe.example.jp/u"
PHONE = "+15550100123"


@dataclass
class Clock:
    now: datetime = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# The routing table the service tests share: tokyo-chuo has a manager and agent A-102; central has a lead.
ROUTING = {
    "central": {"queue": "cx", "lead": "cx-lead", "email": "cx@example.jp", "language": "ja",
                "timezone": "Asia/Tokyo"},
    "branches": {"tokyo-chuo": {"manager": "mgr-tokyo", "email": "tokyo-chuo@example.jp", "timezone": "Asia/Tokyo"}},
    "agents": {"A-102": {"branch": "tokyo-chuo"}},
    "people": {"A-102": {"email": "a102@example.jp", "language": "ja"}, "mgr-tokyo": {"email": "mgr@example.jp"},
               "cx-lead": {"email": "lead@example.jp", "language": "en"}},
}


# Where customers are, as bootstrap finds it: the phone number's country and zone, each country's
# usual zone, UTC for a customer nothing places; and when they may be messaged: 09:00-20:00, holidays skipped.
PLACES = PlaceRules(region_of=region_of, timezone_of=timezone_of)
HOURS = SendHours(holidays=holiday_calendar.for_country)


def test_case_policy(**changes: Any) -> CasePolicy:
    from chalicelib.domain import case_routing
    from chalicelib.domain.business_calendar import BusinessCalendar

    def calendar_for(place: Place) -> BusinessCalendar:
        """As bootstrap builds it: 09:00-18:00 Monday to Friday, the country's holidays, the customer's zone."""
        return BusinessCalendar(place.timezone, is_holiday=holiday_calendar.for_country(place.country))

    return CasePolicy(routing=case_routing.parse(ROUTING), calendar_for=calendar_for, places=PLACES, **changes)


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    store: FakeConversationStore = field(default_factory=FakeConversationStore)
    cases: FakeCaseStore = field(default_factory=FakeCaseStore)
    scores: FakeScoreStore = field(default_factory=FakeScoreStore)
    sms: FakeSms = field(default_factory=FakeSms)
    intake: FakeIntakeQueue = field(default_factory=FakeIntakeQueue)
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    follow_ups: FakeFollowUps = field(default_factory=FakeFollowUps)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    messages: TomlMessages = field(default_factory=lambda: TomlMessages(REPO_ROOT / "templates", "Example Life"))
    thresholds: dict[str, int] = field(default_factory=dict)
    definitions: Definitions = field(default_factory=Definitions)     # what each procedure asks (NPS)
    extra_senders: dict[str, Any] = field(default_factory=dict)      # e.g. a recording email sender
    reminder_after: timedelta | None = None                           # no reminder unless a test says
    response_window: timedelta = timedelta(hours=24)
    case_policy: CasePolicy = field(default_factory=lambda: test_case_policy())

    def key(self, address: str = PHONE) -> str:
        return contact_key(SECRET, address)

    @property
    def dispatch_deps(self) -> DispatchDeps:
        callback = "https://koe.example.com/api/twilio/status"
        senders = {"sms_two_way": SmsSurveySender(self.sms, self.messages, callback),
                   "sms_link": SmsLinkSurveySender(self.sms, self.messages, callback, self.link),
                   **self.extra_senders}
        return DispatchDeps(store=self.store, senders=senders, contact_key=self.key,
                            policy=Policy(30, 72, "en-US"), channels=ChannelPolicy(), places=PLACES, hours=HOURS,
                            cooldown_days=lambda p: 30, response_window=lambda p: self.response_window,
                            reminder_after=self.reminder_after, clock=self.clock, definitions=self.definitions)

    @property
    def status_deps(self) -> StatusDeps:
        return StatusDeps(store=self.store, senders=self.dispatch_deps.senders, contact_key=self.key, clock=self.clock)

    @property
    def tick_deps(self) -> TickDeps:
        return TickDeps(store=self.store, senders=self.dispatch_deps.senders, clock=self.clock, hours=HOURS,
                        places=PLACES)

    @staticmethod
    def link(survey: Survey) -> str:
        return f"https://koe.example.jp/s/{sign(link_key(SECRET), survey.survey_id)}"

    @staticmethod
    def unsubscribe_link(survey: Survey) -> str:
        return unsubscribe.link(links_of(link_key(SECRET))(), UNSUBSCRIBE_BASE, survey)

    def send_email_through(self, email: Any) -> None:
        """Surveys by email go out through koe's email sender to `email` (a recording FakeEmail)."""
        self.extra_senders["email"] = EmailSurveySender(email, JinjaEmails(REPO_ROOT / "templates", "Example Life"),
                                                        self.link, self.unsubscribe_link, self.key)

    @property
    def reply_deps(self) -> ReplyDeps:
        return ReplyDeps(store=self.store, messages=self.messages, contact_key=self.key,
                         threshold_for=self.threshold_for, clock=self.clock, places=PLACES)

    def threshold_for(self, procedure: str, scale: str) -> int:
        """As settings decide it: the procedure's own, else the scale's default (NPS 6, CSAT 2, CES 3)."""
        return self.thresholds.get(procedure, DEFAULT_THRESHOLD[scale_of(scale)])

    @property
    def case_deps(self) -> CaseDeps:
        return CaseDeps(cases=self.cases, alerts=self.alerts, policy=self.case_policy, clock=self.clock,
                        surveys=self.store)

    @property
    def case_schedule_deps(self) -> CaseScheduleDeps:
        return CaseScheduleDeps(cases=self.cases, alerts=self.alerts, surveys=self.store,
                                senders=self.dispatch_deps.senders, intake=self.intake, hours=HOURS, places=PLACES,
                                policy=self.case_policy, clock=self.clock, contact_key=self.key)

    @property
    def answer_deps(self) -> AnswerDeps:
        return AnswerDeps(scores=self.scores, cases=self.cases, follow_ups=self.follow_ups, alerts=self.alerts,
                          reporting_tz=ZoneInfo("UTC"), policy=self.case_policy, clock=self.clock)

    # --- the customer's side
    def dispatch(self, **changes: Any) -> dict[str, str]:
        return dispatch_event(event(**changes), self.dispatch_deps)

    def reply(self, body: str, sid: str | None = None, sender: str = PHONE) -> str | None:
        self._n = getattr(self, "_n", 0) + 1
        return handle_reply(InboundSms(sid or f"SM{self._n:032d}", sender, body), self.reply_deps)


def event(**changes: Any) -> dict[str, Any]:
    payload = json.loads((EVENTS / "procedure-completed.json").read_text())
    customer = changes.pop("customer", {})
    payload["customer"].update(customer)
    payload["customer"]["locale"] = customer.get("locale", "en-US")
    payload.update(changes)
    return payload


@pytest.fixture
def email() -> FakeEmail:
    """The recording email transport a test's World sends through (World.send_email_through)."""
    return FakeEmail()


@pytest.fixture
def world() -> World:
    return World()


def links_of(key: bytes) -> Callable[[], LinkKeys]:
    """The link keys of one contact-key version whose link key is `key` (tokens the tests sign
    without a key id open under it too)."""
    return lambda: LinkKeys("2026-11", {"2026-11": key})
