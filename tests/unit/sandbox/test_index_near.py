"""The sandbox's search cuts a (category, city) cell to the points near a query's circle before the exact
test: the matches and their order must be what a scan of the whole cell gives."""

from __future__ import annotations

import random

import pytest

from leadlake.sandbox.index import NEAR_MIN, WorldIndex
from leadlake.sandbox.world import CATEGORIES, CITIES, GOOGLE, YELP, World, haversine_m


@pytest.fixture(scope="module")
def index() -> WorldIndex:
    return WorldIndex(World.generate(seed=9, businesses=20_000))


def exact(
    index: WorldIndex, provider: str, near: tuple[float, float, float], cats: set[str], cities: list[int]
) -> list[int]:
    """What a search matches with the cut: the candidates near the circle, then the exact test."""
    idx = index.providers[provider]
    lat, lon, radius = near
    got = idx.candidates(cats, cities, near=near)
    return [p for p in got if haversine_m(lat, lon, idx.metas[p].lat, idx.metas[p].lon) <= radius]


@pytest.mark.parametrize("provider", [GOOGLE, YELP])
def test_near_circles_match_what_a_scan_of_the_whole_cell_matches(index: WorldIndex, provider: str) -> None:
    rng = random.Random(4)
    idx = index.providers[provider]
    assert max(len(c) for c in idx.cells.values()) >= NEAR_MIN, "some cells are big enough to be cut"
    matched = 0
    for _ in range(300):
        ci = rng.randrange(len(CITIES))
        city = CITIES[ci]
        # Centres around the city, radii from a few metres (the boundary) to Google's 50 km.
        near = (
            city.lat + rng.uniform(-0.4, 0.4),
            city.lon + rng.uniform(-0.4, 0.4),
            rng.choice([5.0, 800.0, 3_000.0, 12_000.0, 50_000.0]),
        )
        cats = set(rng.sample(list(CATEGORIES), rng.randint(1, 3)))
        whole = [
            p
            for p in idx.candidates(cats, [ci])
            if haversine_m(near[0], near[1], idx.metas[p].lat, idx.metas[p].lon) <= near[2]
        ]
        assert exact(index, provider, near, cats, [ci]) == whole
        matched += len(whole)
    assert matched > 1000, "the circles matched real records, in order"


def test_a_point_exactly_on_the_circle_is_kept(index: WorldIndex) -> None:
    idx = index.providers[GOOGLE]
    key = max(idx.cells, key=lambda k: len(idx.cells[k]))
    cat, ci = key
    a, b = idx.cells[key][0], idx.cells[key][-1]
    ma, mb = idx.metas[a], idx.metas[b]
    radius = haversine_m(ma.lat, ma.lon, mb.lat, mb.lon)  # b lies on the circle around a
    near = (ma.lat, ma.lon, radius)
    assert b in exact(index, GOOGLE, near, {cat}, [ci])
