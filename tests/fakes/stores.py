"""In-memory fakes of koe's stores: the same conditions, errors and idempotency as
chalicelib/adapters/dynamo/, checked by tests/integration/test_store_contract.py.

State is public (plain dicts) so service tests can arrange a Given and read a Then directly.
`requests` counts repository calls: each is one DynamoDB request in the real store (update_survey
can take two there, when a release finds the slot held by another survey).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import case_work, scoring
from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.cases import Case
from chalicelib.domain.model import Answer, Contact, Counts, Survey, SurveyStatus
from chalicelib.domain.scoring import BucketKey, Contribution
from chalicelib.domain.web_survey import MAX_COMMENTS
from chalicelib.errors import (
    CaseNotFound,
    ConversationOpen,
    InvalidRequest,
    StaleSurvey,
    SurveyExists,
    VersionConflict,
)
from chalicelib.services.ports import CasePage, CaseQuery, CommentSaved, ContactChange, Inbound

Answers = dict[tuple[str, str], Answer]      # (survey_id, question): a comment's is the survey's latest
Threads = dict[str, list[Answer]]            # survey_id -> every comment, oldest first


def comments_of(answers: Answers, threads: Threads, survey_id: str) -> list[Answer]:
    """A survey's comments as the responses table holds them: its thread, or (an item from before
    threads, or one a test wrote directly) its one comment."""
    if survey_id in threads:
        return list(threads[survey_id])
    latest = answers.get((survey_id, "comment"))
    return [latest] if latest is not None else []


@dataclass
class FakeConversationStore:
    surveys: dict[str, Survey] = field(default_factory=dict)
    delivery_ranks: dict[str, int] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    opt_out_history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answers: Answers = field(default_factory=dict)       # (survey_id, question): the latest comment
    comment_threads: Threads = field(default_factory=dict)   # survey_id -> every comment, oldest first
    inbox: dict[str, Inbound] = field(default_factory=dict)               # message_sid -> kept SMS
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)    # (procedure, day#outcome) -> n
    requests: int = 0

    @property
    def inbound(self) -> list[Inbound]:
        """Kept SMS, oldest first."""
        return list(self.inbox.values())

    def answers_for(self, survey_id: str) -> list[Answer]:
        """A survey's answers in the order they were written, each of its comments included."""
        found: list[Answer] = []
        for (sid, question), answer in self.answers.items():
            if sid == survey_id:
                found += self.comments_of(sid) if question == "comment" else [answer]
        return found

    def comments_of(self, survey_id: str) -> list[Answer]:
        return comments_of(self.answers, self.comment_threads, survey_id)

    def _add_comment(self, answer: Answer) -> None:
        """As the real store's update: appended to the thread, and the item's top level is the latest."""
        self.comment_threads[answer.survey_id] = self.comments_of(answer.survey_id) + [answer]
        self.answers[answer.survey_id, "comment"] = answer

    def get_contact(self, contact_key: str) -> Contact | None:
        self.requests += 1
        return self.contacts.get(contact_key)

    def get_survey(self, survey_id: str) -> Survey | None:
        self.requests += 1
        return self.surveys.get(survey_id)

    def open_survey(self, survey: Survey, now: datetime, surveyed: Sequence[tuple[str, datetime]] | None = None,
                    history_version: int = 0) -> None:
        self.requests += 1
        if survey.open_until is None:
            raise ValueError("open_survey needs survey.open_until: it bounds the contact's slot")
        if survey.survey_id in self.surveys:
            raise SurveyExists(survey.survey_id)
        contact = self.contacts.get(survey.contact_key) or Contact(survey.contact_key)
        if not _slot_free(contact, now):
            raise ConversationOpen(survey.survey_id)
        if contact.history_version != history_version:
            raise StaleSurvey(survey.survey_id)
        self.surveys[survey.survey_id] = survey
        self._count(None, survey, now)
        history = ((survey.procedure, now),) if surveyed is None else tuple(surveyed)
        self.contacts[contact.contact_key] = replace(
            contact, active_survey_id=survey.survey_id, active_until=survey.open_until,
            surveyed=tuple(sorted(history, key=lambda s: (s[1], s[0]))), history_version=history_version + 1)

    def record_suppressed(self, survey: Survey) -> None:
        self.requests += 1
        if survey.survey_id in self.surveys:
            raise SurveyExists(survey.survey_id)
        self.surveys[survey.survey_id] = survey
        self._count(None, survey, survey.created_at)

    def _count(self, old: Survey | None, new: Survey, when: datetime) -> None:
        for key in lifecycle.counts_as_new_outcomes(old, new):
            bucket = (new.procedure, f"{when.astimezone(UTC).date().isoformat()}#{key}")
            self.outcomes[bucket] = self.outcomes.get(bucket, 0) + 1

    def read_outcomes(self, from_day: str, to_day: str,
                      procedure: str | None = None) -> list[tuple[str, str, str, int]]:
        self.requests += 1
        rows = []
        for (name, bucket), n in self.outcomes.items():
            day, _, outcome = bucket.partition("#")
            if (procedure is None or name == procedure) and from_day <= day <= to_day:
                rows.append((name, day, outcome, n))
        return sorted(rows)

    def waiting(self, procedure: str | None = None) -> int:
        self.requests += 1
        return sum(1 for s in self.surveys.values()
                   if s.send_at is not None and (procedure is None or s.procedure == procedure))

    def update_survey(self, old: Survey, new: Survey, answers: Sequence[Answer] = (),
                      contact: ContactChange | None = None, now: datetime | None = None) -> None:
        self.requests += 1
        stored = self.surveys.get(old.survey_id)
        if stored is None or not _unchanged_since(stored, old):
            raise StaleSurvey(old.survey_id)
        if any((a.survey_id, a.question) in self.answers for a in answers if a.question != "comment"):
            raise StaleSurvey(old.survey_id)
        if (lifecycle.reached(new) and not lifecycle.reached(old)
                and self.delivery_ranks.get(old.survey_id, 0) >= lifecycle.FINAL_DELIVERY_RANK):
            raise StaleSurvey(old.survey_id)     # a delivery report came (and was counted) meanwhile
        self.surveys[old.survey_id] = _with_changes(stored, new)
        self._count(old, new, now or datetime.now(UTC))
        if new.message_sid is None:          # sent again: the last message's delivery state goes
            self.delivery_ranks.pop(old.survey_id, None)
        for answer in answers:
            if answer.question == "comment":
                self._add_comment(answer)
            else:
                self.answers[answer.survey_id, answer.question] = answer
        if contact is not None:
            self._change_contact(old, contact, now or datetime.now(UTC))

    def _change_contact(self, survey: Survey, change: ContactChange, now: datetime) -> None:
        current = self.contacts.get(survey.contact_key)
        if change.opted_out is not None:
            self._opt(survey.contact_key, change.opted_out, change.audit, now)
            current = self.contacts[survey.contact_key]
        # Released only when the slot holds this survey: another survey's slot is not ours.
        if change.release and current and current.active_survey_id == survey.survey_id:
            self.contacts[survey.contact_key] = replace(current, active_survey_id=None,
                                                        active_until=None)

    def record_delivery(self, survey_id: str, status: str, rank: int, error_code: str | None, *,
                        message_sid: str, now: datetime | None = None) -> Survey | None:
        self.requests += 1
        stored = self.surveys.get(survey_id)
        if stored is None or stored.message_sid not in (None, message_sid):
            return None
        if survey_id in self.delivery_ranks and self.delivery_ranks[survey_id] >= rank:
            return None
        self.delivery_ranks[survey_id] = rank
        self.surveys[survey_id] = replace(stored, delivery_status=status, delivery_error=error_code)
        if lifecycle.counts_as_delivered(status, self.surveys[survey_id]):
            self.requests += 1
            bucket = (stored.procedure, f"{(now or datetime.now(UTC)).astimezone(UTC).date().isoformat()}#delivered")
            self.outcomes[bucket] = self.outcomes.get(bucket, 0) + 1
        return self.surveys[survey_id]

    def set_opt_out(self, contact_key: str, opted_out: bool, audit: str, now: datetime) -> None:
        self.requests += 1
        self._opt(contact_key, opted_out, audit, now)

    def _opt(self, contact_key: str, opted_out: bool, audit: str | None, now: datetime) -> None:
        contact = self.contacts.get(contact_key) or Contact(contact_key)
        self.contacts[contact_key] = replace(contact, opted_out=opted_out)
        self.opt_out_history.setdefault(contact_key, []).append(
            {"at": now, "audit": audit, "opted_out": opted_out})

    def keep_inbound(self, message: Inbound) -> None:
        self.requests += 1
        self.inbox[message.message_sid] = message

    def reminders_due(self, now: datetime, limit: int) -> list[Survey]:
        self.requests += 1
        due = [s for s in self.surveys.values() if s.remind_at is not None and s.remind_at <= now]
        return sorted(due, key=lambda s: (s.remind_at or now, s.survey_id))[:max(limit, 0)]

    def scheduled_due(self, now: datetime, limit: int) -> list[Survey]:
        self.requests += 1
        due = [s for s in self.surveys.values() if s.send_at is not None and s.send_at <= now]
        return sorted(due, key=lambda s: (s.send_at or now, s.survey_id))[:max(limit, 0)]

    def open_surveys_due(self, now: datetime, limit: int) -> list[Survey]:
        self.requests += 1
        due = [s for s in self.surveys.values() if s.open_until is not None and s.open_until < now]
        return sorted(due, key=lambda s: s.open_until or now)[:max(limit, 0)]

    def surveys_of(self, customer_id: str, since: datetime, limit: int) -> list[Survey]:
        self.requests += 1
        found = [s for s in self.surveys.values() if s.customer_id == customer_id and s.created_at >= since]
        return sorted(found, key=lambda s: (s.created_at, s.survey_id), reverse=True)[:max(limit, 0)]

    def save_comment(self, answer: Answer) -> CommentSaved:
        self.requests += 1
        if answer.question != "comment":
            raise ValueError(f"save_comment stores comments, not {answer.question!r} answers")
        stored = self.surveys.get(answer.survey_id)
        if stored is None or stored.status not in (SurveyStatus.ANSWERED, SurveyStatus.LATE):
            return CommentSaved.CLOSED
        thread = self.comments_of(answer.survey_id)
        if thread and thread[-1].text == answer.text:
            return CommentSaved.SAME
        if len(thread) >= MAX_COMMENTS:
            return CommentSaved.FULL
        self._add_comment(answer)
        return CommentSaved.SAVED


