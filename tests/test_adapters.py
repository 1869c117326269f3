"""Google Places and Yelp adapters against the sandbox's real protocols on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from leadlake.connectors.sources import (
    ADAPTERS,
    SOURCE_RECORD_FIELDS,
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    RateLimitPolicy,
    SourceAdapter,
    SourceRecord,
    UnknownProvider,
    build_adapter,
)
from leadlake.connectors.sources.base import ProviderQuery, RawItem
from leadlake.connectors.sources.yelp import _next_offset
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.core.normalize import normalize_phone, registered_domain
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer
from leadlake.sandbox.world import CITIES, GOOGLE, YELP, World

PROVIDERS = (GOOGLE, YELP)
KEYS = {GOOGLE: SandboxKeys().google_places, YELP: SandboxKeys().yelp}
SEARCH_ROUTE = {GOOGLE: "google.searchText", YELP: "yelp.search"}
UNLIMITED = RateLimitPolicy(rate_per_s=10_000.0, burst=10_000)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@pytest.fixture(scope="module")
def world() -> World:
    # A drift rate well above the default so every drift kind of both providers is present.
    return World.generate(seed=7, businesses=300, malformed_rate=0.05)


@pytest.fixture(scope="module")
def sandbox(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world=world) as sb:
        yield sb


def adapter(provider: str, sb: SandboxServer, **opts: Any) -> Any:
    opts = {"rate": UNLIMITED, "page_size": 2, "backoff_base_s": 0.01, "backoff_max_s": 20.0, **opts}
    return build_adapter(provider, api_key=opts.pop("api_key", KEYS[provider]), base_url=sb.url, **opts)


def campaign(cells: list[tuple[str, str]]) -> CampaignSpec:
    """A campaign over the given (category, city) cells: every city as an area, every category a keyword."""
    cities = sorted({city for _, city in cells})
    by_name = {c.name: c for c in CITIES}
    return CampaignSpec(
        campaign_id="test",
        name="test",
        vertical="local_services",
        areas=[Area(city=c, region=by_name[c].state) for c in cities],
        keywords=sorted({cat.replace("_", " ") for cat, _ in cells}),
        sources=list(PROVIDERS),
    )


def covered(cells: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every (category, city) a campaign over these cells searches: each keyword in each area."""
    return {(cat, city) for cat, _ in cells for _, city in cells}


def identity(provider: str, record: dict[str, Any]) -> str:
    # Yelp's drifted records may lose their id; the alias is unique too.
    return record["id"] if provider == GOOGLE else record["alias"]


def expected_cells(world: World, provider: str) -> dict[str, tuple[str, str]]:
    """Ground truth: each provider record's identity -> (category, city) of the business behind it."""
    out = {}
    for rec, meta in zip(world.records(provider), world.meta(provider), strict=True):
        biz = world.businesses[meta.business_index]
        out[identity(provider, rec)] = (biz.category, biz.city)
    return out


def query_cell(provider: str, q: ProviderQuery) -> tuple[str, str]:
    text = q.params["textQuery"] if provider == GOOGLE else f"{q.params['term']} in {q.params['location']}"
    keyword, place = text.split(" in ", 1)
    return keyword.replace(" ", "_"), place.split(",")[0]


def fetch(ad: Any, q: ProviderQuery) -> list[RawItem]:
    return [item for page in ad.fetch_all(q) for item in page.items]


def run_cells(provider: str, sb: SandboxServer, cells: list[tuple[str, str]], **opts: Any) -> Counter[str]:
    """Fetch every planned query to its end; identities of every item received, with multiplicity."""
    with adapter(provider, sb, **opts) as ad:
        got: Counter[str] = Counter()
        for q in ad.plan_queries(campaign(cells)):
            for item in fetch(ad, q):
                got[identity(provider, json.loads(item.payload))] += 1
    return got


def some_cells(world: World, n: int) -> list[tuple[str, str]]:
    """The n (category, city) cells with most records in either provider, a few pages each."""
    counts = Counter(expected_cells(world, GOOGLE).values()) + Counter(expected_cells(world, YELP).values())
    return [cell for cell, _ in counts.most_common(n)]


