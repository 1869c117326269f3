"""The bench's plan from its world: every record inside some query's circle, no query over a paging cap,
and the summaries (min / median / max, growth) that its JSON carries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leadlake.connectors.registry import connector, names
from leadlake.runtime.bench import (
    BenchResult,
    StageResult,
    bench_document,
    bench_template,
    growth,
    plan_bench,
    plan_city_tiles,
    summarise,
    template_summary,
)
from leadlake.sandbox.world import CITIES, World, haversine_m


def _inside(tiles: list, lat: float, lon: float) -> list:
    return [t for t in tiles if haversine_m(t[0], t[1], lat, lon) <= t[2] * 1000]


def test_city_tiles_hold_every_point_and_no_group_over_its_cap() -> None:
    rng = np.random.default_rng(7)
    city = CITIES[0]
    n = 3000
    # Dense at the centre, a thin tail outwards, as the world draws its businesses.
    r = np.where(rng.random(n) < 0.85, 25 * np.sqrt(rng.random(n)), 25 + 35 * rng.random(n))
    bearing = rng.random(n) * 2 * math.pi
    lats = city.lat + r * np.cos(bearing) / 111.32
    lons = city.lon + r * np.sin(bearing) / (111.32 * math.cos(math.radians(city.lat)))
    groups = rng.integers(0, 4, n)
    caps = np.array([60, 60, 240, 240])
    tiles = plan_city_tiles(lats, lons, groups, caps, (city.lat, city.lon), max_radius_km=40.0)
    assert all(t[2] <= 40.0 for t in tiles)
    for lat, lon in zip(lats, lons, strict=True):
        assert _inside(tiles, lat, lon), f"({lat}, {lon}) is in no planned circle"
    for t in tiles:
        held = [g for la, lo, g in zip(lats, lons, groups, strict=True) if _inside([t], la, lo)]
        counts = np.bincount(held, minlength=4)
        assert (counts <= caps).all(), f"circle {t[:3]} holds {counts}, over the caps {caps}"
        assert (counts == t[3]).all()
    # Not one circle per point: the plan packs records up to the caps.
    assert len(tiles) < n / 20


def test_bench_plan_covers_the_world_with_one_campaign_per_city() -> None:
    world = World.generate(seed=3, businesses=3000)
    plan = plan_bench(world)
    assert plan.expected_records == len(world.google_places) + len(world.yelp_businesses)
    cities = {m.city_index for p in ("google_places", "yelp") for m in world.meta(p)}
    assert len(plan.campaigns) == len(cities)
    assert len({c.campaign_id for c in plan.campaigns}) == len(plan.campaigns)
    for provider, most in plan.max_per_query.items():
        assert 0 < most <= connector(provider).load().query_limits.max_results
    spec = plan.campaigns[0]
    assert spec.sources == names("discovery") and spec.enrichment == names("enrichment")
    # One keyword per category, and each areas' radius within what every source accepts.
    assert len(spec.keywords) == len(world.categories())
    assert all(a.radius_km <= 40.0 for c in plan.campaigns for a in c.areas)
    # Every record of the world lies in some area of its own city's campaign.
    by_city = {c.areas[0].city: c.areas for c in plan.campaigns}
    for provider in ("google_places", "yelp"):
        for m in world.meta(provider)[::7]:
            areas = by_city[CITIES[m.city_index].name]
            assert any(haversine_m(a.lat, a.lon, m.lat, m.lon) <= a.radius_km * 1000 for a in areas)


def test_the_plan_grows_with_the_world() -> None:
    small = plan_bench(World.generate(seed=3, businesses=2000))
    large = plan_bench(World.generate(seed=3, businesses=20000))
    assert large.expected_records > 9 * small.expected_records
    assert large.queries > small.queries


def _run(n: int, seconds: dict[str, float], rss: float = 100.0) -> BenchResult:
    stages = [StageResult(s, v, n, rss, "", 10, 0.5) for s, v in seconds.items()]
    return BenchResult(n, stages, expected_records=n, landed_records=n)


def test_summary_gives_min_median_max_over_repeats() -> None:
    runs = [_run(1000, {"bronze": 3.0, "silver": 10.0}), _run(1000, {"bronze": 1.0, "silver": 30.0})]
    runs.append(_run(1000, {"bronze": 2.0, "silver": 20.0}))
    rows = {r["stage"]: r for r in summarise(runs)}
    assert (rows["bronze"]["min_s"], rows["bronze"]["median_s"], rows["bronze"]["max_s"]) == (1.0, 2.0, 3.0)
    assert rows["silver"]["records_per_s"] == 50.0
    assert rows["total"]["median_s"] == 22.0 and rows["total"]["http_calls"] == 20
    assert rows["total"]["cost_usd"] == 1.0


def test_growth_says_how_time_and_memory_grow_with_n() -> None:
    summaries = {
        1000: summarise([_run(1000, {"silver": 10.0}, rss=100.0)]),
        10000: summarise([_run(10000, {"silver": 100.0}, rss=1000.0)]),
    }
    row = next(r for r in growth(summaries) if r["stage"] == "silver")
    assert row["time ~ N^k"] == pytest.approx(1.0) and row["RSS ~ N^k"] == pytest.approx(1.0)
    assert row["1000: s"] == 10.0 and row["10000: MiB"] == 1000.0
    doc = bench_document({1000: [_run(1000, {"silver": 1.0})], 10000: [_run(10000, {"silver": 9.0})]}, "gold")
    assert doc["sizes"]["1000"]["landed_ratio"] == [1.0] and doc["growth"]


def test_the_bench_campaigns_copy_the_template_campaign(tmp_path) -> None:
    """Filters, destinations and enrichment decide what enrichment pays for: the bench takes them from the
    tech spec's example campaign by default, or from a campaign file."""
    world = World.generate(seed=3, businesses=500)
    spec_like = plan_bench(world).campaigns[0]
    assert (spec_like.min_rating, spec_like.min_reviews) == (4.0, 20)
    assert [(d.type, d.min_tier) for d in spec_like.destinations] == [("hubspot", "C")]
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nvertical: b2b_saas\ngeo: {city: Denver, region: CO}\nkeywords: [plumber]\n"
        "filters: {min_reviews: 3}\nsources: [yelp]\nenrichment: [hunter]\n"
        "destinations:\n  - {type: hubspot, min_tier: A}\n"
    )
    mine = plan_bench(world, template=bench_template(path))
    for spec in mine.campaigns:
        assert (spec.vertical, spec.min_rating, spec.min_reviews) == ("b2b_saas", None, 3)
        assert spec.enrichment == ["hunter"]
        assert [(d.type, d.min_tier) for d in spec.destinations] == [("hubspot", "A")]
        # Areas and keywords still come from the world, whatever the template searched.
        assert len(spec.keywords) == len(world.categories())
    assert template_summary(bench_template(path), "score")["destinations"] == ["hubspot@A"]
