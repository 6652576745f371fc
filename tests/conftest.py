"""Session fixtures for tests that need real local services: DynamoDB Local and moto, on free ports.

They never assume the default ports are free (a developer's own stack may be running) and stop
everything at session end. Nothing here imports `app`: settings are read on first use, and tests
that import it set their environment first.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

# Property tests check what is generated, never how fast: on a shared 2-core machine generation can
# be slow for reasons outside the test, so Hypothesis's timing checks are off (the examples are not).
settings.register_profile("koe", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("koe")

if TYPE_CHECKING:   # imported lazily below: unit tests should not pay for boto3 here
    from devstack.dynamodb_local import DynamoDBLocal
    from devstack.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:     # `pytest` (not `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(REPO_ROOT))

# Fake credentials, forced rather than defaulted: a test must never run with a developer's real
# AWS keys in the environment, whatever endpoint a client forgets to set.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# botocore >= 1.44 otherwise builds account-based endpoints moto does not know.
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """A started DynamoDB Local (in memory) on a free port; `.endpoint` is its URL."""
    from devstack.dynamodb_local import DynamoDBLocal

    server = DynamoDBLocal(port=0, region=os.environ["AWS_DEFAULT_REGION"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A started moto server (child process) on a free port; `.endpoint` is its URL."""
    from devstack.moto_server import MotoServer

    server = MotoServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_aws(dynamodb_local: DynamoDBLocal, moto_server: MotoServer) -> dict[str, str]:
    """koe's resources provisioned once per session under a unique prefix; yields the env dict
    (KOE_* settings, AWS_REGION, plus KOE_LOCAL_* addresses for tests)."""
    return _provision_new(dynamodb_local, moto_server)


@pytest.fixture
def fresh_aws(dynamodb_local: DynamoDBLocal, moto_server: MotoServer) -> dict[str, str]:
    """Like local_aws but a new prefix for this test alone (empty queues and tables; ~0.5 s)."""
    return _provision_new(dynamodb_local, moto_server)


def _provision_new(dynamodb_local: DynamoDBLocal, moto_server: MotoServer) -> dict[str, str]:
    from devstack.provision import provision

    return provision(dynamodb_local.endpoint, moto_server.endpoint,
                     os.environ["AWS_DEFAULT_REGION"], prefix=f"t{uuid.uuid4().hex[:8]}-")
