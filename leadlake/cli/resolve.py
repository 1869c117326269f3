"""`leadlake resolve`: entity resolution of a user's own records (CSV in, clusters CSV out), no lakehouse."""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from leadlake.cli.common import (
    EXIT_USAGE,
    STDIO,
    check_output_file,
    console,
    err_console,
    errors,
    fail,
    quiet_logs,
    stdin_to_file,
    write_stdout,
)

_NO_INPUT = (
    "leadlake resolve needs --input records.csv --output clusters.csv, "
    "or --full to re-resolve the lakehouse's silver records"
)


def _check_paths(inputs: list[Path], output: Path | None, report: Path | None) -> Path:
    """Refuse, before any work, outputs that cannot be written: nothing is written on a usage error."""
    check_output_file(output, inputs, "clusters.csv", "clusters")
    if report is not None and report.exists() and not report.is_dir():
        fail(f"--report {report} is a file; give a folder for the HTML dashboards")
    return output  # type: ignore[return-value]  # check_output_file refused None


_STDIN_DIR = "leadlake-resolve-"


_STEPS = 5  # the resolver reports four steps (prepare, deterministic, Splink, cluster); then writing


def _progress_hook(progress: Any, task: Any) -> Any:
    """The resolver's progress callback driving the bar: each message is a step, its text the label."""

    from rich.markup import escape

    def hook(message: object = "", *_: Any, **__: Any) -> None:
        label = f"resolving: {escape(str(message))}" if message else None
        progress.update(task, description=label, advance=1)

    return hook


def resolve(
    input_paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="CSV of your records (comma, semicolon, tab or pipe separated, UTF-8; gzip, bz2, xz or zip "
            "compressed, Parquet, or an Excel or OpenDocument workbook's first sheet; - reads stdin); "
            "repeat it to link several files (each file the source of its rows without one; the output "
            "then says each record's file): record_id (unique in its file; in a file without one, the one "
            "..._id column unique in every row) "
            "and any of source, name, address, city, region, postal, country, phone, website, email, "
            "category, lat, lon (other names for them, such as id, zip, state, url, a CRM export's or a "
            "provider API's, are read as these); other columns (date_of_birth, tax_id, ...) are extra "
            "identifiers unless many records share their values.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Clusters CSV to write: record_id, cluster_id, match_probability (- writes it to stdout, "
            "the summary to stderr)",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write Splink's comparison viewer and cluster studio (HTML) here"),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="The input files' text encoding when not UTF-8, e.g. cp1252 (a CSV Excel saved on Windows) "
            "or latin-1; UTF-16 with a byte-order mark is read without it",
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            "--sheet",
            help="The sheet of an Excel or OpenDocument workbook to read: its name or number "
            "(default: the first)",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Match probability at which two records are one entity, between 0 and 1 (default 0.9); "
            "lower merges more, with more mistakes",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Without --input: re-resolve every silver record of the lakehouse (retrain, rescore every "
            "pair); existing leads keep their ids",
        ),
    ] = False,
) -> None:
    """Resolve your own records: which rows are the same entity. CSV in, clusters CSV out."""
    quiet_logs()
    warnings.filterwarnings("ignore", category=FutureWarning)  # pandas' notices are not the user's business
    if threshold is not None and not 0 < threshold < 1:
        fail(f"--threshold {threshold:g} is not a probability: give one between 0 and 1", EXIT_USAGE)
    if threshold is not None and not input_paths:
        fail("--threshold applies to --input files; the lakehouse's silver stage keeps its own", EXIT_USAGE)
    if not input_paths and full:
        _full_lakehouse()
        return
    if not input_paths:
        fail(_NO_INPUT, EXIT_USAGE)
    if sum(str(p) == STDIO for p in input_paths) > 1:
        fail("--input - (stdin) can be given once", EXIT_USAGE)
    _check_paths(input_paths, output, report)  # before stdin is read
    import tempfile

    with tempfile.TemporaryDirectory(prefix=_STDIN_DIR) as tmp:
        paths = [stdin_to_file(Path(tmp)) if str(p) == STDIO else p for p in input_paths]
        _resolve_files(paths, output, report, encoding, sheet, threshold)