def _slot_free(contact: Contact, now: datetime) -> bool:
    # The same condition DynamoDB evaluates: attribute_not_exists(active_survey_id) OR active_until < now
    if contact.active_survey_id is None:
        return True
    return contact.active_until is not None and contact.active_until < now


def _unchanged_since(stored: Survey, old: Survey) -> bool:
    return (stored.status == old.status and stored.step == old.step
            and stored.last_inbound_sid == old.last_inbound_sid and stored.send_at == old.send_at)


def _with_changes(stored: Survey, new: Survey) -> Survey:
    """Only what update_survey writes; delivery state stays as record_delivery left it."""
    return replace(stored, status=new.status, step=new.step, score=new.score,
                   reprompts=new.reprompts, message_sid=new.message_sid,
                   last_inbound_sid=new.last_inbound_sid, last_reply_key=new.last_reply_key,
                   reason=new.reason, open_until=new.open_until, send_at=new.send_at, remind_at=new.remind_at,
                   channel=new.channel, channel_reason=new.channel_reason, resends=new.resends,
                   **({"delivery_status": None, "delivery_error": None} if new.message_sid is None else {}))


@dataclass
class FakeCaseStore:
    """Cases as the DynamoDB store keeps them: one per id, saved only at the version read (bumped),
    flags set without a version change; lists newest first, paged by an opaque cursor."""

    cases: dict[str, Case] = field(default_factory=dict)
    requests: int = 0
    conflict_next_save: bool = False       # a test's way to make another person save first

    def open_case(self, case: Case) -> bool:
        self.requests += 1
        if case.case_id in self.cases:
            return False
        self.cases[case.case_id] = case
        return True

    def get_case(self, case_id: str) -> Case | None:
        self.requests += 1
        return self.cases.get(case_id)

    def mark_notified(self, case_id: str, *, follow_up_queued: bool = False, alert_published: bool = False) -> None:
        self.requests += 1
        case = self.cases.get(case_id)
        if case is not None:     # only sets flags, never clears one; unknown case: nothing
            self.cases[case_id] = replace(
                case, follow_up_queued=case.follow_up_queued or follow_up_queued,
                alert_published=case.alert_published or alert_published)

    def save(self, case: Case, expected_version: int) -> Case:
        self.requests += 1
        current = self.cases.get(case.case_id)
        if current is None:
            raise CaseNotFound(f"no case {case.case_id}")
        if self.conflict_next_save:
            self.conflict_next_save = False
            current = replace(current, version=current.version + 1)
            self.cases[case.case_id] = current
        if current.version != expected_version:
            raise VersionConflict(f"case {case.case_id} is at version {current.version}", current.version)
        saved = replace(case, version=expected_version + 1, follow_up_queued=current.follow_up_queued,
                        alert_published=current.alert_published)
        self.cases[case.case_id] = saved
        return saved

    def list_cases(self, query: CaseQuery) -> CasePage:
        self.requests += 1
        matching = sorted((c for c in self.cases.values() if _matches(c, query)),
                          key=lambda c: (c.opened_at, c.case_id), reverse=True)
        start = 0
        if query.cursor:
            ids = [c.case_id for c in matching]
            if query.cursor not in ids:
                raise InvalidRequest("cursor is not one this list gave out")
            start = ids.index(query.cursor) + 1
        page = matching[start:start + query.limit]
        return CasePage(page, page[-1].case_id if len(page) == query.limit else None)

    def due(self, now: datetime, limit: int) -> list[Case]:
        self.requests += 1
        due = [c for c in self.cases.values() if c.work_due_at is not None and c.work_due_at <= now]
        return sorted(due, key=lambda c: c.work_due_at or now)[:limit]

    def cases_of(self, customer_id: str, since: datetime) -> list[Case]:
        self.requests += 1
        return [c for c in self.cases.values() if c.customer_id == customer_id and c.opened_at >= since]

    def opened_between(self, start: datetime, end: datetime, *, branch: str | None = None,
                       owner: str | None = None, in_branch: str | None = None) -> list[Case]:
        self.requests += 1
        scope = CaseQuery(branch=branch, owner=owner, in_branch=in_branch)
        found = [c for c in self.cases.values() if start <= c.opened_at < end and _matches(c, scope)]
        return sorted(found, key=lambda c: (c.opened_at, c.case_id))


