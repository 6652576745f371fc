"""koe's entry points, in the order of the loop. Each turns its trigger into plain data, calls one
service, and turns the outcome into a response. Everything else lives in chalicelib/."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Rate, Response

from chalicelib import http, page_errors
from chalicelib.bootstrap import wired
from chalicelib.bootstrap.functions import AnalyseComments, Api, DeliverAlerts, Dispatch, OnResponse, OnSesEvent, Tick
from chalicelib.domain.principal import Principal, Role
from chalicelib.observability import flush
from chalicelib.resources import (
    DEFAULT_PREFIX,
    EVENT_CLAIM_S,
    RESPONSES_STREAM_PLACEHOLDER,
    consumed_by,
    physical,
    topic_consumed_by,
)

app = Chalice(app_name="koe")
# The customer's pages answer every error as a page in their language; registered before the edge's
# middleware, it is the outer one and sees the edge's own refusals too (chalicelib/page_errors.py).
app.register_middleware(page_errors.error_pages(lambda: wired(Api).pages), "http")
edge = http.Edge(app, authenticators=lambda: wired(Api).authenticators)
FORM = ["application/x-www-form-urlencoded"]
JSON = ["application/json"]
XML = ["text/xml", "application/xml"]
# RFC 8058's one-click unsubscribe POST: form-encoded, or multipart as the RFC prefers.
UNSUBSCRIBE_POST = [*FORM, "multipart/form-data"]
ANY = ["*/*"]        # a GET has no body: whatever Content-Type it claims (or none), it is no 415


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    try:
        return get_response(event)
    finally:
        flush()


# 1. A procedure completed: operations systems post events (EventBridge feeds the same queue).
@edge.route("/v1/events", methods=["POST"], roles=[Role.OPERATIONS])
def ingest_http() -> Response:
    from chalicelib.services.ingest import ingest

    answer = ingest(http.json_body(edge.request()), wired(Api).ingest_deps)
    return Response(answer.body, status_code=http.INGEST_STATUS[answer.outcome])


# 2. Survey it: eligibility, channel, send or suppress; one bad record never fails the batch.
@app.on_sqs_message(queue=physical(DEFAULT_PREFIX, consumed_by("dispatch").name), batch_size=10)
def dispatch(event: Any) -> dict[str, Any]:
    from chalicelib.services import batch
    from chalicelib.services.budget import Budget

    c = wired(Dispatch)
    c.idempotency.register_context(event.context)
    records = [batch.QueueRecord.from_lambda(r.to_dict()) for r in event]
    failures = batch.process(records, lambda body: c.dispatch_once(c.read_event(body)),
                             c.dead_letters, c.settings.max_receives, on_dead_letter=c.give_up_dispatch,
                             budget=Budget.of(event.context), settled=c.dispatch_settled,
                             in_progress=c.intake_visibility, in_progress_s=EVENT_CLAIM_S,
                             in_progress_receives=consumed_by("dispatch").max_receive_count,
                             marks=c.intake_marks)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# 3. The customer answers by SMS: keywords, score, "why?", thanks.
@edge.route("/twilio/sms", methods=["POST"], content_types=FORM, roles=http.PUBLIC)
def sms_inbound() -> Response:
    from chalicelib.services.handle_reply import InboundSms, handle_reply

    c, request = wired(Api), edge.request()
    params = http.form_params(request.raw_body)
    http.verify_twilio(c.signature, c.settings.sms_webhook_url, params, request.headers)
    http.require(params, "MessageSid", "From")
    http.twilio_ids(params)
    sms = InboundSms(params["MessageSid"], params["From"], params.get("Body", ""))
    return http.twiml(handle_reply(sms, c.reply_deps))


# 3'. Or in LINE (Japan): a tapped score or written words, answered in the chat (a reply, else a push).
@edge.route("/line/webhook", methods=["POST"], content_types=JSON, roles=http.PUBLIC)
def line_webhook() -> Response:
    from chalicelib.services.line_webhook import handle_events

    c, request = wired(Api), edge.request()
    events = http.verify_line(c.line_webhook, request.raw_body, request.headers)
    return Response({"outcomes": handle_events(events, c.line_deps)}, status_code=200)


# 3'''. WeChat (China, where it is on): the service account's event pushes, signed with its Token.
# An unfollow, 退订 or a blocked template message opts the openid out of WeChat; other texts are kept.
@edge.route("/wechat/events", methods=["GET", "POST"], content_types=[*XML, *ANY], roles=http.PUBLIC)
def wechat_events() -> Response:
    from chalicelib.services.wechat_events import handle_notice

    c, request = wired(Api), edge.request()
    params = dict(request.query_params or {})
    if request.method == "GET":             # the console's server check: echostr back when signed
        return http.text(http.verify_wechat_echo(c.wechat_webhook, params, c.clock()))
    notice = http.verify_wechat(c.wechat_webhook, params, request.raw_body, c.clock())
    handle_notice(notice, c.reply_deps)
    return http.text("success")             # what WeChat wants back (else it pushes again)


# 3''. Or on the web page a link SMS or an email opens (the signed token is the proof). GET only shows.
@edge.route("/s/{token}", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def web_survey_page(token: str) -> Response:
    from chalicelib.services.web_survey import show

    c, request = wired(Api), edge.request()
    score = request.query_params.get("score") if request.query_params else None
    page = show(token, score, request.headers.get("accept-language"), c.web_deps)
    return http.html(page.html, http.WEB_STATUS[page.outcome], c.pages.content_security_policy)


@edge.route("/s/{token}", methods=["POST"], content_types=FORM, roles=http.PUBLIC)
def web_survey_answer(token: str) -> Response:
    from chalicelib.services.web_survey import submit

    c, request = wired(Api), edge.request()
    page = submit(token, request.raw_body, request.headers.get("accept-language"), c.web_deps)
    return http.html(page.html, http.WEB_STATUS[page.outcome], c.pages.content_security_policy)


# 3'''. An email's unsubscribe link: GET asks, POST (the page's button, or a mail client's one-click
# POST, RFC 8058) opts the address out of email.
@edge.route("/u/{token}", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def unsubscribe_page(token: str) -> Response:
    from chalicelib.services.unsubscribe import show

    c, request = wired(Api), edge.request()
    page = show(token, request.headers.get("accept-language"), c.unsubscribe_deps)
    return http.html(page.html, http.WEB_STATUS[page.outcome], c.pages.content_security_policy)


@edge.route("/u/{token}", methods=["POST"], content_types=UNSUBSCRIBE_POST, roles=http.PUBLIC)
def unsubscribe(token: str) -> Response:
    from chalicelib.services.unsubscribe import unsubscribe as opt_out

    c, request = wired(Api), edge.request()
    page = opt_out(token, request.headers.get("accept-language"), c.unsubscribe_deps)
    return http.html(page.html, http.WEB_STATUS[page.outcome], c.pages.content_security_policy)


# 4. The carrier reports delivery: never backwards; 21610 opts the contact out.
@edge.route("/twilio/status", methods=["POST"], content_types=FORM, roles=http.PUBLIC)
def sms_status() -> Response:
    from chalicelib.services.record_status import StatusCallback, record_status

    c, request = wired(Api), edge.request()
    params = http.form_params(request.raw_body)
    http.verify_twilio(c.signature, http.signed_url(c.settings.status_callback_url, request.query_params),
                       params, request.headers)
    fields = {**params, "survey": request.query_params.get("survey", "") if request.query_params else "",
              "MessageStatus": params.get("MessageStatus") or params.get("SmsStatus", "")}
    http.require(fields, "survey", "MessageSid", "MessageStatus")
    http.twilio_ids(fields)
    callback = StatusCallback(fields["survey"], fields["MessageSid"], fields["MessageStatus"],
                              params.get("ErrorCode") or None)
    return Response({"outcome": record_status(callback, c.status_deps)}, status_code=200)


# 4'. China SMS: Alibaba pushes its delivery reports and the customers' replies, each a JSON array, to
# the URLs given in its console. The push is not signed: the token the URL ends with (the Alibaba
# secret's receipt_token) is the proof. Answered with Alibaba's success body, else Alibaba pushes again.
ALIBABA_RECEIVED = {"code": 0, "msg": "接收成功"}


@edge.route("/alibaba/sms/reports/{token}", methods=["POST"], content_types=JSON, roles=http.PUBLIC)
def alibaba_sms_reports(token: str) -> Response:
    from chalicelib.domain.cn_sms import parse_reports
    from chalicelib.services.cn_sms_receipts import record_reports

    c, request = wired(Api), edge.request()
    http.verify_token(c.alibaba_receipt_token(), token, "/alibaba/sms/reports")
    reports = http.alibaba_receipts(request.raw_body, parse_reports, "/alibaba/sms/reports")
    return Response({**ALIBABA_RECEIVED, "outcomes": record_reports(reports, c.cn_receipt_deps)}, status_code=200)


@edge.route("/alibaba/sms/replies/{token}", methods=["POST"], content_types=JSON, roles=http.PUBLIC)
def alibaba_sms_replies(token: str) -> Response:
    from chalicelib.domain.cn_sms import parse_replies
    from chalicelib.services.cn_sms_receipts import record_replies

    c, request = wired(Api), edge.request()
    http.verify_token(c.alibaba_receipt_token(), token, "/alibaba/sms/replies")
    ups = http.alibaba_receipts(request.raw_body, parse_replies, "/alibaba/sms/replies")
    return Response({**ALIBABA_RECEIVED, "outcomes": record_replies(ups, c.cn_receipt_deps)}, status_code=200)


# 4'. SES reports what became of an email: a hard bounce or a complaint opts the address out of email.
@app.on_sns_message(topic=physical(DEFAULT_PREFIX, topic_consumed_by("on_ses_event").name))
def on_ses_event(event: Any) -> dict[str, Any]:
    from chalicelib.services.email_feedback import record_feedback

    return record_feedback(event.message, wired(OnSesEvent).feedback_deps)


# 5. Answers are stored: scores move, detractors open a case, the CX team is alerted. A fault stops
# the batch at the first answer not done: its record is reported, and Lambda resumes from it.
@app.on_dynamodb_record(stream_arn=RESPONSES_STREAM_PLACEHOLDER, batch_size=100)
def on_response(event: Any) -> dict[str, Any]:
    from chalicelib.adapters.dynamo import answer_from_stream_image, is_new_answer
    from chalicelib.services.on_answers import on_answers

    records = [r for r in event if is_new_answer(r.event_name, r.new_image)]
    progress = on_answers([answer_from_stream_image(r.new_image) for r in records], wired(OnResponse).answer_deps)
    failed = [] if progress.resume_at is None else [records[progress.resume_at].sequence_number]
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


# 5'. People hear about cases: each alert by email and chat, once per destination; a failed record
# backs off exponentially, then dead-letters with its reason.
@app.on_sqs_message(queue=physical(DEFAULT_PREFIX, consumed_by("deliver_alerts").name), batch_size=10)
def deliver_alerts(event: Any) -> dict[str, Any]:
    from chalicelib.services.batch import QueueRecord
    from chalicelib.services.budget import Budget
    from chalicelib.services.deliver_alerts import deliver_batch

    failures = deliver_batch([QueueRecord.from_lambda(r.to_dict()) for r in event], wired(DeliverAlerts).alert_deps,
                             Budget.of(event.context))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# 5''. Each comment is read for its sentiment and key phrases (Comprehend in AWS, an offline analyser
# locally) and counted per group and day; a strongly negative one may open a case.
@app.on_sqs_message(queue=physical(DEFAULT_PREFIX, consumed_by("analyse_comments").name), batch_size=10)
def analyse_comments(event: Any) -> dict[str, Any]:
    from chalicelib.services.batch import QueueRecord
    from chalicelib.services.comment_insight import analyse_batch

    failures = analyse_batch([QueueRecord.from_lambda(r.to_dict()) for r in event], wired(AnalyseComments).insight_deps)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# 6. Every minute: release scheduled surveys whose send window opened; close ended conversations;
# climb the cases' escalation ladders, send closing messages, ask again.
@app.schedule(Rate(1, unit=Rate.MINUTES))
def tick(event: Any) -> dict[str, int]:
    from chalicelib.services.budget import Budget
    from chalicelib.services.case_schedule import work_cases
    from chalicelib.services.tick import run_jobs
    from chalicelib.services.tick import tick as run_schedule

    c, budget = wired(Tick), Budget.of(event.context)
    return run_jobs({"surveys": lambda: run_schedule(c.tick_deps, budget),
                     "cases": lambda: work_cases(c.case_schedule_deps, budget)})


# 7. The CX team reads scores: NPS, CSAT and CES with margins, per group and period, in its scope.
@edge.route("/v1/scores", methods=["GET"], roles=[Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT])
def get_scores() -> Response:
    from chalicelib.services.scores import parse_query, report, scoped

    c = wired(Api)
    query = scoped(parse_query(edge.request().query_params, c.today()), edge.principal())
    return Response(report(query, c.scores, c.outcomes, c.settings.min_sample, c.settings.score_shards),
                    status_code=200)


# 8. What became of the surveys: sent, deferred, suppressed and failed by reason, per procedure.
@edge.route("/v1/outcomes", methods=["GET"], roles=[Role.OPERATIONS])
def get_outcomes() -> Response:
    from chalicelib.services.outcomes import parse_query, report

    c = wired(Api)
    return Response(report(parse_query(edge.request().query_params, c.today()), c.outcomes), status_code=200)


# 9. The CX team works cases; each role sees its own scope (a case outside it does not exist: 404).
CX = [Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT]


@edge.route("/v1/cases", methods=["GET"], roles=CX)
def list_cases() -> Response:
    from chalicelib.services.cases import list_cases as listed

    return Response(listed(edge.principal(), edge.request().query_params, wired(Api).case_deps), status_code=200)


@edge.route("/v1/cases/{case_id}", methods=["GET"], roles=CX)
def get_case(case_id: str) -> Response:
    from chalicelib.services.cases import get_case as read

    return Response(read(edge.principal(), case_id, wired(Api).case_deps), status_code=200)


# claim, assign, contact-attempts, resolve, reopen: each with the version it read (409 when stale).
@edge.route("/v1/cases/{case_id}/{action}", methods=["POST"], roles=CX)
def work_case(case_id: str, action: str) -> Response:
    from chalicelib.services.cases import act

    body = http.json_body(edge.request())
    return Response(act(edge.principal(), case_id, action, body, wired(Api).case_deps), status_code=200)


@edge.route("/v1/case-codes", methods=["GET"], roles=CX)
def get_case_codes() -> Response:
    from chalicelib.services.cases import case_codes

    return Response(case_codes(wired(Api).case_policy), status_code=200)


# 10. Did the loop close? Per procedure: resolved, told, asked again, recovered; within the role's scope.
@edge.route("/v1/case-stats", methods=["GET"], roles=CX)
def get_case_stats() -> Response:
    from chalicelib.services.case_stats import parse_query, report

    c = wired(Api)
    query = parse_query(edge.request().query_params, c.today())
    return Response(report(edge.principal(), query, c.case_stats_deps), status_code=200)


# 11. What customers say: the newest comments with sentiment and key phrases, and the groups' sentiment
# counts and top phrases; within the role's scope.
@edge.route("/v1/comments", methods=["GET"], roles=CX)
def list_comments() -> Response:
    from chalicelib.services.comments import parse_query, report

    c = wired(Api)
    filters = parse_query(edge.request().query_params, c.today())
    return Response(report(edge.principal(), filters, c.comments_deps), status_code=200)


# 11'. Every answer with its context, as a CSV file for a spreadsheet (UTF-8 with BOM), within the
# role's scope; in pages under Lambda's 6 MB response limit (X-Koe-Next-Cursor, Link rel="next").
@edge.route("/v1/responses.csv", methods=["GET"], roles=CX)
def export_responses() -> Response:
    return _responses_csv(edge.principal())


def _responses_csv(principal: Principal) -> Response:
    from chalicelib.services.responses_export import export, parse_query

    c = wired(Api)
    page = export(principal, parse_query(edge.request().query_params, c.today()), c.export_deps)
    return http.csv_file(page.body, page.file_name, next_cursor=page.next_cursor,
                         next_url=f"responses.csv?{page.next_query}" if page.next_query else None)


# 12. The CX dashboard: one page of the above for the signed-in user's scope, in ja/zh/en. A browser
# sends a cookie, not a bearer header: the page checks its session itself (Cognito's hosted UI in
# AWS; locally a link from `python -m devstack token --dashboard`).
@edge.route("/dashboard", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def dashboard() -> Response:
    from chalicelib.services.dashboard import Visit, open_dashboard

    c, request = wired(Api), edge.request()
    visit = Visit(request.query_params or {}, request.headers.get("cookie"), request.headers.get("accept-language"))
    return http.screen(open_dashboard(visit, c.dashboard_deps), c.dashboard_pages.content_security_policy)


# The same CSV file from the dashboard's download link (the session cookie, not a bearer header).
@edge.route("/dashboard/responses.csv", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def dashboard_responses_csv() -> Response:
    from chalicelib.services.dashboard import Visit, signed_in

    c, request = wired(Api), edge.request()
    visit = Visit({}, request.headers.get("cookie"), request.headers.get("accept-language"))
    found = signed_in(visit, c.dashboard_deps)
    if not isinstance(found, Principal):
        return http.screen(found, c.dashboard_pages.content_security_policy)
    return _responses_csv(found)


@edge.route("/dashboard/local-sign-in", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def dashboard_local_sign_in() -> Response:
    from chalicelib.services.dashboard import local_sign_in

    c, request = wired(Api), edge.request()
    shown = local_sign_in(request.query_params, request.headers.get("accept-language"), c.dashboard_deps,
                          request.headers.get("cookie"))
    return http.screen(shown, c.dashboard_pages.content_security_policy)


@edge.route("/dashboard/sign-out", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def dashboard_sign_out() -> Response:
    from chalicelib.services.dashboard import sign_out

    c = wired(Api)
    shown = sign_out(edge.request().headers.get("accept-language"), c.dashboard_deps)
    return http.screen(shown, c.dashboard_pages.content_security_policy)


# 13. The CX team works cases in the browser: the inbox, a case page, each move as a form (CSRF token,
# the version the form was drawn on); signed in as the dashboard is, in the same scope as the API.
@edge.route("/cases", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def case_inbox() -> Response:
    from chalicelib.services.case_workspace import open_inbox

    c = wired(Api)
    return http.screen(open_inbox(_visit(), c.workspace_deps), c.dashboard_pages.content_security_policy)


@edge.route("/cases/{case_id}", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def case_page(case_id: str) -> Response:
    from chalicelib.services.case_workspace import open_case

    c = wired(Api)
    return http.screen(open_case(_visit(), case_id, c.workspace_deps), c.dashboard_pages.content_security_policy)


@edge.route("/cases/{case_id}/{action}", methods=["POST"], content_types=FORM, roles=http.PUBLIC)
def case_form(case_id: str, action: str) -> Response:
    from chalicelib.services.case_workspace import post_case_form

    c = wired(Api)
    shown = post_case_form(_visit(), case_id, action, edge.request().raw_body, c.workspace_deps)
    return http.screen(shown, c.dashboard_pages.content_security_policy)


def _visit() -> Any:
    from chalicelib.services.dashboard import Visit

    request = edge.request()
    return Visit(request.query_params or {}, request.headers.get("cookie"), request.headers.get("accept-language"))


@edge.route("/dashboard/assets/{name}", methods=["GET"], content_types=ANY, roles=http.PUBLIC)
def dashboard_asset(name: str) -> Response:
    found = wired(Api).dashboard_pages.asset(name)
    if found is None:
        return http.error_body(404, "not_found", f"no dashboard asset {name!r}")
    return http.asset(*found)
