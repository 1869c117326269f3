"""The DuckDB query layer: one read-only statement over lakehouse tables held as Arrow datasets.

Analysts' SQL gets exactly one SELECT-like statement (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW,
SUMMARIZE, EXPLAIN of one of those). The referenced tables are registered as views over Arrow datasets
(delta-rs reads the Delta log, DuckDB scans the Parquet through pyarrow: no JVM, nothing copied); then
DuckDB's external access is switched off and its configuration locked, so the statement cannot read or
write a file (COPY, read_csv, glob, ATTACH, INSTALL/LOAD), change a setting, or see Python variables.
A timer interrupts a statement that runs past the timeout (DuckDB has no statement timeout of its own).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from leadlake.lakehouse.base import QueryRefused, QueryTimeout, first_line, is_plain_table_name
from leadlake.lakehouse.catalog import LAYERS

__all__ = [
    "ALLOWED",
    "DEFAULT_SQL_TIMEOUT_S",
    "check_read_only",
    "connect",
    "lock_down",
    "referenced_tables",
    "run_read_only",
    "select_where",
]

DEFAULT_SQL_TIMEOUT_S = 60.0
ALLOWED = (
    "one read-only statement (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN) over "
    + ", ".join(f"{layer}.*" for layer in LAYERS)
    + " tables"
)

# Table references in SQL text; only these are loaded so `leadlake sql` stays fast.
_TABLE_REF_RE = re.compile(
    rf"\b({'|'.join(re.escape(layer) for layer in LAYERS)})\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE
)
_EXPLAIN_RE = re.compile(r"^\s*explain\s+(?:\([^)]*\)\s*)?(?:analy[sz]e\s+)?(?P<inner>.+)$", re.I | re.S)

# Set after the tables are registered, then frozen by lock_configuration.
_LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)


def referenced_tables(query: str) -> list[str]:
    """The `layer.table` names a query mentions, in order of first mention (layers lower-cased)."""
    names: list[str] = []
    for layer, table in _TABLE_REF_RE.findall(query):
        name = f"{layer.lower()}.{table}"
        if is_plain_table_name(table) and name not in names:
            names.append(name)
    return names


def connect() -> Any:
    """A fresh in-memory DuckDB connection that reports timestamps in UTC."""
    import duckdb

    con = duckdb.connect()
    # Timestamps come back in UTC whatever the machine's zone is.
    con.execute("SET TimeZone = 'UTC'")
    return con


def lock_down(con: Any) -> None:
    """No file, network or extension access from here on, and no setting can be changed back."""
    for statement in _LOCKDOWN:
        con.execute(statement)


def _refuse(reason: str) -> QueryRefused:
    return QueryRefused(f"query refused: {reason}; allowed: {ALLOWED}")


def _keyword(statement_text: str) -> str:
    words = statement_text.split()
    return words[0].upper().rstrip(";") if words else "empty"


def check_read_only(con: Any, query: str) -> None:
    """Raise QueryRefused unless `query` is exactly one read-only statement; parse errors pass through."""
    import duckdb

    statements = con.extract_statements(query)
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements given")
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return
    if statement.type == duckdb.StatementType.EXPLAIN:
        match = _EXPLAIN_RE.match(statement.query)
        inner = con.extract_statements(match.group("inner")) if match else []
        if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
            return
        raise _refuse("EXPLAIN of anything but a SELECT")
    raise _refuse(f"{_keyword(statement.query)} statements are not read-only queries")


def _register(con: Any, tables: Mapping[str, Any]) -> None:
    for layer in LAYERS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    for name, dataset in tables.items():
        layer, table = name.split(".", 1)
        # DuckDB's delta extension needs a download; an Arrow dataset view works offline.
        view = f"__{layer}__{table}"
        con.register(view, dataset)
        con.execute(f'CREATE VIEW {layer}.{table} AS SELECT * FROM "{view}"')


def run_read_only(query: str, tables: Mapping[str, Any], timeout_s: float) -> pa.Table:
    """Run one read-only statement over `tables` (`layer.table` -> Arrow dataset) within `timeout_s`.

    Raises QueryRefused for anything but one read-only statement or for any file access, QueryTimeout
    when the statement is interrupted at the timeout; DuckDB's own errors (syntax, unknown column)
    pass through unchanged.
    """
    import duckdb

    if not timeout_s or timeout_s <= 0:
        raise ValueError(f"the SQL statement timeout must be > 0 seconds, got {timeout_s!r}")
    con = connect()
    try:
        check_read_only(con, query)
        _register(con, tables)
        lock_down(con)
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout_s, interrupt)
        timer.daemon = True
        timer.start()
        try:
            return con.sql(query).to_arrow_table()
        except duckdb.InterruptException as exc:
            if not fired.is_set():
                raise
            raise QueryTimeout(
                f"query interrupted: it ran past the {timeout_s:g} s statement timeout"
            ) from exc
        except duckdb.PermissionException as exc:
            raise _refuse(f"files and extensions are off limits ({first_line(exc)})") from exc
        finally:
            timer.cancel()
    finally:
        con.close()


def select_where(dataset: Any, columns: list[str], predicate: str) -> pa.Table:
    """`SELECT columns FROM dataset WHERE predicate` with DuckDB, locked down like analysts' SQL."""
    import duckdb

    con = connect()
    try:
        con.register("__t", dataset)
        lock_down(con)
        projection = ", ".join(f'"{c}"' for c in columns)
        return con.sql(f"SELECT {projection} FROM __t WHERE {predicate}").to_arrow_table()
    except duckdb.PermissionException as exc:
        raise _refuse(f"files and extensions are off limits ({first_line(exc)})") from exc
    finally:
        con.close()
