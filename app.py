"""koe's entry points, in the order of the loop. Each turns its trigger into plain data, calls one
service, and turns the outcome into a response. Everything else lives in chalicelib/."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate, Response

from chalicelib import http
from chalicelib.bootstrap import components
from chalicelib.observability import flush
from chalicelib.resources import RESPONSES_STREAM_PLACEHOLDER

app = Chalice(app_name="koe")
FORM = ["application/x-www-form-urlencoded"]


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    try:
        return get_response(event)
    finally:
        flush()


@app.middleware("http")
def require_api_key(request: Any, get_response: Any) -> Any:
    if request.path.startswith("/v1/") and not http.api_key_valid(
            request.headers.get("x-api-key"), components().settings.api_keys):
        return http.unauthorized()
    return get_response(request)


# 1. A procedure completed: operations systems post events (EventBridge feeds the same queue).
@app.route("/v1/events", methods=["POST"])
def ingest_http() -> Response:
    from chalicelib.services.ingest import ingest

    answer = ingest(app.current_request.json_body, components().intake_queue)
    return Response(answer.body, status_code=answer.status_code)


# 2. Survey it: eligibility, channel, send or suppress; one bad record never fails the batch.
@app.on_sqs_message(queue="koe-dev-intake", batch_size=10)
def dispatch(event: Any) -> dict[str, Any]:
    from chalicelib.services import batch
    from chalicelib.services.dispatch import read_message

    c = components()
    c.idempotency.register_context(event.context)
    records = [batch.QueueRecord(r.to_dict()["messageId"], r.body,
                                 int(r.to_dict()["attributes"].get("ApproximateReceiveCount", "1")))
               for r in event]
    failures = batch.process(records, lambda body: c.dispatch_once(read_message(body)),
                             c.dead_letters, c.settings.max_receives)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# 3. The customer answers by SMS: keywords, score, "why?", thanks.
@app.route("/twilio/sms", methods=["POST"], content_types=FORM)
def sms_inbound() -> Response:
    from chalicelib.services.handle_reply import InboundSms, handle_reply

    c, request = components(), app.current_request
    params = http.form_params(request.raw_body)
    refused = http.verify_twilio(c.signature, c.settings.sms_webhook_url, params, request.headers)
    if refused:
        return refused
    if not params.get("MessageSid") or not params.get("From"):
        return http.bad_request("MessageSid and From are required")
    sms = InboundSms(params["MessageSid"], params["From"], params.get("Body", ""))
    return http.twiml(handle_reply(sms, c.reply_deps))


# 4. The carrier reports delivery: never backwards; 21610 opts the contact out.
@app.route("/twilio/status", methods=["POST"], content_types=FORM)
def sms_status() -> Response:
    from chalicelib.services.record_status import StatusCallback, UnknownStatus, record_status

    c, request = components(), app.current_request
    params = http.form_params(request.raw_body)
    url = http.signed_url(c.settings.status_callback_url, request.query_params)
    refused = http.verify_twilio(c.signature, url, params, request.headers)
    if refused:
        return refused
    survey_id = (request.query_params or {}).get("survey")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not survey_id or not status or not params.get("MessageSid"):
        return http.bad_request("survey, MessageSid and MessageStatus are required")
    callback = StatusCallback(survey_id, params["MessageSid"], status, params.get("ErrorCode") or None)
    try:
        outcome = record_status(callback, c.conversations, c.clock)
    except UnknownStatus:
        return http.bad_request(f"unknown MessageStatus {status!r}")
    return Response({"outcome": outcome}, status_code=200)


# 5. Answers are stored: scores move, detractors open a case, the CX team is alerted.
@app.on_dynamodb_record(stream_arn=RESPONSES_STREAM_PLACEHOLDER, batch_size=100)
def on_response(event: Any) -> dict[str, int]:
    from chalicelib.adapters.dynamo import answer_from_stream_image
    from chalicelib.services.on_answers import batch_token, on_answers

    records = [r for r in event if r.event_name == "INSERT" and r.new_image]
    answers = [answer_from_stream_image(r.new_image) for r in records]
    return on_answers(answers, batch_token([r.sequence_number for r in records]), components().answer_deps)


# 6. Every minute: close conversations whose window has passed.
@app.schedule(Rate(1, unit=Rate.MINUTES))
def tick(event: Any) -> dict[str, int]:
    from chalicelib.services.tick import expire_conversations

    c = components()
    return expire_conversations(c.conversations, c.clock())


# 7. The CX team reads scores.
@app.route("/v1/scores", methods=["GET"])
def get_scores() -> Response:
    from chalicelib.services.scores import InvalidQuery, parse_query, report

    c = components()
    try:
        query = parse_query(app.current_request.query_params, c.today())
    except InvalidQuery as exc:
        return http.bad_request(str(exc))
    return Response(report(query, c.scores), status_code=200)
