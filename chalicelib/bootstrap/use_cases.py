"""Each use case's wiring: the dependencies of its service, built from the edge's pieces it names in
`USES` (`bootstrap/wiring.py`) and the domain rules it decides with (`bootstrap/rules.py`). Composed
per Lambda function in `bootstrap/functions.py`; each piece is built on first use and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.bootstrap import rules
from chalicelib.bootstrap.wiring import Wiring

if TYPE_CHECKING:      # for the annotations only: each piece imports what it builds on first use
    from chalicelib.adapters.dashboard_pages import JinjaDashboard
    from chalicelib.adapters.idempotency import Idempotency
    from chalicelib.adapters.line_messaging import LineWebhook
    from chalicelib.adapters.twilio_sms import SignatureCheck
    from chalicelib.adapters.wechat import WeChatWebhook
    from chalicelib.auth import Authenticator
    from chalicelib.domain.case_policy import CasePolicy
    from chalicelib.domain.customer_place import PlaceRules
    from chalicelib.domain.model import Answer
    from chalicelib.domain.send_window import SendHours
    from chalicelib.services.case_schedule import CaseScheduleDeps
    from chalicelib.services.case_stats import CaseStatsDeps
    from chalicelib.services.case_workspace import WorkspaceDeps
    from chalicelib.services.cases import CaseDeps
    from chalicelib.services.cn_sms_receipts import ReceiptDeps
    from chalicelib.services.comment_insight import InsightDeps
    from chalicelib.services.comments import CommentsDeps
    from chalicelib.services.dashboard import DashboardDeps
    from chalicelib.services.deliver_alerts import AlertDeps
    from chalicelib.services.dispatch import DispatchDeps
    from chalicelib.services.email_feedback import FeedbackDeps
    from chalicelib.services.handle_reply import ReplyDeps
    from chalicelib.services.ingest import IngestDeps
    from chalicelib.services.line_webhook import LineDeps
    from chalicelib.services.on_answers import AnswerDeps, EscalationDeps
    from chalicelib.services.ports import (
        DeadLetterMarks,
        DeadLetters,
        OutcomeReport,
        Pages,
        QueueVisibility,
        ScoreStore,
    )
    from chalicelib.services.record_status import StatusDeps
    from chalicelib.services.responses_export import ExportDeps
    from chalicelib.services.tick import TickDeps
    from chalicelib.services.unsubscribe import UnsubscribeDeps
    from chalicelib.services.web_survey import WebDeps


# --- the rules several use cases decide with: one of each per function, from its settings

class Places(Wiring):
    @cached_property
    def places(self) -> PlaceRules:
        return rules.places(self.settings)


class SendingHours(Wiring):
    @cached_property
    def send_hours(self) -> SendHours:
        return rules.send_hours(self.settings)


class CaseRules(Places):
    @cached_property
    def case_policy(self) -> CasePolicy:
        return rules.case_policy(self.settings, self.places)


# --- 1. intake

class Intake(Wiring):
    USES = frozenset({"intake_queue", "event_ledger"})

    @cached_property
    def ingest_deps(self) -> IngestDeps:
        from chalicelib.services.ingest import IngestDeps

        return IngestDeps(queue=self.edge.intake_queue, check=rules.event_check(self.settings, self.clock),
                          ledger=self.edge.event_ledger, clock=self.clock)


# --- 2. dispatch

class Dispatching(Places, SendingHours):
    USES = frozenset({"conversations", "senders", "contact_key", "contact_keys", "idempotency", "dead_letters",
                      "intake_visibility", "intake_marks"})

    @cached_property
    def dispatch_deps(self) -> DispatchDeps:
        from chalicelib.services.dispatch import DispatchDeps

        s, edge = self.settings, self.edge
        return DispatchDeps(
            store=edge.conversations, senders=edge.senders, contact_key=edge.contact_key,
            policy=rules.eligibility(s), history_days=s.history_days, channels=rules.channels(s),
            places=self.places, hours=self.send_hours, cooldown_days=s.cooldown_for, clock=self.clock,
            response_window=lambda procedure: timedelta(days=s.response_window_for(procedure)),
            reminder_after=timedelta(hours=s.reminder_hours) if s.reminder_hours else None,
            definitions=s.survey_definitions, contact_keys=edge.contact_keys,
            send_lease=timedelta(seconds=s.send_lease_s))

    @cached_property
    def dispatch_once(self) -> Callable[[dict[str, Any]], dict[str, str]]:
        from chalicelib.services.dispatch import dispatch_event

        deps = self.dispatch_deps
        return self.idempotency.wrap(lambda event: dispatch_event(event, deps))

    @property
    def idempotency(self) -> Idempotency:
        return self.edge.idempotency

    @property
    def dead_letters(self) -> DeadLetters:
        return self.edge.dead_letters

    @property
    def intake_visibility(self) -> QueueVisibility:
        return self.edge.intake_visibility

    @property
    def intake_marks(self) -> DeadLetterMarks:
        return self.edge.intake_marks

    @cached_property
    def read_event(self) -> Callable[[str], dict[str, Any]]:
        return rules.event_reader(self.settings, self.clock)

    def give_up_dispatch(self, body: str, error: Exception) -> None:
        """After dispatch dead-letters a record: end the survey it opened but never sent."""
        from chalicelib.adapters.schema import event_id_of
        from chalicelib.services.dispatch import give_up

        event_id = event_id_of(body)
        if event_id is not None:
            give_up(event_id, error, self.dispatch_deps)

    def dispatch_settled(self, body: str) -> bool:
        """Whether a record that kept failing needs no dead letter (services/dispatch.settled)."""
        from chalicelib.adapters.schema import event_id_of
        from chalicelib.services.dispatch import settled

        event_id = event_id_of(body)
        return event_id is not None and settled(event_id, self.dispatch_deps)


# --- 3. the customer answers: by SMS, in LINE, on the web page; unsubscribes from email

class TwilioWebhooks(Wiring):
    USES = frozenset({"signature"})

    @property
    def signature(self) -> SignatureCheck:
        return self.edge.signature


class Replies(TwilioWebhooks, Places):
    USES = frozenset({"conversations", "messages", "contact_key", "contact_keys"})

    @cached_property
    def reply_deps(self) -> ReplyDeps:
        from chalicelib.services.handle_reply import ReplyDeps

        edge = self.edge
        return ReplyDeps(store=edge.conversations, messages=edge.messages, contact_key=edge.contact_key,
                         threshold_for=self.settings.threshold_for, clock=self.clock, places=self.places,
                         contact_keys=edge.contact_keys)


class LineReplies(Replies):
    """LINE's webhook: its signature (the channel secret), the shared conversation, and the reply or
    push that answers the customer (the channel access token)."""

    USES = frozenset({"line", "line_webhook"})

    @property
    def line_webhook(self) -> LineWebhook:
        return self.edge.line_webhook

    @cached_property
    def line_deps(self) -> LineDeps:
        from chalicelib.services.line_webhook import LineDeps

        return LineDeps(replies=self.reply_deps, line=self.edge.line, clock=self.clock)


class WeChatEvents(Replies):
    """The WeChat service account's event pushes: their signature (the WeChat secret's token) and what
    they mean to koe (services/wechat_events.py: opt-outs, texts kept for CX)."""

    USES = frozenset({"wechat_webhook"})

    @property
    def wechat_webhook(self) -> WeChatWebhook | None:
        """The reader, or None where WeChat is off on this stage (its secret not named): a push is then
        refused as a forged one (403), not as a configuration fault (503 and an alarm)."""
        if self.settings.wechat_secret_id is None:
            return None
        return self.edge.wechat_webhook


class WebPages(Places):
    USES = frozenset({"conversations", "pages", "link_keys", "contact_key", "contact_keys"})

    @property
    def pages(self) -> Pages:
        return self.edge.pages

    @cached_property
    def web_deps(self) -> WebDeps:
        from chalicelib.services.web_survey import WebDeps

        edge = self.edge
        return WebDeps(store=edge.conversations, pages=edge.pages, links=edge.link_keys,
                       threshold_for=self.settings.threshold_for, clock=self.clock, places=self.places)

    @cached_property
    def unsubscribe_deps(self) -> UnsubscribeDeps:
        from chalicelib.services.unsubscribe import UnsubscribeDeps

        edge = self.edge
        return UnsubscribeDeps(store=edge.conversations, pages=edge.pages, links=edge.link_keys,
                               contact_key=edge.contact_key, clock=self.clock, contact_keys=edge.contact_keys)


# --- 4. the carrier's and SES's reports

class DeliveryReports(TwilioWebhooks):
    """A failed delivery is sent again, on the same channel or by email (services/record_status.py)."""

    USES = frozenset({"conversations", "senders", "contact_key", "contact_keys"})

    @cached_property
    def status_deps(self) -> StatusDeps:
        from chalicelib.services.record_status import StatusDeps

        edge = self.edge
        return StatusDeps(store=edge.conversations, senders=edge.senders, contact_key=edge.contact_key,
                          clock=self.clock, contact_keys=edge.contact_keys,
                          send_lease=timedelta(seconds=self.settings.send_lease_s))


class ChinaSmsReceipts(DeliveryReports, Replies):
    """Alibaba Cloud SMS's receipt pushes: the token their URLs end with (the Alibaba secret), delivery
    reports recorded as status callbacks are, replies read for the opt-out words."""

    USES = frozenset({"alibaba_receipt_token"})

    def alibaba_receipt_token(self) -> str | None:
        """The token, or None where China SMS is off on this stage (its secret not named): a push is then
        refused as one without the token (403), not as a configuration fault (503 and an alarm)."""
        if self.settings.alibaba_sms_secret_id is None:
            return None
        return self.edge.alibaba_receipt_token()

    @cached_property
    def cn_receipt_deps(self) -> ReceiptDeps:
        from chalicelib.services.cn_sms_receipts import ReceiptDeps

        return ReceiptDeps(status=self.status_deps, replies=self.reply_deps)


class EmailFeedback(Wiring):
    USES = frozenset({"conversations", "contact_key"})

    @cached_property
    def feedback_deps(self) -> FeedbackDeps:
        from chalicelib.services.email_feedback import FeedbackDeps

        return FeedbackDeps(store=self.edge.conversations, contact_key=self.edge.contact_key, clock=self.clock)


# --- 5. answers stored: scores, cases, comment insight, alerts to people

class CaseOpening(CaseRules):
    USES = frozenset({"cases", "follow_ups", "alerts"})

    @cached_property
    def escalation_deps(self) -> EscalationDeps:
        from chalicelib.services.on_answers import EscalationDeps

        edge = self.edge
        return EscalationDeps(cases=edge.cases, follow_ups=edge.follow_ups, alerts=edge.alerts,
                              policy=self.case_policy, clock=self.clock)


class Answers(CaseOpening):
    USES = frozenset({"scores", "insight_requests"})

    @cached_property
    def answer_deps(self) -> AnswerDeps:
        from chalicelib.services.on_answers import AnswerDeps

        edge, s = self.edge, self.settings
        return AnswerDeps(scores=edge.scores, cases=edge.cases, follow_ups=edge.follow_ups, alerts=edge.alerts,
                          reporting_tz=ZoneInfo(s.reporting_timezone), policy=self.case_policy, clock=self.clock,
                          score_shards=s.score_shards, request_insights=self.request_insights)

    def request_insights(self, answers: Sequence[Answer]) -> None:
        """Every comment among `answers` goes to the comment-insight queue (analyse_comments)."""
        from chalicelib.services.comment_insight import request_insights

        request_insights(answers, self.edge.insight_requests)


class CommentInsight(CaseOpening):
    USES = frozenset({"comment_source", "comment_analyser", "comment_insights", "insight_dead_letters"})

    @cached_property
    def insight_deps(self) -> InsightDeps:
        from chalicelib.resources import consumed_by
        from chalicelib.services.comment_insight import InsightDeps

        edge = self.edge
        return InsightDeps(comments=edge.comment_source, analyser=edge.comment_analyser, store=edge.comment_insights,
                           dead_letters=edge.insight_dead_letters, answers=self.escalation_deps,
                           reporting_tz=ZoneInfo(self.settings.reporting_timezone), clock=self.clock,
                           max_receives=consumed_by("analyse_comments").max_receive_count)


class AlertDelivery(Wiring):
    USES = frozenset({"chat", "alert_email", "alert_templates", "alert_ledger", "alert_dead_letters",
                      "alert_visibility"})

    @cached_property
    def alert_deps(self) -> AlertDeps:
        from chalicelib.adapters.alert_messages import read_alert
        from chalicelib.resources import consumed_by
        from chalicelib.services.deliver_alerts import AlertDeps

        s, edge = self.settings, self.edge
        # Email only where a sender is configured (KOE_EMAIL_FROM): else email destinations are given up.
        transports = {"chat": edge.chat, **({"email": edge.alert_email} if s.email_from else {})}
        return AlertDeps(read=read_alert, routing=s.case_routing, subscribers=s.alert_subscribers,
                         templates=edge.alert_templates, transports=transports, ledger=edge.alert_ledger,
                         dead_letters=edge.alert_dead_letters, visibility=edge.alert_visibility, clock=self.clock,
                         max_receives=consumed_by("deliver_alerts").max_receive_count,
                         retry_base_s=s.alert_retry_seconds, lease=timedelta(seconds=s.alert_lease_seconds))


# --- 6. every minute: scheduled surveys, reminders, ended conversations; the cases' ladders

class Schedule(CaseRules, SendingHours):
    USES = frozenset({"conversations", "senders", "cases", "alerts", "intake_queue", "contact_key", "contact_keys"})

    @cached_property
    def tick_deps(self) -> TickDeps:
        from chalicelib.domain.send_pace import SendRates
        from chalicelib.services.tick import TickDeps

        return TickDeps(store=self.edge.conversations, senders=self.edge.senders, clock=self.clock,
                        hours=self.send_hours, places=self.places, rates=SendRates.parse(self.settings.send_rates),
                        send_lease=timedelta(seconds=self.settings.send_lease_s))

    @cached_property
    def case_schedule_deps(self) -> CaseScheduleDeps:
        from chalicelib.services.case_schedule import CaseScheduleDeps

        edge = self.edge
        return CaseScheduleDeps(cases=edge.cases, alerts=edge.alerts, surveys=edge.conversations,
                                senders=edge.senders, intake=edge.intake_queue, hours=self.send_hours,
                                places=self.places, policy=self.case_policy, clock=self.clock,
                                contact_key=edge.contact_key, contact_keys=edge.contact_keys)


# --- 7-12. the CX team's API and dashboard; the operations API

class Authentication(Wiring):
    USES = frozenset({"authenticators"})

    @property
    def authenticators(self) -> Sequence[Authenticator]:
        return self.edge.authenticators


class Reports(Wiring):
    USES = frozenset({"scores", "outcomes"})

    @property
    def scores(self) -> ScoreStore:
        return self.edge.scores

    @property
    def outcomes(self) -> OutcomeReport:
        return self.edge.outcomes


class CaseWork(CaseRules):
    USES = frozenset({"cases", "alerts", "conversations"})

    @cached_property
    def case_deps(self) -> CaseDeps:
        from chalicelib.services.cases import CaseDeps

        return CaseDeps(cases=self.edge.cases, alerts=self.edge.alerts, policy=self.case_policy, clock=self.clock,
                        surveys=self.edge.conversations)

    @cached_property
    def case_stats_deps(self) -> CaseStatsDeps:
        from chalicelib.services.case_stats import CaseStatsDeps

        return CaseStatsDeps(cases=self.edge.cases, policy=self.case_policy,
                             reporting_tz=ZoneInfo(self.settings.reporting_timezone), clock=self.clock)


class Comments(Wiring):
    USES = frozenset({"comment_insights"})

    @cached_property
    def comments_deps(self) -> CommentsDeps:
        from chalicelib.services.comments import CommentsDeps

        return CommentsDeps(store=self.edge.comment_insights, reporting_tz=ZoneInfo(self.settings.reporting_timezone),
                            clock=self.clock)


class Export(Wiring):
    USES = frozenset({"answer_archive"})

    @cached_property
    def export_deps(self) -> ExportDeps:
        from chalicelib.services.responses_export import ExportDeps

        return ExportDeps(archive=self.edge.answer_archive, reporting_tz=ZoneInfo(self.settings.reporting_timezone))


class Dashboard(Reports, CaseWork, Comments):
    USES = frozenset({"dashboard_sessions", "hosted_ui", "local_sign_in", "dashboard_pages", "dashboard_url"})

    @property
    def dashboard_pages(self) -> JinjaDashboard:
        return self.edge.dashboard_pages

    @cached_property
    def dashboard_deps(self) -> DashboardDeps:
        from chalicelib.services.dashboard import DashboardDeps

        s, edge = self.settings, self.edge
        return DashboardDeps(sessions=edge.dashboard_sessions, hosted_ui=edge.hosted_ui,
                             local_sign_in=edge.local_sign_in, pages=edge.dashboard_pages,
                             dashboard_url=edge.dashboard_url, scores=edge.scores,
                             outcomes=edge.outcomes, min_sample=s.min_sample, score_shards=s.score_shards,
                             cases=self.case_deps, case_stats=self.case_stats_deps, comments=self.comments_deps,
                             today=self.today)


class Workspace(Dashboard, SendingHours):
    """The case workspace in the browser: the dashboard's sign-in and pages, the case moves, the
    customer's send window, the forms' CSRF tokens (signed with the link keys)."""

    USES = frozenset({"link_keys"})

    @cached_property
    def workspace_deps(self) -> WorkspaceDeps:
        from chalicelib.services.case_workspace import WorkspaceDeps

        return WorkspaceDeps(dashboard=self.dashboard_deps, cases=self.case_deps, hours=self.send_hours,
                             link_keys=self.edge.link_keys)
