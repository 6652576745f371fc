"""The local mailbox: the emails moto's SES has "sent", read back for scripts, tests, the carrier's
`GET /emails?to=` and its mailbox page `GET /mailbox` (never deployed).

moto keeps every message SES accepted and serves them at `{moto_url}/moto-api/data.json`; each is
listed as {"to", "from", "subject", "body", "index"}, decoded from MIME where needed (see
`ses_emails`); a raw message (koe's) also gives its "html" part, SES's "message_id", its "date" and
its "list_unsubscribe" URL and "list_unsubscribe_post" header. `index` is the email's place in the
order SES accepted them (per kind: SendEmail's first, then raw, then templated; koe sends raw only),
so a reader can ask for the emails `since` the last one it read.

data.json is moto's whole state, every attribute of every object it ever made: a month of emails is
tens of megabytes, read for each look. The stack's moto child (devstack/moto_server.py) also serves
`SES_SENT_PATH`, the SES messages alone, filtered there (from an index on, to an address, by id);
`sent_emails` reads that first and falls back to data.json (moto in-process, or another moto).

moto's SES reports no bounce or complaint: `feedback_notification` builds the JSON SES's event
publishing would send to the configuration set's topic for one of those emails, so the carrier can
publish it (POST /emails/feedback) and the local stack shows a bounce end to end.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

MOTO_DATA_PATH = "/moto-api/data.json"
SES_SENT_PATH = "/koe-local/ses-sent"        # the stack's moto child only (devstack/moto_server.py)
SES_KINDS = ("Message", "RawMessage", "TemplateMessage")


def sent_emails(moto_url: str, to: str | None, timeout_s: float = 5.0, since: int = 0,
                message_id: str | None = None) -> list[dict[str, Any]]:
    """The emails moto at `moto_url` has sent, to `to` only when given (any case), from the
    `since`-th on (in the order SES accepted them), only SES's `message_id` when given."""
    base = moto_url.rstrip("/")
    query = urllib.parse.urlencode({"since": since, **({"to": to} if to else {}),
                                    **({"id": message_id} if message_id else {})})
    try:
        with urllib.request.urlopen(f"{base}{SES_SENT_PATH}?{query}", timeout=timeout_s) as response:
            sent = json.loads(response.read())
        return _emails(((int(m["index"]), m) for m in sent["messages"]), to)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    with urllib.request.urlopen(f"{base}{MOTO_DATA_PATH}", timeout=timeout_s) as response:
        found = ses_emails(json.loads(response.read()), to, since)
    return [e for e in found if message_id is None or e["message_id"] == message_id]


def addressed_to(destinations: Any, to: str) -> bool:
    """Whether moto's `destinations` of a message include `to` (any case)."""
    return to.lower() in {parseaddr(a)[1].lower() for a in _addresses(destinations)}


def _addresses(destinations: Any) -> list[str]:
    # moto keeps {"ToAddresses": [...], "CcAddresses": [...]} for SendEmail, a plain list for raw mail.
    if isinstance(destinations, dict):
        return [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])]
    # moto lists raw recipients twice (Destinations and the To header), once bare and once named.
    unique: dict[str, str] = {}
    for address in destinations or []:
        unique.setdefault(parseaddr(address)[1].lower(), address)
    return list(unique.values())


def _raw_email(raw: str) -> tuple[str, str, str]:
    """(to, subject, body) of a raw MIME message; the plain-text part when there is one."""
    parsed = _parse(raw)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    return str(parsed.get("To", "")), str(parsed.get("Subject", "")), body


def _parse(raw: str) -> email.message.EmailMessage:
    # From bytes: parsing a str would turn 8-bit (e.g. Japanese) bodies into \u escapes.
    parsed = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _raw_details(raw: str) -> dict[str, str]:
    """The HTML part and the headers the mailbox page shows of a raw message."""
    parsed = _parse(raw)
    part = parsed.get_body(preferencelist=("html",))
    unsubscribe = str(parsed.get("List-Unsubscribe", "")).strip()
    return {"html": part.get_content() if part is not None else "", "date": str(parsed.get("Date", "")),
            "from_header": str(parsed.get("From", "")),
            "list_unsubscribe": unsubscribe[1:-1] if unsubscribe.startswith("<") else unsubscribe,
            "list_unsubscribe_post": str(parsed.get("List-Unsubscribe-Post", ""))}


def ses_emails(data: dict[str, Any], to: str | None, since: int = 0) -> list[dict[str, Any]]:
    """Sent emails from moto's /moto-api/data.json: ses.Message (SendEmail, v1 and v2),
    ses.RawMessage (SendRawEmail) and ses.TemplateMessage (SendTemplatedEmail, not rendered)."""
    ses = data.get("ses", {})
    messages = [{**item, "kind": kind} for kind in SES_KINDS for item in ses.get(kind, [])]
    return _emails(list(enumerate(messages))[since:], to)


