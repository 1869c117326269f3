"""Campaign query planning: tiles that fit each provider's radius, worst-case calls and cost of discovery and
of the enrichment lookups it triggers, against the campaign's one budget; the budget guard.

Everything here is pure (no HTTP), so a campaign over budget is refused before its first provider call.
What planning cannot bound (retries, task re-runs, leads of earlier runs looked up again) the run-time
spend ledger caps: see `leadlake.stages.bronze.budget`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadlake.connectors.registry import connector
from leadlake.connectors.sources.base import QueryLimits
from leadlake.core.geo import tiles_for

if TYPE_CHECKING:
    from leadlake.connectors.sources.base import SourceAdapter
    from leadlake.core.campaign import CampaignSpec

ASSUMED_RECORDS_PER_PAGE = 50  # for an adapter that documents no limits: an assumption, said so in notes

# Requests one lead causes at an enrichment provider. Every enrichment adapter makes one lookup request per
# distinct lead key (website domain, or name and state) and pages only when an answer overflows one page
# (over 100 emails or companies); a provider that differs declares it in its ConnectorSpec:
# `extra={"calls_per_lead": 2, "calls_per_lead_note": "why"}`.
DEFAULT_LOOKUP_CALLS: tuple[float, str] = (
    1,
    "one lookup request per distinct domain or name; paging only when an answer overflows a page",
)


@dataclass(frozen=True)
class ProviderPlan:
    """One discovery provider's share of a campaign: queries, the worst-case calls they may page to, the
    records they may return and the cost."""

    provider: str
    queries: int
    max_pages: int
    max_calls: int
    price_per_call_usd: float
    cost_usd: float
    tiles: int
    max_records: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EnrichmentPlan:
    """One enrichment provider's estimated share: leads x calls per lead x price."""

    provider: str
    leads: int
    calls_per_lead: float
    max_calls: int
    price_per_call_usd: float
    cost_usd: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign's planned calls per provider (discovery worst case, enrichment estimate) against one budget.

    `discovery_within_budget` is what the guard refuses on before any call; `within_budget` says whether
    the enrichment estimate fits too (when it does not, lookups stop at the budget at run time).
    """

    campaign_id: str
    providers: list[ProviderPlan]
    enrichment: list[EnrichmentPlan]
    budget_usd: float | None
    budget_is_default: bool = False

    @property
    def discovery_calls(self) -> int:
        return sum(p.max_calls for p in self.providers)

    @property
    def discovery_cost_usd(self) -> float:
        return sum(p.cost_usd for p in self.providers)

    @property
    def max_records(self) -> int:
        """Worst-case records discovery may return: the upper bound on leads to enrich."""
        return sum(p.max_records for p in self.providers)

    @property
    def enrichment_calls(self) -> int:
        return sum(e.max_calls for e in self.enrichment)

    @property
    def enrichment_cost_usd(self) -> float:
        return sum(e.cost_usd for e in self.enrichment)

    @property
    def total_calls(self) -> int:
        return self.discovery_calls + self.enrichment_calls

    @property
    def total_cost_usd(self) -> float:
        return self.discovery_cost_usd + self.enrichment_cost_usd

    def _fits(self, cost: float) -> bool:
        # A float tolerance so that a budget equal to the printed cost passes.
        return self.budget_usd is None or cost <= self.budget_usd + 1e-9

    @property
    def discovery_within_budget(self) -> bool:
        return self._fits(self.discovery_cost_usd)

    @property
    def within_budget(self) -> bool:
        return self._fits(self.total_cost_usd)

    def as_rows(self) -> list[dict[str, Any]]:
        """Discovery rows, a discovery subtotal (what the guard checks), enrichment rows and their
        subtotal, and a `total` row against the budget; every row has the same columns."""

        def row(kind: str, provider: str, **values: Any) -> dict[str, Any]:
            base: dict[str, Any] = {
                "campaign_id": self.campaign_id,
                "kind": kind,
                "provider": provider,
                "tiles": None,
                "queries": None,
                "max_pages": None,
                "max_records": None,
                "leads": None,
                "calls_per_lead": None,
                "max_calls": None,
                "price_per_call_usd": None,
                "cost_usd": None,
                "budget_usd": None,
                "within_budget": None,
                "notes": "",
            }
            return base | values

        rows = [
            row(
                "discovery",
                p.provider,
                tiles=p.tiles,
                queries=p.queries,
                max_pages=p.max_pages,
                max_records=p.max_records,
                max_calls=p.max_calls,
                price_per_call_usd=p.price_per_call_usd,
                cost_usd=round(p.cost_usd, 6),
                notes="; ".join(p.notes),
            )
            for p in self.providers
        ]
        rows.append(
            row(
                "subtotal",
                "discovery",
                tiles=sum(p.tiles for p in self.providers),
                queries=sum(p.queries for p in self.providers),
                max_records=self.max_records,
                max_calls=self.discovery_calls,
                cost_usd=round(self.discovery_cost_usd, 6),
                budget_usd=self.budget_usd,
                within_budget=self.discovery_within_budget,
                notes="worst case: every query pages to the provider's result cap; "
                + (
                    "fits the budget"
                    if self.discovery_within_budget
                    else "over the budget: refused before any call"
                ),
            )
        )
        for e in self.enrichment:
            rows.append(
                row(
                    "enrichment",
                    e.provider,
                    leads=e.leads,
                    calls_per_lead=e.calls_per_lead,
                    max_calls=e.max_calls,
                    price_per_call_usd=e.price_per_call_usd,
                    cost_usd=round(e.cost_usd, 6),
                    notes="; ".join(e.notes),
                )
            )
        if self.enrichment:
            rows.append(
                row(
                    "subtotal",
                    "enrichment",
                    leads=self.max_records,
                    max_calls=self.enrichment_calls,
                    cost_usd=round(self.enrichment_cost_usd, 6),
                    notes=(
                        f"upper bound: all {self.max_records} worst-case records become leads (dedupe and "
                        "leads without a domain lower it); leads of earlier runs are looked up again and "
                        "retries are charged, which the run-time ledger caps"
                    ),
                )
            )
        rows.append(
            row(
                "total",
                "total",
                max_calls=self.total_calls,
                cost_usd=round(self.total_cost_usd, 6),
                budget_usd=self.budget_usd,
                within_budget=self.within_budget,
                notes=self._total_note(),
            )
        )
        return rows

    def _total_note(self) -> str:
        parts = []
        if self.budget_usd is None:
            parts.append("no budget: nothing caps this campaign's spend")
        else:
            if self.budget_is_default:
                parts.append(
                    f"no budget in the campaign file: the default cap ${self.budget_usd:g} applies; "
                    "set budget.max_cost_usd"
                )
            parts.append(
                "one budget per campaign run: every paid call of discovery and enrichment draws on it, "
                "retries included"
            )
            if self.enrichment and not self.within_budget and self.discovery_within_budget:
                left = max(0.0, self.budget_usd - self.discovery_cost_usd)
                parts.append(
                    f"enrichment may spend what discovery leaves (at least ${left:.2f}) and stops "
                    "with 'budget exhausted' when it is gone"
                )
        return "; ".join(parts)


class BudgetExceeded(Exception):
    """A campaign whose discovery worst-case cost exceeds its budget; raised before any provider call."""

    def __init__(self, plan: CampaignPlan) -> None:
        self.plan = plan
        parts = [
            f"{p.provider}: {p.queries} queries x {p.max_pages} pages = {p.max_calls} calls"
            f" x ${p.price_per_call_usd:g} = ${p.cost_usd:.2f}"
            for p in plan.providers
        ]
        budget = plan.budget_usd or 0.0
        default = " (the default cap: the file sets no budget)" if plan.budget_is_default else ""
        super().__init__(
            f"campaign {plan.campaign_id!r}: estimated worst-case discovery cost "
            f"${plan.discovery_cost_usd:.2f} exceeds budget.max_cost_usd ${budget:.2f}{default} "
            f"({'; '.join(parts)}). Raise budget.max_cost_usd to at least "
            f"${math.ceil(plan.discovery_cost_usd * 100) / 100:.2f} in the campaign file, "
            "or use fewer keywords, areas or sources."
        )


# ---- planning ------------------------------------------------------------------------------------------
def _limits(adapter: SourceAdapter) -> QueryLimits | None:
    known: QueryLimits | None = getattr(adapter, "query_limits", None)
    radius = getattr(adapter, "max_radius_km", None) or (known.max_radius_km if known else None)
    if known is None and radius is None:
        return None
    if known is None:
        return QueryLimits(float(radius), 1, int(getattr(adapter, "max_pages", 100)))
    return QueryLimits(float(radius), known.page_size, known.max_results)


def _plan_provider(campaign: CampaignSpec, adapter: SourceAdapter) -> ProviderPlan:
    limits = _limits(adapter)
    notes: list[str] = []
    page_size = getattr(adapter, "page_size", None)
    if limits is None:
        # An adapter we know nothing about: assume one tile per area and its own paging guard as the cap.
        max_pages = int(getattr(adapter, "max_pages", 100))
        tiles = len(campaign.areas)
        per_page = int(page_size or ASSUMED_RECORDS_PER_PAGE)
        max_results = max_pages * per_page
        notes.append(
            f"no documented limits for {adapter.name}; assumed up to {max_pages} pages of {per_page} a query"
        )
    else:
        max_pages = limits.calls_per_query(page_size)
        max_results = limits.max_results
        tiles = 0
        for area in campaign.areas:
            area_tiles = tiles_for(area, limits.max_radius_km)
            tiles += max(1, len(area_tiles))
            where = f"{area.city}, {area.region}"
            if not area_tiles:
                notes.append(f"{where}: no centre, one city search per keyword")
            elif len(area_tiles) > 1:
                notes.append(
                    f"{where}: {area.radius_km:g} km > {limits.max_radius_km:g} km max, "
                    f"{len(area_tiles)} tiles of {area_tiles[0].radius_km:g} km"
                )
    queries = len(adapter.plan_queries(campaign))
    if queries != tiles * len(campaign.keywords):
        notes.append(f"adapter plans {queries} queries, tiling predicts {tiles * len(campaign.keywords)}")
    max_calls = queries * max_pages
    price = float(adapter.price_per_call_usd)
    return ProviderPlan(
        provider=adapter.name,
        queries=queries,
        max_pages=max_pages,
        max_calls=max_calls,
        price_per_call_usd=price,
        cost_usd=max_calls * price,
        tiles=tiles,
        max_records=queries * max_results,
        notes=notes,
    )


def lookup_calls_per_lead(provider: str) -> tuple[float, str]:
    """(requests one lead causes at an enrichment provider, how that figure was found)."""
    extra = connector(provider).extra
    if "calls_per_lead" in extra:
        return float(extra["calls_per_lead"]), str(
            extra.get("calls_per_lead_note", "from the connector spec")
        )
    return DEFAULT_LOOKUP_CALLS


def _plan_enrichment(provider: str, leads: int) -> EnrichmentPlan:
    per_lead, how = lookup_calls_per_lead(provider)
    price = float(connector(provider).price_per_call_usd)
    max_calls = math.ceil(leads * per_lead)
    notes = [f"{leads} leads (worst-case discovered records) x {per_lead:g} call/lead ({how}) x ${price:g}"]
    return EnrichmentPlan(provider, leads, per_lead, max_calls, price, max_calls * price, notes)


def plan_campaign(campaign: CampaignSpec, adapters: Sequence[SourceAdapter] = ()) -> CampaignPlan:
    """The plan of a whole campaign, whichever of its adapters are passed: every source (an adapter not
    passed is built with a placeholder key; planning makes no HTTP call) at its worst case, and each
    enrichment provider's estimate over the worst-case discovered records.

    A task that runs one provider passes just that adapter and still checks the whole campaign.
    """
    from leadlake.connectors.sources import RateLimitPolicy, build_adapter

    given = {a.name: a for a in adapters}
    names = list(dict.fromkeys([*campaign.sources, *given]))
    offline = RateLimitPolicy(rate_per_s=1.0, burst=1, scope="process")  # never used: no call is made
    built = [build_adapter(n, api_key="plan-only", rate=offline) for n in names if n not in given]
    by_name = given | {a.name: a for a in built}
    try:
        providers = [_plan_provider(campaign, by_name[n]) for n in names]
    finally:
        for a in built:
            a.close()
    records = sum(p.max_records for p in providers)
    enrichment = [_plan_enrichment(p, records) for p in campaign.enrichment]
    return CampaignPlan(
        campaign_id=campaign.campaign_id,
        providers=providers,
        enrichment=enrichment,
        budget_usd=campaign.max_cost_usd,
        budget_is_default=campaign.budget_is_default,
    )


def enforce_budget(plan: CampaignPlan) -> None:
    """Raise BudgetExceeded when discovery's worst-case cost alone exceeds the campaign budget.

    Enrichment is an estimate, not a worst case, so it does not refuse a campaign: its lookups draw on
    what discovery leaves of the budget and stop when it is spent (see `budget.py`).
    """
    if not plan.discovery_within_budget:
        raise BudgetExceeded(plan)


def plan_for_budget(campaign: CampaignSpec) -> CampaignPlan:
    """The campaign's whole plan from its sources' adapters with placeholder keys (no HTTP call); what
    `leadlake campaign plan` prints."""
    return plan_campaign(campaign)
