"""The rules baseline of the tech spec (appendix 19.1): a 0-100 score, a tier and the reasons behind it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadlake.core.campaign import Area
from leadlake.core.geo import nearest_km

MODEL_VERSION = "rules-v1"
TIER_A_MIN, TIER_B_MIN = 50, 25
RADIUS_KM = 25.0


@dataclass(frozen=True)
class Score:
    """A lead's score, its priority tier and one reason per rule that fired."""

    lead_score: int
    priority_tier: str
    score_reasons: list[str]


def distance_to_areas_km(lat: float | None, lon: float | None, areas: Iterable[Area]) -> float | None:
    """Distance to the nearest campaign area centre; None when either side has no coordinates."""
    if lat is None or lon is None or _isnan(lat) or _isnan(lon):
        return None
    centres, nearest = _centres_of(areas)
    if centres is None:
        return None
    point = (float(lat), float(lon))
    d = nearest.get(point)
    if d is None:
        if len(nearest) >= _POINTS_KEPT:
            nearest.clear()
        d = nearest[point] = float(nearest_km(np.array([point[0]]), np.array([point[1]]), *centres)[0])
    return d


# Enrichment's targeting scores one lead under one campaign several times (once per field it could buy),
# and a city campaign has hundreds of areas: each areas sequence's centres are made once, and each point's
# nearest distance is kept. Keyed by the sequence's identity, which the entry's reference keeps unique.
_CentreArrays = tuple[np.ndarray, np.ndarray]
_CENTRES: dict[int, tuple[object, _CentreArrays | None, dict[tuple[float, float], float]]] = {}
_AREA_SEQUENCES_KEPT, _POINTS_KEPT = 256, 500_000


def _centres_of(areas: Iterable[Area]) -> tuple[_CentreArrays | None, dict[tuple[float, float], float]]:
    hit = _CENTRES.get(id(areas))
    if hit is None or hit[0] is not areas:
        pairs = [(a.lat, a.lon) for a in areas if a.lat is not None and a.lon is not None]
        arrays = tuple(np.array(pairs, dtype=float).T) if pairs else None
        if len(_CENTRES) >= _AREA_SEQUENCES_KEPT:
            _CENTRES.clear()
        hit = _CENTRES[id(areas)] = (areas, arrays, {})
    return hit[1], hit[2]


def distances_to_areas_km(lats: np.ndarray, lons: np.ndarray, areas: Iterable[Area]) -> np.ndarray:
    """distance_to_areas_km for many points at once (the same formula); NaN where a point or every area
    lacks coordinates."""
    lats, lons = np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)
    centres, _ = _centres_of(areas)
    if centres is None or not len(lats):
        return np.full(len(lats), np.nan)
    return nearest_km(lats, lons, *centres)


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
