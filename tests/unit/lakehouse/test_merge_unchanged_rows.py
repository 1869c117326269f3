"""MERGE rewrites only rows that changed, on both backends and real Delta tables.

A re-merge of identical data must leave every data file in place; a changed row is updated and counted;
`ignore_columns` are not compared; nulls, NaN, arrays and structs compare by value; a new source column
still evolves the schema; delete_missing still deletes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from support.lake import reader

from leadlake.lakehouse import Lakehouse, SparkLakehouse

pytest_plugins = ["support.lake"]

NAME = "silver.leads"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("lead_id", pa.string()),
        ("name", pa.string()),
        ("score", pa.float64()),
        ("tags", pa.list_(pa.string())),
        ("geo", pa.struct([("lat", pa.float64()), ("lng", pa.float64())])),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def rows(**changes: dict) -> pa.Table:
    """Three leads with nulls, NaN, arrays and structs; `changes` overrides fields per lead_id."""
    base = [
        {"lead_id": "L1", "name": "Acme", "score": 0.5, "tags": ["a", "b"], "geo": {"lat": 1.0, "lng": 2.0}},
        {"lead_id": "L2", "name": None, "score": float("nan"), "tags": None, "geo": None},
        {"lead_id": "L3", "name": "Cafe", "score": None, "tags": [], "geo": {"lat": None, "lng": 3.0}},
    ]
    out = []
    for row in base:
        row = {**row, "updated_at": T0, **changes.get(row["lead_id"], {})}
        out.append(row)
    return pa.Table.from_pylist(out, schema=SCHEMA)


def source(lake: Lakehouse | SparkLakehouse, table: pa.Table):  # noqa: ANN201 - Arrow or Spark frame
    """What the backend merges: the Arrow table, or the same rows as a Spark DataFrame (types kept)."""
    return lake.spark.createDataFrame(table) if isinstance(lake, SparkLakehouse) else table


def files(lake: Lakehouse | SparkLakehouse) -> set[str]:
    """The data files the table's latest version references."""
    return set(DeltaTable(lake.table_uri(NAME)).file_uris())


def by_id(lake: Lakehouse | SparkLakehouse) -> dict[str, dict]:
    """The table's rows keyed by lead_id, read with delta-rs whichever backend wrote them."""
    return {r["lead_id"]: r for r in reader(lake).read(NAME).to_pylist()}


def test_identical_remerge_changes_no_row_and_rewrites_no_file(any_lake: Lakehouse | SparkLakehouse) -> None:
    created = any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    assert (created.inserted, created.updated, created.deleted) == (3, 0, 0)
    before, content = files(any_lake), by_id(any_lake)
    for delete_missing in (False, True):
        stats = any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"], delete_missing=delete_missing)
        assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 0)
        assert files(any_lake) == before
    after = by_id(any_lake)
    assert after.keys() == content.keys()
    assert after["L1"] == content["L1"] and after["L2"]["tags"] is None


def test_only_changed_rows_are_updated(any_lake: Lakehouse | SparkLakehouse) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    before = files(any_lake)
    changed = rows(L1={"tags": ["a", "c"]}, L2={"name": "Now named"}, L3={"geo": {"lat": 9.0, "lng": 3.0}})
    stats = any_lake.merge(NAME, source(any_lake, changed), ["lead_id"], delete_missing=True)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 3, 0)
    assert files(any_lake) != before
    got = by_id(any_lake)
    assert got["L1"]["tags"] == ["a", "c"]
    assert got["L2"]["name"] == "Now named"
    assert got["L3"]["geo"] == {"lat": 9.0, "lng": 3.0}


@pytest.mark.parametrize(
    "change",
    [
        {"L1": {"name": None}},  # a value becomes null
        {"L2": {"name": "x"}},  # a null becomes a value
        {"L2": {"score": 1.0}},  # NaN becomes a number
        {"L3": {"tags": ["new"]}},  # an empty array gains an element
        {"L1": {"geo": None}},  # a struct becomes null
    ],
)
def test_null_safe_comparison_sees_each_kind_of_change(
    any_lake: Lakehouse | SparkLakehouse, change: dict
) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    stats = any_lake.merge(NAME, source(any_lake, rows(**change)), ["lead_id"])
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 1, 0)
    ((lead_id, fields),) = change.items()
    ((field, value),) = fields.items()
    assert by_id(any_lake)[lead_id][field] == value


