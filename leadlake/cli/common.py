"""What every command shares: consoles, output formats, one-line errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2  # a user-fixable error: bad config, campaign, SQL, budget
EXIT_FAILED = 1  # a stage failed or a provider refused us


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one red line on stderr and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message tells the user what to fix (imported lazily: `tables` stays light)."""
    from leadlake.connectors.registry import UnknownConnector
    from leadlake.core.campaign import CampaignError
    from leadlake.core.settings import SettingsError
    from leadlake.lakehouse import LakehouseError
    from leadlake.runtime.resources import ConfigError

    types: list[type[BaseException]] = [
        SettingsError,
        CampaignError,
        LakehouseError,
        ConfigError,
        UnknownConnector,
    ]
    if "leadlake.stages.bronze.planning" in sys.modules:
        from leadlake.stages.bronze.planning import BudgetExceeded

        types.append(BudgetExceeded)
    if "leadlake.connectors.http" in sys.modules:
        from leadlake.connectors.http import ProviderError

        types.append(ProviderError)
    if "leadlake.runtime.airflow.local" in sys.modules:
        from leadlake.runtime.airflow.local import DagRunFailed

        types.append(DagRunFailed)
    return tuple(types)


@contextmanager
def errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and a non-zero exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise


def quiet_logs() -> None:
    """Warnings only, with emails and phones masked in every record; chatty libraries at ERROR."""
    from leadlake.observe.logs import configure_logging

    configure_logging(logging.WARNING)
    for noisy in ("py4j", "airflow", "sqlalchemy", "alembic", "splink", "great_expectations", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def progress() -> Progress:
    """The progress display the pipeline commands share."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def emit(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    """Print rows as a rich table, CSV (Unix line ends, as psql and DuckDB) or JSON."""
    if fmt is Format.json:
        print(json.dumps(rows, default=str, indent=2))
        return
    cols = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, show_lines=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*["" if r[c] is None else str(r[c]) for c in cols])
    console.print(table)


def settings() -> Any:
    """The resolved settings (SettingsError names the bad variable)."""
    from leadlake.core.settings import get_settings

    return get_settings()
