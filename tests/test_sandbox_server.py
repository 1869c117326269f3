"""The sandbox server over real HTTP on 127.0.0.1: provider protocols, paging, faults, HubSpot, admin."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from leadlake.sandbox import Faults, SandboxKeys, SandboxServer, World
from leadlake.sandbox.world import haversine_m

KEYS = SandboxKeys()
GOOGLE_HEADERS = {"X-Goog-Api-Key": KEYS.google_places, "X-Goog-FieldMask": "*"}
YELP_HEADERS = {"Authorization": f"Bearer {KEYS.yelp}"}
HUBSPOT_HEADERS = {"Authorization": f"Bearer {KEYS.hubspot}"}
SEARCH = "/v1/places:searchText"
COMPANIES = "/crm/v3/objects/companies"


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=11, businesses=20_000)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv


@pytest.fixture()
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def _expected(world: World, provider: str, category: str, city: str) -> set[str]:
    """Provider keys of the true businesses in a category and city (from truth, not the server's index)."""
    by_id = {b.business_id: b for b in world.businesses}
    return {
        key
        for (p, key), business_id in world.truth.items()
        if p == provider and by_id[business_id].category == category and by_id[business_id].city == city
    }


QUERY_WORDS = {
    "plumber": "plumbers",
    "electrician": "electricians",
    "dentist": "dentists",
    "hvac": "hvac",
    "roofing": "roofers",
    "landscaping": "landscaping",
    "auto_repair": "auto repair",
    "bakery": "bakeries",
    "cafe": "coffee shops",
    "law_firm": "lawyers",
}


def _cell_with(world: World, provider: str, low: int, high: int) -> tuple[str, str, set[str]]:
    """A (category, city) whose true provider records number between low and high, with their keys."""
    by_id = {b.business_id: b for b in world.businesses}
    cells: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (p, key), business_id in world.truth.items():
        if p == provider:
            cells[(by_id[business_id].category, by_id[business_id].city)].add(key)
    (category, city), keys = next(
        (cell, keys) for cell, keys in sorted(cells.items()) if low <= len(keys) <= high
    )
    return category, city, keys


def _google_pages(client: httpx.Client, body: dict, page_size: int, mask: str = "*") -> list[list[dict]]:
    headers = {**GOOGLE_HEADERS, "X-Goog-FieldMask": mask}
    pages, token = [], None
    while True:
        paging = {"pageSize": page_size, **({"pageToken": token} if token else {})}
        resp = client.post(SEARCH, json={**body, **paging}, headers=headers)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        pages.append(data.get("places", []))
        token = data.get("nextPageToken")
        if not token:
            return pages


# ---- Google Places (New) ------------------------------------------------------------------------------
def test_google_auth_errors(client: httpx.Client) -> None:
    body = {"textQuery": "plumbers in Denver"}
    missing = client.post(SEARCH, json=body, headers={"X-Goog-FieldMask": "*"})
    assert missing.status_code == 403
    assert missing.json() == {
        "error": {
            "code": 403,
            "message": "The request is missing a valid API key.",
            "status": "PERMISSION_DENIED",
        }
    }
    wrong = client.post(SEARCH, json=body, headers={**GOOGLE_HEADERS, "X-Goog-Api-Key": "nope"})
    assert wrong.status_code == 400
    err = wrong.json()["error"]
    assert (
        err["status"] == "INVALID_ARGUMENT"
        and err["message"] == "API key not valid. Please pass a valid API key."
    )
    assert err["details"][0]["reason"] == "API_KEY_INVALID"
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    no_mask = client.post(SEARCH, json=body, headers={"X-Goog-Api-Key": KEYS.google_places})
    assert no_mask.status_code == 400
    assert no_mask.json()["error"]["message"].startswith("FieldMask is a required parameter")
    no_query = client.post(SEARCH, json={"pageSize": 5}, headers=GOOGLE_HEADERS)
    assert no_query.status_code == 400 and no_query.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_google_field_mask_filters_the_response(client: httpx.Client, world: World) -> None:
    body = {"textQuery": "dentists in Seattle", "pageSize": 5}
    masked = client.post(
        SEARCH, json=body, headers={**GOOGLE_HEADERS, "X-Goog-FieldMask": "places.id,places.displayName"}
    )
    data = masked.json()
    assert set(data) == {"places"}  # nextPageToken not asked for, so not returned
    assert data["places"] and all(set(p) == {"id", "displayName"} for p in data["places"])
    with_token = client.post(
        SEARCH,
        json=body,
        headers={**GOOGLE_HEADERS, "X-Goog-FieldMask": "places.displayName.text,nextPageToken"},
    ).json()
    assert set(with_token) == {"places", "nextPageToken"}
    assert all(set(p) == {"displayName"} and set(p["displayName"]) <= {"text"} for p in with_token["places"])
    full = client.post(SEARCH, json=body, headers=GOOGLE_HEADERS).json()
    by_id = {p["id"]: p for p in world.google_places}
    assert all(p == by_id[p["id"]] for p in full["places"])
    bad = client.post(SEARCH, json=body, headers={**GOOGLE_HEADERS, "X-Goog-FieldMask": "places.nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_google_paging_reaches_each_match_exactly_once(client: httpx.Client, world: World) -> None:
    category, city, expected = _cell_with(world, "google_places", 20, 60)
    query = {"textQuery": f"{QUERY_WORDS[category]} in {city}"}
    pages = _google_pages(client, query, page_size=7, mask="places.id,nextPageToken")
    ids = [p["id"] for page in pages for p in page]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert all(len(page) == 7 for page in pages[:-1])
    again = _google_pages(client, query, page_size=7, mask="places.id,nextPageToken")
    assert [p["id"] for page in again for p in page] == ids  # deterministic order


def test_google_caps_results_at_sixty(client: httpx.Client, world: World) -> None:
    expected = _expected(world, "google_places", "plumber", "Chicago")
    assert len(expected) > 60
    pages = _google_pages(client, {"textQuery": "plumbing in Chicago"}, page_size=20)
    ids = [p["id"] for page in pages for p in page]
    assert len(ids) == 60 == len(set(ids)) and set(ids) <= expected
    assert [len(p) for p in pages] == [20, 20, 20]


def test_google_page_token_is_bound_to_its_query(client: httpx.Client) -> None:
    first = client.post(
        SEARCH, json={"textQuery": "plumbers in Chicago", "pageSize": 5}, headers=GOOGLE_HEADERS
    )
    token = first.json()["nextPageToken"]
    other = client.post(
        SEARCH, json={"textQuery": "roofers in Chicago", "pageToken": token}, headers=GOOGLE_HEADERS
    )
    assert other.status_code == 400 and other.json()["error"]["status"] == "INVALID_ARGUMENT"
    same = client.post(
        SEARCH, json={"textQuery": "plumbers in Chicago", "pageToken": token}, headers=GOOGLE_HEADERS
    )
    assert same.status_code == 200
    assert {p["id"] for p in same.json()["places"]}.isdisjoint({p["id"] for p in first.json()["places"]})


def _location(place: dict) -> tuple[float, float]:
    """A place's coordinates, also from the drifted "lat,lon" string form."""
    loc = place["location"]
    if isinstance(loc, str):
        lat, lon = loc.split(",")
        return float(lat), float(lon)
    return loc["latitude"], loc["longitude"]


def test_google_location_bias_circle_filters(client: httpx.Client, world: World) -> None:
    centre = {"latitude": 39.7392, "longitude": -104.9903}
    body = {"textQuery": "electricians", "locationBias": {"circle": {"center": centre, "radius": 15000.0}}}
    ids = {p["id"] for page in _google_pages(client, body, 20, "places.id,nextPageToken") for p in page}
    expected = {
        p["id"]
        for p in world.google_places
        if p["primaryType"] == "electrician" and haversine_m(39.7392, -104.9903, *_location(p)) <= 15000
    }
    assert len(expected) > 5 and ids == expected
    too_wide = {**body, "locationBias": {"circle": {"center": centre, "radius": 50001.0}}}
    assert client.post(SEARCH, json=too_wide, headers=GOOGLE_HEADERS).status_code == 400


def test_google_location_restriction_rectangle(client: httpx.Client, world: World) -> None:
    low, high = (47.55, -122.40), (47.65, -122.25)
    rect = {
        "low": {"latitude": low[0], "longitude": low[1]},
        "high": {"latitude": high[0], "longitude": high[1]},
    }
    body = {"textQuery": "cafes", "locationRestriction": {"rectangle": rect}}
    ids = [p["id"] for page in _google_pages(client, body, 20, "places.id,nextPageToken") for p in page]
    expected = {
        p["id"]
        for p in world.google_places
        if p["primaryType"] == "cafe"
        and low[0] <= _location(p)[0] <= high[0]
        and low[1] <= _location(p)[1] <= high[1]
    }
    assert len(expected) > 5 and len(ids) == len(set(ids)) and set(ids) == expected


def test_google_place_details(client: httpx.Client, world: World) -> None:
    place = world.google_places[3]
    resp = client.get(
        f"/v1/places/{place['id']}", headers={**GOOGLE_HEADERS, "X-Goog-FieldMask": "id,rating"}
    )
    assert resp.status_code == 200 and resp.json() == {"id": place["id"], "rating": place["rating"]}
    missing = client.get("/v1/places/ChIJdoesnotexist", headers=GOOGLE_HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


# ---- Yelp Fusion ----------------------------------------------------------------------------------------
def test_yelp_auth_errors(client: httpx.Client) -> None:
    params = {"term": "plumbers", "location": "Denver, CO"}
    missing = client.get("/v3/businesses/search", params=params)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "TOKEN_MISSING"
    wrong = client.get("/v3/businesses/search", params=params, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "TOKEN_INVALID"


def test_yelp_offset_paging_reaches_every_match(client: httpx.Client, world: World) -> None:
    expected = _expected(world, "yelp", "plumber", "Denver")
    ids, offset, total = [], 0, None
    while total is None or offset < total:
        data = client.get(
            "/v3/businesses/search",
            params={"term": "plumbers", "location": "Denver, CO", "limit": 30, "offset": offset},
            headers=YELP_HEADERS,
        ).json()
        total = data["total"]
        ids += [b["id"] for b in data["businesses"]]
        offset += len(data["businesses"])
        assert all("distance" in b for b in data["businesses"])
    drifted = {k for p, k in world.malformed if p == "yelp"}
    assert total == len(expected) and len(ids) == total
    assert {i for i in ids if i} == expected - drifted


def test_yelp_limit_offset_and_radius_rules(client: httpx.Client) -> None:
    base = {"location": "Chicago, IL"}
    total = client.get("/v3/businesses/search", params=base, headers=YELP_HEADERS).json()["total"]
    assert total > 240  # the real API reports matches beyond what paging can reach
    too_far = client.get(
        "/v3/businesses/search", params={**base, "limit": 50, "offset": 200}, headers=YELP_HEADERS
    )
    assert too_far.status_code == 400 and too_far.json()["error"]["code"] == "VALIDATION_ERROR"
    edge = client.get(
        "/v3/businesses/search", params={**base, "limit": 40, "offset": 200}, headers=YELP_HEADERS
    )
    assert edge.status_code == 200 and len(edge.json()["businesses"]) == 40
    big_limit = client.get("/v3/businesses/search", params={**base, "limit": 51}, headers=YELP_HEADERS)
    assert big_limit.status_code == 400
    wide = client.get("/v3/businesses/search", params={**base, "radius": 40001}, headers=YELP_HEADERS)
    assert wide.status_code == 400 and wide.json()["error"]["code"] == "VALIDATION_ERROR"
    near = {"latitude": 41.8781, "longitude": -87.6298, "radius": 5000, "categories": "plumbing,electricians"}
    data = client.get("/v3/businesses/search", params={**near, "limit": 50}, headers=YELP_HEADERS).json()
    assert data["businesses"] and all(b["distance"] <= 5000 for b in data["businesses"])
    assert {c["alias"] for b in data["businesses"] for c in b["categories"]} <= {"plumbing", "electricians"}
    assert data["region"]["center"] == {"latitude": 41.8781, "longitude": -87.6298}


def test_yelp_business_details(client: httpx.Client, world: World) -> None:
    biz = next(b for b in world.yelp_businesses if b["id"])
    by_id = client.get(f"/v3/businesses/{biz['id']}", headers=YELP_HEADERS).json()
    by_alias = client.get(f"/v3/businesses/{biz['alias']}", headers=YELP_HEADERS).json()
    assert by_id["id"] == by_alias["id"] == biz["id"] and by_id["name"] == biz["name"]
    missing = client.get("/v3/businesses/nope-nope", headers=YELP_HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "BUSINESS_NOT_FOUND"


# ---- HubSpot -----------------------------------------------------------------------------------------------
def _upsert(client: httpx.Client, inputs: list[dict]) -> httpx.Response:
    return client.post(f"{COMPANIES}/batch/upsert", json={"inputs": inputs}, headers=HUBSPOT_HEADERS)


def _company(lead: str, **props: str) -> dict:
    return {"idProperty": "leadlake_id", "id": lead, "properties": {"name": f"Co {lead}", **props}}


def test_hubspot_upsert_creates_then_updates(server: SandboxServer, client: httpx.Client) -> None:
    first = _upsert(client, [_company("up-1", domain="a.com"), _company("up-2")])
    assert first.status_code == 200 and first.json()["status"] == "COMPLETE"
    created = first.json()["results"]
    assert [r["new"] for r in created] == [True, True]
    assert (
        created[0]["properties"]["leadlake_id"] == "up-1"
        and created[0]["properties"]["hs_object_id"] == created[0]["id"]
    )
    second = _upsert(client, [_company("up-1", domain="b.com")]).json()["results"][0]
    assert second["new"] is False and second["id"] == created[0]["id"]
    assert second["properties"]["domain"] == "b.com"
    stored = {
        c["properties"]["leadlake_id"]: c for c in server.crm.companies() if "leadlake_id" in c["properties"]
    }
    assert stored["up-1"]["writes"] == 2 and stored["up-2"]["writes"] == 1
    via_admin = {c["id"]: c["writes"] for c in client.get("/_sandbox/crm/companies").json()}
    assert via_admin[created[0]["id"]] == 2
    one = client.get(f"{COMPANIES}/up-1", params={"idProperty": "leadlake_id", "properties": "domain"},
                     headers=HUBSPOT_HEADERS)  # fmt: skip
    assert one.status_code == 200 and one.json()["properties"]["domain"] == "b.com"


def test_hubspot_validation_and_auth(server: SandboxServer, client: httpx.Client) -> None:
    before = len(server.crm)
    too_many = _upsert(client, [_company(f"v-{i}") for i in range(101)])
    assert too_many.status_code == 400 and too_many.json()["category"] == "VALIDATION_ERROR"
    no_key = _upsert(client, [{"id": "v-x", "properties": {}}, _company("v-y")])
    assert no_key.status_code == 400
    assert len(server.crm) == before  # a rejected batch writes nothing, not even its valid inputs
    denied = client.post(f"{COMPANIES}/batch/upsert", json={"inputs": [_company("v-z")]})
    body = denied.json()
    assert (
        denied.status_code == 401 and body["category"] == "INVALID_AUTHENTICATION" and body["correlationId"]
    )
    assert body["message"].startswith("Authentication credentials not found.")
    missing = client.get(f"{COMPANIES}/123", headers=HUBSPOT_HEADERS)
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_hubspot_batch_read_reports_missing_ids(client: httpx.Client) -> None:
    _upsert(client, [_company("br-1")])
    body = {
        "idProperty": "leadlake_id",
        "inputs": [{"id": "br-1"}, {"id": "br-missing"}],
        "properties": ["name"],
    }
    resp = client.post(f"{COMPANIES}/batch/read", json=body, headers=HUBSPOT_HEADERS)
    assert resp.status_code == 207
    data = resp.json()
    assert [r["properties"]["name"] for r in data["results"]] == ["Co br-1"]
    assert data["errors"][0]["context"]["ids"] == ["br-missing"]


def test_hubspot_list_pages_with_after_cursor() -> None:
    with SandboxServer(seed=1, businesses=50) as srv, httpx.Client(base_url=srv.url) as c:
        assert _upsert(c, [_company(f"ls-{i}") for i in range(25)]).status_code == 200
        seen, after, pages = [], None, 0
        while True:
            params = {"limit": 10, "properties": "leadlake_id", **({"after": after} if after else {})}
            data = c.get(COMPANIES, params=params, headers=HUBSPOT_HEADERS).json()
            pages += 1
            seen += [r["properties"]["leadlake_id"] for r in data["results"]]
            if "paging" not in data:
                break
            after = data["paging"]["next"]["after"]
            assert data["paging"]["next"]["link"].startswith(srv.url)
        assert pages == 3 and sorted(seen) == sorted(f"ls-{i}" for i in range(25))


def test_official_hubspot_client_against_the_sandbox() -> None:
    from hubspot import HubSpot
    from hubspot.crm.companies import (
        BatchInputSimplePublicObjectBatchInputUpsert,
        SimplePublicObjectBatchInputUpsert,
    )

    with SandboxServer(seed=2, businesses=50) as srv:
        # Discovery copies every extra keyword onto each API's Configuration, whose `host` is the base URL.
        api = HubSpot(access_token=KEYS.hubspot, host=srv.url)
        inputs = [
            SimplePublicObjectBatchInputUpsert(
                id_property="leadlake_id",
                id=f"hs-{i}",
                properties={"name": f"Lead {i}", "domain": f"l{i}.com"},
            )
            for i in range(12)
        ]
        created = api.crm.companies.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        )
        assert created.status == "COMPLETE" and all(r.new for r in created.results)
        inputs[0].properties = {"name": "Lead 0 renamed"}
        updated = api.crm.companies.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs[:1])
        )
        assert updated.results[0].new is False and updated.results[0].id == created.results[0].id

        names, after = {}, None
        while True:
            page = api.crm.companies.basic_api.get_page(
                limit=5, after=after, properties=["name", "leadlake_id"]
            )
            names.update({r.properties["leadlake_id"]: r.properties["name"] for r in page.results})
            if page.paging is None:
                break
            after = page.paging.next.after
        assert len(names) == 12 and names["hs-0"] == "Lead 0 renamed" and names["hs-5"] == "Lead 5"
        stored = {c["properties"]["leadlake_id"]: c for c in srv.crm.companies()}
        assert stored["hs-0"]["writes"] == 2 and stored["hs-0"]["properties"]["domain"] == "l0.com"
        assert stored["hs-11"]["properties"]["name"] == "Lead 11"


# ---- faults ------------------------------------------------------------------------------------------------
PROVIDER_CALLS = [
    ("POST", SEARCH, GOOGLE_HEADERS, {"textQuery": "plumbers in Denver"}),
    ("GET", "/v3/businesses/search?location=Denver&term=plumbers", YELP_HEADERS, None),
    ("POST", f"{COMPANIES}/batch/upsert", HUBSPOT_HEADERS, {"inputs": [_company("f-1")]}),
    ("GET", COMPANIES, HUBSPOT_HEADERS, None),
]


def _call(c: httpx.Client, method: str, path: str, headers: dict, body: dict | None) -> httpx.Response:
    return c.request(method, path, headers=headers, json=body)


def test_rate_429_hits_every_provider_call_with_retry_after() -> None:
    faults = Faults(rate_429=1.0, retry_after_s=3)
    with SandboxServer(seed=3, businesses=100, faults=faults) as srv, httpx.Client(base_url=srv.url) as c:
        bodies = []
        for call in PROVIDER_CALLS:
            resp = _call(c, *call)
            assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
            bodies.append(resp.json())
        assert bodies[0]["error"]["status"] == "RESOURCE_EXHAUSTED" and bodies[0]["error"]["code"] == 429
        assert bodies[1]["error"]["code"] == "TOO_MANY_REQUESTS_PER_SECOND"
        assert bodies[2]["errorType"] == "RATE_LIMIT" and bodies[2]["policyName"] == "SECONDLY"
        assert bodies[2]["category"] == "RATE_LIMITS"
        assert len(srv.crm) == 0
        assert c.get("/_sandbox/health").status_code == 200  # admin routes are never faulted
        assert srv.stats()["status"]["429"] == len(PROVIDER_CALLS)


def test_rate_5xx_answers_server_errors_and_stores_nothing() -> None:
    with (
        SandboxServer(seed=4, businesses=100, faults=Faults(rate_5xx=1.0)) as srv,
        httpx.Client(base_url=srv.url) as c,
    ):
        resps = [_call(c, *call) for call in PROVIDER_CALLS]
        assert all(r.status_code >= 500 for r in resps)
        assert resps[0].json()["error"]["status"] in {"UNAVAILABLE", "INTERNAL"}
        assert resps[1].json()["error"]["code"] == "INTERNAL_ERROR"
        assert resps[2].json()["status"] == "error"
        assert len(srv.crm) == 0 and c.get("/_sandbox/crm/companies").json() == []


def test_malformed_bodies_are_invalid_json_and_have_no_side_effect() -> None:
    faults = Faults(rate_malformed=1.0)
    with SandboxServer(seed=5, businesses=100, faults=faults) as srv, httpx.Client(base_url=srv.url) as c:
        for call in PROVIDER_CALLS:
            resp = _call(c, *call)
            assert resp.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(resp.content)
        assert len(srv.crm) == 0


def test_fault_sequence_is_seeded_and_mixed() -> None:
    def statuses() -> list[int]:
        with SandboxServer(seed=6, businesses=100, faults=Faults.from_rate(0.6)) as srv:
            with httpx.Client(base_url=srv.url) as c:
                return [_call(c, *PROVIDER_CALLS[0]).status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert 200 in first and 429 in first and any(s >= 500 for s in first)


def test_truncated_pages_shorten_pages_but_lose_nothing(world: World) -> None:
    faults = Faults(truncated_pages=0.5)
    with SandboxServer(world, faults=faults) as srv, httpx.Client(base_url=srv.url) as c:
        category, city, expected = _cell_with(world, "google_places", 20, 60)
        pages = _google_pages(
            c,
            {"textQuery": f"{QUERY_WORDS[category]} in {city}"},
            page_size=6,
            mask="places.id,nextPageToken",
        )
        ids = [p["id"] for page in pages for p in page]
        assert len(ids) == len(set(ids)) and set(ids) == expected
        assert any(len(page) < 6 for page in pages[:-1])
        seen, offset, short = [], 0, 0
        while True:
            params = {"term": "cafe", "location": "Austin", "limit": 10, "offset": offset}
            data = c.get("/v3/businesses/search", params=params, headers=YELP_HEADERS).json()
            seen += [b["alias"] for b in data["businesses"]]
            offset += len(data["businesses"])
            short += len(data["businesses"]) < 10 and offset < data["total"]
            if offset >= data["total"]:
                break
        assert short > 0 and len(seen) == len(set(seen)) == data["total"]


# ---- admin -------------------------------------------------------------------------------------------------
def test_admin_routes(server: SandboxServer, client: httpx.Client, world: World) -> None:
    health = client.get("/_sandbox/health").json()
    assert health["ok"] is True and health["seed"] == 11 and health["businesses"] == len(world.businesses)
    truth = client.get("/_sandbox/truth").json()
    assert {(t["provider"], t["provider_key"]): t["business_id"] for t in truth} == world.truth
    before = server.stats()["routes"].get("yelp.business", 0)
    client.get("/v3/businesses/nope", headers=YELP_HEADERS)
    stats = client.get("/_sandbox/stats").json()
    assert stats["routes"]["yelp.business"] == before + 1 and stats["status"]["404"] >= 1
    malformed = client.get("/_sandbox/malformed").json()
    assert {(m["provider"], m["provider_key"]) for m in malformed} == world.malformed


def test_serve_runs_in_the_foreground_until_sigterm() -> None:
    code = "from leadlake.sandbox.server import serve; serve(port=0, seed=9, businesses=120)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        assert "sandbox-yelp-key" in (proc.stdout.readline() if proc.stdout else "")
        health = httpx.get(f"{url.group(0)}/_sandbox/health", timeout=10).json()
        assert health == {"ok": True, "seed": 9, "businesses": 120} | {
            k: health[k] for k in ("google_places", "yelp")
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
