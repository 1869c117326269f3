"""Run the leadlake DAGs in-process with Airflow 3 (`airflow db migrate`, then `dag.test()`)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from leadlake.core.settings import PROJECT_ROOT, Settings

log = logging.getLogger("leadlake.runtime.airflow.local")

DAGS_FOLDER = PROJECT_ROOT / "dags"


class DagRunFailed(RuntimeError):
    """A DAG run that did not succeed; the message names the DAG, the failed task and where its log is."""


def pools() -> dict[str, int]:
    """One Airflow pool per connector, sized by its spec."""
    from leadlake.connectors.registry import connectors

    return {spec.pool: spec.pool_slots for spec in connectors()}


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment that points Airflow at the project's DAGs and a local sqlite metadata DB."""
    home = settings.resolved_airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"
        ),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }


def prepare(settings: Settings) -> Path:
    """Export the Airflow environment, migrate its metadata DB when needed and create the provider pools."""
    env = airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    marker = home / ".migrated"
    if not marker.exists():
        airflow = Path(sys.executable).with_name("airflow")
        done = subprocess.run(
            [str(airflow), "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise RuntimeError(f"airflow db migrate failed in {home}: {' '.join(tail)}")
        marker.touch()
    _ensure_pools()
    return home


def _ensure_pools() -> None:
    from airflow.models.pool import Pool

    for name, slots in pools().items():
        Pool.create_or_update_pool(
            name, slots=slots, description="leadlake provider concurrency", include_deferred=False
        )


def load_dags(settings: Settings | None = None) -> dict:
    """Import every DAG file; raise with the file and error when one does not import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False)
    if bag.import_errors:
        path, err = next(iter(bag.import_errors.items()))
        raise DagRunFailed(f"DAG import error in {path}: {err.strip().splitlines()[-1]}")
    return bag.dags


def pipeline_dag_ids(dags: dict) -> list[str]:
    """The project's DAG ids in pipeline order: each stage's DAG, the ingest DAG once per campaign."""
    from leadlake.runtime.stages import dag_ids

    ordered: list[str] = []
    for dag_id in dag_ids():
        ordered += sorted(d for d in dags if d == dag_id or d.startswith(f"{dag_id}__"))
    return ordered


def run_dag(dag_id: str, dags: dict, sandbox_url: str | None = None) -> str:
    """Run one DAG to completion in this process; returns its run id, or raises DagRunFailed."""
    if dag_id not in dags:
        raise DagRunFailed(f"no DAG '{dag_id}' in {DAGS_FOLDER}; known: {', '.join(sorted(dags))}")
    conf = {"sandbox_url": sandbox_url} if sandbox_url else None
    run = dags[dag_id].test(run_conf=conf)
    state = str(getattr(run.state, "value", run.state))
    if state != "success":
        raise DagRunFailed(_failure_message(dag_id, run))
    return run.run_id


def _failure_message(dag_id: str, run: object) -> str:
    """'DAG x failed at task y (log: path)' from the run's task instances."""
    home = Path(os.environ.get("AIRFLOW_HOME", "."))
    failed = []
    try:
        for ti in run.get_task_instances():  # type: ignore[attr-defined]
            if str(getattr(ti.state, "value", ti.state)) in ("failed", "upstream_failed"):
                failed.append(ti.task_id)
    except Exception:  # noqa: BLE001 - the message is best effort; the state is what matters
        pass
    task = failed[0] if failed else "?"
    log_dir = home / "logs" / f"dag_id={dag_id}" / f"run_id={getattr(run, 'run_id', '?')}" / f"task_id={task}"
    return f"DAG {dag_id} failed at task {task} (log: {log_dir})"


def stage_reports(lake: object, run_ids: list[str]) -> list:
    """The stage reports the DAG runs recorded in ops.stage_runs, in run order."""
    from leadlake.lakehouse.catalog import OPS_STAGE_RUNS
    from leadlake.observe.reports import StageReport

    if not run_ids or not lake.exists(OPS_STAGE_RUNS):  # type: ignore[attr-defined]
        return []
    rows = lake.read(OPS_STAGE_RUNS).to_pylist()  # type: ignore[attr-defined]
    order = {r: i for i, r in enumerate(run_ids)}
    mine = sorted(
        (r for r in rows if r["run_id"] in order), key=lambda r: (order[r["run_id"]], r["started_at"])
    )
    return [
        StageReport(
            stage=r["stage"],
            run_id=r["run_id"],
            status=r["status"],
            started_at=r["started_at"],
            seconds=r["seconds"],
            rows_in=r["rows_in"],
            rows_out=r["rows_out"],
            rows_quarantined=r["rows_quarantined"],
            failures=list(r["failures"] or []),
            error=r["error"],
            scope=r["scope"],
            details=json.loads(r["details_json"]) if r["details_json"] else None,
        )
        for r in mine
    ]
