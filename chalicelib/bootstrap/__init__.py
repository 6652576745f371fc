"""The one place that builds the real things and wires them into the use cases: `Components` is
the adapters (`bootstrap/adapters.py`) plus each use case's dependencies, built on first use and kept
for the life of the process (a warm Lambda reuses them); each handler pays only for what it uses.
The local stack comes here with endpoints pointing at DynamoDB Local and moto. Service tests hand
fakes to services directly; the functional tests of app.py hand fakes in here
(`Components(settings, **fakes)` then `install(...)`).

Adding a channel: its sender in `Adapters.senders` (one line), beside its adapter and its templates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib import settings as settings_module
from chalicelib.bootstrap.adapters import Adapters, utc_now
from chalicelib.domain import eligibility

if TYPE_CHECKING:      # for the annotations only: each piece imports what it builds on first use
    from chalicelib.domain.case_policy import CasePolicy
    from chalicelib.domain.case_routing import RoutingTable
    from chalicelib.domain.customer_place import PlaceRules
    from chalicelib.domain.model import Answer
    from chalicelib.domain.send_window import SendHours
    from chalicelib.services.case_schedule import CaseScheduleDeps
    from chalicelib.services.case_stats import CaseStatsDeps
    from chalicelib.services.cases import CaseDeps
    from chalicelib.services.comment_insight import InsightDeps
    from chalicelib.services.comments import CommentsDeps
    from chalicelib.services.dashboard import DashboardDeps
    from chalicelib.services.deliver_alerts import AlertDeps
    from chalicelib.services.dispatch import DispatchDeps
    from chalicelib.services.email_feedback import FeedbackDeps
    from chalicelib.services.handle_reply import ReplyDeps
    from chalicelib.services.ingest import IngestDeps
    from chalicelib.services.on_answers import AnswerDeps
    from chalicelib.services.record_status import StatusDeps
    from chalicelib.services.responses_export import ExportDeps
    from chalicelib.services.tick import TickDeps
    from chalicelib.services.unsubscribe import UnsubscribeDeps
    from chalicelib.services.web_survey import WebDeps

__all__ = ["Adapters", "Components", "components", "install", "utc_now"]


class Components(Adapters):
    # --- the event contract, checked at the edge against this process's clock
    def event_errors(self, payload: Any) -> list[dict[str, str]]:
        """Every problem with one event (JSON Schema, control characters, a completed_at in the
        future beyond KOE_CLOCK_SKEW_SECONDS); empty when valid."""
        from chalicelib.adapters.schema import event_errors

        return event_errors(payload, self.clock(), timedelta(seconds=self.settings.clock_skew_seconds))

    def read_event(self, body: str) -> dict[str, Any]:
        """The valid event in an intake queue message, or InvalidEvent (dead-lettered with it)."""
        from chalicelib.adapters.schema import read_message

        return read_message(body, self.clock(), timedelta(seconds=self.settings.clock_skew_seconds))

    def give_up_dispatch(self, body: str, error: Exception) -> None:
        """After dispatch dead-letters a record: end the survey it opened but never sent."""
        from chalicelib.adapters.schema import event_id_of
        from chalicelib.services.dispatch import give_up

        event_id = event_id_of(body)
        if event_id is not None:
            give_up(event_id, error, self.dispatch_deps)

    # --- where customers are, and when they may be messaged: one of each for every use case
    @cached_property
    def places(self) -> PlaceRules:
        """The one rule for a customer's country and zone (dispatch decides; later steps read the
        survey's): the phone number lookups, each country's usual zone (KOE_BUSINESS_CALENDARS may
        name others), and KOE_REPORTING_TIMEZONE for a customer nothing places."""
        from chalicelib.adapters.phone_numbers import region_of, timezone_of
        from chalicelib.domain.customer_place import COUNTRY_ZONES, PlaceRules

        s = self.settings
        return PlaceRules(region_of=region_of, timezone_of=timezone_of,
                          zones={**COUNTRY_ZONES, **s.cases.country_zones}, fallback_timezone=s.reporting_timezone)

    @cached_property
    def send_hours(self) -> SendHours:
        """KOE_SEND_WINDOW (and per country), public holidays unless KOE_SKIP_HOLIDAYS=false."""
        from chalicelib.adapters import holiday_calendar
        from chalicelib.domain.send_window import SendHours, SendWindows, Window

        s = self.settings
        windows = SendWindows(Window.parse(s.send_window),
                              {country: Window.parse(w) for country, w in s.send_window_by_country.items()})
        return SendHours(windows, holiday_calendar.for_country if s.skip_holidays else holiday_calendar.none)

    # --- service dependencies
    @cached_property
    def ingest_deps(self) -> IngestDeps:
        from chalicelib.services.ingest import IngestDeps

        return IngestDeps(queue=self.intake_queue, check=self.event_errors, ledger=self.event_ledger,
                          clock=self.clock)

    @cached_property
    def dispatch_deps(self) -> DispatchDeps:
        from chalicelib.domain.channel_policy import ChannelPolicy
        from chalicelib.domain.fatigue import FatigueRules
        from chalicelib.services.dispatch import DispatchDeps

        s = self.settings
        return DispatchDeps(
            store=self.conversations, senders=self.senders, contact_key=self.contact_key,
            policy=eligibility.Policy(s.cooldown_days, s.max_event_age_hours, s.default_locale,
                                      FatigueRules(s.fatigue_cap, s.fatigue_cap_days, s.sampling_by_procedure)),
            history_days=s.history_days, channels=ChannelPolicy.with_overrides(s.channel_preferences),
            places=self.places, hours=self.send_hours,
            cooldown_days=s.cooldown_for, clock=self.clock,
            response_window=lambda procedure: timedelta(days=s.response_window_for(procedure)),
            reminder_after=timedelta(hours=s.reminder_hours) if s.reminder_hours else None,
            definitions=s.survey_definitions, contact_keys=self.contact_keys)

    @cached_property
    def dispatch_once(self) -> Callable[[dict[str, Any]], dict[str, str]]:
        from chalicelib.services.dispatch import dispatch_event

        deps = self.dispatch_deps
        return self.idempotency.wrap(lambda event: dispatch_event(event, deps))

    @cached_property
    def status_deps(self) -> StatusDeps:
        from chalicelib.services.record_status import StatusDeps

        return StatusDeps(store=self.conversations, senders=self.senders, contact_key=self.contact_key,
                          clock=self.clock, contact_keys=self.contact_keys)

    @cached_property
    def tick_deps(self) -> TickDeps:
        from chalicelib.services.tick import TickDeps

        return TickDeps(store=self.conversations, senders=self.senders, clock=self.clock, hours=self.send_hours,
                        places=self.places)

    @cached_property
    def reply_deps(self) -> ReplyDeps:
        from chalicelib.services.handle_reply import ReplyDeps

        s = self.settings
        return ReplyDeps(store=self.conversations, messages=self.messages, contact_key=self.contact_key,
                         threshold_for=s.threshold_for, clock=self.clock, places=self.places,
                         contact_keys=self.contact_keys)

    @cached_property
    def answer_deps(self) -> AnswerDeps:
        from chalicelib.services.on_answers import AnswerDeps

        return AnswerDeps(scores=self.scores, cases=self.cases, follow_ups=self.follow_ups, alerts=self.alerts,
                          reporting_tz=ZoneInfo(self.settings.reporting_timezone), policy=self.case_policy,
                          clock=self.clock, score_shards=self.settings.score_shards,
                          request_insights=self.request_insights)

    def request_insights(self, answers: Sequence[Answer]) -> None:
        """Every comment among `answers` goes to the comment-insight queue (analyse_comments)."""
        from chalicelib.services.comment_insight import request_insights

        request_insights(answers, self.insight_requests)

    @cached_property
    def insight_deps(self) -> InsightDeps:
        from chalicelib.resources import consumed_by
        from chalicelib.services.comment_insight import InsightDeps

        return InsightDeps(comments=self.comment_source, analyser=self.comment_analyser, store=self.comment_insights,
                           dead_letters=self.insight_dead_letters, answers=self.answer_deps,
                           reporting_tz=ZoneInfo(self.settings.reporting_timezone), clock=self.clock,
                           max_receives=consumed_by("analyse_comments").max_receive_count)

    @cached_property
    def comments_deps(self) -> CommentsDeps:
        from chalicelib.services.comments import CommentsDeps

        return CommentsDeps(store=self.comment_insights, reporting_tz=ZoneInfo(self.settings.reporting_timezone),
                            clock=self.clock)

    @cached_property
    def export_deps(self) -> ExportDeps:
        from chalicelib.services.responses_export import ExportDeps

        return ExportDeps(archive=self.answer_archive, reporting_tz=ZoneInfo(self.settings.reporting_timezone))

    @cached_property
    def dashboard_deps(self) -> DashboardDeps:
        from chalicelib.services.dashboard import DashboardDeps

        s = self.settings
        return DashboardDeps(sessions=self.dashboard_sessions, hosted_ui=self.hosted_ui,
                             local_sign_in=self.local_sign_in, pages=self.dashboard_pages,
                             dashboard_url=self.dashboard_url, scores=self.scores, outcomes=self.outcomes,
                             min_sample=s.min_sample, score_shards=s.score_shards, cases=self.case_deps,
                             case_stats=self.case_stats_deps, comments=self.comments_deps, today=self.today)

    @cached_property
    def case_policy(self) -> CasePolicy:
        """The case settings with the business calendar of each customer place: the working week of
        the country (KOE_BUSINESS_CALENDARS), its public holidays (`holidays`), in the customer's zone."""
        from chalicelib.adapters import holiday_calendar
        from chalicelib.domain.business_calendar import BusinessCalendar, parse_hours, parse_weekend
        from chalicelib.domain.case_policy import CasePolicy
        from chalicelib.domain.model import Place

        c = self.settings.cases

        @functools.lru_cache(maxsize=64)
        def calendar_for(place: Place) -> BusinessCalendar:
            spec = c.calendar(place.country)
            opens, closes = parse_hours(spec.hours)
            return BusinessCalendar(place.timezone, opens, closes, parse_weekend(list(spec.weekend)),
                                    holiday_calendar.for_country(place.country))

        return CasePolicy(rules=c.rules, routing=c.routing, calendar_for=calendar_for, places=self.places, sla=c.sla,
                          sla_by_procedure=c.sla_by_procedure, codes=c.codes, closing_message=c.closing_message,
                          closing_by_procedure=c.closing_by_procedure, resurvey_days=c.resurvey_days,
                          resurvey_days_by_procedure=c.resurvey_by_procedure,
                          retention=timedelta(days=c.retention_days))

    @cached_property
    def case_deps(self) -> CaseDeps:
        from chalicelib.services.cases import CaseDeps

        return CaseDeps(cases=self.cases, alerts=self.alerts, policy=self.case_policy, clock=self.clock)

    @cached_property
    def case_stats_deps(self) -> CaseStatsDeps:
        from chalicelib.services.case_stats import CaseStatsDeps

        return CaseStatsDeps(cases=self.cases, policy=self.case_policy,
                             reporting_tz=ZoneInfo(self.settings.reporting_timezone), clock=self.clock)

    @cached_property
    def case_schedule_deps(self) -> CaseScheduleDeps:
        from chalicelib.services.case_schedule import CaseScheduleDeps

        return CaseScheduleDeps(cases=self.cases, alerts=self.alerts, surveys=self.conversations,
                                senders=self.senders, intake=self.intake_queue, hours=self.send_hours,
                                places=self.places, policy=self.case_policy, clock=self.clock,
                                contact_key=self.contact_key, contact_keys=self.contact_keys)

    @cached_property
    def web_deps(self) -> WebDeps:
        from chalicelib.services.web_survey import WebDeps

        s = self.settings
        return WebDeps(store=self.conversations, pages=self.pages, links=self.link_keys,
                       threshold_for=s.threshold_for, clock=self.clock, places=self.places)

    @cached_property
    def unsubscribe_deps(self) -> UnsubscribeDeps:
        from chalicelib.services.unsubscribe import UnsubscribeDeps

        return UnsubscribeDeps(store=self.conversations, pages=self.pages, links=self.link_keys,
                               contact_key=self.contact_key, clock=self.clock, contact_keys=self.contact_keys)

    @cached_property
    def feedback_deps(self) -> FeedbackDeps:
        from chalicelib.services.email_feedback import FeedbackDeps

        return FeedbackDeps(store=self.conversations, contact_key=self.contact_key, clock=self.clock)

    # --- CX alerts to people
    @cached_property
    def routing(self) -> RoutingTable:
        """KOE_CASE_ROUTING: who owns a case, who is told, and how to reach them."""
        return self.settings.case_routing

    def read_alert(self, body: str) -> dict[str, Any]:
        """The valid case alert in an alert deliveries queue message, or InvalidAlert (dead-lettered)."""
        from chalicelib.adapters.alert_messages import read_alert

        return read_alert(body)

    @cached_property
    def alert_deps(self) -> AlertDeps:
        from chalicelib.resources import consumed_by
        from chalicelib.services.deliver_alerts import AlertDeps

        s = self.settings
        # Email only where a sender is configured (KOE_EMAIL_FROM): else email destinations are given up.
        transports = {"chat": self.chat, **({"email": self.alert_email} if s.email_from else {})}
        return AlertDeps(read=self.read_alert, routing=self.routing, subscribers=s.alert_subscribers,
                         templates=self.alert_templates, transports=transports, ledger=self.alert_ledger,
                         dead_letters=self.alert_dead_letters, visibility=self.alert_visibility, clock=self.clock,
                         max_receives=consumed_by("deliver_alerts").max_receive_count,
                         retry_base_s=s.alert_retry_seconds)


_components: Components | None = None


def components() -> Components:
    """This process's components, built on first use from the environment."""
    global _components
    if _components is None:
        _components = Components(settings_module.current())
    else:      # a new version of the configuration document (chalicelib/config_document.py): rebuilt on it
        fresh = settings_module.refreshed(_components.settings)
        if fresh is not _components.settings:
            _components = Components(fresh, clock=_components.clock)
    return _components


def install(replacement: Components | None) -> Components | None:
    """Use `replacement` as this process's components (None: build from the environment again on
    next use); returns the previous ones. For tests that drive app.py in-process."""
    global _components
    previous, _components = _components, replacement
    return previous
