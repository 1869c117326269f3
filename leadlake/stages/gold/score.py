"""The rules baseline of the tech spec (appendix 19.1): a 0-100 score, a tier and the reasons behind it."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadlake.core.campaign import Area

MODEL_VERSION = "rules-v1"
TIER_A_MIN, TIER_B_MIN = 50, 25
RADIUS_KM = 25.0


@dataclass(frozen=True)
class Score:
    """A lead's score, its priority tier and one reason per rule that fired."""

    lead_score: int
    priority_tier: str
    score_reasons: list[str]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def distance_to_areas_km(lat: float | None, lon: float | None, areas: Iterable[Area]) -> float | None:
    """Distance to the nearest campaign area centre; None when either side has no coordinates."""
    if lat is None or lon is None or _isnan(lat) or _isnan(lon):
        return None
    centres = tuple((a.lat, a.lon) for a in areas if a.lat is not None and a.lon is not None)
    return _nearest_km(float(lat), float(lon), centres)


@functools.lru_cache(maxsize=4096)
def _nearest_km(lat: float, lon: float, centres: tuple[tuple[float, float], ...]) -> float | None:
    # Memoised: enrichment's targeting scores one lead many times under one campaign (once per field it
    # could buy), and the campaign's areas were measured again each time.
    return min((haversine_km(lat, lon, a, b) for a, b in centres), default=None)


def distances_to_areas_km(lats: np.ndarray, lons: np.ndarray, areas: Iterable[Area]) -> np.ndarray:
    """distance_to_areas_km for many points at once (the same formula in numpy); NaN where a point or
    every area lacks coordinates."""
    lats, lons = np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)
    centres = [(a.lat, a.lon) for a in areas if a.lat is not None and a.lon is not None]
    out = np.full(len(lats), np.nan)
    if not centres or not len(lats):
        return out
    a_lat_deg, a_lon = np.array(centres, dtype=float).T
    p2 = np.radians(a_lat_deg)[None, :]
    step = max(1, 2_000_000 // len(centres))  # bounds the points x areas matrix to ~16 MB a block
    for start in range(0, len(lats), step):
        p1 = np.radians(lats[start : start + step])[:, None]
        dl = np.radians(a_lon[None, :] - lons[start : start + step, None])
        h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        out[start : start + step] = (2 * 6371.0088 * np.arcsin(np.sqrt(h))).min(axis=1)
    return out


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _val(lead: Mapping[str, Any], key: str) -> Any:
    v = lead.get(key)
    return None if v is None or _isnan(v) else v


def tier_for(score: int) -> str:
    """A for 50+, B for 25+, C below."""
    return "A" if score >= TIER_A_MIN else "B" if score >= TIER_B_MIN else "C"


def score_lead(lead: Mapping[str, Any], vertical: str, areas: Sequence[Area] = ()) -> Score:
    """Apply the appendix 19.1 rules to one silver lead; signals we do not collect yet score nothing."""
    dist = distance_to_areas_km(_val(lead, "lat"), _val(lead, "lon"), areas)
    return score_at_distance(lead, vertical, dist)


def score_at_distance(lead: Mapping[str, Any], vertical: str, dist: float | None) -> Score:
    """score_lead with the distance to the campaign's nearest area already known (None: unknown)."""
    score, reasons = 0, []
    rating, reviews = _val(lead, "rating"), _val(lead, "review_count")
    if rating is not None and reviews is not None and rating >= 4.3 and reviews >= 50:
        score += 25
        reasons.append(f"+25 high rating: {rating:.1f} from {int(reviews)} reviews")
    domain, website = _val(lead, "domain"), _val(lead, "website")
    if website and domain:
        score += 15
        reasons.append(f"+15 website on a registered domain ({domain})")
    tech = lead.get("tech_signals")
    if vertical == "ecommerce" and tech is not None and "shopify" in {str(t).lower() for t in tech}:
        score += 10
        reasons.append("+10 runs Shopify")
    if vertical == "b2b_saas" and _val(lead, "employees_range") in ("11-50", "51-200"):
        score += 10
        reasons.append(f"+10 target company size ({lead['employees_range']} employees)")
    if dist is not None and dist <= RADIUS_KM:
        score += 10
        reasons.append(f"+10 within {RADIUS_KM:.0f} km of the target area ({dist:.1f} km)")
    if lead.get("email_verified_domain"):
        score += 15
        reasons.append("+15 verified email on the company domain")
    if _val(lead, "phone_e164") and not lead.get("phone_is_toll_free"):
        score += 10
        reasons.append("+10 direct (not toll-free) phone")
    score = min(score, 100)
    return Score(score, tier_for(score), reasons)
