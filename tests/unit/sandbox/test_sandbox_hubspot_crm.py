"""The sandbox HubSpot beyond companies: the properties API, refusals of property values the way HubSpot
words them (unknown properties, invalid emails, an operator's reject rules), contacts upserted on email and
v4 contact-company associations, each driven by the official hubspot-api-client where it has a call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert

from leadlake.sandbox.faults import REJECT_ENV, RejectRule, parse_reject_rules
from leadlake.sandbox.server import SandboxKeys, SandboxServer

HEADERS = {"Authorization": f"Bearer {SandboxKeys().hubspot}"}
COMPANIES = "/crm/v3/objects/companies"
E164 = r"\+[1-9][0-9]{7,14}"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=1, businesses=10) as sb:
        sb.crm.rate_limit.configure(0)  # these tests are about answers, not pacing
        yield sb


def api(sb: SandboxServer) -> HubSpot:
    return HubSpot(access_token=SandboxKeys().hubspot, host=sb.url)


def upsert(sb: SandboxServer, inputs: list[dict[str, Any]], kind: str = "companies") -> httpx.Response:
    return httpx.post(
        f"{sb.url}/crm/v3/objects/{kind}/batch/upsert", json={"inputs": inputs}, headers=HEADERS, timeout=10
    )


def company(lead: str, **props: str) -> dict[str, Any]:
    return {"idProperty": "leadlake_id", "id": lead, "properties": {"name": f"Co {lead}", **props}}


def results_of(resp: httpx.Response) -> list[dict[str, Any]]:
    """The validation results HubSpot embeds as JSON in a VALIDATION_ERROR message."""
    body = resp.json()
    assert resp.status_code == 400 and body["category"] == "VALIDATION_ERROR", resp.text
    head, _, rest = body["message"].partition(": ")
    assert head == "Property values were not valid"
    return json.loads(rest)


def test_the_properties_api_describes_companies_and_contacts_through_the_official_client(
    sandbox: SandboxServer,
) -> None:
    companies = {p.name: p for p in api(sandbox).crm.properties.core_api.get_all("companies").results}
    assert {"name", "domain", "phone", "address", "state", "zip", "leadlake_score"} <= set(companies)
    assert companies["leadlake_id"].has_unique_value and not companies["leadlake_id"].hubspot_defined
    assert not companies["name"].has_unique_value and companies["name"].hubspot_defined
    assert companies["hs_object_id"].modification_metadata.read_only_value
    contacts = {p.name: p for p in api(sandbox).crm.properties.core_api.get_all("contacts").results}
    assert contacts["email"].has_unique_value and "firstname" in contacts and "domain" not in contacts
    one = api(sandbox).crm.properties.core_api.get_by_name("companies", "leadlake_id")
    assert one.name == "leadlake_id" and one.group_name == "leadlake"
    missing = httpx.get(f"{sandbox.url}/crm/v3/properties/companies/nope", headers=HEADERS, timeout=10)
    assert missing.status_code == 404 and missing.json()["message"] == "Property nope does not exist"
    odd = httpx.get(f"{sandbox.url}/crm/v3/properties/widgets", headers=HEADERS, timeout=10)
    assert odd.status_code == 400 and "widgets" in odd.json()["message"]


def test_an_unknown_property_refuses_the_whole_batch(sandbox: SandboxServer) -> None:
    resp = upsert(sandbox, [company("a"), company("b", leadlake_colour="red")])
    assert results_of(resp) == [
        {
            "isValid": False,
            "message": 'Property "leadlake_colour" does not exist',
            "error": "PROPERTY_DOESNT_EXIST",
            "name": "leadlake_colour",
            "localizedErrorMessage": 'Property "leadlake_colour" does not exist',
        }
    ]
    assert len(sandbox.crm) == 0, "nothing of a refused batch is written"
    not_unique = upsert(sandbox, [{"idProperty": "name", "id": "x", "properties": {}}])
    assert not_unique.status_code == 400 and "not a unique-value property" in not_unique.json()["message"]


def test_a_reject_rule_refuses_a_batch_naming_the_property_and_the_value(sandbox: SandboxServer) -> None:
    set_rules = httpx.post(
        f"{sandbox.url}/_sandbox/crm/rejects",
        json={"property": "phone", "pattern": E164, "error": "INVALID_PHONE_NUMBER"},
        timeout=10,
    )
    assert set_rules.status_code == 200 and set_rules.json()["rules"][0]["property"] == "phone"
    resp = upsert(sandbox, [company("a", phone="+13035550100"), company("b", phone="303-555-BAD")])
    (result,) = results_of(resp)
    assert (result["name"], result["error"]) == ("phone", "INVALID_PHONE_NUMBER")
    assert (
        result["message"] == f'303-555-BAD is not a valid value for property "phone" (it must match {E164})'
    )
    assert len(sandbox.crm) == 0
    assert upsert(sandbox, [company("a", phone="+13035550100"), company("c", phone="")]).status_code == 200
    # The rule guards single updates too, and only the object type it names.
    target = sandbox.crm.companies()[0]
    patch = httpx.patch(
        f"{sandbox.url}{COMPANIES}/{target['id']}",
        json={"properties": {"phone": "x"}},
        headers=HEADERS,
        timeout=10,
    )
    assert patch.status_code == 400 and '"name":"phone"' in patch.json()["message"]
    assert upsert(sandbox, [contact("p@a.com", phone="x")], "contacts").status_code == 200

    listed = httpx.get(f"{sandbox.url}/_sandbox/crm/rejects", timeout=10).json()["rules"]
    assert [r["pattern"] for r in listed] == [E164]
    assert httpx.delete(f"{sandbox.url}/_sandbox/crm/rejects", timeout=10).json() == {"rules": []}
    assert upsert(sandbox, [company("b", phone="303-555-BAD")]).status_code == 200


def test_bad_reject_rules_are_refused_with_what_is_wrong(sandbox: SandboxServer) -> None:
    for body, needle in (
        ({"property": "phone"}, "pattern"),
        ({"property": "phone", "pattern": "("}, "not a regex"),
        ({"property": "phone", "pattern": ".*", "object_type": "deals"}, "deals"),
        ({"property": "phone", "pattern": ".*", "colour": "red"}, "colour"),
        ("phone", "a rule object"),
    ):
        resp = httpx.post(f"{sandbox.url}/_sandbox/crm/rejects", json=body, timeout=10)
        assert resp.status_code == 400 and needle in resp.json()["error"], (body, resp.text)
    assert sandbox.crm.reject_rules == ()


def test_reject_rules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        REJECT_ENV, json.dumps([{"property": "email", "pattern": ".*@ok\\.com", "object_type": "contacts"}])
    )
    with SandboxServer(seed=1, businesses=10) as sb:
        assert sb.crm.reject_rules == (RejectRule("email", ".*@ok\\.com", "contacts"),)
    monkeypatch.setenv(REJECT_ENV, "{not json")
    with pytest.raises(ValueError, match=REJECT_ENV):
        SandboxServer(seed=1, businesses=10)
    assert parse_reject_rules({"rules": [{"property": "zip", "pattern": "[0-9]{5}"}]})[0].refuses("ABCDE")


def contact(email: str, **props: str) -> dict[str, Any]:
    return {"idProperty": "email", "id": email, "properties": {"email": email, **props}}


def test_contacts_upsert_on_email_and_associate_to_companies(sandbox: SandboxServer) -> None:
    client = api(sandbox)
    (co,) = upsert(sandbox, [company("L1")]).json()["results"]
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[contact("Ann@Example.com", firstname="Ann"), contact("bob@example.com")]
    )
    first = client.crm.contacts.batch_api.upsert(body)
    again = client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[contact("ann@example.com", jobtitle="Owner")])
    )
    ann = next(r for r in first.results if r.properties["email"] == "ann@example.com")
    assert again.results[0].id == ann.id, "email is the key, compared case-insensitively"
    assert (
        again.results[0].properties["firstname"] == "Ann"
        and again.results[0].properties["jobtitle"] == "Owner"
    )

    inputs = [
        PublicDefaultAssociationMultiPost(_from=PublicObjectId(id=r.id), to=PublicObjectId(id=co["id"]))
        for r in first.results
    ]
    made = client.crm.associations.v4.batch_api.create_default(
        "contacts", "companies", BatchInputPublicDefaultAssociationMultiPost(inputs=inputs)
    )
    assert {(r.association_spec.association_type_id, r.to.id) for r in made.results} == {(279, co["id"])}
    read = client.crm.associations.v4.batch_api.get_page(
        "companies",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=co["id"])]
        ),
    )
    (row,) = read.results
    assert sorted(t.to_object_id for t in row.to) == sorted(r.id for r in first.results)
    assert {a.type_id for t in row.to for a in t.association_types} == {280}
    listed = client.crm.associations.v4.basic_api.get_page("contacts", ann.id, "companies")
    assert [r.to_object_id for r in listed.results] == [co["id"]]
    by_email = client.crm.contacts.basic_api.get_by_id(
        "ann@example.com", id_property="email", properties=["jobtitle"]
    )
    assert by_email.id == ann.id and by_email.properties["jobtitle"] == "Owner"
    admin = {
        c["properties"]["email"]: c
        for c in httpx.get(f"{sandbox.url}/_sandbox/crm/contacts", timeout=10).json()
    }
    assert admin["ann@example.com"]["companies"] == [co["id"]] and admin["ann@example.com"]["writes"] == 2

    bad = upsert(sandbox, [contact("not-an-email")], "contacts")
    assert results_of(bad)[0] | {"localizedErrorMessage": None} == {
        "isValid": False, "message": "Email address not-an-email is invalid", "error": "INVALID_EMAIL",
        "name": "email", "localizedErrorMessage": None,
    }  # fmt: skip
    unknown = httpx.post(
        f"{sandbox.url}/crm/v4/associations/contacts/companies/batch/associate/default",
        json={"inputs": [{"from": {"id": ann.id}, "to": {"id": "123"}}]},
        headers=HEADERS,
        timeout=10,
    )
    assert unknown.status_code == 207 and unknown.json()["errors"][0]["context"]["ids"] == ["123"]


def test_a_merge_moves_contacts_to_the_surviving_company_and_the_state_file_keeps_them(
    tmp_path: Path,
) -> None:
    state = tmp_path / "crm.json"
    with SandboxServer(seed=1, businesses=10, state_path=state) as sb:
        sb.crm.rate_limit.configure(0)
        a, b = (r["id"] for r in upsert(sb, [company("A"), company("B")]).json()["results"])
        (person,) = upsert(sb, [contact("c@b.com")], "contacts").json()["results"]
        sb.crm.associate("contacts", "companies", [(person["id"], b)])
        sb.crm.merge(a, b)
        assert sb.crm.associations_of("contacts", person["id"], "companies") == [(a, [279])]
    with SandboxServer(seed=1, businesses=10, state_path=state) as again:
        assert again.crm.associations_of("companies", a, "contacts") == [(person["id"], [280])]
        assert again.crm.get_contact("C@B.com", "email")["id"] == person["id"]
