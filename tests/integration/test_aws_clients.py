"""koe's own AWS clients under the concurrency the local stack gives them: one set of clients serves
every poller and HTTP thread of `python -m devstack` (a Lambda would serve one invocation at a time),
so urllib3's default pool of 10 connections dropped connections ("Connection pool is full")."""

from __future__ import annotations

import logging
import threading

import pytest

from chalicelib.bootstrap import Components
from chalicelib.settings import from_env
from tests.unit.test_wiring import REQUIRED


def test_thirty_concurrent_long_polls_on_one_client_keep_every_connection(
        fresh_aws: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    components = Components(from_env({**REQUIRED, **fresh_aws}))
    sqs, queue = components.sqs, fresh_aws["KOE_INTAKE_QUEUE_URL"]
    start = threading.Barrier(30)

    def poll() -> None:
        start.wait()
        sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)

    # When 30 threads long-poll an empty queue through the same client at once, twice
    for _ in range(2):
        threads = [threading.Thread(target=poll) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    # Then urllib3 kept every connection it opened
    assert not [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]
