"""What every command shares: consoles, output formats, one-line errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
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


class _StdoutUntilClosed(io.TextIOBase):
    """sys.stdout until its reader goes away (`| head -1`), then nowhere: the command finishes its work and
    exits as that went; the rest of its summary is dropped, as `cat` drops what nobody reads."""

    gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                sys.stdout.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail on it either

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(sys.stdout, "encoding", None) or "utf-8"


console = Console(file=_StdoutUntilClosed())
err_console = Console(stderr=True)

EXIT_USAGE = 2  # a user-fixable error: bad config, campaign, SQL, budget
EXIT_FAILED = 1  # a stage failed or a provider refused us


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def say_error(message: str, label: str = "error") -> None:
    """One red line on stderr (never wrapped, so `grep` and `2>err; wc -l` see one line), PII masked."""
    from rich.markup import escape

    from leadlake.observe.logs import mask_text

    line = " ".join(mask_text(message).split())
    err_console.print(f"[bold red]{escape(label)}:[/] {escape(line)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one red line on stderr and exit with `code`."""
    say_error(message)
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


def user_error(exc: BaseException) -> bool:
    """True when the exception's message tells the user what to fix (it becomes one line, not a traceback)."""
    return isinstance(exc, _user_errors())


def _failure_errors() -> tuple[type[BaseException], ...]:
    """User-error types that mean a run failed or a provider refused us (exit 1, not 2)."""
    types: list[type[BaseException]] = []
    if "leadlake.connectors.http" in sys.modules:
        from leadlake.connectors.http import ProviderError

        types.append(ProviderError)
    if "leadlake.runtime.airflow.local" in sys.modules:
        from leadlake.runtime.airflow.local import DagRunFailed

        types.append(DagRunFailed)
    return tuple(types)


def _hint(exc: BaseException) -> str:
    """What to change, for errors whose own text names the problem but not the setting."""
    from leadlake.lakehouse.base import LakehouseUnreachable

    if isinstance(exc, LakehouseUnreachable):
        s = settings()
        names = "LEADLAKE_LAKEHOUSE_URI" + (" or LEADLAKE_S3_ENDPOINT_URL" if s.s3_endpoint_url else "")
        return f" (check {names})"
    return ""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text, else its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and a non-zero exit code.

    Exit 2 (EXIT_USAGE) for what the user can fix (a setting, a campaign, SQL, a budget); exit 1
    (EXIT_FAILED) when a DAG run failed or a provider refused us.
    """
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            code = EXIT_FAILED if isinstance(exc, _failure_errors()) else EXIT_USAGE
            fail(first_line(exc) + _hint(exc), code)
        raise


def quiet_logs() -> None:
    """Warnings only, with emails and phones masked in every record; chatty libraries at ERROR, and no
    MLflow INFO lines or download bars between the command's own lines (a user who sets the variables
    keeps theirs)."""
    from leadlake.observe.logs import configure_logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets its own level on import
    configure_logging(logging.WARNING)
    for noisy in ("py4j", "airflow", "sqlalchemy", "alembic", "splink", "great_expectations", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def reclaim_logs() -> None:
    """After in-process Airflow runs (dag.test), which leave their own handlers on the root logger writing
    to stdout: the CLI's logging back (quiet_logs), so stdout holds the command's output only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    quiet_logs()


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


def emit(
    rows: list[dict[str, Any]],
    fmt: Format,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print rows as a rich table, CSV (Unix line ends, as psql and DuckDB) or JSON. columns: the names
    when there may be no rows (a query's result): the CSV header and the table's head are still printed."""
    if fmt is Format.json:
        print(json.dumps(rows, default=str, indent=2))
        return
    cols = list(rows[0]) if rows else list(columns or [])
    if not cols:
        if fmt is Format.table:
            console.print("(0 rows)", highlight=False)
        return
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([csv_cell(r[c]) for c in cols] for r in rows)
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, show_lines=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[table_cell(r[c]) for c in cols])
    if not rows:
        table.caption = "(0 rows)"
    console.print(table)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell shell tools read: lists and structs as JSON (not Python's repr with single
    quotes), booleans as true/false, NULL as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def table_cell(value: Any) -> str:
    """A value as a table cell a person reads: a list of plain values as "a, b", NULL as empty."""
    if value is None:
        return ""
    if isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
        return ", ".join("" if v is None else str(v) for v in value)
    return csv_cell(value) if isinstance(value, list | dict) else str(value)


def settings() -> Any:
    """The resolved settings (SettingsError names the bad variable)."""
    from leadlake.core.settings import get_settings

    return get_settings()


# ---- stdin and stdout as files ------------------------------------------------------------------------
STDIO = "-"  # --input - reads a file from stdin, --output - writes the CSV to stdout


def stdin_to_file(folder: Path) -> Path:
    """What is piped in, as a file named stdin in `folder` (read in one go: a CSV is read whole)."""
    path = folder / "stdin"
    with path.open("wb") as fh:
        while chunk := sys.stdin.buffer.read(1 << 20):
            fh.write(chunk)
    return path


def check_output_file(output: Path | None, inputs: Sequence[Path], example: str, what: str) -> bool:
    """Refuse, before any work, an --output that cannot be written (missing, a folder, in a folder that does
    not exist, one of the inputs): nothing is written on a usage error. True when it is stdout (-)."""
    if output is None:
        fail(f"--output is missing; add --output {example} to say where the {what} go ({inputs[0]})")
    if str(output) == STDIO:
        return True
    if output.is_dir():
        fail(f"--output {output} is a directory; give a file name such as {output / example}")
    if not output.parent.is_dir():
        fail(f"--output {output}: folder {output.parent} does not exist; create it or choose another path")
    for path in inputs:
        if path.exists() and output.resolve() == path.resolve():
            fail(f"--output {output} is an input file; choose another file name for the {what}")
    return False


def write_stdout(rows: Any, write: Any) -> None:
    """A CSV on stdout: write(rows, sys.stdout). A reader that stops early (`| head`) is not a failure: the
    rest is dropped, as `cat` would."""

    try:
        write(rows, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit must not raise again
