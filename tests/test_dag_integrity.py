"""DagBag integrity: every DAG imports cleanly, is tagged, retries, and does no heavy work at import time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
HEAVY = ("pyspark", "splink", "deltalake", "duckdb", "great_expectations", "mlflow", "xgboost", "pandas")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= 4


def test_one_ingest_dag_per_campaign(dagbag) -> None:
    from leadlake.core.campaign import campaign_files, load_campaign

    expected = {
        f"leadlake_ingest__{load_campaign(p).campaign_id}" for p in campaign_files(ROOT / "campaigns")
    }
    assert expected <= set(dagbag.dags)
    assert {"leadlake_silver", "leadlake_gold", "leadlake_delivery"} <= set(dagbag.dags)


def test_tags_retries_catchup_schedule_docs(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert "leadlake" in dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert dag.doc_md and len(dag.doc_md) > 40, dag_id
        assert dag.timetable is not None, dag_id
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag_id}.{t.task_id} retries={t.retries}"


def test_assets_hand_bronze_to_silver_to_gold(dagbag) -> None:
    def outlets(dag_id: str) -> set[str]:
        return {a.name for t in dagbag.dags[dag_id].tasks for a in t.outlets}

    ingest = next(d for d in dagbag.dags if d.startswith("leadlake_ingest__"))
    assert outlets(ingest) & {"bronze.places_raw", "bronze.yelp_businesses_raw"}
    assert outlets("leadlake_silver") == {"silver.leads"}
    assert outlets("leadlake_gold") == {"gold.scored_leads"}
    silver_trigger = repr(dagbag.dags["leadlake_silver"].timetable.asset_condition)
    gold_trigger = repr(dagbag.dags["leadlake_gold"].timetable.asset_condition)
    assert "bronze.places_raw" in silver_trigger and "bronze.yelp_businesses_raw" in silver_trigger
    assert "silver.leads" in gold_trigger


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_file_import_is_light(dag_file: str, tmp_path: Path) -> None:
    """Importing a DAG file must not pull in Spark, Splink, Delta or ML libraries."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(DAGS / dag_file)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    env = os.environ | {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_every_provider_task_has_its_own_pool(dagbag) -> None:
    from leadlake.connectors.sources import ADAPTERS, ENRICHMENT_ADAPTERS
    from leadlake.runtime.airflow.assets import ENRICHMENT_PROVIDERS
    from leadlake.runtime.airflow.local import POOLS

    assert set(ENRICHMENT_PROVIDERS) == set(ENRICHMENT_ADAPTERS)
    pools = {t.task_id: t.pool for dag in dagbag.dags.values() for t in dag.tasks}
    for provider in [*ADAPTERS, *ENRICHMENT_ADAPTERS]:
        assert f"leadlake_{provider}" in POOLS
    for provider in ENRICHMENT_ADAPTERS:
        assert pools[f"enrich_{provider}"] == f"leadlake_{provider}"
    assert pools["ingest_google_places"] == "leadlake_google_places"
    assert pools["push_to_hubspot"] == "leadlake_hubspot"
