"""The one great-circle distance every stage uses (scoring, targeting, the resolver's veto, features)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leadlake.core.geo import haversine_km, haversine_km_np, nearest_km

POINTS = [(39.7392, -104.9903), (30.2672, -97.7431), (47.6062, -122.3321), (-33.8688, 151.2093), (0.0, 179.9)]


def test_the_array_form_agrees_with_the_scalar_one() -> None:
    la, lo = np.array([p[0] for p in POINTS]), np.array([p[1] for p in POINTS])
    want = [[haversine_km(a, b, c, d) for c, d in POINTS] for a, b in POINTS]
    got = haversine_km_np(la[:, None], lo[:, None], la[None, :], lo[None, :])
    assert got == pytest.approx(np.array(want), abs=1e-9)
    assert haversine_km(0.0, 179.9, 0.0, -179.9) == pytest.approx(
        22.239, abs=0.001
    )  # across the antimeridian


def test_nearest_takes_the_closest_centre_in_any_block_size() -> None:
    rng = np.random.default_rng(3)
    lats, lons = rng.uniform(25, 49, 5_000), rng.uniform(-124, -67, 5_000)
    c_lats, c_lons = rng.uniform(25, 49, 700), rng.uniform(-124, -67, 700)  # 700 centres: several blocks
    got = nearest_km(lats, lons, c_lats, c_lons)
    for i in (0, 1_234, 2_857, 4_999):  # the blocks' first, middles and last
        want = min(haversine_km(lats[i], lons[i], a, b) for a, b in zip(c_lats, c_lons, strict=True))
        assert got[i] == pytest.approx(want, abs=1e-9)


def test_a_missing_coordinate_is_nan_not_zero() -> None:
    got = nearest_km(
        np.array([math.nan, 39.7]), np.array([-105.0, -105.0]), np.array([39.7]), np.array([-105.0])
    )
    assert math.isnan(got[0]) and got[1] == pytest.approx(0.0, abs=1e-9)
