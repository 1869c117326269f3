"""An Airflow home prepared by leadlake: what any `airflow` command sees in it, and assets that follow the
lakehouse when one AIRFLOW_HOME is shared by several lakehouses.

Airflow reads AIRFLOW_HOME once per process, so everything that touches a home runs in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

PREPARE = """
import json, sys
from leadlake.core.settings import get_settings
from leadlake.runtime.airflow import local
s = get_settings()
local.prepare(s)
dags = local.load_dags(s)
ran = None
if sys.argv[1:] == ["ingest"]:
    from leadlake.sandbox import SandboxServer
    with SandboxServer(seed=42, businesses=60) as sandbox:
        dag_id = next(d for d in local.pipeline_dag_ids(dags) if d.startswith("leadlake_ingest__"))
        ran = local.run_dag(dag_id, dags, sandbox_url=sandbox.url)
from airflow.models.asset import AssetActive
from airflow.utils.session import create_session
from sqlalchemy import select
with create_session() as session:
    active = sorted(tuple(r) for r in session.execute(select(AssetActive.name, AssetActive.uri)).all())
print(json.dumps({"dags": sorted(dags), "active": active, "ran": ran}))
"""


def _env(tmp_path: Path, lake: str, home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADLAKE_", "AIRFLOW"))}
    return base | {
        "AIRFLOW_HOME": str(home),
        "LEADLAKE_LAKEHOUSE_URI": str(tmp_path / lake),
        "LEADLAKE_STATE_DIR": str(tmp_path / "state"),
    }


def _prepare(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PREPARE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _airflow(home: Path, *args: str) -> str:
    """An `airflow` command as a user runs it: only AIRFLOW_HOME set, nothing from leadlake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADLAKE_", "AIRFLOW"))}
    done = subprocess.run(
        [AIRFLOW, *args], env=env | {"AIRFLOW_HOME": str(home)}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_any_airflow_command_in_the_home_sees_the_project(tmp_path: Path) -> None:
    from leadlake.runtime.airflow.local import pools

    home = tmp_path / "home"
    first = _prepare(_env(tmp_path, "lake", home))
    assert all(d.startswith("leadlake_") for d in first["dags"]) and len(first["dags"]) >= 4
    assert _airflow(home, "config", "get-value", "core", "dags_folder").strip() == str(ROOT / "dags")
    assert _airflow(home, "config", "get-value", "core", "load_examples").strip() == "False"
    assert _airflow(home, "config", "get-value", "database", "sql_alchemy_conn").strip() == (
        f"sqlite:///{home / 'airflow.db'}"
    )
    assert _airflow(home, "config", "get-value", "core", "execution_api_server_url").strip() == (
        "http://127.0.0.1:8080/execution/"
    )
    listed = json.loads(_airflow(home, "dags", "list", "-o", "json").strip().splitlines()[-1])
    assert sorted(d["dag_id"] for d in listed) == first["dags"]  # the project's DAGs, no examples
    errors = json.loads(_airflow(home, "dags", "list-import-errors", "-o", "json").strip().splitlines()[-1])
    assert errors == []
    got = json.loads(_airflow(home, "pools", "list", "-o", "json").strip().splitlines()[-1])
    assert {p["pool"]: int(p["slots"]) for p in got if p["pool"] != "default_pool"} == pools()


def test_assets_follow_the_lakehouse_in_a_shared_home(tmp_path: Path) -> None:
    """Two lakehouses, one AIRFLOW_HOME: the second one's assets are the active ones and its ingest DAG
    runs (it failed with AirflowInactiveAssetInInletOrOutletException for bronze.places_raw)."""
    home = tmp_path / "shared-home"
    a = _prepare(_env(tmp_path, "lake-a", home))
    uri_a = (tmp_path / "lake-a").as_uri()
    assert a["active"] and all(uri.startswith(uri_a + "/") for _, uri in a["active"])
    b = _prepare(_env(tmp_path, "lake-b", home), "ingest")
    uri_b = (tmp_path / "lake-b").as_uri()
    assert b["ran"], b
    assert {n for n, _ in b["active"]} == {n for n, _ in a["active"]}
    assert all(uri.startswith(uri_b + "/") for _, uri in b["active"]), b["active"]
    assert (tmp_path / "lake-b" / "bronze").is_dir()
    # and back again: the first lakehouse's assets are re-activated
    again = _prepare(_env(tmp_path, "lake-a", home))
    assert sorted(again["active"]) == sorted(a["active"])
