"""The case settings (KOE_CASE_*, KOE_BUSINESS_CALENDARS, KOE_CLOSING_*, KOE_RESURVEY_*), read from
the mapping `settings.from_env` hands over (settings.py stays the one reader of the environment).

Each bad value is a SettingsError naming its variable and showing an example.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain import case_ladder, case_routing, case_rules
from chalicelib.domain.business_calendar import InvalidCalendar, parse_hours, parse_weekend
from chalicelib.domain.case_ladder import Sla
from chalicelib.domain.case_routing import RoutingTable
from chalicelib.domain.case_rules import CaseRules
from chalicelib.domain.case_work import CaseCodes, Code
from chalicelib.errors import SettingsError


@dataclass(frozen=True)
class CalendarSpec:
    """A country's working week. Its `timezone` (when set) is the country's usual zone: where
    dispatch places a customer of that country whom neither the event nor the phone number places
    (domain/customer_place.py); a case counts business time in the customer's stored zone."""

    timezone: str | None = None
    hours: str = "09:00-18:00"
    weekend: tuple[str, ...] = ("sat", "sun")


@dataclass(frozen=True)
class CaseSettings:
    rules: CaseRules = CaseRules()
    routing: RoutingTable = RoutingTable()           # KOE_CASE_ROUTING: owners, managers, lead, contacts
    sla: Sla = Sla()
    sla_by_procedure: Mapping[str, Sla] = field(default_factory=dict)
    calendars: Mapping[str, CalendarSpec] = field(default_factory=dict)     # by country
    codes: CaseCodes = CaseCodes()
    closing_message: bool = True
    closing_by_procedure: Mapping[str, bool] = field(default_factory=dict)
    resurvey_days: int = 0
    resurvey_by_procedure: Mapping[str, int] = field(default_factory=dict)
    retention_days: int = 400

    def calendar(self, country: str | None) -> CalendarSpec:
        return self.calendars.get(country or "") or CalendarSpec()

    @property
    def country_zones(self) -> dict[str, str]:
        """The usual zone of each country whose calendar names one."""
        return {country: spec.timezone for country, spec in self.calendars.items() if spec.timezone}


def _json(env: Mapping[str, str], name: str, example: str, kind: type = dict) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be JSON, e.g. {example}") from exc
    if not isinstance(value, kind):
        raise SettingsError(f"{name} must be a JSON {'object' if kind is dict else 'list'}, e.g. {example}")
    return value


def _calendars(env: Mapping[str, str]) -> dict[str, CalendarSpec]:
    name, example = "KOE_BUSINESS_CALENDARS", '{"JP": {"hours": "09:00-18:00", "weekend": ["sat", "sun"]}}'
    calendars = {}
    for country, entry in _json(env, name, example).items():
        if not isinstance(entry, dict) or set(entry) - {"hours", "weekend", "timezone"}:
            raise SettingsError(f"{name}.{country} takes hours, weekend and timezone, e.g. {example}")
        try:
            spec = CalendarSpec(str(entry["timezone"]) if entry.get("timezone") else None,
                                str(entry.get("hours", "09:00-18:00")), tuple(entry.get("weekend", ("sat", "sun"))))
            parse_hours(spec.hours)
            parse_weekend(list(spec.weekend))
            if spec.timezone:
                ZoneInfo(spec.timezone)
        except (InvalidCalendar, ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"{name}.{country}: {exc}") from exc
        calendars[country.upper()] = spec
    return calendars


def _codes(env: Mapping[str, str]) -> CaseCodes:
    name = "KOE_CASE_CODES"
    example = '{"root_causes": {"claim_delay": {"en": "Claim delay", "ja": "支払遅延"}}, "actions": {...}}'
    raw = _json(env, name, example)
    if set(raw) - {"root_causes", "actions"}:
        raise SettingsError(f"{name} takes root_causes and actions, e.g. {example}")

    def codes(key: str, default: tuple[Code, ...]) -> tuple[Code, ...]:
        entries = raw.get(key)
        if entries is None:
            return default
        if not isinstance(entries, dict) or not entries or not all(isinstance(v, dict) for v in entries.values()):
            raise SettingsError(f"{name}.{key} maps each code to its labels by language, e.g. {example}")
        return tuple(Code(str(code), {str(k): str(v) for k, v in labels.items()}) for code, labels in entries.items())

    defaults = CaseCodes()
    return CaseCodes(codes("root_causes", defaults.root_causes), codes("actions", defaults.actions))


def _int_map(env: Mapping[str, str], name: str) -> dict[str, int]:
    value = _json(env, name, '{"claim_payment": 30}')
    if not all(isinstance(v, int) and v >= 0 for v in value.values()):
        raise SettingsError(f'{name} maps a procedure to a whole number of days, e.g. {{"claim_payment": 30}}')
    return {str(k): v for k, v in value.items()}


def _bool_map(env: Mapping[str, str], name: str) -> dict[str, bool]:
    value = _json(env, name, '{"address_change": false}')
    if not all(isinstance(v, bool) for v in value.values()):
        raise SettingsError(f'{name} maps a procedure to true or false, e.g. {{"address_change": false}}')
    return {str(k): v for k, v in value.items()}


def _sla(env: Mapping[str, str]) -> tuple[Sla, dict[str, Sla]]:
    name, example = "KOE_CASE_SLA", '{"first_contact_days": 1, "resolution_days": 4, "reminder_share": 0.5}'
    raw = dict(_json(env, name, example))
    by_procedure = raw.pop("by_procedure", {})
    try:
        default = case_ladder.parse(raw)
        return default, {str(p): case_ladder.parse({**raw, **entry}) for p, entry in by_procedure.items()}
    except (case_ladder.InvalidSla, TypeError, AttributeError) as exc:
        raise SettingsError(f"{name}: {exc}; e.g. {example}") from exc


def read(env: Mapping[str, str], *, flag: Any, whole: Any) -> CaseSettings:
    """`flag` and `whole` are settings.py's readers of booleans and whole numbers (one spelling)."""
    try:
        rules = case_rules.parse(_json(env, "KOE_CASE_RULES", '{"keywords": {"ja": ["解約"]}, "repeat_days": 90}'))
    except case_rules.InvalidCaseRules as exc:
        raise SettingsError(f"KOE_CASE_RULES: {exc}") from exc
    try:
        routing = case_routing.parse(_json(env, "KOE_CASE_ROUTING", '{"central": {"queue": "cx"}, "branches": {}}'))
    except case_routing.InvalidRouting as exc:
        raise SettingsError(f"KOE_CASE_ROUTING: {exc}") from exc
    sla, sla_by_procedure = _sla(env)
    return CaseSettings(
        rules=rules, routing=routing, sla=sla, sla_by_procedure=sla_by_procedure, calendars=_calendars(env),
        codes=_codes(env),
        closing_message=flag(env, "KOE_CLOSING_MESSAGE", True),
        closing_by_procedure=_bool_map(env, "KOE_CLOSING_MESSAGE_BY_PROCEDURE"),
        resurvey_days=whole(env, "KOE_RESURVEY_DAYS", 0),
        resurvey_by_procedure=_int_map(env, "KOE_RESURVEY_DAYS_BY_PROCEDURE"),
        retention_days=whole(env, "KOE_CASE_RETENTION_DAYS", 400, minimum=1))
