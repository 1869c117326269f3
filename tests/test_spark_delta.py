"""delta-spark and delta-rs on the same tables: each reads what the other wrote (one local Spark session)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from support.lake import check_race, ids_of, leads, race, sdf, spark_ids, spark_process_race

from leadlake.lakehouse import Lakehouse, MergeStats, SparkLakehouse, TableNotFound, publish
from leadlake.lakehouse.spark import delta_jars, delta_unavailable_reason, splink_jar

_REASON = delta_unavailable_reason()
pytestmark = [pytest.mark.spark, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


@pytest.fixture
def both(spark, tmp_path: Path) -> tuple[SparkLakehouse, Lakehouse]:
    root = str(tmp_path / "lakehouse")
    return SparkLakehouse(spark, root), Lakehouse(root)


def test_session_is_local_utc_with_delta_and_splink(spark) -> None:
    from pyspark.sql.types import DoubleType

    conf = spark.sparkContext.getConf()
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf.get("spark.master").startswith("local")
    assert {Path(j).name for j in conf.get("spark.jars").split(",")} >= {p.name for p in delta_jars()}
    # Splink's similarity UDFs load from the jar get_spark put on the classpath.
    assert splink_jar() is not None
    spark.udf.registerJavaFunction("jw_sim", "uk.gov.moj.dash.linkage.JaroWinklerSimilarity", DoubleType())
    score = spark.sql("SELECT jw_sim('MARTHA', 'MARHTA') AS s").collect()[0]["s"]
    assert score == pytest.approx(0.961, abs=0.001)


def test_spark_writes_delta_rs_reads_and_merges_back(spark, both) -> None:
    slh, lh = both
    name = "bronze.places_raw"
    batch = pa.concat_tables([leads([1, 2], "denver"), leads([3], "austin")])
    assert slh.append(name, sdf(spark, batch), partition_by=["city"]) == 0
    assert slh.table_uri(name) == lh.table_uri(name)

    read = lh.read(name)
    assert ids_of(read) == ["L0001", "L0002", "L0003"]
    assert lh.read(name, filter="city = 'austin'").column("lead_id").to_pylist() == ["L0003"]
    assert lh.list_tables()[0].rows == 3

    stats = lh.merge(name, leads([3, 4], "austin", score=0.9), ["lead_id"])
    assert (stats.inserted, stats.updated, stats.version) == (1, 1, 1)
    assert spark_ids(slh.read(name)) == ["L0001", "L0002", "L0003", "L0004"]
    austin = (
        slh.read(name, filter="city = 'austin'", columns=["lead_id", "score"]).orderBy("lead_id").collect()
    )
    assert [(r["lead_id"], round(r["score"], 3)) for r in austin] == [("L0003", 0.903), ("L0004", 0.904)]
    assert spark_ids(slh.read(name, version=0)) == ["L0001", "L0002", "L0003"]


def test_delta_rs_writes_spark_merges_and_time_travels(spark, both) -> None:
    slh, lh = both
    name = "silver.leads"
    lh.merge(name, leads([1, 2, 3]), ["lead_id"])
    assert spark_ids(slh.read(name)) == ["L0001", "L0002", "L0003"]

    first = slh.merge(name, sdf(spark, leads([3, 4], score=0.9)), ["lead_id"])
    assert first == MergeStats(inserted=1, updated=1, deleted=0, version=1)
    again = slh.merge(name, sdf(spark, leads([3, 4], score=0.9)), ["lead_id"])
    # Nothing changed: no row rewritten, no commit.
    assert (again.inserted, again.updated, again.version) == (0, 0, 1)
    only_new = slh.merge(name, sdf(spark, leads([4, 5], score=0.1)), ["lead_id"], update=False)
    assert (only_new.inserted, only_new.updated) == (1, 0)

    table = lh.read(name)
    assert ids_of(table) == ["L0001", "L0002", "L0003", "L0004", "L0005"]  # no duplicates
    scores = {r["lead_id"]: r["score"] for r in table.to_pylist()}
    assert scores["L0004"] == pytest.approx(0.904) and scores["L0003"] == pytest.approx(0.903)
    assert ids_of(lh.read(name, version=0)) == ["L0001", "L0002", "L0003"]
    assert spark_ids(slh.read(name, version=1)) == ["L0001", "L0002", "L0003", "L0004"]

    assert slh.version(name) == lh.version(name) == 2
    spark_history = [(h["version"], h["operation"]) for h in slh.history(name)]
    rs_history = [(h["version"], h["operation"]) for h in lh.history(name)]
    assert spark_history == rs_history == [(2, "MERGE"), (1, "MERGE"), (0, "WRITE")]
    assert all(isinstance(h["timestamp"], int) for h in slh.history(name))


def test_spark_merge_dedupes_source_and_creates_table(spark, both) -> None:
    slh, lh = both
    batch = pa.table({"lead_id": ["a", "b", "a"], "v": [1, 2, 3]})
    stats = publish(slh, "gold.scored_leads", sdf(spark, batch), ["lead_id"])
    assert (stats.inserted, stats.version) == (2, 0)
    assert {r["lead_id"]: r["v"] for r in lh.read("gold.scored_leads").to_pylist()} == {"a": 3, "b": 2}
    synced = slh.merge(
        "gold.scored_leads",
        sdf(spark, pa.table({"lead_id": ["b"], "v": [5]})),
        ["lead_id"],
        delete_missing=True,
    )
    # The upsert and the deletion of the vanished key are one commit: a reader never sees half a sync.
    assert (synced.inserted, synced.updated, synced.deleted, synced.version) == (0, 1, 1, 1)
    assert lh.read("gold.scored_leads").to_pylist() == [{"lead_id": "b", "v": 5}]
    with pytest.raises(ValueError, match="nulls"):
        slh.merge(
            "gold.scored_leads", sdf(spark, pa.table({"lead_id": ["c", None], "v": [1, 2]})), ["lead_id"]
        )


def test_spark_overwrite_delete_vacuum_read_by_delta_rs(spark, both) -> None:
    slh, lh = both
    name = "gold.scored_leads"
    batch = pa.concat_tables([leads([1, 2], "denver"), leads([3], "austin")])
    slh.append(name, sdf(spark, batch).coalesce(1), partition_by=["city"])
    assert slh.overwrite(name, sdf(spark, leads([7], "denver")), predicate="city = 'denver'") == 1
    assert ids_of(lh.read(name)) == ["L0003", "L0007"]
    assert slh.delete(name, "lead_id = 'L0003'") == 1
    assert ids_of(lh.read(name)) == ["L0007"]
    assert lh.delete(name, "lead_id = 'L0007'") == 1
    assert slh.read(name).count() == 0

    table_dir = Path(slh.table_uri(name))
    before = {str(p.relative_to(table_dir)) for p in table_dir.rglob("*.parquet")}
    stale = slh.vacuum(name, retention_hours=0, dry_run=True)
    assert stale and set(stale) <= before
    assert {str(p.relative_to(table_dir)) for p in table_dir.rglob("*.parquet")} == before
    assert sorted(stale) == sorted(lh.vacuum(name, retention_hours=0, dry_run=True))
    assert slh.vacuum(name, retention_hours=0, dry_run=False) == stale
    assert not any((table_dir / f).exists() for f in stale)
    assert lh.read(name).num_rows == 0 and slh.read(name).count() == 0


def test_spark_missing_table_and_bad_name(spark, both) -> None:
    slh, _ = both
    with pytest.raises(TableNotFound):
        slh.read("silver.nope")
    with pytest.raises(ValueError, match="bronze|silver|gold"):
        slh.table_uri("leads")
    assert (
        SparkLakehouse(spark, "s3://bucket/lake").spark_path("silver.leads")
        == "s3a://bucket/lake/silver/leads"
    )


# -- creating a table is a commit race too (DELTA_PATH_EXISTS, version-0 conflicts) ----------------------


def test_spark_merge_that_loses_the_creation_race_is_retried(spark, both, monkeypatch) -> None:
    # The exact interleaving: this writer saw no table, another created it before this one wrote
    # (Delta answers DELTA_PATH_EXISTS to the errorifexists write that creates a table on merge).
    slh, lh = both
    lh.append("silver.leads", leads([1, 2]))
    real_exists = slh.exists
    looked: list[str] = []

    def stale_then_real(name: str) -> bool:
        looked.append(name)
        return False if len(looked) == 1 else real_exists(name)

    monkeypatch.setattr(slh, "exists", stale_then_real)
    stats = slh.merge("silver.leads", sdf(spark, leads([2, 3], score=0.9)), ["lead_id"])
    assert len(looked) >= 2  # the lost creation was retried against the winner's table
    assert (stats.inserted, stats.updated, stats.deleted, stats.version) == (1, 1, 0, 1)
    assert ids_of(lh.read("silver.leads")) == ["L0001", "L0002", "L0003"]


@pytest.mark.parametrize("op", ["append", "merge"])
def test_two_spark_threads_create_and_write_the_same_new_table(spark, both, op: str) -> None:
    slh, lh = both
    batches = [leads([1, 2, 3]), leads([10, 11])]
    frames = [sdf(spark, b).cache() for b in batches]
    for frame in frames:
        frame.count()  # built before the race starts
    results = race(slh, "silver.leads", frames, op)
    versions = sorted(r if isinstance(r, int) else r.version for r in results)
    assert versions == [0, 1]  # both committed: one created the table, the other wrote into it
    assert lh.read("silver.leads").num_rows == 5
    check_race(lh, "silver.leads", batches, results)


def test_two_spark_drivers_create_and_append_the_same_new_table(spark, both) -> None:
    slh, lh = both
    name = "bronze.places_raw"
    own, other = spark_process_race(slh, name, [1, 2, 3], [10, 11], lambda frame: slh.append(name, frame))
    assert sorted([own, other]) == [0, 1]
    assert lh.read(name).num_rows == 5
    check_race(lh, name, [leads([1, 2, 3]), leads([10, 11])], [own, other])
