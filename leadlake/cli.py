"""The `leadlake` command line: demo, run, sandbox, tables, sql, config, bench."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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

app = typer.Typer(
    help="leadlake: provider APIs -> bronze/silver/gold Delta tables -> CRM.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="The local provider/CRM sandbox.", no_args_is_help=True)
config_app = typer.Typer(help="Resolved settings.", no_args_is_help=True)
campaign_app = typer.Typer(help="Campaign specs.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(config_app, name="config")
app.add_typer(campaign_app, name="campaign")

console = Console()
err_console = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Stage(StrEnum):
    bronze = "bronze"
    silver = "silver"
    gold = "gold"
    delivery = "delivery"


STAGE_ORDER = ["bronze", "silver", "gold", "delivery"]


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and a non-zero exit code."""
    from leadlake.campaign import CampaignError
    from leadlake.lakehouse import LakehouseError
    from leadlake.pipeline import ConfigError
    from leadlake.planning import BudgetExceeded
    from leadlake.settings import SettingsError

    try:
        yield
    except (SettingsError, CampaignError, LakehouseError, ConfigError, BudgetExceeded) as exc:
        _fail(str(exc).splitlines()[0])
    except Exception as exc:
        # Imported only when something failed: the provider stack is not needed by `tables` or `sql`.
        from leadlake.sources.http import ProviderError

        if isinstance(exc, ProviderError):
            _fail(str(exc).splitlines()[0])
        raise


def _settings():
    from leadlake.settings import get_settings

    return get_settings()


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "airflow", "sqlalchemy", "alembic", "splink", "great_expectations", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _emit(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    """Print rows as a rich table, CSV or JSON."""
    if fmt is Format.json:
        print(json.dumps(rows, default=str, indent=2))
        return
    cols = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols)
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


