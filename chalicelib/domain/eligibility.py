"""Whether to survey a completed procedure now, and why not when not.

Pure: the caller passes the contact as stored, the channel the policy chose
(`domain/channel_policy.py`) and the current time; the result is a decision the dispatch service
carries out. Every "no" has a reason code that is stored on the survey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain import fatigue
from chalicelib.domain.channel_policy import NONE, Channel
from chalicelib.domain.events import ProcedureCompleted
from chalicelib.domain.fatigue import FatigueRules
from chalicelib.domain.languages import DEFAULT_LANGUAGE, LANGUAGES
from chalicelib.domain.model import Contact


@dataclass(frozen=True)
class Policy:
    cooldown_days: int                  # for this event's procedure
    max_event_age_hours: int
    default_locale: str
    fatigue: FatigueRules = FatigueRules()


@dataclass(frozen=True)
class Send:
    channel: Channel


@dataclass(frozen=True)
class Suppress:
    reason: str      # stale_event, no_supported_channel, opted_out, claim_open, cooldown, fatigue_cap,
    #                  not_sampled, conversation_open
    channel: Channel


Decision = Send | Suppress


def language(locale: str | None, default_locale: str) -> str:
    """ja-JP -> ja, zh-Hant-TW -> zh; anything koe has no templates for falls back to the default."""
    for candidate in (locale, default_locale):
        lang = (candidate or "").split("-")[0].lower()
        if lang in LANGUAGES:
            return lang
    return DEFAULT_LANGUAGE


def decide(event: ProcedureCompleted, contact: Contact | None, channel: Channel, now: datetime,
           policy: Policy) -> Decision:
    if now - event.completed_at > timedelta(hours=policy.max_event_age_hours):
        return Suppress("stale_event", channel)
    if channel.name == NONE:
        return Suppress("no_supported_channel", channel)
    if contact is not None and contact.opted_out:
        return Suppress("opted_out", channel)
    tired = fatigue.skip_reason(event.procedure, event.event_id, event.context,
                                contact.surveyed if contact else (), now, policy.cooldown_days, policy.fatigue)
    if tired is not None:
        return Suppress(tired, channel)
    if contact is not None and contact.has_open_conversation(now):
        return Suppress("conversation_open", channel)
    return Send(channel)
