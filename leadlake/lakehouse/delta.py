"""Lakehouse I/O: `layer.table` Delta tables under one root, through delta-rs (light) or delta-spark.

`Lakehouse` reads and writes with delta-rs over Arrow (no JVM) and queries with DuckDB; `SparkLakehouse`
does the same operations with delta-spark over DataFrames. Both use the same paths and Delta protocol.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "DEFAULT_ROOT",
    "LAYERS",
    "CommitConflict",
    "Lakehouse",
    "LakehouseError",
    "LakehouseUnreachable",
    "MergeStats",
    "SparkLakehouse",
    "TableInfo",
    "TableNotFound",
    "parse_name",
    "publish",
]

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
DEFAULT_ROOT = "./lakehouse"
NAME_FORM = "layer.table with layer one of bronze|silver|gold and table matching [a-z_][a-z0-9_]*"

_NAME_RE = re.compile(r"^(bronze|silver|gold)\.([a-z_][a-z0-9_]*)$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


class LakehouseError(Exception):
    """Base class of every error the lakehouse raises on purpose."""


class TableNotFound(LakehouseError, LookupError):
    """The named table has no Delta log at its URI."""


class CommitConflict(LakehouseError):
    """A concurrent writer kept winning; the table is intact, this write was not applied."""


class LakehouseUnreachable(LakehouseError):
    """The lakehouse root cannot be listed or written (missing bucket, refused connection, permissions)."""


@dataclass(frozen=True)
class TableInfo:
    """One Delta table found under the lakehouse root; rows come from the log's file statistics."""

    layer: str
    name: str
    version: int
    rows: int
    uri: str


@dataclass(frozen=True)
class MergeStats:
    """Row counts of one merge and the table version it committed."""

    inserted: int
    updated: int
    deleted: int
    version: int


def parse_name(name: str) -> tuple[str, str]:
    """Split `layer.table` into its parts or raise ValueError naming the table and the expected form."""
    match = _NAME_RE.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"bad table name {name!r}: expected {NAME_FORM}, e.g. 'silver.leads'")
    return match.group(1), match.group(2)


def is_s3(uri: str) -> bool:
    """True for s3:// and s3a:// URIs."""
    return uri.startswith(("s3://", "s3a://"))


def normalize_root(root_uri: str) -> str:
    """An absolute local path, or an `s3://bucket/prefix` URI without a trailing slash."""
    if not root_uri:
        raise ValueError("lakehouse root_uri is empty: pass a local path or s3://bucket/prefix")
    if is_s3(root_uri):
        uri = "s3://" + root_uri.split("://", 1)[1].rstrip("/")
        if uri == "s3://" or uri.startswith("s3:///"):
            raise ValueError(f"lakehouse root {root_uri!r} needs a bucket: s3://bucket/prefix")
        return uri
    if "://" in root_uri and not root_uri.startswith("file://"):
        raise ValueError(f"lakehouse root {root_uri!r}: only local paths, file:// and s3:// are supported")
    return str(Path(root_uri.removeprefix("file://")).expanduser().resolve())


def check_identifiers(columns: list[str], what: str) -> None:
    """Reject column names that would need quoting inside generated SQL predicates."""
    if not columns:
        raise ValueError(f"{what}: at least one column is required")
    bad = [c for c in columns if not _IDENT_RE.match(c)]
    if bad:
        raise ValueError(f"{what}: column names must be plain identifiers, got {bad}")


def key_predicate(keys: list[str], target: str = "t", source: str = "s") -> str:
    """The merge join condition `t.k1 = s.k1 AND ...`."""
    check_identifiers(keys, "merge keys")
    return " AND ".join(f"{target}.{k} = {source}.{k}" for k in keys)


