"""The learning loop's input: delivered leads' outcomes pulled from the sandbox HubSpot into bronze (exactly
once, from a watermark) and silver (labels as the definitions say, merged companies followed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations import hubspot as hubspot_module
from leadlake.connectors.destinations.hubspot import DeliveryError, HubSpotDestination
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CRM_OUTCOMES, SILVER_LEAD_OUTCOMES
from leadlake.sandbox import crm as crm_module
from leadlake.sandbox.server import SandboxKeys, SandboxServer
from leadlake.stages.bronze.feedback import pull_feedback, read_watermark
from leadlake.stages.delivery.deliver import deliver
from leadlake.stages.silver.outcomes import LABEL_RULES, LabelRuleError, build_outcomes

TOKEN = SandboxKeys().hubspot


def world_leads(server: SandboxServer, n: int) -> list[dict[str, Any]]:
    """Gold rows for the world's first n businesses (so the CRM finds their true attributes)."""
    template = gold_leads(1)[0]
    return [
        template
        | {
            "lead_id": f"lead-{b.business_id}",
            "name": b.name,
            "domain": None,
            "website": b.website,
            "phone_e164": b.phone,
            "city": b.city,
            "region": b.region,
        }
        for b in server.world.businesses[:n]
    ]


def bronze_rows(lake: Lakehouse) -> list[dict]:
    return lake.read(BRONZE_CRM_OUTCOMES).to_pylist()


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    with SandboxServer(seed=9, businesses=400) as server:
        lake = Lakehouse(str(tmp_path / "lake"))
        write_gold_leads(lake, world_leads(server, 150))
        dest = HubSpotDestination(TOKEN, server.url, max_retries=2)
        report = deliver(lake, dest, "d1")
        assert report.sent == 150 and not report.errors
        yield server, lake, dest


def test_pull_lands_each_change_once_and_labels_follow_the_definitions(setup: Any) -> None:
    server, lake, dest = setup
    first = pull_feedback(lake, dest, "f1")
    assert (first.fetched, first.landed) == (150, 150)
    assert first.watermark_before is None and first.watermark_after == read_watermark(lake, "hubspot")
    again = pull_feedback(lake, dest, "f2")
    assert again.landed == 0 and again.watermark_after == first.watermark_after
    assert len(bronze_rows(lake)) == 150

    moved = server.advance(30)
    third = pull_feedback(lake, dest, "f3")
    assert third.landed == moved["changed"] > 0
    rows = bronze_rows(lake)
    assert len(rows) == 150 + moved["changed"]
    assert len({(r["crm_id"], r["content_hash"]) for r in rows}) == len(rows)
    assert {r["destination"] for r in rows} == {"hubspot"} and all(r["leadlake_id"] for r in rows)
    assert pull_feedback(lake, dest, "f4").landed == 0

    built = build_outcomes(lake, "s1")
    assert built.leads == 150
    # Thirty days in: a lead that qualified is positive, the others wait for their 90-day window.
    counts = built.labels["qualified_or_won_90d"]
    assert counts["negative"] == 0 and counts["open"] > 0

    server.advance(200)
    pull_feedback(lake, dest, "f5")
    built = build_outcomes(lake, "s2")
    out = {r["lead_id"]: r for r in lake.read(SILVER_LEAD_OUTCOMES).to_pylist()}
    assert len(out) == 150 and built.labels["qualified_or_won_90d"]["open"] == 0
    truth = httpx.get(f"{server.url}/_sandbox/crm/propensity", timeout=30).json()["companies"]
    assert {c["leadlake_id"]: c["qualified_90d"] for c in truth} == {
        k: r["qualified_or_won_90d"] for k, r in out.items()
    }
    for row in out.values():
        assert row["lifecyclestage"] is None or row["stage_rank"] is not None
        if row["won_180d"]:
            assert row["lifecyclestage"] == "customer" and row["closed_at"] is not None
        if row["qualified_or_won_90d"]:
            assert row["entered_sql_at"] is not None
            assert (row["entered_sql_at"] - row["delivered_at"]).days <= 90


def test_merged_companies_are_followed_to_their_survivor(setup: Any) -> None:
    server, lake, dest = setup
    pull_feedback(lake, dest, "f1")
    companies = {c["properties"]["leadlake_id"]: c["id"] for c in server.crm.companies()}
    dest.merge(companies["lead-biz-0000001"], companies["lead-biz-0000002"])
    server.advance(10)
    pull_feedback(lake, dest, "f2")
    build_outcomes(lake, "s1")
    out = {r["lead_id"]: r for r in lake.read(SILVER_LEAD_OUTCOMES).to_pylist()}
    assert "lead-biz-0000002" not in out and len(out) == 149
    survivor = out["lead-biz-0000001"]
    assert survivor["merged_lead_ids"] == ["lead-biz-0000002"]
    assert survivor["merged_crm_ids"] == [companies["lead-biz-0000002"]]


def test_custom_label_rules_are_data(setup: Any) -> None:
    server, lake, dest = setup
    server.advance(40)
    pull_feedback(lake, dest, "f1")
    rules = [{"name": "touched_7d", "stages": ["lead"], "within_days": 7}]
    build_outcomes(lake, "s1", rules)
    out = lake.read(SILVER_LEAD_OUTCOMES).to_pylist()
    assert "touched_7d" in out[0] and "qualified_or_won_90d" not in out[0]
    for row in out:
        entered = row["entered_lead_at"]
        assert row["touched_7d"] == (entered is not None and (entered - row["delivered_at"]).days < 7)
    with pytest.raises(LabelRuleError, match="unknown stages"):
        build_outcomes(lake, "s2", [{"name": "x", "stages": ["won"], "within_days": 3}])
    assert [r["name"] for r in LABEL_RULES][0] == "qualified_or_won_90d"


def test_pull_windows_past_the_search_cap(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, lake, dest = setup
    monkeypatch.setattr(crm_module, "SEARCH_CAP", 120)  # 10,000 at a testable size (> one batch)
    monkeypatch.setattr(hubspot_module, "SEARCH_CAP", 120)
    monkeypatch.setattr(hubspot_module, "SEARCH_PAGE", 15)
    got = list(dest.pull_changes())
    assert len(got) == 150 and len({c["id"] for c in got}) == 150
    report = pull_feedback(lake, dest, "f1")
    assert (report.fetched, report.landed) == (150, 150)


def test_a_refused_token_is_a_delivery_error(setup: Any) -> None:
    server, lake, _ = setup
    with pytest.raises(DeliveryError, match="HTTP 401") as info:
        pull_feedback(lake, HubSpotDestination("wrong", server.url, max_retries=0), "f1")
    assert info.value.refused
    assert read_watermark(lake, "hubspot") is None
