"""The Account + Contact Salesforce mapping: parsing (no network), then writes against a real in-process
sandbox on 127.0.0.1 through both sObject Collections and Bulk API 2.0, read back by SOQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadlake.connectors.destinations.base import MappingError
from leadlake.connectors.destinations.salesforce import (
    ContactMapping,
    LeadMapping,
    SalesforceDestination,
    _csv_row,
)
from leadlake.sandbox import SandboxServer
from leadlake.sandbox.salesforce_store import CLIENT_ID, org_for

MAPPINGS = Path(__file__).parents[3] / "leadlake" / "connectors" / "destinations" / "mappings"
ACCOUNT_CONTACT = MAPPINGS / "salesforce_account_contact.yaml"


def _lead(i: int, emails: Any) -> dict[str, Any]:
    return {
        "lead_id": f"L{i:04d}",
        "name": f"Business {i}",
        "website": f"https://business{i}.com",
        "phone_e164": f"+1303555{i:04d}",
        "city": "Denver",
        "lead_score": 50.5,
        "priority_tier": "B",
        "providers": ["yelp"],
        "emails": emails,
    }


# --- parsing ----------


def test_the_example_file_maps_accounts_and_contacts() -> None:
    m = LeadMapping.load(ACCOUNT_CONTACT)
    assert (m.object, m.external_id, m.key_column) == ("Account", "LeadLake_Id__c", "lead_id")
    assert m.fields["name"].field == "Name" and m.fields["lead_score"].type == "number"
    assert m.contacts == ContactMapping(
        column="emails",
        object="Contact",
        external_id="LeadLake_Contact_Id__c",
        email_field="Email",
        relationship="Account",
        constants={"LastName": "[not provided]"},
    )
    assert m.contacts.target_fields() == ["LeadLake_Contact_Id__c", "Email", "LastName"]


def test_the_default_lead_mapping_has_no_contacts() -> None:
    assert LeadMapping.load().contacts is None
    assert SalesforceDestination.load_mapping(None).object == "Lead"


def test_contacts_are_one_per_distinct_email_linked_by_the_account_external_id() -> None:
    contacts = ContactMapping(constants={"LastName": "x"})
    lead = _lead(1, ["Owner@Biz.com", " owner@biz.com", "", None, "sales@biz.com"])
    assert contacts.to_records("L0001", "LeadLake_Id__c", lead) == [
        {
            "LeadLake_Contact_Id__c": "L0001:owner@biz.com",
            "Email": "Owner@Biz.com",
            "LastName": "x",
            "Account": {"LeadLake_Id__c": "L0001"},
        },
        {
            "LeadLake_Contact_Id__c": "L0001:sales@biz.com",
            "Email": "sales@biz.com",
            "LastName": "x",
            "Account": {"LeadLake_Id__c": "L0001"},
        },
    ]
    assert contacts.emails(_lead(2, None)) == [] and contacts.emails(_lead(3, "a@b.co")) == ["a@b.co"]


def test_the_payload_carries_the_contacts_so_an_email_change_sends_again() -> None:
    dest = SalesforceDestination(CLIENT_ID, "secret", base_url="http://127.0.0.1:9", mapping=ACCOUNT_CONTACT)
    one, two = dest.payload(_lead(1, ["a@b.co"])), dest.payload(_lead(1, ["a@b.co", "c@d.co"]))
    assert one["Name"] == "Business 1" and one["LeadLake_Id__c"] == "L0001"
    assert [c["Email"] for c in one["Contacts"]] == ["a@b.co"] and one != two


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"object": "Lead", "contacts": {}}, r"`contacts` go with `object: Account`"),
        ({"object": "Account", "contacts": ["emails"]}, r"`contacts` must be a mapping"),
        ({"object": "Account", "contacts": {"colum": "emails"}}, r"unknown key\(s\) colum"),
        ({"object": "Account", "contacts": {"email_field": 3}}, r"`contacts.email_field` must be a field"),
        ({"object": "Account", "contacts": {"constants": "x"}}, r"`contacts.constants` must map"),
    ],
)
def test_a_malformed_contacts_section_names_what_is_wrong(doc: dict[str, Any], message: str) -> None:
    base = {"external_id": {"column": "lead_id", "field": "LeadLake_Id__c"}, "fields": {"name": "Name"}}
    with pytest.raises(MappingError, match=message):
        LeadMapping.load({**base, **doc})


def test_a_relationship_becomes_a_dotted_bulk_column() -> None:
    record = {"LeadLake_Contact_Id__c": "L1:a@b.co", "Account": {"LeadLake_Id__c": "L1"}, "N": 2.0}
    assert _csv_row(record) == {
        "LeadLake_Contact_Id__c": "L1:a@b.co",
        "Account.LeadLake_Id__c": "L1",
        "N": "2",
    }


# --- against the sandbox ----------


@pytest.fixture()
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=1, businesses=10) as sb:
        yield sb


def _destination(sb: SandboxServer, **kw: Any) -> SalesforceDestination:
    return SalesforceDestination(
        CLIENT_ID, sb.keys.salesforce, base_url=sb.url, bulk_poll_s=0.02, backoff_factor=0.01, **kw
    )


@pytest.mark.parametrize("collections_max", [2000, 3], ids=["collections", "bulk"])
def test_accounts_and_their_contacts_land_once_and_read_back(
    sandbox: SandboxServer, collections_max: int
) -> None:
    dest = _destination(sandbox, mapping=ACCOUNT_CONTACT, collections_max=collections_max)
    leads = [_lead(i, [f"owner@b{i}.com"] + ([f"sales@b{i}.com"] if i % 2 else [])) for i in range(6)]
    leads[5]["emails"] = None
    first = dest.upsert(leads)
    assert (first.created, first.updated, first.failures) == (6, 0, {})
    again = dest.upsert(leads)  # upserts on the external ids: nothing new
    assert (again.created, again.updated) == (0, 6) and again.crm_ids == first.crm_ids
    org = org_for(sandbox)
    assert len(org.records("Account")) == 6 and not org.leads()
    contacts = dest.read_back_contacts([lead["lead_id"] for lead in leads])
    for lead in leads:
        held = contacts[lead["lead_id"]]
        assert sorted(c["Email"] for c in held) == sorted(lead["emails"] or [])
        assert {c["AccountId"] for c in held} <= {first.crm_ids[lead["lead_id"]]}
    assert len(org.records("Contact")) == sum(len(lead["emails"] or []) for lead in leads)
    assert all(c["_writes"] == 2 for c in org.records("Contact"))


def test_a_refused_contact_fails_its_lead_only(sandbox: SandboxServer) -> None:
    dest = _destination(sandbox, mapping=ACCOUNT_CONTACT)
    result = dest.upsert([_lead(1, ["ok@b1.com"]), _lead(2, ["not-an-email"])])
    assert set(result.crm_ids) == {"L0001"}
    assert "INVALID_EMAIL_ADDRESS" in result.failures["L0002"]


def test_a_missing_contact_field_stops_before_any_write(sandbox: SandboxServer) -> None:
    doc = LeadMapping.load(ACCOUNT_CONTACT)
    bad = LeadMapping(**{**doc.__dict__, "contacts": ContactMapping(email_field="Emial__c")})
    dest = _destination(sandbox, mapping=bad)
    with pytest.raises(MappingError, match=r"do not exist on Contact: Emial__c \(from the email\)"):
        dest.upsert([_lead(1, ["a@b.co"])])
    wrong_rel = LeadMapping(**{**doc.__dict__, "contacts": ContactMapping(relationship="Parent")})
    with pytest.raises(MappingError, match="no relationship Parent to Account"):
        _destination(sandbox, mapping=wrong_rel).validate_mapping()
    org = org_for(sandbox)
    assert not org.received and not org.records("Account") and not org.records("Contact")
