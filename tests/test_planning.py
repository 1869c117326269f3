"""Campaign planning: tiles covering an area, worst-case cost per provider, the budget guard before calls."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadlake.connectors.sources import RateLimitPolicy, SourceAdapter, build_adapter
from leadlake.core.campaign import Area, CampaignSpec, campaign_files, load_campaign
from leadlake.sandbox.server import SandboxKeys, SandboxServer
from leadlake.sandbox.world import CITIES, GOOGLE, YELP, World, haversine_m
from leadlake.stages.bronze.planning import (
    BudgetExceeded,
    Tile,
    enforce_budget,
    plan_campaign,
    tiles_for,
)

CAMPAIGNS = campaign_files(Path(__file__).resolve().parent.parent / "campaigns")
KEYS = {GOOGLE: SandboxKeys().google_places, YELP: SandboxKeys().yelp}
MAX_RADIUS_KM = {GOOGLE: 50.0, YELP: 40.0}
WORST_PAGES = {GOOGLE: 3, YELP: 5}  # 60 results / 20 per page; ceil(240 / 50)
UNLIMITED = RateLimitPolicy(rate_per_s=10_000.0, burst=10_000)


def offline(name: str, **opts: Any) -> SourceAdapter:
    """A real adapter pointed at a closed port: planning must never need it."""
    return build_adapter(name, api_key="k", base_url="http://127.0.0.1:9", **opts)


def spec(areas: list[Area], keywords: list[str], budget: float | None = None) -> CampaignSpec:
    return CampaignSpec(
        campaign_id="plan_test",
        name="plan test",
        vertical="local_services",
        areas=areas,
        keywords=keywords,
        sources=[GOOGLE, YELP],
        max_cost_usd=budget,
    )


def destination(lat: float, lon: float, bearing: float, dist_m: float) -> tuple[float, float]:
    """The great-circle point at a bearing and distance, computed here independently of the planner."""
    d = dist_m / 6_371_008.8
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def uncovered(area: Area, tiles: list[Tile], samples: int = 3000) -> list[tuple[float, float]]:
    """Sampled points of the area's disc (inside and on its edge) that no tile reaches, by haversine."""
    rng = random.Random(7)
    radius_m = area.radius_km * 1000.0
    points = [(rng.random() * 2 * math.pi, radius_m * math.sqrt(rng.random())) for _ in range(samples)]
    points += [(2 * math.pi * i / 720, radius_m) for i in range(720)]  # the rim is where gaps show first
    missed = []
    for bearing, dist in points:
        lat, lon = destination(area.lat, area.lon, bearing, dist)
        if not any(haversine_m(t.center_lat, t.center_lon, lat, lon) <= t.radius_km * 1000.0 for t in tiles):
            missed.append((lat, lon))
    return missed


# ---- tiling --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("radius_km", [5.0, 25.0, 40.0])
def test_one_tile_when_the_area_fits(radius_km: float) -> None:
    area = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=radius_km)
    assert tiles_for(area, 40.0) == [Tile(39.7392, -104.9903, radius_km)]


def test_area_without_centre_has_no_tiles() -> None:
    assert tiles_for(Area(city="Austin", region="TX"), 40.0) == []


@pytest.mark.parametrize(
    ("lat", "lon", "radius_km", "max_km", "at_most"),
    [
        (39.7392, -104.9903, 41.0, 40.0, 3),  # just over: 3 circles is the fewest that can cover a wider disc
        (39.7392, -104.9903, 60.0, 40.0, 5),  # optimal: 4 circles need r/R >= 0.707
        (39.7392, -104.9903, 80.0, 50.0, 5),
        (47.6062, -122.3321, 80.0, 40.0, 8),
        (32.7767, -96.7970, 150.0, 40.0, 26),
        (61.2181, 179.9, 300.0, 25.0, 215),  # high latitude, across the antimeridian, many tiles
    ],
)
def test_tiles_cover_the_circle_with_little_waste(
    lat: float, lon: float, radius_km: float, max_km: float, at_most: int
) -> None:
    area = Area(city="X", region="XX", lat=lat, lon=lon, radius_km=radius_km)
    tiles = tiles_for(area, max_km)
    assert uncovered(area, tiles) == []
    assert all(0 < t.radius_km <= max_km for t in tiles)
    assert 1 < len(tiles) <= at_most
    # Waste: the tiles' total area over the disc's; a square grid of max-size circles would be ~2-3x.
    assert len(tiles) * tiles[0].radius_km ** 2 / radius_km**2 < 2.3
    assert tiles_for(area, max_km) == tiles  # deterministic, so query fingerprints are stable


