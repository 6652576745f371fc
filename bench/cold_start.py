"""Cold start: importing app.py in a fresh process, against `import boto3` in the same run.

Prints the median of N fresh interpreters for each, their ratio, and peak RSS. Also measures what a
dispatch Lambda loads on its first record (app + the adapters that handler builds), which is what a
real cold invocation of that function pays.

    .venv/bin/python bench/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, resource, sys, time
t = time.perf_counter()
{body}
elapsed = time.perf_counter() - t
print(json.dumps({{"ms": elapsed * 1000, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

CASES = {
    "import boto3": "import boto3",
    "import app": "import app",
    "import app + dispatch adapters": (
        "import app\n"
        "import boto3, pynamodb.models, twilio.rest, twilio.request_validator, jsonschema\n"
        "import aws_lambda_powertools.utilities.idempotency\n"
        "import chalicelib.adapters.dynamo, chalicelib.services.dispatch\n"
        # the channel policy and the send window: the phone number's country and zone, the holidays
        "import phonenumbers, phonenumbers.timezone, holidays"
    ),
}


def measure(body: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    sample: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return sample


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CASES}
    for body in CASES.values():
        measure(body)                          # warm the OS file cache and .pyc files once
    for _ in range(runs):                      # interleaved, so machine noise hits every case alike
        for name, body in CASES.items():
            samples[name].append(measure(body))
    base = statistics.median(s["ms"] for s in samples["import boto3"])
    print(f"cold start, median of {runs} fresh processes (python {sys.version.split()[0]})")
    print(f"{'case':34} {'median ms':>10} {'x boto3':>8} {'peak RSS MB':>12}")
    for name, values in samples.items():
        ms = statistics.median(v["ms"] for v in values)
        rss = statistics.median(v["rss_mb"] for v in values)
        print(f"{name:34} {ms:10.1f} {ms / base:8.2f} {rss:12.1f}")
    print("reproduce: .venv/bin/python bench/cold_start.py --runs", runs)


if __name__ == "__main__":
    main()
