"""The docs say what the code does: each figure or list the docs give that the code also holds is
read from both and compared, so a change to one without the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml  # PyYAML: comes with moto[server] (requirements-dev.txt)

from chalicelib import http
from chalicelib.domain.escalation import FOLLOW_UP_SCHEMA_VERSION
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
API = (ROOT / "docs" / "api.md").read_text()


def test_every_error_code_koe_answers_is_listed_in_the_api_docs() -> None:
    listed = API.split("`code` is stable (", 1)[1].split(")", 1)[0]
    for _, _, code in http.ERRORS:
        assert f"`{code}`" in listed, code


def test_the_readme_gives_the_follow_up_messages_schema_version() -> None:
    readme = (ROOT / "README.md").read_text()
    stated = re.search(r"follow-up-case\.schema\.json`, `schema_version` (\d+)", readme)
    assert stated is not None and int(stated[1]) == FOLLOW_UP_SCHEMA_VERSION


def test_the_api_docs_give_the_default_number_of_score_shards() -> None:
    stated = re.search(r"`KOE_SCORE_SHARDS`,\s+default (\d+)", API)
    assert stated is not None and int(stated[1]) == Settings.__dataclass_fields__["score_shards"].default


def test_the_openapi_file_covers_every_route_and_method_of_the_app() -> None:
    import app

    routes = {(path, method) for path, methods in app.app.routes.items() for method in methods}
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete", "head", "options")}
    assert routes - documented == set()
    assert documented - routes == set()


def test_the_openapi_error_shape_lists_every_code_the_api_docs_list() -> None:
    listed = set(re.findall(r"`([a-z_]+)`", API.split("`code` is stable (", 1)[1].split(")", 1)[0]))
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert set(spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]) == listed


def test_every_route_behind_a_key_or_token_documents_its_401_and_403() -> None:
    # No or a bad credential is 401; the other kind of caller (a CX token on an operations route, the
    # operations key on a CX route) is 403.
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    missing = [(path, method, code) for path, item in spec["paths"].items() for method, operation in item.items()
               if method in ("get", "post") and {"apiKey", "bearer"} & {name for requirement in
                                                                       operation.get("security", [])
                                                                       for name in requirement}
               for code in ("401", "403") if code not in operation["responses"]]
    assert missing == []


def test_the_event_schema_calls_no_working_feature_a_later_issue() -> None:
    assert "later issue" not in (ROOT / "docs" / "event-schema.md").read_text()
