"""What both Delta backends share: errors, result records, table names, commit retries, small helpers."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from leadlake.lakehouse.catalog import LAYERS

__all__ = [
    "DEFAULT_ROOT",
    "LAYERS",
    "NAME_FORM",
    "CommitConflict",
    "LakehouseError",
    "LakehouseUnreachable",
    "MergeStats",
    "QueryRefused",
    "QueryTimeout",
    "TableInfo",
    "TableNotFound",
    "TableUnreadable",
    "parse_name",
    "publish",
    "with_retries",
]

DEFAULT_ROOT = "./lakehouse"
_LAYER_ALTERNATION = "|".join(re.escape(layer) for layer in LAYERS)
NAME_FORM = f"layer.table with layer one of {_LAYER_ALTERNATION} and table matching [a-z_][a-z0-9_]*"

_NAME_RE = re.compile(rf"^({_LAYER_ALTERNATION})\.([a-z_][a-z0-9_]*)$")
_TABLE_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T")


class LakehouseError(Exception):
    """Base class of every error the lakehouse raises on purpose."""


class TableNotFound(LakehouseError, LookupError):
    """The named table has no Delta log at its URI."""


class TableUnreadable(LakehouseError):
    """The table's Delta log (or a file it references) cannot be read; the message names the file."""


class CommitConflict(LakehouseError):
    """A concurrent writer kept winning; the table is intact, this write was not applied."""


class LakehouseUnreachable(LakehouseError):
    """The lakehouse root cannot be listed or written (missing bucket, refused connection, permissions)."""


class QueryRefused(LakehouseError):
    """An analyst's SQL asked for more than one read-only statement over the lakehouse tables."""


class QueryTimeout(QueryRefused):
    """An analyst's SQL ran past the statement timeout and was interrupted."""


@dataclass(frozen=True)
class TableInfo:
    """One Delta table found under the lakehouse root; rows come from the log's file statistics.

    A table whose log cannot be read is still listed: version and rows are None and `error` says why.
    """

    layer: str
    name: str
    version: int | None
    rows: int | None
    uri: str
    error: str | None = None


@dataclass(frozen=True)
class MergeStats:
    """Row counts of one merge and the table version it committed (the latest version when it wrote nothing).

    `updated` counts only matched rows that were rewritten because a compared column changed; matched
    rows equal to their source row are left in place and counted nowhere.
    """

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


def is_plain_table_name(table: str) -> bool:
    """True for the table part of a name (`leads` in `silver.leads`) that parse_name accepts."""
    return _TABLE_RE.match(table) is not None


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


def table_uri(root_uri: str, name: str) -> str:
    """`<root>/<layer>/<table>` for a `layer.table` name; both backends lay tables out this way."""
    layer, table = parse_name(name)
    return f"{root_uri}/{layer}/{table}"


def check_local_root(root: str) -> None:
    """Raise LakehouseUnreachable when a local root cannot be created or written."""
    path = Path(root)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise LakehouseUnreachable(f"lakehouse {root} is unreachable: {existing or path} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LakehouseUnreachable(f"lakehouse {root} is unreachable: {existing} is not writable")


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


@dataclass(frozen=True)
class ChangeColumns:
    """Which columns decide whether a matched row changed (`compare`), and source columns the target lacks."""

    compare: list[str]
    added: list[str]


def change_columns(
    source: list[str], target: list[str], keys: list[str], ignore: Sequence[str], what: str
) -> ChangeColumns:
    """The non-key columns present on both sides and not ignored, and the source-only (new) columns.

    Target-only columns are not compared: an update leaves them as they are.
    """
    ignore = list(ignore)
    unknown = [c for c in ignore if c not in source]
    if unknown:
        raise ValueError(f"{what}: ignore_columns {unknown} are not in the data; name columns the data has")
    keyed = [c for c in ignore if c in keys]
    if keyed:
        raise ValueError(f"{what}: ignore_columns {keyed} are merge keys; keys are always compared")
    on_target = set(target)
    compare = [c for c in source if c not in keys and c not in ignore and c in on_target]
    added = [c for c in source if c not in on_target]
    return ChangeColumns(compare, added)


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_AWS_ERROR_RE = re.compile(r"AWS Error \S+ during (?P<op>\S+) operation: (?P<cause>[^;]+)")


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when there is none)."""
    text = _ANSI_RE.sub("", str(exc)).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def root_cause(exc: BaseException, limit: int = 240) -> str:
    """One line saying why a storage call failed, from the innermost cause of a chained error text.

    object_store nests causes as indented `↳` lines ("error sending request ↳ tcp connect error ↳
    Connection refused"); the last one is the reason a user can act on.
    """
    # delta-rs may append a Rust backtrace ("   0: <unknown>" ...): not part of the reason.
    text = re.split(r"\n\s*0: ", _ANSI_RE.sub("", str(exc)), maxsplit=1)[0]
    if "↳" in text:
        # Skip the wrapped tails of long lines ("10, retry_timeout", "180s - HTTP error").
        parts = [p.strip() for p in re.split(r"↳|\n", text) if p.strip() and not p.strip()[:1].isdigit()]
        reason = parts[-1] if parts else first_line(exc)
    else:
        reason = first_line(exc)
        # pyarrow's S3 errors: "When listing ...: AWS Error NETWORK_CONNECTION during ListObjectsV2
        # operation: curlCode: 7, Could not connect to server; Details: ..." -> the operation and the cause.
        aws = _AWS_ERROR_RE.search(reason)
        if aws:
            reason = f"{aws.group('op')} failed: {aws.group('cause').strip()}"
    reason = " ".join(reason.split())
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def with_retries(
    op: Callable[[], T],
    is_conflict: Callable[[BaseException], bool],
    what: str,
    attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `op`, re-running it after a commit conflict with jittered exponential backoff.

    Each attempt must reload the table itself, so a retry re-plans against the winner's commit. A
    table created by a concurrent writer between our existence check and our commit is such a
    conflict too: the retry finds the table and appends or merges into it. `on_retry(attempt, exc)`
    is told about every conflict that is retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            return op()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                raise CommitConflict(
                    f"{what}: gave up after {attempts} attempts, concurrent writers kept committing first "
                    f"({first_line(exc)})"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            # Full jitter keeps racing writers from colliding again on the same schedule.
            time.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    raise AssertionError("unreachable")


class _Merges(Protocol):
    def merge(self, name: str, data: Any, keys: list[str]) -> MergeStats: ...


def publish(lakehouse: _Merges, name: str, data: Any, keys: list[str]) -> MergeStats:
    """Merge `data` (Arrow table for Lakehouse, DataFrame for SparkLakehouse) on `keys`."""
    return lakehouse.merge(name, data, keys)
