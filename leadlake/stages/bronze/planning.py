"""Campaign query planning: tiles that fit each provider's radius, worst-case calls and cost, a budget guard.

Everything here is pure (no HTTP), so a campaign over budget is refused before its first provider call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadlake.connectors.sources.base import QueryLimits
from leadlake.core.geo import tiles_for

if TYPE_CHECKING:
    from leadlake.connectors.sources.base import SourceAdapter
    from leadlake.core.campaign import CampaignSpec


@dataclass(frozen=True)
class ProviderPlan:
    """One provider's share of a campaign: queries, the worst-case calls they may page to, and the cost."""

    provider: str
    queries: int
    max_pages: int
    max_calls: int
    price_per_call_usd: float
    cost_usd: float
    tiles: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign's planned queries per provider, the worst-case total and whether the budget covers it."""

    campaign_id: str
    providers: list[ProviderPlan]
    total_calls: int
    total_cost_usd: float
    budget_usd: float | None
    within_budget: bool

    def as_rows(self) -> list[dict[str, Any]]:
        """One row per provider plus a `total` row, for a table or JSON print."""
        rows: list[dict[str, Any]] = [
            {
                "campaign_id": self.campaign_id,
                "provider": p.provider,
                "tiles": p.tiles,
                "queries": p.queries,
                "max_pages": p.max_pages,
                "max_calls": p.max_calls,
                "price_per_call_usd": p.price_per_call_usd,
                "cost_usd": round(p.cost_usd, 6),
                "budget_usd": None,
                "within_budget": None,
                "notes": "; ".join(p.notes),
            }
            for p in self.providers
        ]
        rows.append(
            {
                "campaign_id": self.campaign_id,
                "provider": "total",
                "tiles": sum(p.tiles for p in self.providers),
                "queries": sum(p.queries for p in self.providers),
                "max_pages": None,
                "max_calls": self.total_calls,
                "price_per_call_usd": None,
                "cost_usd": round(self.total_cost_usd, 6),
                "budget_usd": self.budget_usd,
                "within_budget": self.within_budget,
                "notes": "",
            }
        )
        return rows


class BudgetExceeded(Exception):
    """A campaign whose worst-case cost exceeds its budget; raised before any provider call."""

    def __init__(self, plan: CampaignPlan) -> None:
        self.plan = plan
        parts = [
            f"{p.provider}: {p.queries} queries x {p.max_pages} pages = {p.max_calls} calls"
            f" x ${p.price_per_call_usd:g} = ${p.cost_usd:.2f}"
            for p in plan.providers
        ]
        super().__init__(
            f"campaign {plan.campaign_id!r}: estimated worst-case cost ${plan.total_cost_usd:.2f} exceeds "
            f"budget.max_cost_usd ${plan.budget_usd:.2f} ({'; '.join(parts)}). Raise budget.max_cost_usd "
            f"to at least ${math.ceil(plan.total_cost_usd * 100) / 100:.2f} in the campaign file, "
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
    if limits is None:
        # An adapter we know nothing about: assume one tile per area and its own paging guard as the cap.
        max_pages = int(getattr(adapter, "max_pages", 100))
        tiles = len(campaign.areas)
        notes.append(f"no documented limits for {adapter.name}; assumed up to {max_pages} pages a query")
    else:
        max_pages = limits.calls_per_query(getattr(adapter, "page_size", None))
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
        notes=notes,
    )


def plan_campaign(campaign: CampaignSpec, adapters: Sequence[SourceAdapter]) -> CampaignPlan:
    """The worst-case plan of running `adapters` over a campaign (every query paging to its cap); no HTTP."""
    providers = [_plan_provider(campaign, a) for a in adapters]
    total_calls = sum(p.max_calls for p in providers)
    total_cost = sum(p.cost_usd for p in providers)
    budget = campaign.max_cost_usd
    return CampaignPlan(
        campaign_id=campaign.campaign_id,
        providers=providers,
        total_calls=total_calls,
        total_cost_usd=total_cost,
        budget_usd=budget,
        # A float tolerance so that a budget equal to the printed cost passes.
        within_budget=budget is None or total_cost <= budget + 1e-9,
    )


def enforce_budget(plan: CampaignPlan) -> None:
    """Raise BudgetExceeded when the plan's worst-case cost exceeds the campaign budget."""
    if not plan.within_budget:
        raise BudgetExceeded(plan)


def plan_for_budget(campaign: CampaignSpec) -> CampaignPlan:
    """The campaign's plan from its sources' adapters with placeholder keys (planning makes no HTTP call)."""
    from leadlake.connectors.sources import build_adapter

    adapters = [build_adapter(name, api_key="plan-only") for name in campaign.sources]
    try:
        return plan_campaign(campaign, adapters)
    finally:
        for a in adapters:
            a.close()
