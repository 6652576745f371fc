"""Comment insight through app.py: on_response puts each comment on the insight queue; the
analyse_comments handler reads an SQS batch (partial failures reported); GET /v1/comments answers
each CX role within its scope, and no one else."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.comment_insight import Insight, Sentiment
from chalicelib.errors import AnalyserUnavailable
from chalicelib.resources import DEFAULT_PREFIX, consumed_by, physical
from tests.functional.conftest import SURVEY, response_image
from tests.functional.test_cases_api import ADMIN, AGENT, OTHER_MANAGER, body, call
from tests.services.conftest import event

INSIGHT_QUEUE = physical(DEFAULT_PREFIX, consumed_by("analyse_comments").name)
COMMENT = "The branch staff were rude and nobody called me back."


def answered(koe: Any) -> None:
    """The sample survey answered by SMS: 8, then the comment; the stream hands both to on_response."""
    koe.dispatch(event())
    koe.reply("8", sid="SM" + "a" * 32)
    koe.reply(COMMENT, sid="SM" + "b" * 32)
    koe.components.comment_analyser.reads[COMMENT] = Insight(Sentiment.NEGATIVE, -0.85, ("branch staff", "rude"))
    koe.stream(response_image(score=8), response_image(question="comment", score=8, text={"S": COMMENT}))


def analyse(koe: Any, *bodies: str) -> dict[str, Any]:
    batch = koe.client.events.generate_sqs_event(message_bodies=list(bodies), queue_name=INSIGHT_QUEUE)
    for n, record in enumerate(batch["Records"]):          # the generator gives every record one id
        record["messageId"] = f"msg-{n}"
    return koe.client.lambda_.invoke("analyse_comments", batch).payload


def test_the_stream_puts_each_comment_on_the_insight_queue_without_its_text(koe: Any) -> None:
    answered(koe)
    [request] = koe.components.insight_requests.bodies()
    assert json.loads(request)["survey_id"] == SURVEY and "rude" not in request


def test_analyse_comments_stores_what_a_comment_says_and_reports_a_failed_record(koe: Any) -> None:
    answered(koe)
    request = koe.components.insight_requests.bodies()[0]
    assert analyse(koe, request) == {"batchItemFailures": []}
    stored = koe.components.comment_insights.get(SURVEY)
    assert (stored.sentiment, stored.key_phrases, stored.survey_score) == (
        Sentiment.NEGATIVE, ("branch staff", "rude"), 8)
    koe.components.comment_insights.insights.clear()
    koe.components.comment_analyser.fail_with = AnalyserUnavailable("comprehend ThrottlingException")
    assert analyse(koe, request) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}


def test_the_cx_team_reads_the_comments_and_their_groups(koe: Any) -> None:
    answered(koe)
    analyse(koe, *koe.components.insight_requests.bodies())
    answer = call(koe, "GET", "/v1/comments?group=agent", ADMIN)
    assert answer.status_code == 200, answer.body
    found = body(answer)
    [comment] = found["comments"]
    assert (comment["comment"], comment["sentiment"], comment["key_phrases"], comment["phone"]) == (
        COMMENT, "negative", ["branch staff", "rude"], "+1******0123")
    assert found["groups"] == {"dimension": "agent", "within_branch": None, "rows": [
        {"value": "A-102", "n": 1, "positive": 0, "neutral": 0, "negative": 1, "mixed": 0,
         "top_phrases": [{"phrase": "branch staff", "count": 1}, {"phrase": "rude", "count": 1}]}]}
    assert [c["survey_id"] for c in body(call(koe, "GET", "/v1/comments", AGENT))["comments"]] == [SURVEY]
    assert body(call(koe, "GET", "/v1/comments", OTHER_MANAGER))["comments"] == []


def test_the_comments_are_the_cx_teams_alone_and_a_bad_parameter_is_named(koe: Any) -> None:
    assert koe.get("/v1/comments").status_code == 403                     # the operations API key
    assert koe.get("/v1/comments", key=None).status_code == 401
    refused = call(koe, "GET", "/v1/comments?sentiment=furious", ADMIN)
    assert refused.status_code == 400 and "sentiment" in body(refused)["error"]


def test_a_filter_no_event_can_carry_is_named_before_the_groups_are_read(koe: Any) -> None:
    # Values a group is looked up by (DynamoDB refuses a sort key over 1,024 bytes with a 500)
    for query, error in (
            (f"procedure={'x' * 3000}", "procedure is lower_snake_case, e.g. claim_payment"),
            (f"group=branch&branch={'b' * 3000}", "branch is at most 256 characters, as the event's context"),
            (f"group=agent&agent={'a' * 257}", "agent is at most 256 characters, as the event's context")):
        refused = call(koe, "GET", f"/v1/comments?{query}", ADMIN)
        assert (refused.status_code, body(refused)) == (400, {"error": error, "code": "invalid_request"}), query
    assert call(koe, "GET", f"/v1/comments?group=agent&agent={'a' * 256}", ADMIN).status_code == 200
