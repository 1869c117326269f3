"""The sandbox CRM gives delivered companies a life: seeded, with a realistic ceiling AUC, read through
HubSpot's CRM v3 search API (filters, one sort, offset paging, the 10,000 cap) and kept in a state file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadlake.sandbox import SandboxKeys, SandboxServer
from leadlake.sandbox import crm as crm_module
from leadlake.sandbox.crm import epoch_ms
from leadlake.sandbox.outcomes import QUALIFIED_STAGES, OutcomeSimulator, auc, street_key
from leadlake.sandbox.world import World
from leadlake.sandbox.world.formats import abbreviate_street

HEADERS = {"Authorization": f"Bearer {SandboxKeys().hubspot}"}
COMPANIES = "/crm/v3/objects/companies"


def deliver_world(server: SandboxServer, n: int | None = None) -> list[str]:
    """Upsert the world's businesses as delivered companies (lead id = business id); returns the ids."""
    ids = []
    businesses = server.world.businesses[:n] if n else server.world.businesses
    for start in range(0, len(businesses), 100):
        inputs = [
            {
                "idProperty": "leadlake_id",
                "id": f"lead-{b.business_id}",
                "properties": {"name": b.name, "city": b.city, "phone": b.phone or "", "domain": ""},
            }
            for b in businesses[start : start + 100]
        ]
        server.crm.upsert(inputs)
        ids += [i["id"] for i in inputs]
    return ids


def search(server: SandboxServer, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else HEADERS
    return httpx.post(f"{server.url}{COMPANIES}/search", json=body, headers=headers, timeout=30)


def stages(server: SandboxServer) -> dict[str, str | None]:
    return {
        c["properties"]["leadlake_id"]: c["properties"].get("lifecyclestage") for c in server.crm.companies()
    }


def test_lives_are_deterministic_per_seed() -> None:
    runs = []
    for _ in range(2):
        with SandboxServer(seed=5, businesses=200) as server:
            deliver_world(server)
            done = httpx.post(f"{server.url}/_sandbox/crm/advance", json={"days": 60}, timeout=30).json()
            truth = httpx.get(f"{server.url}/_sandbox/crm/propensity", timeout=30).json()
            runs.append(
                (
                    stages(server),
                    done["events"],
                    {c["leadlake_id"]: c["propensity"] for c in truth["companies"]},
                )
            )
    assert runs[0] == runs[1]
    assert len(set(runs[0][0].values())) >= 4
    with SandboxServer(seed=6, businesses=200) as other:
        deliver_world(other)
        other.advance(60)
        assert stages(other) != runs[0][0]


def test_the_ceiling_auc_is_realistic() -> None:
    with SandboxServer(seed=11, businesses=2000) as server:
        deliver_world(server)
        server.advance(120)
        truth = httpx.get(f"{server.url}/_sandbox/crm/propensity", timeout=60).json()
        assert 0.75 <= truth["ceiling_auc"] <= 0.85, truth["ceiling_auc"]
        assert sum(c["business_id"] is not None for c in truth["companies"]) >= 1950  # found in the world
        # What the CRM shows after 120 days agrees with the hidden destiny: the ceiling is measurable.
        observed = {}
        for company in server.crm.companies():
            props = company["properties"]
            created = epoch_ms(props["createdate"])
            entered = [epoch_ms(props.get(f"hs_v2_date_entered_{s}")) for s in QUALIFIED_STAGES]
            observed[props["leadlake_id"]] = any(
                e is not None and e - created <= 90 * 86_400_000 for e in entered
            )
        rows = truth["companies"]
        assert [observed[c["leadlake_id"]] for c in rows] == [c["qualified_90d"] for c in rows]
        rate = sum(observed.values()) / len(observed)
        assert 0.08 <= rate <= 0.3, rate
        value = auc([c["propensity"] for c in rows], [observed[c["leadlake_id"]] for c in rows])
        assert value is not None and 0.75 <= value <= 0.85


def test_search_filters_sorts_and_pages_like_hubspot() -> None:
    with SandboxServer(seed=3, businesses=300) as server:
        deliver_world(server)
        before = server.crm.now()
        server.advance(45)
        since = str(int(before.timestamp() * 1000))
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since},
                        {"propertyName": "leadlake_id", "operator": "HAS_PROPERTY"},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["leadlake_id", "lifecyclestage", "hs_lead_status"],
            "limit": 7,
        }
        seen, after, pages = [], None, 0
        while True:
            page = search(server, body | ({"after": after} if after else {}))
            assert page.status_code == 200, page.text
            doc = page.json()
            seen += doc["results"]
            pages += 1
            after = doc.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        changed = [c for c in server.crm.companies() if c["properties"].get("lifecyclestage")
                   or c["properties"].get("hs_lead_status")]  # fmt: skip
        assert doc["total"] == len(seen) == len(changed) > 0 and pages == -(-len(seen) // 7)
        stamps = [epoch_ms(c["properties"]["hs_lastmodifieddate"]) for c in seen]
        assert stamps == sorted(stamps) and min(stamps) >= int(since)
        assert {"leadlake_id", "lifecyclestage", "hs_object_id", "createdate"} <= set(seen[0]["properties"])
        assert "name" not in seen[0]["properties"]  # only the properties asked for, and the system ones

        # OR of groups, IN, EQ on a string, descending sort.
        either = search(
            server,
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]},
                    {
                        "filters": [
                            {
                                "propertyName": "lifecyclestage",
                                "operator": "IN",
                                "values": ["opportunity", "salesqualifiedlead"],
                            }
                        ]
                    },  # fmt: skip
                ],
                "sorts": ["-hs_lastmodifieddate"],
                "properties": ["lifecyclestage"],
                "limit": 200,
            },
        ).json()
        assert {c["properties"]["lifecyclestage"] for c in either["results"]} <= set(QUALIFIED_STAGES)
        got = [epoch_ms(c["properties"]["hs_lastmodifieddate"]) for c in either["results"]]
        assert got == sorted(got, reverse=True)
        never = search(
            server,
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "lifecyclestage", "operator": "NOT_HAS_PROPERTY"}]}
                ]
            },
        ).json()
        assert never["total"] == 300 - len(changed)
        # ISO dates filter as well as epoch milliseconds.
        iso = (before + timedelta(days=1000)).isoformat()
        none = search(server, {"filterGroups": [{"filters": [
            {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": iso}]}]}).json()  # fmt: skip
        assert none == {"total": 0, "results": []}

        # HubSpot's limits answer 400 VALIDATION_ERROR; a wrong token answers 401.
        for bad in (
            {"limit": 201},
            {"limit": 0},
            {"sorts": ["name", "domain"]},
            {"after": "abc"},
            {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "LIKE", "value": "x"}]}]},
            {"filterGroups": [{"filters": []}] * 6},
            {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7}]},
        ):
            answer = search(server, bad)
            assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR", bad
        assert search(server, {}, token="wrong").status_code == 401