def test_a_gap_is_detected() -> None:
    # The coverage check itself must be able to fail: drop one tile of a tight cover.
    area = Area(city="X", region="XX", lat=39.7392, lon=-104.9903, radius_km=80.0)
    tiles = tiles_for(area, 50.0)
    assert uncovered(area, tiles[1:]) != []


# ---- plan numbers --------------------------------------------------------------------------------------
@pytest.fixture
def adapters() -> Iterator[dict[str, SourceAdapter]]:
    built = {name: offline(name) for name in (GOOGLE, YELP)}
    yield built
    for ad in built.values():
        ad.close()


@pytest.mark.parametrize("path", CAMPAIGNS, ids=lambda p: p.stem)
def test_shipped_campaigns_plan_what_the_adapters_run(path: Any, adapters: dict[str, SourceAdapter]) -> None:
    campaign = load_campaign(path)
    used = [adapters[s] for s in campaign.sources]
    plan = plan_campaign(campaign, used)
    assert [p.provider for p in plan.providers] == campaign.sources
    for p, ad in zip(plan.providers, used, strict=True):
        planned = ad.plan_queries(campaign)
        tiles = sum(max(1, len(tiles_for(a, MAX_RADIUS_KM[p.provider]))) for a in campaign.areas)
        assert p.queries == len(planned) == tiles * len(campaign.keywords) == p.tiles * len(campaign.keywords)
        assert p.max_pages == WORST_PAGES[p.provider]
        assert p.max_calls == p.queries * p.max_pages
        assert p.price_per_call_usd == ad.price_per_call_usd
        assert p.cost_usd == pytest.approx(p.max_calls * ad.price_per_call_usd)
    assert plan.total_calls == sum(p.max_calls for p in plan.providers)
    assert plan.total_cost_usd == pytest.approx(sum(p.cost_usd for p in plan.providers))
    assert plan.budget_usd == campaign.max_cost_usd
    assert plan.within_budget is (plan.total_cost_usd <= campaign.max_cost_usd)
    enforce_budget(plan)  # the shipped campaigns fit their budgets


def test_denver_numbers(adapters: dict[str, SourceAdapter]) -> None:
    campaign = load_campaign(next(p for p in CAMPAIGNS if p.stem == "denver_home_services"))
    plan = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    google, yelp = plan.providers
    # 1 area of 40 km fits both providers; 4 keywords.
    assert (google.queries, google.max_calls) == (4, 12) and google.cost_usd == pytest.approx(12 * 0.035)
    assert (yelp.queries, yelp.max_calls) == (4, 20) and yelp.cost_usd == pytest.approx(20 * 0.00999)
    assert plan.total_calls == 32 and plan.total_cost_usd == pytest.approx(0.6198)


def test_wide_areas_are_tiled_per_provider(adapters: dict[str, SourceAdapter]) -> None:
    campaign = spec(
        [
            Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=80),
            Area(city="Austin", region="TX"),  # no centre: one city search per keyword
        ],
        ["plumber", "roofing"],
    )
    plan = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    google, yelp = plan.providers
    assert (google.tiles, yelp.tiles) == (5 + 1, 8 + 1)  # Google's circles may be wider than Yelp's
    assert google.queries == len(adapters[GOOGLE].plan_queries(campaign)) == 12
    assert yelp.queries == len(adapters[YELP].plan_queries(campaign)) == 18
    assert any("5 tiles" in n for n in google.notes) and any("Austin" in n for n in yelp.notes)
    planned = adapters[GOOGLE].plan_queries(campaign)
    assert len({q.fingerprint for q in planned}) == len(planned)
    assert all(q.params["locationBias"]["circle"]["radius"] <= 50_000 for q in planned[:10])
    assert all(q.params["radius"] <= 40_000 for q in adapters[YELP].plan_queries(campaign)[:16])


def test_smaller_pages_mean_more_worst_case_calls() -> None:
    campaign = spec([Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)], ["plumber"])
    with offline(GOOGLE, page_size=7) as g, offline(YELP, page_size=20) as y:
        google, yelp = plan_campaign(campaign, [g, y]).providers
    assert (google.max_pages, yelp.max_pages) == (9, 12)  # ceil(60 / 7), ceil(240 / 20)


def test_rows_print_as_json(adapters: dict[str, SourceAdapter]) -> None:
    campaign = spec(
        [Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)], ["hvac"], 1.0
    )
    plan = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    rows = json.loads(json.dumps(plan.as_rows()))
    assert [r["provider"] for r in rows] == [GOOGLE, YELP, "total"]
    assert rows[-1]["max_calls"] == plan.total_calls == 8
    assert rows[-1]["cost_usd"] == pytest.approx(3 * 0.035 + 5 * 0.00999)
    assert rows[-1]["within_budget"] is True and rows[-1]["budget_usd"] == 1.0


