"""`leadlake run` and `leadlake demo`: the stage registry end to end, with progress and a summary."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadlake.cli.common import (
    EXIT_FAILED,
    console,
    errors,
    fail,
    progress,
    quiet_logs,
    reclaim_logs,
    say_error,
    settings,
)

log = logging.getLogger("leadlake.cli.run")


def _stage_names() -> list[str]:
    from leadlake.runtime.stages import stage_names

    return stage_names()


def run_stages(resources: Any, through: str, run_id: str) -> list[Any]:
    """Run the registry's stages up to `through` directly (no Airflow) with progress bars.

    A stage that raises a user-fixable error (a setting, a budget, a key) stops the command with one line;
    any other exception is a failed stage: it is recorded, later stages (which read its tables) are
    skipped, and its report says what went wrong, so the summary still prints before the exit code 1.
    """
    from leadlake.cli.common import user_error
    from leadlake.observe.reports import failed_report, now
    from leadlake.runtime.stages import run_stage
    from leadlake.runtime.stages import through as stages_through

    reports = []
    with progress() as bar:
        for stage in stages_through(through):
            task = bar.add_task(f"{stage.name:<8} {stage.title}", total=None)

            def tick(_: str, task: int = task) -> None:
                bar.advance(task)

            started, t0 = now(), time.perf_counter()
            try:
                reports.append(run_stage(stage, resources, run_id, progress=tick))
            except Exception as exc:
                if user_error(exc):
                    raise
                report = failed_report(stage.name, run_id, started, time.perf_counter() - t0, exc)
                kept = _keep_traceback(run_id, stage.name, exc)
                report.error = f"{report.error} (traceback: {kept})" if kept else report.error
                reports.append(report)
                break
            finally:
                done = bar.tasks[task].completed or 1
                bar.update(task, total=done, completed=done)
    return reports


def _keep_traceback(run_id: str, stage: str, exc: BaseException) -> Path | None:
    """Write a crashed stage's traceback (masked) under the state dir; its path, or None if unwritable."""
    import traceback

    from leadlake.observe.logs import mask_text

    path = settings().resolved_state_dir / "logs" / f"{run_id}.{stage}.traceback.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mask_text("".join(traceback.format_exception(exc))))
    except OSError:
        log.error("stage %s failed", stage, exc_info=exc)
        return None
    return path


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
            dag_failure = None
            if airflow:
                reports, dag_failure = _demo_airflow(res)
                reclaim_logs()
            else:
                reports = run_stages(res, "delivery", new_run_id("demo"))
            loop = None
            if res.sandbox_url and not dag_failure and all(r.ok for r in reports):
                loop = learning_loop(res, new_run_id("demo-loop"), reports)
        print_summary(res.lakehouse, reports, started=started)
        if loop:
            for line in loop:
                console.print(line, highlight=False, markup=False)
    if dag_failure:
        say_error(dag_failure, label="failed")
        raise typer.Exit(EXIT_FAILED)
    exit_for(reports)


LOOP_DAYS = 120  # simulated days of sales activity before the demo pulls CRM outcomes and trains


