"""The sandbox speaks Salesforce REST: OAuth, describe, upsert on an external id, sObject Collections, Bulk
API 2.0 and SOQL; simple-salesforce drives it unchanged (its https URLs mapped to the sandbox's http)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest
from support.salesforce import salesforce_client

from leadlake.sandbox import SandboxKeys, SandboxServer
from leadlake.sandbox.salesforce_store import (
    CLIENT_ID,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    SoqlError,
    org_for,
    parse_soql,
    salesforce_id,
)

API = "/services/data/v60.0"


@pytest.fixture()
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=1, businesses=10) as sb:
        yield sb


def login(sb: SandboxServer, **form: str) -> dict[str, Any]:
    body = {
        "grant_type": "password",
        "client_id": CLIENT_ID,
        "client_secret": sb.keys.salesforce,
        "username": USERNAME,
        "password": PASSWORD + SECURITY_TOKEN,
        **form,
    }
    return requests.post(f"{sb.url}/services/oauth2/token", data=body, timeout=10).json()


def test_the_salesforce_key_derives_from_the_route_registry() -> None:
    assert SandboxKeys().salesforce == "sandbox-salesforce-secret"


def test_oauth_grants_and_their_refusals(sandbox: SandboxServer) -> None:
    token = login(sandbox)
    assert token["instance_url"] == sandbox.url and token["token_type"] == "Bearer"
    assert {"access_token", "issued_at", "signature", "id", "refresh_token"} <= set(token)
    url = f"{sandbox.url}/services/oauth2/token"
    creds = (CLIENT_ID, sandbox.keys.salesforce)
    basic = requests.post(url, data={"grant_type": "client_credentials"}, auth=creds, timeout=10)
    assert basic.status_code == 200 and "refresh_token" not in basic.json()
    refreshed = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": CLIENT_ID},
        timeout=10,
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != token["access_token"]
    bad = requests.post(url, data={"grant_type": "client_credentials", "client_id": CLIENT_ID}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    assert login(sandbox, password="wrong") == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }
    assert login(sandbox, grant_type="authorization_code")["error"] == "unsupported_grant_type"


def test_simple_salesforce_upserts_one_lead_and_queries_it_back(sandbox: SandboxServer) -> None:
    sf = salesforce_client(login(sandbox))
    values = {
        "Company": "Acme Plumbing",
        "LastName": "Doe",
        "Phone": "+13035550100",
        "LeadLake_Score__c": 72.5,
    }
    assert sf.Lead.upsert("LeadLake_Id__c/L-1", values) == 201
    assert (
        sf.Lead.upsert("LeadLake_Id__c/L-1", {"City": "Denver"}) == 200
    )  # updated (v46.0+: 200 with a body)
    found = sf.query(
        "SELECT Id, Company, City, LeadLake_Score__c, LeadLake_Id__c FROM Lead WHERE LeadLake_Id__c = 'L-1'"
    )
    assert found["totalSize"] == 1 and found["done"] is True
    (row,) = found["records"]
    assert (row["Company"], row["City"], row["LeadLake_Score__c"], row["LeadLake_Id__c"]) == (
        "Acme Plumbing",
        "Denver",
        72.5,
        "L-1",
    )
    assert row["attributes"]["type"] == "Lead" and row["Id"].startswith("00Q") and len(row["Id"]) == 18
    assert sf.Lead.get_by_custom_id("LeadLake_Id__c", "L-1")["Id"] == row["Id"]
    assert sf.Lead.get(row["Id"])["Phone"] == "+13035550100"
    (lead,) = org_for(sandbox).leads()
    assert lead["_writes"] == 2 and lead["Status"] == "Open - Not Contacted"
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert {"Company", "LastName", "Phone", "Website", "Email", "Industry", "Rating", "LeadSource"} <= set(
        fields
    )
    assert fields["LeadLake_Id__c"]["externalId"] and fields["LeadLake_Id__c"]["unique"]
    # An unknown field or a missing required one: Salesforce's 400 with its error code.
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.upsert("LeadLake_Id__c/L-2", {"Company": "X", "LastName": "Y", "Nope__c": 1})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.upsert("LeadLake_Id__c/L-2", {"Company": "X"})
    assert info.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert len(org_for(sandbox)) == 1


def test_collections_upsert_reports_each_record(sandbox: SandboxServer) -> None:
    org = org_for(sandbox)
    org.reject_malformed_phones = True
    sf = salesforce_client(login(sandbox))

    def rec(i: int, **extra: Any) -> dict[str, Any]:
        return {
            "attributes": {"type": "Lead"},
            "LeadLake_Id__c": f"C{i}",
            "Company": f"Co {i}",
            "LastName": "L",
            **extra,
        }

    records = [rec(i, Phone=f"+1303555{i:04d}") for i in range(10)]
    records[3]["Phone"] = "555-CALL-NOW"
    records[7]["Bogus__c"] = "x"
    reply = sf.restful(
        "composite/sobjects/Lead/LeadLake_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["success"] for r in reply] == [i not in (3, 7) for i in range(10)]
    assert reply[3]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert reply[3]["errors"][0]["fields"] == ["Phone"]
    assert reply[7]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert all(r["created"] for i, r in enumerate(reply) if i not in (3, 7))
    assert len(org) == 8
    again = sf.restful(
        "composite/sobjects/Lead/LeadLake_Id__c", method="PATCH", json={"allOrNone": True, "records": records}
    )
    assert {e["statusCode"] for r in again for e in r["errors"]} >= {"ALL_OR_NONE_OPERATION_ROLLED_BACK"}
    assert all(lead["_writes"] == 1 for lead in org.leads()), "allOrNone rolled every record back"
    too_many = requests.patch(
        f"{sandbox.url}{API}/composite/sobjects/Lead/LeadLake_Id__c",
        json={"records": [rec(i) for i in range(201)]},
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=10,
    )
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_bulk_api_2_upsert_through_simple_salesforce(sandbox: SandboxServer) -> None:
    org = org_for(sandbox)
    org.reject_malformed_phones = True
    sf = salesforce_client(login(sandbox))
    rows = [
        {"LeadLake_Id__c": f"B{i}", "Company": f"Co, {i}", "LastName": "L", "Phone": "+13035550100"}
        for i in range(50)
    ]
    rows[10]["Phone"] = "12"
    (job,) = sf.bulk2.Lead.upsert(records=rows, external_id_field="LeadLake_Id__c", wait=0.05)
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (50, 1)
    results = sf.bulk2.Lead.get_all_ingest_records(job["job_id"])
    assert len(results["successfulRecords"]) == 49
    (failed,) = results["failedRecords"]
    assert failed["LeadLake_Id__c"] == "B10" and failed["sf__Error"].startswith(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:"
    )
    assert org.by_external_id("B5")["Company"] == "Co, 5"
    (again,) = sf.bulk2.Lead.upsert(records=rows[:5], external_id_field="LeadLake_Id__c", wait=0.05)
    ok = sf.bulk2.Lead.get_all_ingest_records(again["job_id"])["successfulRecords"]
    assert [r["sf__Created"] for r in ok] == ["false"] * 5 and len(org) == 49


def test_soql_paging_and_parsing(sandbox: SandboxServer) -> None:
    sf = salesforce_client(login(sandbox))
    records = [
        {"attributes": {"type": "Lead"}, "LeadLake_Id__c": f"Q{i:04d}", "Company": f"Co {i}", "LastName": "L"}
        for i in range(450)
    ]
    for start in range(0, 450, 200):
        sf.restful(
            "composite/sobjects/Lead/LeadLake_Id__c",
            method="PATCH",
            json={"allOrNone": False, "records": records[start : start + 200]},
        )
    first = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})
    assert (first["totalSize"], len(first["records"]), first["done"]) == (450, 200, False)
    assert first["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
    assert len(sf.query_all("SELECT Id, Company FROM Lead")["records"]) == 450
    assert sf.query("SELECT COUNT() FROM Lead WHERE LastName = 'l'")["totalSize"] == 450  # case-insensitive
    picked = sf.query(
        "SELECT LeadLake_Id__c FROM Lead WHERE LeadLake_Id__c IN ('Q0001', 'Q0002', 'nope') "
        "AND Company != 'Co 2' ORDER BY LeadLake_Id__c DESC LIMIT 5"
    )
    assert [r["LeadLake_Id__c"] for r in picked["records"]] == ["Q0001"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Nope__c FROM Lead")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    for bad in ("SELECT FROM Lead", "SELECT Id FROM Lead WHERE", "SELECT Id FROM Lead LIMIT x"):
        with pytest.raises(SoqlError):
            parse_soql(bad)
    with pytest.raises(SoqlError, match="not supported"):
        parse_soql("SELECT Id FROM Account")
    assert parse_soql(r"SELECT Id FROM Lead WHERE Company = 'O\'Brien'").where[0].values == ("O'Brien",)


def test_expired_sessions_answer_invalid_session_id(sandbox: SandboxServer) -> None:
    org = org_for(sandbox)
    org.token_ttl_s = 0.2
    sf = salesforce_client(login(sandbox))
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    time.sleep(0.3)
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT COUNT() FROM Lead")
    assert info.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    org.token_ttl_s = 60
    sf = salesforce_client(login(sandbox))
    org.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.Lead.describe()


def test_faults_have_salesforce_shapes() -> None:
    from leadlake.sandbox.faults import Faults

    with SandboxServer(seed=1, businesses=10, faults=Faults(rate_429=1.0, retry_after_s=3)) as sb:
        resp = requests.get(f"{sb.url}{API}/sobjects/Lead/describe", timeout=10)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
        assert resp.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]


def test_ids_are_18_characters_with_the_case_safe_suffix() -> None:
    assert salesforce_id("00Q", 1) == "00Q000000000001EAA"
    assert len({salesforce_id("00Q", n) for n in range(1000)}) == 1000
