"""`make deploy STAGE=dev`: deploy a stage of koe with the pinned CDK CLI, in one step when the public
URL is known and in two when it is not.

A new stage's API URL exists only once its API does, and the functions must know it (Twilio signs
webhooks against it, survey links point at it). So the first deploy passes `public_base_url=pending`
(infra/stack.py: the functions get a placeholder and dispatch's queue and the schedule stay switched
off, so no survey goes out with a link nobody can open), and the second passes the `EndpointURL` the
first one output, which switches sending on (and the tables' deletion protection: the first deploy
runs without it, so a failure rolls back whole). Events posted in between wait on the intake queue.
A stage already running is deployed once, with the URL it runs with (its PublicBaseUrl output).

    .venv-infra/bin/python infra/deploy.py --stage dev [--public-base-url https://…/api] [-- -c alert_email=…]

Needs AWS credentials and a bootstrapped account (infra/README.md); nothing here runs in the tests
but the plan: `deploy` takes the command runner as a parameter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

CDK = ("npx", "aws-cdk@2.1148.1")        # the CLI that reads aws-cdk-lib 2.x assemblies (facts: 3.x cannot)
INFRA = Path(__file__).resolve().parent
PENDING = "pending"

Runner = Callable[[Sequence[str]], int]


class DeployError(RuntimeError):
    """A step failed, or the first deploy did not say where the API is."""


def command(stage: str, public_base_url: str, outputs: Path, extra: Sequence[str] = ()) -> list[str]:
    return [*CDK, "deploy", f"koe-{stage}", "-c", f"stage={stage}", "-c", f"public_base_url={public_base_url}",
            "--outputs-file", str(outputs), *extra]


def endpoint_from(outputs: Path, stage: str) -> str:
    """The API's base URL from a deploy's outputs file (`EndpointURL`, without its trailing /)."""
    url = output(stack_outputs(outputs, stage), stage, "EndpointURL").rstrip("/")
    if not url.startswith("https://"):
        raise DeployError(f"the deploy of koe-{stage} gave an EndpointURL that is not https: {url!r}")
    return url


def stack_outputs(outputs: Path, stage: str) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in json.loads(outputs.read_text())[f"koe-{stage}"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DeployError(f"the deploy of koe-{stage} wrote no outputs to {outputs}") from exc


def output(values: Mapping[str, str], stage: str, key: str) -> str:
    if key not in values:
        raise DeployError(f"the deploy of koe-{stage} wrote no {key} to its outputs")
    return values[key]


def deploy(stage: str, public_base_url: str | None, extra: Sequence[str], run: Runner, workdir: Path,
           deployed_url: Callable[[str], str | None],
           prepare: Callable[[Mapping[str, str]], None] = lambda outputs: None) -> str:
    """Deploy; returns the public base URL the stage runs with (sending on). `deployed_url(stage)`
    is the URL a stage already deployed runs with (its PublicBaseUrl output), None for a new stage.
    `prepare(outputs)` readies what the stack cannot hold (the configuration document in its bucket,
    the operations keys in their usage plan: `preparer`): for a new stage between its two deploys,
    so both are there before any survey is sent."""
    outputs = workdir / "outputs.json"
    if public_base_url is None:
        public_base_url = deployed_url(stage)
    if public_base_url is None:
        # A new stage: deployed paused and unprotected, so a failure rolls back whole (no table or
        # pool left behind to block the retry: infra/README.md, "A failed first deploy").
        first = command(stage, PENDING, outputs, [*extra, "-c", "deletion_protection=false"])
        if run(first) != 0:
            raise DeployError(f"the first deploy of koe-{stage} (sending paused) failed: it rolled back; "
                              "fix the cause and run again")
        public_base_url = endpoint_from(outputs, stage)
        prepare(stack_outputs(outputs, stage))
        if run(command(stage, public_base_url, outputs, extra)) != 0:
            raise DeployError(f"the deploy of koe-{stage} with {public_base_url} failed; sending stays paused")
        return public_base_url
    if run(command(stage, public_base_url, outputs, extra)) != 0:
        raise DeployError(f"the deploy of koe-{stage} with {public_base_url} failed; sending stays as it was")
    prepare(stack_outputs(outputs, stage))
    return public_base_url


def key_name(stage: str, key: str) -> str:
    """An operations key's name in API Gateway: its stage and a digest, never the key itself."""
    return f"koe-{stage}-ops-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def sync_api_keys(stage: str, plan_id: str, keys: Sequence[str], apigateway: Any) -> dict[str, int]:
    """Makes the usage plan hold exactly the api-keys secret's keys (same values: the gateway and koe
    check the same x-api-key): a new key is created and added, a key no longer in the secret is
    removed from the plan and deleted. Idempotent; run again after each rotation of the secret."""
    wanted = {key_name(stage, key): key for key in keys}
    held = {item["name"]: item["id"] for item in apigateway.get_usage_plan_keys(usagePlanId=plan_id).get("items", [])}
    added = removed = 0
    for name, value in sorted(wanted.items()):
        if name in held:
            continue
        found = apigateway.get_api_keys(nameQuery=name, includeValues=False).get("items", [])
        key_id = next((k["id"] for k in found if k["name"] == name), None)
        if key_id is None:
            key_id = apigateway.create_api_key(name=name, value=value, enabled=True,
                                               description=f"koe {stage}: an operations key (api-keys secret)")["id"]
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
        added += 1
    for name, key_id in sorted(held.items()):
        if name not in wanted:
            apigateway.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)
            apigateway.delete_api_key(apiKey=key_id)
            removed += 1
    return {"added": added, "removed": removed, "kept": len(wanted) - added}