def test_ignored_columns_are_not_compared_and_keep_the_time_of_the_last_change(
    any_lake: Lakehouse | SparkLakehouse,
) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    before = files(any_lake)
    restamped = rows(L1={"updated_at": T1}, L2={"updated_at": T1}, L3={"updated_at": T1})
    stats = any_lake.merge(NAME, source(any_lake, restamped), ["lead_id"], ignore_columns=["updated_at"])
    assert (stats.updated, files(any_lake)) == (0, before)
    assert {r["updated_at"] for r in by_id(any_lake).values()} == {T0}

    # Not ignored, the same restamp rewrites every row.
    stats = any_lake.merge(NAME, source(any_lake, restamped), ["lead_id"])
    assert stats.updated == 3

    # A real change still carries the ignored column along.
    real = rows(L1={"name": "Acme Inc", "updated_at": T0.replace(month=3)})
    stats = any_lake.merge(NAME, source(any_lake, real), ["lead_id"], ignore_columns=["updated_at"])
    assert stats.updated == 1
    got = by_id(any_lake)
    assert (got["L1"]["name"], got["L1"]["updated_at"]) == ("Acme Inc", T0.replace(month=3))
    assert got["L2"]["updated_at"] == T1


def test_ignore_columns_must_name_non_key_columns_of_the_data(any_lake: Lakehouse | SparkLakehouse) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    with pytest.raises(ValueError, match=r"ignore_columns \['touched_at'\] are not in the data"):
        any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"], ignore_columns=["touched_at"])
    with pytest.raises(ValueError, match=r"ignore_columns \['lead_id'\] are merge keys"):
        any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"], ignore_columns=["lead_id"])


def test_a_new_source_column_evolves_the_schema_then_compares(any_lake: Lakehouse | SparkLakehouse) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    wider = rows().append_column("phone", pa.array(["+1", None, None], pa.string()))
    stats = any_lake.merge(NAME, source(any_lake, wider), ["lead_id"])
    assert stats.inserted == 0
    got = by_id(any_lake)
    assert (got["L1"]["phone"], got["L2"]["phone"]) == ("+1", None)
    before = files(any_lake)
    again = any_lake.merge(NAME, source(any_lake, wider), ["lead_id"])
    assert (again.updated, files(any_lake)) == (0, before)


def test_a_target_only_column_is_left_alone(any_lake: Lakehouse | SparkLakehouse) -> None:
    any_lake.merge(
        NAME, source(any_lake, rows().append_column("note", pa.array(["n1", "n2", "n3"]))), ["lead_id"]
    )
    stats = any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    assert stats.updated == 0
    assert [by_id(any_lake)[k]["note"] for k in ("L1", "L2", "L3")] == ["n1", "n2", "n3"]


def test_delete_missing_still_deletes_and_inserts(any_lake: Lakehouse | SparkLakehouse) -> None:
    any_lake.merge(NAME, source(any_lake, rows()), ["lead_id"])
    fewer = pa.concat_tables(
        [
            rows().filter(pa.compute.is_in(rows().column("lead_id"), pa.array(["L1", "L3"]))),
            pa.Table.from_pylist([{"lead_id": "L4", "name": "New", "updated_at": T1}], schema=SCHEMA),
        ]
    )
    before = any_lake.version(NAME)
    stats = any_lake.merge(NAME, source(any_lake, fewer), ["lead_id"], delete_missing=True)
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 0, 1)
    assert sorted(by_id(any_lake)) == ["L1", "L3", "L4"]
    assert stats.version == any_lake.version(NAME) == before + 1  # one commit: no half-synced table
    again = any_lake.merge(NAME, source(any_lake, fewer), ["lead_id"], delete_missing=True)
    assert (again.inserted, again.updated, again.deleted, again.version) == (0, 0, 0, before + 1)


def test_create_counts_deduped_rows_and_null_keys_fail_without_a_table(
    any_lake: Lakehouse | SparkLakehouse,
) -> None:
    doubled = pa.concat_tables([rows(), rows(L1={"name": "Last wins"})])
    stats = any_lake.merge(NAME, source(any_lake, doubled), ["lead_id"])
    assert (stats.inserted, stats.updated, stats.version) == (3, 0, 0)
    assert by_id(any_lake)["L1"]["name"] == "Last wins"

    other = "silver.lead_links"
    nulls = pa.table({"record_id": ["r1", None], "lead_id": ["L1", "L2"]})
    with pytest.raises(
        ValueError, match=r"merge into silver.lead_links: key columns \['record_id'\] contain nulls"
    ):
        any_lake.merge(other, source(any_lake, nulls), ["record_id"])
    assert not any_lake.exists(other)
