"""SalesforceDestination against a real sandbox on 127.0.0.1 (no mocks): collections and Bulk API 2.0
upserts, read back by SOQL, idempotent reruns, per-lead refusals, mapping checks, token expiry, faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadlake.connectors.destinations.base import DeliveryError, Destination, MappingError
from leadlake.connectors.destinations.salesforce import LeadMapping, SalesforceDestination
from leadlake.sandbox import Faults, SandboxServer
from leadlake.sandbox.salesforce_store import CLIENT_ID, PASSWORD, SECURITY_TOKEN, USERNAME, org_for


@pytest.fixture()
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=1, businesses=10) as sb:
        yield sb


def destination(sb: SandboxServer, **kw: Any) -> SalesforceDestination:
    return SalesforceDestination(
        CLIENT_ID,
        sb.keys.salesforce,
        username=USERNAME,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
        base_url=sb.url,
        bulk_poll_s=0.02,
        backoff_factor=0.01,
        **kw,
    )


def gold_leads(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "lead_id": f"L{i:05d}",
            "name": f"Business {i}",
            "website": f"https://business{i}.com",
            "domain": f"business{i}.com",
            "phone_e164": f"+1303555{i % 10000:04d}",
            "address_line1": f"{i} Main St",
            "city": "Denver",
            "region": "CO",
            "postal": "80202",
            "country": "US",
            "vertical": "home_services",
            "providers": ["google_places", "yelp"],
            "lead_score": float(i % 100) + 0.5,
            "priority_tier": "ABC"[i % 3],
            "score_reasons": ["rating>=4.3", "has website"],
            "lat": 39.7,
        }
        for i in range(start, start + n)
    ]


def assert_read_back_matches(dest: SalesforceDestination, leads: list[dict[str, Any]]) -> None:
    back = dest.read_back(lead["lead_id"] for lead in leads)
    assert len(back) == len(leads)
    for lead in leads:
        sent = dest.mapping.to_record(lead)
        got = back[lead["lead_id"]]
        assert {k: got[k] for k in sent} == sent


def test_it_is_a_destination_and_connects(sandbox: SandboxServer) -> None:
    dest = destination(sandbox)
    assert isinstance(dest, Destination)
    dest.test_connection()
    assert {"Company", "Phone", "LeadLake_Id__c", "LeadLake_Score__c"} <= dest.describe_fields()
    bad = SalesforceDestination(CLIENT_ID, "wrong-secret", base_url=sandbox.url)
    with pytest.raises(DeliveryError, match="invalid client credentials") as info:
        bad.test_connection()
    assert info.value.refused


def test_default_mapping_follows_the_spec_table() -> None:
    mapping = LeadMapping.load()
    assert mapping.external_id == "LeadLake_Id__c" and mapping.key_column == "lead_id"
    record = mapping.to_record(gold_leads(1, start=7)[0] | {"website": None})
    assert record["Company"] == "Business 7" and record["Phone"] == "+13035550007"
    assert record["LeadLake_Score__c"] == 7.5 and record["LeadLake_Sources__c"] == "google_places; yelp"
    assert record["LastName"] == "[not provided]" and "Website" not in record


def test_collections_upsert_reads_back_and_reruns_update(sandbox: SandboxServer) -> None:
    dest = destination(sandbox)
    leads = gold_leads(250)
    first = dest.upsert(leads)
    assert (first.created, first.updated, first.failures) == (250, 0, {})
    assert len(first.crm_ids) == 250 and all(v.startswith("00Q") for v in first.crm_ids.values())
    assert "salesforce.jobCreate" not in sandbox.stats()["routes"]
    assert len(org_for(sandbox).received) == 250  # two collection requests, each record once
    assert_read_back_matches(dest, leads)
    changed = [lead | {"lead_score": 99.0} for lead in leads]
    second = dest.upsert(changed)
    assert (second.created, second.updated) == (0, 250) and second.crm_ids == first.crm_ids
    org = org_for(sandbox)
    assert len(org) == 250 and all(lead["_writes"] == 2 for lead in org.leads())
    assert_read_back_matches(dest, changed)


def test_bulk_upsert_above_the_collections_threshold(sandbox: SandboxServer) -> None:
    dest = destination(sandbox)
    leads = gold_leads(3000)
    first = dest.upsert(leads)
    assert (first.created, first.updated, len(first.crm_ids), first.failures) == (3000, 0, 3000, {})
    routes = sandbox.stats()["routes"]  # (counted after each reply is written: the last may lag)
    assert routes["salesforce.jobCreate"] == 1 and "salesforce.collectionsUpsert" not in routes
    assert_read_back_matches(dest, leads)
    second = dest.upsert(leads)
    assert (second.created, second.updated) == (0, 3000) and second.crm_ids == first.crm_ids
    assert len(org_for(sandbox)) == 3000


@pytest.mark.parametrize("collections_max", [2000, 10], ids=["collections", "bulk"])
def test_a_malformed_phone_fails_its_lead_only(sandbox: SandboxServer, collections_max: int) -> None:
    org_for(sandbox).reject_malformed_phones = True
    dest = destination(sandbox, collections_max=collections_max)
    leads = gold_leads(40)
    leads[5]["phone_e164"] = "303-555-CALL"
    result = dest.upsert(leads)
    assert list(result.failures) == ["L00005"]
    assert result.failures["L00005"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone must be in E.164")
    assert result.failures["L00005"].endswith("(Phone)")
    assert len(result.crm_ids) == 39 and "L00005" not in result.crm_ids
    assert len(org_for(sandbox)) == 39
    assert_read_back_matches(dest, leads[:5] + leads[6:])


def test_a_mapping_to_a_missing_field_is_refused_before_any_write(sandbox: SandboxServer) -> None:
    mapping = {
        "object": "Lead",
        "external_id": {"column": "lead_id", "field": "LeadLake_Id__c"},
        "fields": {"name": "Company", "lead_score": {"field": "Lead_Score__c", "type": "number"}},
        "constants": {"LastName": "x"},
    }
    dest = destination(sandbox, mapping=mapping)
    with pytest.raises(MappingError, match=r"Lead_Score__c \(from gold column 'lead_score'\)") as info:
        dest.upsert(gold_leads(3))
    assert info.value.refused and "nothing was written" in str(info.value)
    assert len(org_for(sandbox)) == 0
    assert not {"salesforce.collectionsUpsert", "salesforce.jobCreate"} & set(sandbox.stats()["routes"])


def test_an_expired_session_is_refreshed(sandbox: SandboxServer) -> None:
    org = org_for(sandbox)
    dest = destination(sandbox)
    dest.upsert(gold_leads(5))
    org.expire_sessions()
    assert dest.upsert(gold_leads(5, start=5)).created == 5
    org.expire_sessions()
    assert dest.upsert(gold_leads(3000, start=10)).created == 3000  # bulk after an expiry too
    stats = sandbox.stats()
    assert stats["routes"]["salesforce.token"] == 3 and stats["status"]["401"] == 2
    assert len(org) == 3010


def test_twenty_percent_faults_still_converge() -> None:
    faults = Faults.from_rate(0.2, retry_after_s=0)
    with SandboxServer(seed=5, businesses=10, faults=faults) as sb:
        dest = destination(sb, attempts=10)
        small, big = gold_leads(450), gold_leads(2500, start=450)
        assert len(dest.upsert(small).crm_ids) == 450
        assert len(dest.upsert(big).crm_ids) == 2500
        served = sb.stats()["faults"]
        assert served.get("429", 0) + served.get("5xx", 0) + served.get("malformed", 0) > 0
        org = org_for(sb)
        assert len(org) == 2950
        assert_read_back_matches(dest, small + big)
