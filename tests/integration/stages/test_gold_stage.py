"""The gold stage through the registry: the campaign a lead is scored under is published, and a failed
quality gate stops the publish, leaving the previous version of gold.scored_leads the readable one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.pipeline import campaign, record_campaigns, resources_for, silver_lead, stage, write_silver_leads

from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, OPS_STAGE_RUNS
from leadlake.quality.gates import QualityGateFailed
from leadlake.runtime.stages import get_stage, run_stage

pytestmark = pytest.mark.spark

ACE = silver_lead(
    "L1",
    "Ace Plumbing",
    website="https://www.aceplumbing.com",
    domain="aceplumbing.com",
    phone_e164="+13035550101",
    lat=39.74,
    lon=-104.99,
    campaign_ids=["denver_shops", "denver_home_services"],
)
BOLT = silver_lead("L2", "Bolt Electric", phone_e164="+18005550102", phone_is_toll_free=True)


def gold_rows(lake: Any, version: int | None = None) -> list[tuple]:
    rows = lake.read(GOLD_SCORED_LEADS, version=version).to_pylist()
    return sorted((r["lead_id"], r["lead_score"], r["priority_tier"], r["scored_campaign_id"]) for r in rows)


def test_a_failed_quality_gate_stops_the_gold_publish_and_keeps_the_previous_version(
    spark: Any, tmp_path: Path
) -> None:
    res = resources_for(str(tmp_path / "lake"), spark=spark)
    lake = res.lakehouse
    record_campaigns(
        lake, [campaign("denver_home_services", "local_services"), campaign("denver_shops", "ecommerce")]
    )
    write_silver_leads(lake, [ACE, BOLT])
    assert stage(res, "gold", "g1").leads == 2
    published = lake.version(GOLD_SCORED_LEADS)
    # Ace: +15 website, +10 within 25 km of Denver, +10 direct phone under either campaign (no Shopify
    # signal), a tie that goes to the first campaign id; Bolt: a toll-free phone and no website scores 0.
    expected = [("L1", 35, "B", "denver_home_services"), ("L2", 0, "C", "denver_home_services")]
    assert gold_rows(lake) == expected

    # silver.leads now holds a duplicate lead id (a broken merge upstream): gold must not publish it.
    changed = ACE | {"name": "Ace Plumbing II", "phone_e164": None}
    write_silver_leads(lake, [ACE, changed, BOLT, silver_lead("L3", "Cedar Roofing")])
    with pytest.raises(QualityGateFailed, match="lead_id: expect_column_values_to_be_unique"):
        run_stage(get_stage("gold"), res, "g2")

    assert lake.version(GOLD_SCORED_LEADS) == published, "nothing was committed"
    assert gold_rows(lake) == expected
    assert gold_rows(lake, version=published) == expected
    runs = {r["run_id"]: r for r in lake.read(OPS_STAGE_RUNS).to_pylist() if r["stage"] == "gold"}
    assert runs["g1"]["status"] == "success"
    assert runs["g2"]["status"] == "failed"
    assert runs["g2"]["error"].startswith("QualityGateFailed: quality gate failed for gold.scored_leads")
