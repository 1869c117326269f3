"""Lead identity for life: carry existing lead ids onto new clusters, record merges and splits, mint the rest.

Rules (documented in the README):
- A cluster keeps the id of the existing lead that contributes most of its records; ties go to the lead
  created first, then to the smaller id. The other existing leads in it are *merged* into that survivor.
- When a lead splits, the part holding most of its records keeps the id; the other parts get new ids
  (history event `split`, pointing at the lead they came from).
- A new id is uuid5 of the cluster's smallest record id, never one used before (retired ids stay retired).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from leadlake.stages.silver.resolve.cluster import LEAD_NAMESPACE

MERGE_COLUMNS = ["merged_lead_id", "survivor_lead_id", "run_id", "merged_at", "reason", "record_ids"]
HISTORY_COLUMNS = ["lead_id", "event", "related_lead_id", "run_id", "at", "reason"]
EVENTS = ("minted", "merged", "split", "retired")


@dataclass(frozen=True)
class IdAssignment:
    """Lead id per cluster, and what changed: merges (silver.lead_merges) and history events."""

    lead_ids: dict[str, str]  # cluster id -> lead id
    merges: pd.DataFrame  # MERGE_COLUMNS
    history: pd.DataFrame  # HISTORY_COLUMNS

    def counts(self) -> dict[str, int]:
        """How many leads were minted, merged, split and retired by this assignment."""
        found = Counter(self.history["event"]) if len(self.history) else Counter()
        return {event: int(found.get(event, 0)) for event in EVENTS}


def mint(smallest_record_id: str, used: Collection[str]) -> str:
    """uuid5 of the record id, or of `record_id#n` when that id was ever used before."""
    candidate, n = str(uuid.uuid5(LEAD_NAMESPACE, smallest_record_id)), 0
    while candidate in used:
        n += 1
        candidate = str(uuid.uuid5(LEAD_NAMESPACE, f"{smallest_record_id}#{n}"))
    return candidate


def _reason(pairs: pd.DataFrame | None, mine: Collection[str], theirs: Collection[str], fallback: str) -> str:
    """The strongest pair tying records of one lead to another, in words."""
    if pairs is None or pairs.empty:
        return fallback
    a, b = set(mine), set(theirs)
    left, right = pairs["record_id_l"], pairs["record_id_r"]
    hit = pairs[(left.isin(a) & right.isin(b)) | (left.isin(b) & right.isin(a))]
    if hit.empty:
        return fallback
    best = hit.sort_values("match_probability", ascending=False, kind="stable").iloc[0]
    rule = best.get("match_rule") if "match_rule" in hit else None
    text = f"{best['record_id_l']} ~ {best['record_id_r']} at p={float(best['match_probability']):.3f}"
    return f"{text} ({rule})" if isinstance(rule, str) and rule else text


def assign_ids(
    clusters: Mapping[str, str],
    previous: Mapping[str, str],
    *,
    created: Mapping[str, datetime] | None = None,
    used: Collection[str] = (),
    pairs: pd.DataFrame | None = None,
    run_id: str = "",
    at: datetime | None = None,
) -> IdAssignment:
    """Lead ids for `clusters` (record id -> cluster id) given `previous` (record id -> lead id).

    `created` orders ties between existing leads; `used` holds every id ever issued (never re-minted).
    """
    at = at or pd.Timestamp.now(tz="UTC").to_pydatetime()
    created = created or {}
    members: dict[str, list[str]] = {}
    for rid, cid in clusters.items():
        members.setdefault(cid, []).append(rid)
    old_members: dict[str, list[str]] = {}
    for rid, lid in previous.items():
        old_members.setdefault(lid, []).append(rid)
    overlap: Counter[tuple[str, str]] = Counter(
        (previous[rid], cid) for rid, cid in clusters.items() if rid in previous
    )
    far_future = datetime.max.replace(tzinfo=at.tzinfo)

    def rank(item: tuple[tuple[str, str], int]) -> tuple[int, datetime, str, str]:
        (lid, cid), n = item
        return (-n, created.get(lid, far_future), lid, cid)

    lead_of: dict[str, str] = {}
    cluster_of: dict[str, str] = {}
    for (lid, cid), _n in sorted(overlap.items(), key=rank):
        if lid in cluster_of or cid in lead_of:
            continue
        lead_of[cid], cluster_of[lid] = lid, cid

    issued = set(used) | set(old_members) | set(lead_of.values())
    merges: list[dict[str, object]] = []
    history: list[dict[str, object]] = []
    for cid in sorted(members):
        if cid in lead_of:
            continue
        new_id = mint(min(members[cid]), issued)
        issued.add(new_id)
        lead_of[cid] = new_id
        parents = Counter(previous[r] for r in members[cid] if r in previous)
        if parents:
            parent = sorted(parents.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            reason = f"{sum(parents.values())} of its records left lead {parent}"
            history.append(_event(new_id, "split", parent, run_id, at, reason))
        else:
            history.append(_event(new_id, "minted", None, run_id, at, f"{len(members[cid])} new record(s)"))

    for lid in sorted(old_members):
        if lid in cluster_of:
            continue
        gone_to = Counter(lead_of[clusters[r]] for r in old_members[lid] if r in clusters)
        if not gone_to:
            history.append(_event(lid, "retired", None, run_id, at, "its source records are gone"))
            continue
        survivor = sorted(gone_to.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        survivor_records = [r for r, c in clusters.items() if lead_of[c] == survivor]
        reason = _reason(pairs, old_members[lid], survivor_records, f"its records joined lead {survivor}")
        merges.append(
            {
                "merged_lead_id": lid,
                "survivor_lead_id": survivor,
                "run_id": run_id,
                "merged_at": at,
                "reason": reason,
                "record_ids": sorted(old_members[lid]),
            }
        )
        history.append(_event(lid, "merged", survivor, run_id, at, reason))
    return IdAssignment(
        lead_ids=lead_of,
        merges=pd.DataFrame(merges, columns=MERGE_COLUMNS),
        history=pd.DataFrame(history, columns=HISTORY_COLUMNS),
    )


def _event(
    lead_id: str, event: str, related: str | None, run_id: str, at: datetime, reason: str
) -> dict[str, object]:
    return {
        "lead_id": lead_id,
        "event": event,
        "related_lead_id": related,
        "run_id": run_id,
        "at": at,
        "reason": reason,
    }