def _matches(case: Case, query: CaseQuery) -> bool:
    return ((not query.status or case.status.value in query.status)
            and (query.owner is None or str(case.owner) == query.owner)
            and (query.branch is None or case.branch == query.branch)
            and (query.in_branch is None or query.in_branch in case_work.branches_of(case))
            and (query.procedure is None or case.procedure == query.procedure)
            and (query.severity is None or case.severity.value == query.severity)
            and (query.overdue_at is None or case.overdue(query.overdue_at))
            and (query.opened_from is None or case.opened_at >= query.opened_from)
            and (query.opened_before is None or case.opened_at < query.opened_before))


@dataclass
class FakeScoreStore:
    """Counters per (bucket, shard) and the ledger of counted answers, as DynamoScoreStore keeps
    them: an answer counted before adds nothing; one transaction per chunk of a batch."""

    buckets: dict[tuple[BucketKey, int], Counts] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    requests: int = 0
    items_read: int = 0

    def count(self, items: Sequence[Contribution], shards: int, now: datetime) -> int:
        added = 0
        for chunk in scoring.chunks(items, 100):
            self.requests += 1
            fresh = [item for item in chunk if item.answer_id not in self.counted]
            shard = scoring.shard_for(chunk, shards)
            for key, counts in scoring.tally(fresh).items():
                self.buckets[(key, shard)] = self.buckets.get((key, shard), Counts()) + counts
            self.counted |= {item.answer_id for item in fresh}
            added += len(fresh)
        return added

    def read(self, dimension: str, from_day: str, to_day: str, shards: int = 1) -> list[tuple[BucketKey, Counts]]:
        rows: list[tuple[BucketKey, Counts]] = []
        for shard in range(shards):
            self.requests += 1
            found = [(k, c) for (k, s), c in self.buckets.items()
                     if k.dimension == dimension and s == shard and from_day <= k.day <= to_day]
            self.items_read += len(found)
            rows += sorted(found, key=lambda kc: kc[0].sort_key)
        return rows


@dataclass
class FakeEventLedger:
    fingerprints: dict[str, str] = field(default_factory=dict)    # event_id -> the first one seen
    requests: int = 0

    def record_first(self, events: Sequence[tuple[str, str]], now: datetime) -> set[str]:
        self.requests += 1
        conflicts = set()
        for event_id, fingerprint in dict(events).items():
            if self.fingerprints.setdefault(event_id, fingerprint) != fingerprint:
                conflicts.add(event_id)
        return conflicts
