"""The survey and answer items: explicit conversions between storage items and domain objects,
the update expression of a survey's change and the condition that it is still as read, the update
that adds a comment to a survey's comment item (`comment_added`), and the responses-stream readers
(`answer_from_stream_image`, `is_new_answer`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.convert import int_or_none, place_from_item, place_to_item, set_or_remove, strings
from chalicelib.adapters.dynamo.models import (
    OPEN_SHARD,
    REMIND_SHARD,
    SEND_SHARD,
    CommentEntry,
    ResponseItem,
    SurveyItem,
)
from chalicelib.domain.exports import month_shard
from chalicelib.domain.model import Answer, Step, Survey, SurveyStatus


def survey_changes(new: Survey) -> list[Action]:
    """What update_survey writes. Closing REMOVEs open_until/open_shard: the survey leaves the
    sparse index."""
    return [
        SurveyItem.status.set(new.status.value),
        SurveyItem.step.set(new.step.value),
        SurveyItem.reprompts.set(new.reprompts),
        set_or_remove(SurveyItem.score, new.score),
        set_or_remove(SurveyItem.message_sid, new.message_sid),
        set_or_remove(SurveyItem.last_inbound_sid, new.last_inbound_sid),
        set_or_remove(SurveyItem.last_reply_key, new.last_reply_key),
        set_or_remove(SurveyItem.reason, new.reason),
        set_or_remove(SurveyItem.open_until, new.open_until),
        set_or_remove(SurveyItem.open_shard, OPEN_SHARD if new.open_until else None),
        set_or_remove(SurveyItem.send_at, new.send_at),
        set_or_remove(SurveyItem.send_shard, SEND_SHARD if new.send_at else None),
        set_or_remove(SurveyItem.remind_at, new.remind_at),
        set_or_remove(SurveyItem.remind_shard, REMIND_SHARD if new.remind_at else None),
        SurveyItem.channel.set(new.channel),
        SurveyItem.channel_reason.set(new.channel_reason),
        set_or_remove(SurveyItem.resends, new.resends or None),
    ] + no_delivery_state_without_a_message(new)


def no_delivery_state_without_a_message(new: Survey) -> list[Action]:
    """A survey sent again has no message yet: the last one's delivery state goes with it, so the
    new message's callbacks rank from the start."""
    if new.message_sid is not None:
        return []
    return [SurveyItem.delivery_status.remove(), SurveyItem.delivery_rank.remove(),
            SurveyItem.delivery_error.remove()]


def unchanged_since(old: Survey) -> Condition:
    same_inbound = (SurveyItem.last_inbound_sid.does_not_exist() if old.last_inbound_sid is None
                    else SurveyItem.last_inbound_sid == old.last_inbound_sid)
    # The send time too: it holds a `sending` survey's lease, so two claims of one send cannot both win.
    same_send_at = (SurveyItem.send_at.does_not_exist() if old.send_at is None
                    else SurveyItem.send_at == old.send_at)
    unchanged: Condition = (SurveyItem.status == old.status.value) & (SurveyItem.step == old.step.value)
    condition: Condition = unchanged & same_inbound & same_send_at
    return condition


def survey_to_item(survey: Survey, retention: timedelta) -> SurveyItem:
    return SurveyItem(
        survey.survey_id, procedure=survey.procedure, customer_id=survey.customer_id,
        contact_key=survey.contact_key, locale=survey.locale, channel=survey.channel,
        channel_reason=survey.channel_reason, status=survey.status.value,
        created_at=survey.created_at, completed_at=survey.completed_at, phone=survey.phone,
        email=survey.email, line_user_id=survey.line_user_id, wechat_openid=survey.wechat_openid,
        context=dict(survey.context),
        reason=survey.reason, step=survey.step.value,
        reprompts=survey.reprompts, score=survey.score, message_sid=survey.message_sid,
        delivery_status=survey.delivery_status, delivery_error=survey.delivery_error,
        last_inbound_sid=survey.last_inbound_sid, last_reply_key=survey.last_reply_key,
        open_shard=OPEN_SHARD if survey.open_until else None, open_until=survey.open_until,
        send_shard=SEND_SHARD if survey.send_at else None, send_at=survey.send_at,
        remind_shard=REMIND_SHARD if survey.remind_at else None, remind_at=survey.remind_at,
        resends=survey.resends or None, scale=survey.scale, definition_version=survey.definition_version,
        customer_place=place_to_item(survey.place), expires_at=survey.created_at + retention)


