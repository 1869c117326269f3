"""Lakehouse test helpers and fixtures: sample batches, write races, S3 and Spark-backed lakehouses.

Test modules that want the fixtures declare `pytest_plugins = ["support.lake"]`; plain helpers are
imported by name. Process-race workers live here so that spawned children can import them.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from leadlake.lakehouse import CommitConflict, Lakehouse, MergeStats, SparkLakehouse
from leadlake.lakehouse.spark import delta_unavailable_reason

if TYPE_CHECKING:
    from conftest import MotoS3
    from pyspark.sql import DataFrame, SparkSession

# -- data ------------------------------------------------------------------------------------------------


def leads(ids: list[int], city: str = "denver", score: float = 0.5) -> pa.Table:
    """A small silver-like batch."""
    return pa.table(
        {
            "lead_id": pa.array([f"L{i:04d}" for i in ids], pa.string()),
            "name": pa.array([f"Business {i}" for i in ids], pa.string()),
            "city": pa.array([city] * len(ids), pa.string()),
            "score": pa.array([score + i / 1000 for i in ids], pa.float64()),
        }
    )


def ids_of(table: pa.Table) -> list[str]:
    """The sorted lead_id column of an Arrow table."""
    return sorted(table.column("lead_id").to_pylist())


def sdf(spark: SparkSession, table: pa.Table) -> DataFrame:
    """An Arrow table as a Spark DataFrame."""
    return spark.createDataFrame(table.to_pandas())


def spark_ids(frame: DataFrame) -> list[str]:
    """The sorted lead_id column of a Spark DataFrame."""
    return sorted(r["lead_id"] for r in frame.select("lead_id").collect())


def as_input(lake: Lakehouse | SparkLakehouse, table: pa.Table) -> Any:
    """What the lakehouse's writes take: the Arrow table itself, or a DataFrame for SparkLakehouse."""
    return sdf(lake.spark, table) if isinstance(lake, SparkLakehouse) else table


def reader(lake: Lakehouse | SparkLakehouse) -> Lakehouse:
    """A delta-rs Lakehouse on the same root, to check what either backend wrote."""
    return lake if isinstance(lake, Lakehouse) else Lakehouse(lake.root_uri)


def assert_history_consistent(lh: Lakehouse, name: str) -> None:
    """Versions run 0..latest without gaps, newest first, and the latest is readable."""
    versions = [h["version"] for h in lh.history(name)]
    assert versions == list(range(lh.version(name), -1, -1))
    lh.read(name)


def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """(endpoint, [connections]) of a loopback server that accepts each connection and hangs up at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)  # so the loop notices `stop`
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def s3_options(endpoint_url: str) -> dict[str, str]:
    """delta-rs storage options for an S3 endpoint over plain HTTP with dummy keys."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


# -- write races -----------------------------------------------------------------------------------------


def race(lakehouse: Any, name: str, batches: list[Any], op: str) -> list[object]:
    """Run one write per batch in its own thread, all released at once; return results or errors.

    `op` is "merge" (on lead_id) or "append"; a CommitConflict is returned, anything else re-raised
    in the caller's thread as the first error seen.
    """
    barrier = threading.Barrier(len(batches))
    results: list[object] = [None] * len(batches)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            if op == "merge":
                results[i] = lakehouse.merge(name, batches[i], ["lead_id"])
            else:
                results[i] = lakehouse.append(name, batches[i])
        except CommitConflict as exc:
            results[i] = exc
        except BaseException as exc:  # reported below, with the thread's traceback attached
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


def check_race(lakehouse: Lakehouse, name: str, batches: list[pa.Table], results: list[object]) -> None:
    """Winners' rows are all there exactly once, losers failed cleanly, the log has no gaps."""
    assert all(isinstance(r, MergeStats | int | CommitConflict) for r in results), results
    won = [b for b, r in zip(batches, results, strict=True) if not isinstance(r, CommitConflict)]
    assert won, "at least one writer must commit"
    table = lakehouse.read(name)
    expected = sorted({k for b in won for k in b.column("lead_id").to_pylist()})
    assert ids_of(table) == expected  # no duplicates, nothing lost
    assert_history_consistent(lakehouse, name)