# ---- the budget guard ----------------------------------------------------------------------------------
def test_enforce_budget_raises_with_numbers_and_passes_under(adapters: dict[str, SourceAdapter]) -> None:
    area = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)
    pair = [adapters[GOOGLE], adapters[YELP]]
    over = plan_campaign(spec([area], ["plumber", "hvac"], budget=0.10), pair)
    assert not over.within_budget and over.total_cost_usd == pytest.approx(6 * 0.035 + 10 * 0.00999)
    with pytest.raises(BudgetExceeded) as caught:
        enforce_budget(over)
    msg = str(caught.value)
    for fragment in (
        "'plan_test'",
        "$0.31",
        "$0.10",
        "google_places: 2 queries x 3 pages = 6 calls",
        "yelp: 2",
    ):
        assert fragment in msg
    assert "max_cost_usd" in msg and "fewer keywords, areas or sources" in msg
    assert caught.value.plan is over
    enforce_budget(plan_campaign(spec([area], ["plumber", "hvac"], budget=0.31), pair))
    enforce_budget(plan_campaign(spec([area], ["plumber", "hvac"], budget=None), pair))
    exact = plan_campaign(spec([area], ["plumber", "hvac"], budget=over.total_cost_usd), pair)
    assert exact.within_budget


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=42, businesses=500) as sb:
        yield sb


def sandbox_adapter(name: str, sb: SandboxServer) -> SourceAdapter:
    return build_adapter(name, api_key=KEYS[name], base_url=sb.url, rate=UNLIMITED)


def test_over_budget_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    campaign = load_campaign(next(p for p in CAMPAIGNS if p.stem == "texas_dental"))
    campaign = campaign.model_copy(update={"max_cost_usd": 0.01})
    sandbox.reset()
    before = sandbox.stats()["requests"]
    with sandbox_adapter(GOOGLE, sandbox) as g, sandbox_adapter(YELP, sandbox) as y:
        plan = plan_campaign(campaign, [g, y])
        with pytest.raises(BudgetExceeded, match="texas_dental"):
            enforce_budget(plan)
    assert before == 0 and sandbox.stats()["requests"] == 0


# ---- tiling reaches what one clamped circle cannot -----------------------------------------------------
def identity(provider: str, record: dict[str, Any]) -> str:
    # Yelp's drifted records may lose their id; the alias is unique too.
    return record["id"] if provider == GOOGLE else record["alias"]


def fetched(ad: SourceAdapter, campaign: CampaignSpec) -> set[str]:
    out = set()
    for q in ad.plan_queries(campaign):
        for page in ad.fetch_all(q):
            out.update(identity(ad.name, json.loads(item.payload)) for item in page.items)
    return out


@pytest.mark.parametrize("provider", [GOOGLE, YELP])
def test_an_80_km_area_reaches_businesses_beyond_50_km(provider: str, sandbox: SandboxServer) -> None:
    world: World = sandbox.world
    metas, records = world.meta(provider), world.records(provider)

    def distance_km(i: int) -> float:
        c = CITIES[metas[i].city_index]
        return haversine_m(c.lat, c.lon, metas[i].lat, metas[i].lon) / 1000.0

    # The city with most of this provider's businesses past 50 km from its centre.
    far_by_city = [0] * len(CITIES)
    for i, m in enumerate(metas):
        far_by_city[m.city_index] += distance_km(i) > 50
    ci = max(range(len(CITIES)), key=far_by_city.__getitem__)
    city = CITIES[ci]
    truth = {
        identity(provider, records[i]): distance_km(i) for i, m in enumerate(metas) if m.city_index == ci
    }
    far = {key for key, d in truth.items() if d > 50}
    assert far, "the sandbox world must have businesses past 50 km for this test to mean anything"
    keywords = [c.replace("_", " ") for c in world.categories()]
    wide = spec([Area(city=city.name, region=city.state, lat=city.lat, lon=city.lon, radius_km=80)], keywords)
    # What the adapters did before tiling: one circle clamped to the provider's maximum.
    clamped = wide.areas[0].model_copy(update={"radius_km": MAX_RADIUS_KM[provider]})
    narrow = wide.model_copy(update={"areas": [clamped]})
    with sandbox_adapter(provider, sandbox) as ad:
        got_wide, got_narrow = fetched(ad, wide), fetched(ad, narrow)
    assert got_wide == set(truth)  # every business of the city, the far ones included
    assert far <= got_wide and not far & got_narrow  # one 50 km circle cannot reach them