def with_retries(
    op: Callable[[], T],
    is_conflict: Callable[[BaseException], bool],
    what: str,
    attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run `op`, re-running it after a commit conflict with jittered exponential backoff.

    Each attempt must reload the table itself, so a retry re-plans against the winner's commit.
    """
    for attempt in range(1, attempts + 1):
        try:
            return op()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CommitConflict(
                    f"{what}: gave up after {attempts} attempts, concurrent writers kept committing first "
                    f"({first_line})"
                ) from exc
            # Full jitter keeps racing writers from colliding again on the same schedule.
            time.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    raise AssertionError("unreachable")


# -- delta-rs backend ---------------------------------------------------------------------------------------

# Table references in SQL text; only these are loaded so `leadlake sql` stays fast.
_SQL_TABLE_RE = re.compile(r"\b(bronze|silver|gold)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE)

# S3 commits are made safe by conditional put (If-None-Match: *), which S3 and moto honour; a user's
# own locking provider or unsafe-rename choice is left alone.
_S3_DEFAULTS = {"conditional_put": "etag"}
_S3_LOCK_KEYS = {
    "aws_s3_locking_provider",
    "aws_s3_allow_unsafe_rename",
    "conditional_put",
    "aws_conditional_put",
}


def _rs_conflict(exc: BaseException) -> bool:
    """A lost commit race: another writer committed first, or created the table first."""
    if isinstance(exc, CommitFailedError):
        return True
    return isinstance(exc, DeltaError) and "table already exists" in str(exc).lower()


def _s3_options(storage_options: dict[str, str] | None) -> dict[str, str]:
    options = dict(storage_options or {})
    if not {k.lower() for k in options} & _S3_LOCK_KEYS:
        options.update(_S3_DEFAULTS)
    return options


def _arrow_dedupe_last(data: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the last row per key so a merge source never matches one target row twice."""
    if data.num_rows == 0:
        return data
    idx = pa.array(range(data.num_rows), pa.int64())
    grouped = data.select(keys).append_column("__row", idx).group_by(keys, use_threads=False)
    last = grouped.aggregate([("__row", "max")]).column("__row_max")
    if len(last) == data.num_rows:
        return data
    return data.take(last.take(pc.sort_indices(last)))


def _view_type(kind: pa.DataType) -> pa.DataType:
    """string -> string_view, recursively."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.string_view()
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_view_type(f.type)) for f in kind])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(kind.value_field.with_type(_view_type(kind.value_type)))
    return kind


def _scan_dataset(dt: DeltaTable, filesystem: pafs.FileSystem) -> Any:
    """A pyarrow dataset of the table that DuckDB can filter.

    delta-rs types the file-statistics guards of each fragment as string_view; declaring string columns
    as string_view too keeps pyarrow from failing on string-vs-string_view comparisons under a filter.
    """
    schema = pa.schema(dt.schema().to_arrow())
    view_schema = pa.schema([f.with_type(_view_type(f.type)) for f in schema])
    return dt.to_pyarrow_dataset(filesystem=filesystem, schema=view_schema)


def _option(options: dict[str, str], *names: str) -> str | None:
    """A storage option by any of its spellings (object_store accepts several, any case), else the env."""
    lowered = {k.lower(): v for k, v in options.items()}
    for name in names:
        if name in lowered:
            return lowered[name]
    for name in names:
        if name.upper() in os.environ:
            return os.environ[name.upper()]
    return None


def _native_s3(options: dict[str, str], probe: bool = False) -> pafs.S3FileSystem:
    """pyarrow's own S3 client configured from delta-rs storage options.

    Reads go through it rather than deltalake's Python filesystem handler, which aborts the interpreter
    at exit now and then after multi-threaded use (measured: 1 run in 3), and which holds the GIL.
    """
    kwargs: dict[str, Any] = {}
    endpoint = _option(
        options, "aws_endpoint_url_s3", "aws_endpoint_url", "aws_endpoint", "endpoint_url", "endpoint"
    )
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    for key, names in (
        ("access_key", ("aws_access_key_id", "access_key_id")),
        ("secret_key", ("aws_secret_access_key", "secret_access_key")),
        ("session_token", ("aws_session_token", "session_token", "aws_token", "token")),
        ("region", ("aws_region", "region", "aws_default_region")),
        ("role_arn", ("aws_role_arn", "role_arn")),
    ):
        value = _option(options, *names)
        if value:
            kwargs[key] = value
    if probe:
        kwargs.update(
            connect_timeout=3,
            request_timeout=10,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )
    return pafs.S3FileSystem(**kwargs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Lakehouse:
    """bronze/silver/gold Delta tables under one root (local path or s3://), via delta-rs."""

    def __init__(self, root_uri: str = DEFAULT_ROOT, storage_options: dict[str, str] | None = None) -> None:
        self.root_uri = normalize_root(root_uri)
        self.is_s3 = is_s3(self.root_uri)
        self.storage_options: dict[str, str] = (
            _s3_options(storage_options) if self.is_s3 else dict(storage_options or {})
        )

    def __repr__(self) -> str:
        return f"Lakehouse({self.root_uri!r})"

    @cached_property
    def _root_fs(self) -> tuple[pafs.FileSystem, str]:
        """pyarrow's native filesystem for the root, and the root's path inside it."""
        if self.is_s3:
            return _native_s3(self.storage_options), self.root_uri.removeprefix("s3://")
        return pafs.LocalFileSystem(), self.root_uri

    def _table_fs(self, name: str) -> pafs.FileSystem:
        """A filesystem rooted at the table directory, as delta-rs's Arrow datasets expect."""
        fs, base = self._root_fs
        layer, table = parse_name(name)
        return pafs.SubTreeFileSystem(f"{base}/{layer}/{table}", fs)

    # -- paths --------------------------------------------------------------------------------------------

    def table_uri(self, name: str) -> str:
        """`<root>/<layer>/<table>` for a `layer.table` name."""
        layer, table = parse_name(name)
        return f"{self.root_uri}/{layer}/{table}"

    def exists(self, name: str) -> bool:
        """True when the table has a Delta log."""
        return DeltaTable.is_deltatable(self.table_uri(name), storage_options=self.storage_options or None)

    def _open(self, name: str, version: int | None = None) -> DeltaTable:
        uri = self.table_uri(name)
        try:
            return DeltaTable(uri, version=version, storage_options=self.storage_options or None)
        except TableNotFoundError as exc:
            raise TableNotFound(f"table {name} does not exist at {uri}") from exc

    # -- writes -------------------------------------------------------------------------------------------

    def _create(self, name: str, data: pa.Table, partition_by: list[str] | None) -> int:
        """Create the table with `data` as version 0; losing a creation race raises a retryable conflict."""
        write_deltalake(
            self.table_uri(name),
            data,
            mode="error",
            partition_by=partition_by or None,
            storage_options=self.storage_options or None,
            # delta-rs would otherwise re-commit a lost creation as version 1, doubling the data.
            commit_properties=CommitProperties(max_commit_retries=0),
        )
        return 0

    def append(self, name: str, data: pa.Table, partition_by: list[str] | None = None) -> int:
        """Append rows (new columns are added to the schema); returns the committed version."""

        def attempt() -> int:
            if not self.exists(name):
                return self._create(name, data, partition_by)
            dt = self._open(name)
            write_deltalake(dt, data, mode="append", schema_mode="merge")
            return dt.version()

        return with_retries(attempt, _rs_conflict, f"append to {name}")

    def overwrite(
        self,
        name: str,
        data: pa.Table,
        predicate: str | None = None,
        partition_by: list[str] | None = None,
    ) -> int:
        """Replace the whole table, or with `predicate` only the matching rows; returns the version."""

        def attempt() -> int:
            if not self.exists(name):
                return self._create(name, data, partition_by)
            dt = self._open(name)
            if predicate:
                write_deltalake(dt, data, mode="overwrite", predicate=predicate)
            else:
                # A full rebuild may change the schema or the partitioning (gold tables are recomputed).
                write_deltalake(
                    dt, data, mode="overwrite", schema_mode="overwrite", partition_by=partition_by or None
                )
            return dt.version()

        return with_retries(attempt, _rs_conflict, f"overwrite of {name}")

    def merge(
        self,
        name: str,
        data: pa.Table,
        keys: list[str],
        *,
        update: bool = True,
        partition_by: list[str] | None = None,
        delete_missing: bool = False,
    ) -> MergeStats:
        """Upsert `data` on `keys` (last row per key wins); creates the table when missing.

        With update=False rows whose key already exists are left untouched (insert-only);
        delete_missing=True also deletes target rows whose key is not in `data` (a full sync).
        """
        predicate = key_predicate(keys)
        missing = [k for k in keys if k not in data.column_names]
        if missing:
            raise ValueError(f"merge into {name}: key columns {missing} are not in the data")
        nulls = [k for k in keys if data.column(k).null_count]
        if nulls:
            raise ValueError(f"merge into {name}: key columns {nulls} contain nulls")
        source = _arrow_dedupe_last(data, keys)

        def attempt() -> MergeStats:
            if not self.exists(name):
                self._create(name, source, partition_by)
                return MergeStats(inserted=source.num_rows, updated=0, deleted=0, version=0)
            dt = self._open(name)
            builder = dt.merge(source, predicate, source_alias="s", target_alias="t", merge_schema=True)
            if update:
                builder = builder.when_matched_update_all()
            builder = builder.when_not_matched_insert_all()
            if delete_missing:
                builder = builder.when_not_matched_by_source_delete()
            metrics: dict[str, Any] = builder.execute()
            return MergeStats(
                inserted=int(metrics.get("num_target_rows_inserted", 0)),
                updated=int(metrics.get("num_target_rows_updated", 0)),
                deleted=int(metrics.get("num_target_rows_deleted", 0)),
                version=dt.version(),
            )

        return with_retries(attempt, _rs_conflict, f"merge into {name}")

    def delete(self, name: str, predicate: str) -> int:
        """Delete the rows matching a SQL predicate; returns how many were deleted."""
        if not predicate or not predicate.strip():
            raise ValueError(f"delete from {name}: a predicate is required (use overwrite to empty a table)")

        def attempt() -> int:
            dt = self._open(name)
            before = dt.version()
            metrics = dt.delete(predicate)
            if "num_deleted_rows" in metrics:
                return int(metrics["num_deleted_rows"])
            after = dt.version()
            if after == before:
                return 0
            # Row counts from file statistics, exact for files written by delta-rs and delta-spark.
            return self._open(name, after - 1).count() - dt.count()

        return with_retries(attempt, _rs_conflict, f"delete from {name}")

    # -- reads --------------------------------------------------------------------------------------------

    def read(
        self,
        name: str,
        version: int | None = None,
        columns: list[str] | None = None,
        filter: str | None = None,
    ) -> pa.Table:
        """The table (optionally as of `version`), projected to `columns`, filtered by a SQL predicate."""
        dt = self._open(name, version)
        if not filter:
            return dt.to_pyarrow_dataset(filesystem=self._table_fs(name)).to_table(columns=columns)
        schema = pa.schema(dt.schema().to_arrow())
        wanted = columns or schema.names
        check_identifiers(wanted, f"read of {name}")
        con = _duckdb()
        con.register("__t", _scan_dataset(dt, self._table_fs(name)))
        projection = ", ".join(f'"{c}"' for c in wanted)
        result = con.sql(f"SELECT {projection} FROM __t WHERE {filter}").to_arrow_table()
        # DuckDB may widen or rename types; hand back exactly the table's Arrow schema.
        target = pa.schema([schema.field(c) for c in wanted])
        return result.cast(target)

    def version(self, name: str) -> int:
        """The latest committed version."""
        return self._open(name).version()

    def history(self, name: str) -> list[dict]:
        """Commit infos, newest first, each with `version`, `timestamp` (ms) and `operation`."""
        return self._open(name).history()

    def vacuum(self, name: str, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
        """Files no longer referenced and older than the retention; deleted unless dry_run."""
        if retention_hours < 0:
            raise ValueError("retention_hours must be >= 0")
        return self._open(name).vacuum(
            retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False
        )

    # -- catalogue ----------------------------------------------------------------------------------------

    def _table_dirs(self) -> list[tuple[str, str]]:
        fs, base = self._root_fs
        found: list[tuple[str, str]] = []
        for layer in LAYERS:
            layer_path = f"{base}/{layer}"
            selector = pafs.FileSelector(layer_path, allow_not_found=True, recursive=False)
            for info in fs.get_file_info(selector):
                if info.type != pafs.FileType.Directory:
                    continue
                table = info.base_name
                if self._has_log(fs, info.path):
                    found.append((layer, table))
        return sorted(found)

    @staticmethod
    def _has_log(fs: pafs.FileSystem, table_path: str) -> bool:
        # Object stores have no directories: a prefix with any object under _delta_log is a table.
        selector = pafs.FileSelector(f"{table_path.rstrip('/')}/_delta_log", allow_not_found=True)
        return bool(fs.get_file_info(selector))

    def list_tables(self) -> list[TableInfo]:
        """Every Delta table in every layer, sorted by name."""
        infos: list[TableInfo] = []
        for layer, table in self._table_dirs():
            name = f"{layer}.{table}"
            if not _is_plain_table_name(table):
                continue
            try:
                dt = self._open(name)
            except TableNotFound:
                continue
            infos.append(
                TableInfo(
                    layer=layer, name=name, version=dt.version(), rows=dt.count(), uri=self.table_uri(name)
                )
            )
        return infos

    def sql(self, query: str) -> pa.Table:
        """Run DuckDB SQL where every referenced table is reachable as bronze.x / silver.x / gold.x."""
        con = _duckdb()
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        seen: set[str] = set()
        for layer, table in _SQL_TABLE_RE.findall(query):
            name = f"{layer.lower()}.{table}"
            if name in seen or not _is_plain_table_name(table) or not self.exists(name):
                continue
            seen.add(name)
            # DuckDB's delta extension needs a download; an Arrow dataset view works offline.
            view = f"__{layer.lower()}__{table}"
            con.register(view, _scan_dataset(self._open(name), self._table_fs(name)))
            con.execute(f'CREATE VIEW {name} AS SELECT * FROM "{view}"')
        return con.sql(query).to_arrow_table()

    def check_reachable(self) -> None:
        """Raise LakehouseUnreachable with a one-line reason when the root cannot be listed."""
        if not self.is_s3:
            _check_local_root(self.root_uri)
            return
        bucket, _, prefix = self.root_uri.removeprefix("s3://").partition("/")
        try:
            fs = _native_s3(self.storage_options, probe=True)
            if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise FileNotFoundError(f"bucket {bucket!r} does not exist")
            fs.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}".rstrip("/"), allow_not_found=True))
        except Exception as exc:  # any storage failure is the reason we report
            raise LakehouseUnreachable(
                f"lakehouse {self.root_uri} is unreachable: {_first_line(exc)}"
            ) from exc


def _check_local_root(root: str) -> None:
    path = Path(root)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise LakehouseUnreachable(f"lakehouse {root} is unreachable: {existing or path} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LakehouseUnreachable(f"lakehouse {root} is unreachable: {existing} is not writable")


def _is_plain_table_name(table: str) -> bool:
    return re.fullmatch(r"[a-z_][a-z0-9_]*", table) is not None


def _duckdb() -> Any:
    import duckdb

    con = duckdb.connect()
    # Timestamps come back in UTC whatever the machine's zone is.
    con.execute("SET TimeZone = 'UTC'")
    return con


# -- delta-spark backend ------------------------------------------------------------------------------------

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
    "already exists",
)
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def _spark_conflict(exc: BaseException) -> bool:
    """Delta's commit-conflict exceptions (and losing a table-creation race)."""
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
    """bronze/silver/gold Delta tables under one root, read and written with delta-spark."""

    def __init__(self, spark: SparkSession, root_uri: str) -> None:
        self.spark = spark
        self.root_uri = normalize_root(root_uri)
        self.is_s3 = is_s3(self.root_uri)

    def __repr__(self) -> str:
        return f"SparkLakehouse({self.root_uri!r})"

    def table_uri(self, name: str) -> str:
        """`<root>/<layer>/<table>`, identical to Lakehouse.table_uri."""
        layer, table = parse_name(name)
        return f"{self.root_uri}/{layer}/{table}"

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
            _spark_conflict,
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

        return with_retries(attempt, _spark_conflict, f"overwrite of {name}")

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
            return with_retries(attempt, _spark_conflict, f"merge into {name}")

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

        return with_retries(attempt, _spark_conflict, f"delete from {name}")

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


def publish(lakehouse: Lakehouse | SparkLakehouse, name: str, data: Any, keys: list[str]) -> MergeStats:
    """Merge `data` (Arrow table for Lakehouse, DataFrame for SparkLakehouse) on `keys`."""
    return lakehouse.merge(name, data, keys)
