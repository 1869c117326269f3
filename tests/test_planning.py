"""Campaign planning: tiles covering an area, worst-case discovery cost per provider, the enrichment estimate
it triggers, one budget for both, and the guard that refuses before any call."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.providers import GOOGLE, YELP, adapter, identity, offline, price

from leadlake.connectors.registry import connector
from leadlake.connectors.sources import SourceAdapter
from leadlake.core.campaign import DEFAULT_MAX_COST_USD, Area, CampaignSpec, campaign_files, load_campaign
from leadlake.core.geo import Tile, tiles_for
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import CITIES, World, haversine_m
from leadlake.stages.bronze.planning import (
    DEFAULT_LOOKUP_CALLS,
    BudgetExceeded,
    enforce_budget,
    plan_campaign,
    plan_for_budget,
)

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = campaign_files(ROOT / "campaigns")
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
# The providers' documented limits, written here from their docs (not copied from the adapters):
# Google Places Text Search (New): locationBias circle radius <= 50,000 m; pageSize <= 20; at most 60
# results a search (developers.google.com/maps/documentation/places/web-service/text-search).
# Yelp Fusion /v3/businesses/search: radius <= 40,000 m; limit <= 50; offset + limit <= 240
# (docs.developer.yelp.com/reference/v3_business_search).
MAX_RADIUS_KM = {GOOGLE: 50.0, YELP: 40.0}
MAX_RESULTS = {GOOGLE: 60, YELP: 240}
PAGE_SIZE = {GOOGLE: 20, YELP: 50}
WORST_PAGES = {p: math.ceil(MAX_RESULTS[p] / PAGE_SIZE[p]) for p in (GOOGLE, YELP)}  # 3 and 5


def spec(
    areas: list[Area], keywords: list[str], budget: float | None = None, enrichment: list[str] | None = None
) -> CampaignSpec:
    return CampaignSpec(
        campaign_id="plan_test",
        name="plan test",
        vertical="local_services",
        areas=areas,
        keywords=keywords,
        sources=[GOOGLE, YELP],
        enrichment=enrichment or [],
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
        assert p.max_records == p.queries * MAX_RESULTS[p.provider]
        assert p.price_per_call_usd == price(p.provider)
        assert p.cost_usd == pytest.approx(p.max_calls * price(p.provider))
    assert [e.provider for e in plan.enrichment] == campaign.enrichment
    for e in plan.enrichment:
        assert e.leads == plan.max_records == sum(p.max_records for p in plan.providers)
        assert e.max_calls == e.leads * e.calls_per_lead
        assert e.cost_usd == pytest.approx(e.max_calls * price(e.provider))
    assert plan.discovery_calls == sum(p.max_calls for p in plan.providers)
    assert plan.total_cost_usd == pytest.approx(plan.discovery_cost_usd + plan.enrichment_cost_usd)
    assert plan.budget_usd == campaign.max_cost_usd and not plan.budget_is_default
    enforce_budget(plan)  # the shipped campaigns' discovery worst case fits their budgets


def test_a_task_passing_one_adapter_still_plans_the_whole_campaign(
    adapters: dict[str, SourceAdapter],
) -> None:
    campaign = load_campaign(next(p for p in CAMPAIGNS if p.stem == "denver_home_services"))
    whole = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    one = plan_campaign(campaign, [adapters[YELP]])
    assert [p.provider for p in one.providers] == [GOOGLE, YELP]
    assert one.as_rows() == whole.as_rows() == plan_for_budget(campaign).as_rows()


def test_denver_numbers(adapters: dict[str, SourceAdapter]) -> None:
    campaign = load_campaign(next(p for p in CAMPAIGNS if p.stem == "denver_home_services"))
    plan = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    google, yelp = plan.providers
    # 1 area of 40 km fits both providers; 4 keywords.
    assert (google.queries, google.max_calls) == (4, 4 * 3) and google.max_records == 4 * 60
    assert (yelp.queries, yelp.max_calls) == (4, 4 * 5) and yelp.max_records == 4 * 240
    assert plan.discovery_calls == 32
    assert plan.discovery_cost_usd == pytest.approx(12 * price(GOOGLE) + 20 * price(YELP))
    # Enrichment: every worst-case record a lead, one call per lead at each of PDL, Hunter, OpenCorporates.
    assert [(e.provider, e.leads, e.max_calls) for e in plan.enrichment] == [
        ("pdl", 1200, 1200),
        ("hunter", 1200, 1200),
        ("opencorporates", 1200, 1200),
    ]
    per_lead = price("pdl") + price("hunter") + price("opencorporates")
    assert plan.enrichment_cost_usd == pytest.approx(1200 * per_lead)
    assert plan.discovery_within_budget and not plan.within_budget  # enrichment is capped at run time


def test_wide_areas_are_tiled_per_provider(adapters: dict[str, SourceAdapter]) -> None:
    """The planner's geometry and the queries the adapters build from it (owned here, not by adapters)."""
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
    gq, yq = adapters[GOOGLE].plan_queries(campaign), adapters[YELP].plan_queries(campaign)
    assert google.queries == len(gq) == 12 and yelp.queries == len(yq) == 18
    assert any("5 tiles" in n for n in google.notes) and any("Austin" in n for n in yelp.notes)
    assert len({q.fingerprint for q in gq + yq}) == len(gq) + len(yq) == 30
    assert [q.fingerprint for q in adapters[GOOGLE].plan_queries(campaign)] == [q.fingerprint for q in gq]
    assert gq[0].params["textQuery"] == "plumber in Denver, CO"
    assert all(q.params["locationBias"]["circle"]["radius"] <= MAX_RADIUS_KM[GOOGLE] * 1000 for q in gq[:10])
    assert "locationBias" not in gq[10].params  # Austin: a city search
    assert all(q.params["radius"] <= MAX_RADIUS_KM[YELP] * 1000 for q in yq[:16])
    assert yq[16].params["location"] == "Austin, TX" and "radius" not in yq[16].params


