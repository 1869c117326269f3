"""Reverse ETL: push gold leads to the CRM exactly once, recorded in a delivery ledger.

Before the upserts, delivery makes the CRM follow silver's lead merges (silver.lead_merges), in `merged_at`
order and along chains to the live survivor, once per destination:

- both leads delivered: the CRM merges the merged lead's company into the survivor's;
- only the merged lead delivered: its company is re-keyed to the survivor (leadlake_id := survivor), and
  the survivor gets a ledger row with that company and an empty payload hash, so the upsert updates it;
- neither, or only the survivor: nothing to do in the CRM.

The merged lead's ledger row then carries merged_into / merge_outcome / merge_applied_at, so a re-run does
not apply it again. A merge the CRM refuses (a 4xx, e.g. a company deleted by hand) is reported and marked
"refused"; one that failed for a transient reason stays pending for the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
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
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS, SILVER_LEAD_MERGES

log = logging.getLogger("leadlake.stages.delivery.deliver")

LEDGER_SCHEMA = pa.schema(
    [
        ("destination", pa.string()),
        ("lead_id", pa.string()),
        ("payload_hash", pa.string()),
        ("crm_id", pa.string()),
        ("run_id", pa.string()),
        ("delivered_at", pa.timestamp("us", tz="UTC")),
        # Set on a merged lead's row once its merge was applied to this destination (never applied twice):
        ("merged_into", pa.string()),  # the live survivor lead its CRM company now belongs to
        ("merge_outcome", pa.string()),  # merged | rekeyed | refused
        ("merge_applied_at", pa.timestamp("us", tz="UTC")),
    ]
)
MERGED, REKEYED, REFUSED = "merged", "rekeyed", "refused"
TIER_ORDER = {"A": 0, "B": 1, "C": 2}


@dataclass
class DeliveryReport:
    """What one delivery run sent, skipped as unchanged, and failed, and the lead merges it applied."""

    destination: str
    run_id: str
    eligible: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    merged: int = 0  # lead merges applied as a CRM merge of two companies
    rekeyed: int = 0  # lead merges applied by re-keying the merged lead's company to the survivor
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def payload_hash(properties: dict[str, str]) -> str:
    """Hash of what the CRM would receive: a lead is re-sent only when this changes."""
    return hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()


def pending(
    lakehouse: Lakehouse, destination: str, min_tier: str = "C", exclude: Collection[str] = frozenset()
) -> tuple[list[dict], int]:
    """Leads at or above min_tier whose CRM payload changed since last delivered, and how many qualified.

    Leads in `exclude` (merged away: their ids no longer live) are never delivered."""
    if not lakehouse.exists(GOLD_SCORED_LEADS):
        return [], 0
    leads = lakehouse.read(GOLD_SCORED_LEADS).to_pylist()
    leads = [
        r
        for r in leads
        if TIER_ORDER.get(r["priority_tier"], 9) <= TIER_ORDER[min_tier] and r["lead_id"] not in exclude
    ]
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
    merges = read_merges(lakehouse)
    held = apply_merges(lakehouse, destination, run_id, merges, report) if merges else set()
    todo, report.eligible = pending(
        lakehouse, destination.name, min_tier, {m["merged_lead_id"] for m in merges}
    )
    report.unchanged = report.eligible - len(todo)
    if held:
        # A survivor whose re-key failed waits for the next run: upserting it now would create a second
        # company next to the merged lead's.
        report.failed += sum(lead["lead_id"] in held for lead in todo)
        todo = [lead for lead in todo if lead["lead_id"] not in held]
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
                "merged_into": None,
                "merge_outcome": None,
                "merge_applied_at": None,
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


def read_merges(lakehouse: Lakehouse) -> list[dict]:
    """silver.lead_merges in the order they happened (merged_at, then merged lead id)."""
    if not lakehouse.exists(SILVER_LEAD_MERGES):
        return []
    merges = lakehouse.read(
        SILVER_LEAD_MERGES, columns=["merged_lead_id", "survivor_lead_id", "merged_at"]
    ).to_pylist()
    return sorted(merges, key=lambda m: (m["merged_at"], m["merged_lead_id"]))


def live_survivor(lead_id: str, survivor_of: dict[str, str]) -> str:
    """Follow a chain of merges (A into B, B into C) to the lead that still lives."""
    seen = {lead_id}
    while lead_id in survivor_of and survivor_of[lead_id] not in seen:
        lead_id = survivor_of[lead_id]
        seen.add(lead_id)
    return lead_id


def apply_merges(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    merges: list[dict],
    report: DeliveryReport,
) -> set[str]:
    """Make the CRM follow the lead merges not yet applied to this destination; records them in the ledger.

    Returns the survivors whose upsert must wait for the next run (their re-key failed for now).
    """
    ledger: dict[str, dict] = {}
    if lakehouse.exists(GOLD_CRM_DELIVERIES):
        rows = lakehouse.read(GOLD_CRM_DELIVERIES, filter=f"destination = '{destination.name}'").to_pylist()
        ledger = {r["lead_id"]: {f.name: r.get(f.name) for f in LEDGER_SCHEMA} for r in rows}
    survivor_of = {m["merged_lead_id"]: m["survivor_lead_id"] for m in merges}
    changed: dict[str, dict] = {}
    held: set[str] = set()

    def settle(row: dict, survivor: str, outcome: str) -> None:
        row.update(merged_into=survivor, merge_outcome=outcome, merge_applied_at=datetime.now(UTC))
        changed[row["lead_id"]] = row

    def refused(gone: dict, survivor: str, exc: DeliveryError) -> None:
        report.errors.append(f"{destination.name}: merge of lead {gone['lead_id']} into {survivor}: {exc}")
        log.error("%s", exc)

    def rekey(gone: dict, survivor: str) -> None:
        try:
            destination.rekey(gone["crm_id"], survivor)
        except DeliveryError as exc:
            refused(gone, survivor, exc)
            if exc.refused:
                settle(gone, survivor, REFUSED)  # the company is gone: the upsert creates the survivor's
            else:
                held.add(survivor)  # retried next run; upserting the survivor now would make a duplicate
            return
        settle(gone, survivor, REKEYED)
        ledger[survivor] = changed[survivor] = {
            "destination": destination.name,
            "lead_id": survivor,
            "payload_hash": "",  # never a real hash: the survivor's upsert goes out and updates the company
            "crm_id": gone["crm_id"],
            "run_id": run_id,
            "delivered_at": datetime.now(UTC),
            "merged_into": None,
            "merge_outcome": None,
            "merge_applied_at": None,
        }
        report.rekeyed += 1

    for m in merges:
        gone = ledger.get(m["merged_lead_id"])
        if gone is None or gone["merge_applied_at"] is not None or not gone["crm_id"]:
            continue  # never delivered here (nothing in the CRM to merge), or applied already
        survivor = live_survivor(m["merged_lead_id"], survivor_of)
        if survivor == m["merged_lead_id"]:
            report.errors.append(f"{destination.name}: lead merges loop back to {survivor}; not applied")
            continue
        kept = ledger.get(survivor)
        if kept is None or kept["merge_applied_at"] is not None or not kept["crm_id"]:
            rekey(gone, survivor)
            continue
        if kept["crm_id"] != gone["crm_id"]:
            try:
                primary = destination.merge(kept["crm_id"], gone["crm_id"])
            except DeliveryError as exc:
                if exc.status == 404:
                    # One of the two companies was deleted in the CRM. Re-keying the merged lead's company
                    # keeps it if it still lives (the survivor's was deleted), else is refused in turn.
                    refused(gone, survivor, exc)
                    rekey(gone, survivor)
                elif exc.refused:
                    refused(gone, survivor, exc)
                    settle(gone, survivor, REFUSED)
                else:
                    refused(gone, survivor, exc)  # transient: the merge stays pending for the next run
                continue
            if primary != kept["crm_id"]:  # should the CRM give the merged company a new id
                kept["crm_id"] = primary
                changed[survivor] = kept
        settle(gone, survivor, MERGED)
        report.merged += 1
    if changed:
        lakehouse.merge(
            GOLD_CRM_DELIVERIES,
            pa.Table.from_pylist(list(changed.values()), schema=LEDGER_SCHEMA),
            keys=["destination", "lead_id"],
        )
    return held
