"""Airflow DAGs built from the stage registry: one task per stage (per provider when it fans out), every
table a stage writes an Asset outlet, and DAGs scheduled by the Assets the previous DAG writes.

DAG files in `dags/` stay thin: a docstring, a schedule, tags, and one call here. Importing this module
(what the DAG processor does for every file) stays cheap: no Spark, pandas or Delta until a task runs.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from leadlake.connectors.registry import connector
from leadlake.core.campaign import CampaignSpec
from leadlake.core.settings import Settings, get_settings
from leadlake.runtime.stages import STAGES, Stage, get_stage, providers_for

DEFAULT_ARGS: dict[str, Any] = {"owner": "leadlake", "retries": 2, "retry_delay": timedelta(minutes=2)}
START = datetime(2026, 1, 1)
ASSET_GROUP = "leadlake"


def airflow_settings() -> Settings:
    """The settings a DAG or task of this Airflow home runs with.

    LEADLAKE_LAKEHOUSE_URI (environment or .env) wins; without it, the lakehouse the home's airflow.cfg
    names in its `[leadlake]` section (written by `prepare()`), so a bare `airflow` command run with
    AIRFLOW_HOME=<home> works on the lakehouse that home describes.
    """
    s = get_settings()
    if "lakehouse_uri" in s.model_fields_set:
        return s
    from leadlake.runtime.airflow.local import LEADLAKE_SECTION, read_config

    home = os.environ.get("AIRFLOW_HOME")
    uri = read_config(Path(home)).get(LEADLAKE_SECTION, {}).get("lakehouse_uri") if home else None
    return s.model_copy(update={"lakehouse_uri": uri}) if uri else s


def table_asset(name: str, settings: Settings | None = None) -> Asset:
    """The Asset of a lakehouse table: named like the table, its URI where the table lives."""
    layer, table = name.split(".")
    root = (settings or airflow_settings()).lakehouse_root
    uri = root if root.startswith("s3://") else Path(root).as_uri()
    return Asset(name=name, uri=f"{uri}/{layer}/{table}", group=ASSET_GROUP)


def stages_of(dag_id: str) -> list[Stage]:
    """The registered stages that run in one DAG, in pipeline order."""
    return [s for s in STAGES if s.dag_id == dag_id]


def upstream_assets(dag_id: str) -> list[Asset]:
    """Assets of the tables this DAG's first stage reads that the DAG just before it writes.

    Silver waits on the discovery bronze tables, gold on silver.leads: a DAG is not woken by a table two
    DAGs up (gold must not run on an ingest before silver has resolved it).
    """
    order = list(dict.fromkeys(s.dag_id for s in STAGES))
    at = order.index(dag_id)
    if at == 0:
        return []
    written = {t for s in stages_of(order[at - 1]) for t in s.writes()}
    return [table_asset(t) for t in stages_of(dag_id)[0].reads() if t in written]


def task_tables(stage: Stage, provider: str | None) -> list[str]:
    """Tables one task writes: a fanned-out provider task writes its own bronze table and the shared ones."""
    tables = list(stage.writes())
    if provider is not None and stage.fan_out is not None:
        own = connector(provider).bronze_table
        others = {connector(p).bronze_table for p in providers_for(stage)} - {own, None}
        tables = [t for t in tables if t not in others]
    return tables


def run_task(stage_name: str, only: str | None = None, campaign_file: str | None = None) -> dict[str, Any]:
    """What every leadlake task runs: build resources, run one stage, fail the task when the stage failed.

    The sandbox is used when the DAG run's conf has `sandbox_url` or LEADLAKE_SANDBOX_URL is set; else the
    live keys (environment, .env or the Airflow connection `leadlake_<provider>`).
    """
    from leadlake.core.campaign import load_campaign
    from leadlake.observe.reports import plain
    from leadlake.runtime.airflow.tasklog import task_log
    from leadlake.runtime.resources import Resources
    from leadlake.runtime.stages import run_stage

    ctx = get_current_context()
    dag_run = ctx.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    settings = airflow_settings()
    url = conf.get("sandbox_url") or settings.sandbox_url
    scope = f"{stage_name}{f' ({only})' if only else ''}"
    with task_log(ctx) as tlog:
        tlog.write(f"{scope}: lakehouse {settings.lakehouse_root}, {url or 'live APIs'}")
        try:
            res = Resources.for_sandbox(url, settings) if url else Resources.live(settings)
            if campaign_file:
                res = res.with_campaigns([load_campaign(campaign_file)])
            report = run_stage(get_stage(stage_name), res, ctx["run_id"], only=only)
        except Exception as exc:
            tlog.exception(exc)
            raise
        summary = {"status": report.status, "rows_out": report.rows_out, "failures": plain(report.failures)}
        tlog.write(f"{scope}: {report.status}, {report.rows_out} rows out", **summary)
        if report.status == "failed":
            err = RuntimeError(f"{scope} failed: {'; '.join(report.failures) or report.error or 'no detail'}")
            tlog.exception(err)
            raise err
    return summary


def _add_stage_tasks(stage: Stage, campaign: CampaignSpec | None, campaign_file: str | None) -> list[Any]:
    """Declare the task(s) of one stage inside the DAG being built; returns them."""
    timeout = timedelta(hours=3 if stage.spark else 2)
    names: list[str | None] = list(providers_for(stage, campaign)) if stage.fan_out else [None]
    inlets = [table_asset(t) for t in stage.reads()]
    tasks = []
    for provider in names:
        task_id = f"{stage.name}_{provider}" if provider else stage.name
        fn = task(
            task_id=task_id,
            pool=connector(provider).pool if provider else "default_pool",
            outlets=[table_asset(t) for t in task_tables(stage, provider)],
            inlets=inlets,
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
        schedule = None
        for a in upstream_assets(dag_id):
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
