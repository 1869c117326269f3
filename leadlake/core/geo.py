"""Geography: great-circle distances, and covering a campaign area's circle with the search circles a provider
accepts (pure, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from leadlake.core.campaign import Area

EARTH_RADIUS_KM = 6371.0088  # the sandbox's too (haversine_m): planned circles measure as it does
# Tiles are laid out on an azimuthal equidistant plane around the area's centre; its distortion grows as
# (d/R_earth)^2, so tiles are drawn slightly larger than planned to absorb it (and rounding to metres).
_TILE_SLACK = 2e-3
_MIN_RING = 3  # a ring of fewer than 3 circles never beats the single centre tile


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_np(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """haversine_km over arrays (or an array and a point: numpy broadcasts); NaN where a coordinate is."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.subtract(lon2, lon1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def nearest_km(lats: np.ndarray, lons: np.ndarray, c_lats: np.ndarray, c_lons: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest centre (c_lats, c_lons), in km, in blocks of ~16 MB."""
    out = np.empty(len(lats))
    c_lat, c_lon = np.asarray(c_lats, dtype=float)[None, :], np.asarray(c_lons, dtype=float)[None, :]
    step = max(1, 2_000_000 // max(1, c_lat.shape[1]))
    for start in range(0, len(lats), step):
        block = slice(start, start + step)
        out[block] = haversine_km_np(lats[block, None], lons[block, None], c_lat, c_lon).min(axis=1)
    return out


@dataclass(frozen=True)
class Tile:
    """A search circle a provider accepts: centre and radius (km) within its maximum."""

    center_lat: float
    center_lon: float
    radius_km: float


def _ring_reach(a: float, k: int, r: float) -> tuple[float, float] | None:
    """Outer radius a ring of k circles of radius r covers from inner radius a, and its ring radius.

    Each circle owns a sector of angle 2*pi/k; the sector's worst points are its arc endpoints, so the
    circle must reach the inner endpoints (at a) and the outer ones (at b); None when it cannot.
    """
    if k == 1:
        return (r, 0.0) if a == 0.0 else None
    phi = math.pi / k
    s, c = math.sin(phi), math.cos(phi)
    if a * s > r:
        return None
    h = math.sqrt(r * r - (a * s) ** 2)
    # r*cot(phi) maximises the reach; clamp it to the ring radii that still reach the inner endpoints.
    rho = min(max(r * c / s, a * c - h), a * c + h)
    disc = r * r - (rho * s) ** 2
    if disc < 0:
        return None
    b = rho * c + math.sqrt(disc)
    return (b, rho) if b > a else None


def _rings(radius: float, r: float) -> list[tuple[int, float]]:
    """Concentric rings (count, ring radius) of circles of radius r covering a disc; few circles in all.

    From every start (a centre circle or a ring of 3..8), rings grow outwards by the most width per
    circle, and at each step the cheapest ring that closes the disc is a candidate; the fewest wins.
    """
    if radius <= r:
        return [(1, 0.0)]
    best: list[tuple[int, float]] | None = None
    k_cap = 8 + math.ceil(2 * math.pi * (radius + 2 * r) / r)
    for first in (1, *range(_MIN_RING, 9)):
        start = _ring_reach(0.0, first, r)
        if start is None:
            continue
        rings, a = [(first, start[1])], start[0]
        while True:
            if a >= radius:
                if best is None or sum(k for k, _ in rings) < sum(k for k, _ in best):
                    best = list(rings)
                break
            if best is not None and sum(k for k, _ in rings) >= sum(k for k, _ in best):
                break
            closing, widest, width = None, None, 0.0
            for k in range(_MIN_RING, k_cap + 1):
                reach = _ring_reach(a, k, r)
                if reach is None:
                    continue
                if reach[0] >= radius:
                    closing = (k, reach[1])
                    break
                if (reach[0] - a) / k > width:
                    widest, width = (k, reach[1], reach[0]), (reach[0] - a) / k
            if closing is not None:
                total = sum(k for k, _ in rings) + closing[0]
                if best is None or total < sum(k for k, _ in best):
                    best = [*rings, closing]
            if widest is None:
                break
            rings.append(widest[:2])
            a = widest[2]
    if best is None:
        raise ValueError(f"cannot cover a {radius} km circle with {r} km circles")
    return best


def _destination(lat: float, lon: float, bearing: float, dist_km: float) -> tuple[float, float]:
    """The point `dist_km` from (lat, lon) along the great circle at `bearing` (radians from north)."""
    p1, l1, d = math.radians(lat), math.radians(lon), dist_km / EARTH_RADIUS_KM
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def _hexagon_distance(cx: float, cy: float, r: float) -> float:
    """Distance from the origin to the regular hexagon of circumradius r at (cx, cy), corners at 30°+60°j."""
    corners = [
        (cx + r * math.cos(math.radians(30 + 60 * j)), cy + r * math.sin(math.radians(30 + 60 * j)))
        for j in range(6)
    ]
    inside, best = True, math.inf
    for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
        ex, ey = x2 - x1, y2 - y1
        # Counter-clockwise corners: the origin is inside when it lies left of every edge.
        inside &= ex * (0 - y1) - ey * (0 - x1) >= 0
        t = max(0.0, min(1.0, (-x1 * ex - y1 * ey) / (ex * ex + ey * ey)))
        best = min(best, math.hypot(x1 + t * ex, y1 + t * ey))
    return 0.0 if inside else best


def _hex_points(radius: float, r: float) -> list[tuple[float, float]]:
    """Centres of a hexagonal lattice of r-circles whose Voronoi cells meet the disc; best of 3 offsets.

    Every point lies in some lattice point's cell, within r of it, so keeping the cells that meet the disc
    covers it; for wide areas this beats concentric rings (covering density 1.21).
    """
    d = r * math.sqrt(3.0)
    n = math.ceil(radius / d) + 2
    best: list[tuple[float, float]] | None = None
    for ox, oy in ((0.0, 0.0), (d / 2, r / 2), (0.0, r)):
        pts = []
        for j in range(-2 * n, 2 * n + 1):
            for i in range(-2 * n, 2 * n + 1):
                x, y = i * d + j * d / 2 + ox, j * d * math.sqrt(3.0) / 2 + oy
                dist = math.hypot(x, y)
                # Only cells straddling the circle need the exact hexagon distance.
                if dist <= radius or (dist <= radius + r and _hexagon_distance(x, y, r) <= radius):
                    pts.append((x, y))
        if best is None or len(pts) < len(best):
            best = pts
    assert best is not None
    return best


def _layout(radius: float, r: float) -> list[tuple[float, float]]:
    """Circle centres (x east, y north, km) of radius r covering the disc: the fewer of rings and hexagons."""
    points: list[tuple[float, float]] = []
    for k, rho in _rings(radius, r):
        if k == 1:
            points.append((0.0, 0.0))
        else:
            points.extend(
                (rho * math.sin(2 * math.pi * i / k), rho * math.cos(2 * math.pi * i / k)) for i in range(k)
            )
    if radius > 2 * r:  # below that, rings match the known optimal coverings and a lattice only adds circles
        hexes = _hex_points(radius, r)
        if len(hexes) < len(points):
            return hexes
    return points


@lru_cache(maxsize=256)
def _tiles(lat: float, lon: float, radius_km: float, max_radius_km: float) -> tuple[Tile, ...]:
    slack = 1.0 + _TILE_SLACK + (radius_km / EARTH_RADIUS_KM) ** 2
    r_max = max_radius_km / slack
    layout = _layout(radius_km, r_max)
    n = len(layout)
    # Shrink the circles as far as the same count allows: less overlap, fewer duplicate results per cap.
    lo, hi = radius_km / math.sqrt(n) * 0.99, r_max
    for _ in range(20):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if len(_layout(radius_km, mid)) <= n else (mid, hi)
    r_plan = r_max
    if len(shrunk := _layout(radius_km, hi)) <= n:
        layout, r_plan = shrunk, hi
    r_tile = min(max_radius_km, math.ceil(r_plan * slack * 1000.0) / 1000.0)
    tiles = []
    for x, y in layout:
        if math.hypot(x, y) < 1e-9:
            tiles.append(Tile(lat, lon, r_tile))
            continue
        t_lat, t_lon = _destination(lat, lon, math.atan2(x, y), math.hypot(x, y))
        tiles.append(Tile(round(t_lat, 6), round(t_lon, 6), r_tile))
    return tuple(tiles)


def tiles_for(area: Area, max_radius_km: float) -> list[Tile]:
    """Circles of at most `max_radius_km` that together cover the area's circle; one tile when it fits.

    An area without a centre has no circle to cover and yields no tiles (adapters search it by city name).
    """
    if area.lat is None or area.lon is None:
        return []
    if max_radius_km <= 0:
        raise ValueError(f"max_radius_km must be positive, got {max_radius_km}")
    radius = float(area.radius_km)
    if radius <= max_radius_km:
        return [Tile(area.lat, area.lon, radius)]
    return list(_tiles(float(area.lat), float(area.lon), radius, float(max_radius_km)))
