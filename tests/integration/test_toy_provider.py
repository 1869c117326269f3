"""Adding a provider is one connector module + one sandbox route module + one registry entry.

The toy provider below is registered at run time exactly as the README says; the stage registry, bronze,
silver, the ingestion DAG and its pools then pick it up with no other edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.toy_sandbox import TOY_KEY

from leadlake.connectors.registry import ConnectorSpec, names, register, unregister
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.core.settings import get_settings
from leadlake.runtime.resources import Resources
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World

TOY_SPEC = ConnectorSpec(
    name="toy",
    kind="discovery",
    title="Toy business search",
    adapter="support.toy_connector:ToyAdapter",
    credential_env="LEADLAKE_TOY_API_KEY",
    base_url="https://api.toy.example",
    sandbox_key=TOY_KEY,
    bronze_table="bronze.toy_raw",
    rate_per_s=5.0,
    burst=5,
    price_per_call_usd=0.001,
    pool_slots=2,
)
KEYWORD = "plumb"


@pytest.fixture
def toy_registered() -> Iterator[ConnectorSpec]:
    """The one registry entry; removed again so other tests see the built-in providers only."""
    register(TOY_SPEC)
    try:
        yield TOY_SPEC
    finally:
        unregister(TOY_SPEC.name)


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=3, businesses=400)


def _campaign() -> CampaignSpec:
    return CampaignSpec(
        campaign_id="toy_campaign",
        name="toy campaign",
        vertical="local_services",
        areas=[Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=20)],
        keywords=[KEYWORD],
        sources=["toy"],
        max_cost_usd=5.0,
    )


def _resources(url: str, root: Path) -> Resources:
    settings = get_settings().model_copy(update={"lakehouse_uri": str(root)})
    return Resources.for_sandbox(url, settings, (_campaign(),))


def test_a_registered_provider_lands_in_its_bronze_table(
    toy_registered, world: World, tmp_path: Path
) -> None:
    assert "toy" in names("discovery")
    expected = {b.business_id for b in world.businesses if KEYWORD in b.name.lower()}
    assert expected, "the world has businesses the toy search finds"
    with SandboxServer(world, extra_routes=["support.toy_sandbox"]) as sandbox:
        res = _resources(sandbox.url, tmp_path / "lake")
        report = run_stage(get_stage("bronze"), res, "toy-run")
    assert report.ok, report.failures
    landed = res.lakehouse.read("bronze.toy_raw", columns=["provider", "provider_key"]).to_pylist()
    assert {r["provider"] for r in landed} == {"toy"}
    assert {r["provider_key"] for r in landed} == set(list(expected)[:50]) or len(landed) == min(
        50, len(expected)
    )
    assert "bronze.toy_raw" in get_stage("bronze").writes()
    assert "bronze.toy_raw" in get_stage("silver").reads()


def test_an_unregistered_provider_is_refused_with_the_known_ones(world: World, tmp_path: Path) -> None:
    from leadlake.connectors.registry import UnknownConnector

    with SandboxServer(world) as sandbox:
        res = _resources(sandbox.url, tmp_path / "lake")
        with pytest.raises(UnknownConnector, match="google_places"):
            res.connector("toy")


@pytest.mark.spark
def test_silver_normalises_the_new_provider_without_an_edit(
    toy_registered, world: World, tmp_path: Path
) -> None:
    with SandboxServer(world, extra_routes=["support.toy_sandbox"]) as sandbox:
        res = _resources(sandbox.url, tmp_path / "lake")
        run_stage(get_stage("bronze"), res, "toy-run")
    report = run_stage(get_stage("silver"), res, "toy-run")
    assert report.ok
    rows = res.lakehouse.read("silver.source_records", columns=["record_id", "provider"]).to_pylist()
    why = res.lakehouse.sql("select reason from silver.quarantine limit 2").to_pylist() if not rows else None
    assert rows and {r["provider"] for r in rows} == {"toy"}, why
    assert all(r["record_id"].startswith("toy:") for r in rows)


@pytest.mark.airflow
def test_the_ingest_dag_gets_a_task_and_pool_for_it(toy_registered) -> None:
    from leadlake.runtime.airflow.dags import stage_dag
    from leadlake.runtime.airflow.local import pools

    dag = stage_dag("leadlake_ingest", doc_md="toy", tags=["test"], schedule=None, campaign=_campaign())
    (task,) = [t for t in dag.tasks if t.task_id.endswith("toy")]
    assert task.pool == "leadlake_toy" and pools()["leadlake_toy"] == 2
    assert "bronze.toy_raw" in {a.name for a in task.outlets}
