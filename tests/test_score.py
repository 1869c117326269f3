"""The rules baseline of appendix 19.1: each rule fires on its own and the reasons say why."""

from __future__ import annotations

import math

import pytest

from leadlake.core.campaign import Area
from leadlake.core.geo import haversine_km
from leadlake.stages.gold.score import score_lead, tier_for

DENVER = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=40)


def lead(**kw) -> dict:
    base = {
        "rating": None,
        "review_count": None,
        "website": None,
        "domain": None,
        "lat": None,
        "lon": None,
        "phone_e164": None,
        "phone_is_toll_free": False,
    }
    return base | kw


def test_empty_lead_scores_zero() -> None:
    s = score_lead(lead(), "local_services", [DENVER])
    assert (s.lead_score, s.priority_tier, s.score_reasons) == (0, "C", [])


def test_each_rule() -> None:
    assert score_lead(lead(rating=4.5, review_count=80), "x").lead_score == 25
    assert score_lead(lead(rating=4.2, review_count=800), "x").lead_score == 0
    assert score_lead(lead(rating=4.9, review_count=49), "x").lead_score == 0
    assert score_lead(lead(website="https://a.com", domain="a.com"), "x").lead_score == 15
    assert score_lead(lead(website="https://a.com"), "x").lead_score == 0
    assert score_lead(lead(phone_e164="+13035550101"), "x").lead_score == 10
    assert score_lead(lead(phone_e164="+18005550101", phone_is_toll_free=True), "x").lead_score == 0
    assert score_lead(lead(lat=39.75, lon=-104.99), "x", [DENVER]).lead_score == 10
    assert score_lead(lead(lat=40.5, lon=-104.99), "x", [DENVER]).lead_score == 0
    assert score_lead(lead(employees_range="11-50"), "b2b_saas").lead_score == 10
    assert score_lead(lead(employees_range="11-50"), "local_services").lead_score == 0
    assert score_lead(lead(tech_signals=["Shopify"]), "ecommerce").lead_score == 10


def test_full_lead_tier_and_reasons() -> None:
    s = score_lead(
        lead(
            rating=4.6,
            review_count=152,
            website="https://ace.com",
            domain="ace.com",
            lat=39.74,
            lon=-104.99,
            phone_e164="+13035550101",
        ),
        "local_services",
        [DENVER],
    )
    assert s.lead_score == 60 and s.priority_tier == "A"
    assert len(s.score_reasons) == 4 and any("152 reviews" in r for r in s.score_reasons)


def test_nan_is_missing() -> None:
    assert (
        score_lead(lead(rating=math.nan, review_count=100, lat=math.nan, lon=1.0), "x", [DENVER]).lead_score
        == 0
    )


def test_tiers_and_distance() -> None:
    assert [tier_for(x) for x in (0, 24, 25, 49, 50, 100)] == ["C", "C", "B", "B", "A", "A"]
    # Denver to Austin is about 770 miles (1,240 km) as the crow flies.
    assert 1200 < haversine_km(39.7392, -104.9903, 30.2672, -97.7431) < 1290


def test_the_vectorised_area_distance_is_the_scalar_one() -> None:
    """Gold computes each campaign's area distances in numpy: the same kilometres as the per-lead rule,
    NaN where a point has no coordinates, and all NaN when no area has a centre."""
    import random

    import numpy as np

    from leadlake.stages.gold.score import distance_to_areas_km, distances_to_areas_km

    rng = random.Random(5)
    areas = [
        Area(city="c", region="CO", lat=rng.uniform(25, 48), lon=rng.uniform(-122, -71)) for _ in range(30)
    ]
    areas.append(Area(city="no centre", region="CO"))
    lats = [rng.uniform(25, 48) for _ in range(500)] + [math.nan, 40.0]
    lons = [rng.uniform(-122, -71) for _ in range(500)] + [-104.9, math.nan]
    got = distances_to_areas_km(np.array(lats), np.array(lons), areas)
    for lat, lon, d in zip(lats, lons, got, strict=True):
        want = distance_to_areas_km(lat, lon, areas)
        assert (want is None and math.isnan(d)) or d == pytest.approx(want, rel=1e-12, abs=1e-9)
    no_centre = [Area(city="x", region="CO")]
    assert np.isnan(distances_to_areas_km(np.array([40.0]), np.array([-105.0]), no_centre)).all()


def test_area_distance_follows_the_areas_asked_about_through_its_cache() -> None:
    """The scalar distance keeps each areas sequence's centres and each point's answer: a new sequence
    (even one made where an old one was, as a loop does) must be measured afresh, never served another's."""
    import numpy as np

    from leadlake.stages.gold.score import distance_to_areas_km, distances_to_areas_km

    point = (39.74, -104.99)
    for i in range(600):  # past the cache's bound, so it is also cleared and refilled
        areas = [Area(city=f"c{i}", region="CO", lat=39.74 + i / 50, lon=-104.99)]
        want = float(distances_to_areas_km(np.array([point[0]]), np.array([point[1]]), areas)[0])
        assert distance_to_areas_km(*point, areas) == pytest.approx(want, rel=1e-12, abs=1e-9)
        assert distance_to_areas_km(*point, areas) == pytest.approx(i / 50 * 111.195, rel=1e-3, abs=1e-9)
    assert distance_to_areas_km(*point, [Area(city="no centre", region="CO")]) is None
    assert distance_to_areas_km(None, -104.99, areas) is None