def _emails(messages: Iterable[tuple[int, dict[str, Any]]], to: str | None) -> list[dict[str, Any]]:
    """(index, SES message with its `kind`) -> the emails to `to` (all when None), MIME decoded."""
    found = []
    for index, item in messages:
        kind = item.get("kind")
        if to and not addressed_to(item.get("destinations"), to):
            continue
        recipients = _addresses(item.get("destinations"))
        entry = {"to": ", ".join(recipients), "from": item.get("source", ""),
                 "subject": item.get("subject", ""), "body": item.get("body", ""),
                 "message_id": item.get("id", ""), "html": "", "index": index, "tags": item.get("tags") or {}}
        if kind == "RawMessage":
            _, entry["subject"], entry["body"] = _raw_email(item.get("raw_data", ""))
            entry.update(_raw_details(item.get("raw_data", "")))
        if kind == "TemplateMessage":
            entry["template"], entry["body"] = item.get("template"), item.get("template_data", "")
        found.append(entry)
    return found


# --- SES's feedback, simulated ---------------------------------------------------------------------

# What the carrier can make SES report about an email: (eventType, the event's own object).
FEEDBACK_KINDS = ("bounce", "soft-bounce", "complaint", "delivery")


def feedback_notification(kind: str, sent: dict[str, Any], recipient: str, *, configuration_set: str,
                          region: str = "us-east-1", account_id: str = "123456789012",
                          now: datetime | None = None) -> dict[str, Any]:
    """The JSON SES's event publishing sends to the configuration set's SNS topic when `sent` (an
    entry of `ses_emails`) to `recipient` bounces (hard: Permanent/General, soft: Transient/MailboxFull),
    draws a complaint, or is delivered, or when SES takes it (`send`, published by the local SES itself:
    devstack/moto_server.py) (AWS: "Contents of event data that Amazon SES publishes"). The message tags
    it was sent with (`sent["tags"]`, {name: [value]}) are in `mail.tags`, beside SES's own."""
    if kind not in (*FEEDBACK_KINDS, "send"):
        raise ValueError(f"kind must be one of {', '.join(FEEDBACK_KINDS)}, got {kind!r}")
    at = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    sender = parseaddr(str(sent.get("from", "")))[1]
    mail = {
        "timestamp": at, "source": sender,
        "sourceArn": f"arn:aws:ses:{region}:{account_id}:identity/{sender.rpartition('@')[2]}",
        "sendingAccountId": account_id, "messageId": sent.get("message_id", ""),
        "destination": [recipient], "headersTruncated": False,
        "headers": [{"name": "From", "value": sent.get("from_header") or sender},
                    {"name": "To", "value": recipient}, {"name": "Subject", "value": sent.get("subject", "")}],
        "commonHeaders": {"from": [sent.get("from_header") or sender], "to": [recipient],
                          "messageId": sent.get("message_id", ""), "subject": sent.get("subject", "")},
        "tags": {**(sent.get("tags") or {}), "ses:configuration-set": [configuration_set],
                 "ses:from-domain": [sender.rpartition("@")[2]], "ses:caller-identity": ["koe-local"]},
    }
    if kind == "send":
        return {"eventType": "Send", "mail": mail, "send": {}}
    feedback_id = f"{uuid.uuid4().hex}-000000"
    if kind in ("bounce", "soft-bounce"):
        hard = kind == "bounce"
        return {"eventType": "Bounce", "mail": mail, "bounce": {
            "feedbackId": feedback_id, "bounceType": "Permanent" if hard else "Transient",
            "bounceSubType": "General" if hard else "MailboxFull", "timestamp": at,
            "reportingMTA": "dns; a1-2.smtp-out.amazonses.com",
            "bouncedRecipients": [{"emailAddress": recipient, "action": "failed",
                                   "status": "5.1.1" if hard else "4.2.2",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown" if hard
                                   else "smtp; 452 4.2.2 mailbox full"}]}}
    if kind == "complaint":
        return {"eventType": "Complaint", "mail": mail, "complaint": {
            "feedbackId": feedback_id, "complaintSubType": None, "complaintFeedbackType": "abuse",
            "userAgent": "koe local mailbox", "arrivalDate": at, "timestamp": at,
            "complainedRecipients": [{"emailAddress": recipient}]}}
    return {"eventType": "Delivery", "mail": mail, "delivery": {
        "timestamp": at, "processingTimeMillis": 412, "recipients": [recipient],
        "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a1-2.smtp-out.amazonses.com"}}


# --- the mailbox page ------------------------------------------------------------------------------

