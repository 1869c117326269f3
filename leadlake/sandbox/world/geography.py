"""The metros the synthetic world lives in, and great-circle distance between points."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class City:
    """A real US metro: centre, state, ZIP prefixes and area codes."""

    name: str
    state: str
    state_name: str
    lat: float
    lon: float
    zip_prefixes: tuple[str, ...]
    area_codes: tuple[str, ...]
    nickname: str
    weight: float


CITIES: tuple[City, ...] = (
    City("Denver", "CO", "Colorado", 39.7392, -104.9903, ("802",), ("303", "720"), "Mile High", 1.0),
    City("Austin", "TX", "Texas", 30.2672, -97.7431, ("787",), ("512", "737"), "Lone Star", 1.0),
    City("Portland", "OR", "Oregon", 45.5152, -122.6784, ("972",), ("503", "971"), "Rose City", 0.9),
    City("Seattle", "WA", "Washington", 47.6062, -122.3321, ("981",), ("206",), "Emerald City", 1.0),
    City("Chicago", "IL", "Illinois", 41.8781, -87.6298, ("606",), ("312", "773", "872"), "Windy City", 1.6),
    City("Boston", "MA", "Massachusetts", 42.3601, -71.0589, ("021",), ("617", "857"), "Beacon Hill", 1.1),
    City("Atlanta", "GA", "Georgia", 33.7490, -84.3880, ("303",), ("404", "470", "678"), "Peachtree", 1.2),
    City("Phoenix", "AZ", "Arizona", 33.4484, -112.0740, ("850",), ("602", "480"), "Desert Sun", 1.2),
    City("Nashville", "TN", "Tennessee", 36.1627, -86.7816, ("372",), ("615", "629"), "Music City", 0.8),
    City("Minneapolis", "MN", "Minnesota", 44.9778, -93.2650, ("554",), ("612",), "North Star", 0.8),
    City("San Diego", "CA", "California", 32.7157, -117.1611, ("921",), ("619", "858"), "Pacific Coast", 1.1),
    City("Miami", "FL", "Florida", 25.7617, -80.1918, ("331",), ("305", "786"), "Biscayne", 1.0),
    City("Dallas", "TX", "Texas", 32.7767, -96.7970, ("752",), ("214", "469", "972"), "Big D", 1.3),
    City("Philadelphia", "PA", "Pennsylvania", 39.9526, -75.1652, ("191",), ("215", "267"), "Liberty", 1.2),
    City("Salt Lake City", "UT", "Utah", 40.7608, -111.8910, ("841",), ("801", "385"), "Wasatch", 0.7),
    City("Kansas City", "MO", "Missouri", 39.0997, -94.5786, ("641",), ("816",), "Heartland", 0.7),
    City("Columbus", "OH", "Ohio", 39.9612, -82.9988, ("432",), ("614", "380"), "Buckeye", 0.8),
    City("Charlotte", "NC", "North Carolina", 35.2271, -80.8431, ("282",), ("704", "980"), "Queen City", 0.9),
    City("Raleigh", "NC", "North Carolina", 35.7796, -78.6382, ("276",), ("919", "984"), "Oak City", 0.7),
    City("Pittsburgh", "PA", "Pennsylvania", 40.4406, -79.9959, ("152",), ("412",), "Steel City", 0.7),
)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