def requests_to(sb: SandboxServer, provider: str, at_least: int = 0) -> int:
    """Search requests the sandbox counted, once at least `at_least` are in.

    The sandbox counts a request just after writing its response, so a client can see the answer a moment
    before the count moves; wait for the count rather than read it early.
    """
    deadline = time.monotonic() + 5.0
    while (
        n := sb.stats()["routes"].get(SEARCH_ROUTE[provider], 0)
    ) < at_least and time.monotonic() < deadline:
        time.sleep(0.002)
    return n


# ---- registry and planning ----------------------------------------------------------------------------
def test_registry_and_unknown_provider(sandbox: SandboxServer) -> None:
    assert set(ADAPTERS) == {GOOGLE, YELP}
    for provider in PROVIDERS:
        with adapter(provider, sandbox) as ad:
            assert isinstance(ad, SourceAdapter) and ad.name == provider
            assert ad.bronze_table in ("bronze.places_raw", "bronze.yelp_businesses_raw")
            assert 0 < ad.price_per_call_usd < 0.1
    with pytest.raises(UnknownProvider, match="google_places, yelp"):
        build_adapter("foursquare", api_key="x")
    with pytest.raises(ProviderAuthError, match="LEADLAKE_YELP_API_KEY"):
        build_adapter(YELP, api_key="")


def test_plan_queries_one_per_tile_and_keyword() -> None:
    spec = CampaignSpec(
        campaign_id="c",
        name="c",
        vertical="local_services",
        areas=[
            Area(city="Denver", region="CO", lat=39.74, lon=-104.99, radius_km=80),
            Area(city="Austin", region="TX"),
        ],
        keywords=["plumber", "roofing"],
        sources=list(PROVIDERS),
    )
    g = ADAPTERS[GOOGLE](api_key="k", base_url="http://127.0.0.1:9")
    y = ADAPTERS[YELP](api_key="k", base_url="http://127.0.0.1:9")
    gq, yq = g.plan_queries(spec), y.plan_queries(spec)
    # Denver's 80 km exceeds both maxima, so it is tiled (Google 5 tiles, Yelp 8); Austin has no centre.
    assert len(gq) == 12 and len(yq) == 18
    assert len({q.fingerprint for q in gq + yq}) == 30
    assert [q.fingerprint for q in g.plan_queries(spec)] == [q.fingerprint for q in gq]  # stable
    assert gq[0].params["textQuery"] == "plumber in Denver, CO"
    assert all(q.params["locationBias"]["circle"]["radius"] <= 50_000 for q in gq[:10])
    assert "locationBias" not in gq[10].params
    assert all(q.params["radius"] <= 40_000 for q in yq[:16])
    assert yq[16].params["location"] == "Austin, TX" and "radius" not in yq[16].params
    g.close()
    y.close()


def test_yelp_offset_stops_at_total_and_240() -> None:
    assert _next_offset(0, 50, 500) == 50
    assert _next_offset(200, 40, 500) is None
    assert _next_offset(10, 5, 15) is None
    assert _next_offset(10, 0, 99) is None


# ---- pagination ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_record_exactly_once_across_a_full_sweep(
    provider: str, world: World, sandbox: SandboxServer
) -> None:
    truth = expected_cells(world, provider)
    all_cells = sorted(set(truth.values()))
    before = requests_to(sandbox, provider)
    pages = multi_page = 0
    got: Counter[str] = Counter()
    with adapter(provider, sandbox) as ad:
        for q in ad.plan_queries(campaign(all_cells)):
            cell = query_cell(provider, q)
            query_pages = list(ad.fetch_all(q))
            pages += len(query_pages)
            multi_page += len(query_pages) > 1
            ids = [identity(provider, json.loads(i.payload)) for page in query_pages for i in page.items]
            assert {truth[i] for i in ids} <= {cell}, f"{cell}: a record of another category or city"
            got.update(ids)
            assert query_pages[-1].next_cursor is None
    assert got == Counter(truth.keys())  # every record, and each exactly once
    assert multi_page > 10  # the page size of 2 forces real paging
    assert requests_to(sandbox, provider, at_least=before + pages) - before == pages


@pytest.mark.parametrize("provider", PROVIDERS)
def test_fetch_details(provider: str, world: World, sandbox: SandboxServer) -> None:
    rec = next(
        r for r in world.records(provider) if r.get("id") and (provider, r["id"]) not in world.malformed
    )
    with adapter(provider, sandbox) as ad:
        item = ad.fetch_details(rec["id"])
    assert item.provider_key == rec["id"] and item.error is None
    assert ad.normalize(item.payload).name == ad.normalize(rec).name


