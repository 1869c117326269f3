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

Upserts go out up to the destination's `max_in_flight` batches at once (worker threads do only the CRM
calls; the destination paces them under its rate limit). This thread commits the ledger rows of the
batches the CRM accepted as they come back, so a run killed at any point leaves in the ledger only what the
CRM holds; a batch accepted but not yet committed is sent again by the next run, an update of the same
company (the upsert is keyed on the lead id), never a second one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from leadlake.connectors.destinations.hubspot import (
    BATCH_LIMIT,
    DeliveryError,
    HubSpotDestination,
    to_properties,
)
from leadlake.governance.suppression import Entry, suppressed
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import (
    GOLD_CRM_DELIVERIES,
    GOLD_DELIVERY_DEAD_LETTERS,
    GOLD_SCORED_LEADS,
    OPS_SYNC_LOG,
    SILVER_LEAD_MERGES,
)

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
    suppressed: int = 0  # qualifying leads never sent: on the suppression list
    dead_lettered: int = 0  # leads the CRM refused as they are (gold.delivery_dead_letters)
    dead_letters_waiting: int = 0  # refused earlier, unchanged since: not sent until `leadlake replay`
    would_send: list[dict] = field(default_factory=list)  # --dry-run: what a real run would send
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def payload_hash(properties: dict[str, str]) -> str:
    """Hash of what the CRM would receive: a lead is re-sent only when this changes."""
    return hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()


SYNC_LOG_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("destination", pa.string()),
        ("lead_id", pa.string()),
        ("action", pa.string()),  # created | updated | unchanged | skipped-suppressed | failed | dead-letter
        ("crm_id", pa.string()),
        ("message", pa.string()),  # the CRM's own message for a failure, the reason for a skip
        ("logged_at", pa.timestamp("us", tz="UTC")),
    ]
)
DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("destination", pa.string()),
        ("lead_id", pa.string()),
        ("payload_hash", pa.string()),
        ("error", pa.string()),
        ("run_id", pa.string()),
        ("failed_at", pa.timestamp("us", tz="UTC")),
    ]
)
AUTH_STATUSES = (401, 403)


class DestinationStopped(RuntimeError):
    """The destination refused our credentials: nothing more is sent to it this run."""


def qualifies(lead: Mapping[str, Any], min_tier: str, tiers: Mapping[str, str] | None) -> bool:
    """At or above the tier its campaigns ask of this destination (`tiers`: campaign id -> min tier).

    With `tiers`, a lead goes only where one of its campaigns sends it; without, `min_tier` holds for all."""
    rank = TIER_ORDER.get(lead.get("priority_tier") or "", 9)
    if tiers is None:
        return rank <= TIER_ORDER[min_tier]
    wanted = [tiers[c] for c in (lead.get("campaign_ids") or []) if c in tiers]
    return any(rank <= TIER_ORDER.get(t, 2) for t in wanted)


def pending(
    lakehouse: Lakehouse,
    destination: str,
    min_tier: str = "C",
    exclude: Collection[str] = frozenset(),
    tiers: Mapping[str, str] | None = None,
) -> tuple[list[dict], int, int]:
    """Leads that qualify for the destination whose CRM payload changed since last delivered (and is not
    a dead letter with that same payload), how many qualified, and how many wait as dead letters.

    Leads in `exclude` (merged away: their ids no longer live) are never delivered."""
    if not lakehouse.exists(GOLD_SCORED_LEADS):
        return [], 0, 0
    leads = lakehouse.read(GOLD_SCORED_LEADS).to_pylist()
    leads = [r for r in leads if qualifies(r, min_tier, tiers) and r["lead_id"] not in exclude]
    delivered: dict[str, str] = {}
    if lakehouse.exists(GOLD_CRM_DELIVERIES):
        ledger = lakehouse.read(GOLD_CRM_DELIVERIES, filter=f"destination = '{destination}'").to_pylist()
        delivered = {r["lead_id"]: r["payload_hash"] for r in ledger}
    dead = {(r["lead_id"], r["payload_hash"]) for r in dead_letters(lakehouse, destination)}
    out, waiting = [], 0
    for lead in sorted(leads, key=lambda r: (-r["lead_score"], r["lead_id"])):
        lead["_payload_hash"] = payload_hash(to_properties(lead))
        if delivered.get(lead["lead_id"]) == lead["_payload_hash"]:
            continue
        if (lead["lead_id"], lead["_payload_hash"]) in dead:
            waiting += 1  # refused as it is: `leadlake replay` sends it again after a fix
            continue
        out.append(lead)
    return out, len(leads), waiting


