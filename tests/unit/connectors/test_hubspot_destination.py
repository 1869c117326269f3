"""The HubSpot destination against the sandbox HubSpot (real HTTP through the official client): its mapping
is data checked against the properties API before any write, and leads with emails become contacts
associated to their company."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from support.pipeline import GOLD_LEAD_SCHEMA, gold_leads

from leadlake.connectors.destinations.base import DeliveryError, MappingError
from leadlake.connectors.destinations.hubspot import (
    DEFAULT_MAPPING,
    FIELD_MAP,
    PROPERTY_READ_ATTEMPTS,
    HubSpotDestination,
    HubSpotMapping,
    to_properties,
)
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_DELIVERY_DEAD_LETTERS, GOLD_SCORED_LEADS
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer
from leadlake.stages.delivery.deliver import deliver

SCHEMA = GOLD_LEAD_SCHEMA.append(pa.field("emails", pa.list_(pa.string())))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=1, businesses=10) as sb:
        sb.crm.rate_limit.configure(0)
        yield sb


def destination(sb: SandboxServer, **kw: Any) -> HubSpotDestination:
    return HubSpotDestination(SandboxKeys().hubspot, sb.url, **kw)


def leads_with_emails(n: int) -> list[dict[str, Any]]:
    rows = gold_leads(n)
    for i, row in enumerate(rows):
        row["emails"] = [f"owner@business{i}.com", f"Office@Business{i}.com"] if i % 2 == 0 else None
    return rows


def write(lake: Lakehouse, rows: list[dict[str, Any]]) -> None:
    lake.overwrite(GOLD_SCORED_LEADS, pa.Table.from_pylist(rows, schema=SCHEMA))


def upserts(sb: SandboxServer) -> int:
    return sum(
        n for name, n in sb.stats()["routes"].items() if "atchUpsert" in name or "associations.create" in name
    )


def test_the_default_mapping_is_the_yaml_file_and_maps_what_it_always_did() -> None:
    mapping = HubSpotMapping.load()
    assert mapping == HubSpotMapping.load(DEFAULT_MAPPING)
    assert (mapping.key_column, mapping.id_property) == ("lead_id", "leadlake_id")
    assert FIELD_MAP["phone_e164"] == "phone" and FIELD_MAP["region"] == "state"
    assert to_properties(
        {"phone_e164": "+13035550100", "providers": ["yelp", "google_places"], "city": None}
    ) == {
        "phone": "+13035550100",
        "leadlake_sources": "yelp; google_places",
    }
    assert mapping.contacts is not None and mapping.contacts.emails_from == ("emails", "email")
    assert mapping.contacts.emails(
        {"emails": [" A@x.com", "a@X.com", None], "email": "b@x.com; c@x.com"}
    ) == [
        "a@x.com",
        "b@x.com",
        "c@x.com",
    ]


def test_a_malformed_mapping_says_which_entry_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "hubspot.yaml"
    bad.write_text("companies:\n  fields:\n    name: {join: ', '}\n")
    with pytest.raises(MappingError, match="gold column 'name'"):
        HubSpotMapping.load(bad)
    bad.write_text("contacts: {}\n")
    with pytest.raises(MappingError, match="companies"):
        HubSpotMapping.load(bad)


def test_a_mapping_to_a_property_hubspot_lacks_stops_before_any_write(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    write(lake, leads_with_emails(5))
    custom = {"companies": {"fields": {"name": "name", "vertical": "leadlake_vertical"}}}
    dest = destination(sandbox).with_mapping(custom)
    with pytest.raises(MappingError) as caught:
        dest.validate_mapping()
    assert "leadlake_vertical (from gold column 'vertical')" in str(caught.value)
    assert "do not exist on companies" in str(caught.value) and "nothing was written" in str(caught.value)

    report = deliver(lake, dest, "d1")
    assert report.sent == 0 and report.failed == 5
    assert any("leadlake_vertical" in e for e in report.errors), report.errors
    assert upserts(sandbox) == 0 and len(sandbox.crm) == 0, "nothing was sent"
    assert not lake.exists(GOLD_CRM_DELIVERIES) or lake.read(GOLD_CRM_DELIVERIES).num_rows == 0

    contacts_off = {"contacts": {"fields": {"name": "company", "title": "leadlake_title"}}}
    with pytest.raises(MappingError, match="on contacts: leadlake_title"):
        destination(sandbox).with_mapping(contacts_off).validate_mapping()


def test_a_wrong_token_is_named_as_refused_credentials(sandbox: SandboxServer) -> None:
    dest = HubSpotDestination("wrong-token", sandbox.url)
    with pytest.raises(DeliveryError) as caught:
        dest.test_connection()
    assert caught.value.status == 401 and "refused our credentials" in str(caught.value)
    destination(sandbox).test_connection()
    assert {"leadlake_id", "name", "phone"} <= destination(sandbox).describe_fields()


def test_leads_with_emails_become_contacts_associated_to_their_company(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    rows = leads_with_emails(6)
    write(lake, rows)
    dest = destination(sandbox)
    report = deliver(lake, dest, "d1")
    assert (report.sent, report.failed) == (6, 0), report.errors
    companies = {c["properties"]["leadlake_id"]: c["id"] for c in sandbox.crm.companies()}
    contacts = {c["properties"]["email"]: c for c in sandbox.crm.contacts()}
    assert set(contacts) == {f"{who}@business{i}.com" for i in (0, 2, 4) for who in ("owner", "office")}
    for i in (0, 2, 4):
        for who in ("owner", "office"):
            person = contacts[f"{who}@business{i}.com"]
            assert person["companies"] == [companies[f"L{i:04d}"]]
            assert person["properties"]["company"] == f"Business {i}"
            assert person["properties"]["leadlake_id"] == f"L{i:04d}"

    back = dest.read_back([f"L{i:04d}" for i in range(6)] + ["nobody"])
    assert set(back) == {f"L{i:04d}" for i in range(6)}
    assert back["L0002"]["contacts"] == ["office@business2.com", "owner@business2.com"]
    assert back["L0001"]["contacts"] == [] and back["L0001"]["id"] == companies["L0001"]
    assert back["L0003"]["phone"] == "+13035550003"

    # A changed email changes the payload: the lead is sent again and its new contact joins the company.
    before = dest.payload(rows[1])
    rows[1]["emails"] = ["new@business1.com"]
    assert dest.payload(rows[1]) != before
    write(lake, rows)
    again = deliver(lake, dest, "d2")
    assert (again.sent, again.unchanged) == (1, 5)
    assert dest.read_back(["L0001"])["L0001"]["contacts"] == ["new@business1.com"]
    assert all(c["writes"] == 1 for c in sandbox.crm.companies() if c["properties"]["leadlake_id"] != "L0001")


def test_a_contact_hubspot_refuses_dead_letters_its_lead_and_the_rest_arrive(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    rows = leads_with_emails(8)
    rows[4]["emails"] = ["owner@business4"]  # no top-level domain: HubSpot's INVALID_EMAIL
    write(lake, rows)
    report = deliver(lake, destination(sandbox), "d1")
    assert (report.sent, report.dead_lettered) == (7, 1), report.errors
    (dead,) = lake.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()
    assert dead["lead_id"] == "L0004"
    assert "HTTP 400" in dead["error"] and "Email address owner@business4 is invalid" in dead["error"]
    emails = {c["properties"]["email"] for c in sandbox.crm.contacts()}
    assert {"owner@business0.com", "owner@business2.com", "owner@business6.com"} <= emails
    assert not any("business4" in e for e in emails)


def test_a_malformed_properties_reply_is_read_again_before_it_stops_the_destination() -> None:
    with SandboxServer(seed=1, businesses=10, faults=Faults(rate_malformed=1.0)) as sb:
        sb.crm.rate_limit.configure(0)
        with pytest.raises(DeliveryError) as caught:
            destination(sb).validate_mapping()
        assert "malformed reply" in str(caught.value) and not caught.value.refused
        assert sb.stats()["routes"]["hubspot.properties.list"] == PROPERTY_READ_ATTEMPTS


def test_a_malformed_search_reply_is_read_again_before_the_feedback_pull_stops() -> None:
    with SandboxServer(seed=1, businesses=10, faults=Faults(rate_malformed=1.0)) as sb:
        sb.crm.rate_limit.configure(0)
        with pytest.raises(DeliveryError) as caught:
            list(destination(sb).pull_feedback())
        assert "malformed reply" in str(caught.value) and not caught.value.refused
        assert sb.stats()["routes"]["hubspot.search"] == PROPERTY_READ_ATTEMPTS
