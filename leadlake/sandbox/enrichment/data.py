"""EnrichmentData: the OpenCorporates, PDL and Hunter datasets of one World, built together."""

from __future__ import annotations

from typing import Any, Protocol

from leadlake.sandbox.enrichment.common import PROVIDERS, RequestLimit, rate_limit_from_env, website_domain
from leadlake.sandbox.enrichment.hunter import HunterDataset
from leadlake.sandbox.enrichment.opencorporates import CompanyRegister
from leadlake.sandbox.enrichment.pdl import PdlDataset
from leadlake.sandbox.world import Business, World, gc_paused


class EnrichmentData:
    """The three providers' records for one World; `register`, `pdl` and `hunter_data` hold one each."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.seed
        self.business_by_domain: dict[str, Business] = {}
        for biz in world.businesses:
            domain = website_domain(biz.website)
            if domain:
                self.business_by_domain.setdefault(domain, biz)  # the first business owns a shared domain
        self.register = CompanyRegister(world)
        self.pdl = PdlDataset(world, self.business_by_domain, self.register)  # founded years come from it
        self.hunter_data = HunterDataset(world, self.business_by_domain)
        self.malformed = self.register.malformed | self.pdl.malformed | self.hunter_data.malformed
        # Flat names kept because tests and notebooks read the ground truth through them.
        self.entities = self.register.entities
        self.entity_of = self.register.entity_of
        self.entity_by_number = self.register.by_number
        self.oc_records = self.register.records
        self.pdl_records = self.pdl.records
        self.pdl_of = self.pdl.of
        self.pdl_by_domain = self.pdl.by_domain
        self.pdl_by_name = self.pdl.by_name
        self.hunter_domains = self.hunter_data.domains
        rate = rate_limit_from_env()
        self.limits = {p: RequestLimit(rate) for p in PROVIDERS}  # the sandbox's documented rate limits

    def admit(self, provider: str) -> float | None:
        """Spend one request of the provider's rate limit: None when it may go, else seconds to wait."""
        return self.limits[provider].admit()

    @classmethod
    def build(cls, world: World) -> EnrichmentData:
        """Build with cyclic GC paused: many small acyclic objects would otherwise double the build time."""
        with gc_paused():
            return cls(world)

    def search_entities(self, q: str, jurisdiction: str | None) -> list[int]:
        """OpenCorporates search: entities holding every query word, best first."""
        return self.register.search(q, jurisdiction)

    def pdl_match(
        self, website: str | None, name: str | None, locality: str | None, region: str | None
    ) -> tuple[int, int] | None:
        """PDL enrichment: (record position, likelihood), or None (404)."""
        return self.pdl.match(website, name, locality, region)

    def hunter(self, domain: str) -> dict[str, Any] | None:
        """Hunter's domain data (all emails), or None for a domain Hunter knows nothing about."""
        return self.hunter_data.domain(domain)


class HasEnrichment(Protocol):
    """Anything that serves a World's enrichment data, e.g. a running sandbox."""

    @property
    def enrichment(self) -> EnrichmentData: ...


def data(state: HasEnrichment) -> EnrichmentData:
    """The enrichment data a sandbox serves (built on its first use)."""
    return state.enrichment
