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
        from leadlake.connectors.registry import check_campaign  # noqa: F401 - registers the provider check
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
        from leadlake.connectors.registry import check_campaign  # noqa: F401 - registers the provider check
        from leadlake.core.campaign import load_campaign
        from leadlake.stages.bronze.planning import enforce_budget, plan_for_budget

        spec = load_campaign(file)
        plan = plan_for_budget(spec)
        rows = plan.as_rows()
        if fmt is Format.table:
            _print_plan(rows, f"plan for {spec.campaign_id}")
        else:
            emit(rows, fmt, title=f"plan for {spec.campaign_id}")
        enforce_budget(plan)


# The plan's table view, narrow enough for 80 columns; csv and json carry every column.
_PLAN_COLUMNS = {
    "queries": "queries",
    "leads": "leads",
    "max_calls": "calls",
    "cost_usd": "cost $",
    "budget_usd": "budget $",
    "within_budget": "fits",
}


def _what(row: dict) -> str:
    """A provider's name, or what a subtotal or total sums."""
    kind, provider = row.get("kind"), row.get("provider")
    if kind == "subtotal":
        return f"{provider} subtotal"
    if kind == "total":
        return "total"
    return str(provider)


def _cell(key: str, value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if key in ("cost_usd", "budget_usd") and isinstance(value, int | float):
        return f"{value:,.2f}"
    return str(value)


def _print_plan(rows: list[dict], title: str) -> None:
    """The plan as a narrow table (one line per provider), then each row's note on its own wrapped lines."""
    import textwrap

    from rich.table import Table

    table = Table(title=f"{title} (worst case)")
    table.add_column("provider", overflow="ellipsis", no_wrap=True)
    for key, header in _PLAN_COLUMNS.items():
        table.add_column(header, justify="left" if key == "within_budget" else "right", no_wrap=True)
    for r in rows:
        table.add_row(_what(r), *[_cell(k, r.get(k)) for k in _PLAN_COLUMNS])
    console.print(table)
    width = max(console.width, 40)
    for r in rows:
        if r.get("notes"):
            text = textwrap.fill(
                f"{_what(r)}: {r['notes']}", width=width, initial_indent="  ", subsequent_indent="    "
            )
            console.print(text, highlight=False, markup=False, soft_wrap=True)
