"""`leadlake deliver` and `leadlake replay`: reverse ETL to one destination, a dry run, dead letters again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from leadlake.cli.common import (
    EXIT_FAILED,
    Format,
    console,
    emit,
    errors,
    quiet_logs,
    say_error,
    settings,
)

DestOpt = Annotated[str, typer.Option("--destination", help="A destination name, e.g. hubspot")]


def _run(destination: str, options: dict[str, Any]) -> Any:
    """Run the delivery stage for one destination on the configured (or a started) sandbox/live CRM."""
    from leadlake.connectors.registry import connector_of_kind
    from leadlake.runtime.resources import new_run_id, sandboxed
    from leadlake.runtime.stages import get_stage, run_stage

    connector_of_kind(destination, "destination")  # an unknown name: one line listing the destinations
    with sandboxed(settings()) as res:
        res.lakehouse.check_reachable()
        return run_stage(get_stage("delivery"), res, new_run_id("deliver"), only=destination, options=options)


def _finish(report: Any) -> None:
    (d,) = report.details
    console.print(
        f"{d.destination}: {d.sent} sent ({d.created} created, {d.updated} updated), "
        f"{d.unchanged} unchanged, {d.suppressed} suppressed, "
        f"{d.failed} failed ({d.dead_lettered} to dead letters), "
        f"{d.merged + d.rekeyed} merges applied",
        highlight=False,
    )
    if report.failures or report.error:
        say_error(report.error or "; ".join(report.failures), label="failed")
        raise typer.Exit(EXIT_FAILED)


def deliver(
    destination: DestOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing")] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Deliver new or changed qualifying leads to one destination (exit 1 when any failed)."""
    quiet_logs()
    with errors():
        report = _run(destination, {"dry_run": dry_run})
        if dry_run:
            (d,) = report.details
            emit(d.would_send, fmt, title=f"would send to {destination}")
            console.print(
                f"{len(d.would_send)} would be sent, {d.unchanged} unchanged, {d.suppressed} suppressed",
                highlight=False,
            )
            return
        _finish(report)


def replay(destination: DestOpt) -> None:
    """Send one destination's dead letters again (after a mapping or data fix); exit 1 if any still fail."""
    quiet_logs()
    with errors():
        _finish(_run(destination, {"replay": True}))