def test_smaller_pages_mean_more_worst_case_calls() -> None:
    campaign = spec([Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)], ["plumber"])
    with offline(GOOGLE, page_size=7) as g, offline(YELP, page_size=20) as y:
        google, yelp = plan_campaign(campaign, [g, y]).providers
    assert (google.max_pages, yelp.max_pages) == (math.ceil(60 / 7), math.ceil(240 / 20))


def test_rows_print_as_json_with_enrichment_and_one_total(adapters: dict[str, SourceAdapter]) -> None:
    campaign = spec(
        [Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)],
        ["hvac"],
        1.0,
        enrichment=["pdl", "hunter"],
    )
    plan = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]])
    rows = json.loads(json.dumps(plan.as_rows()))
    assert [(r["kind"], r["provider"]) for r in rows] == [
        ("discovery", GOOGLE),
        ("discovery", YELP),
        ("subtotal", "discovery"),
        ("enrichment", "pdl"),
        ("enrichment", "hunter"),
        ("subtotal", "enrichment"),
        ("total", "total"),
    ]
    assert len({tuple(r) for r in rows}) == 1, "every row has the same columns (a table, a CSV)"
    discovery, total = rows[2], rows[-1]
    assert discovery["max_calls"] == 3 + 5 and discovery["max_records"] == 60 + 240
    assert discovery["cost_usd"] == pytest.approx(3 * price(GOOGLE) + 5 * price(YELP))
    assert discovery["within_budget"] is True and discovery["budget_usd"] == 1.0
    pdl = rows[3]
    assert pdl["leads"] == 300 and pdl["calls_per_lead"] == DEFAULT_LOOKUP_CALLS[0] == 1
    assert pdl["cost_usd"] == pytest.approx(300 * price("pdl"))
    assert "worst-case discovered records" in pdl["notes"] and DEFAULT_LOOKUP_CALLS[1] in pdl["notes"]
    assert total["cost_usd"] == pytest.approx(
        plan.discovery_cost_usd + 300 * (price("pdl") + price("hunter"))
    )
    assert total["budget_usd"] == 1.0 and total["within_budget"] is False
    assert "one budget per campaign run" in total["notes"] and "budget exhausted" in total["notes"]