def _resolve_files(
    input_paths: list[Path],
    output: Path | None,
    report: Path | None,
    encoding: str | None = None,
    sheet: str | None = None,
    threshold: float | None = None,
) -> None:
    """Read, resolve and write the clusters (to stdout for --output -, the summary then on stderr)."""
    piped = [p for p in input_paths if p.name == "stdin" and p.parent.name.startswith(_STDIN_DIR)]
    shown = (
        ("stdin" if piped else str(input_paths[0])) if len(input_paths) == 1 else f"{len(input_paths)} files"
    )
    to_stdout = output is not None and str(output) == STDIO
    say = err_console if to_stdout else console  # stdout holds the CSV alone
    with errors():
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from leadlake.stages.silver.resolve import inputs as ri
        from leadlake.stages.silver.resolve import resolve as run_resolve

        target = _check_paths(input_paths, output, report)
        started = time.perf_counter()
        try:
            with err_console.status(f"reading and normalising {shown}"):  # transient: gone after
                loaded = ri.load_inputs(input_paths, encoding, sheet)
        except ri.InputError as exc:
            message = str(exc)
            for path in piped:  # the user piped it in: no temporary file name in the message
                message = message.replace(str(path), "stdin")
            fail(message)
        if loaded.records.empty:
            fail(f"{shown} has a header but no records; add one row per record")
        extras_note = ""
        cfg = ri.settings_for(loaded)
        if threshold is not None:
            cfg = dataclasses.replace(cfg, match_threshold=threshold)
        if loaded.extra and not ri.supports_extra_columns(cfg):
            extras_note = f" (extra identifiers {', '.join(loaded.extra)} ignored: this resolver has none)"
        say.print(f"columns: {loaded.describe()}{extras_note}", highlight=False, soft_wrap=True)

        bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        record_ids = loaded.records["record_id"].tolist()
        origin = loaded.origin
        records = loaded.records if report is not None else None  # the report prepares them again
        # Handed over without a reference kept here: resolve() lets the records go once they are prepared,
        # the largest frame of the run, before Splink runs.
        handover = [loaded.records]
        del loaded
        with bar:
            task = bar.add_task("resolving", total=_STEPS)
            result = run_resolve(handover.pop(), cfg, progress=_progress_hook(bar, task))
            bar.update(task, description="writing clusters", completed=_STEPS - 1)
            clusters = ri.clusters_frame(record_ids, result.links, result.pairs)
            if report is not None and records is not None:
                bar.update(task, description="writing the report")
                ri.write_report(records, result, cfg, report, clusters=clusters)
            if to_stdout:
                write_stdout(ri.with_origin(clusters, origin), ri.write_clusters)
            else:
                ri.write_clusters_csv(ri.with_origin(clusters, origin), target)
            bar.update(task, description="done", completed=_STEPS)
        n, k = len(clusters), clusters["cluster_id"].nunique()
        where = f" -> {'stdout' if to_stdout else target}" + (f", report in {report}" if report else "")
        say.print(
            f"resolved {n:,} records into {k:,} clusters ({n - k:,} duplicates merged) "
            f"in {time.perf_counter() - started:.1f} s{where}",
            highlight=False,
            soft_wrap=True,
        )


def _full_lakehouse() -> None:
    """The silver stage with a full re-resolution on the configured lakehouse; exits 1 if it failed."""
    with errors():
        from leadlake.cli.common import settings
        from leadlake.runtime.resources import Resources, new_run_id
        from leadlake.runtime.stages import get_stage, run_stage

        res = Resources.from_settings(settings())
        res.lakehouse.check_reachable()
        with err_console.status("re-resolving every silver record (full)"):
            report = run_stage(get_stage("silver"), res, new_run_id("resolve-full"), options={"full": True})
        d = report.details
        console.print(
            f"full re-resolution: {d.source_records} records -> {d.leads} leads; lead ids: {d.leads_minted} "
            f"minted, {d.leads_merged} merged, {d.leads_split} split; {report.seconds:.0f} s",
            highlight=False,
            soft_wrap=True,  # one line, whatever the terminal's width: scripts grep it
        )
        if not report.ok:
            fail(report.error or "; ".join(report.failures) or "the silver stage failed", 1)
