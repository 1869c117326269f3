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

Each lead goes through the field mapping of the campaign that routes it (`select.route_of`; the
destination's default mapping when the campaign names none); its payload hash is the hash of what the
destination sends (`Destination.payload`), and its idempotency key (destination, lead, payload hash) is
recorded in the ledger and the sync log and sent where the destination takes one.

Upserts go out up to the destination's `max_in_flight` batches at once (worker threads do only the CRM
calls; the destination paces them under its rate limit). This thread selects the leads as the batches go
(`select.pending` streams) and commits the ledger rows of the batches the CRM accepted as they come back, so
a run killed at any point leaves in the ledger only what the CRM holds; a batch accepted but not yet
committed is sent again by the next run, an update of the same company (the upsert is keyed on the lead
id), never a second one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from leadlake.connectors.destinations.base import (
    DeliveryError,
    MappingError,
    idempotency_key,
    payload_hash,
    payload_of,
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
from leadlake.stages.delivery.select import (
    TIER_ORDER,
    Route,
    Selection,
    as_route,
    dead_letters,
    pending,
    qualifies,
    route_of,
)

__all__ = ["TIER_ORDER", "dead_letters", "deliver", "payload_hash", "pending", "qualifies"]

log = logging.getLogger("leadlake.stages.delivery.deliver")

COMMIT_SECONDS = 1.0  # concurrent delivery merges accepted batches into the ledger at most this often
COMMIT_ROWS = 2000  # ... or once this many leads wait to be committed
VALIDATE_ATTEMPTS = 3  # describe calls before a destination whose describe keeps failing is stopped
BATCH_LIMIT = 100  # leads per upsert for a destination that names no `batch_limit` (HubSpot's maximum)
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
        ("idempotency_key", pa.string()),  # of (destination, lead, payload hash): what the send carried
    ]
)
MERGED, REKEYED, REFUSED = "merged", "rekeyed", "refused"


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


SYNC_LOG_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("destination", pa.string()),
        ("lead_id", pa.string()),
        ("action", pa.string()),  # created | updated | unchanged | skipped-suppressed | failed | dead-letter
        ("crm_id", pa.string()),
        ("message", pa.string()),  # the CRM's own message for a failure, the reason for a skip
        ("logged_at", pa.timestamp("us", tz="UTC")),
        ("idempotency_key", pa.string()),  # of the payload sent (none for a skipped lead)
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
    """The destination refused our credentials (or a mapping): nothing more is sent to it this run."""


class Mappings:
    """One destination instance per field mapping its routes use (the destination itself for the default),
    built before anything is sent: a mapping that does not load stops the destination then."""

    def __init__(self, destination: Any, routes: Iterable[Route]) -> None:
        self.default = destination
        self.by_key: dict[str | None, Any] = {None: destination}
        self.used: dict[str | None, Any] = {}
        for route in routes:
            self.used[route.key] = self.of(route)

    def of(self, route: Route) -> Any:
        """The destination instance writing through `route`'s mapping."""
        if route.key not in self.by_key:
            name = self.default.name
            with_mapping = getattr(self.default, "with_mapping", None)
            if not callable(with_mapping):
                raise DestinationStopped(
                    f"{name} does not take a per-campaign field mapping: remove `mapping` from the "
                    f"campaign's {name} destination; nothing was sent"
                )
            try:
                self.by_key[route.key] = with_mapping(route.mapping)
            except (MappingError, ValueError, OSError) as exc:
                raise DestinationStopped(
                    f"{name}: a campaign's field mapping ({_short(route.key)}) does not load: {exc}; "
                    "fix it in the campaign (or its mapping file); nothing was sent"
                ) from None
        return self.by_key[route.key]

    def payload(self, lead: Mapping[str, Any], route: Route) -> Mapping[str, Any]:
        """What the destination sends for `lead` through `route`'s mapping."""
        return payload_of(self.of(route), lead)

    def validate(self) -> None:
        """Check every mapping in use against the destination (its describe) before the first write."""
        for dest in self.used.values():
            if not hasattr(dest, "validate_mapping"):
                continue
            for attempt in range(1, VALIDATE_ATTEMPTS + 1):
                try:
                    dest.validate_mapping()  # a field the CRM lacks stops it before any write
                    break
                except MappingError as exc:
                    raise DestinationStopped(str(exc)) from None
                except DeliveryError as exc:
                    if exc.status in AUTH_STATUSES:
                        raise _credentials_refused(dest.name, exc.status) from None
                    # A malformed or failed describe says nothing about the mapping: ask again, then stop.
                    if exc.refused or attempt == VALIDATE_ATTEMPTS:
                        raise DestinationStopped(str(exc)) from None
                    log.warning("%s (attempt %d/%d)", exc, attempt, VALIDATE_ATTEMPTS)