def learning_loop(resources: Any, run_id: str, reports: list[Any]) -> list[str]:
    """The demo's learning loop on the sandbox: a first model from the sandbox CRM's export of past leads
    (`leadlake train --labels`), simulated CRM days, then the registered stages feedback, train and gold
    (which scores with the champion).

    Appends the stage reports it ran to `reports`; returns the lines comparing each model with the rules
    on the same held-out rows.
    """
    import httpx

    from leadlake.runtime.resources import new_run_id
    from leadlake.runtime.sandbox_history import HISTORY_SEED_OFFSET, write_history
    from leadlake.runtime.stages import get_stage, run_stage
    from leadlake.stages.gold.train import TrainingDataError

    s = resources.settings
    with progress() as bar:
        t = bar.add_task(
            f"loop     past leads, {LOOP_DAYS} simulated CRM days, feedback, train, score", total=5
        )
        history = write_history(
            s.resolved_state_dir / "sandbox_history.csv", seed=s.sandbox_seed + HISTORY_SEED_OFFSET
        )
        # A run of its own: ops.model_runs keeps one row per training run, keyed by run id.
        options = {"labels_csv": str(history.path)}
        first = run_stage(get_stage("train"), resources, new_run_id("demo-history"), options=options)
        reports.append(first)
        lines = bootstrap_lines(first.details, history.path)
        bar.advance(t)
        httpx.post(f"{resources.sandbox_url}/_sandbox/crm/advance", json={"days": LOOP_DAYS}, timeout=60)
        bar.advance(t)
        reports.append(run_stage(get_stage("feedback"), resources, run_id))
        bar.advance(t)
        try:
            trained = run_stage(get_stage("train"), resources, run_id)
        except TrainingDataError as exc:
            return [*lines, f"learning loop: not trained ({exc})"]
        reports.append(trained)
        bar.advance(t)
        r = trained.details
        if not r.trained:
            return [*lines, f"learning loop: not trained ({r.reason})"]
        gold = run_stage(get_stage("gold"), resources, run_id)
        reports.append(gold)
        bar.advance(t)
    return [*lines, *loop_lines(r, gold.details)]


def stage_seconds(reports: list[Any]) -> dict[str, float]:
    """Seconds per stage and scope ("bronze[yelp]"), summed over the run's reports (one per campaign or
    DAG that ran it), in the order each first ran."""
    out: dict[str, float] = {}
    for r in reports:
        name = f"{r.stage}[{r.scope}]" if r.scope else r.stage
        out[name] = out.get(name, 0.0) + r.seconds
    return out


def _metric_row(name: str, x: dict[str, float], top_n: int, held_out: int) -> str:
    # Fewer held-out rows than N: precision is over all of them, and the label says so.
    return (
        f"  {name:<16} auc {x['auc']:.3f}  pr_auc {x['pr_auc']:.3f}  "
        f"p@top{min(top_n, held_out)} {x['precision_at_top_n']:.3f}  brier {x['brier']:.3f}"
    )


def bootstrap_lines(r: Any, path: Path) -> list[str]:
    """The first model, trained on the sandbox CRM's export of past leads, beside the rules (same rows)."""
    if not r.trained:
        return [f"past leads: not trained ({r.reason})"]
    lines = [
        f"past leads: {r.labelled:,} from the sandbox CRM's export ({path}), {r.positives:,} qualified or "
        f"won; newest {r.n_holdout:,} held out",
        _metric_row(f"model v{r.version}", r.metrics, r.top_n, r.n_holdout),
    ]
    if r.rules_metrics:
        lines.append(_metric_row("rules baseline", r.rules_metrics, r.top_n, r.n_holdout))
    lines.append(f"  {r.decision} (v{r.version}): champion v{r.champion_version}")
    return lines


def loop_lines(r: Any, gold: Any) -> list[str]:
    """The champion's held-out metrics beside the rules' (same rows), the decision, and what gold scored."""
    lines = [
        f"learning loop: {LOOP_DAYS} simulated days, {r.labelled} labelled leads ({r.positives} {r.label}), "
        f"newest {r.n_holdout} held out",
        _metric_row(f"champion v{r.champion_version}", r.champion_now, r.top_n, r.n_holdout),
    ]
    if not r.promoted:
        lines.append(_metric_row(f"challenger v{r.version}", r.metrics, r.top_n, r.n_holdout))
    if r.rules_metrics:
        lines.append(_metric_row("rules baseline", r.rules_metrics, r.top_n, r.n_holdout))
    scored_by = getattr(gold, "model_version", None) or "the rules"
    lines.append(f"  {r.decision} (v{r.version}): gold.scored_leads now scored by {scored_by}")
    return lines