_PAGE_STYLE = """
body{margin:0;background:#eef0f3;color:#1b1b1f;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans CJK JP","Noto Sans CJK SC",sans-serif}
header{background:#202124;color:#fff;padding:10px 16px}header h1{margin:0;font-size:18px}
header p{margin:2px 0 0;color:#c4c7c5;font-size:13px}
main{max-width:760px;margin:0 auto;padding:12px}
form.filter{display:flex;gap:8px;margin:0 0 12px}form.filter input{flex:1;padding:6px 8px;font:inherit}
.notice{background:#e6f4ea;border-left:4px solid #1e7a3c;padding:8px 12px;margin:0 0 12px}
.empty{color:#3d4049}
article{background:#fff;border:1px solid #dadce0;border-radius:8px;margin:0 0 16px;overflow:hidden}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;padding:10px 14px;
font-size:13px;border-bottom:1px solid #dadce0;overflow-wrap:anywhere}dt{color:#5f6368}dd{margin:0}
h2{font-size:16px;margin:0;padding:10px 14px 0}
iframe{display:block;width:100%;height:860px;border:0;background:#f4f5f7}
details{padding:8px 14px;border-top:1px solid #dadce0;font-size:13px}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0 0}
.actions{display:flex;flex-wrap:wrap;gap:8px;padding:10px 14px;border-top:1px solid #dadce0;background:#f8f9fa}
.actions form{margin:0}.actions button{font:inherit;font-size:13px;padding:6px 10px;cursor:pointer}
"""

# Links in an email open on the whole tab (the survey page refuses to be framed); the email's own
# scripts (it has none) and forms stay disabled; a link may open a new tab outside the sandbox.
IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"


def render_mailbox(emails: list[dict[str, Any]], to: str | None = None, notice: str | None = None) -> str:
    """The mailbox page: every email moto's SES sent (newest first), each rendered in a sandboxed
    frame with its links live, its headers, its text part, and buttons that make SES report a
    bounce, a soft bounce or a complaint, or that unsubscribe in one click as a mail client does."""
    e = html.escape
    parts = [f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mailbox | koe local stack</title><style>{_PAGE_STYLE}</style></head>
<body><header><h1>Mailbox</h1><p>Emails koe sent through the local SES (moto). Links open the local web
survey; the buttons make SES report on an email as it would in AWS.</p></header><main>
<form class="filter" method="get" action="/mailbox"><input type="email" name="to" placeholder="to address"
 aria-label="To address" value="{e(to or '')}"><button type="submit">Filter</button></form>"""]
    if notice:
        parts.append(f'<p class="notice" role="status">{e(notice)}</p>')
    if not emails:
        parts.append('<p class="empty">No email yet.</p>')
    for n, sent in enumerate(reversed(emails), start=1):
        parts.append(_email_article(sent, n))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _email_article(sent: dict[str, Any], n: int) -> str:
    e = html.escape
    to = parseaddr(str(sent.get("to", "")))[1] or str(sent.get("to", ""))
    rows = [("From", sent.get("from_header") or sent.get("from", "")), ("To", sent.get("to", "")),
            ("Date", sent.get("date", "")), ("SES message id", sent.get("message_id", "")),
            ("List-Unsubscribe", sent.get("list_unsubscribe", "")),
            ("List-Unsubscribe-Post", sent.get("list_unsubscribe_post", ""))]
    details = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in rows if v)
    body = sent.get("html") or f"<pre>{e(str(sent.get('body', '')))}</pre>"
    frame = (f'<iframe title="{e(str(sent.get("subject", "")))}" sandbox="{IFRAME_SANDBOX}" '
             f'referrerpolicy="no-referrer" srcdoc="{e(_base_top(str(body)), quote=True)}"></iframe>')
    actions = [_action("/emails/feedback", {"to": to, "message_id": sent.get("message_id", ""), "kind": kind},
                       label) for kind, label in (("bounce", "SES: hard bounce"), ("soft-bounce", "SES: soft bounce"),
                                                  ("complaint", "SES: complaint"))]
    if sent.get("list_unsubscribe_post"):
        actions.append(_action("/emails/unsubscribe", {"message_id": sent.get("message_id", "")},
                               "One-click unsubscribe (as a mail client does)"))
    return (f'<article id="email-{n}" data-message-id="{e(str(sent.get("message_id", "")))}">'
            f'<h2>{e(str(sent.get("subject", "")))}</h2><dl>{details}</dl>{frame}'
            f'<details><summary>Text part</summary><pre>{e(str(sent.get("body", "")))}</pre></details>'
            f'<div class="actions">{"".join(actions)}</div></article>')


def _action(path: str, fields: dict[str, Any], label: str) -> str:
    e = html.escape
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(str(v))}">' for k, v in fields.items())
    return f'<form method="post" action="{e(path)}">{hidden}<button type="submit">{e(label)}</button></form>'


def _base_top(document: str) -> str:
    """The email with `<base target="_top">`: its links replace the mailbox page (the survey page
    may not be framed), as a click in a webmail opens the link outside the message."""
    base = '<base target="_top">'
    head = document.find("<head>")
    return document[:head + 6] + base + document[head + 6:] if head >= 0 else base + document