def test_search_pages_through_at_most_10000_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crm_module, "SEARCH_CAP", 250)  # the same rule at a size a unit test can afford
    with SandboxServer(seed=3, businesses=300) as server:
        deliver_world(server)
        seen, after = 0, None
        while True:
            doc = search(server, {"limit": 200} | ({"after": after} if after else {})).json()
            seen += len(doc["results"])
            assert doc["total"] == 300
            after = doc.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        assert seen == 250
        refused = search(server, {"limit": 10, "after": "250"})
        assert refused.status_code == 400 and "250" in refused.json()["message"]
    assert crm_module.SEARCH_CAP == 250
    monkeypatch.undo()
    assert crm_module.SEARCH_CAP == 10_000


def test_advance_and_propensity_are_admin_routes() -> None:
    with SandboxServer(seed=3, businesses=100) as server:
        deliver_world(server, 20)
        assert httpx.post(f"{server.url}/_sandbox/crm/advance", json={"days": -1}).status_code == 400
        assert httpx.post(f"{server.url}/_sandbox/crm/advance", json={"days": "x"}).status_code == 400
        start = server.crm.now()
        done = httpx.post(f"{server.url}/_sandbox/crm/advance", json={"days": 10}).json()
        assert done["days"] == 10 and done["companies"] == 20
        assert server.crm.now() - start >= timedelta(days=10)
        # Writes after the advance are stamped on the moved clock: never behind a simulated change.
        result = server.crm.upsert(
            [{"idProperty": "leadlake_id", "id": "late", "properties": {"name": "Late"}}]
        )
        stamps = [epoch_ms(c["properties"]["hs_lastmodifieddate"]) for c in server.crm.companies()]
        assert epoch_ms(result[0]["properties"]["hs_lastmodifieddate"]) == max(stamps)
        truth = httpx.get(f"{server.url}/_sandbox/crm/propensity").json()
        assert len(truth["companies"]) == 21 and truth["label"] == "qualified_or_won_90d"
        assert all(0 < c["propensity"] < 1 for c in truth["companies"])
        # Not part of the HubSpot protocol: the CRM's paths know nothing of it.
        assert (
            httpx.get(f"{server.url}/crm/v3/objects/companies/propensity", headers=HEADERS).status_code == 404
        )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "crm.json"
    with SandboxServer(seed=4, businesses=150, state_path=state) as first:
        deliver_world(first)
        first.advance(20)
        first.crm.merge(first.crm.companies()[0]["id"], first.crm.companies()[1]["id"])
        before = {c["id"]: c for c in first.crm.companies(include_archived=True)}
        clock = first.crm.now()
    assert state.exists()
    with SandboxServer(seed=4, businesses=150, state_path=state) as second:
        assert {c["id"]: c for c in second.crm.companies(include_archived=True)} == before
        assert second.crm.now() >= clock
        gone = list(before)[1]
        assert second.crm.merged_into(gone) == list(before)[0]
        assert second.crm.get("lead-biz-0000005", "leadlake_id") is not None  # unique index rebuilt
        second.advance(100)
        after = stages(second)
        new = second.crm.upsert([{"idProperty": "leadlake_id", "id": "x1", "properties": {"name": "X"}}])
        assert int(new[0]["id"]) > max(int(i) for i in before)
    # The same days lived in one go, without a restart, give the same stages.
    with SandboxServer(seed=4, businesses=150) as straight:
        deliver_world(straight)
        straight.advance(20)
        straight.crm.merge(straight.crm.companies()[0]["id"], straight.crm.companies()[1]["id"])
        straight.advance(100)
        assert stages(straight) == {k: v for k, v in after.items() if k != "x1"}
    with SandboxServer(seed=4, businesses=150, state_path=state) as third:
        assert "x1" in stages(third)
        httpx.post(f"{third.url}/_sandbox/reset")
    with SandboxServer(seed=4, businesses=150, state_path=state) as fourth:
        assert len(fourth.crm) == 0