def _demo_airflow(resources: Any) -> tuple[list[Any], str | None]:
    """Run every DAG once with dag.test(), in pipeline order.

    Returns the stage reports the runs recorded and, when a DAG run failed, why (later DAGs, which read
    its tables, are not run); the caller prints the summary before exiting 1.
    """
    from leadlake.runtime.airflow import local

    failure = None
    with progress() as bar:
        t = bar.add_task("airflow db migrate + DagBag", total=1)
        local.prepare(resources.settings)
        dags = local.load_dags(resources.settings)
        bar.advance(t)
        run_ids = []
        for dag_id in local.pipeline_dag_ids(dags):
            t = bar.add_task(f"dag {dag_id}", total=1)
            try:
                run_ids.append(local.run_dag(dag_id, dags, sandbox_url=resources.sandbox_url))
            except local.DagRunFailed as exc:
                failure = str(exc).strip().splitlines()[0] if str(exc).strip() else f"DAG {dag_id} failed"
                break
            bar.advance(t)
    return local.stage_reports(resources.lakehouse, run_ids), failure


def exit_for(reports: list[Any]) -> None:
    """Exit 1 after the summary when a stage failed or a provider refused us; say what failed.

    One line per stage that did not succeed, naming the stage and each failure (a refusing provider is
    named in its failure); a partial success exits 1 too, as something the user asked for is missing.
    """
    bad = [r for r in reports if not r.ok]
    for r in bad:
        what = r.error or "; ".join(r.failures) or r.status
        say_error(f"{r.stage}{f' ({r.scope})' if r.scope else ''}: {what}", label=r.status)
    if any(r.status == "failed" or r.failures for r in bad):
        raise typer.Exit(EXIT_FAILED)


def print_summary(lake: Any, reports: list[Any], started: float | None) -> None:
    """Rows per table, duplicates merged, the top 10 leads, where things are and what to try next.

    Laid out for an 80-column terminal: the top-10 table keeps one line per lead (long names and cities
    are cut with an ellipsis) and the score reasons follow on their own, wrapped, numbered lines. Sections
    about tables a run did not reach (a `run --through bronze` has no silver or gold) are left out.
    """
    from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS, SILVER_LEADS
    from leadlake.observe.reports import plain
    from leadlake.observe.summary import summarize

    s = settings()
    summary = summarize(lake)
    present = {t.name for t in summary.tables if getattr(t, "error", None) is None}
    table = Table(title="lakehouse tables")
    for c in ("layer", "table", "version", "rows"):
        table.add_column(c, justify="right" if c in ("version", "rows") else "left")
    for t in summary.tables:
        unreadable = getattr(t, "error", None) is not None
        table.add_row(
            t.layer,
            t.name,
            "-" if t.version is None else str(t.version),
            "unreadable" if unreadable else str(t.rows),
        )
    console.print(table)
    if reports:
        console.print(
            "stage seconds: "
            + ", ".join(f"{name} {sec:.1f}" for name, sec in stage_seconds(reports).items()),
            highlight=False,
            markup=False,  # "[yelp]" is a scope, not a rich style
        )
    delivered = [r for r in reports if r.stage == "delivery" and r.details is not None]
    for d in (d for r in delivered for d in plain(r.details)):
        console.print(
            f"delivered to {d['destination']}: {d['sent']} sent ({d['created']} created, "
            f"{d['updated']} updated), {d['unchanged']} unchanged, {d['failed']} failed",
            highlight=False,
        )
    if not delivered and GOLD_CRM_DELIVERIES in present:
        ledger = next(t.rows for t in summary.tables if t.name == GOLD_CRM_DELIVERIES)
        console.print(f"delivered: {ledger} leads recorded in {GOLD_CRM_DELIVERIES}", highlight=False)
    if SILVER_LEADS in present:
        console.print(f"duplicates merged across providers: [bold]{summary.duplicates_merged}[/]")
    for r in (r for r in reports if r.stage == "silver" and r.details is not None):
        d = plain(r.details)
        if d.get("resolution"):
            console.print(
                f"lead ids ({d['resolution']}, {d['new_records']} records resolved): {d['leads_minted']} "
                f"minted, {d['leads_merged']} merged, {d['leads_split']} split",
                highlight=False,
            )
    if GOLD_SCORED_LEADS in present:
        _print_scoring(summary)
        _print_top(summary.top)
    if started is not None:
        console.print(f"pipeline finished in {time.perf_counter() - started:.0f} s")
    # Paths and commands stay whole on one line (soft_wrap): a path or command wrapped at 80 columns is broken
    # when copied or read by a shell tool.
    console.print(f"tables: [bold]{s.lakehouse_root}[/]", highlight=False, soft_wrap=True)
    console.print(f"airflow home: {s.resolved_airflow_home}", highlight=False, soft_wrap=True)
    _print_next(GOLD_SCORED_LEADS in present)


