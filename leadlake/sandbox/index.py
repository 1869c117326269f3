"""Precomputed per-(category, city) indexes over a World, and the matching rules both providers share."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadlake.sandbox.world import (
    CATEGORIES,
    CATEGORY_SYNONYMS,
    CITIES,
    EARTH_RADIUS_M,
    GOOGLE,
    GOOGLE_TYPES,
    YELP,
    YELP_CATEGORIES,
    RecordMeta,
    World,
    gc_paused,
    haversine_m,
)

# Businesses live at most ~60 km from their city centre; prune cities by centre distance with this margin.
CITY_REACH_M = 65_000.0
CACHE_LIMIT = 4096
# A cell this small is scanned as is; a bigger one is first cut to the points near a query's circle.
NEAR_MIN = 64
NEAR_MARGIN_M = 1.0  # numpy's and math's haversine may differ in the last bits: the exact test decides
MASK_CACHE_LIMIT = 32

_CATEGORY_PATTERNS: dict[str, re.Pattern[str]] = {
    cat: re.compile(r"\b(?:" + "|".join(re.escape(s) for s in syns) + r")\b")
    for cat, syns in CATEGORY_SYNONYMS.items()
}
_CITY_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"\b" + re.escape(c.name.lower()) + r"\b") for c in CITIES
]
YELP_ALIAS_TO_CATEGORY: dict[str, str] = {
    alias: cat for cat, pairs in YELP_CATEGORIES.items() for alias, _ in pairs
}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, as the sandbox sends them."""
    return json.dumps(value, separators=(",", ":")).encode()


def apply_mask(value: Any, tree: dict | None) -> Any:
    """Keep only the masked paths of a JSON value (lists are masked element-wise)."""
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply_mask(v, tree) for v in value]
    if not isinstance(value, dict):
        return value  # a schema-drifted scalar where an object was expected is served as is
    return {k: apply_mask(value[k], sub) for k, sub in tree.items() if k in value}


def categories_in(text: str) -> set[str]:
    """Categories whose name, plural or trade word appears in free text."""
    low = text.lower().replace("_", " ")
    return {cat for cat, pat in _CATEGORY_PATTERNS.items() if pat.search(low)}


def cities_in(text: str) -> list[int]:
    """Indexes of the cities whose name appears in free text."""
    low = text.lower()
    return [i for i, pat in enumerate(_CITY_PATTERNS) if pat.search(low)]


def categories_for_google_type(place_type: str) -> set[str]:
    """Categories whose Google types include `place_type`."""
    return {cat for cat, types in GOOGLE_TYPES.items() if place_type in types}


def cities_near(lat: float, lon: float, radius_m: float) -> list[int]:
    """Cities that may have businesses within `radius_m` of a point."""
    return [i for i, c in enumerate(CITIES) if haversine_m(lat, lon, c.lat, c.lon) <= radius_m + CITY_REACH_M]


@dataclass(frozen=True)
class Rectangle:
    """A lat/lon box; `low.lon > high.lon` means it crosses the antimeridian."""

    low_lat: float
    low_lon: float
    high_lat: float
    high_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point lies in the box."""
        if not self.low_lat <= lat <= self.high_lat:
            return False
        if self.low_lon <= self.high_lon:
            return self.low_lon <= lon <= self.high_lon
        return lon >= self.low_lon or lon <= self.high_lon


class ProviderIndex:
    """One provider's records, bucketed by (category, city) and ranked by prominence."""

    def __init__(self, records: list[dict], metas: list[RecordMeta], id_keys: Iterable[str]) -> None:
        self.records = records
        self.metas = metas
        order = sorted(range(len(metas)), key=lambda p: (-_prominence(metas[p]), p))
        self.rank = [0] * len(metas)
        for r, p in enumerate(order):
            self.rank[p] = r
        self.cells: dict[tuple[str, int], list[int]] = {}
        for p in order:
            m = metas[p]
            self.cells.setdefault((m.category, m.city_index), []).append(p)
        self._geo: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._encoded: list[bytes | None] = [None] * len(records)
        self._masked: dict[str, dict[int, bytes]] = {}
        self.by_key: dict[str, int] = {}
        for p, rec in enumerate(records):
            for key in id_keys:
                value = rec.get(key)
                if isinstance(value, str):
                    self.by_key.setdefault(value, p)

    def encoded(self, p: int, mask: dict | None = None) -> bytes:
        """The record at `p` as compact JSON, optionally field-masked; memoised because pages repeat."""
        if mask is None or "*" in mask:
            data = self._encoded[p]
            if data is None:
                data = self._encoded[p] = dumps(self.records[p])
            return data
        mask_key = json.dumps(mask, sort_keys=True)
        cache = self._masked.get(mask_key)
        if cache is None:
            if len(self._masked) >= MASK_CACHE_LIMIT:
                return dumps(apply_mask(self.records[p], mask))
            cache = self._masked.setdefault(mask_key, {})
        data = cache.get(p)
        if data is None:
            data = cache[p] = dumps(apply_mask(self.records[p], mask))
        return data

    def candidates(
        self,
        categories: Iterable[str],
        cities: Iterable[int],
        near: tuple[float, float, float] | None = None,
    ) -> list[int]:
        """Positions in the given cells, best ranked first. `near` (lat, lon, radius m) leaves out the
        positions certainly outside that circle; the caller still applies its exact test to the rest.

        Without it a search scanned its whole (category, city) cell, so the sandbox's work grew with the
        square of the world (more queries, each over a bigger cell) and slowed the bench's bronze at 1M.
        """
        out: list[int] = []
        cities = list(cities)
        for cat in categories:
            for ci in cities:
                cell = self.cells.get((cat, ci), ())
                if near is None or len(cell) < NEAR_MIN:
                    out.extend(cell)
                else:
                    out.extend(self._near((cat, ci), near))
        out.sort(key=self.rank.__getitem__)
        return out

    def _near(self, key: tuple[str, int], near: tuple[float, float, float]) -> list[int]:
        geo = self._geo.get(key)
        if geo is None:  # built on first use; two threads building it at once build the same arrays
            cell = self.cells[key]
            lat = np.radians(np.fromiter((self.metas[p].lat for p in cell), float, len(cell)))
            lon = np.radians(np.fromiter((self.metas[p].lon for p in cell), float, len(cell)))
            geo = self._geo[key] = (np.asarray(cell, dtype=np.int64), lat, lon)
        positions, lat, lon = geo
        p1, l1 = math.radians(near[0]), math.radians(near[1])
        a = np.sin((lat - p1) / 2) ** 2 + math.cos(p1) * np.cos(lat) * np.sin((lon - l1) / 2) ** 2
        dist = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        return positions[dist <= near[2] + NEAR_MARGIN_M].tolist()


def _prominence(m: RecordMeta) -> float:
    return m.rating * math.log1p(m.review_count)


class WorldIndex:
    """Indexes for every provider plus a bounded cache of query results."""

    def __init__(self, world: World) -> None:
        self.world = world
        with gc_paused():
            self.providers = {
                GOOGLE: ProviderIndex(world.google_places, world.google_meta, ("id",)),
                YELP: ProviderIndex(world.yelp_businesses, world.yelp_meta, ("id", "alias")),
            }
        self._cache: dict[Hashable, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def cached(self, key: Hashable, compute: Callable[[], tuple[int, ...]]) -> tuple[int, ...]:
        """Memoise a query's matches; every page of a query reuses the first computation."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        value = compute()
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = value
        return value


ALL_CATEGORIES: frozenset[str] = frozenset(CATEGORIES)
