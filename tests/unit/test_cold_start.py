"""What a function builds before its event needs it: nothing but its own dependencies. Each case runs
in a fresh interpreter (a cold start), builds one function's wiring the way its handler does, and
lists the AWS clients created and the heavy libraries imported. Lambda compiles every module from
source at a cold start (its package holds no .pyc): what is built or imported needlessly is paid
for at every cold start (docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_wiring import REQUIRED, _declared_env

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every client koe builds goes through botocore's Session.create_client: counted, then built as usual.
SCRIPT = """
import json, sys
import botocore.session
created = []
build = botocore.session.Session.create_client
def counted(self, service, *args, **kwargs):
    created.append(service)
    return build(self, service, *args, **kwargs)
botocore.session.Session.create_client = counted
import app
from chalicelib import bootstrap
from chalicelib.bootstrap import functions
wiring = bootstrap.wired(getattr(functions, sys.argv[1]))
for name in sys.argv[2:]:
    getattr(wiring, name)
print(json.dumps({"created": created, "loaded": sorted(m for m in ("jinja2", "twilio.rest", "requests", "jsonschema")
                                                       if m in sys.modules)}))
"""


def _built(function: str, *members: str) -> dict[str, list[str]]:
    env = {**REQUIRED, **{var: f"https://example.com/{var}" for var in _declared_env()},
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "KOE_EMAIL_FROM": "survey@example.com", "KOE_SES_CONFIGURATION_SET": "koe-test-email",
           "KOE_TWILIO_SECRET_ID": "koe-test-twilio", "KOE_CONTACT_KEYS_SECRET_ID": "koe-test-contact-keys",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, function, *members], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("function, members, clients, libraries", [
    # What app.py's dispatch handler takes before its first record: every record is claimed in the
    # idempotency table (DynamoDB); SQS only to dead-letter, SES and Twilio only to send.
    ("Dispatch", ("idempotency", "dispatch_once", "read_event", "dead_letters", "dispatch_deps"), ["dynamodb"],
     {"jinja2", "twilio.rest", "requests"}),
    ("Tick", ("tick_deps", "case_schedule_deps"), [], {"jinja2", "twilio.rest", "requests"}),
    # The API: secrets are read when a request needs one (an API key presented, a link checked).
    ("Api", ("status_deps", "web_deps", "pages", "authenticators", "ingest_deps"), [],
     {"twilio.rest", "requests", "jsonschema"}),
])
def test_a_function_builds_no_client_and_no_sender_before_its_event_needs_one(function, members, clients, libraries):
    built = _built(function, *members)

    assert built["created"] == clients
    assert not libraries & set(built["loaded"])