# ----------------------------------------------------------------------------------------------- config
@config_app.command("show")
def config_show(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The resolved settings: lakehouse, MLflow, Airflow, sandbox, Delta backend, Spark master."""
    with _errors():
        from leadlake.spark import delta_unavailable_reason
        from leadlake.stage_io import use_delta_spark

        s = _settings()
        rows = {
            "lakehouse_uri": s.lakehouse_root,
            "s3_endpoint_url": s.s3_endpoint_url,
            "mlflow_tracking_uri": s.tracking_uri,
            "airflow_home": str(s.resolved_airflow_home),
            "sandbox_url": s.sandbox_url or ("started per command" if s.uses_sandbox else None),
            "providers": "sandbox" if s.uses_sandbox else "live APIs",
            "delta_backend": "delta-spark" if use_delta_spark(s) else "delta-rs",
            "delta_spark_jars": delta_unavailable_reason() or "present",
            "spark_master": s.spark_master,
            "resolve_backend": s.resolve_backend,
            "campaigns_dir": str(s.campaigns_dir),
            "google_places_api_key": "set" if s.google_places_api_key else "not set",
            "yelp_api_key": "set" if s.yelp_api_key else "not set",
            "hubspot_access_token": "set" if s.hubspot_access_token else "not set",
        }
        if fmt is Format.json:
            print(json.dumps(rows, indent=2))
        else:
            _emit([{"setting": k, "value": v} for k, v in rows.items()], fmt)


# ---------------------------------------------------------------------------------------------- tables
@app.command()
def tables(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every table: layer, name, Delta version, row count."""
    with _errors():
        from leadlake.pipeline import lakehouse

        infos = lakehouse().list_tables()
        rows = [{"layer": t.layer, "table": t.name, "version": t.version, "rows": t.rows} for t in infos]
        if not rows and fmt is Format.table:
            console.print("no tables yet: run [bold]leadlake demo[/] first")
            return
        _emit(rows, fmt, title=f"tables in {_settings().lakehouse_root}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over bronze.*, silver.*, gold.* tables")],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Run SQL (DuckDB) over the lakehouse tables."""
    with _errors():
        from leadlake.pipeline import lakehouse

        try:
            result = lakehouse().sql(query)
        except Exception as exc:
            from leadlake.lakehouse import LakehouseError

            if isinstance(exc, LakehouseError):
                raise
            _fail(f"query failed: {str(exc).splitlines()[0]}")
        _emit(result.to_pylist(), fmt)


# ---------------------------------------------------------------------------------------------- sandbox
@sandbox_app.command("serve")
def sandbox_serve(
    port: int = typer.Option(8765, help="Port on 127.0.0.1"),
    seed: int = typer.Option(42, help="World seed"),
    businesses: int = typer.Option(5000, help="Businesses in the world"),
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9, help="Share of faulty responses"),
) -> None:
    """Serve the sandbox until Ctrl-C; export LEADLAKE_SANDBOX_URL so other commands use it."""
    from leadlake.sandbox.server import serve

    serve(port=port, seed=seed, businesses=businesses, fault_rate=fault_rate)


# --------------------------------------------------------------------------------------------- campaign
@campaign_app.command("validate")
def campaign_validate(file: Path) -> None:
    """Validate a campaign file against schemas/campaign.schema.json."""
    with _errors():
        from leadlake.campaign import load_campaign

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
    with _errors():
        from leadlake.campaign import load_campaign
        from leadlake.planning import enforce_budget, plan_campaign
        from leadlake.sources import build_adapter

        spec = load_campaign(file)
        # Planning makes no HTTP call, so placeholder keys and base URLs are enough here.
        adapters = [build_adapter(name, api_key="plan-only") for name in spec.sources]
        plan = plan_campaign(spec, adapters)
        _emit(plan.as_rows(), fmt, title=f"plan for {spec.campaign_id}")
        enforce_budget(plan)


# ------------------------------------------------------------------------------------------------- run
def _run_stages(campaign_specs: list, through: str, run_id: str) -> dict[str, Any]:
    """Run bronze -> ... -> `through` directly (no Airflow) with progress bars; returns stage reports."""
    from leadlake import pipeline

    reports: dict[str, Any] = {}
    stop = STAGE_ORDER.index(through)
    with _progress() as progress:
        for spec in campaign_specs:
            task = progress.add_task(f"bronze  {spec.campaign_id}", total=None)

            def tick(_: str, task: int = task) -> None:
                progress.advance(task)

            reports.setdefault("bronze", []).append(pipeline.run_ingest(spec, run_id, progress=tick))
            progress.update(task, total=progress.tasks[task].completed)
        steps: list[tuple[int, str, str, Callable[[], Any]]] = [
            (1, "silver", "silver  normalise + resolve (Spark, Splink)", pipeline.run_silver),
            (2, "enrich", "enrich  PDL, Hunter, OpenCorporates", lambda: pipeline.run_enrichment(run_id)),
            (2, "gold", "gold    score", pipeline.run_gold),
            (3, "delivery", "deliver HubSpot upsert", lambda: pipeline.run_delivery(run_id)),
        ]
        for needs, key, label, step in steps:
            if stop >= needs:
                t = progress.add_task(label, total=1)
                reports[key] = step()
                progress.advance(t)
    return reports


@app.command()
def run(
    campaign: Annotated[Path, typer.Option("--campaign", help="Campaign YAML file")],
    through: Annotated[Stage, typer.Option("--through", help="Last stage to run")] = Stage.delivery,
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9),
) -> None:
    """Run one campaign through bronze, silver, gold and delivery (in-process, without Airflow)."""
    _quiet_logs()
    with _errors():
        from leadlake import pipeline
        from leadlake.campaign import load_campaign

        spec = load_campaign(campaign)
        settings = _settings()
        pipeline.lakehouse(settings).check_reachable()
        with pipeline.sandbox(settings, fault_rate=fault_rate):
            reports = _run_stages([spec], through.value, pipeline.new_run_id("cli"))
        _print_summary(reports, started=None)


# ------------------------------------------------------------------------------------------------ demo
@app.command()
def demo(
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9, help="Sandbox fault rate"),
    airflow: bool = typer.Option(True, "--airflow/--no-airflow", help="Run the stages as Airflow DAGs"),
) -> None:
    """The whole pipeline on the sandbox, end to end, in-process; prints what it made."""
    _quiet_logs()
    started = time.perf_counter()
    with _errors():
        from leadlake import pipeline
        from leadlake.campaign import campaign_files, load_campaign

        settings = _settings()
        pipeline.lakehouse(settings).check_reachable()
        specs = [load_campaign(p) for p in campaign_files(settings.campaigns_dir)]
        if not specs:
            _fail(f"no campaign files in {settings.campaigns_dir} (set LEADLAKE_CAMPAIGNS_DIR)")
        with pipeline.sandbox(settings, fault_rate=fault_rate) as url:
            console.print(f"sandbox: [bold]{url}[/]  (fault rate {fault_rate:.0%})")
            if airflow:
                reports = _demo_airflow([s.campaign_id for s in specs])
            else:
                reports = _run_stages(specs, "delivery", pipeline.new_run_id("demo"))
        _print_summary(reports, started=started)


def _demo_airflow(campaign_ids: list[str]) -> dict[str, Any]:
    """Run every DAG once with dag.test(), in pipeline order."""
    from leadlake import orchestrate

    timings: dict[str, float] = {}
    with _progress() as progress:
        t = progress.add_task("airflow db migrate + DagBag", total=1)
        t0 = time.perf_counter()
        orchestrate.prepare(_settings())
        dags = orchestrate.load_dags()
        progress.advance(t)
        timings["airflow setup"] = time.perf_counter() - t0
        dag_ids = [f"leadlake_ingest__{c}" for c in campaign_ids]
        dag_ids += ["leadlake_silver", "leadlake_gold", "leadlake_delivery"]
        for dag_id in dag_ids:
            t = progress.add_task(f"dag {dag_id}", total=1)
            t0 = time.perf_counter()
            orchestrate.run_dag(dag_id, dags)
            timings[dag_id] = time.perf_counter() - t0
            progress.advance(t)
    return {"timings": timings}


def _print_summary(reports: dict[str, Any], started: float | None) -> None:
    """Rows per table, duplicates merged, the top 10 leads, where things are and what to try next."""
    from leadlake.pipeline import summarize
    from leadlake.tables import GOLD_CRM_DELIVERIES

    s = _settings()
    summary = summarize(s)
    table = Table(title="lakehouse tables")
    for c in ("layer", "table", "version", "rows"):
        table.add_column(c, justify="right" if c in ("version", "rows") else "left")
    for t in summary.tables:
        table.add_row(t.layer, t.name, str(t.version), str(t.rows))
    console.print(table)
    if "timings" in reports:
        console.print(
            "stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in reports["timings"].items()),
            highlight=False,
        )
    if "delivery" in reports:
        d = reports["delivery"]
        console.print(
            f"delivered to hubspot: {d.sent} sent ({d.created} created, {d.updated} updated), "
            f"{d.unchanged} unchanged, {d.failed} failed"
        )
    else:
        ledger = next((t.rows for t in summary.tables if t.name == GOLD_CRM_DELIVERIES), 0)
        console.print(f"delivered to hubspot: {ledger} leads recorded in gold.crm_deliveries")
    console.print(f"duplicates merged across providers: [bold]{summary.duplicates_merged}[/]")
    top = Table(title="top 10 leads")
    for c in ("#", "name", "city", "score", "tier", "sources", "reasons"):
        top.add_column(c, overflow="fold")
    for i, r in enumerate(summary.top, 1):
        top.add_row(
            str(i),
            r["name"],
            f"{r['city']}, {r['region']}",
            str(r["lead_score"]),
            r["priority_tier"],
            str(r["source_count"]),
            "; ".join(r["score_reasons"] or []),
        )
    console.print(top)
    if started is not None:
        console.print(f"pipeline finished in {time.perf_counter() - started:.0f} s")
    console.print(f"tables: [bold]{s.lakehouse_root}[/]   airflow home: {s.resolved_airflow_home}")
    console.print(
        "next: [bold].venv/bin/leadlake tables[/] | "
        '[bold].venv/bin/leadlake sql "select count(*) from gold.scored_leads"[/] | '
        "[bold].venv/bin/leadlake sandbox serve[/] | "
        f"[bold]AIRFLOW_HOME={s.resolved_airflow_home} .venv/bin/airflow standalone[/] (Airflow UI)",
        highlight=False,
    )


# ----------------------------------------------------------------------------------------------- bench
@app.command()
def bench(
    businesses: int = typer.Option(10000, "--businesses", min=10),
    through: Annotated[Stage, typer.Option("--through")] = Stage.gold,
    out: Path = typer.Option(None, help="Write the figures as JSON here too"),
) -> None:
    """Time a sandbox world of N businesses through bronze -> silver -> gold: seconds, records/s, peak RSS."""
    _quiet_logs()
    with _errors():
        from leadlake.bench import run_bench

        result = run_bench(businesses, through.value, console=console)
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
        _emit(rows, Format.table, title=f"leadlake bench --businesses {businesses}")
        if out:
            out.write_text(json.dumps(result.as_dict(), indent=2))


def main(argv: list[str] | None = None) -> Callable[..., Any]:
    return app(argv)
