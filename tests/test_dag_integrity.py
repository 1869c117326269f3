"""DagBag integrity: every DAG imports cleanly, is tagged, retries, does no catch-up, and covers the stage
registry: every stage is a task, every table a stage writes is an outlet Asset, every provider task runs in
its provider's pool. DAG files stay cheap to import (no Spark, no pandas)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
# Not to be imported by a DAG file: the DAG processor imports every file every 30 s. (deltalake and pyarrow
# come in through the stage registry's resources and are cheap enough; the engines and ML are not.)
HEAVY = ("pyspark", "splink", "duckdb", "great_expectations", "mlflow", "xgboost", "pandas", "sklearn")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The project's DAGs parsed as Airflow's DAG processor parses them (a scratch AIRFLOW_HOME)."""
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        mp.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS))


def _campaigns() -> list:
    from leadlake.core.campaign import campaign_files, load_campaign
    from leadlake.core.settings import get_settings

    return [load_campaign(p) for p in campaign_files(get_settings().resolved_campaigns_dir)]


def _dags_of(dagbag, stage) -> list:
    return [d for i, d in dagbag.dags.items() if i == stage.dag_id or i.startswith(f"{stage.dag_id}__")]


def test_no_import_errors_and_only_project_dags(dagbag) -> None:
    assert dagbag.import_errors == {}
    expected = {f"leadlake_ingest__{c.campaign_id}" for c in _campaigns()}
    expected |= {
        "leadlake_silver",
        "leadlake_gold",
        "leadlake_delivery",
        "leadlake_feedback",
        "leadlake_train",
    }
    assert set(dagbag.dags) == expected  # no example DAGs, nothing else


def test_tags_retries_catchup_docs(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert "leadlake" in dag.tags and len(dag.tags) >= 2, dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        assert dag.doc_md and len(dag.doc_md) > 40, dag_id
        assert dag.tasks, dag_id
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag_id}.{t.task_id} retries={t.retries}"
            assert t.execution_timeout is not None, f"{dag_id}.{t.task_id}"


def test_every_stage_is_a_task(dagbag) -> None:
    from leadlake.runtime.stages import STAGES

    for stage in STAGES:
        dags = _dags_of(dagbag, stage)
        assert dags, f"no DAG for stage {stage.name} ({stage.dag_id})"
        for dag in dags:
            ids = {t.task_id for t in dag.tasks}
            assert stage.name in ids or any(i.startswith(f"{stage.name}_") for i in ids), (dag.dag_id, ids)


def test_every_fanned_out_task_has_its_provider_pool(dagbag) -> None:
    from leadlake.connectors.registry import connector, connectors
    from leadlake.runtime.airflow.local import pools
    from leadlake.runtime.stages import STAGES, providers_for

    assert pools() == {s.pool: s.pool_slots for s in connectors()}
    by_campaign = {f"leadlake_ingest__{c.campaign_id}": c for c in _campaigns()}
    for stage in (s for s in STAGES if s.fan_out):
        for dag in _dags_of(dagbag, stage):
            providers = providers_for(stage, by_campaign.get(dag.dag_id))
            assert providers, (stage.name, dag.dag_id)
            tasks = {t.task_id: t for t in dag.tasks if t.task_id.startswith(f"{stage.name}_")}
            assert set(tasks) == {f"{stage.name}_{p}" for p in providers}, dag.dag_id
            for p in providers:
                spec = connector(p)
                assert spec.kind == stage.fan_out
                assert tasks[f"{stage.name}_{p}"].pool == spec.pool == f"leadlake_{p}"
                assert spec.pool in pools()


def test_every_written_table_is_an_outlet_asset(dagbag) -> None:
    from leadlake.core.settings import get_settings
    from leadlake.runtime.stages import STAGES

    root = Path(get_settings().lakehouse_root).as_uri()
    for stage in STAGES:
        outlets: dict[str, str] = {}
        for dag in _dags_of(dagbag, stage):
            for t in dag.tasks:
                if t.task_id == stage.name or t.task_id.startswith(f"{stage.name}_"):
                    assert t.outlets, f"{dag.dag_id}.{t.task_id} has no outlet"
                    assert {a.name for a in t.outlets} <= set(stage.writes()), f"{dag.dag_id}.{t.task_id}"
                    outlets |= {a.name: a.uri for a in t.outlets}
        missing = set(stage.writes()) - set(outlets)
        assert not missing, f"stage {stage.name} writes {sorted(missing)} but no task has them as outlets"
        for name, uri in outlets.items():
            layer, table = name.split(".")
            assert uri == f"{root}/{layer}/{table}", (name, uri)


def test_schedules_follow_the_tables(dagbag) -> None:
    from leadlake.connectors.registry import connectors
    from leadlake.runtime.airflow.local import schedule_assets

    def waits_on(dag_id: str) -> set[str]:
        return {a.name for a in schedule_assets(dagbag.dags[dag_id])}

    discovery = {s.bronze_table for s in connectors("discovery")}
    assert waits_on("leadlake_silver") == discovery
    assert waits_on("leadlake_gold") == {"silver.leads"}
    assert dagbag.dags["leadlake_delivery"].timetable.expression == "0 3 * * *"
    assert dagbag.dags["leadlake_feedback"].timetable.expression == "0 4 * * *"  # nightly
    assert dagbag.dags["leadlake_train"].timetable.expression == "0 5 * * 0"  # weekly; triggered on demand
    for c in _campaigns():
        assert dagbag.dags[f"leadlake_ingest__{c.campaign_id}"].timetable.expression == c.cron


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_file_import_is_light(dag_file: str, tmp_path: Path) -> None:
    """Importing a DAG file must not pull in Spark, Splink, pandas, DuckDB or ML libraries."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(DAGS / dag_file)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    env = os.environ | {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
