"""The Spark Delta backend: delta-spark over DataFrames, the same paths and protocol as delta-rs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadlake.lakehouse.base import (
    MergeStats,
    TableNotFound,
    check_identifiers,
    is_s3,
    key_predicate,
    normalize_root,
    table_uri,
    with_retries,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkLakehouse", "is_commit_conflict"]

# Error classes (Spark 4 puts them in the message) and Java exceptions of a lost commit race. Creating a
# table is one too: a writer that saw no table finds one at commit (DELTA_PATH_EXISTS in errorifexists
# mode, a version-0 log file already written, a protocol/metadata change on an empty directory).
_CONFLICT_MARKERS = (
    "ConcurrentAppend",
    "ConcurrentDelete",
    "ConcurrentTransaction",
    "ConcurrentWrite",
    "MetadataChanged",
    "ProtocolChanged",
    "DELTA_CONCURRENT",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_MAX_COMMIT_RETRIES_EXCEEDED",
    "DELTA_PATH_EXISTS",
    "DELTA_LOG_ALREADY_EXISTS",
    "DELTA_TABLE_ALREADY_EXISTS",
    "DELTA_FILE_ALREADY_EXISTS",
    "PATH_ALREADY_EXISTS",
    "FileAlreadyExistsException",
    "table already exists",
)
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def is_commit_conflict(exc: BaseException) -> bool:
    """Delta's commit-conflict exceptions, and losing a table-creation race to another writer."""
    from delta.exceptions import base

    conflict_types = tuple(
        getattr(base, n)
        for n in dir(base)
        if n.startswith(("Concurrent", "DeltaConcurrent", "MetadataChanged", "ProtocolChanged"))
    )
    if isinstance(exc, conflict_types):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _CONFLICT_MARKERS)


def _metric(metrics: dict[str, Any] | None, key: str) -> int:
    value = (metrics or {}).get(key)
    return int(value) if value not in (None, "") else 0


def _epoch_ms(value: Any) -> Any:
    # delta-rs reports commit timestamps as epoch milliseconds; report Spark's the same way.
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else value


