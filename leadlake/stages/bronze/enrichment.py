"""Enrichment: look silver leads up at firmographic, email and company-registry providers, into bronze.

Every lookup is paid from the budget of the campaign(s) whose leads it serves (see `budget.py` for the
rule): a provider looks up only the leads of campaigns that asked for it, and stops with "budget
exhausted" in its report when those campaigns' budgets cannot pay for its next request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadlake.connectors.sources import ENRICHMENT_ADAPTERS
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, SILVER_LEADS
from leadlake.stages.bronze.budget import Payer, PayingAdapter, SpendLedger
from leadlake.stages.bronze.landing import ingest_queries

log = logging.getLogger("leadlake.stages.bronze.enrichment")

ENRICHMENT_CAMPAIGN = "_enrichment"  # bronze partition for lookups driven by leads, not by one campaign
LEAD_COLUMNS = ["lead_id", "name", "website", "domain", "city", "region", "campaign_ids"]


@dataclass
class EnrichReport:
    """What each enrichment provider looked up and landed, and what each campaign run spent."""

    run_id: str
    leads: int = 0
    providers: dict[str, object] = field(default_factory=dict)
    spend: dict[str, dict[str, Any]] = field(default_factory=dict)  # campaign_id -> RunSpend.as_dict()


@dataclass(frozen=True)
class CampaignBudget:
    """What enrichment needs to know of a recorded campaign."""

    campaign_id: str
    enrichment: tuple[str, ...]
    max_cost_usd: float | None


def recorded_campaigns(lake: Lakehouse) -> dict[str, CampaignBudget]:
    """The campaigns bronze recorded (their last spec): enrichment providers and budget."""
    if not lake.exists(BRONZE_CAMPAIGNS):
        return {}
    out = {}
    for row in lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist():
        spec = json.loads(row["spec"])
        out[row["campaign_id"]] = CampaignBudget(
            row["campaign_id"], tuple(spec.get("enrichment", [])), spec.get("max_cost_usd")
        )
    return out


def requested_providers(lake: Lakehouse) -> list[str]:
    """Enrichment providers named by any recorded campaign, in a stable order."""
    wanted: set[str] = set()
    for c in recorded_campaigns(lake).values():
        wanted.update(c.enrichment)
    return [p for p in ENRICHMENT_ADAPTERS if p in wanted]


def _lead_campaigns(lead: Mapping[str, Any], every: list[str]) -> list[str]:
    ids = lead.get("campaign_ids")
    if ids is None:  # a silver table from before leads carried their campaigns
        return every
    return [c for c in ids if c]


def lookups_by_payer(
    adapter: Any, leads: list[Mapping[str, Any]], campaigns: dict[str, CampaignBudget]
) -> tuple[list[Any], dict[str, list[str]]]:
    """(queries, fingerprint -> campaign ids that pay for it): the adapter's lookups for the leads of the
    campaigns that asked for this provider, each lookup paid by the campaigns of the leads it serves."""
    asking = sorted(c.campaign_id for c in campaigns.values() if adapter.name in c.enrichment)
    queries: dict[str, Any] = {}
    payers: dict[str, set[str]] = {}
    for lead in leads:
        mine = [c for c in _lead_campaigns(lead, asking) if c in asking]
        if not mine:
            continue
        for q in adapter.lookup_queries([lead]):
            queries.setdefault(q.fingerprint, q)
            payers.setdefault(q.fingerprint, set()).update(mine)
    return list(queries.values()), {fp: sorted(p) for fp, p in payers.items()}


def enrich_leads(
    lake: Lakehouse,
    adapters: Iterable,
    run_id: str,
    *,
    flush_rows: int = 5000,
    workers: int = 4,
    ledger: SpendLedger | None = None,
) -> EnrichReport:
    """Run each adapter's lookups for the current silver leads, paid from their campaigns' budgets;
    payloads land exactly once in bronze. `ledger` defaults to this lakehouse's under the state dir."""
    report = EnrichReport(run_id)
    if not lake.exists(SILVER_LEADS):
        return report
    if ledger is None:
        from leadlake.core.settings import get_settings

        ledger = SpendLedger.for_lakehouse(get_settings().resolved_state_dir, lake.root_uri)
    leads = _read_leads(lake)
    report.leads = len(leads)
    campaigns = recorded_campaigns(lake)
    runs: dict[str, Payer] = {}
    for adapter in adapters:
        queries, by_fp = lookups_by_payer(adapter, leads, campaigns)
        for cid in {c for ids in by_fp.values() for c in ids} - set(runs):
            runs[cid] = ledger.payer_for(cid, run_id, campaigns[cid].max_cost_usd)
        paying = PayingAdapter(adapter, ledger, {fp: [runs[c] for c in ids] for fp, ids in by_fp.items()})
        try:
            pr = ingest_queries(
                ENRICHMENT_CAMPAIGN, paying, queries, lake, run_id, workers=workers, flush_rows=flush_rows
            )
        finally:
            paying.close()
        report.providers[adapter.name] = pr
        exhausted = [e for e in getattr(pr, "errors", []) if "budget exhausted" in e]
        if exhausted:
            log.warning("%s stopped: %s", adapter.name, exhausted[0])
    for cid, payer in sorted(runs.items()):
        report.spend[cid] = ledger.run(payer.campaign_id, payer.run_id).as_dict()
    return report


def _read_leads(lake: Lakehouse) -> list[dict[str, Any]]:
    """Silver leads with the columns lookups need (campaign_ids only when the table has it)."""
    names = lake.read(SILVER_LEADS, filter="false").schema.names  # the schema, no rows
    columns = [c for c in LEAD_COLUMNS if c in names]
    if "campaign_ids" not in columns:
        log.warning("silver.leads has no campaign_ids: every lead is charged to every asking campaign")
    return lake.read(SILVER_LEADS, columns=columns).to_pylist()