def dead_letters(lakehouse: Lakehouse, destination: str | None = None) -> list[dict]:
    """Leads a destination refused, with its message (all destinations when None)."""
    if not lakehouse.exists(GOLD_DELIVERY_DEAD_LETTERS):
        return []
    where = f"destination = '{destination}'" if destination else None
    return lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS, filter=where).to_pylist()


def deliver(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    *,
    min_tier: str = "C",
    tiers: Mapping[str, str] | None = None,
    suppressions: Iterable[Entry] = (),
    dry_run: bool = False,
    replay: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Upsert pending leads in batches; a batch's ledger rows are committed right after the CRM accepts it.

    A batch the CRM refuses is split until the refused leads are isolated: the others commit, those go to
    the dead letters with the CRM's message. `replay` sends this destination's dead letters again.
    """
    t0 = time.perf_counter()
    report = DeliveryReport(destination.name, run_id)
    if hasattr(destination, "start_run"):  # file destinations name their parts by the run
        destination.start_run(run_id)
    merges = read_merges(lakehouse)
    merged_ids = {m["merged_lead_id"] for m in merges}
    held: set[str] = set()
    if merges and not (dry_run or replay):
        # Before choosing what to send: a re-keyed survivor must be sent (to update its new company).
        held = apply_merges(lakehouse, destination, run_id, merges, report)
    if replay:
        todo, report.eligible = _replayable(lakehouse, destination.name, merged_ids)
    else:
        todo, report.eligible, report.dead_letters_waiting = pending(
            lakehouse, destination.name, min_tier, merged_ids, tiers
        )
        report.unchanged = report.eligible - len(todo) - report.dead_letters_waiting
    skipped = suppressed(todo, suppressions)
    log_rows = [
        _log(run_id, destination.name, lid, "skipped-suppressed", None, why) for lid, why in skipped.items()
    ]
    report.suppressed = len(skipped)
    todo = [lead for lead in todo if lead["lead_id"] not in skipped]
    if dry_run:
        report.would_send = [
            {"lead_id": lead["lead_id"], "name": lead.get("name"), "tier": lead.get("priority_tier")}
            for lead in todo
        ]
        report.seconds = time.perf_counter() - t0
        return report
    if held:
        # A survivor whose re-key failed waits for the next run: upserting it now would create a second
        # company next to the merged lead's.
        report.failed += sum(lead["lead_id"] in held for lead in todo)
        todo = [lead for lead in todo if lead["lead_id"] not in held]
    size = getattr(destination, "batch_limit", BATCH_LIMIT)
    try:
        if todo and hasattr(destination, "validate_mapping"):
            try:
                destination.validate_mapping()  # a field the CRM lacks stops it before any write
            except DeliveryError as exc:
                report.failed += len(todo)
                raise DestinationStopped(str(exc)) from None
        batches = [todo[start : start + size] for start in range(0, len(todo), size)]
        in_flight = max(1, int(getattr(destination, "max_in_flight", 1) or 1))
        if in_flight == 1 or len(batches) == 1:
            for batch in batches:
                _send(lakehouse, destination, run_id, batch, report, log_rows)
                if on_batch:
                    on_batch(len(batch))
        else:
            _send_concurrently(lakehouse, destination, run_id, batches, in_flight, report, log_rows, on_batch)
    except DestinationStopped as exc:
        report.errors.append(str(exc))
        log.error("%s", exc)
    finally:
        if log_rows:
            lakehouse.merge(
                OPS_SYNC_LOG,
                pa.Table.from_pylist(log_rows, schema=SYNC_LOG_SCHEMA),
                keys=["run_id", "destination", "lead_id"],
            )
    report.seconds = time.perf_counter() - t0
    return report


def _replayable(lakehouse: Lakehouse, destination: str, merged: Collection[str]) -> tuple[list[dict], int]:
    """The destination's dead-lettered leads as gold holds them now (a fixed lead carries its fix)."""
    wanted = {r["lead_id"] for r in dead_letters(lakehouse, destination)} - set(merged)
    if not wanted or not lakehouse.exists(GOLD_SCORED_LEADS):
        return [], 0
    leads = [r for r in lakehouse.read(GOLD_SCORED_LEADS).to_pylist() if r["lead_id"] in wanted]
    for lead in leads:
        lead["_payload_hash"] = payload_hash(to_properties(lead))
    return sorted(leads, key=lambda r: r["lead_id"]), len(leads)


def _log(run_id: str, dest: str, lead_id: str, action: str, crm_id: str | None, message: str | None) -> dict:
    return {
        "run_id": run_id,
        "destination": dest,
        "lead_id": lead_id,
        "action": action,
        "crm_id": crm_id,
        "message": message,
        "logged_at": datetime.now(UTC),
    }


def _attempt(destination: HubSpotDestination, batch: list[dict]) -> tuple[Any, DeliveryError | None]:
    """One batch upsert (in a worker thread): the CRM's result, or its error."""
    try:
        return destination.upsert(batch), None
    except DeliveryError as exc:
        return None, exc


def _send_concurrently(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    batches: list[list[dict]],
    in_flight: int,
    report: DeliveryReport,
    log_rows: list[dict],
    on_batch: Callable[[int], None] | None,
) -> None:
    """Keep up to `in_flight` batch upserts running; commit what the CRM accepted as the replies come in
    (the replies that arrived together in one ledger merge). Refused batches are split and dead-lettered
    here as in `_send`. After a DestinationStopped nothing more is started; the batches already in flight
    are settled (their accepted leads committed), then it is raised."""
    pending = iter(batches)
    running: dict[Future, list[dict]] = {}
    stopped: DestinationStopped | None = None
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix=f"deliver-{destination.name}") as pool:

        def start() -> None:
            while stopped is None and len(running) < in_flight:
                batch = next(pending, None)
                if batch is None:
                    return
                running[pool.submit(_attempt, destination, batch)] = batch

        start()
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            accepted, settled = [], []
            for future in done:
                batch = running.pop(future)
                settled.append(batch)
                result, exc = future.result()
                if exc is None:
                    accepted.append((batch, result))
                    continue
                try:
                    _failed(lakehouse, destination, run_id, batch, exc, report, log_rows)
                except DestinationStopped as stop:
                    stopped = stopped or stop
            _accepted(lakehouse, destination, run_id, accepted, report, log_rows)
            if on_batch:
                for batch in settled:
                    on_batch(len(batch))
            start()
    if stopped is not None:
        raise stopped


