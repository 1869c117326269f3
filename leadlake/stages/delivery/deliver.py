"""Reverse ETL: push gold leads to the CRM exactly once, recorded in a delivery ledger."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from leadlake.connectors.destinations.hubspot import (
    BATCH_LIMIT,
    DeliveryError,
    HubSpotDestination,
    to_properties,
)
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS

log = logging.getLogger("leadlake.stages.delivery.deliver")

LEDGER_SCHEMA = pa.schema(
    [
        ("destination", pa.string()),
        ("lead_id", pa.string()),
        ("payload_hash", pa.string()),
        ("crm_id", pa.string()),
        ("run_id", pa.string()),
        ("delivered_at", pa.timestamp("us", tz="UTC")),
    ]
)
TIER_ORDER = {"A": 0, "B": 1, "C": 2}


@dataclass
class DeliveryReport:
    """What one delivery run sent, skipped as unchanged, and failed."""

    destination: str
    run_id: str
    eligible: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def payload_hash(properties: dict[str, str]) -> str:
    """Hash of what the CRM would receive: a lead is re-sent only when this changes."""
    return hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()


def pending(lakehouse: Lakehouse, destination: str, min_tier: str = "C") -> tuple[list[dict], int]:
    """Leads at or above min_tier whose CRM payload changed since last delivered, and how many qualified."""
    if not lakehouse.exists(GOLD_SCORED_LEADS):
        return [], 0
    leads = lakehouse.read(GOLD_SCORED_LEADS).to_pylist()
    leads = [r for r in leads if TIER_ORDER.get(r["priority_tier"], 9) <= TIER_ORDER[min_tier]]
    delivered: dict[str, str] = {}
    if lakehouse.exists(GOLD_CRM_DELIVERIES):
        ledger = lakehouse.read(GOLD_CRM_DELIVERIES, filter=f"destination = '{destination}'").to_pylist()
        delivered = {r["lead_id"]: r["payload_hash"] for r in ledger}
    out = []
    for lead in sorted(leads, key=lambda r: (-r["lead_score"], r["lead_id"])):
        lead["_payload_hash"] = payload_hash(to_properties(lead))
        if delivered.get(lead["lead_id"]) != lead["_payload_hash"]:
            out.append(lead)
    return out, len(leads)


def deliver(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    *,
    min_tier: str = "C",
    on_batch: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Upsert pending leads in batches; a batch's ledger rows are committed right after the CRM accepts it."""
    t0 = time.perf_counter()
    report = DeliveryReport(destination.name, run_id)
    todo, report.eligible = pending(lakehouse, destination.name, min_tier)
    report.unchanged = report.eligible - len(todo)
    for start in range(0, len(todo), BATCH_LIMIT):
        batch = todo[start : start + BATCH_LIMIT]
        try:
            result = destination.upsert(batch)
        except DeliveryError as exc:
            # The batch is not in the ledger, so the next run sends it again; upsert on the unique id
            # makes a resend harmless if the CRM did apply it.
            report.failed += len(batch)
            report.errors.append(str(exc))
            log.error("%s", exc)
            continue
        now = datetime.now(UTC)
        rows = [
            {
                "destination": destination.name,
                "lead_id": lead["lead_id"],
                "payload_hash": lead["_payload_hash"],
                "crm_id": result.crm_ids[lead["lead_id"]],
                "run_id": run_id,
                "delivered_at": now,
            }
            for lead in batch
        ]
        lakehouse.merge(
            GOLD_CRM_DELIVERIES,
            pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA),
            keys=["destination", "lead_id"],
        )
        report.sent += len(batch)
        report.created += result.created
        report.updated += result.updated
        if on_batch:
            on_batch(len(batch))
    report.seconds = time.perf_counter() - t0
    return report
