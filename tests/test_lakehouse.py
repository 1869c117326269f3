"""The delta-rs Lakehouse on the local filesystem: every operation on real Delta tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from support.lake import (
    as_input,
    assert_history_consistent,
    check_race,
    ids_of,
    leads,
    process_race,
    race,
    reader,
    run_process_race,
)

from leadlake.lakehouse import (
    CommitConflict,
    Lakehouse,
    LakehouseUnreachable,
    MergeStats,
    SparkLakehouse,
    TableInfo,
    TableNotFound,
    publish,
    with_retries,
)
from leadlake.lakehouse.delta_rs import is_commit_conflict

pytest_plugins = ["support.lake"]


# -- names and paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["leads", "platinum.leads", "silver.", "silver.Leads", "silver.leads.x", "silver.le-ads", "", ".x"]
)
def test_bad_names_raise_value_error_naming_table_and_form(lakehouse: Lakehouse, bad: str) -> None:
    with pytest.raises(ValueError) as err:
        lakehouse.table_uri(bad)
    assert repr(bad) in str(err.value)
    assert "bronze|silver|gold" in str(err.value)
    with pytest.raises(ValueError):
        lakehouse.append(bad, leads([1]))


def test_table_uri_is_root_layer_table(tmp_path: Path) -> None:
    lh = Lakehouse(str(tmp_path / "lh"))
    assert lh.table_uri("gold.scored_leads") == str((tmp_path / "lh" / "gold" / "scored_leads").resolve())
    assert Lakehouse("s3://bucket/pre/").table_uri("bronze.places_raw") == "s3://bucket/pre/bronze/places_raw"
    assert Lakehouse("s3a://bucket").table_uri("silver.leads") == "s3://bucket/silver/leads"
    with pytest.raises(ValueError, match="bucket"):
        Lakehouse("s3://")
    with pytest.raises(ValueError, match="gs://"):
        Lakehouse("gs://bucket/x")


# -- writes ----------------------------------------------------------------------------------------------


def test_append_creates_then_appends_and_returns_versions(lakehouse: Lakehouse) -> None:
    assert not lakehouse.exists("bronze.places_raw")
    assert lakehouse.append("bronze.places_raw", leads([1, 2])) == 0
    assert lakehouse.exists("bronze.places_raw")
    assert lakehouse.append("bronze.places_raw", leads([3])) == 1
    assert ids_of(lakehouse.read("bronze.places_raw")) == ["L0001", "L0002", "L0003"]
    assert lakehouse.version("bronze.places_raw") == 1
    assert Path(lakehouse.table_uri("bronze.places_raw"), "_delta_log").is_dir()


def test_append_adds_new_columns(lakehouse: Lakehouse) -> None:
    lakehouse.append("bronze.places_raw", leads([1]))
    lakehouse.append("bronze.places_raw", leads([2]).append_column("phone", pa.array(["+1"], pa.string())))
    table = lakehouse.read("bronze.places_raw").sort_by("lead_id")
    assert table.column("phone").to_pylist() == [None, "+1"]


def test_overwrite_with_predicate_replaces_only_that_partition(lakehouse: Lakehouse) -> None:
    name = "bronze.places_raw"
    lakehouse.append(
        name, pa.concat_tables([leads([1, 2], "denver"), leads([3], "austin")]), partition_by=["city"]
    )
    version = lakehouse.overwrite(name, leads([7], "denver"), predicate="city = 'denver'")
    assert version == 1
    table = lakehouse.read(name)
    assert ids_of(table) == ["L0003", "L0007"]
    assert sorted(table.column("city").to_pylist()) == ["austin", "denver"]
    assert DeltaTable(lakehouse.table_uri(name)).metadata().partition_columns == ["city"]


def test_overwrite_without_predicate_replaces_table_and_schema(lakehouse: Lakehouse) -> None:
    lakehouse.append("gold.scored_leads", leads([1, 2, 3]))
    lakehouse.overwrite("gold.scored_leads", pa.table({"lead_id": ["L9"], "tier": ["A"]}))
    table = lakehouse.read("gold.scored_leads")
    assert table.column_names == ["lead_id", "tier"]
    assert table.num_rows == 1


def test_merge_upserts_and_is_idempotent(lakehouse: Lakehouse) -> None:
    name = "silver.leads"
    first = lakehouse.merge(name, leads([1, 2, 3]), ["lead_id"])
    assert first == MergeStats(inserted=3, updated=0, deleted=0, version=0)

    changed = leads([3, 4], score=0.9)
    second = lakehouse.merge(name, changed, ["lead_id"])
    assert (second.inserted, second.updated, second.deleted, second.version) == (1, 1, 0, 1)
    again = lakehouse.merge(name, changed, ["lead_id"])
    # Rows equal to their source row are not rewritten, nor counted as updated.
    assert (again.inserted, again.updated, again.version) == (0, 0, 1)

    table = lakehouse.read(name)
    assert ids_of(table) == ["L0001", "L0002", "L0003", "L0004"]
    scores = dict(zip(table.column("lead_id").to_pylist(), table.column("score").to_pylist(), strict=True))
    assert scores["L0003"] == pytest.approx(0.903)
    assert scores["L0001"] == pytest.approx(0.501)


def test_merge_insert_only_leaves_existing_keys_untouched(lakehouse: Lakehouse) -> None:
    name = "bronze.places_raw"
    lakehouse.merge(name, leads([1, 2], score=0.1), ["lead_id"], update=False)
    stats = lakehouse.merge(name, leads([2, 3], score=0.8), ["lead_id"], update=False)
    assert (stats.inserted, stats.updated) == (1, 0)
    scores = {r["lead_id"]: r["score"] for r in lakehouse.read(name).to_pylist()}
    assert scores == {
        "L0001": pytest.approx(0.101),
        "L0002": pytest.approx(0.102),
        "L0003": pytest.approx(0.803),
    }


def test_merge_keeps_last_row_per_key_and_supports_composite_keys(lakehouse: Lakehouse) -> None:
    batch = pa.table({"provider": ["g", "g", "y", "g"], "pid": ["1", "2", "1", "1"], "v": [1, 2, 3, 4]})
    stats = lakehouse.merge("bronze.places_raw", batch, ["provider", "pid"], partition_by=["provider"])
    assert stats.inserted == 3
    rows = {(r["provider"], r["pid"]): r["v"] for r in lakehouse.read("bronze.places_raw").to_pylist()}
    assert rows == {("g", "1"): 4, ("g", "2"): 2, ("y", "1"): 3}


def test_merge_rejects_null_or_missing_keys(lakehouse: Lakehouse) -> None:
    with pytest.raises(ValueError, match="nulls"):
        lakehouse.merge("silver.leads", pa.table({"lead_id": ["a", None]}), ["lead_id"])
    with pytest.raises(ValueError, match="not in the data"):
        lakehouse.merge("silver.leads", pa.table({"x": [1]}), ["lead_id"])
    assert not lakehouse.exists("silver.leads")


def test_merge_delete_missing_syncs_the_table(lakehouse: Lakehouse) -> None:
    lakehouse.merge("gold.scored_leads", leads([1, 2, 3]), ["lead_id"])
    stats = lakehouse.merge("gold.scored_leads", leads([2, 4]), ["lead_id"], delete_missing=True)
    # L0002 is unchanged: kept, not counted as updated.
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 0, 2)
    assert ids_of(lakehouse.read("gold.scored_leads")) == ["L0002", "L0004"]


def test_publish_merges_through_either_backend(any_lake: Lakehouse | SparkLakehouse) -> None:
    # Parametrized: once through delta-rs (Arrow in), once through delta-spark (DataFrame in).
    name = "gold.scored_leads"
    assert publish(any_lake, name, as_input(any_lake, leads([1, 2])), ["lead_id"]).inserted == 2
    assert publish(any_lake, name, as_input(any_lake, leads([2, 3])), ["lead_id"]).inserted == 1
    assert reader(any_lake).read(name).num_rows == 3
    assert ids_of(reader(any_lake).read(name)) == ["L0001", "L0002", "L0003"]


def test_delete_returns_rows_deleted(lakehouse: Lakehouse) -> None:
    lakehouse.append("silver.leads", leads([1, 2, 3, 4]))
    assert lakehouse.delete("silver.leads", "score > 0.5025") == 2
    assert ids_of(lakehouse.read("silver.leads")) == ["L0001", "L0002"]
    assert lakehouse.delete("silver.leads", "lead_id = 'nope'") == 0
    with pytest.raises(ValueError):
        lakehouse.delete("silver.leads", " ")


def test_missing_table_raises_table_not_found(lakehouse: Lakehouse) -> None:
    for op in (lakehouse.read, lakehouse.version, lakehouse.history):
        with pytest.raises(TableNotFound, match="silver.nope"):
            op("silver.nope")
    with pytest.raises(TableNotFound):
        lakehouse.delete("silver.nope", "x = 1")


# -- reads, time travel, history, vacuum -----------------------------------------------------------------


def test_read_columns_filter_and_time_travel(lakehouse: Lakehouse) -> None:
    name = "silver.leads"
    lakehouse.append(name, leads([1, 2]))
    lakehouse.merge(name, leads([2, 3], score=0.9), ["lead_id"])
    lakehouse.delete(name, "lead_id = 'L0001'")

    assert ids_of(lakehouse.read(name, version=0)) == ["L0001", "L0002"]
    assert ids_of(lakehouse.read(name, version=1)) == ["L0001", "L0002", "L0003"]
    assert ids_of(lakehouse.read(name)) == ["L0002", "L0003"]

    only = lakehouse.read(name, columns=["lead_id", "score"], filter="city = 'denver' AND score > 0.9")
    assert only.column_names == ["lead_id", "score"]
    assert only.schema.field("lead_id").type == pa.string()
    assert ids_of(only) == ["L0002", "L0003"]
    old = lakehouse.read(name, version=0, filter="lead_id = 'L0001'")
    assert old.schema == lakehouse.read(name).schema
    assert old.column("name").to_pylist() == ["Business 1"]


def test_history_lists_every_commit_newest_first(lakehouse: Lakehouse) -> None:
    lakehouse.append("silver.leads", leads([1]))
    lakehouse.merge("silver.leads", leads([2]), ["lead_id"])
    lakehouse.delete("silver.leads", "lead_id = 'L0001'")
    history = lakehouse.history("silver.leads")
    assert [h["version"] for h in history] == [2, 1, 0]
    assert [h["operation"] for h in history] == ["DELETE", "MERGE", "WRITE"]
    assert all(isinstance(h["timestamp"], int) for h in history)


def test_vacuum_dry_run_lists_without_deleting(lakehouse: Lakehouse) -> None:
    name = "gold.scored_leads"
    lakehouse.append(name, leads([1, 2]))
    lakehouse.overwrite(name, leads([3]))
    uri = Path(lakehouse.table_uri(name))
    before = sorted(p.name for p in uri.glob("*.parquet"))
    assert lakehouse.vacuum(name) == []  # everything is younger than the default week
    stale = lakehouse.vacuum(name, retention_hours=0, dry_run=True)
    assert len(stale) == 1 and stale[0] in before
    assert sorted(p.name for p in uri.glob("*.parquet")) == before
    deleted = lakehouse.vacuum(name, retention_hours=0, dry_run=False)
    assert deleted == stale
    assert sorted(p.name for p in uri.glob("*.parquet")) == sorted(set(before) - set(stale))
    assert ids_of(lakehouse.read(name)) == ["L0003"]


# -- catalogue and SQL -----------------------------------------------------------------------------------


def test_list_tables_covers_every_layer(lakehouse: Lakehouse) -> None:
    assert lakehouse.list_tables() == []
    lakehouse.append("bronze.places_raw", leads([1, 2, 3]))
    lakehouse.append("bronze.places_raw", leads([4]))
    lakehouse.merge("silver.leads", leads([1, 2]), ["lead_id"])
    lakehouse.append("gold.scored_leads", leads([1]))
    # A stray folder without a Delta log is not a table.
    Path(lakehouse.root_uri, "gold", "scratch").mkdir(parents=True)
    assert lakehouse.list_tables() == [
        TableInfo("bronze", "bronze.places_raw", 1, 4, lakehouse.table_uri("bronze.places_raw")),
        TableInfo("gold", "gold.scored_leads", 0, 1, lakehouse.table_uri("gold.scored_leads")),
        TableInfo("silver", "silver.leads", 0, 2, lakehouse.table_uri("silver.leads")),
    ]


def test_sql_joins_across_layers(lakehouse: Lakehouse) -> None:
    lakehouse.append("bronze.places_raw", leads([1, 2, 3, 4]))
    lakehouse.append("silver.leads", leads([2, 3, 4]))
    lakehouse.append("gold.scored_leads", leads([3, 4], score=0.9))
    assert lakehouse.sql("SELECT count(*) AS n FROM gold.scored_leads").column("n").to_pylist() == [2]
    joined = lakehouse.sql(
        """SELECT b.lead_id, g.score FROM bronze.places_raw b
           JOIN silver.leads s USING (lead_id) JOIN gold.scored_leads g USING (lead_id)
           WHERE s.city = 'denver' ORDER BY b.lead_id"""
    )
    assert joined.column("lead_id").to_pylist() == ["L0003", "L0004"]
    assert joined.column("score").to_pylist() == pytest.approx([0.903, 0.904])


def test_sql_on_missing_table_names_it(lakehouse: Lakehouse) -> None:
    with pytest.raises(Exception, match="nothing_here"):
        lakehouse.sql("SELECT * FROM gold.nothing_here")


def test_check_reachable(tmp_path: Path) -> None:
    Lakehouse(str(tmp_path / "new" / "lake")).check_reachable()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LakehouseUnreachable, match=str(blocker)):
        Lakehouse(str(blocker / "lake")).check_reachable()


# -- concurrency -----------------------------------------------------------------------------------------


def test_conflict_is_retried_or_reported_cleanly(lakehouse: Lakehouse) -> None:
    name = "silver.leads"
    lakehouse.merge(name, leads([1, 2]), ["lead_id"])
    stale = DeltaTable(lakehouse.table_uri(name))
    lakehouse.merge(name, leads([2, 3]), ["lead_id"])  # commits after `stale` was loaded

    def stale_merge() -> dict:
        return (
            stale.merge(leads([2]), "t.lead_id = s.lead_id", "s", "t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

    with pytest.raises(CommitConflict, match="gave up after 1 attempts"):
        with_retries(stale_merge, is_commit_conflict, "merge into silver.leads", attempts=1)

    calls: list[int] = []

    def reloading_merge() -> dict:
        calls.append(1)
        if len(calls) > 1:
            stale.update_incremental()
        return stale_merge()

    retried: list[tuple[int, str]] = []
    metrics = with_retries(
        reloading_merge,
        is_commit_conflict,
        "merge into silver.leads",
        attempts=3,
        base_delay=0,
        on_retry=lambda attempt, exc: retried.append((attempt, type(exc).__name__)),
    )
    assert len(calls) == 2 and metrics["num_target_rows_updated"] == 1
    assert retried == [(1, "CommitFailedError")]  # one conflict, retried once
    assert ids_of(lakehouse.read(name)) == ["L0001", "L0002", "L0003"]
    assert_history_consistent(lakehouse, name)


def test_concurrent_thread_merges_on_a_new_table(lakehouse: Lakehouse) -> None:
    # Neighbours overlap and every batch shares key 999, so a double creation would show duplicates.
    batches = [leads([*range(i * 5, i * 5 + 8), 999]) for i in range(4)]
    results = race(lakehouse, "silver.leads", batches, "merge")
    check_race(lakehouse, "silver.leads", batches, results)
    committed = [r for r in results if isinstance(r, MergeStats)]
    assert sorted(r.version for r in committed) == list(range(len(committed)))


def test_concurrent_thread_appends(lakehouse: Lakehouse) -> None:
    lakehouse.append("bronze.places_raw", leads([0]))
    batches = [leads([100 + i]) for i in range(4)]
    results = race(lakehouse, "bronze.places_raw", batches, "append")
    check_race(lakehouse, "bronze.places_raw", [leads([0]), *batches], [0, *results])
    assert sorted(r for r in results if isinstance(r, int)) == [1, 2, 3, 4]


def test_concurrent_process_merges(lakehouse: Lakehouse) -> None:
    run_process_race(lakehouse)


# -- creating a table is a commit race too ---------------------------------------------------------------


@pytest.mark.parametrize("op", ["append", "merge", "overwrite"])
def test_a_write_that_loses_the_creation_race_is_retried(
    lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    # The exact interleaving: this writer saw no table, another created it before this one committed.
    lakehouse.append("silver.leads", leads([1, 2]))
    real_exists = lakehouse.exists
    looked: list[str] = []

    def stale_then_real(name: str) -> bool:
        looked.append(name)
        return False if len(looked) == 1 else real_exists(name)

    monkeypatch.setattr(lakehouse, "exists", stale_then_real)
    if op == "append":
        assert lakehouse.append("silver.leads", leads([3])) == 1
        expected = ["L0001", "L0002", "L0003"]
    elif op == "merge":
        assert lakehouse.merge("silver.leads", leads([2, 3]), ["lead_id"]).version == 1
        expected = ["L0001", "L0002", "L0003"]
    else:
        assert lakehouse.overwrite("silver.leads", leads([3])) == 1
        expected = ["L0003"]
    assert len(looked) == 2  # the lost creation was retried once, against the winner's table
    assert ids_of(lakehouse.read("silver.leads")) == expected
    assert_history_consistent(lakehouse, "silver.leads")


def test_two_threads_create_and_append_the_same_new_table(lakehouse: Lakehouse) -> None:
    batches = [leads([1, 2, 3]), leads([10, 11])]
    results = race(lakehouse, "bronze.places_raw", batches, "append")
    assert sorted(results) == [0, 1]  # both committed: one created the table, the other appended
    assert lakehouse.read("bronze.places_raw").num_rows == 5
    check_race(lakehouse, "bronze.places_raw", batches, results)


def test_two_processes_create_and_append_the_same_new_table(lakehouse: Lakehouse) -> None:
    ids = [[1, 2, 3], [10, 11]]
    results = process_race(lakehouse, "bronze.places_raw", ids, "append")
    assert sorted(results) == [0, 1]
    assert lakehouse.read("bronze.places_raw").num_rows == 5
    check_race(lakehouse, "bronze.places_raw", [leads(i) for i in ids], results)
