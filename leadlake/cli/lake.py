"""`leadlake tables` and `leadlake sql`: the lakehouse through delta-rs and DuckDB, no JVM."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from leadlake.cli.common import EXIT_FAILED, STDIO, Format, console, emit, errors, fail, settings


def sql_error_line(message: str) -> str:
    """DuckDB's error as one line: its first, with the columns it suggests for a misspelt one ("Candidate
    bindings") when it gives them; the caret lines under a syntax error are left out."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return message
    hint = next((line for line in lines[1:] if line.startswith("Candidate bindings:")), None)
    return f"{lines[0]} {hint}" if hint else lines[0]


def tables(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every table: layer, name, Delta version, row count.

    A table whose Delta log cannot be read is still listed, with an `error` column; the others are listed
    as usual, stderr names the broken table(s) in one line and the exit code is 1 (as `ls` does).
    """
    with errors():
        from leadlake.runtime.resources import lakehouse

        s = settings()
        infos = lakehouse(s).list_tables()
        rows = []
        broken: list[tuple[str, str]] = []
        for t in infos:
            row = {"layer": t.layer, "table": t.name, "version": t.version, "rows": t.rows}
            error = getattr(t, "error", None)
            if error:
                broken.append((t.name, error))
                # The table view stays narrow; csv and json carry the whole reason.
                row["error"] = "unreadable" if fmt is Format.table else error
            rows.append(row)
        if broken:
            for r in rows:
                r.setdefault("error", None)
        if not rows and fmt is Format.table:
            console.print(f"no tables yet in {s.lakehouse_root}: run [bold]leadlake demo[/] first")
            return
        emit(rows, fmt, title=f"tables in {s.lakehouse_root}")
        if broken:
            fail("; ".join(e if name in e else f"{name}: {e}" for name, e in broken), EXIT_FAILED)


def sql(
    query: Annotated[
        str,
        typer.Argument(
            help="One read-only SQL statement over bronze.*, silver.*, gold.*, ops.*; - reads it from stdin "
            "(leadlake sql - < report.sql)"
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Run one read-only SQL statement (DuckDB) over the lakehouse tables."""
    with errors():
        from leadlake.lakehouse import LakehouseError
        from leadlake.runtime.resources import lakehouse

        s = settings()
        if query == STDIO:
            query = sys.stdin.read()
            if not query.strip():
                fail(
                    "no statement on stdin; pipe one in (leadlake sql - < report.sql) or give it as the "
                    "argument"
                )
        try:
            result = lakehouse(s).sql(query, timeout_s=s.sql_timeout_s)
        except LakehouseError:
            raise
        except Exception as exc:  # noqa: BLE001 - DuckDB's parser and binder errors: one line for the analyst
            fail(f"query failed: {sql_error_line(str(exc))}")
        emit(result.to_pylist(), fmt, columns=result.column_names)