def test_a_spec_calls_per_lead_figure_wins(adapters: dict[str, SourceAdapter]) -> None:
    from dataclasses import replace

    from leadlake.connectors.registry import register

    original = connector("hunter")
    register(replace(original, extra={"calls_per_lead": 2, "calls_per_lead_note": "two pages"}), replace=True)
    try:
        campaign = spec([Area(city="Denver", region="CO")], ["hvac"], 5.0, enrichment=["hunter"])
        (hunter,) = plan_campaign(campaign, [adapters[GOOGLE], adapters[YELP]]).enrichment
    finally:
        register(original, replace=True)
    assert hunter.max_calls == 2 * hunter.leads and "two pages" in hunter.notes[0]


def test_campaign_plan_prints_enrichment_and_the_default_budget(tmp_path: Path) -> None:
    """What a user sees: `leadlake campaign plan` on a file without a budget."""
    text = (ROOT / "campaigns" / "texas_dental.yaml").read_text()
    doc = "\n".join(line for line in text.splitlines() if not line.startswith("budget:"))
    path = tmp_path / "no_budget.yaml"
    path.write_text(doc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLAKE_")} | {
        "LEADLAKE_STATE_DIR": str(tmp_path / "state")
    }
    done = subprocess.run(
        [LEADLAKE, "campaign", "plan", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["provider"] for r in rows if r["kind"] == "enrichment"] == ["pdl", "hunter"]
    total = rows[-1]
    assert total["budget_usd"] == DEFAULT_MAX_COST_USD and "default cap" in total["notes"]


# ---- the budget guard ----------------------------------------------------------------------------------
def test_enforce_budget_raises_with_numbers_and_passes_under(adapters: dict[str, SourceAdapter]) -> None:
    area = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)
    pair = [adapters[GOOGLE], adapters[YELP]]
    worst = 2 * 3 * price(GOOGLE) + 2 * 5 * price(YELP)  # 2 keywords: 6 Google pages, 10 Yelp pages
    over = plan_campaign(spec([area], ["plumber", "hvac"], budget=0.10), pair)
    assert not over.discovery_within_budget and over.discovery_cost_usd == pytest.approx(worst)
    with pytest.raises(BudgetExceeded) as caught:
        enforce_budget(over)
    msg = str(caught.value)
    for fragment in (
        "'plan_test'",
        f"${worst:.2f}",
        "$0.10",
        "google_places: 2 queries x 3 pages = 6 calls",
        "yelp: 2",
    ):
        assert fragment in msg
    assert "max_cost_usd" in msg and "fewer keywords, areas or sources" in msg
    assert caught.value.plan is over
    enforce_budget(
        plan_campaign(spec([area], ["plumber", "hvac"], budget=math.ceil(worst * 100) / 100), pair)
    )
    enforce_budget(plan_campaign(spec([area], ["plumber", "hvac"], budget=None), pair))
    exact = plan_campaign(spec([area], ["plumber", "hvac"], budget=over.discovery_cost_usd), pair)
    assert exact.discovery_within_budget


def test_enrichment_alone_does_not_refuse_a_campaign(adapters: dict[str, SourceAdapter]) -> None:
    area = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=10)
    plan = plan_campaign(spec([area], ["hvac"], budget=1.0, enrichment=["pdl"]), list(adapters.values()))
    assert plan.discovery_within_budget and not plan.within_budget
    enforce_budget(plan)  # the run-time ledger stops the lookups at the budget instead


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed=42, businesses=500) as sb:
        yield sb


def test_over_budget_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    campaign = load_campaign(next(p for p in CAMPAIGNS if p.stem == "texas_dental"))
    campaign = campaign.model_copy(update={"max_cost_usd": 0.01})
    sandbox.reset()
    before = sandbox.stats()["requests"]
    with adapter(GOOGLE, sandbox) as g, adapter(YELP, sandbox) as y:
        plan = plan_campaign(campaign, [g, y])
        with pytest.raises(BudgetExceeded, match="texas_dental"):
            enforce_budget(plan)
    assert before == 0 and sandbox.stats()["requests"] == 0


# ---- tiling reaches what one clamped circle cannot -----------------------------------------------------
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
    with adapter(provider, sandbox) as ad:
        got_wide, got_narrow = fetched(ad, wide), fetched(ad, narrow)
    assert got_wide == set(truth)  # every business of the city, the far ones included
    assert far <= got_wide and not far & got_narrow  # one 50 km circle cannot reach them
