"""One contract for koe's stores, run against the in-memory fakes and the DynamoDB repositories
(on DynamoDB Local), so the fakes the service tests rely on cannot drift from the real thing.

Every test makes its own survey ids and contact keys: the DynamoDB tables are shared by the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from chalicelib.domain import case_ladder
from chalicelib.domain.business_calendar import BusinessCalendar
from chalicelib.domain.cases import Case, CaseComment, CaseStatus, Owner, OwnerKind, Severity, TimelineEntry
from chalicelib.domain.fatigue import after_survey
from chalicelib.domain.model import Answer, Counts, Place, Step, Survey, SurveyStatus
from chalicelib.domain.scoring import NO_VALUE, BucketKey, Contribution, counts_for, stable_shard
from chalicelib.domain.web_survey import MAX_COMMENTS
from chalicelib.errors import (
    CaseNotFound,
    ConversationOpen,
    InvalidRequest,
    StaleSurvey,
    StorageThrottled,
    SurveyExists,
    VersionConflict,
)
from chalicelib.services.ports import (
    CaseQuery,
    CaseStore,
    CommentSaved,
    ContactChange,
    ConversationStore,
    EventLedger,
    Inbound,
    OutcomeReport,
    ScoreStore,
)
from chalicelib.settings import Settings, from_env
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.years import a_year_of_its_own

NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
SID = "SM" + "5" * 32                  # the carrier's id of a survey's message
WINDOW = timedelta(hours=24)


# --- the two implementations behind one harness --------------------------------------------------

@dataclass
class Stores:
    kind: str
    conversations: ConversationStore
    cases: CaseStore
    scores: ScoreStore
    events: EventLedger
    outcomes: OutcomeReport
    # Reading what the interfaces do not return (answers, history, inbox): per implementation.
    read_answer: Callable[[str, str], Answer | None]
    read_comments: Callable[[str], list[Answer]]
    opt_out_history: Callable[[str], list[dict[str, Any]]]
    read_inbound: Callable[[str], Inbound | None]


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return _fake_stores()
    return _dynamo_stores(request.getfixturevalue("dynamo"))


def _fake_stores() -> Stores:
    conversations = FakeConversationStore()
    return Stores("fake", conversations, FakeCaseStore(), FakeScoreStore(), FakeEventLedger(), conversations,
                  read_answer=lambda sid, q: conversations.answers.get((sid, q)),
                  read_comments=conversations.comments_of,
                  opt_out_history=lambda key: conversations.opt_out_history.get(key, []),
                  read_inbound=conversations.inbox.get)


@dataclass
class DynamoWorld:
    settings: Settings
    connection: Any          # pynamodb Connection shared by every model (dynamo.configure)
    raw: Any                 # a plain boto3 client, to read items as the stream would see them


@pytest.fixture(scope="module")
def dynamo(local_aws: dict[str, str], dynamodb_local: Any) -> DynamoWorld:
    """Models bound to this session's tables. Module scope: binding is process-wide, and another
    module may bind other tables; this module's tests run together."""
    from chalicelib.adapters import dynamo as adapter

    settings = from_env({**_REQUIRED_SETTINGS, **local_aws})
    return DynamoWorld(settings, adapter.configure(settings), dynamodb_local.client())


_REQUIRED_SETTINGS = {
    "KOE_PUBLIC_BASE_URL": "https://koe.test",
    "KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "q", "KOE_FOLLOW_UP_QUEUE_URL": "q",
    "KOE_CX_TOPIC_ARN": "arn",
}


def _dynamo_stores(world: DynamoWorld) -> Stores:
    from chalicelib.adapters import dynamo as adapter

    def read_answer(survey_id: str, question: str) -> Answer | None:
        item = world.raw.get_item(TableName=world.settings.table_name("responses"), ConsistentRead=True,
                                  Key={"survey_id": {"S": survey_id}, "question": {"S": question}})
        return adapter.answer_from_stream_image(item["Item"]) if "Item" in item else None

    def read_comments(survey_id: str) -> list[Answer]:
        from chalicelib.adapters.dynamo.survey_items import comments_from_item

        try:
            return comments_from_item(adapter.ResponseItem.get(survey_id, "comment", consistent_read=True))
        except adapter.ResponseItem.DoesNotExist:
            return []

    def opt_out_history(contact_key: str) -> list[dict[str, Any]]:
        item = adapter.ContactItem.get(contact_key, consistent_read=True)
        return [entry.as_dict() for entry in item.opt_out_history or []]

    def read_inbound(message_sid: str) -> Inbound | None:
        try:
            item = adapter.InboxItem.get(message_sid, consistent_read=True)
        except adapter.InboxItem.DoesNotExist:
            return None
        return Inbound(item.message_sid, item.contact_key, item.body, item.received_at, item.reason,
                       item.survey_id, bool(item.truncated))

    return Stores("dynamo",
                  adapter.DynamoConversationStore(world.settings), adapter.DynamoCaseStore(world.settings),
                  adapter.DynamoScoreStore(world.settings), adapter.DynamoEventLedger(world.settings),
                  adapter.DynamoOutcomeReport(world.settings),
                  read_answer=read_answer, read_comments=read_comments, opt_out_history=opt_out_history,
                  read_inbound=read_inbound)


# --- builders -------------------------------------------------------------------------------------

def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def a_survey(**changes: Any) -> Survey:
    survey = Survey(
        survey_id=_id("srv"), procedure="claim_payment", customer_id="C-1", contact_key=_id("ck"),
        locale="en", channel="sms_two_way", channel_reason="default", status=SurveyStatus.SENDING,
        created_at=NOW, completed_at=NOW - timedelta(hours=2), phone="+15550100123",
        context={"branch": "Tokyo", "agent_id": "A-102"}, open_until=NOW + WINDOW)
    return replace(survey, **changes)


def open_as_dispatch_does(stores: Stores, survey: Survey, now: datetime) -> None:
    """Open a survey as dispatch does: with the contact's history as read, plus this survey."""
    contact = stores.conversations.get_contact(survey.contact_key)
    history = after_survey(contact.surveyed if contact else (), survey.procedure, now, horizon_days=365)
    stores.conversations.open_survey(survey, now, history, contact.history_version if contact else 0)


def an_answer(survey: Survey, question: str = "score", **changes: Any) -> Answer:
    answer = Answer(survey_id=survey.survey_id, question=question, received_at=NOW + timedelta(minutes=5),
                    procedure=survey.procedure, customer_id=survey.customer_id, locale=survey.locale,
                    context=dict(survey.context), score=3, text="3 slow payout", threshold=6,
                    phone_masked="+1******0123")
    return replace(answer, **changes)


def a_case(**changes: Any) -> Case:
    survey_id = _id("srv")
    deadlines = case_ladder.plan(NOW, BusinessCalendar("Asia/Tokyo"), case_ladder.Sla())
    case = Case(case_id=survey_id, survey_id=survey_id, procedure="claim_payment", customer_id="C-1",
                score=2, opened_at=NOW, first_contact_due=deadlines.first_contact_due,
                resolution_due=deadlines.resolution_due, ladder=deadlines.ladder,
                context={"branch": "Tokyo"}, phone_masked="+1******0123", locale="ja",
                severity=Severity.HIGH, reasons=("score", "keyword"), owner=Owner(OwnerKind.BRANCH, "Tokyo"),
                customer_timezone="Asia/Tokyo", owner_timezone="Asia/Tokyo",
                timeline=(TimelineEntry(NOW, "opened", "koe", {"severity": "high"}),))
    return replace(case, **changes)


def answered(survey: Survey) -> Survey:
    return replace(survey, status=SurveyStatus.ANSWERED, step=Step.DONE, score=3,
                   last_inbound_sid="SM1", last_reply_key="thanks", open_until=None)


# --- conversations --------------------------------------------------------------------------------

def test_an_opened_survey_reads_back_exactly_and_claims_the_contact(stores: Stores) -> None:
    survey = a_survey(open_until=datetime(2026, 11, 22, 10, 20, 0, 123456, tzinfo=timezone(timedelta(hours=9))))

    stores.conversations.open_survey(survey, NOW)

    assert stores.conversations.get_survey(survey.survey_id) == survey
    contact = stores.conversations.get_contact(survey.contact_key)
    assert contact is not None
    assert (contact.active_survey_id, contact.active_until) == (survey.survey_id, survey.open_until)
    assert contact.last_surveyed == {"claim_payment": NOW}
    assert contact.has_open_conversation(NOW)


def test_unknown_survey_and_contact_read_as_none(stores: Stores) -> None:
    assert stores.conversations.get_survey(_id("srv")) is None
    assert stores.conversations.get_contact(_id("ck")) is None


def test_opening_the_same_survey_twice_raises_survey_exists(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)

    with pytest.raises(SurveyExists):
        stores.conversations.open_survey(survey, NOW)


def test_a_second_survey_while_one_is_open_raises_conversation_open_and_writes_nothing(stores: Stores) -> None:
    first = a_survey()
    second = a_survey(contact_key=first.contact_key, procedure="address_change")
    stores.conversations.open_survey(first, NOW)

    with pytest.raises(ConversationOpen):
        stores.conversations.open_survey(second, NOW + timedelta(hours=1))

    assert stores.conversations.get_survey(second.survey_id) is None
    contact = stores.conversations.get_contact(first.contact_key)
    assert contact is not None and contact.active_survey_id == first.survey_id
    assert contact.last_surveyed == {"claim_payment": NOW}


def test_after_release_a_new_survey_may_open(stores: Stores) -> None:
    first = a_survey()
    stores.conversations.open_survey(first, NOW)
    stores.conversations.update_survey(first, answered(first), contact=ContactChange(release=True), now=NOW)
    later = NOW + timedelta(hours=1)
    second = a_survey(contact_key=first.contact_key, open_until=later + WINDOW)

    open_as_dispatch_does(stores, second, later)

    contact = stores.conversations.get_contact(first.contact_key)
    assert contact is not None and contact.active_survey_id == second.survey_id
    assert contact.last_surveyed == {"claim_payment": later}


def test_after_the_window_passes_a_new_survey_may_open_without_release(stores: Stores) -> None:
    first = a_survey()
    stores.conversations.open_survey(first, NOW)
    later = first.open_until + timedelta(seconds=1)          # type: ignore[operator]
    second = a_survey(contact_key=first.contact_key, procedure="address_change", open_until=later + WINDOW)

    open_as_dispatch_does(stores, second, later)

    contact = stores.conversations.get_contact(first.contact_key)
    assert contact is not None and contact.active_survey_id == second.survey_id
    assert contact.last_surveyed == {"claim_payment": NOW, "address_change": later}


