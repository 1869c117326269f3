"""Judge line of issue 15: "A lead with a field the CRM rejects ends in dead letters with the CRM's message
while the rest of its batch arrives" -- on HubSpot, against a served sandbox (`leadlake sandbox serve`, a
real subprocess) told through its admin API to refuse phones that are not E.164, as HubSpot refuses a value:
a 400 VALIDATION_ERROR for the whole batch, naming the property and the input. Delivery splits the batch
until the lead stands alone; after the rule is lifted, `replay` delivers it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from support.pipeline import campaign, gold_leads, record_campaigns, resources_for, write_gold_leads
from support.served import served_sandbox

from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_DELIVERY_DEAD_LETTERS, OPS_SYNC_LOG
from leadlake.runtime.stages import get_stage, run_stage

LEADS = 250  # batches of 100, 100, 50: the bad lead sits in the first
BAD = 7
E164 = r"\+[1-9][0-9]{7,14}"


def _run(res: Any, run_id: str, **options: Any) -> Any:
    (report,) = run_stage(get_stage("delivery"), res, run_id, only="hubspot", options=options).details
    return report


def _held(url: str) -> dict[str, dict[str, str]]:
    """leadlake_id -> properties of every live company (the sandbox's admin view)."""
    rows = httpx.get(f"{url}/_sandbox/crm/companies", timeout=60).json()
    return {c["properties"]["leadlake_id"]: c["properties"] for c in rows}


def test_a_refused_phone_is_dead_lettered_with_hubspots_message_and_its_batch_lands(tmp_path: Path) -> None:
    with served_sandbox(tmp_path) as sb:
        rule = {"property": "phone", "pattern": E164, "error": "INVALID_PHONE_NUMBER"}
        assert sb.admin("POST", "crm/rejects", rule)["rules"][0]["pattern"] == E164
        res = resources_for(str(tmp_path / "lake"), sb.url)
        leads = gold_leads(LEADS)
        for lead in leads:
            lead["campaign_ids"] = ["hs"]
        leads[BAD]["phone_e164"] = "303-555-BAD"
        write_gold_leads(res.lakehouse, leads)
        record_campaigns(res.lakehouse, [campaign("hs", "local_services", destinations=[("hubspot", "C")])])

        first = _run(res, "d1")
        assert (first.sent, first.failed, first.dead_lettered) == (LEADS - 1, 1, 1), first.errors
        (dead,) = res.lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()
        assert (dead["destination"], dead["lead_id"]) == ("hubspot", f"L{BAD:04d}")
        # HubSpot's own words: the validation result names the property and the value it refused.
        assert "HTTP 400" in dead["error"] and "Property values were not valid: " in dead["error"]
        refused = json.loads(dead["error"].split("Property values were not valid: ", 1)[1])
        assert [(r["name"], r["error"]) for r in refused] == [("phone", "INVALID_PHONE_NUMBER")]
        assert "303-555-BAD" in refused[0]["message"]
        log = {r["lead_id"]: r for r in res.lakehouse.read(OPS_SYNC_LOG).to_pylist()}
        assert (
            log[f"L{BAD:04d}"]["action"] == "dead-letter" and log[f"L{BAD:04d}"]["message"] == dead["error"]
        )
        assert {log[f"L{i:04d}"]["action"] for i in range(LEADS) if i != BAD} == {"created"}

        held = _held(sb.url)
        assert set(held) == {f"L{i:04d}" for i in range(LEADS) if i != BAD}, "the rest of its batch arrived"
        assert all(held[f"L{i:04d}"]["phone"] == f"+1303555{i:04d}" for i in range(100) if i != BAD)
        ledger = {r["lead_id"] for r in res.lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()}
        assert ledger == set(held)

        again = _run(res, "d2")  # nothing changed: the dead letter waits for a fix or a replay
        assert (again.sent, again.failed, again.dead_letters_waiting) == (0, 0, 1)

        assert sb.admin("DELETE", "crm/rejects") == {"rules": []}  # HubSpot relaxed (or the data fixed)
        replayed = _run(res, "d3", replay=True)
        assert (replayed.sent, replayed.failed) == (1, 0), replayed.errors
        assert not res.lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()
        held = _held(sb.url)
        assert len(held) == LEADS and held[f"L{BAD:04d}"]["phone"] == "303-555-BAD"
        assert sb.stats()["status"].get("400", 0) >= 7, "the batch was split down to the refused lead"