def _process_write(
    root: str, storage_options: dict[str, str], name: str, op: str, ids: list[int], barrier: Any
) -> str:
    """One delta-rs writer process: wait for the others, write, report 'ok:<version>' or 'conflict'."""
    lh = Lakehouse(root, storage_options)
    barrier.wait(timeout=120)
    try:
        if op == "merge":
            return f"ok:{lh.merge(name, leads(ids), ['lead_id']).version}"
        return f"ok:{lh.append(name, leads(ids))}"
    except CommitConflict:
        return "conflict"


def process_race(lh: Lakehouse, name: str, batches: list[list[int]], op: str) -> list[object]:
    """Write one batch of lead ids per separate process into `name`, all released at once.

    Returns MergeStats (version only) / int versions for the winners and CommitConflict for the losers.
    """
    ctx = mp.get_context("spawn")  # delta-rs runs a tokio runtime; never fork it
    n = len(batches)
    with ctx.Manager() as manager, ctx.Pool(n) as pool:
        barrier = manager.Barrier(n)
        pending = pool.starmap_async(
            _process_write, [(lh.root_uri, lh.storage_options, name, op, ids, barrier) for ids in batches]
        )
        outcomes = pending.get(timeout=300)
    assert all(o == "conflict" or o.startswith("ok:") for o in outcomes), outcomes
    results: list[object] = []
    for o in outcomes:
        if o == "conflict":
            results.append(CommitConflict(o))
        elif op == "merge":
            results.append(MergeStats(0, 0, 0, int(o[3:])))
        else:
            results.append(int(o[3:]))
    return results


def run_process_race(lh: Lakehouse, n: int = 3) -> None:
    """Merge overlapping batches from `n` separate processes into silver.leads and check the result."""
    batches = [[*range(i * 3, i * 3 + 5), 999] for i in range(n)]
    results = process_race(lh, "silver.leads", batches, "merge")
    check_race(lh, "silver.leads", [leads(ids) for ids in batches], results)


def _spark_process_append(root: str, name: str, ids: list[int], barrier: Any) -> int:
    """A second Spark driver (own JVM): start a session, wait for the parent, append to `name`."""
    from leadlake.lakehouse.spark import get_spark

    spark = get_spark("leadlake-tests-child", master="local[1]")
    try:
        lake = SparkLakehouse(spark, root)
        frame = sdf(spark, leads(ids))
        frame.cache().count()  # build the batch before the race starts
        barrier.wait(timeout=300)
        return lake.append(name, frame)
    finally:
        spark.stop()


def spark_process_race(
    lake: SparkLakehouse, name: str, mine: list[int], theirs: list[int], write: Callable[[Any], int]
) -> tuple[int, int]:
    """Race `write(frame of mine)` in this driver against a child Spark driver appending `theirs`."""
    ctx = mp.get_context("spawn")
    frame = sdf(lake.spark, leads(mine))
    frame.cache().count()
    with ctx.Manager() as manager, ctx.Pool(1) as pool:
        barrier = manager.Barrier(2)
        pending = pool.apply_async(_spark_process_append, (lake.root_uri, name, theirs, barrier))
        barrier.wait(timeout=300)
        own = write(frame)
        other = pending.get(timeout=600)
    return own, other


# -- fixtures --------------------------------------------------------------------------------------------

DELTA_SPARK_MISSING = delta_unavailable_reason()


@pytest.fixture
def s3_lake(moto_server: MotoS3, s3_bucket: str) -> Lakehouse:
    """An empty delta-rs lakehouse in a fresh bucket on the moto server."""
    return Lakehouse(f"s3://{s3_bucket}/lake", moto_server.storage_options)


@pytest.fixture
def spark_lake(request: pytest.FixtureRequest, tmp_path: Path) -> SparkLakehouse:
    """An empty delta-spark lakehouse under tmp_path (skips, with the reason, without Delta's jars)."""
    if DELTA_SPARK_MISSING:
        pytest.skip(DELTA_SPARK_MISSING)
    spark = request.getfixturevalue("spark")
    return SparkLakehouse(spark, str(tmp_path / "lakehouse"))


@pytest.fixture(params=["delta-rs", pytest.param("delta-spark", marks=pytest.mark.spark)])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lakehouse | SparkLakehouse]:
    """The same empty lakehouse root through each backend in turn: delta-rs, then delta-spark."""
    if request.param == "delta-rs":
        yield Lakehouse(str(tmp_path / "lakehouse"))
    else:
        yield request.getfixturevalue("spark_lake")
