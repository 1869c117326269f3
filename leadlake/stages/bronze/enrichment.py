"""Enrichment: look silver leads up at firmographic, email and company-registry providers, into bronze."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from leadlake.connectors.sources import ENRICHMENT_ADAPTERS
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, SILVER_LEADS
from leadlake.stages.bronze.landing import ingest_queries

log = logging.getLogger("leadlake.stages.bronze.enrichment")

ENRICHMENT_CAMPAIGN = "_enrichment"  # bronze partition for lookups driven by leads, not by one campaign


@dataclass
class EnrichReport:
    """What each enrichment provider looked up and landed."""

    run_id: str
    leads: int = 0
    providers: dict[str, object] = field(default_factory=dict)


def requested_providers(lake: Lakehouse) -> list[str]:
    """Enrichment providers named by any recorded campaign, in a stable order."""
    if not lake.exists(BRONZE_CAMPAIGNS):
        return []
    wanted: set[str] = set()
    for row in lake.read(BRONZE_CAMPAIGNS, columns=["spec"]).to_pylist():
        wanted.update(json.loads(row["spec"]).get("enrichment", []))
    return [p for p in ENRICHMENT_ADAPTERS if p in wanted]


def enrich_leads(
    lake: Lakehouse, adapters: Iterable, run_id: str, *, flush_rows: int = 5000, workers: int = 4
) -> EnrichReport:
    """Run each adapter's lookups for the current silver leads; payloads land exactly once in bronze."""
    report = EnrichReport(run_id)
    if not lake.exists(SILVER_LEADS):
        return report
    leads = lake.read(
        SILVER_LEADS, columns=["lead_id", "name", "website", "domain", "city", "region"]
    ).to_pylist()
    report.leads = len(leads)
    for adapter in adapters:
        queries = adapter.lookup_queries(leads)
        report.providers[adapter.name] = ingest_queries(
            ENRICHMENT_CAMPAIGN, adapter, queries, lake, run_id, workers=workers, flush_rows=flush_rows
        )
    return report