def test_the_survey_history_is_written_whole_and_a_concurrent_change_is_stale(stores: Stores) -> None:
    first = a_survey()
    stores.conversations.open_survey(first, NOW)
    stores.conversations.update_survey(first, answered(first), contact=ContactChange(release=True), now=NOW)
    contact = stores.conversations.get_contact(first.contact_key)
    assert contact is not None and (contact.surveyed, contact.history_version) == ((("claim_payment", NOW),), 1)
    later = NOW + timedelta(days=40)
    bounded = after_survey(contact.surveyed, "address_change", later, horizon_days=30)
    assert bounded == (("claim_payment", NOW), ("address_change", later))     # the newest per procedure stays

    second = a_survey(contact_key=first.contact_key, procedure="address_change", open_until=later + WINDOW)
    with pytest.raises(StaleSurvey):                     # read at version 0, but a survey opened since
        stores.conversations.open_survey(second, later, bounded, history_version=0)
    assert stores.conversations.get_survey(second.survey_id) is None

    stores.conversations.open_survey(second, later, bounded, history_version=1)
    reread = stores.conversations.get_contact(first.contact_key)
    assert reread is not None and (reread.surveyed, reread.history_version) == (bounded, 2)


def test_open_survey_needs_a_window(stores: Stores) -> None:
    with pytest.raises(ValueError):
        stores.conversations.open_survey(a_survey(open_until=None), NOW)


def test_a_suppressed_survey_is_recorded_once(stores: Stores) -> None:
    survey = a_survey(status=SurveyStatus.SUPPRESSED, reason="cooldown", open_until=None, phone=None)

    stores.conversations.record_suppressed(survey)

    assert stores.conversations.get_survey(survey.survey_id) == survey
    assert stores.conversations.get_contact(survey.contact_key) is None
    with pytest.raises(SurveyExists):
        stores.conversations.record_suppressed(survey)