def preparer(stage: str, document: Path | None, aws: Callable[[str], Any]) -> Callable[[Mapping[str, str]], None]:
    """What `deploy` readies after a deploy: the configuration document, then the operations keys
    (from the operator's secret koe-<stage>-api-keys, read as koe reads it)."""
    from chalicelib.credentials import Credentials
    from chalicelib.resources import API_KEYS_SECRET, physical

    place = config_placer(document, aws("s3"))
    secret_id = physical(f"koe-{stage}-", API_KEYS_SECRET.name)

    class Secrets:
        def json(self, secret_id: str, *, fresh: bool = False) -> Any:
            return json.loads(aws("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])

    def prepare(outputs: Mapping[str, str]) -> None:
        place(output(outputs, stage, "ConfigBucketName"))
        keys = Credentials(Secrets(), {API_KEYS_SECRET.name: secret_id}).api_keys()    # checked as koe reads it
        done = sync_api_keys(stage, output(outputs, stage, "OperationsUsagePlanId"), keys, aws("apigateway"))
        print(f"operations keys in the usage plan: {done}", flush=True)
    return prepare


def config_placer(document: Path | None, s3: Any) -> Callable[[str], None]:
    """Puts `document` (checked as the functions will read it) at the configuration document's key;
    without one, puts `{}` only where no document is yet (the functions refuse to run without one,
    and an operator's document is never overwritten by an empty one)."""
    from botocore.exceptions import ClientError

    from chalicelib import config_document, resources

    key = resources.CONFIG_DOCUMENT.key
    body = None
    if document is not None:
        text = document.read_text(encoding="utf-8")
        config_document.parse(text, str(document))          # a SettingsError names the bad key
        body = text.encode("utf-8")

    def place(bucket: str) -> None:
        if body is None:
            try:
                s3.head_object(Bucket=bucket, Key=key)
                return
            except ClientError as exc:          # 404: there is none yet
                if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                    raise
        s3.put_object(Bucket=bucket, Key=key, Body=body or b"{}", ContentType="application/json")
        print(f"configuration document: s3://{bucket}/{key}" + ("" if body else " ({}: none yet)"), flush=True)
    return place


def deployed_url(stage: str) -> str | None:
    """The PublicBaseUrl a deployed stage runs with; None when the stack does not exist (AWS
    credentials and region from the environment, as the CDK CLI takes them)."""
    import boto3
    from botocore.exceptions import ClientError

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=f"koe-{stage}")["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise DeployError(f"cannot read the stack koe-{stage}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    url = outputs.get("PublicBaseUrl")
    if outputs.get("SendingPaused") == "true" or not url:
        return None         # a first deploy that stopped half way: do both steps again
    return str(url)


def running_outputs(stage: str) -> dict[str, str]:
    """The outputs of the deployed stack koe-<stage>."""
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=f"koe-{stage}")["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _run(argv: Sequence[str]) -> int:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(list(argv), cwd=INFRA, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/deploy.py", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--public-base-url", default=None,
                        help="the stage's public URL when known (a custom domain, or an earlier deploy's "
                             "EndpointURL): one deploy; without it, two")
    parser.add_argument("--config", type=Path, default=None,
                        help="the configuration document (JSON: routing table, case rules, survey definitions, "
                             "docs/deploy.md) to put in the stage's bucket; without it an existing one is kept")
    parser.add_argument("--prepare-only", action="store_true",
                        help="deploy nothing: put the configuration document and sync the operations keys of a "
                             "running stage (after rotating its api-keys secret, or changing its document)")
    parser.add_argument("extra", nargs="*", help="more CDK arguments after --, e.g. -- -c alert_email=ops@example.com")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="koe-deploy-") as workdir:
        try:
            import boto3

            sys.path.insert(0, str(INFRA.parent))       # chalicelib: the document is checked as koe reads it
            prepare = preparer(args.stage, args.config, lambda service: boto3.client(service))  # type: ignore[call-overload]
            if args.prepare_only:
                prepare(running_outputs(args.stage))
                return 0
            url = deploy(args.stage, args.public_base_url, args.extra, _run, Path(workdir), deployed_url, prepare)
        except DeployError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"koe-{args.stage} runs at {url}: point the Twilio number's messaging webhook at {url}/twilio/sms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
