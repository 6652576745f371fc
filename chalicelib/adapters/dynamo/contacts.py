"""The contact item: how it reads back as a `Contact`, and the update expressions that change it.

Contacts are written only as part of a conversation (the survey store claims the slot when a
survey opens, releases it and records opt-outs when the survey changes), so this module holds
conversions and expression builders, not a store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.models import ContactItem, OptOutEntry
from chalicelib.domain.model import Contact, Survey
from chalicelib.services.ports import ContactChange


def contact_from_item(item: ContactItem) -> Contact:
    return Contact(contact_key=item.contact_key, opted_out=bool(item.opted_out),
                   active_survey_id=item.active_survey_id, active_until=item.active_until,
                   last_surveyed=_last_surveyed(item.surveyed))


def _surveyed_entry(procedure: str, when: datetime) -> str:
    return f"{procedure}#{when.astimezone(UTC).isoformat()}"


def _last_surveyed(entries: set[str] | None) -> dict[str, datetime]:
    newest: dict[str, datetime] = {}
    for entry in entries or ():
        procedure, _, iso = entry.rpartition("#")
        when = datetime.fromisoformat(iso)
        if procedure not in newest or when > newest[procedure]:
            newest[procedure] = when
    return newest


def slot_claim(survey: Survey, open_until: datetime, now: datetime) -> tuple[list[Action], Condition]:
    """The contact's slot taken by an opening survey until `open_until`, on condition that it is
    free (never held, or held by a conversation whose window has passed); the survey is also
    recorded in `surveyed`."""
    claim: list[Action] = [
        ContactItem.active_survey_id.set(survey.survey_id),
        ContactItem.active_until.set(open_until),
        ContactItem.surveyed.add({_surveyed_entry(survey.procedure, now)}),
    ]
    slot_free: Condition = ContactItem.active_survey_id.does_not_exist() | (ContactItem.active_until < now)
    return claim, slot_free


def contact_changes(survey_id: str, change: ContactChange | None, now: datetime,
                    release: bool) -> tuple[list[Action], Condition | None] | None:
    """The contact's part of a survey update: an opt-out, and (with `release`) freeing the slot on
    condition that it still holds this survey. None when there is nothing to write."""
    if change is None:
        return None
    actions: list[Action] = []
    condition: Condition | None = None
    if change.opted_out is not None:
        actions += opt_out_actions(change.opted_out, change.audit, now)
    if release:
        actions += [ContactItem.active_survey_id.remove(), ContactItem.active_until.remove()]
        condition = ContactItem.active_survey_id == survey_id
    return (actions, condition) if actions else None


def opt_out_actions(opted_out: bool, audit: str | None, now: datetime) -> list[Action]:
    entry = OptOutEntry(at=now, audit=audit, opted_out=opted_out)
    history = ContactItem.opt_out_history
    # list_append(if_not_exists(history, []), [entry]): the first entry creates the list.
    return [ContactItem.opted_out.set(opted_out), history.set((history | []).append([entry]))]