def test_a_broken_state_file_is_named(tmp_path: Path) -> None:
    state = tmp_path / "crm.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="crm.json"):
        SandboxServer(seed=4, businesses=20, state_path=state)


def test_a_known_business_decides_the_life_whatever_the_properties_say() -> None:
    """The bench knows each lead's business (it clusters by the truth) and passes it; the served CRM finds
    it from the company's properties. Both give the same life for the same business."""
    world = World.generate(seed=5, businesses=300)
    sim = OutcomeSimulator(world)
    biz = next(b for b in world.businesses if b.phone)
    other = next(b for b in world.businesses if b.phone and b.business_id != biz.business_id)
    found = sim.life({"name": biz.name, "city": biz.city, "phone": biz.phone}, "lead-1")
    assert found.business_id == biz.business_id
    # Properties pointing at another business: the given business still decides.
    told = sim.life({"name": other.name, "city": other.city, "phone": other.phone}, "lead-1", biz)
    assert (told.business_id, told.propensity, told.events) == (
        biz.business_id,
        found.propensity,
        found.events,
    )
    _, key, traits = sim.company({}, "lead-1", biz)
    assert key == biz.business_id and traits == sim.traits(biz)


def test_namesakes_in_one_city_are_told_apart_by_their_street_address() -> None:
    world = World.generate(seed=5, businesses=6000)
    sim = OutcomeSimulator(world)
    seen: dict[tuple[str, str], Any] = {}
    pairs = []
    for b in world.businesses:
        first = seen.setdefault((b.name, b.city), b)
        if first is not b and street_key(first.address_line1) != street_key(b.address_line1):
            pairs.append((first, b))
    assert len(pairs) >= 5  # names repeat within a city: the address is needed
    for first, second in pairs[:20]:
        for biz in (first, second):
            # As a provider spells it: abbreviated, without the suite; no phone, no website.
            spelled = abbreviate_street(biz.address_line1.split(" Suite ")[0])
            props = {"name": biz.name, "city": biz.city, "address": spelled}
            assert sim.business_for(props) is biz


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("1234 N Oak Street Suite 210", "1234 oak"),
        ("1234 North Oak St.", "1234 oak"),
        ("1234 Oak St, Ste 210", "1234 oak"),
        ("Oak Street", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_street_key_is_what_spellings_of_one_address_share(address: str | None, key: str) -> None:
    assert street_key(address) == key
