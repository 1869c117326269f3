"""Run the leadlake DAGs in-process with Airflow 3 (`airflow db migrate`, then `dag.test()`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from leadlake.settings import PROJECT_ROOT, Settings

log = logging.getLogger("leadlake.orchestrate")

DAGS_FOLDER = PROJECT_ROOT / "dags"
POOLS = {
    "leadlake_google_places": 4,
    "leadlake_yelp": 4,
    "leadlake_hubspot": 1,
    "leadlake_pdl": 1,
    "leadlake_hunter": 1,
    "leadlake_opencorporates": 1,
}


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

    for name, slots in POOLS.items():
        Pool.create_or_update_pool(
            name, slots=slots, description="leadlake provider concurrency", include_deferred=False
        )


def load_dags() -> dict:
    """Import every DAG file; raise with the file and error when one does not import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        path, err = next(iter(bag.import_errors.items()))
        raise RuntimeError(f"DAG import error in {path}: {err.strip().splitlines()[-1]}")
    return bag.dags


def run_dag(dag_id: str, dags: dict | None = None) -> str:
    """Run one DAG to completion in this process; returns the run's final state."""
    dags = dags if dags is not None else load_dags()
    if dag_id not in dags:
        raise KeyError(f"no DAG '{dag_id}' in {DAGS_FOLDER}; known: {', '.join(sorted(dags))}")
    run = dags[dag_id].test()
    state = str(getattr(run.state, "value", run.state))
    if state != "success":
        raise RuntimeError(f"DAG {dag_id} ended in state '{state}' (see the task log above)")
    return state
