"""`leadlake run` and `leadlake demo`: the stage registry end to end, with progress and a summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadlake.cli.common import (
    EXIT_FAILED,
    console,
    err_console,
    errors,
    fail,
    progress,
    quiet_logs,
    settings,
)


def _stage_names() -> list[str]:
    from leadlake.runtime.stages import stage_names

    return stage_names()


def run_stages(resources: Any, through: str, run_id: str) -> list[Any]:
    """Run the registry's stages up to `through` directly (no Airflow) with progress bars."""
    from leadlake.runtime.stages import run_stage
    from leadlake.runtime.stages import through as stages_through

    reports = []
    with progress() as bar:
        for stage in stages_through(through):
            task = bar.add_task(f"{stage.name:<8} {stage.title}", total=None)

            def tick(_: str, task: int = task) -> None:
                bar.advance(task)

            reports.append(run_stage(stage, resources, run_id, progress=tick))
            done = bar.tasks[task].completed or 1
            bar.update(task, total=done, completed=done)
    return reports


def run(
    campaign: Annotated[Path, typer.Option("--campaign", help="Campaign YAML file")],
    through: Annotated[str, typer.Option("--through", help="Last stage to run")] = "delivery",
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9),
) -> None:
    """Run one campaign through the stages (in-process, without Airflow); exits 1 when a stage failed."""
    quiet_logs()
    with errors():
        from leadlake.core.campaign import load_campaign
        from leadlake.runtime.resources import new_run_id, sandboxed

        if through not in _stage_names():
            fail(f"--through {through!r}: expected one of {', '.join(_stage_names())}")
        spec = load_campaign(campaign)
        s = settings()
        with sandboxed(s, fault_rate=fault_rate, campaigns=(spec,)) as res:
            res.lakehouse.check_reachable()
            reports = run_stages(res, through, new_run_id("cli"))
        print_summary(res.lakehouse, reports, started=None)
    exit_for(reports)


def demo(
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9, help="Sandbox fault rate"),
    airflow: bool = typer.Option(True, "--airflow/--no-airflow", help="Run the stages as Airflow DAGs"),
) -> None:
    """The whole pipeline on the sandbox, end to end, in-process; prints what it made."""
    quiet_logs()
    started = time.perf_counter()
    with errors():
        from leadlake.core.campaign import campaign_files, load_campaign
        from leadlake.runtime.resources import new_run_id, sandboxed

        s = settings()
        specs = [load_campaign(p) for p in campaign_files(s.resolved_campaigns_dir)]
        if not specs:
            fail(f"no campaign files in {s.resolved_campaigns_dir} (set LEADLAKE_CAMPAIGNS_DIR)")
        with sandboxed(s, fault_rate=fault_rate, campaigns=tuple(specs)) as res:
            res.lakehouse.check_reachable()
            console.print(
                f"sandbox: [bold]{res.sandbox_url or 'live APIs'}[/]  (fault rate {fault_rate:.0%})"
            )
            if airflow:
                reports = _demo_airflow(res)
            else:
                reports = run_stages(res, "delivery", new_run_id("demo"))
        print_summary(res.lakehouse, reports, started=started)
    exit_for(reports)


def _demo_airflow(resources: Any) -> list[Any]:
    """Run every DAG once with dag.test(), in pipeline order; returns the stage reports they recorded."""
    from leadlake.runtime.airflow import local

    with progress() as bar:
        t = bar.add_task("airflow db migrate + DagBag", total=1)
        local.prepare(resources.settings)
        dags = local.load_dags(resources.settings)
        bar.advance(t)
        run_ids = []
        for dag_id in local.pipeline_dag_ids(dags):
            t = bar.add_task(f"dag {dag_id}", total=1)
            run_ids.append(local.run_dag(dag_id, dags, sandbox_url=resources.sandbox_url))
            bar.advance(t)
    return local.stage_reports(resources.lakehouse, run_ids)


def exit_for(reports: list[Any]) -> None:
    """Exit 1 after the summary when a stage failed or a provider refused us; say what failed."""
    bad = [r for r in reports if not r.ok]
    for r in bad:
        what = r.error or "; ".join(r.failures) or r.status
        err_console.print(f"[bold red]{r.status}:[/] {r.stage}{f' ({r.scope})' if r.scope else ''}: {what}")
    if any(r.status == "failed" or r.failures for r in bad):
        raise typer.Exit(EXIT_FAILED)


def print_summary(lake: Any, reports: list[Any], started: float | None) -> None:
    """Rows per table, duplicates merged, the top 10 leads, where things are and what to try next.

    Laid out for an 80-column terminal: reasons go on their own lines under the top-10 table.
    """
    from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES
    from leadlake.observe.summary import summarize

    s = settings()
    summary = summarize(lake)
    table = Table(title="lakehouse tables")
    for c in ("layer", "table", "version", "rows"):
        table.add_column(c, justify="right" if c in ("version", "rows") else "left")
    for t in summary.tables:
        table.add_row(t.layer, t.name, str(t.version), str(t.rows))
    console.print(table)
    if reports:
        console.print(
            "stage seconds: "
            + ", ".join(f"{r.stage}{f'[{r.scope}]' if r.scope else ''} {r.seconds:.1f}" for r in reports),
            highlight=False,
        )
    delivered = [r for r in reports if r.stage == "delivery" and r.details is not None]
    from leadlake.observe.reports import plain

    for d in (d for r in delivered for d in plain(r.details)):
        console.print(
            f"delivered to {d['destination']}: {d['sent']} sent ({d['created']} created, "
            f"{d['updated']} updated), {d['unchanged']} unchanged, {d['failed']} failed",
            highlight=False,
        )
    if not delivered:
        ledger = next((t.rows for t in summary.tables if t.name == GOLD_CRM_DELIVERIES), 0)
        console.print(f"delivered: {ledger} leads recorded in {GOLD_CRM_DELIVERIES}")
    console.print(f"duplicates merged across providers: [bold]{summary.duplicates_merged}[/]")
    top = Table(title="top 10 leads")
    top.add_column("#", justify="right")
    top.add_column("name", overflow="ellipsis", no_wrap=True, max_width=32)
    top.add_column("city", overflow="ellipsis", no_wrap=True, max_width=18)
    top.add_column("score", justify="right")
    top.add_column("tier")
    top.add_column("src", justify="right")
    for i, r in enumerate(summary.top, 1):
        top.add_row(
            str(i),
            r["name"],
            f"{r['city']}, {r['region']}",
            str(r["lead_score"]),
            r["priority_tier"],
            str(r["source_count"]),
        )
    console.print(top)
    for i, r in enumerate(summary.top, 1):
        reasons = "; ".join(r["score_reasons"] or []) or "-"
        console.print(f"  {i:>2}. {reasons}", highlight=False, overflow="fold")
    if started is not None:
        console.print(f"pipeline finished in {time.perf_counter() - started:.0f} s")
    console.print(f"tables: [bold]{s.lakehouse_root}[/]", highlight=False)
    console.print(f"airflow home: {s.resolved_airflow_home}", highlight=False)
    console.print("next:", highlight=False)
    for line in (
        ".venv/bin/leadlake tables",
        '.venv/bin/leadlake sql "select count(*) from gold.scored_leads"',
        ".venv/bin/leadlake airflow --port 8080   (Airflow UI on the demo's runs)",
    ):
        console.print(f"  {line}", highlight=False, markup=False)
