"""The local mailbox: the emails moto's SES has "sent", read back for scripts, tests and the carrier's
`GET /emails?to=` (never deployed).

moto keeps every message SES accepted and serves them at `{moto_url}/moto-api/data.json`; each is
listed as {"to", "from", "subject", "body"}, decoded from MIME where needed (see `ses_emails`).
"""

from __future__ import annotations

import email
import email.policy
import json
import urllib.request
from email.utils import parseaddr
from typing import Any

MOTO_DATA_PATH = "/moto-api/data.json"


def sent_emails(moto_url: str, to: str | None, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """The emails moto at `moto_url` has sent, to `to` only when given (any case)."""
    url = f"{moto_url.rstrip('/')}{MOTO_DATA_PATH}"
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return ses_emails(json.loads(response.read()), to)


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
    # From bytes: parsing a str would turn 8-bit (e.g. Japanese) bodies into \u escapes.
    parsed = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    return str(parsed.get("To", "")), str(parsed.get("Subject", "")), body


def ses_emails(data: dict[str, Any], to: str | None) -> list[dict[str, Any]]:
    """Sent emails from moto's /moto-api/data.json: ses.Message (SendEmail, v1 and v2),
    ses.RawMessage (SendRawEmail) and ses.TemplateMessage (SendTemplatedEmail, not rendered)."""
    ses = data.get("ses", {})
    found = []
    for kind in ("Message", "RawMessage", "TemplateMessage"):
        for item in ses.get(kind, []):
            recipients = _addresses(item.get("destinations"))
            if to and to.lower() not in {parseaddr(a)[1].lower() for a in recipients}:
                continue
            entry = {"to": ", ".join(recipients), "from": item.get("source", ""),
                     "subject": item.get("subject", ""), "body": item.get("body", "")}
            if kind == "RawMessage":
                _, entry["subject"], entry["body"] = _raw_email(item.get("raw_data", ""))
            if kind == "TemplateMessage":
                entry["template"], entry["body"] = item.get("template"), item.get("template_data", "")
            found.append(entry)
    return found
