"""The sandbox world: deterministic by seed, overlapping noisy provider views, valid phones, seeded drift."""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict
from dataclasses import asdict

import phonenumbers
import pytest

from leadlake.sandbox.world import CITIES, TOLL_FREE, World, haversine_m


def _dump(world: World) -> str:
    return json.dumps(
        {
            "businesses": [asdict(b) for b in world.businesses],
            "google": world.google_places,
            "yelp": world.yelp_businesses,
            "truth": sorted([*k, v] for k, v in world.truth.items()),
            "malformed": sorted(world.malformed),
        },
        sort_keys=True,
    )


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=42, businesses=3000)


def test_same_seed_gives_byte_identical_records() -> None:
    assert _dump(World.generate(seed=7, businesses=400)) == _dump(World.generate(seed=7, businesses=400))


def test_different_seed_gives_different_records() -> None:
    a, b = World.generate(seed=7, businesses=400), World.generate(seed=8, businesses=400)
    assert [x.name for x in a.businesses] != [x.name for x in b.businesses]
    assert {p["id"] for p in a.google_places}.isdisjoint({p["id"] for p in b.google_places})


def test_providers_overlap_in_sensible_shares(world: World) -> None:
    n = len(world.businesses)
    by_provider: dict[str, set[str]] = defaultdict(set)
    for (provider, _), business_id in world.truth.items():
        by_provider[provider].add(business_id)
    google, yelp = by_provider["google_places"], by_provider["yelp"]
    assert 0.70 <= len(google) / n <= 0.80
    assert 0.70 <= len(yelp) / n <= 0.80
    assert 0.50 <= len(google & yelp) / n <= 0.62
    assert len(world.truth) == len(world.google_places) + len(world.yelp_businesses)


def test_provider_keys_look_real_and_are_unique(world: World) -> None:
    google_ids = [p["id"] for p in world.google_places]
    assert len(set(google_ids)) == len(google_ids)
    assert all(re.fullmatch(r"ChIJ[A-Za-z0-9_-]{23}", i) for i in google_ids)
    assert all(p["name"] == f"places/{p['id']}" for p in world.google_places)
    yelp_ids = [k for (p, k) in world.truth if p == "yelp"]
    assert len(set(yelp_ids)) == len(yelp_ids)
    assert all(re.fullmatch(r"[0-9A-Za-z]{22}", i) for i in yelp_ids)
    aliases = [b["alias"] for b in world.yelp_businesses]
    assert len(set(aliases)) == len(aliases)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", a) for a in aliases)


def test_phones_are_valid_numbers_with_some_toll_free(world: World) -> None:
    phones = [b.phone for b in world.businesses if b.phone]
    assert 0.9 <= len(phones) / len(world.businesses) < 1.0
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert any(p[2:5] in TOLL_FREE for p in phones)
    for place in world.google_places:
        if "internationalPhoneNumber" in place:
            assert phonenumbers.is_valid_number(phonenumbers.parse(place["internationalPhoneNumber"]))
    for biz in world.yelp_businesses:
        if biz["phone"]:
            assert phonenumbers.is_valid_number(phonenumbers.parse(biz["phone"]))
            assert (
                biz["display_phone"].replace(" ", "").replace("(", "").replace(")", "").replace("-", "")
                in (biz["phone"][2:])
            )


def test_area_codes_match_the_city(world: World) -> None:
    codes = {c.name: set(c.area_codes) for c in CITIES}
    local = [b for b in world.businesses if b.phone and b.phone[2:5] not in TOLL_FREE]
    assert local and all(b.phone[2:5] in codes[b.city] for b in local)


def test_geography_spreads_around_city_centres(world: World) -> None:
    centres = {c.name: c for c in CITIES}
    dist = [haversine_m(b.lat, b.lon, centres[b.city].lat, centres[b.city].lon) for b in world.businesses]
    assert max(dist) <= 61_000
    far = sum(d > 25_000 for d in dist) / len(dist)
    assert 0.05 <= far <= 0.30


def test_ratings_and_review_counts_are_realistic(world: World) -> None:
    ratings = [b.rating for b in world.businesses]
    assert all(1.0 <= r <= 5.0 and math.isclose(r * 10, round(r * 10)) for r in ratings)
    counts = sorted(b.review_count for b in world.businesses)
    assert counts[len(counts) // 2] < sum(counts) / len(counts)  # right-skewed: median below mean


def test_provider_noise_differs_from_truth_but_stays_close(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    google = {p["id"]: p for p in world.google_places}
    renamed = moved = abbreviated = 0
    for (provider, key), business_id in world.truth.items():
        if provider != "google_places" or ("google_places", key) in world.malformed:
            continue
        place, truth = google[key], by_id[business_id]
        renamed += place["displayName"]["text"] != truth.name
        abbreviated += not place["formattedAddress"].startswith(truth.address_line1)
        d = haversine_m(place["location"]["latitude"], place["location"]["longitude"], truth.lat, truth.lon)
        moved += d > 1
        assert d < 250  # tens of metres, never another block
    assert renamed > 0 and moved > 0 and abbreviated > 0
    yelp_names = [b["name"] for b in world.yelp_businesses]
    assert any(" and " in n for n in yelp_names)


def test_chains_are_distinct_businesses(world: World) -> None:
    branches: dict[str, list] = defaultdict(list)
    for b in world.businesses:
        if b.chain:
            branches[b.chain].append(b)
    multi = [bs for bs in branches.values() if len(bs) > 1]
    assert multi
    for bs in multi:
        assert len({b.business_id for b in bs}) == len(bs)
        assert len({(b.address_line1, b.city) for b in bs}) == len(bs)
        phones = [b.phone for b in bs if b.phone]
        assert len(set(phones)) == len(phones)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_malformed_records_follow_the_configured_rate(rate: float) -> None:
    world = World.generate(seed=3, businesses=2000, malformed_rate=rate)
    google = [p for p in world.google_places if ("google_places", p["id"]) in world.malformed]
    assert len(google) == round(rate * len(world.google_places))
    yelp_bad = {k for p, k in world.malformed if p == "yelp"}
    assert len(yelp_bad) == round(rate * len(world.yelp_businesses))
    for place in world.google_places:
        well_formed = (
            isinstance(place["location"], dict)
            and isinstance(place["rating"], float)
            and isinstance(place["displayName"], dict)
        )
        assert well_formed != (("google_places", place["id"]) in world.malformed)
    drifted_yelp = [
        b
        for b in world.yelp_businesses
        if b["id"] is None
        or "coordinates" not in b
        or isinstance(b["location"], str)
        or isinstance(b["rating"], str)
    ]
    assert len(drifted_yelp) == len(yelp_bad)


def test_malformed_records_are_persistent_for_a_seed() -> None:
    a = World.generate(seed=5, businesses=1500, malformed_rate=0.02)
    b = World.generate(seed=5, businesses=1500, malformed_rate=0.02)
    assert a.malformed == b.malformed and a.malformed


def test_generation_of_100k_businesses_is_timed() -> None:
    start = time.perf_counter()
    world = World.generate(seed=42, businesses=100_000)
    elapsed = time.perf_counter() - start
    print(f"\nWorld.generate(seed=42, businesses=100_000): {elapsed:.2f} s")
    assert len(world.businesses) == 100_000
