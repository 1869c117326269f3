"""Which gold leads go to a destination: its campaigns' routes (min tier, field mapping), the ledger's diff.

`pending()` streams: it sorts gold once (Arrow, best score first) and works through it a slice at a time,
hashing each qualifying lead's payload as the destination would send it, so delivery's first batches go out
while the rest of the diff is still being computed (hashing 20,000 payloads takes about a second).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from leadlake.connectors.destinations.base import idempotency_key, payload_hash
from leadlake.core.campaign import passes_filters
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_DELIVERY_DEAD_LETTERS, GOLD_SCORED_LEADS

TIER_ORDER = {"A": 0, "B": 1, "C": 2}
SLICE = 500  # gold rows turned into Python at a time: small enough that the first batch is ready at once


@dataclass(frozen=True)
class Route:
    """How one campaign sends its leads to a destination: the lowest tier, and its own field mapping
    (None: the destination's default; a YAML file path or inline keys over the default)."""

    min_tier: str = "C"
    mapping: str | Mapping[str, Any] | None = None
    min_rating: float | None = None  # the campaign's filters: a lead that fails them is not its lead
    min_reviews: int | None = None

    @property
    def key(self) -> str | None:
        """The mapping as a stable string: leads with the same key are sent through one mapping."""
        if self.mapping is None:
            return None
        return self.mapping if isinstance(self.mapping, str) else json.dumps(self.mapping, sort_keys=True)


def as_route(value: Route | str | None) -> Route:
    """A route from a Route, or a bare min tier (the older `{campaign: tier}` form)."""
    if isinstance(value, Route):
        return value
    return Route(min_tier=value or "C")


def route_of(
    lead: Mapping[str, Any], min_tier: str, routes: Mapping[str, Route | str] | None
) -> Route | None:
    """The route `lead` takes to a destination, or None when it does not qualify there.

    Without `routes` (gold written without campaigns) `min_tier` holds for every lead, through the default
    mapping. With them, a lead goes where one of its campaigns sends it at or above that campaign's tier
    and passing that campaign's filters;
    when several do, the first such campaign (by id) chooses the mapping, so the choice is stable."""
    rank = TIER_ORDER.get(lead.get("priority_tier") or "", 9)
    if routes is None:
        return Route(min_tier) if rank <= TIER_ORDER[min_tier] else None
    for campaign in sorted(lead.get("campaign_ids") or []):
        if campaign in routes:
            route = as_route(routes[campaign])
            if rank <= TIER_ORDER.get(route.min_tier, 2) and passes_filters(
                lead, route.min_rating, route.min_reviews
            ):
                return route
    return None


def qualifies(lead: Mapping[str, Any], min_tier: str, tiers: Mapping[str, Route | str] | None) -> bool:
    """At or above the tier its campaigns ask of this destination (see `route_of`)."""
    return route_of(lead, min_tier, tiers) is not None


def _for_destination(lakehouse: Lakehouse, table: str, destination: str, columns: list[str]) -> pa.Table:
    """A delivery table's rows of one destination (Arrow filter: no SQL engine to start for it)."""
    rows = lakehouse.read(table, columns=["destination", *columns])
    return rows.filter(pc.equal(rows["destination"], destination))


def delivered_hashes(lakehouse: Lakehouse, destination: str) -> dict[str, str]:
    """lead id -> the payload hash the ledger holds for it at this destination."""
    if not lakehouse.exists(GOLD_CRM_DELIVERIES):
        return {}
    rows = _for_destination(lakehouse, GOLD_CRM_DELIVERIES, destination, ["lead_id", "payload_hash"])
    return dict(zip(rows["lead_id"].to_pylist(), rows["payload_hash"].to_pylist(), strict=True))


def dead_letters(lakehouse: Lakehouse, destination: str | None = None) -> list[dict]:
    """Leads a destination refused, with its message (all destinations when None)."""
    if not lakehouse.exists(GOLD_DELIVERY_DEAD_LETTERS):
        return []
    rows = lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS)
    if destination:
        rows = rows.filter(pc.equal(rows["destination"], destination))
    return rows.to_pylist()


@dataclass
class Selection:
    """What `pending` counted, complete once its stream is exhausted."""

    eligible: int = 0  # qualifying leads (not merged away)
    unchanged: int = 0  # delivered already with this payload
    waiting: int = 0  # dead letters with this payload: sent again only by `leadlake replay`


def sorted_gold(lakehouse: Lakehouse) -> pa.Table:
    """gold.scored_leads, best score first (then lead id): the order leads are sent in."""
    gold = lakehouse.read(GOLD_SCORED_LEADS)
    if gold.num_rows == 0:
        return gold
    return gold.take(pc.sort_indices(gold, [("lead_score", "descending"), ("lead_id", "ascending")]))


def pending(
    lakehouse: Lakehouse,
    destination: str,
    payload: Callable[[Mapping[str, Any], Route], Mapping[str, Any]],
    selection: Selection,
    *,
    min_tier: str = "C",
    exclude: Collection[str] = frozenset(),
    routes: Mapping[str, Route | str] | None = None,
) -> Iterator[tuple[dict, Route]]:
    """Stream the leads that qualify for `destination` and whose payload changed since it was last delivered
    there (and is not a dead letter with that same payload), each with its route, best score first.

    `payload(lead, route)` is what the destination sends for the lead through the route's mapping; its hash
    and idempotency key go on the lead as `_payload_hash` and `_idempotency_key`. Leads in `exclude`
    (merged away: their ids no longer live) are never delivered. `selection` counts as the stream goes."""
    if not lakehouse.exists(GOLD_SCORED_LEADS):
        return
    gold = sorted_gold(lakehouse)
    delivered = delivered_hashes(lakehouse, destination)
    dead = {(r["lead_id"], r["payload_hash"]) for r in dead_letters(lakehouse, destination)}
    for start in range(0, gold.num_rows, SLICE):
        for lead in gold.slice(start, SLICE).to_pylist():
            route = route_of(lead, min_tier, routes)
            if route is None or lead["lead_id"] in exclude:
                continue
            selection.eligible += 1
            digest = payload_hash(payload(lead, route))
            if delivered.get(lead["lead_id"]) == digest:
                selection.unchanged += 1
                continue
            if (lead["lead_id"], digest) in dead:
                selection.waiting += 1  # refused as it is: `leadlake replay` sends it again after a fix
                continue
            lead["_payload_hash"] = digest
            lead["_idempotency_key"] = idempotency_key(destination, lead["lead_id"], digest)
            yield lead, route
