"""The process's AWS SDK sessions: every boto3 client (bootstrap/adapters.py), PynamoDB's connection
(adapters/dynamo/binding.py) and the configuration document's S3 client (config_document.py) share one
botocore data loader, so the SDK's JSON (endpoints, partitions, defaults, retry rules, each service's
model and endpoint rules) is read and parsed once per process, not once per session. At a cold start,
where every module is compiled from source, that parsing is a large part of building a client.

Sessions themselves are not shared across threads (botocore's sessions are not thread safe; the
local stack builds clients from many threads): each caller gets its own session on the shared loader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_loader: Any = None
_boto3: Any = None


def botocore_session() -> Any:
    """A new botocore session reading the SDK's data through the process's one loader."""
    from botocore.session import get_session

    global _loader
    session = get_session()
    with _lock:
        if _loader is None:
            _loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _loader)
    return session


def boto3_session() -> Any:
    """The process's boto3 session (what `boto3.client` would use), on the shared loader."""
    global _boto3
    with _lock:
        built = _boto3
    if built is None:
        import boto3

        built = boto3.session.Session(botocore_session=botocore_session())
        with _lock:
            _boto3 = _boto3 or built
            built = _boto3
    return built


class DeferredClient:
    """An AWS client built at its first use, not when the piece that holds it is built: a handler that
    never calls a service never imports boto3 for it nor loads its model. Safe to share between
    threads (the local stack's pollers): the client is built once."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._building = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            with self._building:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return getattr(client, name)
