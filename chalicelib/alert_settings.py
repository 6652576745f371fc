"""The CX alert delivery settings read from the mapping `settings.from_env` hands over (settings.py
stays the one reader of the environment): KOE_ALERT_SUBSCRIBERS, the people and channels who hear
about every alert a filter matches. Who owns a case and how to reach them is KOE_CASE_ROUTING
(chalicelib/case_settings.py). A bad value is a SettingsError naming the variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from chalicelib.domain.alert_delivery import InvalidSubscribers, Subscriber, parse_subscribers
from chalicelib.errors import SettingsError

SUBSCRIBERS_ENV = "KOE_ALERT_SUBSCRIBERS"
EXAMPLE = ('[{"name": "cx-ops", "chat": "https://chat.example.jp/hooks/T1", "language": "ja", '
           '"timezone": "Asia/Tokyo", "filter": {"severity": ["high", "critical"]}}]')


def subscribers(env: Mapping[str, str]) -> tuple[Subscriber, ...]:
    raw = env.get(SUBSCRIBERS_ENV, "").strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{SUBSCRIBERS_ENV} must be a JSON list, e.g. {EXAMPLE}") from exc
    try:
        return parse_subscribers(value)
    except InvalidSubscribers as exc:
        raise SettingsError(f"{SUBSCRIBERS_ENV}: {exc}; e.g. {EXAMPLE}") from exc
