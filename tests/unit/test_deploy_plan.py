"""`make deploy` (infra/deploy.py) with a recording runner in place of the CDK CLI: a new stage is
deployed paused, then with the URL its first deploy output; a known URL is one deploy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra.deploy import DeployError, deploy

ENDPOINT = "https://abc123.execute-api.ap-northeast-1.amazonaws.com/api/"


class Cdk:
    """Records each command; a deploy writes the outputs file as the CDK CLI does."""

    def __init__(self, endpoint: str | None = ENDPOINT, fail_on: int | None = None) -> None:
        self.commands: list[list[str]] = []
        self.endpoint, self.fail_on = endpoint, fail_on

    def __call__(self, argv: Sequence[str]) -> int:
        self.commands.append(list(argv))
        if self.fail_on == len(self.commands):
            return 1
        outputs = Path(argv[argv.index("--outputs-file") + 1])
        stack = {"SendingPaused": "true" if "public_base_url=pending" in argv else "false"}
        if self.endpoint:
            stack["EndpointURL"] = self.endpoint
        outputs.write_text(json.dumps({"koe-dev": stack}))
        return 0


def urls(cdk: Cdk) -> list[str]:
    return [arg.split("=", 1)[1] for c in cdk.commands for arg in c if arg.startswith("public_base_url=")]


def new_stage(stage: str) -> str | None:
    return None


def test_a_new_stage_is_deployed_paused_and_unprotected_then_with_its_own_endpoint(tmp_path: Path) -> None:
    cdk = Cdk()
    assert deploy("dev", None, ["-c", "alert_email=ops@example.com"], cdk, tmp_path, new_stage) == ENDPOINT.rstrip("/")
    assert urls(cdk) == ["pending", ENDPOINT.rstrip("/")]
    assert all(c[:3] == ["npx", "aws-cdk@2.1148.1", "deploy"] and "alert_email=ops@example.com" in c
               for c in cdk.commands)
    first, second = cdk.commands
    assert "deletion_protection=false" in first and "deletion_protection=false" not in second


def test_a_running_stage_is_deployed_once_with_the_url_it_runs_with(tmp_path: Path) -> None:
    cdk = Cdk()
    deploy("prod", None, [], cdk, tmp_path, lambda stage: "https://koe.example.com/api")
    assert urls(cdk) == ["https://koe.example.com/api"]     # never paused, never unprotected
    assert not any("deletion_protection=false" in c for c in cdk.commands)


def test_a_known_url_is_one_deploy(tmp_path: Path) -> None:
    cdk = Cdk()
    deploy("dev", "https://koe.example.com/api", [], cdk, tmp_path, new_stage)
    assert urls(cdk) == ["https://koe.example.com/api"]


@pytest.mark.parametrize(("cdk", "says"), [
    (Cdk(fail_on=1), "first deploy"),
    (Cdk(endpoint=None), "wrote no EndpointURL"),
    (Cdk(endpoint="http://abc123.example.com/api/"), "not https"),
    (Cdk(fail_on=2), "sending stays as it was"),
])
def test_a_step_that_fails_stops_with_what_to_do_and_never_deploys_a_placeholder_as_final(
        tmp_path: Path, cdk: Cdk, says: str) -> None:
    with pytest.raises(DeployError, match=says):
        deploy("dev", None, [], cdk, tmp_path, new_stage)
    assert len(cdk.commands) <= 2
