"""The contact item: how it reads back as a `Contact`, and the update expressions that change it.

Contacts are written only as part of a conversation (the survey store claims the slot when a
survey opens, releases it and records opt-outs when the survey changes), so this module holds
conversions and expression builders, not a store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.models import ContactItem, OptOutEntry
from chalicelib.domain.model import Contact, Survey
from chalicelib.services.ports import ContactChange


def contact_from_item(item: ContactItem) -> Contact:
    entries = [*(item.survey_log or []), *(item.surveyed or ())]
    return Contact(contact_key=item.contact_key, opted_out=bool(item.opted_out),
                   active_survey_id=item.active_survey_id, active_until=item.active_until,
                   surveyed=tuple(sorted({_read_entry(e) for e in entries}, key=lambda s: (s[1], s[0]))),
                   history_version=int(item.history_version or 0))


def _entry(procedure: str, when: datetime) -> str:
    return f"{procedure}#{when.astimezone(UTC).isoformat()}"


def _read_entry(entry: str) -> tuple[str, datetime]:
    procedure, _, iso = entry.rpartition("#")
    return procedure, datetime.fromisoformat(iso)


def slot_claim(survey: Survey, open_until: datetime, now: datetime, surveyed: Sequence[tuple[str, datetime]],
               history_version: int) -> tuple[list[Action], Condition]:
    """The contact's slot taken by an opening survey until its `open_until`, on condition that it
    is free (never held, or held by a conversation whose window has passed) and that the survey
    history is still the version read; the history is replaced by `surveyed`."""
    claim: list[Action] = [
        ContactItem.active_survey_id.set(survey.survey_id),
        ContactItem.active_until.set(open_until),
        # ListAttribute's stubs type the value as the attribute class; the items are plain strings.
        ContactItem.survey_log.set([_entry(procedure, when) for procedure, when in surveyed]),  # type: ignore[misc]
        ContactItem.history_version.set(history_version + 1),
        ContactItem.surveyed.remove(),
    ]
    slot_free: Condition = ContactItem.active_survey_id.does_not_exist() | (ContactItem.active_until < now)
    same_history: Condition = (ContactItem.history_version.does_not_exist() if history_version == 0
                               else ContactItem.history_version == history_version)
    condition: Condition = slot_free & same_history
    return claim, condition


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
