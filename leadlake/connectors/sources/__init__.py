"""Provider adapters: real HTTP clients for each lead source, registered by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from leadlake.connectors.http import (
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
)
from leadlake.connectors.registry import Kind, UnknownConnector, connector, describe_known, names
from leadlake.connectors.sources.base import (
    SOURCE_RECORD_FIELDS,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    RawItem,
    SourceAdapter,
    SourceRecord,
)
from leadlake.connectors.sources.enrichment_base import EnrichmentRecord, merge_records


class _Adapters(Mapping[str, type]):
    """Adapter classes of one kind, read live from the connector registry (so a registered toy shows up)."""

    def __init__(self, kind: Kind) -> None:
        self._kind = kind

    def __getitem__(self, name: str) -> type:
        spec = connector(name)
        if spec.kind != self._kind:
            raise KeyError(name)
        return spec.load()

    def __iter__(self) -> Iterator[str]:
        return iter(names(self._kind))

    def __len__(self) -> int:
        return len(names(self._kind))


# Discovery adapters: the silver job reads each one's bronze table as SourceRecords.
ADAPTERS: Mapping[str, type] = _Adapters("discovery")
# Lookup adapters driven by leads (`lookup_queries`, normalize -> EnrichmentRecord).
ENRICHMENT_ADAPTERS: Mapping[str, type] = _Adapters("enrichment")
UnknownProvider = UnknownConnector


def _adapter_class(name: str) -> type:
    spec = connector(name)
    if spec.kind == "destination":
        raise UnknownProvider(f"{name!r} is a destination, not a provider; {describe_known()}")
    return spec.load()


def build_adapter(name: str, *, api_key: str, base_url: str | None = None, **opts: Any) -> SourceAdapter:
    """An adapter for `name`; opts go to the adapter and its HTTP layer (rate, timeout_s, max_attempts...)."""
    return _adapter_class(name)(api_key=api_key, base_url=base_url, **opts)


def normalizer(provider: str) -> Any:
    """A provider's pure `normalize(payload)`: SourceRecord for discovery, EnrichmentRecord for lookups."""
    return _adapter_class(provider).normalize


__all__ = [
    "ADAPTERS",
    "ENRICHMENT_ADAPTERS",
    "SOURCE_RECORD_FIELDS",
    "CircuitOpenError",
    "EnrichmentRecord",
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
    "build_adapter",
    "merge_records",
    "normalizer",
]