def test_update_survey_writes_new_state_and_answers(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    score, comment = an_answer(survey), an_answer(survey, "comment", text="slow payout", score=3)
    new = answered(survey)

    stores.conversations.update_survey(survey, new, [score, comment], ContactChange(release=True), NOW)

    assert stores.conversations.get_survey(survey.survey_id) == new
    assert stores.read_answer(survey.survey_id, "score") == score
    assert stores.read_answer(survey.survey_id, "comment") == comment
    contact = stores.conversations.get_contact(survey.contact_key)
    assert contact is not None and not contact.has_open_conversation(NOW)
    assert contact.active_survey_id is None


def test_answers_without_score_or_text_round_trip(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    answer = an_answer(survey, score=None, text=None, threshold=None, phone_masked=None, context={})

    stores.conversations.update_survey(survey, replace(survey, step=Step.AWAIT_COMMENT), [answer])

    assert stores.read_answer(survey.survey_id, "score") == answer


def test_the_start_of_a_reply_too_long_to_keep_is_stored_with_its_flag(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    score = an_answer(survey, text="3 " + "slow payout " * 133, truncated=True)
    comment = an_answer(survey, "comment", text="slow payout " * 133, truncated=True)
    kept = Inbound(_id("SM"), survey.contact_key, "x" * 1600, NOW, "unreadable", survey.survey_id, truncated=True)

    stores.conversations.update_survey(survey, answered(survey), [score, comment])
    stores.conversations.keep_inbound(kept)

    assert stores.read_answer(survey.survey_id, "score") == score
    assert stores.read_answer(survey.survey_id, "comment") == comment
    assert stores.read_inbound(kept.message_sid) == kept


def test_update_survey_from_a_stale_read_raises_stale_survey(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    first = replace(survey, step=Step.AWAIT_COMMENT, score=3, last_inbound_sid="SM1")
    stores.conversations.update_survey(survey, first, [an_answer(survey)])

    with pytest.raises(StaleSurvey):       # same status, but step and last inbound sid moved on
        stores.conversations.update_survey(survey, answered(survey))

    assert stores.conversations.get_survey(survey.survey_id) == first


def test_a_replayed_inbound_sid_is_stale(stores: Stores) -> None:
    survey = a_survey(status=SurveyStatus.DELIVERED, step=Step.AWAIT_COMMENT, last_inbound_sid="SM1")
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, replace(survey, last_inbound_sid="SM2"))

    with pytest.raises(StaleSurvey):
        stores.conversations.update_survey(survey, replace(survey, last_inbound_sid="SM3"))


def test_a_duplicate_answer_is_stale_and_nothing_is_written(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, survey, [an_answer(survey)])   # same state: allowed

    with pytest.raises(StaleSurvey):
        stores.conversations.update_survey(survey, answered(survey), [an_answer(survey, score=9)],
                                           ContactChange(release=True), NOW)

    assert stores.conversations.get_survey(survey.survey_id) == survey
    assert stores.read_answer(survey.survey_id, "score") == an_answer(survey)
    contact = stores.conversations.get_contact(survey.contact_key)
    assert contact is not None and contact.active_survey_id == survey.survey_id


def test_release_never_frees_another_surveys_slot(stores: Stores) -> None:
    old = a_survey()
    stores.conversations.open_survey(old, NOW)
    later = old.open_until + timedelta(minutes=1)            # type: ignore[operator]
    new = a_survey(contact_key=old.contact_key, open_until=later + WINDOW)
    open_as_dispatch_does(stores, new, later)
    expired = replace(old, status=SurveyStatus.EXPIRED, open_until=None)

    stores.conversations.update_survey(old, expired, contact=ContactChange(release=True), now=later)

    assert stores.conversations.get_survey(old.survey_id) == expired
    contact = stores.conversations.get_contact(old.contact_key)
    assert contact is not None and contact.active_survey_id == new.survey_id


def test_release_for_a_contact_that_does_not_exist_creates_nothing(stores: Stores) -> None:
    survey = a_survey(status=SurveyStatus.SUPPRESSED, reason="quiet_hours", open_until=None)
    stores.conversations.record_suppressed(survey)

    stores.conversations.update_survey(survey, replace(survey, reason="expired"),
                                       contact=ContactChange(release=True), now=NOW)

    assert stores.conversations.get_contact(survey.contact_key) is None


def test_opting_out_during_a_conversation_closes_releases_and_audits(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    closed = replace(survey, status=SurveyStatus.OPTED_OUT, open_until=None, last_inbound_sid="SM9")

    stores.conversations.update_survey(survey, closed, (),
                                       ContactChange(release=True, opted_out=True, audit="sms:STOP"), NOW)

    contact = stores.conversations.get_contact(survey.contact_key)
    assert contact is not None and contact.opted_out and contact.active_survey_id is None
    assert stores.opt_out_history(survey.contact_key) == [{"at": NOW, "audit": "sms:STOP", "opted_out": True}]


def test_opt_out_and_back_in_appends_to_the_history(stores: Stores) -> None:
    key = _id("ck")
    later = NOW + timedelta(days=1)

    stores.conversations.set_opt_out(key, True, "sms:停止", NOW)
    stores.conversations.set_opt_out(key, False, "sms:START", later)

    contact = stores.conversations.get_contact(key)
    assert contact is not None and not contact.opted_out
    assert stores.opt_out_history(key) == [{"at": NOW, "audit": "sms:停止", "opted_out": True},
                                          {"at": later, "audit": "sms:START", "opted_out": False}]


def test_record_delivery_never_moves_backwards(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)

    assert stores.conversations.record_delivery(survey.survey_id, "sent", 1, None, message_sid=SID)
    assert stores.conversations.record_delivery(survey.survey_id, "undelivered", 3, "30003", message_sid=SID)
    assert not stores.conversations.record_delivery(survey.survey_id, "delivered", 2, None, message_sid=SID)
    assert not stores.conversations.record_delivery(survey.survey_id, "undelivered", 3, "30003", message_sid=SID)

    stored = stores.conversations.get_survey(survey.survey_id)
    assert stored is not None
    assert (stored.delivery_status, stored.delivery_error) == ("undelivered", "30003")


def test_record_delivery_gives_back_the_survey_as_stored(stores: Stores) -> None:
    """A callback that overtakes the send's record sees the survey still `sending` (no extra read)."""
    survey = replace(a_survey(), status=SurveyStatus.SENDING, send_at=NOW + timedelta(minutes=2))
    stores.conversations.open_survey(survey, NOW)

    stored = stores.conversations.record_delivery(survey.survey_id, "sent", 3, None, message_sid=SID)

    assert stored is not None
    assert (stored.status, stored.message_sid, stored.delivery_status) == (SurveyStatus.SENDING, None, "sent")
    assert stored.send_at == NOW + timedelta(minutes=2)


def test_two_claims_of_one_send_cannot_both_win(stores: Stores) -> None:
    """The send lease lives in `send_at`: a write made from a survey read before another claim is stale."""
    survey = replace(a_survey(), status=SurveyStatus.SENDING, send_at=NOW)
    stores.conversations.open_survey(survey, NOW)
    first = replace(survey, send_at=NOW + timedelta(minutes=2))
    stores.conversations.update_survey(survey, first, now=NOW)

    with pytest.raises(StaleSurvey):
        stores.conversations.update_survey(survey, replace(survey, send_at=NOW + timedelta(minutes=3)), now=NOW)
    stores.conversations.update_survey(first, replace(first, status=SurveyStatus.SENT, message_sid=SID,
                                                      send_at=None), now=NOW)
    stored = stores.conversations.get_survey(survey.survey_id)
    assert stored is not None and (stored.status, stored.send_at) == (SurveyStatus.SENT, None)


def test_record_delivery_ignores_a_callback_about_another_message(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, replace(survey, status=SurveyStatus.SENT, message_sid=SID))

    assert not stores.conversations.record_delivery(survey.survey_id, "failed", 4, "30006", message_sid="SM" + "6" * 32)
    assert stores.conversations.record_delivery(survey.survey_id, "delivered", 4, None, message_sid=SID)

    stored = stores.conversations.get_survey(survey.survey_id)
    assert stored is not None and (stored.delivery_status, stored.delivery_error) == ("delivered", None)


def test_record_delivery_of_an_unknown_survey_is_false_and_creates_nothing(stores: Stores) -> None:
    survey_id = _id("srv")

    assert not stores.conversations.record_delivery(survey_id, "delivered", 2, None, message_sid=SID)
    assert stores.conversations.get_survey(survey_id) is None


def test_update_survey_keeps_the_delivery_state(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.record_delivery(survey.survey_id, "delivered", 2, None, message_sid=SID)

    stores.conversations.update_survey(survey, replace(survey, status=SurveyStatus.SENT, message_sid="SM0"))

    stored = stores.conversations.get_survey(survey.survey_id)
    assert stored is not None and stored.delivery_status == "delivered" and stored.message_sid == "SM0"


def test_keep_inbound_twice_is_fine(stores: Stores) -> None:
    message = Inbound(_id("SM"), _id("ck"), "who is this?", NOW, "no_open_conversation")

    stores.conversations.keep_inbound(message)
    stores.conversations.keep_inbound(message)

    assert stores.read_inbound(message.message_sid) == message


def test_scheduled_due_returns_surveys_whose_send_time_came_earliest_first(stores: Stores) -> None:
    # 1991: out of the way of every other test's scheduled surveys in the shared index.
    now = datetime(1991, 1, 1, 12, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
    late = a_survey(status=SurveyStatus.SCHEDULED, send_at=now - timedelta(minutes=1), email="hanako@example.jp")
    early = a_survey(status=SurveyStatus.SCHEDULED, send_at=now - timedelta(hours=3))
    not_yet = a_survey(status=SurveyStatus.SCHEDULED, send_at=now + timedelta(minutes=1))
    released = a_survey(status=SurveyStatus.SCHEDULED, send_at=now - timedelta(hours=2))
    for survey in (late, early, not_yet, released):
        stores.conversations.open_survey(survey, now - timedelta(days=1))
    stores.conversations.update_survey(released, replace(released, status=SurveyStatus.SENDING, send_at=None))

    due = stores.conversations.scheduled_due(now, limit=10)

    assert [s.survey_id for s in due] == [early.survey_id, late.survey_id]
    assert due[1] == late                                   # send_at and email read back as written
    assert [s.survey_id for s in stores.conversations.scheduled_due(now, limit=1)] == [early.survey_id]
    stored = stores.conversations.get_survey(released.survey_id)
    assert stored is not None and (stored.status, stored.send_at) == (SurveyStatus.SENDING, None)


def test_open_surveys_due_returns_only_ended_windows_oldest_first(stores: Stores) -> None:
    # A clock in 1990 keeps the other tests' surveys (windows ending in 2026) out of this one's
    # view of the shared index.
    now = datetime(1990, 1, 1, 12, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
    due_late = a_survey(open_until=now - timedelta(minutes=1))
    due_early = a_survey(open_until=now - timedelta(hours=3))
    not_due = a_survey(open_until=now + timedelta(minutes=1))
    closed = a_survey(open_until=now - timedelta(hours=2))
    for survey in (due_late, due_early, not_due, closed):
        stores.conversations.open_survey(survey, now - timedelta(days=1))
    stores.conversations.update_survey(closed, replace(closed, status=SurveyStatus.EXPIRED, open_until=None))

    due = stores.conversations.open_surveys_due(now, limit=10)

    assert [s.survey_id for s in due] == [due_early.survey_id, due_late.survey_id]
    assert due[0] == due_early
    assert [s.survey_id for s in stores.conversations.open_surveys_due(now, limit=1)] == [due_early.survey_id]
    assert stores.conversations.open_surveys_due(now, limit=0) == []


def test_a_customers_surveys_are_read_newest_first_from_a_time_whatever_their_status(stores: Stores) -> None:
    # Given a customer's surveys before and from a time (suppressed, answered, scheduled, by email), and
    # another customer's among them
    customer, someone_else = _id("cust"), _id("cust")
    since = NOW - timedelta(days=90)
    too_old = a_survey(customer_id=customer, created_at=since - timedelta(microseconds=1))
    suppressed = a_survey(customer_id=customer, created_at=since, status=SurveyStatus.SUPPRESSED, reason="cooldown",
                          open_until=None, phone=None)
    answered_one = a_survey(customer_id=customer, created_at=since + timedelta(days=10))
    theirs = a_survey(customer_id=someone_else, created_at=since + timedelta(days=15))
    scheduled = a_survey(customer_id=customer, created_at=since + timedelta(days=20), status=SurveyStatus.SCHEDULED,
                         send_at=NOW + timedelta(hours=7), open_until=NOW + timedelta(hours=7) + WINDOW)
    by_email = a_survey(customer_id=customer, created_at=since + timedelta(days=30), channel="email", phone=None,
                        email="hanako@example.jp")
    for survey in (answered_one, too_old, theirs, scheduled, by_email):
        stores.conversations.open_survey(survey, NOW)
    stores.conversations.record_suppressed(suppressed)
    stores.conversations.update_survey(answered_one, answered(answered_one), [an_answer(answered_one)], now=NOW)

    def read(who: str, when: datetime, limit: int = 10) -> list[str]:
        return [s.survey_id for s in stores.conversations.surveys_of(who, when, limit)]

    # Then they come newest first, from `since` on (included), each as stored, whatever its status
    mine = [by_email, scheduled, answered_one, suppressed]
    found = stores.conversations.surveys_of(customer, since, 10)
    assert found == [stores.conversations.get_survey(s.survey_id) for s in mine]
    assert [(s.status, s.score) for s in found] == [(SurveyStatus.SENDING, None), (SurveyStatus.SCHEDULED, None),
                                                   (SurveyStatus.ANSWERED, 3), (SurveyStatus.SUPPRESSED, None)]
    assert read(customer, since + timedelta(microseconds=1)) == [s.survey_id for s in mine[:3]]
    assert read(customer, since - timedelta(days=1)) == [s.survey_id for s in (*mine, too_old)]
    # At most `limit`, the newest
    assert read(customer, since, 2) == [by_email.survey_id, scheduled.survey_id]
    assert read(customer, since, 0) == []
    # Never another customer's
    assert read(someone_else, since - timedelta(days=365)) == [theirs.survey_id]
    assert read(_id("cust"), since - timedelta(days=365)) == []


def test_the_customers_place_is_kept_by_the_survey_its_moves_its_answers_and_its_schedule(stores: Stores) -> None:
    london, unplaced = Place("GB", "Europe/London"), Place(None, "Asia/Tokyo")
    now = datetime(1992, 1, 1, 12, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**6)
    survey = a_survey(status=SurveyStatus.SCHEDULED, send_at=now - timedelta(minutes=1), phone=None,
                      email="oliver@example.com", channel="email", place=london)
    other = a_survey(place=unplaced)
    stores.conversations.open_survey(survey, now - timedelta(days=1))
    stores.conversations.open_survey(other, NOW)

    [due] = [s for s in stores.conversations.scheduled_due(now, limit=10) if s.survey_id == survey.survey_id]
    assert due.place == london
    sending = replace(survey, status=SurveyStatus.SENDING, send_at=None)
    stores.conversations.update_survey(survey, sending)
    score = an_answer(sending, place=london)
    stores.conversations.update_survey(sending, answered(sending), [score], ContactChange(release=True), now)

    assert stores.conversations.get_survey(survey.survey_id) == answered(sending) and sending.place == london
    assert stores.read_answer(survey.survey_id, "score") == score
    assert stores.conversations.get_survey(other.survey_id) == other and other.place == unplaced
    suppressed = a_survey(status=SurveyStatus.SUPPRESSED, open_until=None, reason="cooldown", place=london)
    stores.conversations.record_suppressed(suppressed)
    assert stores.conversations.get_survey(suppressed.survey_id) == suppressed


# --- cases ----------------------------------------------------------------------------------------

def test_a_case_keeps_every_comment_with_its_time(stores: Stores) -> None:
    first = CaseComment(NOW, "解約します")
    case = a_case(comment=first.text, comments=(first,))
    stores.cases.open_case(case)
    both = (first, CaseComment(NOW + timedelta(seconds=1), "やっぱり大丈夫です"))

    saved = stores.cases.save(replace(case, comment=both[1].text, comments=both), expected_version=1)

    assert stores.cases.get_case(case.case_id) == saved and saved.comments == both


def test_a_case_opens_once(stores: Stores) -> None:
    case = a_case()

    assert stores.cases.open_case(case)
    assert not stores.cases.open_case(replace(case, score=0))

    assert stores.cases.get_case(case.case_id) == case
    assert stores.cases.get_case(_id("srv")) is None


def test_a_case_keeps_the_customers_place_through_saves(stores: Stores) -> None:
    placed = a_case(customer_place=Place("GB", "Europe/London"), customer_timezone="Europe/London")
    before = a_case()                                   # opened before places were: none stored
    assert stores.cases.open_case(placed) and stores.cases.open_case(before)
    saved = stores.cases.save(replace(placed, status=CaseStatus.IN_PROGRESS), placed.version)

    assert stores.cases.get_case(placed.case_id) == saved and saved.customer_place == Place("GB", "Europe/London")
    assert stores.cases.get_case(before.case_id) == before and before.customer_place is None


def test_mark_notified_sets_flags_and_never_clears_them(stores: Stores) -> None:
    case = a_case()
    stores.cases.open_case(case)

    stores.cases.mark_notified(case.case_id, follow_up_queued=True, alert_published=False)
    assert stores.cases.get_case(case.case_id) == replace(case, follow_up_queued=True)
    stores.cases.mark_notified(case.case_id, follow_up_queued=False, alert_published=True)
    assert stores.cases.get_case(case.case_id) == replace(case, follow_up_queued=True, alert_published=True)


def test_mark_notified_of_an_unknown_case_creates_nothing(stores: Stores) -> None:
    case_id = _id("srv")

    stores.cases.mark_notified(case_id, follow_up_queued=True, alert_published=True)

    assert stores.cases.get_case(case_id) is None


def test_a_save_at_the_version_read_bumps_it_and_a_stale_one_is_refused(stores: Stores) -> None:
    case = a_case()
    stores.cases.open_case(case)
    stores.cases.mark_notified(case.case_id, alert_published=True)      # koe's flag: no version change

    claimed = replace(case, status=CaseStatus.IN_PROGRESS, owner=Owner(OwnerKind.AGENT, "A-1"),
                      timeline=case.timeline + (TimelineEntry(NOW, "claimed", "u-1", {"owner": "agent:A-1"}),))
    saved = stores.cases.save(claimed, expected_version=1)
    assert saved.version == 2 and stores.cases.get_case(case.case_id) == replace(claimed, version=2,
                                                                                 alert_published=True)
    with pytest.raises(VersionConflict) as refused:
        stores.cases.save(replace(case, comment="lost update"), expected_version=1)
    assert refused.value.current_version == 2
    assert stores.cases.get_case(case.case_id).comment is None
    with pytest.raises(CaseNotFound):
        stores.cases.save(a_case(), expected_version=1)


def test_a_resolved_case_keeps_its_resolution_and_leaves_the_schedule(stores: Stores) -> None:
    case = a_case()
    stores.cases.open_case(case)
    assert [c.case_id for c in stores.cases.due(case.ladder[0].at, 50) if c.case_id == case.case_id] == [case.case_id]
    resolved = replace(case, status=CaseStatus.RESOLVED, root_cause="claim_delay", action="expedited",
                       resolved_at=NOW, expires_at=NOW + timedelta(days=400), first_contact_at=NOW,
                       callback_consent=False)
    stores.cases.save(resolved, 1)
    assert stores.cases.get_case(case.case_id) == replace(resolved, version=2)
    assert case.case_id not in [c.case_id for c in stores.cases.due(NOW + timedelta(days=365), 500)]


def test_lists_are_newest_first_filtered_and_paged_without_gaps(stores: Stores) -> None:
    branch = _id("branch")
    cases = [a_case(opened_at=NOW + timedelta(minutes=i), context={"branch": branch},
                    resolution_due=NOW + timedelta(days=4, minutes=i),
                    severity=Severity.HIGH if i % 2 else Severity.NORMAL) for i in range(7)]
    for case in cases:
        stores.cases.open_case(case)
    newest_first = [c.case_id for c in reversed(cases)]

    seen, cursor = [], None
    while True:
        page = stores.cases.list_cases(CaseQuery(branch=branch, limit=3, cursor=cursor))
        seen += [c.case_id for c in page.cases]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == newest_first
    high = stores.cases.list_cases(CaseQuery(branch=branch, severity="high", limit=10))
    assert [c.case_id for c in high.cases] == [c.case_id for c in reversed(cases) if c.severity is Severity.HIGH]
    overdue = stores.cases.list_cases(CaseQuery(branch=branch, overdue_at=cases[0].resolution_due, limit=10))
    assert [c.case_id for c in overdue.cases] == [cases[0].case_id]
    by_owner = stores.cases.list_cases(CaseQuery(owner=str(cases[0].owner), branch=branch, status=frozenset({"open"})))
    assert len(by_owner.cases) == 7
    with pytest.raises(InvalidRequest):
        stores.cases.list_cases(CaseQuery(branch=branch, cursor="not-a-cursor"))


def test_a_branchs_list_holds_its_customers_cases_and_those_in_its_queue_newest_first_paged(stores: Stores) -> None:
    mine, other = _id("branch"), _id("branch")
    queue = Owner(OwnerKind.BRANCH, mine)
    # Seven of its customers' cases, and five of another branch's given to its queue, interleaved in time.
    own = [a_case(opened_at=NOW + timedelta(minutes=2 * i), context={"branch": mine},
                  owner=queue if i % 2 else Owner(OwnerKind.CENTRAL, "cx"), owner_branch=mine if i % 2 else None)
           for i in range(7)]
    routed = [a_case(opened_at=NOW + timedelta(minutes=2 * i + 1), context={"branch": other}, owner=queue,
                     owner_branch=mine, status=CaseStatus.IN_PROGRESS if i == 2 else CaseStatus.OPEN)
              for i in range(5)]
    elsewhere = a_case(opened_at=NOW + timedelta(minutes=4), context={"branch": other})
    for case in (*own, *routed, elsewhere):
        stores.cases.open_case(case)
    assert stores.cases.get_case(routed[0].case_id) == routed[0]          # owner_branch reads back
    newest_first = [c.case_id for c in sorted(own + routed, key=lambda c: c.opened_at, reverse=True)]

    for limit in (1, 3, 5, 12):
        seen, cursor = [], None
        while True:
            page = stores.cases.list_cases(CaseQuery(in_branch=mine, limit=limit, cursor=cursor))
            seen += [c.case_id for c in page.cases]
            if page.cursor is None:
                break
            cursor = page.cursor
        assert seen == newest_first, limit

    def listed(**query: Any) -> list[str]:
        return [c.case_id for c in stores.cases.list_cases(CaseQuery(in_branch=mine, limit=50, **query)).cases]

    assert listed(status=frozenset({"in_progress"})) == [routed[2].case_id]
    assert listed(branch=other) == [c.case_id for c in reversed(routed)]            # the other's, in its queue
    assert listed(branch=mine) == [c.case_id for c in reversed(own)]
    assert listed(owner=str(queue)) == [c for c in newest_first if c not in {own[i].case_id for i in (0, 2, 4, 6)}]
    assert [c.case_id for c in stores.cases.list_cases(CaseQuery(in_branch=other, limit=50)).cases] == [
        *(c.case_id for c in reversed(routed[2:])), elsewhere.case_id, *(c.case_id for c in reversed(routed[:2]))]


def _every_page(stores: Stores, query: CaseQuery) -> list[str]:
    """The case ids of a list, page after page, as a client follows its cursor."""
    seen: list[str] = []
    cursor = None
    while True:
        page = stores.cases.list_cases(replace(query, cursor=cursor))
        seen += [c.case_id for c in page.cases]
        if page.cursor is None:
            return seen
        cursor = page.cursor


def test_a_list_of_a_period_holds_the_cases_opened_from_its_start_and_before_its_end(stores: Stores) -> None:
    # Given a branch's cases on each side of both ends of a period
    start = datetime(2031, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    end = start + timedelta(days=1)
    branch = _id("branch")
    before, first, middle, last, at_end = (
        a_case(opened_at=at, context={"branch": branch})
        for at in (start - timedelta(microseconds=1), start, start + timedelta(hours=5),
                   end - timedelta(microseconds=1), end))
    for case in (at_end, middle, before, last, first):
        stores.cases.open_case(case)

    def listed(**period: datetime) -> list[str]:
        return [c.case_id for c in stores.cases.list_cases(CaseQuery(branch=branch, **period)).cases]

    # Then the start is included, the end is not, newest first; either end may stay open
    assert listed(opened_from=start, opened_before=end) == [last.case_id, middle.case_id, first.case_id]
    assert listed(opened_from=start) == [at_end.case_id, last.case_id, middle.case_id, first.case_id]
    assert listed(opened_before=end) == [last.case_id, middle.case_id, first.case_id, before.case_id]
    # A period given in another time zone is the same instants
    tokyo = timezone(timedelta(hours=9))
    assert listed(opened_from=start.astimezone(tokyo), opened_before=end.astimezone(tokyo)) == listed(
        opened_from=start, opened_before=end)
    # An empty period lists nothing, and says it is the last page
    empty = stores.cases.list_cases(CaseQuery(branch=branch, opened_from=start, opened_before=start))
    assert (empty.cases, empty.cursor) == ([], None)


def test_a_period_narrows_every_list_its_filters_and_each_index_a_list_reads(stores: Stores) -> None:
    # Given cases in a year of their own (the all-cases and by-status indexes hold every test's cases):
    # a branch's customers', another branch's routed to its queue, an agent's, in and out of a period
    start = datetime(a_year_of_its_own(), 6, 1, tzinfo=UTC)
    end = start + timedelta(days=7)
    mine, other = _id("branch"), _id("branch")
    queue, agent = Owner(OwnerKind.BRANCH, mine), Owner(OwnerKind.AGENT, _id("A"))
    early = a_case(opened_at=start - timedelta(days=1), context={"branch": mine})
    own = a_case(opened_at=start + timedelta(days=1), context={"branch": mine}, owner=agent)
    routed = a_case(opened_at=start + timedelta(days=2), context={"branch": other}, owner=queue, owner_branch=mine,
                    status=CaseStatus.IN_PROGRESS)
    resolved = a_case(opened_at=start + timedelta(days=3), context={"branch": mine}, owner=agent,
                      status=CaseStatus.RESOLVED, resolved_at=end)
    elsewhere = a_case(opened_at=start + timedelta(days=4), context={"branch": other})
    late = a_case(opened_at=end, context={"branch": other}, owner=queue, owner_branch=mine)
    for case in (early, own, routed, resolved, elsewhere, late):
        stores.cases.open_case(case)

    def listed(**query: Any) -> list[str]:
        return [c.case_id for c in stores.cases.list_cases(
            CaseQuery(opened_from=start, opened_before=end, limit=50, **query)).cases]

    # Then each list holds its cases of the period only, newest first
    assert listed() == [elsewhere.case_id, resolved.case_id, routed.case_id, own.case_id]          # all-cases
    assert listed(status=frozenset({"resolved"})) == [resolved.case_id]                             # by-status
    assert listed(status=frozenset({"open", "in_progress"})) == [elsewhere.case_id, routed.case_id, own.case_id]
    assert listed(branch=mine) == [resolved.case_id, own.case_id]                                   # by-branch
    assert listed(owner=str(agent)) == [resolved.case_id, own.case_id]                              # by-owner
    assert listed(owner=str(agent), status=frozenset({"open"})) == [own.case_id]
    assert listed(in_branch=mine) == [resolved.case_id, routed.case_id, own.case_id]   # by-branch + by-queue-branch
    assert listed(in_branch=mine, status=frozenset({"in_progress"})) == [routed.case_id]
    assert listed(in_branch=mine, branch=other) == [routed.case_id]
    assert listed(in_branch=mine, owner=str(queue)) == [routed.case_id]
    assert listed(in_branch=other) == [elsewhere.case_id, routed.case_id]       # its customers' cases, wherever queued


def test_paging_through_a_period_yields_each_of_its_cases_once_newest_first(stores: Stores) -> None:
    # Given a branch's cases and others' in its queue, interleaved in time, in and around a period
    start = datetime(a_year_of_its_own(), 2, 1, tzinfo=UTC)
    end = start + timedelta(hours=12)
    mine, other = _id("branch"), _id("branch")
    queue = Owner(OwnerKind.BRANCH, mine)
    own = [a_case(opened_at=start + timedelta(hours=2 * i - 3), context={"branch": mine}) for i in range(9)]
    routed = [a_case(opened_at=start + timedelta(hours=2 * i - 2), context={"branch": other}, owner=queue,
                     owner_branch=mine) for i in range(9)]
    for case in (*own, *routed):
        stores.cases.open_case(case)
    in_period = sorted((c for c in (*own, *routed) if start <= c.opened_at < end), key=lambda c: c.opened_at,
                       reverse=True)
    assert len(in_period) == 12

    # When each list is read page by page with a small limit, Then each case of the period comes once, in order
    for limit in (1, 2, 5):
        assert _every_page(stores, CaseQuery(in_branch=mine, opened_from=start, opened_before=end, limit=limit)) == [
            c.case_id for c in in_period], limit
        assert _every_page(stores, CaseQuery(branch=mine, opened_from=start, opened_before=end, limit=limit)) == [
            c.case_id for c in in_period if c in own], limit
        assert _every_page(stores, CaseQuery(opened_from=start, opened_before=end, limit=limit)) == [
            c.case_id for c in in_period], limit


def test_a_cursor_is_refused_by_a_list_of_another_period(stores: Stores) -> None:
    start = datetime(2031, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    branch = _id("branch")
    cases = [a_case(opened_at=start + timedelta(days=i), context={"branch": branch}) for i in range(3)]
    for case in cases:
        stores.cases.open_case(case)
    page = stores.cases.list_cases(CaseQuery(branch=branch, opened_from=start, limit=1))
    assert [c.case_id for c in page.cases] == [cases[2].case_id] and page.cursor

    with pytest.raises(InvalidRequest):
        stores.cases.list_cases(CaseQuery(branch=branch, opened_before=cases[2].opened_at, cursor=page.cursor))
    assert [c.case_id for c in stores.cases.list_cases(
        CaseQuery(branch=branch, opened_from=start, cursor=page.cursor)).cases] == [cases[1].case_id, cases[0].case_id]


def test_a_customers_earlier_cases_are_found(stores: Stores) -> None:
    customer = _id("cust")
    old, recent = a_case(customer_id=customer, opened_at=NOW - timedelta(days=100)), a_case(customer_id=customer)
    stores.cases.open_case(old)
    stores.cases.open_case(recent)
    assert [c.case_id for c in stores.cases.cases_of(customer, NOW - timedelta(days=90))] == [recent.case_id]


def test_the_cases_opened_in_a_period_are_read_oldest_first_by_branch_or_owner(stores: Stores) -> None:
    # A period of its own, far from the other tests' cases (the all-cases index is one partition).
    start = datetime(2031, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    end = start + timedelta(days=1)
    branch, other_branch = _id("branch"), _id("branch")
    agent = Owner(OwnerKind.AGENT, _id("A"))
    before = a_case(opened_at=start - timedelta(microseconds=1), context={"branch": branch})
    first = a_case(opened_at=start, context={"branch": branch}, owner=agent)
    other = a_case(opened_at=start + timedelta(hours=3), context={"branch": other_branch}, owner=agent)
    last = a_case(opened_at=end - timedelta(microseconds=1), context={"branch": branch},
                  status=CaseStatus.RESOLVED, resolved_at=end, recovered=True, resurvey_id="x~resurvey")
    at_end = a_case(opened_at=end, context={"branch": branch})
    for case in (at_end, last, other, first, before):
        stores.cases.open_case(case)
    mine = {c.case_id for c in (before, first, other, last, at_end)}

    everything = [c for c in stores.cases.opened_between(start, end) if c.case_id in mine]
    assert [c.case_id for c in everything] == [first.case_id, other.case_id, last.case_id]
    assert everything[2] == last                                           # the whole case, as stored
    assert [c.case_id for c in stores.cases.opened_between(start, end, branch=branch)] == [first.case_id,
                                                                                          last.case_id]
    assert [c.case_id for c in stores.cases.opened_between(start, end, owner=str(agent))] == [first.case_id,
                                                                                             other.case_id]
    assert [c.case_id for c in stores.cases.opened_between(start, end, branch=other_branch,
                                                           owner=str(agent))] == [other.case_id]
    assert stores.cases.opened_between(start, end, branch=_id("branch")) == []


def test_a_branchs_cases_opened_in_a_period_are_those_of_its_list_oldest_first(stores: Stores) -> None:
    start = datetime(2034, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 1000)
    end = start + timedelta(days=1)
    mine, other = _id("branch"), _id("branch")
    queue = Owner(OwnerKind.BRANCH, mine)
    own = a_case(opened_at=start + timedelta(hours=1), context={"branch": mine})
    in_queue = a_case(opened_at=start + timedelta(hours=2), context={"branch": mine}, owner=queue, owner_branch=mine)
    routed = a_case(opened_at=start, context={"branch": other}, owner=queue, owner_branch=mine)
    late_routed = a_case(opened_at=end, context={"branch": other}, owner=queue, owner_branch=mine)
    elsewhere = a_case(opened_at=start + timedelta(hours=3), context={"branch": other})
    for case in (own, in_queue, routed, late_routed, elsewhere):
        stores.cases.open_case(case)

    def opened(**scope: str) -> list[str]:
        return [c.case_id for c in stores.cases.opened_between(start, end, **scope)]

    listed = stores.cases.list_cases(CaseQuery(in_branch=mine, limit=50)).cases
    assert opened(in_branch=mine) == [routed.case_id, own.case_id, in_queue.case_id]
    assert set(opened(in_branch=mine)) == {c.case_id for c in listed if c.opened_at < end}    # what it lists
    assert opened(in_branch=mine, branch=other) == [routed.case_id]                 # the other's, in its queue
    assert opened(in_branch=mine, branch=mine) == [own.case_id, in_queue.case_id]
    assert opened(in_branch=other) == [routed.case_id, elsewhere.case_id]
    assert opened(in_branch=mine, owner=str(queue)) == [routed.case_id, in_queue.case_id]


# --- scores ---------------------------------------------------------------------------------------

def contribution(answer: str, *keys: BucketKey, score: int = 9) -> Contribution:
    return Contribution(answer, tuple((key, counts_for(score)) for key in keys))


def test_scores_add_up_and_read_by_day_range(stores: Stores) -> None:
    dim = _id("procedure")
    d1, d2, d3 = (BucketKey(dim, day, "claim_payment") for day in ("2026-11-20", "2026-11-21", "2026-11-22"))
    other = BucketKey(dim, "2026-11-21", "address_change")

    assert stores.scores.count([contribution(_id("a"), d1, score=10), contribution(_id("a"), d2, score=3)], 1, NOW) == 2
    stores.scores.count([contribution(_id("a"), d2, score=9), contribution(_id("a"), d2, score=8),
                         contribution(_id("a"), other, score=7), contribution(_id("a"), d3, score=9)], 1, NOW)

    assert stores.scores.read(dim, "2026-11-21", "2026-11-21") == [
        (other, Counts(1, 0, 1, 0, 7, 49)), (d2, Counts(3, 1, 1, 1, 20, 154))]
    assert [key.day for key, _ in stores.scores.read(dim, "2026-11-20", "2026-11-22")] == [
        "2026-11-20", "2026-11-21", "2026-11-21", "2026-11-22"]
    assert stores.scores.read(_id("procedure"), "2026-11-20", "2026-11-22") == []


def test_an_answer_counts_once_however_its_batch_comes_back(stores: Stores) -> None:
    dim = _id("branch")
    key = BucketKey(dim, "2026-11-21", "Tokyo")
    a, b, c = (contribution(_id("answer"), key, score=s) for s in (10, 2, 9))

    assert stores.scores.count([a, b], 1, NOW) == 2
    assert stores.scores.count([a, b], 1, NOW) == 0            # the same batch again
    assert stores.scores.count([b, c], 1, NOW) == 1            # another batch holding one counted answer
    assert stores.scores.read(dim, "2026-11-21", "2026-11-21") == [(key, Counts(3, 2, 0, 1, 21, 185))]


def test_a_batch_of_more_than_a_transaction_counts_each_answer_once_when_retried(stores: Stores) -> None:
    dim = _id("agent")
    items = [contribution(_id("answer"), BucketKey(dim, "2026-11-21", f"A-{i:03d}")) for i in range(130)]

    assert stores.scores.count(items, 1, NOW) == 130
    assert stores.scores.count(items, 1, NOW) == 0

    rows = stores.scores.read(dim, "2026-11-21", "2026-11-21")
    assert len(rows) == 130 and {counts for _, counts in rows} == {counts_for(9)}


def test_shards_spread_a_bucket_and_reads_add_them_up(stores: Stores) -> None:
    dim = _id("procedure")
    key = BucketKey(dim, "2026-11-21", "claim_payment", "csat")
    # Twelve batches, each on the shard of its first answer: three on each of the four shards (ids
    # chosen by their shard, so shard 0 always has some; random ids missed it 3 % of the time).
    ids: dict[int, list[str]] = {shard: [] for shard in range(4)}
    while any(len(found) < 3 for found in ids.values()):
        answer_id = _id("answer")
        ids[stable_shard(answer_id, 4)].append(answer_id)
    for answer_id in [i for found in ids.values() for i in found[:3]]:
        stores.scores.count([contribution(answer_id, key, score=5)], 4, NOW)
    rows = stores.scores.read(dim, "2026-11-21", "2026-11-21", 4)
    assert len(rows) == 4 and {k for k, _ in rows} == {key}
    assert len(stores.scores.read(dim, "2026-11-21", "2026-11-21", 1)) == 1          # shard 0 alone
    assert sum((c for _, c in rows), Counts()).n == 12


def test_values_with_unusual_characters_stay_in_their_day(stores: Stores) -> None:
    dim = _id("branch")
    keys = [BucketKey(dim, "2026-11-21", value) for value in ("東京#1", "\U0001F600 branch", "z#nps#3")]
    keys.append(BucketKey(dim, "2026-11-22", "a"))

    stores.scores.count([contribution(_id("answer"), key) for key in keys], 1, NOW)

    assert {key.value for key, _ in stores.scores.read(dim, "2026-11-21", "2026-11-21")} == {
        "東京#1", "\U0001F600 branch", "z#nps#3"}


def test_the_group_without_a_value_reads_back_as_itself(stores: Stores) -> None:
    dim = _id("agent")
    none, named = BucketKey(dim, "2026-11-21", NO_VALUE, "csat"), BucketKey(dim, "2026-11-21", "A-102")

    stores.scores.count([contribution(_id("answer"), none, score=2), contribution(_id("answer"), named)], 1, NOW)

    assert sorted(stores.scores.read(dim, "2026-11-21", "2026-11-21"), key=lambda row: row[0].value) == [
        (none, counts_for(2)), (named, counts_for(9))]


# --- DynamoDB only: request budget, errors, binding -----------------------------------------------

@pytest.fixture
def dynamo_stores(dynamo: DynamoWorld) -> Stores:
    return _dynamo_stores(dynamo)


@pytest.fixture
def requests_made(dynamo: DynamoWorld) -> Iterator[list[str]]:
    """Names of the DynamoDB API calls made through the shared client during the test."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = dynamo.connection.client.meta.events
    events.register("before-call.dynamodb", record)
    yield calls
    events.unregister("before-call.dynamodb", record)


def test_request_budget_per_call(dynamo_stores: Stores, requests_made: list[str]) -> None:
    conversations = dynamo_stores.conversations
    survey = a_survey()

    conversations.open_survey(survey, NOW)
    assert requests_made == ["TransactWriteItems"]

    requests_made.clear()
    conversations.record_delivery(survey.survey_id, "sent", 3, None, message_sid=SID)
    assert requests_made == ["UpdateItem"]
    requests_made.clear()                     # the first "delivered" also counts the outcome
    conversations.record_delivery(survey.survey_id, "delivered", 4, None, message_sid=SID)
    assert requests_made == ["UpdateItem", "UpdateItem"]
    survey = conversations.get_survey(survey.survey_id) or survey     # as the reply path reads it

    requests_made.clear()
    conversations.update_survey(survey, answered(survey), [an_answer(survey), an_answer(survey, "comment")],
                                ContactChange(release=True, opted_out=True, audit="sms:STOP"), NOW)
    assert requests_made == ["TransactWriteItems"]


@pytest.fixture
def queries_sent(dynamo: DynamoWorld) -> Iterator[list[dict[str, Any]]]:
    """The parameters of each Query made through the shared client during the test."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    events = dynamo.connection.client.meta.events
    events.register("provide-client-params.dynamodb.Query", record)
    yield sent
    events.unregister("provide-client-params.dynamodb.Query", record)


def test_a_period_is_a_key_condition_on_each_index_a_list_reads(dynamo_stores: Stores,
                                                                 queries_sent: list[dict[str, Any]]) -> None:
    # When a branch's list (two indexes) and an owner's (one, with filters) of a period are read
    start = datetime(2031, 3, 1, tzinfo=UTC)
    dynamo_stores.cases.list_cases(CaseQuery(in_branch=_id("branch"), opened_from=start,
                                             opened_before=start + timedelta(days=1)))
    dynamo_stores.cases.list_cases(CaseQuery(owner="agent:A-1", status=frozenset({"open"}), opened_from=start))

    # Then each Query bounds opened_at, the index's range key, in its key condition and never in a filter
    assert [q["IndexName"] for q in queries_sent] == ["by-branch", "by-queue-branch", "by-owner"]
    for query in queries_sent:
        opened = [name for name, attribute in query["ExpressionAttributeNames"].items() if attribute == "opened_at"]
        assert len(opened) == 1 and opened[0] in query["KeyConditionExpression"], query
        assert opened[0] not in query.get("FilterExpression", ""), query
        assert query["ScanIndexForward"] is False


def test_a_customers_surveys_are_one_query_of_their_index_newest_first(dynamo_stores: Stores,
                                                                       queries_sent: list[dict[str, Any]]) -> None:
    customer = _id("cust")
    for day in range(5):
        dynamo_stores.conversations.record_suppressed(a_survey(
            customer_id=customer, created_at=NOW - timedelta(days=day), status=SurveyStatus.SUPPRESSED,
            reason="cooldown", open_until=None, phone=None))
    queries_sent.clear()

    found = dynamo_stores.conversations.surveys_of(customer, NOW - timedelta(days=30), 3)

    assert [s.created_at for s in found] == [NOW - timedelta(days=day) for day in range(3)]
    assert [(q["IndexName"], q["Limit"], q["ScanIndexForward"], "FilterExpression" in q) for q in queries_sent] == [
        ("by-customer", 3, False, False)]


def test_reading_every_procedures_outcomes_queries_each_month_and_never_scans(
        dynamo_stores: Stores, requests_made: list[str]) -> None:
    # Given counters of five procedures in a 30-day period that spans two months
    from chalicelib.adapters.dynamo.outcomes import OUTCOME_SHARDS

    procedures = [_id("proc").replace("-", "_") for _ in range(5)]
    for procedure in procedures:
        for day in (0, 10, 29):
            _suppressed_on(dynamo_stores, procedure, datetime(2032, 3, 20, tzinfo=UTC) + timedelta(days=day))
    requests_made.clear()

    # When the outcomes of every procedure are read over the period (as /v1/scores and /v1/outcomes do)
    rows = dynamo_stores.outcomes.read_outcomes("2032-03-20", "2032-04-18")

    # Then one Query per month and shard, no Scan of the whole table
    assert "Scan" not in requests_made
    assert requests_made == ["Query"] * (2 * OUTCOME_SHARDS)
    assert len([row for row in rows if row[0] in procedures]) == 15


def _raw_item(world: DynamoWorld, table: str, **key: str) -> dict[str, Any]:
    found = world.raw.get_item(TableName=world.settings.table_name(table), ConsistentRead=True,
                               Key={name: {"S": value} for name, value in key.items()})
    return dict(found["Item"])


def _epoch(at: datetime) -> dict[str, str]:
    return {"N": str(int(at.timestamp()))}


def test_outcome_counters_carry_their_month_and_expire_a_counter_retention_after_their_day(
        dynamo: DynamoWorld, dynamo_stores: Stores) -> None:
    from chalicelib.adapters.dynamo.outcomes import OUTCOME_SHARDS

    # Given a survey suppressed, then another delivered, on 2026-11-21 (the pinned clock)
    procedure = _id("proc").replace("-", "_")
    _suppressed_on(dynamo_stores, procedure, NOW)
    sent = a_survey(procedure=procedure)
    dynamo_stores.conversations.open_survey(sent, NOW)
    dynamo_stores.conversations.update_survey(sent, replace(sent, status=SurveyStatus.SENT, message_sid=SID), now=NOW)
    dynamo_stores.conversations.record_delivery(sent.survey_id, "delivered", 4, None, message_sid=SID, now=NOW)

    # Then each counter names its month and shard (the by-month index), and expires 400 days
    # (KOE_COUNTER_RETENTION_DAYS' default) after the end of its day, whichever write made it
    expires = _epoch(datetime(2026, 11, 22, tzinfo=UTC) + timedelta(days=400))
    assert dynamo.settings.counter_retention_days == 400
    for outcome in ("suppressed:cooldown", "sent", "delivered"):
        item = _raw_item(dynamo, "outcomes", procedure=procedure, bucket=f"2026-11-21#{outcome}")
        assert item["month_shard"] == {"S": f"2026-11#{stable_shard(procedure, OUTCOME_SHARDS)}"}, outcome
        assert item["expires_at"] == expires, outcome


def test_score_counters_expire_a_counter_retention_after_their_day(dynamo: DynamoWorld,
                                                                    dynamo_stores: Stores) -> None:
    # Given answers counted on 2026-11-21 and 2026-11-19 (counted late, at the pinned clock)
    dim = _id("branch")
    today, earlier = BucketKey(dim, "2026-11-21", "Tokyo"), BucketKey(dim, "2026-11-19", "Tokyo")
    dynamo_stores.scores.count([contribution(_id("a"), today), contribution(_id("a"), earlier)], 1, NOW)

    # Then each counter expires 400 days after the end of its own day, not of the day it was counted
    for key, end in ((today, datetime(2026, 11, 22, tzinfo=UTC)), (earlier, datetime(2026, 11, 20, tzinfo=UTC))):
        item = _raw_item(dynamo, "scores", dimension=dim, bucket=key.sort_key)
        assert item["expires_at"] == _epoch(end + timedelta(days=400)), key.day


def test_a_release_of_a_slot_held_elsewhere_costs_two_requests(dynamo_stores: Stores,
                                                                requests_made: list[str]) -> None:
    old = a_survey()
    dynamo_stores.conversations.open_survey(old, NOW)
    later = NOW + 2 * WINDOW
    open_as_dispatch_does(dynamo_stores, a_survey(contact_key=old.contact_key, open_until=later + WINDOW), later)
    requests_made.clear()

    dynamo_stores.conversations.update_survey(old, replace(old, status=SurveyStatus.EXPIRED, open_until=None),
                                              contact=ContactChange(release=True), now=later)

    assert requests_made == ["TransactWriteItems", "TransactWriteItems"]


class _Response:
    status_code = 400
    headers: ClassVar[dict[str, str]] = {}


@pytest.fixture
def throttled(dynamo: DynamoWorld) -> Iterator[None]:
    """Every call answers ThrottlingException (a before-call handler's answer replaces the request)."""
    def refuse(**_: Any) -> tuple[_Response, dict[str, Any]]:
        return _Response(), {"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}

    events = dynamo.connection.client.meta.events
    events.register_first("before-call.dynamodb", refuse)
    yield
    events.unregister("before-call.dynamodb", refuse)


@pytest.mark.parametrize("call", [
    lambda s: s.conversations.open_survey(a_survey(), NOW),
    lambda s: s.conversations.update_survey(a_survey(), answered(a_survey())),
    lambda s: s.conversations.record_suppressed(a_survey(status=SurveyStatus.SUPPRESSED)),
    lambda s: s.conversations.record_delivery(_id("srv"), "sent", 1, None, message_sid=SID),
    lambda s: s.conversations.get_survey(_id("srv")),
    lambda s: s.conversations.open_surveys_due(NOW, 10),
    lambda s: s.cases.open_case(a_case()),
    lambda s: s.cases.save(a_case(), 1),
    lambda s: s.scores.count([contribution(_id("a"), BucketKey("procedure", "2026-11-21", "x"))], 1, NOW),
    lambda s: s.scores.read("procedure", "2026-11-21", "2026-11-21"),
], ids=["open_survey", "update_survey", "record_suppressed", "record_delivery", "get_survey",
        "open_surveys_due", "open_case", "save_case", "scores_add", "scores_read"])
def test_throttling_becomes_storage_throttled(dynamo_stores: Stores, throttled: None,
                                              call: Callable[[Stores], object]) -> None:
    with pytest.raises(StorageThrottled):
        call(dynamo_stores)


def test_every_model_shares_the_one_connection(dynamo: DynamoWorld) -> None:
    from chalicelib.adapters import dynamo as adapter

    for logical, model in adapter.MODELS.items():
        assert model.Meta.table_name == dynamo.settings.table_name(logical)
        assert model._get_connection().connection is dynamo.connection


def test_stores_refuse_to_be_built_for_other_settings(dynamo: DynamoWorld) -> None:
    from chalicelib.adapters import dynamo as adapter

    other = replace(dynamo.settings, resource_prefix="koe-elsewhere-")
    for store in (adapter.DynamoConversationStore, adapter.DynamoCaseStore, adapter.DynamoScoreStore):
        with pytest.raises(RuntimeError):
            store(other)



# --- the event ledger: the first payload per event_id --------------------------------------------

def test_the_event_ledger_keeps_the_first_payload_and_names_conflicts(stores: Stores) -> None:
    a, b, c = _id("evt"), _id("evt"), _id("evt")
    assert stores.events.record_first([(a, "fp-1"), (b, "fp-2")], NOW) == set()
    assert stores.events.record_first([(a, "fp-1")], NOW) == set()                 # the same again
    assert stores.events.record_first([(a, "fp-9"), (b, "fp-2"), (c, "fp-3")], NOW) == {a}
    assert stores.events.record_first([(c, "fp-3"), (a, "fp-1")], NOW) == set()     # c was recorded
    assert stores.events.record_first([(a, "fp-1"), (a, "fp-9")], NOW) == {a}      # the first is kept


def test_the_event_ledger_takes_more_than_one_transaction_of_events(stores: Stores) -> None:
    events = [(_id("evt"), f"fp-{n}") for n in range(150)]
    assert stores.events.record_first(events, NOW) == set()
    changed = [(event_id, "other") for event_id, _ in events[95:105]]
    assert stores.events.record_first(events[:90] + changed, NOW) == {event_id for event_id, _ in changed}


def test_the_event_ledger_request_budget(dynamo_stores: Stores, requests_made: list[str]) -> None:
    events = [(_id("evt"), f"fp-{n}") for n in range(100)]
    dynamo_stores.events.record_first(events, NOW)
    assert requests_made == ["TransactWriteItems"]

    requests_made.clear()
    dynamo_stores.events.record_first(events[:50] + [(events[50][0], "other")], NOW)
    assert requests_made == ["TransactWriteItems", "TransactWriteItems"]     # one refused, sent again


# --- a comment after the answer (the web survey's later comments) --------------------------------

def test_every_comment_after_the_answer_is_kept_with_its_time(stores: Stores) -> None:
    """Before: a later comment replaced the earlier one."""
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    score = an_answer(survey, text="3")
    stores.conversations.update_survey(survey, answered(survey), [score], ContactChange(release=True), NOW)
    first = an_answer(survey, "comment", text="解約します", received_at=NOW + timedelta(hours=1))
    later = an_answer(survey, "comment", text="and nobody called", received_at=NOW + timedelta(hours=1, seconds=1))

    assert stores.conversations.save_comment(first) is CommentSaved.SAVED
    assert stores.conversations.save_comment(later) is CommentSaved.SAVED
    again = replace(later, received_at=NOW + timedelta(days=1))
    assert stores.conversations.save_comment(again) is CommentSaved.SAME       # a reload: kept once

    assert stores.read_comments(survey.survey_id) == [first, later]
    assert stores.read_answer(survey.survey_id, "comment") == later            # the latest, at the top
    assert stores.read_answer(survey.survey_id, "score") == score
    assert stores.conversations.get_survey(survey.survey_id) == answered(survey)


def test_a_comment_joins_the_one_written_with_the_answer(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    with_answer = an_answer(survey, "comment")
    stores.conversations.update_survey(survey, answered(survey), [an_answer(survey), with_answer])
    another = an_answer(survey, "comment", text="changed my mind", received_at=NOW + timedelta(hours=3))

    assert stores.conversations.save_comment(another) is CommentSaved.SAVED

    assert stores.read_comments(survey.survey_id) == [with_answer, another]


def test_a_comment_written_with_a_move_joins_those_already_there(stores: Stores) -> None:
    """The SMS "why?" and the web page's comments go one way: none refuses or replaces another."""
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    scored = replace(survey, status=SurveyStatus.DELIVERED, step=Step.AWAIT_COMMENT, score=3)
    stores.conversations.update_survey(survey, scored, [an_answer(survey, text="3")])
    stores.conversations.update_survey(scored, answered(scored), [an_answer(survey, "comment", text="slow")])
    late = an_answer(survey, "comment", text="still slow", received_at=NOW + timedelta(hours=2))

    assert stores.conversations.save_comment(late) is CommentSaved.SAVED

    assert [c.text for c in stores.read_comments(survey.survey_id)] == ["slow", "still slow"]


def test_a_survey_keeps_at_most_max_comments(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, answered(survey), [an_answer(survey)])
    for n in range(MAX_COMMENTS):
        comment = an_answer(survey, "comment", text=f"comment {n}", received_at=NOW + timedelta(minutes=n))
        assert stores.conversations.save_comment(comment) is CommentSaved.SAVED

    refused = an_answer(survey, "comment", text="one more", received_at=NOW + timedelta(hours=2))
    assert stores.conversations.save_comment(refused) is CommentSaved.FULL

    assert [c.text for c in stores.read_comments(survey.survey_id)] == [f"comment {n}" for n in range(MAX_COMMENTS)]


def test_a_survey_answered_late_takes_comments(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, replace(answered(survey), status=SurveyStatus.LATE), [an_answer(survey)])

    assert stores.conversations.save_comment(an_answer(survey, "comment", late=True)) is CommentSaved.SAVED

    assert stores.read_comments(survey.survey_id) == [an_answer(survey, "comment", late=True)]


@pytest.mark.parametrize("status", [SurveyStatus.SENDING, SurveyStatus.DELIVERED, SurveyStatus.EXPIRED,
                                    SurveyStatus.OPTED_OUT])
def test_a_comment_on_a_survey_that_is_not_answered_is_refused_and_nothing_is_written(
        stores: Stores, status: SurveyStatus) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    if status is not SurveyStatus.SENDING:
        stores.conversations.update_survey(survey, replace(survey, status=status))

    assert stores.conversations.save_comment(an_answer(survey, "comment")) is CommentSaved.CLOSED

    assert stores.read_answer(survey.survey_id, "comment") is None


def test_a_comment_on_an_unknown_survey_is_refused_and_creates_nothing(stores: Stores) -> None:
    ghost = a_survey()

    assert stores.conversations.save_comment(an_answer(ghost, "comment")) is CommentSaved.CLOSED

    assert stores.read_answer(ghost.survey_id, "comment") is None
    assert stores.conversations.get_survey(ghost.survey_id) is None


def test_save_comment_stores_comments_only(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    stores.conversations.update_survey(survey, answered(survey), [an_answer(survey)])

    with pytest.raises(ValueError):
        stores.conversations.save_comment(an_answer(survey, "score", score=10))

    assert stores.read_answer(survey.survey_id, "score") == an_answer(survey)


def test_save_comment_costs_one_request(dynamo_stores: Stores, requests_made: list[str]) -> None:
    survey = a_survey()
    dynamo_stores.conversations.open_survey(survey, NOW)
    dynamo_stores.conversations.update_survey(survey, answered(survey), [an_answer(survey)])
    requests_made.clear()

    dynamo_stores.conversations.save_comment(an_answer(survey, "comment"))

    assert requests_made == ["TransactWriteItems"]


def test_a_comment_item_from_before_threads_keeps_its_comment_when_another_comes(
        dynamo: DynamoWorld, dynamo_stores: Stores, requests_made: list[str]) -> None:
    """An item written before comments were kept each (its one comment at the top level, no list):
    the next comment seeds the list with it, in a second write after reading it."""
    from chalicelib.adapters.dynamo.survey_items import answer_to_item

    survey = a_survey()
    dynamo_stores.conversations.open_survey(survey, NOW)
    dynamo_stores.conversations.update_survey(survey, answered(survey), [an_answer(survey)])
    old = an_answer(survey, "comment", text="written before threads")
    answer_to_item(old, timedelta(days=400)).save()
    new = an_answer(survey, "comment", text="a new one", received_at=NOW + timedelta(hours=1))
    requests_made.clear()

    assert dynamo_stores.conversations.save_comment(new) is CommentSaved.SAVED

    assert requests_made == ["TransactWriteItems", "GetItem", "TransactWriteItems"]
    assert dynamo_stores.read_comments(survey.survey_id) == [old, new]


def test_save_comment_throttled_becomes_storage_throttled(dynamo_stores: Stores, throttled: None) -> None:
    with pytest.raises(StorageThrottled):
        dynamo_stores.conversations.save_comment(an_answer(a_survey(), "comment"))


def test_each_comment_reaches_the_stream_as_an_answer_to_process(dynamo: DynamoWorld,
                                                                  dynamo_stores: Stores) -> None:
    """The first comment is an INSERT, each later one a MODIFY whose new image carries it at the
    top level: on_response takes every one (is_new_answer), each as its own answer."""
    from chalicelib.adapters import dynamo as adapter

    survey = a_survey()
    dynamo_stores.conversations.open_survey(survey, NOW)
    dynamo_stores.conversations.update_survey(survey, answered(survey), [an_answer(survey)])
    dynamo_stores.conversations.save_comment(an_answer(survey, "comment", text="first"))
    dynamo_stores.conversations.save_comment(an_answer(survey, "comment", text="second"))

    records = [r for r in _stream_records(dynamo, "responses")
               if r["dynamodb"]["Keys"]["survey_id"]["S"] == survey.survey_id]

    seen = [(r["eventName"], r["dynamodb"]["Keys"]["question"]["S"]) for r in records]
    assert seen == [("INSERT", "score"), ("INSERT", "comment"), ("MODIFY", "comment")]
    assert all(adapter.is_new_answer(r["eventName"], r["dynamodb"]["NewImage"]) for r in records)
    assert [adapter.answer_from_stream_image(r["dynamodb"]["NewImage"]).text for r in records[1:]] == [
        "first", "second"]
    assert not adapter.is_new_answer("MODIFY", records[0]["dynamodb"]["NewImage"])      # a score: never
    assert not adapter.is_new_answer("REMOVE", None)


def _stream_records(world: DynamoWorld, table: str) -> list[dict[str, Any]]:
    """Every record on a table's stream so far (DynamoDB Local), shard by shard, oldest first."""
    import boto3

    streams = boto3.client("dynamodbstreams", endpoint_url=world.settings.dynamodb_endpoint,
                           region_name=world.settings.region)
    arn = world.raw.describe_table(TableName=world.settings.table_name(table))["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(1000):
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            iterator = page.get("NextShardIterator")
            if not page["Records"] or not iterator:
                break
    return records


def test_two_answers_racing_from_one_read_record_one_score(dynamo_stores: Stores) -> None:
    """Two web posts (or a post and an SMS) close the same open survey at the same moment: the
    conditional writes let exactly one through; the other is refused (StaleSurvey, or a
    transaction conflict: StorageThrottled) and writes nothing."""
    import threading

    survey = a_survey()
    dynamo_stores.conversations.open_survey(survey, NOW)
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def answer(score: int) -> None:
        closed = replace(answered(survey), score=score)
        start.wait()
        try:
            dynamo_stores.conversations.update_survey(survey, closed, [an_answer(survey, score=score, text=str(score))],
                                                      ContactChange(release=True), NOW)
            outcomes[score] = "written"
        except (StaleSurvey, StorageThrottled) as exc:
            outcomes[score] = type(exc).__name__

    threads = [threading.Thread(target=answer, args=(score,)) for score in (2, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()).count("written") == 1, outcomes
    winner = next(score for score, outcome in outcomes.items() if outcome == "written")
    stored_score = dynamo_stores.read_answer(survey.survey_id, "score")
    assert stored_score is not None and stored_score.score == winner
    stored = dynamo_stores.conversations.get_survey(survey.survey_id)
    assert stored is not None and stored.score == winner


def test_a_contact_from_before_the_bounded_history_reads_back_and_moves_to_it(dynamo_stores: Stores) -> None:
    from chalicelib.adapters import dynamo as adapter

    key = _id("ck")
    adapter.ContactItem(key, surveyed={"claim_payment#2026-10-01T00:00:00+00:00",
                                       "claim_payment#2026-11-01T00:00:00+00:00"}).save()
    contact = dynamo_stores.conversations.get_contact(key)
    assert contact is not None and contact.history_version == 0
    assert contact.last_surveyed == {"claim_payment": datetime(2026, 11, 1, tzinfo=UTC)}

    survey = a_survey(contact_key=key, procedure="new_policy")
    open_as_dispatch_does(dynamo_stores, survey, NOW)
    item = adapter.ContactItem.get(key, consistent_read=True)
    assert item.surveyed is None and item.history_version == 1 and len(item.survey_log) == 3



def test_a_late_answer_reads_back_late_and_the_survey_moves_from_expired_to_late(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    expired = replace(survey, status=SurveyStatus.EXPIRED, step=Step.DONE, open_until=None, reason="no_reply")
    stores.conversations.update_survey(survey, expired, contact=ContactChange(release=True), now=NOW)
    late = an_answer(survey, late=True)
    stores.conversations.update_survey(expired, replace(expired, status=SurveyStatus.LATE, score=3), [late], now=NOW)

    stored = stores.read_answer(survey.survey_id, "score")
    assert stored is not None and stored.late is True
    assert stores.conversations.get_survey(survey.survey_id).status is SurveyStatus.LATE   # type: ignore[union-attr]


def test_a_survey_sent_again_loses_the_last_messages_delivery_state_and_may_change_channel(stores: Stores) -> None:
    survey = a_survey()
    stores.conversations.open_survey(survey, NOW)
    sent = replace(survey, status=SurveyStatus.SENT, message_sid=SID)
    stores.conversations.update_survey(survey, sent)
    assert stores.conversations.record_delivery(survey.survey_id, "undelivered", 4, "30006", message_sid=SID)
    again = replace(sent, status=SurveyStatus.SENDING, message_sid=None, resends=1, channel="email",
                    channel_reason="US:sms_two_way; then email: undelivered_30006")
    stores.conversations.update_survey(sent, again)

    stored = stores.conversations.get_survey(survey.survey_id)
    assert stored is not None
    assert (stored.delivery_status, stored.delivery_error, stored.resends, stored.channel) == (None, None, 1, "email")
    assert stores.conversations.record_delivery(survey.survey_id, "sent", 3, None, message_sid="SM" + "7" * 32)



def test_each_outcome_is_counted_once_in_the_write_that_reaches_it(stores: Stores) -> None:
    procedure = _id("proc").replace("-", "_")
    day = NOW.date().isoformat()
    sent = a_survey(procedure=procedure)
    stores.conversations.open_survey(sent, NOW)                                   # sending: not an outcome
    as_sent = replace(sent, status=SurveyStatus.SENT, message_sid=SID)
    stores.conversations.update_survey(sent, as_sent, now=NOW)
    with pytest.raises(StaleSurvey):                                              # refused: counts nothing
        stores.conversations.update_survey(sent, as_sent, now=NOW)
    stores.conversations.update_survey(as_sent, answered(as_sent), contact=ContactChange(release=True), now=NOW)
    stores.conversations.record_suppressed(a_survey(procedure=procedure, status=SurveyStatus.SUPPRESSED,
                                                    reason="cooldown", open_until=None))
    stores.conversations.open_survey(a_survey(procedure=procedure, status=SurveyStatus.SCHEDULED), NOW)

    rows = stores.outcomes.read_outcomes(day, day, procedure)
    # Answered without a delivery report: the answer proves it arrived (`delivered` in the same write).
    assert sorted((outcome, n) for _, _, outcome, n in rows) == [
        ("answered", 1), ("delivered", 1), ("scheduled", 1), ("sent", 1), ("suppressed:cooldown", 1)]
    assert all(p == procedure and d == day for p, d, _, _ in rows)
    assert stores.outcomes.read_outcomes("2000-01-01", "2000-01-02", procedure) == []
    assert set(rows) <= set(stores.outcomes.read_outcomes(day, day))              # without a procedure: all


def _suppressed_on(stores: Stores, procedure: str, at: datetime) -> None:
    stores.conversations.record_suppressed(a_survey(procedure=procedure, status=SurveyStatus.SUPPRESSED,
                                                    reason="cooldown", open_until=None, created_at=at))


def test_every_procedures_outcomes_are_read_over_a_period_across_months(stores: Stores) -> None:
    # Given five procedures' counters on days around a month's end (and one day either side of the period)
    procedures = [_id("proc").replace("-", "_") for _ in range(5)]
    days = [datetime(2031, 1, 29, 23, 59, tzinfo=UTC), datetime(2031, 1, 30, 9, tzinfo=UTC),
            datetime(2031, 1, 31, 23, 59, tzinfo=UTC), datetime(2031, 2, 1, 0, 0, tzinfo=UTC),
            datetime(2031, 2, 3, 0, 0, tzinfo=UTC)]
    for procedure in procedures:
        for at in days:
            _suppressed_on(stores, procedure, at)
    _suppressed_on(stores, procedures[0], days[1])

    # When every procedure is read over 2031-01-30 .. 2031-02-02
    rows = [row for row in stores.outcomes.read_outcomes("2031-01-30", "2031-02-02") if row[0] in procedures]

    # Then each procedure's counters of the period come back, from both months, the ends included
    assert rows == sorted(
        (procedure, day, "suppressed:cooldown", 2 if (procedure, day) == (procedures[0], "2031-01-30") else 1)
        for procedure in procedures for day in ("2031-01-30", "2031-01-31", "2031-02-01"))
    assert [row for row in stores.outcomes.read_outcomes("2031-02-02", "2031-02-02")
            if row[0] in procedures] == []


def test_the_surveys_waiting_for_their_send_window_now_are_counted_until_released(stores: Stores) -> None:
    procedure = _id("proc").replace("-", "_")
    night = [a_survey(procedure=procedure, status=SurveyStatus.SCHEDULED, send_at=NOW + timedelta(hours=h),
                      open_until=NOW + timedelta(hours=h) + WINDOW) for h in (7, 8)]
    for survey in night:
        stores.conversations.open_survey(survey, NOW)
    assert stores.outcomes.waiting(procedure) == 2
    assert stores.outcomes.waiting() >= 2                                         # every procedure's
    released = replace(night[0], status=SurveyStatus.SENDING, send_at=None)
    stores.conversations.update_survey(night[0], released, now=NOW)
    assert stores.outcomes.waiting(procedure) == 1                                 # one released: one waits
    assert stores.outcomes.waiting(_id("proc")) == 0


def test_delivered_is_counted_once_per_survey_by_the_carriers_report_or_else_the_reply(stores: Stores) -> None:
    procedure = _id("proc").replace("-", "_")
    day = NOW.date().isoformat()
    conversations = stores.conversations

    def sent_survey() -> Survey:
        survey = a_survey(procedure=procedure)
        conversations.open_survey(survey, NOW)
        as_sent = replace(survey, status=SurveyStatus.SENT, message_sid=SID)
        conversations.update_survey(survey, as_sent, now=NOW)
        return as_sent

    def delivered() -> int:
        return sum(n for _, _, outcome, n in stores.outcomes.read_outcomes(day, day, procedure)
                   if outcome == "delivered")

    # The carrier says delivered, then the customer answers: one, from the report.
    first = sent_survey()
    assert conversations.record_delivery(first.survey_id, "sent", 3, None, message_sid=SID, now=NOW)
    assert delivered() == 0
    assert conversations.record_delivery(first.survey_id, "delivered", 4, None, message_sid=SID, now=NOW)
    assert not conversations.record_delivery(first.survey_id, "delivered", 4, None, message_sid=SID, now=NOW)
    reported = conversations.get_survey(first.survey_id)
    assert reported is not None
    conversations.update_survey(reported, answered(reported), contact=ContactChange(release=True), now=NOW)
    assert delivered() == 1
    # The customer answers before the report: one, from the answer; the late report adds nothing.
    second = sent_survey()
    conversations.update_survey(second, answered(second), contact=ContactChange(release=True), now=NOW)
    assert conversations.record_delivery(second.survey_id, "delivered", 4, None, message_sid=SID, now=NOW)
    assert delivered() == 2
    # An answer saved from a copy read before the report came is refused (StaleSurvey: read again).
    third = sent_survey()
    assert conversations.record_delivery(third.survey_id, "delivered", 4, None, message_sid=SID, now=NOW)
    with pytest.raises(StaleSurvey):
        conversations.update_survey(third, answered(third), contact=ContactChange(release=True), now=NOW)
    assert delivered() == 3
    # Undelivered is no delivery.
    fourth = sent_survey()
    assert conversations.record_delivery(fourth.survey_id, "undelivered", 4, "30006", message_sid=SID, now=NOW)
    assert delivered() == 3
