"""jobs/*.py as real subprocesses (what spark-submit runs): each runs its registry stage on the lakehouse
LEADLAKE_LAKEHOUSE_URI names, prints its report as JSON, and writes the stage's tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.pipeline import resources_for, stage

from leadlake.connectors.registry import connector
from leadlake.core.campaign import load_campaign
from leadlake.lakehouse import Lakehouse
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.needs("java")]

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "campaigns" / "denver_home_services.yaml"


def run_job(script: str, lake_root: str, state_dir: Path, **extra: str) -> dict[str, Any]:
    """Run jobs/<script> with a clean LEADLAKE_* environment (plus `extra`); returns the JSON report it
    printed last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLAKE_")}
    env |= {
        "LEADLAKE_LAKEHOUSE_URI": lake_root,
        "LEADLAKE_STATE_DIR": str(state_dir),
        "LEADLAKE_SPARK_MASTER": "local[2]",
        "SPARK_LOCAL_IP": "127.0.0.1",
        **extra,
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"{script} printed nothing:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def bronze_lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """A lakehouse that a bronze run of the Denver campaign filled from the sandbox."""
    root = str(tmp_path_factory.mktemp("jobs") / "lake")
    spec = load_campaign(CAMPAIGN)
    with SandboxServer(World.generate(seed=11, businesses=1500)) as sb:
        (report,) = stage(resources_for(root, sb.url, (spec,)), "bronze", "b1")
    assert report.landed > 20
    return Lakehouse(root)


def bronze_copy(bronze: Lakehouse, dest: Path) -> Lakehouse:
    """A lakehouse of its own holding the fixture's bronze, so every test starts from the same bronze."""
    shutil.copytree(bronze.root_uri, dest)
    return Lakehouse(str(dest))


def test_the_silver_then_gold_jobs_write_their_tables(bronze_lake: Lakehouse, tmp_path: Path) -> None:
    lake = bronze_copy(bronze_lake, tmp_path / "lake")
    bronze = sum(
        lake.read(connector(p).bronze_table).num_rows for p in ("google_places", "yelp")
    )  # payloads, before "newest per key"

    silver = run_job("silver_leads.py", lake.root_uri, tmp_path / "state")
    assert (silver["stage"], silver["status"]) == ("silver", "success")
    assert silver["run_id"].startswith("job__")
    details = silver["details"]
    assert 0 < details["bronze_records"] <= bronze
    assert details["source_records"] + details["quarantined"] == details["bronze_records"]
    leads = lake.read("silver.leads").to_pylist()
    assert len(leads) == details["leads"] == silver["rows_out"]
    assert 0 < len(leads) <= details["source_records"]
    links = lake.read("silver.lead_links").to_pylist()
    assert len(links) == len({r["record_id"] for r in links}) == details["source_records"]
    assert {r["lead_id"] for r in links} == {r["lead_id"] for r in leads}

    gold = run_job("gold_scores.py", lake.root_uri, tmp_path / "state")
    assert (gold["stage"], gold["status"]) == ("gold", "success")
    scored = lake.read("gold.scored_leads").to_pylist()
    assert len(scored) == gold["details"]["leads"] == len(leads)
    assert {r["lead_id"] for r in scored} == {r["lead_id"] for r in leads}
    assert all(0 <= r["lead_score"] <= 100 and r["priority_tier"] in ("A", "B", "C") for r in scored)
    assert {r["scored_campaign_id"] for r in scored} == {"denver_home_services"}
    assert sum(gold["details"]["tiers"].values()) == len(scored)

    recorded = {(r["stage"], r["run_id"]) for r in lake.read("ops.stage_runs").to_pylist()}
    assert ("silver", silver["run_id"]) in recorded and ("gold", gold["run_id"]) in recorded


@pytest.mark.spark  # the embedded run starts Spark in this process
def test_silver_and_gold_on_several_partitions_with_splink_on_spark_match_the_embedded_run(
    bronze_lake: Lakehouse, tmp_path: Path
) -> None:
    """The cluster path (the spark-submit entry points on local[2], shuffles over several partitions, Splink
    on Spark) gives the leads, links and scores of the embedded path (in-process, Splink on DuckDB)."""
    embedded = bronze_copy(bronze_lake, tmp_path / "embedded")
    res = resources_for(embedded.root_uri)
    assert res.settings.resolve_backend == "duckdb"
    stage(res, "silver", "s1")
    stage(res, "gold", "g1")

    cluster = bronze_copy(bronze_lake, tmp_path / "cluster")
    for script in ("silver_leads.py", "gold_scores.py"):
        report = run_job(script, cluster.root_uri, tmp_path / "state", LEADLAKE_RESOLVE_BACKEND="spark")
        assert report["status"] == "success", report
        if script == "silver_leads.py":
            assert report["details"]["resolve_backend"] == "spark"

    def table(lake: Lakehouse, name: str, key: str, columns: list[str]) -> list[tuple]:
        rows = lake.read(name, columns=[key, *columns]).to_pylist()
        return sorted(tuple(str(r[c]) for c in [key, *columns]) for r in rows)

    leads = ["name", "domain", "phone_e164", "city", "rating", "review_count", "campaign_ids"]
    scores = ["lead_score", "priority_tier", "score_reasons", "scored_campaign_id", "model_version"]
    got = {
        lake: (
            table(lake, "silver.lead_links", "record_id", ["lead_id"]),
            table(lake, "silver.leads", "lead_id", leads),
            table(lake, "gold.scored_leads", "lead_id", scores),
        )
        for lake in (embedded, cluster)
    }
    links, lead_rows, scored = got[embedded]
    assert len(lead_rows) < len(links), "some records were merged into one lead"
    assert len(scored) == len(lead_rows) > 0
    assert got[cluster] == got[embedded]
