"""The PynamoDB models agree with chalicelib/resources.py, the definitions infra/ and devstack/
create the tables from: same keys and key types, same indexes, same TTL attribute, same stream.
No DynamoDB needed: the models' own schema is inspected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.adapters import dynamo

REPO_ROOT = Path(__file__).resolve().parents[2]
POWERTOOLS_TABLES = {"idempotency"}     # Powertools owns its table; koe has no model for it


def _key_schema(schema: dict[str, Any]) -> dict[str, str]:
    return {k["AttributeName"]: k["KeyType"] for k in schema["key_schema"]}


def _expected_keys(hash_key: str, range_key: str | None) -> dict[str, str]:
    return {hash_key: "HASH", **({range_key: "RANGE"} if range_key else {})}


def test_every_koe_table_has_a_model_and_every_model_a_table() -> None:
    assert set(dynamo.MODELS) == {t.name for t in resources.TABLES} - POWERTOOLS_TABLES


@pytest.mark.parametrize("table", [t for t in resources.TABLES if t.name not in POWERTOOLS_TABLES],
                         ids=lambda t: t.name)
class TestModelMatchesTable:
    def model(self, table: resources.Table) -> type[Model]:
        return dynamo.MODELS[table.name]

    def test_keys(self, table: resources.Table) -> None:
        schema = self.model(table)._get_schema()
        assert _key_schema(schema) == _expected_keys(table.hash_key, table.range_key)

    def test_key_attribute_types(self, table: resources.Table) -> None:
        schema = self.model(table)._get_schema()
        defined = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
        for index in schema["global_secondary_indexes"]:
            defined.update({d["AttributeName"]: d["AttributeType"] for d in index["attribute_definitions"]})
        assert defined == table.attributes

    def test_index_attributes_have_the_same_type_on_the_model(self, table: resources.Table) -> None:
        attributes = self.model(table).get_attributes()
        for name, kind in table.attributes.items():
            assert attributes[name].attr_type == kind, name

    def test_global_secondary_indexes(self, table: resources.Table) -> None:
        schema = self.model(table)._get_schema()
        found = {i["index_name"]: (_key_schema(i), i["projection"]["ProjectionType"])
                 for i in schema["global_secondary_indexes"]}
        # devstack and infra project every attribute (open_surveys_due reads whole surveys).
        assert found == {i.name: (_expected_keys(i.hash_key, i.range_key), "ALL") for i in table.indexes}
        assert schema["local_secondary_indexes"] == []

    def test_ttl_attribute(self, table: resources.Table) -> None:
        ttl = [a.attr_name for a in self.model(table).get_attributes().values() if isinstance(a, TTLAttribute)]
        assert ttl == ([table.ttl_attribute] if table.ttl_attribute else [])

    def test_stream(self, table: resources.Table) -> None:
        assert getattr(self.model(table).Meta, "stream_view_type", None) == table.stream


def test_models_are_unbound_until_configured() -> None:
    """Nothing connects at import; a model used before configure() fails instead of guessing a table."""
    code = ("from chalicelib.adapters import dynamo as d; "
            "assert all(m._connection is None and m.Meta.table_name is None for m in d.MODELS.values())")
    # A fresh interpreter: in this one another test may already have bound the models.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
