"""Deterministic synthetic world of local businesses, as seen by each provider with its own noise.

geography, vocabulary -> businesses (truth) -> views (provider records) -> noise -> drift; model builds the
World. `NoiseProfile` (off by default, realistic as `NoiseProfile()`) sets the rates of real provider overlap.
"""

from leadlake.sandbox.world.businesses import BusinessMaker
from leadlake.sandbox.world.drift import apply_drift
from leadlake.sandbox.world.formats import (
    BASE62,
    base62_id,
    google_place_id,
    international_phone,
    national_phone,
    slug,
)
from leadlake.sandbox.world.geography import CITIES, EARTH_RADIUS_M, City, haversine_m
from leadlake.sandbox.world.model import World, gc_paused
from leadlake.sandbox.world.noise import NoiseProfile
from leadlake.sandbox.world.records import GOOGLE, PROVIDERS, YELP, Business, RecordMeta
from leadlake.sandbox.world.views import ProviderViews
from leadlake.sandbox.world.vocabulary import (
    ADJECTIVES,
    CATEGORIES,
    CATEGORY_NOUNS,
    CATEGORY_SYNONYMS,
    CHAINS,
    DEFAULT_SUFFIXES,
    DIRECTIONS,
    GOOGLE_TYPES,
    LEGAL_SUFFIXES,
    STREET_SUFFIXES,
    STREETS,
    SURNAMES,
    TLDS,
    TOLL_FREE,
    UNIT_KINDS,
    YELP_CATEGORIES,
)

__all__ = [
    "ADJECTIVES",
    "BASE62",
    "CATEGORIES",
    "CATEGORY_NOUNS",
    "CATEGORY_SYNONYMS",
    "CHAINS",
    "CITIES",
    "DEFAULT_SUFFIXES",
    "DIRECTIONS",
    "EARTH_RADIUS_M",
    "GOOGLE",
    "GOOGLE_TYPES",
    "LEGAL_SUFFIXES",
    "NoiseProfile",
    "PROVIDERS",
    "STREETS",
    "STREET_SUFFIXES",
    "SURNAMES",
    "TLDS",
    "TOLL_FREE",
    "UNIT_KINDS",
    "YELP",
    "YELP_CATEGORIES",
    "Business",
    "BusinessMaker",
    "City",
    "ProviderViews",
    "RecordMeta",
    "World",
    "apply_drift",
    "base62_id",
    "gc_paused",
    "google_place_id",
    "haversine_m",
    "international_phone",
    "national_phone",
    "slug",
]
