"""Provider adapters: real HTTP clients for each lead source, registered by name."""

from __future__ import annotations

from typing import Any

from leadlake.sources.base import (
    SOURCE_RECORD_FIELDS,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    RawItem,
    SourceAdapter,
    SourceRecord,
)
from leadlake.sources.enrichment_base import EnrichmentRecord, merge_records
from leadlake.sources.google_places import GooglePlacesAdapter
from leadlake.sources.http import (
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
)
from leadlake.sources.hunter import HunterAdapter
from leadlake.sources.opencorporates import OpenCorporatesAdapter
from leadlake.sources.pdl import PdlAdapter
from leadlake.sources.yelp import YelpAdapter

ADAPTERS: dict[str, type] = {
    GooglePlacesAdapter.name: GooglePlacesAdapter,
    YelpAdapter.name: YelpAdapter,
}
# Lookup adapters driven by leads (`lookup_queries`, normalize -> EnrichmentRecord). Kept apart from
# ADAPTERS because the silver job reads every ADAPTERS bronze table as SourceRecords.
ENRICHMENT_ADAPTERS: dict[str, type] = {
    OpenCorporatesAdapter.name: OpenCorporatesAdapter,
    PdlAdapter.name: PdlAdapter,
    HunterAdapter.name: HunterAdapter,
}


class UnknownProvider(ValueError):
    """A provider name no adapter is registered for."""


def _unknown(name: str) -> str:
    return (
        f"unknown provider {name!r}; known providers: {', '.join(sorted(ADAPTERS))}; "
        f"enrichment providers: {', '.join(sorted(ENRICHMENT_ADAPTERS))}"
    )


def build_adapter(name: str, *, api_key: str, base_url: str | None = None, **opts: Any) -> SourceAdapter:
    """An adapter for `name`; opts go to the adapter and its HTTP layer (rate, timeout_s, max_attempts...)."""
    cls = ADAPTERS.get(name) or ENRICHMENT_ADAPTERS.get(name)
    if cls is None:
        raise UnknownProvider(_unknown(name))
    return cls(api_key=api_key, base_url=base_url, **opts)


def normalizer(provider: str) -> Any:
    """A provider's pure `normalize(payload)`: SourceRecord for discovery, EnrichmentRecord for lookups."""
    cls = ADAPTERS.get(provider) or ENRICHMENT_ADAPTERS.get(provider)
    if cls is None:
        raise UnknownProvider(_unknown(provider))
    return cls.normalize


__all__ = [
    "ADAPTERS",
    "ENRICHMENT_ADAPTERS",
    "SOURCE_RECORD_FIELDS",
    "CircuitOpenError",
    "EnrichmentRecord",
    "GooglePlacesAdapter",
    "HunterAdapter",
    "MalformedResponse",
    "OpenCorporatesAdapter",
    "PdlAdapter",
    "Page",
    "ProviderAuthError",
    "ProviderError",
    "ProviderQuery",
    "RateLimitPolicy",
    "RawItem",
    "SourceAdapter",
    "SourceRecord",
    "UnknownProvider",
    "YelpAdapter",
    "build_adapter",
    "merge_records",
    "normalizer",
]