# ---- faults -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_retry_after_honoured_and_nothing_lost(provider: str, world: World) -> None:
    cells = some_cells(world, 2)
    expected = Counter(i for i, c in expected_cells(world, provider).items() if c in covered(cells))
    with SandboxServer(world=world, faults=Faults(rate_429=0.3, retry_after_s=1)) as sb:
        started = time.monotonic()
        got = run_cells(provider, sb, cells, page_size=3)
        elapsed = time.monotonic() - started
        served_429 = sb.stats()["faults"].get("429", 0)
    assert got == expected
    assert served_429 >= 1
    assert elapsed >= served_429 * 1.0  # each 429 waited its full Retry-After


@pytest.mark.parametrize("provider", PROVIDERS)
def test_5xx_and_malformed_pages_retried_and_nothing_lost(provider: str, world: World) -> None:
    cells = some_cells(world, 4)
    expected = Counter(i for i, c in expected_cells(world, provider).items() if c in covered(cells))
    with SandboxServer(world=world, faults=Faults(rate_5xx=0.15, rate_malformed=0.15)) as sb:
        got = run_cells(provider, sb, cells, max_attempts=10)
        faults = sb.stats()["faults"]
    assert got == expected
    assert faults.get("5xx", 0) >= 1 and faults.get("malformed", 0) >= 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_persistent_5xx_opens_the_breaker(provider: str, world: World) -> None:
    cells = some_cells(world, 3)
    with SandboxServer(world=world, faults=Faults(rate_5xx=1.0)) as sb:
        with adapter(provider, sb, max_attempts=2, failure_threshold=2, reset_after_s=60) as ad:
            q1, q2, q3 = ad.plan_queries(campaign(cells))[:3]
            with pytest.raises(ProviderError) as first:
                ad.fetch_page(q1)
            assert first.value.status in (500, 503) and not isinstance(first.value, CircuitOpenError)
            with pytest.raises(CircuitOpenError) as opened:
                list(ad.fetch_all(q2))
            assert requests_to(sb, provider, at_least=4) == 4  # 2 calls x 2 attempts
            with pytest.raises(CircuitOpenError):
                ad.fetch_page(q3)
            assert requests_to(sb, provider, at_least=4) == 4  # refused locally, nothing sent
    msg = str(opened.value)
    assert opened.value.provider == provider and msg.startswith(f"{provider}:")
    assert "circuit open" in msg and "last error" in msg


@pytest.mark.parametrize("provider", PROVIDERS)
def test_persistently_malformed_page_raises_with_body(provider: str, world: World) -> None:
    with SandboxServer(world=world, faults=Faults(rate_malformed=1.0)) as sb:
        with adapter(provider, sb, max_attempts=3, failure_threshold=99) as ad:
            q = ad.plan_queries(campaign(some_cells(world, 1)))[0]
            with pytest.raises(MalformedResponse) as info:
                ad.fetch_page(q)
        assert requests_to(sb, provider, at_least=3) == 3
    body = info.value.body
    assert body and body.startswith("{")
    with pytest.raises(ValueError):
        json.loads(body)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_key_stops_without_retries(provider: str, world: World) -> None:
    with SandboxServer(world=world, faults=Faults(rate_5xx=0.0)) as sb:
        with adapter(provider, sb, api_key="wrong-key", max_attempts=6) as ad:
            q = ad.plan_queries(campaign(some_cells(world, 1)))[0]
            with pytest.raises(ProviderAuthError) as info:
                list(ad.fetch_all(q))
        assert requests_to(sb, provider, at_least=1) == 1
    assert info.value.provider == provider
    assert ("LEADLAKE_GOOGLE_PLACES_API_KEY" if provider == GOOGLE else "LEADLAKE_YELP_API_KEY") in str(
        info.value
    )
    assert "wrong-key" not in str(info.value)


