"""`make deploy` (infra/deploy.py) with a recording runner in place of the CDK CLI: a new stage is
deployed paused, then with the URL its first deploy output; a known URL is one deploy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
        stack = {"SendingPaused": "true" if "public_base_url=pending" in argv else "false",
                 "ConfigBucketName": "koe-dev-configbucket-abc123", "OperationsUsagePlanId": "plan1"}
        if self.endpoint:
            stack["EndpointURL"] = self.endpoint
        outputs.write_text(json.dumps({argv[argv.index("deploy") + 1]: stack}))
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
    (Cdk(fail_on=2), "sending stays paused"),
])
def test_a_step_that_fails_stops_with_what_to_do_and_never_deploys_a_placeholder_as_final(
        tmp_path: Path, cdk: Cdk, says: str) -> None:
    with pytest.raises(DeployError, match=says):
        deploy("dev", None, [], cdk, tmp_path, new_stage)
    assert len(cdk.commands) <= 2


def test_a_new_stages_configuration_document_is_placed_before_the_deploy_that_starts_sending(tmp_path: Path) -> None:
    events: list[str] = []
    cdk = Cdk()

    def run(argv: Sequence[str]) -> int:
        events.append("deploy " + next(a for a in argv if a.startswith("public_base_url=")))
        return cdk(argv)

    deploy("dev", None, [], run, tmp_path, new_stage,
           lambda outputs: events.append(f"config {outputs['ConfigBucketName']}"))
    assert events == ["deploy public_base_url=pending", "config koe-dev-configbucket-abc123",
                      f"deploy public_base_url={ENDPOINT.rstrip('/')}"]


def test_a_running_stages_document_is_placed_after_its_one_deploy(tmp_path: Path) -> None:
    placed: list[str] = []
    deploy("dev", "https://koe.example.com/api", [], Cdk(), tmp_path, new_stage,
           lambda outputs: placed.append(outputs["ConfigBucketName"]))
    assert placed == ["koe-dev-configbucket-abc123"]


class FakeS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def head_object(self, Bucket: str, Key: str) -> dict[str, str]:   # noqa: N803 (boto3's names)
        from botocore.exceptions import ClientError

        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:   # noqa: N803
        self.objects[(Bucket, Key)] = Body


def test_without_a_document_an_empty_one_is_put_only_where_there_is_none(tmp_path: Path) -> None:
    from infra.deploy import config_placer

    s3 = FakeS3({("kept", "koe-config.json"): b'{"KOE_CASE_SLA": {}}'})
    place = config_placer(None, s3)
    place("new")
    place("kept")
    assert s3.objects == {("new", "koe-config.json"): b"{}", ("kept", "koe-config.json"): b'{"KOE_CASE_SLA": {}}'}


def test_a_document_is_checked_as_koe_reads_it_before_anything_is_deployed(tmp_path: Path) -> None:
    from chalicelib.settings import SettingsError
    from infra.deploy import config_placer

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"KOE_SAMPLING_BY_PROCEDURE": {"claim_paid": 0.5}}')
    bad.write_text('{"KOE_NOT_A_SETTING": 1}')
    s3 = FakeS3({})
    config_placer(good, s3)("b")
    assert s3.objects[("b", "koe-config.json")] == good.read_bytes()
    with pytest.raises(SettingsError, match="KOE_NOT_A_SETTING"):
        config_placer(bad, s3)


class FakeApiGateway:
    """API Gateway's API keys and one usage plan, as boto3's apigateway client answers."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, str]] = {}
        self.plan: set[str] = set()

    def get_usage_plan_keys(self, usagePlanId: str) -> dict[str, Any]:    # noqa: N803
        return {"items": [{"id": k, "name": self.keys[k]["name"]} for k in sorted(self.plan)]}

    def get_api_keys(self, nameQuery: str, includeValues: bool) -> dict[str, Any]:    # noqa: N803
        return {"items": [{"id": k, "name": v["name"]} for k, v in self.keys.items()
                          if v["name"].startswith(nameQuery)]}

    def create_api_key(self, name: str, value: str, enabled: bool, description: str) -> dict[str, str]:
        key_id = f"k{len(self.keys) + 1}"
        self.keys[key_id] = {"name": name, "value": value}
        return {"id": key_id}

    def create_usage_plan_key(self, usagePlanId: str, keyId: str, keyType: str) -> None:    # noqa: N803
        self.plan.add(keyId)

    def delete_usage_plan_key(self, usagePlanId: str, keyId: str) -> None:    # noqa: N803
        self.plan.discard(keyId)

    def delete_api_key(self, apiKey: str) -> None:    # noqa: N803
        del self.keys[apiKey]


def test_the_usage_plan_holds_exactly_the_secrets_keys_through_a_rotation() -> None:
    from infra.deploy import sync_api_keys

    gateway = FakeApiGateway()
    old, new = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
    assert sync_api_keys("dev", "plan1", [old], gateway) == {"added": 1, "removed": 0, "kept": 0}
    assert sync_api_keys("dev", "plan1", [old], gateway) == {"added": 0, "removed": 0, "kept": 1}   # idempotent
    sync_api_keys("dev", "plan1", [new, old], gateway)           # the rotation: both valid
    assert sorted(v["value"] for k, v in gateway.keys.items() if k in gateway.plan) == [new, old]
    assert sync_api_keys("dev", "plan1", [new], gateway) == {"added": 0, "removed": 1, "kept": 1}
    assert [v["value"] for v in gateway.keys.values()] == [new]
    assert not [v for v in gateway.keys.values() if old in v["name"] or new in v["name"]]   # names never hold keys