def _credentials_refused(name: str, status: int | None) -> DestinationStopped:
    return DestinationStopped(
        f"{name} refused our credentials (HTTP {status}): check its key; nothing more is sent to it this run"
    )


def _short(text: str | None, limit: int = 80) -> str:
    text = text or "default"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def deliver(
    lakehouse: Lakehouse,
    destination: Any,
    run_id: str,
    *,
    min_tier: str = "C",
    tiers: Mapping[str, Route | str] | None = None,
    suppressions: Iterable[Entry] = (),
    dry_run: bool = False,
    replay: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Upsert pending leads in batches; a batch's ledger rows are committed right after the CRM accepts it.

    `tiers`: campaign id -> its Route to this destination (or just its min tier); None: every lead at
    `min_tier`, default mapping. A batch the CRM refuses is split until the refused leads are isolated: the
    others commit, those go to the dead letters with the CRM's message. `replay` sends this destination's
    dead letters again.
    """
    t0 = time.perf_counter()
    report = DeliveryReport(destination.name, run_id)
    if hasattr(destination, "start_run"):  # file destinations name their parts by the run
        destination.start_run(run_id)
    listed = list(suppressions)
    log_rows: list[dict] = []
    selection = Selection()
    stream: Iterator[tuple[dict, Route]] = iter(())
    try:
        routes = [Route(min_tier)] if tiers is None else [as_route(r) for r in tiers.values()]
        mappings = Mappings(destination, routes)
        merges = read_merges(lakehouse)
        merged_ids = {m["merged_lead_id"] for m in merges}
        held: set[str] = set()
        if merges and not (dry_run or replay):
            # Before choosing what to send: a re-keyed survivor must be sent (to update its new company).
            held = apply_merges(lakehouse, destination, run_id, merges, report)
        if replay:
            stream = _replayable(
                lakehouse, destination.name, merged_ids, mappings, min_tier, tiers, selection
            )
        else:
            stream = pending(
                lakehouse,
                destination.name,
                mappings.payload,
                selection,
                min_tier=min_tier,
                exclude=merged_ids,
                routes=tiers,
            )
        sendable = _sendable(stream, listed, held, run_id, destination.name, report, log_rows)
        if dry_run:
            report.would_send = [
                {"lead_id": lead["lead_id"], "name": lead.get("name"), "tier": lead.get("priority_tier")}
                for lead, _ in sendable
            ]
        else:
            # The mappings are checked against the CRM (a describe call) while gold is read and diffed;
            # nothing is written before the check has passed.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliver-check") as checker:
                checked = checker.submit(mappings.validate)
                size = int(getattr(destination, "batch_limit", BATCH_LIMIT) or BATCH_LIMIT)
                batches = _batches(sendable, mappings, size)
                first = next(batches, None)
                try:
                    checked.result()
                except DestinationStopped:
                    if first is not None:  # with nothing to send, a failed check stops nothing
                        report.failed += len(first[1]) + sum(len(b) for _, b in batches)
                        raise
            if first is not None:
                batches = itertools.chain([first], batches)
                _send_all(lakehouse, destination, run_id, batches, report, log_rows, on_batch)
    except DestinationStopped as exc:
        report.errors.append(str(exc))
        log.error("%s", exc)
        for _ in stream:  # the rest of the selection, so the counts cover every qualifying lead
            pass
    finally:
        report.eligible = selection.eligible
        report.unchanged = selection.unchanged
        report.dead_letters_waiting = selection.waiting
        if log_rows and not dry_run:
            lakehouse.merge(
                OPS_SYNC_LOG,
                pa.Table.from_pylist(log_rows, schema=SYNC_LOG_SCHEMA),
                keys=["run_id", "destination", "lead_id"],
            )
    report.seconds = time.perf_counter() - t0
    return report


def _sendable(
    stream: Iterator[tuple[dict, Route]],
    listed: list[Entry],
    held: Collection[str],
    run_id: str,
    destination: str,
    report: DeliveryReport,
    log_rows: list[dict],
) -> Iterator[tuple[dict, Route]]:
    """The stream less suppressed leads (logged as skipped) and survivors whose re-key failed for now."""
    while chunk := list(itertools.islice(stream, 100)):
        skipped = suppressed((lead for lead, _ in chunk), listed) if listed else {}
        for lead, route in chunk:
            lid = lead["lead_id"]
            if lid in skipped:
                report.suppressed += 1
                log_rows.append(_log(run_id, destination, lid, "skipped-suppressed", None, skipped[lid]))
            elif lid in held:
                # A survivor whose re-key failed waits for the next run: upserting it now would create a
                # second company next to the merged lead's.
                report.failed += 1
            else:
                yield lead, route


def _batches(
    sendable: Iterator[tuple[dict, Route]], mappings: Mappings, size: int
) -> Iterator[tuple[Any, list[dict]]]:
    """Batches of up to `size` leads, each through one mapping (one destination instance), as they fill."""
    open_: dict[str | None, list[dict]] = {}
    for lead, route in sendable:
        batch = open_.setdefault(route.key, [])
        batch.append(lead)
        if len(batch) >= size:
            yield mappings.of(route), open_.pop(route.key)
    for key, batch in open_.items():
        yield mappings.by_key[key], batch


def _send_all(
    lakehouse: Lakehouse,
    destination: Any,
    run_id: str,
    batches: Iterator[tuple[Any, list[dict]]],
    report: DeliveryReport,
    log_rows: list[dict],
    on_batch: Callable[[int], None] | None,
) -> None:
    """Send the batches one at a time, or up to the destination's `max_in_flight` at once."""
    in_flight = max(1, int(getattr(destination, "max_in_flight", 1) or 1))
    if in_flight > 1:
        name = destination.name
        _send_concurrently(lakehouse, name, run_id, batches, in_flight, report, log_rows, on_batch)
        return
    for dest, batch in batches:
        _send(lakehouse, dest, run_id, batch, report, log_rows)
        if on_batch:
            on_batch(len(batch))


def _replayable(
    lakehouse: Lakehouse,
    destination: str,
    merged: Collection[str],
    mappings: Mappings,
    min_tier: str,
    tiers: Mapping[str, Route | str] | None,
    selection: Selection,
) -> Iterator[tuple[dict, Route]]:
    """The destination's dead-lettered leads as gold holds them now (a fixed lead carries its fix), each
    through its campaign's mapping (the default when none routes it any more)."""
    wanted = {r["lead_id"] for r in dead_letters(lakehouse, destination)} - set(merged)
    if not wanted or not lakehouse.exists(GOLD_SCORED_LEADS):
        return
    leads = [r for r in lakehouse.read(GOLD_SCORED_LEADS).to_pylist() if r["lead_id"] in wanted]
    selection.eligible = len(leads)
    for lead in sorted(leads, key=lambda r: r["lead_id"]):
        route = route_of(lead, min_tier, tiers) or Route(min_tier)
        lead["_payload_hash"] = payload_hash(mappings.payload(lead, route))
        lead["_idempotency_key"] = idempotency_key(destination, lead["lead_id"], lead["_payload_hash"])
        yield lead, route


def _log(
    run_id: str,
    dest: str,
    lead_id: str,
    action: str,
    crm_id: str | None,
    message: str | None,
    key: str | None = None,
) -> dict:
    return {
        "run_id": run_id,
        "destination": dest,
        "lead_id": lead_id,
        "action": action,
        "crm_id": crm_id,
        "message": message,
        "logged_at": datetime.now(UTC),
        "idempotency_key": key,
    }


def _attempt(destination: Any, batch: list[dict]) -> tuple[Any, DeliveryError | None]:
    """One batch upsert (in a worker thread): the CRM's result, or its error."""
    try:
        return destination.upsert(batch), None
    except DeliveryError as exc:
        return None, exc


def _send_concurrently(
    lakehouse: Lakehouse,
    name: str,
    run_id: str,
    batches: Iterator[tuple[Any, list[dict]]],
    in_flight: int,
    report: DeliveryReport,
    log_rows: list[dict],
    on_batch: Callable[[int], None] | None,
) -> None:
    """Keep up to `in_flight` batch upserts running; commit what the CRM accepted as the replies come in,
    a ledger merge at most every COMMIT_SECONDS (or COMMIT_ROWS leads): a merge costs this thread about as
    much as a batch's round trip, and a batch accepted but not committed yet is only re-sent (as an update)
    should the run die. Free slots are refilled before a merge. Refused batches are split and dead-lettered
    here as in `_send`. After a DestinationStopped nothing more is started; the batches already in flight
    are settled (their accepted leads committed), then it is raised."""
    running: dict[Future, tuple[Any, list[dict]]] = {}
    stopped: DestinationStopped | None = None
    accepted: list[tuple[list[dict], Any]] = []
    committed_at = time.monotonic()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix=f"deliver-{name}") as pool:

        def start() -> None:
            while stopped is None and len(running) < in_flight:
                item = next(batches, None)  # the selection goes on here, between replies
                if item is None:
                    return
                dest, batch = item
                running[pool.submit(_attempt, dest, batch)] = item

        start()
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            settled, refused = [], []
            for future in done:
                dest, batch = running.pop(future)
                settled.append(batch)
                result, exc = future.result()
                if exc is None:
                    accepted.append((batch, result))
                else:
                    refused.append((dest, batch, exc))
            if not refused:
                start()  # keep the CRM busy while this thread commits
            for dest, batch, exc in refused:
                try:
                    _failed(lakehouse, dest, run_id, batch, exc, report, log_rows)
                except DestinationStopped as stop:
                    stopped = stopped or stop
            rows = sum(len(batch) for batch, _ in accepted)
            if rows >= COMMIT_ROWS or time.monotonic() - committed_at >= COMMIT_SECONDS or not running:
                _accepted(lakehouse, name, run_id, accepted, report, log_rows)
                accepted, committed_at = [], time.monotonic()
            if on_batch:
                for batch in settled:
                    on_batch(len(batch))
            start()
        _accepted(lakehouse, name, run_id, accepted, report, log_rows)
    if stopped is not None:
        raise stopped


