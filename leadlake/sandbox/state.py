"""The state provider routes read and change, as a protocol: routes never depend on the server class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.enrichment import EnrichmentData
from leadlake.sandbox.index import WorldIndex
from leadlake.sandbox.world import World


@runtime_checkable
class SandboxState(Protocol):
    """The world and its indexes, the CRM store, accepted keys, result caps and page-truncation draws."""

    @property
    def world(self) -> World: ...

    @property
    def index(self) -> WorldIndex: ...

    @property
    def enrichment(self) -> EnrichmentData:
        """OpenCorporates / PDL / Hunter data; built on first use, so worlds that never enrich never pay."""
        ...

    @property
    def crm(self) -> CrmStore: ...

    @property
    def keys(self) -> Mapping[str, str]:
        """Provider name -> the key the sandbox accepts."""
        ...

    @property
    def max_results(self) -> Mapping[str, int]:
        """Provider name -> the cap on one search's results."""
        ...

    @property
    def url(self) -> str:
        """The base URL clients reached the sandbox at (for absolute paging links)."""
        ...

    def draw_truncation(self) -> bool:
        """Whether this page should come back shorter than asked (a seeded fault draw)."""
        ...
