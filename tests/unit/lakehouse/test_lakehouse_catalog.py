"""The catalog owns layers and table names; the ops layer is a layer like the others."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from leadlake.lakehouse import LAYERS, Lakehouse, TableInfo, parse_name
from leadlake.lakehouse import catalog as cat

# A stage-run row as the brief describes it (leadlake.observe.reports owns the real shape).
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("stage", pa.string()),
        ("status", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("seconds", pa.float64()),
        ("rows_in", pa.int64()),
        ("rows_out", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("error", pa.string()),
        ("details_json", pa.string()),
    ]
)


def catalog_tables() -> list[str]:
    return [v for k, v in vars(cat).items() if k.isupper() and isinstance(v, str) and "." in v]


def test_layers_come_from_the_catalog() -> None:
    assert LAYERS == cat.LAYERS == ("bronze", "silver", "gold", "ops")


@pytest.mark.parametrize("name", catalog_tables())
def test_every_catalog_table_is_a_valid_name_in_a_known_layer(name: str) -> None:
    layer, _ = parse_name(name)
    assert layer in cat.LAYERS


def test_bad_names_list_every_layer() -> None:
    with pytest.raises(ValueError, match=r"bronze\|silver\|gold\|ops"):
        parse_name("audit.stage_runs")


def test_stage_runs_live_in_the_ops_layer() -> None:
    assert cat.OPS_STAGE_RUNS == "ops.stage_runs"
    assert parse_name(cat.OPS_STAGE_RUNS) == ("ops", "stage_runs")


def test_ops_tables_are_written_listed_and_queried_like_the_others(lakehouse: Lakehouse) -> None:
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    row = {
        "run_id": "r1",
        "stage": "gold",
        "status": "ok",
        "started_at": start,
        "finished_at": start,
        "seconds": 1.5,
        "rows_in": 10,
        "rows_out": 9,
        "rows_quarantined": 1,
        "error": None,
        "details_json": "{}",
    }
    runs = pa.Table.from_pylist([row], schema=SCHEMA)
    stats = lakehouse.merge(cat.OPS_STAGE_RUNS, runs, ["run_id", "stage"])
    assert stats.inserted == 1
    lakehouse.append("gold.scored_leads", pa.table({"lead_id": ["L1"]}))
    assert lakehouse.list_tables() == [
        TableInfo("gold", "gold.scored_leads", 0, 1, lakehouse.table_uri("gold.scored_leads")),
        TableInfo("ops", "ops.stage_runs", 0, 1, lakehouse.table_uri("ops.stage_runs")),
    ]
    out = lakehouse.sql("SELECT stage, rows_quarantined, started_at FROM ops.stage_runs WHERE run_id = 'r1'")
    assert out.to_pylist() == [{"stage": "gold", "rows_quarantined": 1, "started_at": start}]
    assert lakehouse.read(cat.OPS_STAGE_RUNS).schema == SCHEMA