def survey_from_item(item: SurveyItem) -> Survey:
    return Survey(
        survey_id=item.survey_id, procedure=item.procedure, customer_id=item.customer_id,
        contact_key=item.contact_key, locale=item.locale, channel=item.channel,
        channel_reason=item.channel_reason, status=SurveyStatus(item.status),
        created_at=item.created_at, completed_at=item.completed_at, phone=item.phone,
        email=item.email, line_user_id=item.line_user_id, wechat_openid=item.wechat_openid,
        context=strings(item.context),
        reason=item.reason, step=Step(item.step),
        reprompts=int(item.reprompts or 0), score=int_or_none(item.score),
        message_sid=item.message_sid, delivery_status=item.delivery_status,
        delivery_error=item.delivery_error, last_inbound_sid=item.last_inbound_sid,
        last_reply_key=item.last_reply_key, open_until=item.open_until, send_at=item.send_at,
        remind_at=item.remind_at, resends=int(item.resends or 0), scale=item.scale or "nps",
        definition_version=int(item.definition_version or 1), place=place_from_item(item.customer_place))


def answer_to_item(answer: Answer, retention: timedelta) -> ResponseItem:
    """A score answer carries month_shard (the sparse by-month index: one item per answered
    survey); a comment does not."""
    return ResponseItem(
        answer.survey_id, answer.question, received_at=answer.received_at,
        procedure=answer.procedure, customer_id=answer.customer_id, locale=answer.locale,
        context=dict(answer.context), score=answer.score, text=answer.text,
        threshold=answer.threshold, phone_masked=answer.phone_masked, late=answer.late or None,
        channel=answer.channel or None, scale=answer.scale, definition_version=answer.definition_version,
        customer_place=place_to_item(answer.place), truncated=answer.truncated or None,
        expires_at=answer.received_at + retention,
        month_shard=month_shard(answer.survey_id, answer.received_at) if answer.question == "score" else None)


def comment_entry(answer: Answer) -> CommentEntry:
    return CommentEntry(text=answer.text or "", received_at=answer.received_at, late=answer.late or None,
                        truncated=answer.truncated or None)


def comment_added(answer: Answer, retention: timedelta, earlier: Sequence[Answer] | None = None) -> list[Action]:
    """The UpdateItem actions that add `answer` to its survey's comment item, created by the same
    write when there is none: the survey's frozen context, the comment at the top level (the latest),
    appended to `comments`. `earlier` (None: whatever the item holds) seeds the list instead: the
    one comment of an item written before threads. The TTL follows the latest comment."""
    if answer.question != "comment":
        raise ValueError(f"only comments are added to a thread, not {answer.question!r} answers")
    entry = [comment_entry(answer)]
    thread = (ResponseItem.comments.set([*map(comment_entry, earlier), *entry]) if earlier is not None
              else ResponseItem.comments.set((ResponseItem.comments | []).append(entry)))
    return [
        ResponseItem.received_at.set(answer.received_at), ResponseItem.procedure.set(answer.procedure),
        ResponseItem.customer_id.set(answer.customer_id), ResponseItem.locale.set(answer.locale),
        ResponseItem.context.set(dict(answer.context)), set_or_remove(ResponseItem.score, answer.score),
        set_or_remove(ResponseItem.text, answer.text), set_or_remove(ResponseItem.threshold, answer.threshold),
        set_or_remove(ResponseItem.phone_masked, answer.phone_masked),
        set_or_remove(ResponseItem.late, answer.late or None),
        set_or_remove(ResponseItem.truncated, answer.truncated or None),
        set_or_remove(ResponseItem.channel, answer.channel or None),
        ResponseItem.scale.set(answer.scale), ResponseItem.definition_version.set(answer.definition_version),
        ResponseItem.expires_at.set(answer.received_at + retention), thread,
    ]


def comments_from_item(item: ResponseItem) -> list[Answer]:
    """Every comment of a survey's comment item, oldest first (one, for an item from before threads)."""
    latest = answer_from_item(item)
    if not item.comments:
        return [latest]
    return [replace(latest, text=entry.text, received_at=entry.received_at, late=bool(entry.late),
                    truncated=bool(entry.truncated)) for entry in item.comments]


def answer_from_item(item: ResponseItem) -> Answer:
    return Answer(
        survey_id=item.survey_id, question=item.question, received_at=item.received_at,
        procedure=item.procedure, customer_id=item.customer_id, locale=item.locale,
        context=strings(item.context), score=int_or_none(item.score), text=item.text,
        threshold=int_or_none(item.threshold), phone_masked=item.phone_masked, late=bool(item.late),
        channel=item.channel or "", scale=item.scale or "nps", definition_version=int(item.definition_version or 1),
        place=place_from_item(item.customer_place), truncated=bool(item.truncated))


def answer_from_stream_image(new_image: dict[str, Any]) -> Answer:
    """An Answer from a responses-table stream record's NewImage (DynamoDB JSON)."""
    return answer_from_item(ResponseItem.from_raw_data(new_image))


def is_new_answer(event_name: str, new_image: dict[str, Any] | None) -> bool:
    """A responses-stream record that carries an answer to process: every INSERT, and the MODIFY
    of a comment item (each later comment is appended and becomes its top level: the record carries
    that comment). Score items are never modified (their put is conditional); a MODIFY of one is
    not a new answer."""
    if not new_image:
        return False
    return event_name == "INSERT" or (event_name == "MODIFY" and new_image.get("question", {}).get("S") == "comment")