def _send(
    lakehouse: Lakehouse,
    destination: Any,
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
        _accepted(lakehouse, destination.name, run_id, [(batch, result)], report, log_rows)


def _failed(
    lakehouse: Lakehouse,
    destination: Any,
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
        raise _credentials_refused(destination.name, exc.status) from None
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
        log_rows.extend(
            _log(run_id, destination.name, x["lead_id"], "failed", None, str(exc), x.get("_idempotency_key"))
            for x in batch
        )


def _accepted(
    lakehouse: Lakehouse,
    destination: str,
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
            _dead_letter(lakehouse, destination, run_id, lead, refused[lead["lead_id"]], report, log_rows)
        batch = [x for x in batch if x["lead_id"] not in refused]
        if not batch:
            continue
        rows += [
            {
                "destination": destination,
                "lead_id": lead["lead_id"],
                "payload_hash": lead["_payload_hash"],
                "crm_id": result.crm_ids[lead["lead_id"]],
                "run_id": run_id,
                "delivered_at": now,
                "merged_into": None,
                "merge_outcome": None,
                "merge_applied_at": None,
                "idempotency_key": lead.get("_idempotency_key"),
            }
            for lead in batch
        ]
        ids = [lead["lead_id"] for lead in batch]
        created = set(getattr(result, "created_ids", ()) or ())
        for lead in batch:
            lid = lead["lead_id"]
            action = "created" if lid in created else "updated"
            key = lead.get("_idempotency_key")
            log_rows.append(_log(run_id, destination, lid, action, result.crm_ids[lid], None, key))
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
            GOLD_DELIVERY_DEAD_LETTERS, f"destination = '{destination}' AND lead_id IN ({quoted})"
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
    log_rows.append(
        _log(run_id, destination, lead["lead_id"], "dead-letter", None, error, lead.get("_idempotency_key"))
    )


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
    destination: Any,
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
            "idempotency_key": None,
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
