"""`leadlake bench`: a sandbox world of N businesses through the stages, timed and measured."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from leadlake.cli.common import Format, console, emit, errors, fail, quiet_logs


def bench(
    businesses: int = typer.Option(10000, "--businesses", min=10),
    through: str = typer.Option("gold", "--through", help="Last stage to time"),
    out: Path = typer.Option(None, help="Write the figures as JSON here too"),
) -> None:
    """Time a sandbox world of N businesses through the stages: seconds, records/s, peak RSS."""
    quiet_logs()
    with errors():
        from leadlake.runtime.bench import run_bench
        from leadlake.runtime.stages import stage_names

        if through not in stage_names():
            fail(f"--through {through!r}: expected one of {', '.join(stage_names())}")
        result = run_bench(businesses, through, console=console)
        rows = [
            {
                "stage": r.stage,
                "seconds": f"{r.seconds:.1f}",
                "records": r.records,
                "records/s": f"{r.records / r.seconds:.0f}" if r.seconds else "-",
                "peak RSS MiB": f"{r.peak_rss_mb:.0f}",
                "notes": r.notes,
            }
            for r in result.stages
        ]
        emit(rows, Format.table, title=f"leadlake bench --businesses {businesses}")
        if out:
            out.write_text(json.dumps(result.as_dict(), indent=2))
