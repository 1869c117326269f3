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
from leadlake.sources.google_places import GooglePlacesAdapter
from leadlake.sources.http import (
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
)
from leadlake.sources.yelp import YelpAdapter

ADAPTERS: dict[str, type] = {
    GooglePlacesAdapter.name: GooglePlacesAdapter,
    YelpAdapter.name: YelpAdapter,
}


class UnknownProvider(ValueError):
    """A provider name no adapter is registered for."""


def _unknown(name: str) -> str:
    return f"unknown provider {name!r}; known providers: {', '.join(sorted(ADAPTERS))}"


def build_adapter(name: str, *, api_key: str, base_url: str | None = None, **opts: Any) -> SourceAdapter:
    """An adapter for `name`; opts go to the adapter and its HTTP layer (rate, timeout_s, max_attempts...)."""
    try:
        cls = ADAPTERS[name]
    except KeyError:
        raise UnknownProvider(_unknown(name)) from None
    return cls(api_key=api_key, base_url=base_url, **opts)


def normalizer(provider: str) -> Any:
    """The pure `normalize(payload) -> SourceRecord` function of a provider (for the silver job)."""
    try:
        return ADAPTERS[provider].normalize
    except KeyError:
        raise UnknownProvider(_unknown(provider)) from None


__all__ = [
    "ADAPTERS",
    "SOURCE_RECORD_FIELDS",
    "CircuitOpenError",
    "GooglePlacesAdapter",
    "MalformedResponse",
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
    "normalizer",
]
