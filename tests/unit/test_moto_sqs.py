"""The local SQS (moto) must not lose a message sent while another is deleted, as AWS never does.

moto appends a sent message under the queue's lock but rebuilt the message list on a delete without
it: a send landing inside a delete was lost (83 of 10,000 accepted events in the release storm).
devstack/moto_server._thread_safe_sqs makes the delete (and the receive) take the lock. The race is
made to happen here on purpose: a send starts while the delete is walking the list."""

from __future__ import annotations

import threading
from typing import Any

import pytest


@pytest.fixture
def moto_sqs(monkeypatch: pytest.MonkeyPatch) -> Any:
    import moto.sqs.models as sqs_models

    monkeypatch.setattr(sqs_models.Queue, "delete_message", sqs_models.Queue.delete_message)
    monkeypatch.setattr(sqs_models.SQSBackend, "receive_message", sqs_models.SQSBackend.receive_message)
    return sqs_models


def _send_during_a_delete(sqs_models: Any) -> list[str]:
    """Two messages queued; deleting the first, a send from another thread starts just as the delete
    puts its rebuilt list in place (given 0.3 s to finish before it does). Returns the bodies left."""
    queue = sqs_models.Queue("q", "us-east-1", "123456789012")
    first, second = sqs_models.Message("m1", "first"), sqs_models.Message("m2", "second")
    for message in (first, second):
        queue.add_message(message)
    first.mark_received()
    sent = threading.Event()
    started: list[threading.Thread] = []
    original = sqs_models.Queue.__setattr__

    def racing(self: Any, name: str, value: Any) -> None:
        if name == "_messages" and self is queue and not started:
            thread = threading.Thread(target=lambda: (queue.add_message(sqs_models.Message("m3", "third")),
                                                      sent.set()))
            started.append(thread)
            thread.start()
            sent.wait(0.3)
        original(self, name, value)

    sqs_models.Queue.__setattr__ = racing
    try:
        queue.delete_message(first.receipt_handle)
    finally:
        sqs_models.Queue.__setattr__ = original
    started[0].join(5)
    return [m.body for m in queue._messages]


def test_without_the_lock_moto_loses_the_message_sent_mid_delete(moto_sqs: Any) -> None:
    assert _send_during_a_delete(moto_sqs) == ["second"]        # "third" lost: the race is real


def test_with_the_lock_the_message_sent_mid_delete_is_kept(moto_sqs: Any) -> None:
    from devstack.moto_server import _thread_safe_sqs

    _thread_safe_sqs()
    assert _send_during_a_delete(moto_sqs) == ["second", "third"]