def _send(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    batch: list[dict],
    report: DeliveryReport,
    log_rows: list[dict],
) -> None:
    """Upsert one batch; a refused batch is halved until each refused lead stands alone (dead letter)."""
    result, exc = _attempt(destination, batch)
    if exc is not None:
        _failed(lakehouse, destination, run_id, batch, exc, report, log_rows)
    else:
        _accepted(lakehouse, destination, run_id, [(batch, result)], report, log_rows)


def _failed(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    batch: list[dict],
    exc: DeliveryError,
    report: DeliveryReport,
    log_rows: list[dict],
) -> None:
    """A batch the CRM did not take: stop on refused credentials, split a refused batch, else log it as
    failed (kept out of the ledger, so the next run sends it again)."""
    if exc.status in AUTH_STATUSES:
        report.failed += len(batch)
        raise DestinationStopped(
            f"{destination.name} refused our credentials (HTTP {exc.status}): check its key; "
            "nothing more is sent to it this run"
        ) from None
    if exc.refused and len(batch) > 1:
        half = len(batch) // 2
        _send(lakehouse, destination, run_id, batch[:half], report, log_rows)
        _send(lakehouse, destination, run_id, batch[half:], report, log_rows)
        return
    report.failed += len(batch)
    report.errors.append(str(exc))
    log.error("%s", exc)
    if exc.refused:  # one lead the CRM will not take as it is
        report.failed -= 1  # _dead_letter counts it
        _dead_letter(lakehouse, destination.name, run_id, batch[0], str(exc), report, log_rows)
    else:
        # Not in the ledger, so the next run sends it again; the upsert on the unique id makes a resend
        # harmless if the CRM did apply it.
        log_rows.extend(_log(run_id, destination.name, x["lead_id"], "failed", None, str(exc)) for x in batch)


