"""Reading what SES reports (domain/email_feedback.py) from the recorded payloads in tests/events/:
event publishing (`eventType`), identity notifications (`notificationType`), the SNS envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.domain.email_feedback import (
    SURVEY_TAG,
    Feedback,
    FeedbackKind,
    UnreadableFeedback,
    read,
    survey_of,
    survey_tag,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample(name: str) -> str:
    return (EVENTS / name).read_text(encoding="utf-8")


def test_a_permanent_bounce_is_hard_and_opts_out_with_its_audit():
    feedback = read(sample("ses-event-bounce-permanent.json"))
    assert feedback == Feedback(FeedbackKind.HARD_BOUNCE, ("li.mei@example.com",),
                                "0106019a7f3c2b90-2f6e8d1a-3b4c-4d5e-8f9a-0b1c2d3e4f50-000000", "Permanent/General")
    assert feedback.opts_out and feedback.audit == "ses:bounce"


def test_a_transient_bounce_is_soft_and_opts_nothing_out():
    feedback = read(sample("ses-event-bounce-transient.json"))
    assert (feedback.kind, feedback.recipients, feedback.detail) == (
        FeedbackKind.SOFT_BOUNCE, ("hanako@example.jp",), "Transient/MailboxFull")
    assert not feedback.opts_out and feedback.audit == ""


def test_a_complaint_opts_out_and_a_delivery_does_not():
    complaint = read(sample("ses-event-complaint.json"))
    assert (complaint.kind, complaint.recipients, complaint.audit) == (
        FeedbackKind.COMPLAINT, ("hanako@example.jp",), "ses:complaint")
    delivery = read(sample("ses-event-delivery.json"))
    assert (delivery.kind, delivery.recipients, delivery.opts_out) == (
        FeedbackKind.DELIVERY, ("hanako@example.jp",), False)


def test_an_identity_notification_inside_an_sns_envelope_is_read_the_same():
    feedback = read(sample("sns-envelope-ses-complaint.json"))
    assert (feedback.kind, feedback.recipients, feedback.audit) == (
        FeedbackKind.COMPLAINT, ("taro.yamada@example.jp",), "ses:complaint")


def test_the_notification_shape_of_a_bounce_is_read_like_the_event_shape():
    event = json.loads(sample("ses-event-bounce-permanent.json"))
    notification = {"notificationType": "Bounce", **{k: v for k, v in event.items() if k != "eventType"}}
    assert read(json.dumps(notification)) == read(sample("ses-event-bounce-permanent.json"))


def test_an_undetermined_bounce_is_soft():
    body = {"eventType": "Bounce", "mail": {}, "bounce": {"bounceType": "Undetermined",
                                                          "bouncedRecipients": [{"emailAddress": "a@example.jp"}]}}
    assert read(json.dumps(body)).kind is FeedbackKind.SOFT_BOUNCE


def test_recipients_are_bare_lower_case_and_once_each():
    body = {"eventType": "Complaint", "mail": {}, "complaint": {"complainedRecipients": [
        {"emailAddress": "Hanako Yamada <Hanako@Example.JP>"}, {"emailAddress": "hanako@example.jp"},
        {"emailAddress": "not an address"}, {"nothing": 1}, "odd"]}}
    assert read(json.dumps(body)).recipients == ("hanako@example.jp",)


@pytest.mark.parametrize("kind", ["Open", "Click", "Reject", "AmazonSnsSubscriptionSucceeded"])
def test_other_events_and_the_setup_notification_ask_for_nothing(kind):
    feedback = read(json.dumps({"eventType" if kind != "AmazonSnsSubscriptionSucceeded" else "notificationType": kind,
                                "mail": {"messageId": "m-1"}}))
    assert (feedback.kind, feedback.recipients, feedback.opts_out) == (FeedbackKind.OTHER, (), False)


@pytest.mark.parametrize("message", [
    "", "not json", "[1, 2]", json.dumps({"hello": "world"}), json.dumps({"eventType": 3}),
    json.dumps({"eventType": "Bounce", "mail": {}}),                       # a bounce without its object
    json.dumps({"Type": "Notification", "Message": "not json"}),
])
def test_anything_else_is_unreadable(message):
    with pytest.raises(UnreadableFeedback):
        read(message)


def test_a_send_names_the_survey_koe_tagged_the_invitation_with():
    feedback = read(sample("ses-event-send.json"))
    assert (feedback.kind, feedback.survey_id, feedback.recipients) == (
        FeedbackKind.SEND, "claims-2026-000123-paid", ())
    assert feedback.records_a_send and not feedback.opts_out


def test_a_delivery_names_its_survey_too_and_an_untagged_one_none():
    tagged = json.loads(sample("ses-event-delivery.json"))
    tagged["mail"]["tags"][SURVEY_TAG] = [survey_tag("保険-2026/11")]
    assert read(json.dumps(tagged)).survey_id == "保険-2026/11"
    assert read(sample("ses-event-delivery.json")).survey_id is None
    assert not read(sample("ses-event-delivery.json")).records_a_send


@pytest.mark.parametrize("tags", [None, [], {"koe_survey": "i-x"}, {"koe_survey": ["i-a", "i-b"]},
                                  {"koe_survey": [3]}, {"koe_survey": ["x-1"]}, {"koe_survey": ["h-zz"]},
                                  {"koe_survey": ["h-ff"]}, {"koe_survey": ["i-a.b"]}])
def test_a_tag_koe_did_not_make_names_no_survey(tags):
    body = {"eventType": "Send", "mail": {"messageId": "m-1", "tags": tags}, "send": {}}
    feedback = read(json.dumps(body))
    assert feedback.kind is FeedbackKind.SEND and feedback.survey_id is None and not feedback.records_a_send


@pytest.mark.parametrize("survey_id", ["claims-2026-000123-paid", "a_b-C9", "a.b:c/d", "保険の支払い", "x" * 128,
                                       "é" * 63])
def test_every_survey_id_a_tag_can_hold_reads_back_and_fits_ses_rules(survey_id):
    tag = survey_tag(survey_id)
    assert tag is not None and len(tag) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in tag)
    assert survey_of(tag) == survey_id


def test_an_id_too_long_for_a_tag_is_not_tagged():
    assert survey_tag("保" * 128) is None          # 384 bytes: 770 hex characters
