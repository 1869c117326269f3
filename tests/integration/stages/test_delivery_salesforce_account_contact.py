"""A campaign whose Salesforce destination selects the Account + Contact mapping: through a served sandbox
(`leadlake sandbox serve`, a real subprocess), every lead lands as one Account and each of its emails as
one Contact linked to it, as simple-salesforce reads back by SOQL; a second run sends nothing; a mapping
naming a Contact field the org lacks stops the destination before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from support.pipeline import GOLD_LEAD_SCHEMA, campaign, gold_leads, record_campaigns, resources_for
from support.salesforce import salesforce_for
from support.served import served_sandbox

from leadlake.connectors.destinations.salesforce import DEFAULT_MAPPING
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS
from leadlake.runtime.stages import get_stage, run_stage

LEADS = 40
MAPPING = DEFAULT_MAPPING.parent / "salesforce_account_contact.yaml"
SCHEMA = GOLD_LEAD_SCHEMA.append(pa.field("emails", pa.list_(pa.string())))


def _leads() -> list[dict[str, Any]]:
    rows = gold_leads(LEADS)
    for i, row in enumerate(rows):
        row["campaign_ids"] = ["accounts"]
        row["emails"] = [f"owner@business{i}.com"] + ([f"sales@business{i}.com"] if i % 4 == 0 else [])
        if i % 3 == 1:
            row["emails"] = None
    return rows


def _deliver(res: Any, run_id: str) -> Any:
    (report,) = run_stage(get_stage("delivery"), res, run_id, only="salesforce").details
    return report


def test_every_lead_is_one_account_and_each_email_one_contact_linked_to_it(tmp_path: Path) -> None:
    with served_sandbox(tmp_path) as sb:
        res = resources_for(str(tmp_path / "lake"), sb.url)
        leads = _leads()
        by_id = {lead["lead_id"]: lead for lead in leads}
        res.lakehouse.overwrite(GOLD_SCORED_LEADS, pa.Table.from_pylist(leads, schema=SCHEMA))
        record_campaigns(
            res.lakehouse,
            [campaign("accounts", "local_services", destinations=[("salesforce", "C", str(MAPPING))])],
        )
        first = _deliver(res, "d1")
        assert (first.sent, first.failed) == (LEADS, 0), first.errors
        ledger = {r["lead_id"]: r["crm_id"] for r in res.lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()}

        sf = salesforce_for(sb.url)
        accounts = sf.query_all("SELECT Id, LeadLake_Id__c, Name, Website, Phone, BillingCity FROM Account")
        held = {r["LeadLake_Id__c"]: r for r in accounts["records"]}
        assert len(held) == accounts["totalSize"] == LEADS, "one Account per lead"
        assert {lid: r["Id"] for lid, r in held.items()} == ledger
        for lid, row in held.items():
            lead = by_id[lid]
            assert (row["Name"], row["Website"], row["Phone"], row["BillingCity"]) == (
                lead["name"],
                lead["website"],
                lead["phone_e164"],
                lead["city"],
            )
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0  # this mapping writes no Leads

        contacts = sf.query_all("SELECT Id, AccountId, Email, LeadLake_Contact_Id__c FROM Contact")["records"]
        emails_of: dict[str, list[str]] = {}
        for contact in contacts:
            emails_of.setdefault(contact["AccountId"], []).append(contact["Email"])
        want = {ledger[lid]: sorted(lead["emails"]) for lid, lead in by_id.items() if lead["emails"]}
        assert {acct: sorted(emails) for acct, emails in emails_of.items()} == want
        assert len(contacts) == sum(len(e) for e in want.values()), "one Contact per email"
        one = sf.query(f"SELECT Email FROM Contact WHERE AccountId = '{ledger['L0008']}'")["records"]
        assert sorted(r["Email"] for r in one) == ["owner@business8.com", "sales@business8.com"]

        again = _deliver(res, "d2")
        assert (again.sent, again.failed, again.unchanged) == (0, 0, LEADS)
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == len(contacts)


def test_a_mapping_to_a_missing_contact_field_sends_nothing(tmp_path: Path) -> None:
    doc = yaml.safe_load(MAPPING.read_text())
    doc["contacts"]["email_field"] = "Work_Email__c"
    bad = tmp_path / "bad_account_contact.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with served_sandbox(tmp_path) as sb:
        res = resources_for(str(tmp_path / "lake"), sb.url)
        res.lakehouse.overwrite(GOLD_SCORED_LEADS, pa.Table.from_pylist(_leads(), schema=SCHEMA))
        record_campaigns(
            res.lakehouse,
            [campaign("accounts", "local_services", destinations=[("salesforce", "C", str(bad))])],
        )
        report = _deliver(res, "d1")
        assert (report.sent, report.failed) == (0, LEADS)
        assert any("Work_Email__c" in e and "Contact" in e for e in report.errors), report.errors
        sf = salesforce_for(sb.url)
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
