"""Cold start of each packaged Lambda function, from the package the CDK synth builds.

The deployment zip and the templates layer are extracted as Lambda lays them out (/var/task, /opt) and
each function's first invocation runs in a fresh interpreter that sees only them and the standard
library (devstack/lambda_package.py), with the environment infra gives it, against DynamoDB Local and
moto. Measured per run: init (import of app.py + the handler lookup), the first event (the handler's
first call: lazy imports, clients built, a few local requests), and `import boto3` from the same
package in the same run as the yardstick. Median of N runs, interleaved so machine noise hits all alike.

    .venv/bin/python bench/packaged_cold_start.py [--runs 7] [--cdk-out DIR]

Without --cdk-out it synthesizes first (.venv-infra, ~30-80 s; `make synth` writes cdk.out/dev.*).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.dynamodb_local import DynamoDBLocal  # noqa: E402
from devstack.lambda_package import Package, extract, first_events, function_env, invoke  # noqa: E402
from devstack.moto_server import MotoServer  # noqa: E402
from devstack.provision import provision  # noqa: E402

STAGE = "bench"
BASELINE = "import boto3"


def synthesize(out: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOE_", "CDK_", "AWS_"))}
    env.update(CDK_OUTDIR=str(out), AWS_DEFAULT_REGION="ap-northeast-1",
               JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    subprocess.run([str(ROOT / ".venv-infra" / "bin" / "python"), str(ROOT / "infra" / "app.py"),
                    "-c", f"stage={STAGE}", "-c", "public_base_url=https://example.com/api",
                    "-c", "email_identity=example.jp"], cwd=ROOT, env=env, check=True, capture_output=True)
    return out / f"{STAGE}.template.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cdk-out", type=Path, help="a synthesized cdk.out (its *.template.json is used)")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with tempfile.TemporaryDirectory(prefix="koe-cold-") as scratch:
        if args.cdk_out:
            template, = args.cdk_out.glob("*.template.json")
        else:
            template = synthesize(Path(scratch) / "cdk.out")
        package = Package.from_template(template)
        layout = extract(package, Path(scratch) / "lambda")
        dynamodb, moto = DynamoDBLocal(port=0, region="us-east-1").start(), MotoServer(port=0).start()
        try:
            aws = provision(dynamodb.endpoint, moto.endpoint, "us-east-1", prefix="bench-")
            events = first_events(aws["AWS_REGION"], aws["KOE_RESOURCE_PREFIX"], ROOT / "tests" / "events")
            envs = {name: function_env(fn, layout, aws) for name, fn in package.functions.items()}
            samples: dict[str, list[tuple[float, float]]] = {BASELINE: [], **{n: [] for n in sorted(envs)}}

            def once() -> None:
                base = invoke(layout, "boto3.client", None, envs["APIHandler"], function_name="baseline", call=False)
                samples[BASELINE].append((base.init_ms, 0.0))
                for name in sorted(envs):
                    fn = package.functions[name]
                    done = invoke(layout, fn.handler, events[name], envs[name], function_name=name,
                                  timeout_s=fn.timeout_s)
                    samples[name].append((done.init_ms, done.first_event_ms))

            once()                              # warm the OS file cache once (no .pyc: /var/task is read-only)
            for sample in samples.values():
                sample.clear()
            for _ in range(args.runs):
                once()
        finally:
            moto.stop()
            dynamodb.stop()
    base = statistics.median(s[0] for s in samples[BASELINE])
    print(f"packaged cold start, median of {args.runs} fresh interpreters (python {sys.version.split()[0]}, "
          f"{len(package.functions)} functions, x86_64)")
    print(f"{'function':16} {'init ms':>8} {'x boto3':>8} {'1st event ms':>13} {'init+1st ms':>12} {'x boto3':>8}")
    for name, values in samples.items():
        init = statistics.median(v[0] for v in values)
        first = statistics.median(v[1] for v in values)
        total = statistics.median(v[0] + v[1] for v in values)
        print(f"{name:16} {init:8.1f} {init / base:8.2f} {first:13.1f} {total:12.1f} {total / base:8.2f}")
    print(f"reproduce: .venv/bin/python bench/packaged_cold_start.py --runs {args.runs}"
          + (f" --cdk-out {args.cdk_out}" if args.cdk_out else ""))


if __name__ == "__main__":
    main()