class SparkLakehouse:
    """bronze/silver/gold/ops Delta tables under one root, read and written with delta-spark."""

    def __init__(self, spark: SparkSession, root_uri: str) -> None:
        self.spark = spark
        self.root_uri = normalize_root(root_uri)
        self.is_s3 = is_s3(self.root_uri)

    def __repr__(self) -> str:
        return f"SparkLakehouse({self.root_uri!r})"

    def table_uri(self, name: str) -> str:
        """`<root>/<layer>/<table>`, identical to Lakehouse.table_uri."""
        return table_uri(self.root_uri, name)

    def spark_path(self, name: str) -> str:
        """The path Spark reads and writes: s3a:// for S3 (Hadoop's connector), else the local path."""
        uri = self.table_uri(name)
        return "s3a://" + uri.removeprefix("s3://") if self.is_s3 else uri

    def _table(self, name: str) -> Any:
        from delta.tables import DeltaTable

        if not self.exists(name):
            raise TableNotFound(f"table {name} does not exist at {self.table_uri(name)}")
        return DeltaTable.forPath(self.spark, self.spark_path(name))

    def exists(self, name: str) -> bool:
        """True when the table has a Delta log."""
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, self.spark_path(name)))

    def _latest(self, name: str) -> dict[str, Any]:
        row = self._table(name).history(1).collect()[0]
        return row.asDict(recursive=True)

    # -- writes -------------------------------------------------------------------------------------------

    def _write(
        self, name: str, data: DataFrame, mode: str, partition_by: list[str] | None, **options: str
    ) -> int:
        writer = data.write.format("delta").mode(mode)
        for key, value in options.items():
            writer = writer.option(key, value)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.spark_path(name))
        return int(self._latest(name)["version"])

    def append(self, name: str, data: DataFrame, partition_by: list[str] | None = None) -> int:
        """Append rows (new columns are added to the schema); returns the latest version."""
        return with_retries(
            lambda: self._write(name, data, "append", partition_by, mergeSchema="true"),
            is_commit_conflict,
            f"append to {name}",
        )

    def overwrite(
        self,
        name: str,
        data: DataFrame,
        predicate: str | None = None,
        partition_by: list[str] | None = None,
    ) -> int:
        """Replace the table, or with `predicate` only the matching rows (replaceWhere)."""

        def attempt() -> int:
            if predicate and self.exists(name):
                return self._write(name, data, "overwrite", None, replaceWhere=predicate)
            return self._write(name, data, "overwrite", partition_by, overwriteSchema="true")

        return with_retries(attempt, is_commit_conflict, f"overwrite of {name}")

    def merge(
        self,
        name: str,
        data: DataFrame,
        keys: list[str],
        *,
        update: bool = True,
        partition_by: list[str] | None = None,
        delete_missing: bool = False,
    ) -> MergeStats:
        """Upsert on `keys` with DeltaTable.merge (last row per key wins); creates the table when missing.

        delete_missing=True also deletes target rows whose key is not in `data` (a full sync).
        """
        from pyspark.sql import functions as F

        predicate = key_predicate(keys)
        missing = [k for k in keys if k not in data.columns]
        if missing:
            raise ValueError(f"merge into {name}: key columns {missing} are not in the data")
        any_null = F.lit(False)
        for k in keys:
            any_null = any_null | F.col(k).isNull()
        if data.filter(any_null).limit(1).count():
            raise ValueError(f"merge into {name}: key columns {keys} contain nulls")
        source = _spark_dedupe_last(data, keys)

        def attempt() -> MergeStats:
            if not self.exists(name):
                version = self._write(name, source, "errorifexists", partition_by)
                return MergeStats(inserted=source.count(), updated=0, deleted=0, version=version)
            builder = self._table(name).alias("t").merge(source.alias("s"), predicate)
            if update:
                builder = builder.whenMatchedUpdateAll()
            builder = builder.whenNotMatchedInsertAll()
            if delete_missing:
                builder = builder.whenNotMatchedBySourceDelete()
            builder.execute()
            latest = self._latest(name)
            metrics = latest.get("operationMetrics") or {}
            return MergeStats(
                inserted=_metric(metrics, "numTargetRowsInserted"),
                updated=_metric(metrics, "numTargetRowsUpdated"),
                deleted=_metric(metrics, "numTargetRowsDeleted"),
                version=int(latest["version"]),
            )

        # Spark's schema evolution for MERGE is a session setting, scoped to this call.
        with _session_conf(self.spark, "spark.databricks.delta.schema.autoMerge.enabled", "true"):
            return with_retries(attempt, is_commit_conflict, f"merge into {name}")

    def delete(self, name: str, predicate: str) -> int:
        """Delete the rows matching a SQL predicate; returns how many were deleted."""
        if not predicate or not predicate.strip():
            raise ValueError(f"delete from {name}: a predicate is required (use overwrite to empty a table)")

        def attempt() -> int:
            table = self._table(name)
            before = int(self._latest(name)["version"])
            table.delete(predicate)
            latest = self._latest(name)
            if int(latest["version"]) == before:
                return 0
            metrics = latest.get("operationMetrics") or {}
            if "numDeletedRows" in metrics:
                return _metric(metrics, "numDeletedRows")
            previous = self.read(name, version=int(latest["version"]) - 1).count()
            return previous - self.read(name, version=int(latest["version"])).count()

        return with_retries(attempt, is_commit_conflict, f"delete from {name}")

    # -- reads --------------------------------------------------------------------------------------------

    def read(
        self,
        name: str,
        version: int | None = None,
        columns: list[str] | None = None,
        filter: str | None = None,
    ) -> DataFrame:
        """The table as a DataFrame, optionally as of `version` (versionAsOf), projected and filtered."""
        if not self.exists(name):
            raise TableNotFound(f"table {name} does not exist at {self.table_uri(name)}")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        frame = reader.load(self.spark_path(name))
        if filter:
            frame = frame.where(filter)
        if columns:
            check_identifiers(columns, f"read of {name}")
            frame = frame.select(*columns)
        return frame

    def version(self, name: str) -> int:
        """The latest committed version."""
        return int(self._latest(name)["version"])

    def history(self, name: str) -> list[dict]:
        """Commit infos, newest first; `timestamp` in epoch milliseconds like the delta-rs backend."""
        rows = self._table(name).history().orderBy("version", ascending=False).collect()
        out = []
        for row in rows:
            entry = row.asDict(recursive=True)
            entry["timestamp"] = _epoch_ms(entry.get("timestamp"))
            out.append(entry)
        return out

    def vacuum(self, name: str, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
        """Unreferenced files older than the retention (relative paths); deleted unless dry_run."""
        if retention_hours < 0:
            raise ValueError("retention_hours must be >= 0")
        self._table(name)
        path = self.spark_path(name)
        sql_path = path.replace("`", "``")
        with _session_conf(self.spark, _RETENTION_CHECK, "false"):
            listed = self.spark.sql(f"VACUUM delta.`{sql_path}` RETAIN {int(retention_hours)} HOURS DRY RUN")
            files = sorted(_relative(row[0], path) for row in listed.collect())
            if not dry_run and files:
                self.spark.sql(f"VACUUM delta.`{sql_path}` RETAIN {int(retention_hours)} HOURS")
        return files


def _relative(file_path: str, table_path: str) -> str:
    """A vacuum result path relative to the table root, as delta-rs reports them."""
    for prefix in ("file://", "file:"):
        if file_path.startswith(prefix):
            file_path = file_path[len(prefix) :]
            break
    root = table_path.rstrip("/") + "/"
    return file_path[len(root) :] if file_path.startswith(root) else file_path


def _spark_dedupe_last(data: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key, the last in the DataFrame's order, so MERGE never sees two source matches."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = "__leadlake_row"
    window = Window.partitionBy(*keys).orderBy(F.col(order).desc())
    ranked = data.withColumn(order, F.monotonically_increasing_id())
    return ranked.withColumn("__rank", F.row_number().over(window)).where("__rank = 1").drop(order, "__rank")


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a runtime Spark conf for a block and restore the previous value afterwards."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