def _print_scoring(summary: Any) -> None:
    """Which model scores gold now and, for a champion, the features that drifted from its training data."""
    if summary.scored_by:
        shown = ", ".join(f"{v} ({n} leads)" for v, n in sorted(summary.scored_by.items()))
        console.print(f"scored by: {shown}", highlight=False, markup=False)
    d = summary.drift
    if d is None:
        return
    if d.flagged:
        shown = ", ".join(f"{f} {p:.2f}" for f, p in d.flagged)
        console.print(
            f"drift flagged (PSI > {d.threshold:g} vs champion v{d.champion_version}'s training data): "
            + shown,
            highlight=False,
            markup=False,
        )
    else:
        worst = max(d.features, key=lambda x: x[1], default=None)
        most = f"; highest {worst[0]} {worst[1]:.2f}" if worst else ""
        console.print(
            f"drift: no feature over PSI {d.threshold:g} vs champion v{d.champion_version}'s training data"
            f"{most}",
            highlight=False,
            markup=False,
        )


def _print_top(top: list[dict[str, Any]]) -> None:
    """The top leads, one table line each, then each lead's score reasons on their own wrapped lines."""
    import textwrap

    if not top:
        console.print("top 10 leads: none scored yet", highlight=False)
        return
    table = Table(title=f"top {len(top)} leads")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name", overflow="ellipsis", no_wrap=True, max_width=32)
    table.add_column("city", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("tier", no_wrap=True)
    table.add_column("src", justify="right", no_wrap=True)
    for i, r in enumerate(top, 1):
        place = ", ".join(str(p) for p in (r.get("city"), r.get("region")) if p)
        table.add_row(
            str(i),
            str(r["name"]),
            place,
            str(r["lead_score"]),
            str(r["priority_tier"]),
            str(r["source_count"]),
        )
    console.print(table)
    console.print("why they score high:", highlight=False)
    width = max(console.width, 40)
    for i, r in enumerate(top, 1):
        reasons = "; ".join(r.get("score_reasons") or []) or "-"
        text = textwrap.fill(
            reasons,
            width=width,
            initial_indent=f"  {i:>2}. ",
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
        )
        console.print(text, highlight=False, markup=False, soft_wrap=True)


def _mlflow_ui(exe: str) -> list[str]:
    """The MLflow UI command on this project's runs and registry, once a local registry exists."""
    from leadlake.ml.registry import registry_exists

    uri = settings().tracking_uri
    if not uri.startswith("sqlite:") or not registry_exists(uri):
        return []
    mlflow = str(Path(exe).with_name("mlflow")) if os.sep in exe else "mlflow"
    cmd = f"{mlflow} ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000 --workers 1"
    return [f"{cmd}   (MLflow UI: the runs and the model registry)"]


def _print_next(has_gold: bool) -> None:
    """Commands to try next, spelled the way this command was started."""
    import sys

    import click

    exe = sys.argv[0] if Path(sys.argv[0]).name == "leadlake" else "leadlake"
    if os.path.isabs(exe):
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") and len(rel) < len(exe) else exe
    ctx = click.get_current_context(silent=True)
    commands = set(getattr(ctx.find_root().command, "commands", {})) if ctx else set()
    lines = [f"{exe} tables"]
    if has_gold:
        lines.append(f'{exe} sql "select count(*) from gold.scored_leads"')
    if "airflow" in commands:
        lines.append(f"{exe} airflow --port 8080   (Airflow UI on the demo's runs)")
    lines += _mlflow_ui(exe)
    console.print("next:", highlight=False)
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
