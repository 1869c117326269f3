"""Each campaign's destination may carry its own field mapping (inline keys over the default, or a YAML
file) and min tier: delivery writes each lead through the mapping of the campaign routing it, hashes what
that destination sends (a change to an unmapped column sends nothing), and records one idempotency key per
(destination, lead, payload hash) in the ledger and the sync log, and in the CSV rows it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
from support.pipeline import campaign, gold_leads, record_campaigns, resources_for, write_gold_leads

import leadlake.connectors.registry  # noqa: F401 - registers the campaign checks (providers, mappings)
from leadlake.connectors.destinations.base import idempotency_key, payload_hash
from leadlake.connectors.destinations.files import CsvDestination
from leadlake.core.campaign import load_campaign
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS, OPS_SYNC_LOG
from leadlake.runtime.stages import destination_tiers, get_stage, run_stage
from leadlake.sandbox.server import SandboxServer
from leadlake.stages.bronze.landing import record_campaign
from leadlake.stages.delivery.deliver import deliver

# Salesforce: the campaign "partners" writes the website into Description and its own LeadSource.
PARTNER_MAPPING = {"fields": {"website": "Description"}, "constants": {"LeadSource": "Partner Referral"}}


def _leads() -> list[dict[str, Any]]:
    """L0000-L0003 in campaign plain (tier B); L0004-L0007 in partners, L0007 at tier C."""
    rows = gold_leads(8)
    for i, row in enumerate(rows):
        row["campaign_ids"] = ["plain"] if i < 4 else ["partners"]
    rows[7]["priority_tier"] = "C"
    return rows


def _ledger(res: Any, destination: str) -> dict[str, dict[str, Any]]:
    rows = res.lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()
    return {r["lead_id"]: r for r in rows if r["destination"] == destination}


def test_each_campaign_writes_its_leads_through_its_own_salesforce_mapping(tmp_path: Path) -> None:
    with SandboxServer(seed=3, businesses=20) as sb:
        res = resources_for(str(tmp_path / "lake"), sb.url)
        write_gold_leads(res.lakehouse, _leads())
        specs = [
            campaign("plain", "local_services", destinations=[("salesforce", "C")]),
            campaign("partners", "local_services", destinations=[("salesforce", "B", PARTNER_MAPPING)]),
        ]
        record_campaigns(res.lakehouse, specs)

        (report,) = run_stage(get_stage("delivery"), res, "d1", only="salesforce").details
        assert (report.eligible, report.sent, report.failed) == (7, 7, 0), report.errors

        # Read back with simple-salesforce (SOQL) through the partner mapping: it names Description.
        default = res.destination("salesforce")
        partner = default.with_mapping(PARTNER_MAPPING)
        held = partner.read_back([f"L{i:04d}" for i in range(8)])
        assert sorted(held) == [f"L{i:04d}" for i in range(7)]  # L0007 is below partners' tier B
        for i in range(4):
            row = held[f"L{i:04d}"]
            assert (row["LeadSource"], row["Description"]) == ("LeadLake", None)
        for i in range(4, 7):
            row = held[f"L{i:04d}"]
            assert (row["LeadSource"], row["Description"]) == ("Partner Referral", f"https://business{i}.com")

        # The ledger holds the hash of what Salesforce was sent, through each lead's own mapping.
        gold = {r["lead_id"]: r for r in res.lakehouse.read(GOLD_SCORED_LEADS).to_pylist()}
        ledger = _ledger(res, "salesforce")
        for lid, row in ledger.items():
            dest = default if gold[lid]["campaign_ids"] == ["plain"] else partner
            assert row["payload_hash"] == payload_hash(dest.payload(gold[lid])), lid
            assert row["idempotency_key"] == idempotency_key("salesforce", lid, row["payload_hash"])

        (again,) = run_stage(get_stage("delivery"), res, "d2", only="salesforce").details
        assert (again.sent, again.unchanged) == (0, 7)

        # The partners campaign changes its mapping: its leads go again, the plain ones do not.
        changed = {**PARTNER_MAPPING, "constants": {"LeadSource": "Web"}}
        record_campaign(
            res.lakehouse, campaign("partners", "local_services", destinations=[("salesforce", "B", changed)])
        )
        (third,) = run_stage(get_stage("delivery"), res, "d3", only="salesforce").details
        assert (third.sent, third.updated, third.unchanged) == (3, 3, 4)
        held = default.with_mapping(changed).read_back(["L0004", "L0000"])
        assert (held["L0004"]["LeadSource"], held["L0000"]["LeadSource"]) == ("Web", "LeadLake")
        ledger = _ledger(res, "salesforce")
        keys = {(r["lead_id"], r["idempotency_key"]) for r in res.lakehouse.read(OPS_SYNC_LOG).to_pylist()}
        assert {(lid, r["idempotency_key"]) for lid, r in ledger.items()} <= keys


def test_a_campaign_mapping_file_shapes_the_csv_rows_and_unmapped_changes_send_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "narrow.yaml").write_text(
        "key: lead_id\ncolumns:\n  name: company\n  domain: web_domain\n"
    )
    (tmp_path / "narrow.yaml").write_text(
        "name: Narrow export\nid: narrow\nvertical: local_services\n"
        "geo: {city: Denver, region: CO, country: US}\nkeywords: [plumber]\nsources: [yelp]\n"
        "destinations:\n  - {type: csv, min_tier: B, mapping: mappings/narrow.yaml}\n"
    )
    spec = load_campaign(tmp_path / "narrow.yaml")
    assert spec.destinations[0].mapping == str((tmp_path / "mappings" / "narrow.yaml").resolve())

    res = resources_for(str(tmp_path / "lake"))
    leads = gold_leads(5)
    for lead in leads:
        lead["campaign_ids"] = ["narrow"]
    leads[4]["priority_tier"] = "C"  # below the campaign's tier B
    write_gold_leads(res.lakehouse, leads)
    record_campaign(res.lakehouse, spec)
    routes = destination_tiers(res)["csv"]
    out = tmp_path / "export"

    report = deliver(res.lakehouse, CsvDestination(out, run_id="e1"), "e1", tiers=routes)
    assert (report.sent, report.eligible) == (4, 4)
    (part,) = sorted(out.rglob("part-*.csv"))
    table = pacsv.read_csv(part)
    assert table.column_names[:3] == ["lead_id", "company", "web_domain"]
    assert "phone" not in table.column_names
    rows = {r["lead_id"]: r for r in table.to_pylist()}
    ledger = _ledger(res, "csv")
    assert {lid: r["leadlake_idempotency_key"] for lid, r in rows.items()} == {
        lid: r["idempotency_key"] for lid, r in ledger.items()
    }
    assert {lid: r["leadlake_payload_hash"] for lid, r in rows.items()} == {
        lid: r["payload_hash"] for lid, r in ledger.items()
    }

    # A change to a column the mapping does not write (the phone) sends nothing; a mapped one does.
    leads[1]["phone_e164"] = "+13035559999"
    write_gold_leads(res.lakehouse, leads)
    quiet = deliver(res.lakehouse, CsvDestination(out, run_id="e2"), "e2", tiers=routes)
    assert (quiet.sent, quiet.unchanged) == (0, 4)
    leads[1]["name"] = "Business One"
    write_gold_leads(res.lakehouse, leads)
    loud = deliver(res.lakehouse, CsvDestination(out, run_id="e3"), "e3", tiers=routes)
    assert (loud.sent, loud.updated, loud.unchanged) == (1, 1, 3)
    assert _ledger(res, "csv")["L0001"]["idempotency_key"] != ledger["L0001"]["idempotency_key"]
