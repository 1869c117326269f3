"""`leadlake campaign validate|plan`: check a campaign file and cost it before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadlake.cli.common import Format, console, emit, errors

campaign_app = typer.Typer(help="Campaign specs.", no_args_is_help=True)


@campaign_app.command("validate")
def campaign_validate(file: Path) -> None:
    """Validate a campaign file against schemas/campaign.schema.json (and its cron against Airflow's)."""
    with errors():
        from leadlake.core.campaign import load_campaign

        spec = load_campaign(file)
        console.print(
            f"[green]ok[/] {file}: campaign '{spec.campaign_id}' ({len(spec.areas)} areas, "
            f"{len(spec.keywords)} keywords, sources {', '.join(spec.sources)})"
        )


@campaign_app.command("plan")
def campaign_plan(
    file: Path,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """The query plan (tiles, queries, worst-case calls) and its cost against the campaign's budget."""
    with errors():
        from leadlake.core.campaign import load_campaign
        from leadlake.stages.bronze.planning import enforce_budget, plan_for_budget

        spec = load_campaign(file)
        plan = plan_for_budget(spec)
        emit(plan.as_rows(), fmt, title=f"plan for {spec.campaign_id}")
        enforce_budget(plan)
