"""`leadlake tables` and `leadlake sql`: the lakehouse through delta-rs and DuckDB, no JVM."""

from __future__ import annotations

from typing import Annotated

import typer

from leadlake.cli.common import Format, console, emit, errors, fail, settings


def tables(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every table: layer, name, Delta version, row count (a broken table is named, not fatal)."""
    with errors():
        from leadlake.runtime.resources import lakehouse

        s = settings()
        infos = lakehouse(s).list_tables()
        rows = []
        for t in infos:
            row = {"layer": t.layer, "table": t.name, "version": t.version, "rows": t.rows}
            if getattr(t, "error", None):
                row["error"] = t.error
            rows.append(row)
        if any("error" in r for r in rows):
            for r in rows:
                r.setdefault("error", None)
        if not rows and fmt is Format.table:
            console.print(f"no tables yet in {s.lakehouse_root}: run [bold]leadlake demo[/] first")
            return
        emit(rows, fmt, title=f"tables in {s.lakehouse_root}")


def sql(
    query: Annotated[
        str, typer.Argument(help="One read-only SQL statement over bronze.*, silver.*, gold.*, ops.*")
    ],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Run one read-only SQL statement (DuckDB) over the lakehouse tables."""
    with errors():
        from leadlake.lakehouse import LakehouseError
        from leadlake.runtime.resources import lakehouse

        s = settings()
        try:
            result = lakehouse(s).sql(query, timeout_s=s.sql_timeout_s)
        except LakehouseError:
            raise
        except Exception as exc:  # noqa: BLE001 - DuckDB's parser and binder errors: one line for the analyst
            fail(f"query failed: {str(exc).strip().splitlines()[0]}")
        emit(result.to_pylist(), fmt)
