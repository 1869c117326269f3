"""Delivery follows the campaigns: each destination gets the leads of the campaigns naming it, at their
min tier, never a suppressed lead; every lead's outcome is in the sync log; --dry-run sends nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.pipeline import campaign, gold_leads, record_campaigns, resources_for, write_gold_leads

from leadlake.connectors.destinations.hubspot import HubSpotDestination
from leadlake.governance.suppression import Entry, add
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, OPS_SYNC_LOG
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import SandboxServer
from leadlake.stages.delivery.deliver import deliver


def _leads() -> list[dict[str, Any]]:
    rows = gold_leads(6)
    tiers = ["A", "B", "C", "A", "C", "B"]
    campaigns = [["hot"], ["hot"], ["hot"], ["cold"], ["cold", "hot"], ["nowhere"]]
    for row, tier, ids in zip(rows, tiers, campaigns, strict=True):
        row["priority_tier"], row["campaign_ids"] = tier, ids
    return rows


def _delivered(sb: SandboxServer) -> set[str]:
    return {c["properties"]["leadlake_id"] for c in sb.crm.companies()}


@pytest.fixture
def sandbox() -> Any:
    with SandboxServer(seed=3, businesses=20) as sb:
        yield sb


def _setup(tmp_path: Path, sb: SandboxServer) -> Any:
    res = resources_for(str(tmp_path / "lake"), sb.url)
    write_gold_leads(res.lakehouse, _leads())
    record_campaigns(
        res.lakehouse,
        [
            campaign("hot", "local_services", destinations=[("hubspot", "B")]),
            campaign("cold", "local_services", destinations=[("hubspot", "A")]),
            campaign("nowhere", "local_services", destinations=[]),
        ],
    )
    return res


def test_each_campaign_sends_its_leads_at_its_min_tier(tmp_path: Path, sandbox: SandboxServer) -> None:
    res = _setup(tmp_path, sandbox)
    (report,) = run_stage(get_stage("delivery"), res, "d1").details
    # hot (min B): L0000 A, L0001 B; L0002 C stays. cold (min A): L0003 A; L0004 C fails cold but is
    # also in hot, where C is below B. nowhere: no destination.
    assert _delivered(sandbox) == {"L0000", "L0001", "L0003"}
    assert (report.eligible, report.sent, report.created) == (3, 3, 3)


def test_suppressed_leads_are_never_sent_and_are_logged(tmp_path: Path, sandbox: SandboxServer) -> None:
    res = _setup(tmp_path, sandbox)
    add(res.lakehouse, [Entry("domain", "business1.com", "asked to be left alone")])
    (report,) = run_stage(get_stage("delivery"), res, "d1").details
    assert _delivered(sandbox) == {"L0000", "L0003"}
    assert report.suppressed == 1
    log = {r["lead_id"]: r for r in res.lakehouse.read(OPS_SYNC_LOG).to_pylist()}
    assert log["L0001"]["action"] == "skipped-suppressed" and "business1.com" in log["L0001"]["message"]
    assert {log[i]["action"] for i in ("L0000", "L0003")} == {"created"}
    assert log["L0000"]["crm_id"] == next(
        c["id"] for c in sandbox.crm.companies() if c["properties"]["leadlake_id"] == "L0000"
    )
    (again,) = run_stage(get_stage("delivery"), res, "d2").details
    assert (again.sent, again.unchanged, again.suppressed) == (0, 2, 1)


def test_dry_run_shows_what_would_go_and_sends_nothing(tmp_path: Path, sandbox: SandboxServer) -> None:
    res = _setup(tmp_path, sandbox)
    (report,) = run_stage(get_stage("delivery"), res, "d1", options={"dry_run": True}).details
    assert [w["lead_id"] for w in report.would_send] == ["L0000", "L0001", "L0003"]
    assert report.sent == 0 and _delivered(sandbox) == set()
    assert not res.lakehouse.exists(GOLD_CRM_DELIVERIES)


def test_refused_credentials_stop_the_destination_with_a_clear_message(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    res = _setup(tmp_path, sandbox)
    report = deliver(res.lakehouse, HubSpotDestination("wrong-token", sandbox.url), "d1", tiers=None)
    assert report.sent == 0 and report.failed == 6
    assert any("refused our credentials" in e and "401" in e for e in report.errors)
    assert _delivered(sandbox) == set()
