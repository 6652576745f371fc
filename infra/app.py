"""The CDK app of koe: one stack per stage (see infra/README.md).

Synthesize offline (no CDK CLI needed):
    CDK_OUTDIR=/tmp/cdk.out AWS_DEFAULT_REGION=ap-northeast-1 \\
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \\
    .venv-infra/bin/python infra/app.py -c stage=dev -c public_base_url=https://example.com/api
Deploy through the CLI from infra/ (it reads cdk.json, which runs this file):
    npx aws-cdk@2.1148.1 deploy -c stage=dev -c public_base_url=https://.../api
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The repository root must come FIRST on sys.path: `chalice package` imports the module named
# "app", and this file (infra/app.py, whose directory Python puts first) must not be the one found.
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parent))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from stack import ConfigError, KoeConfig, KoeStack


def context_from_argv(argv: list[str]) -> dict[str, str]:
    """`-c key=value` / `--context key=value`, as the CDK CLI takes them (the CLI passes its own
    context through CDK_CONTEXT_JSON, which cdk.App reads by itself)."""
    context: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            raise SystemExit(f"unknown argument {arg!r}; use -c key=value")
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"context must be key=value, got {pair!r}")
        context[key] = value
    return context


def main(argv: list[str]) -> None:
    app = cdk.App(context=context_from_argv(argv))
    region = (os.environ.get("CDK_DEFAULT_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or os.environ.get("AWS_REGION"))
    if not region:
        raise SystemExit("koe infra: set AWS_DEFAULT_REGION (the CDK CLI sets CDK_DEFAULT_REGION "
                         "from your profile); `chalice package` needs a region")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)     # for chalice package (botocore)
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    try:
        config = KoeConfig.from_context(app.node.try_get_context)
    except ConfigError as exc:
        raise SystemExit(f"koe infra: {exc}") from None
    KoeStack(app, config, env=cdk.Environment(account=account, region=region))
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1:])
