"""`make deploy STAGE=dev`: deploy a stage of koe with the pinned CDK CLI, in one step when the public
URL is known and in two when it is not.

A new stage's API URL exists only once its API does, and the functions must know it (Twilio signs
webhooks against it, survey links point at it). So the first deploy passes `public_base_url=pending`
(infra/stack.py: the functions get a placeholder and dispatch's queue and the schedule stay switched
off, so no survey goes out with a link nobody can open), and the second passes the `EndpointURL` the
first one output, which switches sending on. Events posted in between wait on the intake queue.

    .venv-infra/bin/python infra/deploy.py --stage dev [--public-base-url https://…/api] [-- -c alert_email=…]

Needs AWS credentials and a bootstrapped account (infra/README.md); nothing here runs in the tests
but the plan: `deploy` takes the command runner as a parameter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

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
    try:
        stacks = json.loads(outputs.read_text())
        url = str(stacks[f"koe-{stage}"]["EndpointURL"]).rstrip("/")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"the deploy of koe-{stage} wrote no EndpointURL to {outputs}") from exc
    if not url.startswith("https://"):
        raise DeployError(f"the deploy of koe-{stage} gave an EndpointURL that is not https: {url!r}")
    return url


def deploy(stage: str, public_base_url: str | None, extra: Sequence[str], run: Runner, workdir: Path) -> str:
    """Deploy; returns the public base URL the stage runs with (sending on)."""
    outputs = workdir / "outputs.json"
    if public_base_url is None:
        if run(command(stage, PENDING, outputs, extra)) != 0:
            raise DeployError(f"the first deploy of koe-{stage} (sending paused) failed: fix it and run again")
        public_base_url = endpoint_from(outputs, stage)
    if run(command(stage, public_base_url, outputs, extra)) != 0:
        raise DeployError(f"the deploy of koe-{stage} with {public_base_url} failed; sending stays as it was")
    return public_base_url


def _run(argv: Sequence[str]) -> int:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(list(argv), cwd=INFRA, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/deploy.py", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--public-base-url", default=None,
                        help="the stage's public URL when known (a custom domain, or an earlier deploy's "
                             "EndpointURL): one deploy; without it, two")
    parser.add_argument("extra", nargs="*", help="more CDK arguments after --, e.g. -- -c alert_email=ops@example.com")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="koe-deploy-") as workdir:
        try:
            url = deploy(args.stage, args.public_base_url, args.extra, _run, Path(workdir))
        except DeployError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"koe-{args.stage} runs at {url}: point the Twilio number's messaging webhook at {url}/twilio/sms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
