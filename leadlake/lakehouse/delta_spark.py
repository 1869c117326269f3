"""The Spark Delta backend: delta-spark over DataFrames, the same paths and protocol as delta-rs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadlake.lakehouse.base import (
    MergeStats,
    TableNotFound,
    change_columns,
    check_identifiers,
    is_s3,
    key_predicate,
    normalize_root,
    table_uri,
    with_retries,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

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
# Raised from inside the write when a key is null, so the source is read once, not checked first.
_NULL_KEY_MARKER = "LEADLAKE_NULL_MERGE_KEY"


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
        return int(self._write_commit(name, data, mode, partition_by, **options)["version"])

    def _write_commit(
        self, name: str, data: DataFrame, mode: str, partition_by: list[str] | None, **options: str
    ) -> dict[str, Any]:
        """Write `data` and return the latest commit info (version, operationMetrics)."""
        writer = data.write.format("delta").mode(mode)
        for key, value in options.items():
            writer = writer.option(key, value)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.spark_path(name))
        return self._latest(name)

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
        ignore_columns: Sequence[str] = (),
    ) -> MergeStats:
        """Upsert on `keys` with DeltaTable.merge (last row per key wins); creates the table when missing.

        A matched row is rewritten only when a non-key column other than `ignore_columns` differs
        (null-safe `<=>`; NaN equals NaN), so re-merging unchanged data rewrites no file.
        delete_missing=True also deletes target rows whose key is not in `data` (a full sync).
        """
        predicate = key_predicate(keys)
        missing = [k for k in keys if k not in data.columns]
        if missing:
            raise ValueError(f"merge into {name}: key columns {missing} are not in the data")
        source = _spark_dedupe_last(_null_key_guard(data, keys), keys)

        def upsert() -> MergeStats:
            if not self.exists(name):
                # Rows written come from the commit's metrics: counting the source would evaluate it again.
                commit = self._write_commit(name, source, "errorifexists", partition_by)
                inserted = _metric(commit.get("operationMetrics"), "numOutputRows")
                return MergeStats(inserted=inserted, updated=0, deleted=0, version=int(commit["version"]))
            table = self._table(name)
            target = table.toDF()
            same = _same_row_condition(source.schema, target.schema, keys, update, ignore_columns, name)
            if delete_missing and not _without_matches(target.select(*keys), source, predicate).isEmpty():
                # Keys vanished: one MERGE of the whole source keeps the sync one atomic commit (it rewrites
                # the files it scans, a cost paid only when something is deleted).
                builder = table.alias("t").merge(source.alias("s"), predicate)
                if update:
                    builder = builder.whenMatchedUpdateAll(None if same is None else f"NOT ({same})")
                builder = builder.whenNotMatchedInsertAll().whenNotMatchedBySourceDelete()
                metrics = self._run(name, builder)
                return MergeStats(
                    inserted=_metric(metrics, "numTargetRowsInserted"),
                    updated=_metric(metrics, "numTargetRowsUpdated"),
                    deleted=_metric(metrics, "numTargetRowsDeleted"),
                    version=self.version(name),
                )
            # Delta rewrites every file holding a matched row once the MERGE also inserts, whatever the
            # update condition says; so the source is cut to new and changed rows before it gets there.
            changed = source if same is None else _without_matches(source, target, same).persist()
            try:
                # Nothing new or changed: skip the MERGE, whose own jobs would scan the target again.
                metrics: dict[str, Any] = {}
                if same is None or not changed.isEmpty():
                    builder = table.alias("t").merge(changed.alias("s"), predicate)
                    if update:
                        builder = builder.whenMatchedUpdateAll()
                    metrics = self._run(name, builder.whenNotMatchedInsertAll())
            finally:
                if same is not None:
                    changed.unpersist()
            return MergeStats(
                inserted=_metric(metrics, "numTargetRowsInserted"),
                updated=_metric(metrics, "numTargetRowsUpdated"),
                deleted=0,
                version=self.version(name),
            )

        # A merge reads the source more than once (vanished keys, changed rows, the MERGE): compute it
        # once. A create writes it in one pass, so it is not cached then.
        cached = self.exists(name)
        try:
            if cached:
                # Inside the try: persisting a local relation evaluates it, null-key guard included.
                source = source.persist()
            # Spark's schema evolution for MERGE is a session setting, scoped to this call.
            with _session_conf(self.spark, "spark.databricks.delta.schema.autoMerge.enabled", "true"):
                return with_retries(upsert, is_commit_conflict, f"merge into {name}")
        except Exception as exc:
            if _NULL_KEY_MARKER in str(exc):
                raise ValueError(
                    f"merge into {name}: key columns {keys} contain nulls; drop or fill those rows first"
                ) from None
            raise
        finally:
            if cached:
                source.unpersist()

    def _run(self, name: str, builder: Any) -> dict[str, Any]:
        """Execute a MERGE; its operationMetrics, or {} when Delta committed nothing (an empty source)."""
        before = self.version(name)
        builder.execute()
        latest = self._latest(name)
        return (latest.get("operationMetrics") or {}) if int(latest["version"]) != before else {}

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


def _null_key_guard(data: DataFrame, keys: list[str]) -> DataFrame:
    """`data` whose evaluation fails (with _NULL_KEY_MARKER) on a null key, and no Delta commit happens."""
    from pyspark.sql import functions as F

    guarded = {
        k: F.when(data[k].isNull(), F.raise_error(F.lit(_NULL_KEY_MARKER))).otherwise(data[k]) for k in keys
    }
    return data.select(*[guarded[c].alias(c) if c in guarded else data[c] for c in data.columns])


def _same_row_condition(
    source: StructType, target: StructType, keys: list[str], update: bool, ignore: Sequence[str], name: str
) -> str | None:
    """A join condition true when a target row equals its source row; None when rows cannot be compared.

    Without `update` equal keys are enough (the row is left alone). None (new source columns, maps)
    sends every source row to the MERGE, which then updates every match.
    """
    cols = change_columns(source.names, target.names, keys, ignore, f"merge into {name}")
    clauses = [key_predicate(keys)]
    if not update:
        return clauses[0]
    if cols.added:
        # The schema grows: rewrite the matches once so every row carries the new columns.
        return None
    for c in cols.compare:
        if _has_map(source[c].dataType) or _has_map(target[c].dataType):
            # Spark cannot compare maps: update every match instead, a rewrite rather than a lost update.
            return None
        quoted = "`" + c.replace("`", "``") + "`"
        clauses.append(f"(t.{quoted} <=> s.{quoted})")
    return " AND ".join(clauses)


def _without_matches(left: DataFrame, right: DataFrame, condition: str) -> DataFrame:
    """The rows of `left` (alias s) with no row of `right` (alias t) meeting `condition` (left anti join)."""
    from pyspark.sql import functions as F

    return left.alias("s").join(right.alias("t"), F.expr(condition), "left_anti")


def _has_map(kind: DataType) -> bool:
    """True when a Spark type is or contains a map."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(kind, MapType):
        return True
    if isinstance(kind, StructType):
        return any(_has_map(f.dataType) for f in kind.fields)
    if isinstance(kind, ArrayType):
        return _has_map(kind.elementType)
    return False


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