# ---- schema drift --------------------------------------------------------------------------------
def drifted_field(provider: str, rec: dict[str, Any]) -> str:
    """The field a persistently drifted world record got wrong, read off the record itself."""
    if provider == GOOGLE:
        if isinstance(rec.get("location"), str):
            return "location"
        if isinstance(rec.get("rating"), str):
            return "rating"
        return "displayName"
    if rec.get("id") is None:
        return "id"
    if isinstance(rec.get("rating"), str):
        return "rating"
    return "location"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_drifted_items_come_back_with_an_error_naming_the_field(
    provider: str, world: World, sandbox: SandboxServer
) -> None:
    records = world.records(provider)
    drifted = {
        identity(provider, r): drifted_field(provider, r)
        for r in records
        if (provider, r.get("id")) in world.malformed or r.get("id") is None
    }
    assert (
        len(drifted) == sum(1 for p, _ in world.malformed if p == provider)
        and len(set(drifted.values())) == 3
    )
    truth = expected_cells(world, provider)
    cells = sorted({truth[i] for i in drifted})
    errors: dict[str, str] = {}
    clean = 0
    with adapter(provider, sandbox, page_size=20) as ad:
        for q in ad.plan_queries(campaign(cells)):
            for item in fetch(ad, q):
                ident = identity(provider, json.loads(item.payload))
                if item.error:
                    errors[ident] = item.error
                else:
                    clean += 1
                    assert item.provider_key == json.loads(item.payload)["id"]
    assert set(errors) == set(drifted) and clean > 0
    for ident, field in drifted.items():
        assert f"field '{field}" in errors[ident], errors[ident]
        assert errors[ident].startswith("schema drift")


# ---- normalisation --------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_normalize_every_clean_world_record(provider: str, world: World) -> None:
    cls = ADAPTERS[provider]
    n = 0
    for rec, meta in zip(world.records(provider), world.meta(provider), strict=True):
        if (provider, rec.get("id")) in world.malformed or rec.get("id") is None:
            continue
        biz = world.businesses[meta.business_index]
        sr = cls.normalize(rec)
        assert isinstance(sr, SourceRecord) and tuple(sr.asdict()) == SOURCE_RECORD_FIELDS
        assert sr == cls.normalize(json.dumps(rec))  # bronze hands over the JSON text
        assert sr.record_id == f"{provider}:{rec['id']}" and sr.provider_key == rec["id"]
        assert sr.name and sr.name_norm and sr.name_norm == sr.name_norm.lower()
        raw_phone = rec.get("internationalPhoneNumber") if provider == GOOGLE else rec.get("phone")
        if raw_phone:
            assert sr.phone_e164 and E164.match(sr.phone_e164)
            assert sr.phone_e164 == normalize_phone(raw_phone)
            assert sr.phone_is_toll_free == (
                sr.phone_e164[2:5] in ("800", "833", "844", "855", "866", "877", "888")
            )
        else:
            assert sr.phone_e164 is None and sr.phone_is_toll_free is False
        if provider == GOOGLE and rec.get("websiteUri"):
            assert sr.domain == registered_domain(biz.website) and sr.domain
            assert not sr.domain.startswith("www.") and sr.domain in rec["websiteUri"]
        else:
            assert sr.domain is None
        assert (sr.city, sr.region, sr.postal, sr.country) == (biz.city, biz.region, biz.postal, "US")
        assert sr.address_line1 and sr.address_line1.split(" ")[0] == biz.address_line1.split(" ")[0]
        assert sr.lat is not None and abs(sr.lat - biz.lat) < 0.01 and abs(sr.lon - biz.lon) < 0.01
        assert sr.rating is not None and 1.0 <= sr.rating <= 5.0 and isinstance(sr.review_count, int)
        assert sr.categories and all(c == c.lower() for c in sr.categories)
        n += 1
    assert n > 150


def test_normalize_tolerates_drift_and_rejects_missing_id() -> None:
    g = ADAPTERS[GOOGLE].normalize(
        {
            "id": "p1",
            "displayName": "Acme LLC",
            "rating": "4.5 stars",
            "location": "1,2",
            "userRatingCount": "1,234",
        }
    )
    assert (g.name, g.name_norm, g.rating, g.lat, g.review_count) == ("Acme LLC", "acme", None, None, 1234)
    y = ADAPTERS[YELP].normalize({"id": "y1", "name": "Bo's Cafe", "location": "1 Main St, Denver, CO"})
    assert (y.city, y.lat, y.phone_e164, y.categories) == (None, None, None, [])
    for provider in PROVIDERS:
        with pytest.raises(ValueError, match="id"):
            ADAPTERS[provider].normalize({"id": None, "name": "x"})
