"""Judge line of issue 15: "`simple-salesforce` and `hubspot-api-client`, pointed at the sandbox, read back
exactly what the ledger says was delivered."

One campaign sends its leads to HubSpot and Salesforce through a served sandbox (`leadlake sandbox serve`,
a real subprocess). Then each CRM's own client library, configured only with the sandbox's base URL and
credentials, lists what the CRM holds: HubSpot's companies (every page), their contacts through the v4
associations, and Salesforce's Leads by SOQL. Each must equal the delivery ledger (gold.crm_deliveries)
and the sync log (ops.sync_log): the same leads, the same CRM ids, the mapped field values, nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from support.pipeline import GOLD_LEAD_SCHEMA, campaign, gold_leads, record_campaigns, resources_for
from support.salesforce import salesforce_for
from support.served import served_sandbox

from leadlake.connectors.destinations.hubspot import FIELD_MAP, ID_PROPERTY, to_properties
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS, OPS_SYNC_LOG
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import SandboxKeys

LEADS = 230  # HubSpot batches of 100, 100, 30
SCHEMA = GOLD_LEAD_SCHEMA.append(pa.field("emails", pa.list_(pa.string())))


def _leads() -> list[dict[str, Any]]:
    rows = gold_leads(LEADS)
    for i, row in enumerate(rows):
        row["campaign_ids"] = ["both"]
        row["emails"] = [f"owner@business{i}.com"] + ([f"sales@business{i}.com"] if i % 6 == 0 else [])
        if i % 3:
            row["emails"] = None  # a third of the leads have emails
    return rows


def _hubspot_companies(api: HubSpot) -> dict[str, Any]:
    """Every company, paging with `after` as the client does: leadlake_id -> the company object."""
    wanted = [ID_PROPERTY, *FIELD_MAP.values()]
    out: dict[str, Any] = {}
    after = None
    while True:
        page = api.crm.companies.basic_api.get_page(limit=100, after=after, properties=wanted)
        for company in page.results:
            assert company.properties[ID_PROPERTY] not in out, "one company per lead"
            out[company.properties[ID_PROPERTY]] = company
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return out


def _hubspot_contacts(api: HubSpot, company_ids: list[str]) -> dict[str, list[str]]:
    """company id -> the emails of its associated contacts (v4 batch read, then a contacts batch read)."""
    linked: dict[str, list[str]] = {}
    for start in range(0, len(company_ids), 100):
        inputs = [PublicFetchAssociationsBatchRequest(id=i) for i in company_ids[start : start + 100]]
        page = api.crm.associations.v4.batch_api.get_page(
            "companies", "contacts", BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs)
        )
        for row in page.results:
            linked[row._from.id] = [str(t.to_object_id) for t in row.to]
    people = sorted({c for cs in linked.values() for c in cs})
    email_of: dict[str, str] = {}
    for start in range(0, len(people), 100):
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in people[start : start + 100]],
            properties=["email"],
            properties_with_history=[],
        )
        for person in api.crm.contacts.batch_api.read(body).results:
            email_of[person.id] = person.properties["email"]
    return {co: sorted(email_of[c] for c in cs) for co, cs in linked.items() if cs}


def test_both_crms_own_clients_read_back_exactly_the_ledger(tmp_path: Path) -> None:
    with served_sandbox(tmp_path) as sb:
        res = resources_for(str(tmp_path / "lake"), sb.url)
        leads = _leads()
        by_id = {lead["lead_id"]: lead for lead in leads}
        res.lakehouse.overwrite(GOLD_SCORED_LEADS, pa.Table.from_pylist(leads, schema=SCHEMA))
        record_campaigns(
            res.lakehouse,
            [campaign("both", "local_services", destinations=[("hubspot", "C"), ("salesforce", "C")])],
        )
        reports = {r.destination: r for r in run_stage(get_stage("delivery"), res, "d1").details}
        assert {name: (r.sent, r.failed) for name, r in reports.items()} == {
            "hubspot": (LEADS, 0),
            "salesforce": (LEADS, 0),
        }, {name: r.errors for name, r in reports.items()}

        ledger: dict[str, dict[str, str]] = {"hubspot": {}, "salesforce": {}}
        for row in res.lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist():
            ledger[row["destination"]][row["lead_id"]] = row["crm_id"]
        logged: dict[str, dict[str, str]] = {"hubspot": {}, "salesforce": {}}
        for row in res.lakehouse.read(OPS_SYNC_LOG).to_pylist():
            assert row["action"] == "created", row
            logged[row["destination"]][row["lead_id"]] = row["crm_id"]
        assert logged == ledger
        assert {name: set(ids) for name, ids in ledger.items()} == {
            "hubspot": set(by_id),
            "salesforce": set(by_id),
        }

        # HubSpot, through hubspot-api-client with only its host pointed at the sandbox.
        api = HubSpot(access_token=SandboxKeys().hubspot, host=sb.url)
        companies = _hubspot_companies(api)
        assert {lid: c.id for lid, c in companies.items()} == ledger["hubspot"]
        for lid, company in companies.items():
            want = to_properties(by_id[lid])
            assert {k: company.properties.get(k) for k in want} == want, lid
            assert not {k for k, v in company.properties.items() if v} - {*want, ID_PROPERTY, "hs_object_id",
                "createdate", "hs_lastmodifieddate"}, lid  # fmt: skip
        contacts = _hubspot_contacts(api, sorted(ledger["hubspot"].values()))
        assert contacts == {
            ledger["hubspot"][lid]: sorted(lead["emails"]) for lid, lead in by_id.items() if lead["emails"]
        }

        # Salesforce, through simple-salesforce: SOQL on the Lead fields the mapping writes.
        sf = salesforce_for(sb.url)
        fields = (
            "Id, LeadLake_Id__c, Company, Website, Phone, City, State, LeadLake_Score__c, LeadLake_Tier__c"
        )
        rows = sf.query_all(f"SELECT {fields} FROM Lead")["records"]
        held = {r["LeadLake_Id__c"]: r for r in rows}
        assert len(held) == len(rows), "one Lead per lead"
        assert {lid: r["Id"] for lid, r in held.items()} == ledger["salesforce"]
        for lid, row in held.items():
            lead = by_id[lid]
            assert (row["Company"], row["Website"], row["Phone"]) == (
                lead["name"],
                lead["website"],
                lead["phone_e164"],
            )
            assert (row["City"], row["State"], row["LeadLake_Tier__c"]) == (lead["city"], lead["region"], "B")
            assert float(row["LeadLake_Score__c"]) == lead["lead_score"]
        one = sf.query("SELECT Id FROM Lead WHERE LeadLake_Id__c = 'L0042'")["records"]
        assert [r["Id"] for r in one] == [ledger["salesforce"]["L0042"]]

        # Nothing changed: a second run sends nothing to either, and both still read back the same.
        again = {r.destination: r.sent for r in run_stage(get_stage("delivery"), res, "d2").details}
        assert again == {"hubspot": 0, "salesforce": 0}
        assert {lid: c.id for lid, c in _hubspot_companies(api).items()} == ledger["hubspot"]
