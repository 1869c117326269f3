"""Airflow DAGs built from the stage registry: one task per stage (per provider when it fans out), every
table a stage writes an Asset, and DAGs scheduled by the Assets their first stage reads.

DAG files in `dags/` stay thin: a docstring, a schedule, tags, and one call here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from leadlake.connectors.registry import connector
from leadlake.core.campaign import CampaignSpec
from leadlake.core.settings import get_settings
from leadlake.runtime.stages import STAGES, Stage, get_stage

DEFAULT_ARGS: dict[str, Any] = {"owner": "leadlake", "retries": 2, "retry_delay": timedelta(minutes=2)}
START = datetime(2026, 1, 1)


def table_asset(name: str) -> Asset:
    """The Asset of a lakehouse table: named like the table, its URI where the table lives."""
    layer, table = name.split(".")
    root = get_settings().lakehouse_root
    uri = root if root.startswith("s3://") else f"file://{root}"
    return Asset(name=name, uri=f"{uri}/{layer}/{table}", group="leadlake")


def stages_of(dag_id: str) -> list[Stage]:
    """The registered stages that run in one DAG, in pipeline order."""
    return [s for s in STAGES if s.dag_id == dag_id]


def upstream_assets(dag_id: str) -> list[Asset]:
    """Assets of the tables this DAG's first stage reads that an earlier DAG's stage writes."""
    first = stages_of(dag_id)[0]
    written_before: set[str] = set()
    for s in STAGES:
        if s.dag_id == dag_id:
            break
        written_before.update(s.writes())
    return [table_asset(t) for t in first.reads() if t in written_before]


def _stage_writes(stage: Stage, provider: str | None) -> list[Asset]:
    """Outlets of one task: a fanned-out provider task writes its own bronze table, the shared ones too."""
    tables = list(stage.writes())
    if provider is not None:
        own = connector(provider).bronze_table
        others = {connector(p).bronze_table for p in _fan_out_names(stage)} - {own}
        tables = [t for t in tables if t not in others]
    return [table_asset(t) for t in tables]


def _fan_out_names(stage: Stage, campaign: CampaignSpec | None = None) -> list[str]:
    from leadlake.runtime.stages import providers_for

    return providers_for(stage, campaign)


def run_task(stage_name: str, only: str | None = None, campaign_file: str | None = None) -> dict[str, Any]:
    """What every leadlake task runs: build resources, run one stage, fail the task when the stage failed."""
    from leadlake.core.campaign import load_campaign
    from leadlake.observe.reports import plain
    from leadlake.runtime.resources import Resources
    from leadlake.runtime.stages import run_stage

    ctx = get_current_context()
    conf = (getattr(ctx.get("dag_run"), "conf", None) or {}) if ctx else {}
    settings = get_settings()
    url = conf.get("sandbox_url") or settings.sandbox_url
    res = Resources.for_sandbox(url, settings) if url else Resources.live(settings)
    if campaign_file:
        res = res.with_campaigns([load_campaign(campaign_file)])
    report = run_stage(get_stage(stage_name), res, ctx["run_id"], only=only)
    if report.status == "failed":
        raise RuntimeError(f"{stage_name}{f' ({only})' if only else ''} failed: {'; '.join(report.failures)}")
    return {"status": report.status, "rows_out": report.rows_out, "failures": plain(report.failures)}


def _add_stage_tasks(stage: Stage, campaign: CampaignSpec | None, campaign_file: str | None) -> list[Any]:
    """Declare the task(s) of one stage inside the DAG being built; returns them."""
    timeout = timedelta(hours=3 if stage.spark else 2)
    names = _fan_out_names(stage, campaign) if stage.fan_out else [None]
    tasks = []
    for provider in names:
        task_id = f"{stage.name}_{provider}" if provider else stage.name
        pool = connector(provider).pool if provider else None
        fn = task(
            task_id=task_id,
            pool=pool or "default_pool",
            outlets=_stage_writes(stage, provider),
            inlets=[table_asset(t) for t in stage.reads()],
            execution_timeout=timeout,
            doc_md=f"{stage.name}: {stage.title}" + (f" ({provider})" if provider else ""),
        )(run_task)
        tasks.append(fn(stage.name, provider, campaign_file))
    return tasks


def stage_dag(
    dag_id: str,
    *,
    doc_md: str,
    tags: list[str],
    schedule: Any = "assets",
    campaign: CampaignSpec | None = None,
    campaign_file: str | None = None,
    description: str | None = None,
) -> DAG:
    """A DAG running the registry's stages of `dag_id` in order; "assets" waits on upstream tables."""
    stages = stages_of(dag_id)
    if not stages:
        raise KeyError(f"no stage runs in DAG {dag_id!r}")
    if schedule == "assets":
        assets = upstream_assets(dag_id)
        schedule = None
        for a in assets:
            schedule = a if schedule is None else schedule | a
    full_id = f"{dag_id}__{campaign.campaign_id}" if campaign else dag_id
    with DAG(
        dag_id=full_id,
        description=description,
        doc_md=doc_md,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["leadlake", *tags],
    ) as dag:
        previous: list[Any] = []
        for stage in stages:
            current = _add_stage_tasks(stage, campaign, campaign_file)
            for p in previous:
                p >> current
            previous = current
    return dag
