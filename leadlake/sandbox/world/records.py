"""The world's shapes: a ground-truth business and the clean index values of a provider record."""

from __future__ import annotations

from dataclasses import dataclass

GOOGLE = "google_places"
YELP = "yelp"
PROVIDERS = (GOOGLE, YELP)


@dataclass(frozen=True)
class Business:
    """The ground-truth entity behind every provider record."""

    business_id: str
    name: str
    category: str
    address_line1: str
    city: str
    region: str
    postal: str
    country: str
    lat: float
    lon: float
    phone: str | None
    website: str | None
    rating: float
    review_count: int
    chain: str | None


@dataclass(frozen=True)
class RecordMeta:
    """What the server indexes a provider record by: clean values even when the record is schema-drifted."""

    business_index: int
    category: str
    city_index: int
    lat: float
    lon: float
    rating: float
    review_count: int
    name: str
