"""Delivery to Salesforce through the registry, on the sandbox org: a lead the org refuses goes to the
dead letters with Salesforce's message while the rest of its batch lands; `replay` sends it after a fix;
simple-salesforce reads back exactly what the ledger says was delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.pipeline import campaign, gold_leads, record_campaigns, resources_for, write_gold_leads

from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_DELIVERY_DEAD_LETTERS, OPS_SYNC_LOG
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.salesforce_store import org_for
from leadlake.sandbox.server import SandboxServer

LEADS = 250


def _run(res: Any, run_id: str, **options: Any) -> Any:
    (report,) = run_stage(get_stage("delivery"), res, run_id, only="salesforce", options=options).details
    return report


@pytest.fixture
def world(tmp_path: Path) -> Any:
    with SandboxServer(seed=3, businesses=20) as sb:
        res = resources_for(str(tmp_path / "lake"), sb.url)
        leads = gold_leads(LEADS)
        for lead in leads:
            lead["campaign_ids"] = ["sf"]
        leads[7]["phone_e164"] = "303-555-BAD"  # the org's validation rule wants E.164
        write_gold_leads(res.lakehouse, leads)
        record_campaigns(
            res.lakehouse, [campaign("sf", "local_services", destinations=[("salesforce", "C")])]
        )
        yield sb, res, leads


def test_a_refused_lead_is_dead_lettered_and_its_batch_lands(world: Any) -> None:
    sb, res, leads = world
    org = org_for(sb)
    org.reject_malformed_phones = True
    first = _run(res, "d1")
    assert (first.sent, first.failed, first.dead_lettered) == (LEADS - 1, 1, 1)
    dead = res.lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()
    assert [d["lead_id"] for d in dead] == ["L0007"]
    assert "Phone" in dead[0]["error"]
    log = {r["lead_id"]: r for r in res.lakehouse.read(OPS_SYNC_LOG).to_pylist()}
    assert log["L0007"]["action"] == "dead-letter" and log["L0007"]["message"] == dead[0]["error"]
    assert {log[f"L{i:04d}"]["action"] for i in range(LEADS) if i != 7} == {"created"}

    again = _run(res, "d2")  # nothing changed: nothing sent, the dead letter is not retried blindly
    assert (again.sent, again.failed, again.unchanged, again.dead_letters_waiting) == (0, 0, LEADS - 1, 1)

    org.reject_malformed_phones = False  # the rule is relaxed (or the data fixed): replay it
    replayed = _run(res, "d3", replay=True)
    assert (replayed.sent, replayed.failed) == (1, 0)
    assert not res.lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()

    ledger = {r["lead_id"]: r["crm_id"] for r in res.lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()}
    assert len(ledger) == LEADS
    # read_back queries the org with simple-salesforce (SOQL on the external id).
    held = res.destination("salesforce").read_back(ledger)
    assert {lid: row["Id"] for lid, row in held.items()} == ledger
    assert {row["Company"] for row in held.values()} == {lead["name"] for lead in leads}
