"""The delta-rs Lakehouse on S3: the same operations against a moto server on 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from support.lake import (
    check_race,
    closed_port,
    hanging_up_server,
    ids_of,
    leads,
    process_race,
    race,
    run_process_race,
    s3_options,
)

from leadlake.lakehouse import Lakehouse, LakehouseUnreachable, MergeStats, TableNotFound

if TYPE_CHECKING:
    from conftest import MotoS3

pytest_plugins = ["support.lake"]


def keys_in(moto_server: MotoS3, bucket: str, prefix: str) -> list[str]:
    """Object keys under a prefix, listed with boto3 (independent of delta-rs)."""
    pages = moto_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_s3_defaults_to_conditional_put(s3_lake: Lakehouse) -> None:
    assert s3_lake.storage_options["conditional_put"] == "etag"
    own = Lakehouse("s3://b/p", {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"})
    assert "conditional_put" not in own.storage_options


def test_s3_append_merge_read_time_travel(s3_lake: Lakehouse, moto_server: MotoS3, s3_bucket: str) -> None:
    name = "silver.leads"
    assert not s3_lake.exists(name)
    assert s3_lake.append(name, leads([1, 2])) == 0
    stats = s3_lake.merge(name, leads([2, 3], score=0.9), ["lead_id"])
    assert stats == MergeStats(inserted=1, updated=1, deleted=0, version=1)
    again = s3_lake.merge(name, leads([2, 3], score=0.9), ["lead_id"])
    assert (again.inserted, again.updated, again.version) == (0, 0, 1)
    assert s3_lake.exists(name)
    assert ids_of(s3_lake.read(name)) == ["L0001", "L0002", "L0003"]
    assert ids_of(s3_lake.read(name, version=0)) == ["L0001", "L0002"]
    assert ids_of(s3_lake.read(name, filter="score > 0.9", columns=["lead_id"])) == ["L0002", "L0003"]
    # The repeated merge changed nothing and committed nothing.
    assert [h["operation"] for h in s3_lake.history(name)] == ["MERGE", "WRITE"]

    objects = keys_in(moto_server, s3_bucket, "lake/silver/leads/")
    assert "lake/silver/leads/_delta_log/00000000000000000000.json" in objects
    assert any(k.endswith(".parquet") for k in objects)


def test_s3_overwrite_partition_delete_vacuum(s3_lake: Lakehouse) -> None:
    name = "bronze.places_raw"
    batch = pa.concat_tables([leads([1, 2], "denver"), leads([3], "austin")])
    s3_lake.append(name, batch, partition_by=["city"])
    assert s3_lake.overwrite(name, leads([7], "denver"), predicate="city = 'denver'") == 1
    assert ids_of(s3_lake.read(name)) == ["L0003", "L0007"]
    assert s3_lake.delete(name, "lead_id = 'L0003'") == 1
    assert ids_of(s3_lake.read(name)) == ["L0007"]
    stale = s3_lake.vacuum(name, retention_hours=0, dry_run=True)
    assert len(stale) == 2  # the replaced denver file and the rewritten austin file
    assert ids_of(s3_lake.read(name, version=0)) == ["L0001", "L0002", "L0003"]  # dry run kept them


def test_s3_list_tables_and_sql(s3_lake: Lakehouse) -> None:
    s3_lake.append("bronze.places_raw", leads([1, 2, 3]))
    s3_lake.append("silver.leads", leads([2, 3]))
    s3_lake.append("gold.scored_leads", leads([3]))
    listed = {t.name: (t.layer, t.version, t.rows, t.uri) for t in s3_lake.list_tables()}
    assert listed == {
        "bronze.places_raw": ("bronze", 0, 3, s3_lake.table_uri("bronze.places_raw")),
        "gold.scored_leads": ("gold", 0, 1, s3_lake.table_uri("gold.scored_leads")),
        "silver.leads": ("silver", 0, 2, s3_lake.table_uri("silver.leads")),
    }
    out = s3_lake.sql(
        "SELECT count(*) AS n FROM bronze.places_raw b JOIN gold.scored_leads g USING (lead_id)"
    )
    assert out.column("n").to_pylist() == [1]


def test_s3_missing_table_and_reachability(moto_server: MotoS3, s3_lake: Lakehouse) -> None:
    with pytest.raises(TableNotFound):
        s3_lake.read("gold.scored_leads")
    s3_lake.check_reachable()
    with pytest.raises(LakehouseUnreachable, match="s3://no-such-bucket-here/lake"):
        Lakehouse("s3://no-such-bucket-here/lake", moto_server.storage_options).check_reachable()


def test_s3_unreachable_endpoint_fails_fast_with_one_line() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"  # a loopback port nobody listens on
    lake = Lakehouse("s3://bucket/lake", s3_options(endpoint))
    with pytest.raises(LakehouseUnreachable) as err:
        lake.check_reachable()
    message = str(err.value)
    assert "s3://bucket/lake" in message and endpoint in message and "\n" not in message


def test_s3_reachability_probe_connects_once() -> None:
    # Failing fast means one connection attempt, not a retry loop: count what the probe did.
    with hanging_up_server() as (endpoint, accepted):
        with pytest.raises(LakehouseUnreachable, match="s3://bucket/lake") as err:
            Lakehouse("s3://bucket/lake", s3_options(endpoint)).check_reachable()
        assert accepted[0] == 1
    assert endpoint in str(err.value) and "\n" not in str(err.value)


def test_s3_concurrent_thread_merges(s3_lake: Lakehouse) -> None:
    batches = [leads([*range(i * 5, i * 5 + 8), 999]) for i in range(3)]
    results = race(s3_lake, "silver.leads", batches, "merge")
    check_race(s3_lake, "silver.leads", batches, results)


def test_s3_concurrent_thread_appends(s3_lake: Lakehouse) -> None:
    batches = [leads([100 + i]) for i in range(3)]
    results = race(s3_lake, "bronze.places_raw", batches, "append")
    check_race(s3_lake, "bronze.places_raw", batches, results)
    assert sorted(r for r in results if isinstance(r, int)) == list(range(len(batches)))


def test_s3_concurrent_process_merges(s3_lake: Lakehouse) -> None:
    run_process_race(s3_lake)


def test_s3_two_threads_create_and_append_the_same_new_table(s3_lake: Lakehouse) -> None:
    batches = [leads([1, 2, 3]), leads([10, 11])]
    results = race(s3_lake, "bronze.places_raw", batches, "append")
    assert sorted(results) == [0, 1]  # both committed: one created the table, the other appended
    assert s3_lake.read("bronze.places_raw").num_rows == 5
    check_race(s3_lake, "bronze.places_raw", batches, results)


def test_s3_two_processes_create_and_append_the_same_new_table(s3_lake: Lakehouse) -> None:
    ids = [[1, 2, 3], [10, 11]]
    results = process_race(s3_lake, "bronze.places_raw", ids, "append")
    assert sorted(results) == [0, 1]
    assert s3_lake.read("bronze.places_raw").num_rows == 5
    check_race(s3_lake, "bronze.places_raw", [leads(i) for i in ids], results)
