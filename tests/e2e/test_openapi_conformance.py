"""The API against its OpenAPI file, through a whole local stack: Schemathesis draws requests for every
operation of docs/openapi.yaml (the documented examples, the edges of each parameter, requests the file
says are wrong, and random ones) with the credentials the operation's `security` names, and every answer
must be no 5xx, a documented status, of the documented content type and of the documented shape.

The short form: a few examples per operation. docs/reliability.md gives the full run (50 per operation,
the `st` command line) and what it found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.harness import OPEN_ALL_DAY, Koe, local_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    with local_stack(tmp_path_factory.mktemp("openapi"), OPEN_ALL_DAY) as running:
        yield Koe(running)


def credentials(koe: Koe, case: schemathesis.Case) -> dict[str, Any]:
    """What a legitimate caller of this operation sends: the operations key, a cx_admin bearer token, or
    the dashboard's session cookie. The webhooks get none: a request without Twilio's signature is 403."""
    schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    headers = {"x-api-key": koe.key} if "apiKey" in schemes else {}
    if "bearer" in schemes:
        headers["authorization"] = f"Bearer {koe.cx_token()}"
    cookies = {"koe_session": koe.cx_token()} if "session" in schemes else {}
    return {"headers": headers, "cookies": cookies}


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], database=None)
def test_every_answer_is_documented_and_never_a_server_error(case: schemathesis.Case, koe: Koe) -> None:
    given = credentials(koe, case)
    case.call_and_validate(base_url=koe.api, checks=CHECKS, timeout=20, allow_redirects=False, **given)
