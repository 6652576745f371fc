"""Two rules every table of chalicelib/resources.py keeps, read without DynamoDB:

- retention: each table either expires its items (a TTL attribute the code writes) or declares why
  it keeps them (`Table.retention`), and docs/operations.md's retention table lists every table;
- no Scan: koe's deployed code reads by key and index only (a Scan reads the whole table, and the
  reads run on every API request); the DynamoDB contract tests count the requests themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib import resources
from chalicelib.settings import SettingsError, from_env
from tests.unit.test_wiring import REQUIRED

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
QUEUES = {"KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "d", "KOE_FOLLOW_UP_QUEUE_URL": "f",
          "KOE_CX_TOPIC_ARN": "t"}


@pytest.mark.parametrize("table", resources.TABLES, ids=lambda t: t.name)
def test_every_table_expires_its_items_or_says_why_it_keeps_them(table: resources.Table) -> None:
    reason = (table.retention or "").strip()
    assert table.ttl_attribute or len(reason) >= 40, (
        f"{table.name}: give it a TTL attribute the code writes, or a retention reason in resources.py")


def test_the_operations_guide_lists_the_retention_of_every_table() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("## Retention", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE))
    assert listed == {t.name for t in resources.TABLES}


def test_counters_are_kept_400_days_unless_configured() -> None:
    # 400: a 30-day period can be compared with the same period a year earlier (365 + 30 days back).
    assert from_env({**REQUIRED, **QUEUES}).counter_retention_days == 400
    assert from_env({**REQUIRED, **QUEUES, "KOE_COUNTER_RETENTION_DAYS": "800"}).counter_retention_days == 800


@pytest.mark.parametrize("bad", ["0", "-1", "a year"])
def test_a_counter_retention_that_is_not_a_positive_number_of_days_is_refused_by_name(bad: str) -> None:
    with pytest.raises(SettingsError, match="KOE_COUNTER_RETENTION_DAYS"):
        from_env({**REQUIRED, **QUEUES, "KOE_COUNTER_RETENTION_DAYS": bad})


@pytest.mark.parametrize("path", DEPLOYED, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_deployed_code_never_scans_a_table(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"\.scan\(|['\"]Scan['\"]", source), f"{path.relative_to(ROOT)} scans a table"