def _accepted(
    lakehouse: Lakehouse,
    destination: HubSpotDestination,
    run_id: str,
    replies: Sequence[tuple[list[dict], Any]],
    report: DeliveryReport,
    log_rows: list[dict],
) -> None:
    """Commit the batches the CRM accepted (each with its result) in one ledger merge: leads it refused
    within a batch go to the dead letters, the others to the ledger, out of the dead letters."""
    rows: list[dict] = []
    now = datetime.now(UTC)
    for batch, result in replies:
        refused = dict(getattr(result, "failures", None) or {})
        for lead in (x for x in batch if x["lead_id"] in refused):
            _dead_letter(
                lakehouse, destination.name, run_id, lead, refused[lead["lead_id"]], report, log_rows
            )
        batch = [x for x in batch if x["lead_id"] not in refused]
        if not batch:
            continue
        rows += [
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
        ids = [lead["lead_id"] for lead in batch]
        created = set(getattr(result, "created_ids", ()) or ())
        for lid in ids:
            action = "created" if lid in created else "updated"
            log_rows.append(_log(run_id, destination.name, lid, action, result.crm_ids[lid], None))
        report.sent += len(batch)
        report.created += sum(lid in created for lid in ids) if created else result.created
        report.updated += len(ids) - (sum(lid in created for lid in ids) if created else result.created)
    if not rows:
        return
    lakehouse.merge(
        GOLD_CRM_DELIVERIES,
        pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA),
        keys=["destination", "lead_id"],
    )
    if lakehouse.exists(GOLD_DELIVERY_DEAD_LETTERS):
        quoted = ", ".join("'" + r["lead_id"].replace("'", "''") + "'" for r in rows)
        lakehouse.delete(
            GOLD_DELIVERY_DEAD_LETTERS, f"destination = '{destination.name}' AND lead_id IN ({quoted})"
        )


def _dead_letter(
    lakehouse: Lakehouse,
    destination: str,
    run_id: str,
    lead: Mapping[str, Any],
    error: str,
    report: DeliveryReport,
    log_rows: list[dict],
) -> None:
    """Keep a lead the CRM refused, with its message, out of the next runs until `replay` or a change."""
    report.failed += 1
    report.dead_lettered += 1
    if error not in report.errors:
        report.errors.append(error)
    row = {
        "destination": destination,
        "lead_id": lead["lead_id"],
        "payload_hash": lead["_payload_hash"],
        "error": error,
        "run_id": run_id,
        "failed_at": datetime.now(UTC),
    }
    lakehouse.merge(
        GOLD_DELIVERY_DEAD_LETTERS,
        pa.Table.from_pylist([row], schema=DEAD_LETTER_SCHEMA),
        keys=["destination", "lead_id"],
    )
    log_rows.append(_log(run_id, destination, lead["lead_id"], "dead-letter", None, error))


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
