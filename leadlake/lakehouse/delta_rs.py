"""The light Delta backend: delta-rs over Arrow (no JVM), DuckDB for SQL, local paths or s3://."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from leadlake.lakehouse import sql as sqlmod
from leadlake.lakehouse.base import (
    DEFAULT_ROOT,
    LakehouseError,
    LakehouseUnreachable,
    MergeStats,
    TableInfo,
    TableNotFound,
    TableUnreadable,
    change_columns,
    check_identifiers,
    check_local_root,
    first_line,
    is_plain_table_name,
    is_s3,
    key_predicate,
    normalize_root,
    parse_name,
    root_cause,
    table_uri,
    with_retries,
)
from leadlake.lakehouse.catalog import LAYERS

__all__ = ["Lakehouse", "is_commit_conflict"]

P = ParamSpec("P")
R = TypeVar("R")

# S3 commits are made safe by conditional put (If-None-Match: *), which S3 and moto honour; a user's
# own locking provider or unsafe-rename choice is left alone.
_S3_DEFAULTS = {"conditional_put": "etag"}
_S3_LOCK_KEYS = {
    "aws_s3_locking_provider",
    "aws_s3_allow_unsafe_rename",
    "conditional_put",
    "aws_conditional_put",
}
_ENDPOINT_KEYS = ("aws_endpoint_url_s3", "aws_endpoint_url", "aws_endpoint", "endpoint_url", "endpoint")

# What a storage failure (not a table problem) looks like in object_store's and pyarrow's S3 errors.
_STORAGE_FAILURE_RE = re.compile(
    r"connect|network|dns|resolve|timed? ?out|unreachable|error sending request|curlCode|broken pipe"
    r"|NoSuchBucket|bucket .*does not exist|AccessDenied|Access Denied|Forbidden|InvalidAccessKeyId"
    r"|SignatureDoesNotMatch|ExpiredToken|InvalidToken|credential",
    re.IGNORECASE,
)


def is_commit_conflict(exc: BaseException) -> bool:
    """A lost commit race: another writer committed this version first, or created the table first."""
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


def _changed_predicate(
    source: pa.Schema, target: pa.Schema, keys: list[str], ignore: Sequence[str], name: str
) -> str | None:
    """A delta-rs predicate true when a matched row differs from its source row; None updates every match.

    Each clause is parenthesised: delta-rs parses `a IS DISTINCT FROM b OR ...` with the OR binding first.
    """
    cols = change_columns(source.names, target.names, keys, ignore, f"merge into {name}")
    if cols.added:
        # The schema grows: rewrite the matches once so every row carries the new columns.
        return None
    if not cols.compare:
        return "FALSE"
    clauses = []
    for c in cols.compare:
        if "`" in c or _has_map(source.field(c).type) or _has_map(target.field(c).type):
            # DataFusion cannot compare maps (nor can a backtick be quoted): update every match instead,
            # a rewrite rather than a lost update.
            return None
        clauses.append(f"(t.`{c}` IS DISTINCT FROM s.`{c}`)")
    return " OR ".join(clauses)


def _has_map(kind: pa.DataType) -> bool:
    """True when a type is or contains a map."""
    if pa.types.is_map(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_has_map(f.type) for f in kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _has_map(kind.value_type)
    return False


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
    endpoint = _option(options, *_ENDPOINT_KEYS)
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


def _storage_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn an S3 storage failure inside a Lakehouse method into one-line LakehouseUnreachable."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except LakehouseError:
            raise
        except (OSError, DeltaError) as exc:
            lake = args[0]
            assert isinstance(lake, Lakehouse)
            if lake.is_s3 and _STORAGE_FAILURE_RE.search(str(exc)):
                raise lake.unreachable(exc) from exc
            raise

    return wrapper


def _log_file_problem(fs: pafs.FileSystem, log_path: str) -> tuple[str, str] | None:
    """(file name, what is wrong) for the first Delta log file a reader would load that does not parse.

    Only consulted after delta-rs failed to load a table, to name the file in the error.
    """
    infos = fs.get_file_info(pafs.FileSelector(log_path, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
    checkpoints = [int(n[:20]) for n in names if n[:20].isdigit() and ".checkpoint" in n]
    start = max(checkpoints, default=-1)
    for name in names:
        is_commit = name[:20].isdigit() and name.endswith(".json") and int(name[:20]) >= start
        if name != "_last_checkpoint" and not is_commit:
            continue
        with fs.open_input_stream(f"{log_path}/{name}") as stream:
            text = stream.read().decode("utf-8", errors="replace")
        if not text.strip():
            return name, "is empty"
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError as exc:
                return name, f"is not valid JSON at line {number} ({exc})"
    if start >= 0:
        import pyarrow.parquet as pq

        for name in names:
            if name[:20].isdigit() and int(name[:20]) == start and name.endswith(".parquet"):
                try:
                    with fs.open_input_file(f"{log_path}/{name}") as handle:
                        pq.read_metadata(handle)
                except (OSError, ValueError, pa.ArrowException) as exc:
                    return name, f"is not a readable Parquet checkpoint ({first_line(exc)})"
    return None


class Lakehouse:
    """bronze/silver/gold/ops Delta tables under one root (local path or s3://), via delta-rs."""

    def __init__(
        self,
        root_uri: str = DEFAULT_ROOT,
        storage_options: dict[str, str] | None = None,
        sql_timeout_s: float = sqlmod.DEFAULT_SQL_TIMEOUT_S,
    ) -> None:
        self.root_uri = normalize_root(root_uri)
        self.is_s3 = is_s3(self.root_uri)
        self.storage_options: dict[str, str] = (
            _s3_options(storage_options) if self.is_s3 else dict(storage_options or {})
        )
        if sql_timeout_s <= 0:
            raise ValueError(f"sql_timeout_s must be > 0 seconds, got {sql_timeout_s!r}")
        self.sql_timeout_s = float(sql_timeout_s)

    def __repr__(self) -> str:
        return f"Lakehouse({self.root_uri!r})"

    @cached_property
    def _root_fs(self) -> tuple[pafs.FileSystem, str]:
        """pyarrow's native filesystem for the root, and the root's path inside it."""
        if self.is_s3:
            return _native_s3(self.storage_options), self.root_uri.removeprefix("s3://")
        return pafs.LocalFileSystem(), self.root_uri

    def _table_path(self, name: str) -> str:
        fs, base = self._root_fs
        layer, table = parse_name(name)
        return f"{base}/{layer}/{table}"

    def _table_fs(self, name: str) -> pafs.FileSystem:
        """A filesystem rooted at the table directory, as delta-rs's Arrow datasets expect."""
        return pafs.SubTreeFileSystem(self._table_path(name), self._root_fs[0])

    @property
    def endpoint(self) -> str:
        """The S3 endpoint the storage options point at (or AWS's default), for error messages."""
        return _option(self.storage_options, *_ENDPOINT_KEYS) or "the default AWS S3 endpoint"

    def unreachable(self, exc: BaseException) -> LakehouseUnreachable:
        """A one-line LakehouseUnreachable naming the root (and the endpoint on S3) and the reason."""
        where = f" at {self.endpoint}" if self.is_s3 else ""
        return LakehouseUnreachable(f"lakehouse {self.root_uri} is unreachable{where}: {root_cause(exc)}")

    # -- paths --------------------------------------------------------------------------------------------

    def table_uri(self, name: str) -> str:
        """`<root>/<layer>/<table>` for a `layer.table` name."""
        return table_uri(self.root_uri, name)

    @_storage_errors
    def exists(self, name: str) -> bool:
        """True when the table has a Delta log."""
        return DeltaTable.is_deltatable(self.table_uri(name), storage_options=self.storage_options or None)

    def _open(self, name: str, version: int | None = None) -> DeltaTable:
        uri = self.table_uri(name)
        try:
            return DeltaTable(uri, version=version, storage_options=self.storage_options or None)
        except TableNotFoundError as exc:
            raise TableNotFound(f"table {name} does not exist at {uri}") from exc
        except (OSError, DeltaError) as exc:
            if self.is_s3 and _STORAGE_FAILURE_RE.search(str(exc)):
                raise self.unreachable(exc) from exc
            raise self._unreadable(name, exc) from exc

    def _unreadable(self, name: str, exc: BaseException) -> TableUnreadable:
        """Why the table's log cannot be loaded, naming the offending log file when one does not parse."""
        uri = self.table_uri(name)
        try:
            problem = _log_file_problem(self._root_fs[0], f"{self._table_path(name)}/_delta_log")
        except (OSError, pa.ArrowException):
            problem = None
        if problem is None:
            return TableUnreadable(f"table {name} cannot be read: {uri}/_delta_log: {root_cause(exc)}")
        file, why = problem
        return TableUnreadable(
            f"table {name} cannot be read: {uri}/_delta_log/{file} {why}; delta-rs: {root_cause(exc)}"
        )

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

    @_storage_errors
    def append(self, name: str, data: pa.Table, partition_by: list[str] | None = None) -> int:
        """Append rows (new columns are added to the schema); returns the committed version."""

        def attempt() -> int:
            if not self.exists(name):
                return self._create(name, data, partition_by)
            dt = self._open(name)
            write_deltalake(dt, data, mode="append", schema_mode="merge")
            return dt.version()

        return with_retries(attempt, is_commit_conflict, f"append to {name}")

    @_storage_errors
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

        return with_retries(attempt, is_commit_conflict, f"overwrite of {name}")

    @_storage_errors
    def merge(
        self,
        name: str,
        data: pa.Table,
        keys: list[str],
        *,
        update: bool = True,
        partition_by: list[str] | None = None,
        delete_missing: bool = False,
        ignore_columns: Sequence[str] = (),
    ) -> MergeStats:
        """Upsert `data` on `keys` (last row per key wins); creates the table when missing.

        A matched row is rewritten only when a non-key column other than `ignore_columns` differs
        (null-safe; NaN equals NaN), so re-merging unchanged data writes no file and commits nothing.
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
                target = pa.schema(dt.schema().to_arrow())
                builder = builder.when_matched_update_all(
                    predicate=_changed_predicate(source.schema, target, keys, ignore_columns, name)
                )
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

        return with_retries(attempt, is_commit_conflict, f"merge into {name}")

    @_storage_errors
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

        return with_retries(attempt, is_commit_conflict, f"delete from {name}")

    # -- reads --------------------------------------------------------------------------------------------

    @_storage_errors
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
        result = sqlmod.select_where(_scan_dataset(dt, self._table_fs(name)), wanted, filter)
        # DuckDB may widen or rename types; hand back exactly the table's Arrow schema.
        target = pa.schema([schema.field(c) for c in wanted])
        return result.cast(target)

    @_storage_errors
    def version(self, name: str) -> int:
        """The latest committed version."""
        return self._open(name).version()

    @_storage_errors
    def history(self, name: str) -> list[dict]:
        """Commit infos, newest first, each with `version`, `timestamp` (ms) and `operation`."""
        return self._open(name).history()

    @_storage_errors
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

    @_storage_errors
    def list_tables(self) -> list[TableInfo]:
        """Every Delta table in every layer, sorted by name.

        A table whose log cannot be read is listed with version and rows None and `error` saying why;
        the others are listed as usual. An unreachable root raises LakehouseUnreachable.
        """
        infos: list[TableInfo] = []
        for layer, table in self._table_dirs():
            name = f"{layer}.{table}"
            if not is_plain_table_name(table):
                continue
            uri = self.table_uri(name)
            try:
                dt = self._open(name)
                version, rows = dt.version(), dt.count()
            except TableNotFound:
                continue
            except TableUnreadable as exc:
                infos.append(TableInfo(layer, name, None, None, uri, error=str(exc)))
                continue
            except DeltaError as exc:
                error = f"table {name} cannot be read: {first_line(exc)}"
                infos.append(TableInfo(layer, name, None, None, uri, error=error))
                continue
            infos.append(TableInfo(layer=layer, name=name, version=version, rows=rows, uri=uri))
        return infos

    @_storage_errors
    def sql(self, query: str, timeout_s: float | None = None) -> pa.Table:
        """Run one read-only DuckDB statement where tables are reachable as bronze.x, silver.x, ... ops.x.

        Only SELECT-like statements run (see leadlake.lakehouse.sql.ALLOWED), without file access, and
        the statement is interrupted after `timeout_s` (default: the lakehouse's sql_timeout_s).
        Anything else raises QueryRefused (QueryTimeout for the timeout).
        """
        con = sqlmod.connect()
        try:
            # Refuse before loading any table: a refused query costs no storage round trip.
            sqlmod.check_read_only(con, query)
        finally:
            con.close()
        import duckdb

        named = sqlmod.referenced_tables(query)
        tables = {
            name: _scan_dataset(self._open(name), self._table_fs(name)) for name in named if self.exists(name)
        }
        try:
            return sqlmod.run_read_only(query, tables, timeout_s or self.sql_timeout_s)
        except duckdb.CatalogException as exc:
            missing = [n for n in named if n not in tables]
            if not missing:
                raise
            # DuckDB's "Table with name x does not exist!" names neither the lakehouse nor the fix.
            fix = "`leadlake tables` lists its tables" if self.list_tables() else "run `leadlake demo` first"
            verb = "does" if len(missing) == 1 else "do"
            raise TableNotFound(f"{', '.join(missing)} {verb} not exist in {self.root_uri}; {fix}") from exc

    def check_reachable(self) -> None:
        """Raise LakehouseUnreachable with a one-line reason when the root cannot be listed."""
        if not self.is_s3:
            check_local_root(self.root_uri)
            return
        bucket, _, prefix = self.root_uri.removeprefix("s3://").partition("/")
        try:
            fs = _native_s3(self.storage_options, probe=True)
            if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise FileNotFoundError(f"bucket {bucket!r} does not exist")
            fs.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}".rstrip("/"), allow_not_found=True))
        except Exception as exc:  # any storage failure is the reason we report
            raise self.unreachable(exc) from exc
