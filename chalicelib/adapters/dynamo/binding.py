"""Runtime binding of the models to one stage's tables, and the one connection they share.

Table names differ per stage and per test session, so the models are declared without a table
and `configure(settings)` binds them (table name, host, region) before first use. It also makes
every model and every transaction share ONE PynamoDB `Connection` (one botocore client):
PynamoDB would otherwise build a client per model, ~50 ms each at cold start. Nothing here
connects at import time, nor in `configure` (botocore clients are created on the first request).
"""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.adapters.dynamo.models import MODELS, SurveyItem
from chalicelib.settings import Settings

MAX_TRANSACTION_ITEMS = 100     # DynamoDB takes at most 100 items in one TransactWriteItems


class SharedLoaderConnection(Connection):
    """PynamoDB's connection on a botocore session that shares the process's SDK data loader
    (adapters/aws_sessions.py): DynamoDB's model and the endpoints are parsed once, not again for
    PynamoDB. One session per thread, as PynamoDB keeps them."""

    @property
    def session(self) -> Any:
        if getattr(self._local, "session", None) is None:
            from chalicelib.adapters.aws_sessions import botocore_session

            self._local.session = botocore_session()
        return self._local.session

def configure(settings: Settings) -> Connection:
    """Bind every model to this stage's tables, endpoint and region; returns the one connection
    the models share, which the repositories also use for transactions. No I/O."""
    # PynamoDB logs every request's arguments at DEBUG, phone numbers and SMS bodies included.
    logging.getLogger("pynamodb").setLevel(logging.INFO)
    connection = SharedLoaderConnection(region=settings.region, host=settings.dynamodb_endpoint,
                            connect_timeout_seconds=2, read_timeout_seconds=5)
    for logical, model in MODELS.items():
        _bind(model, settings.table_name(logical), connection)
    return connection


def _bind(model: type[Model], table_name: str, connection: Connection) -> None:
    model.Meta.table_name = table_name
    model.Meta.host = connection.host
    model.Meta.region = connection.region
    # PynamoDB caches a TableConnection per model and rebuilds it only when the table name
    # changes (not host or region): drop it, let PynamoDB build the table's key schema from the
    # model (no I/O), then point it at the shared connection.
    model._connection = None
    table = model._get_connection()
    connection.add_meta_table(table.get_meta_table())
    table.connection = connection


def require_bound(settings: Settings) -> None:
    """Stores are built after configure(settings): fail when built, not at the first write."""
    if SurveyItem.Meta.table_name != settings.table_name("surveys"):
        raise RuntimeError("call chalicelib.adapters.dynamo.configure(settings) before building stores")


def shared_connection() -> Connection:
    """The connection configure() gave every model: transactions go through the same client."""
    return SurveyItem._get_connection().connection
