"""Clustering: greedy best-first links with an evidence check against chaining; stable lead ids."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from leadlake.stages.silver.resolve.settings import PAIR_COLUMNS

LEAD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/leadlake/leadlake/lead")

LINK_COLUMNS = ["record_id", "lead_id", "cluster_size"]


def lead_id_for(record_ids: Iterable[str]) -> str:
    """Deterministic lead id: uuid5 of the cluster's smallest record_id."""
    ids = list(record_ids)
    if not ids:
        raise ValueError("a lead needs at least one record_id")
    return _uuid5(min(ids))


_NAMESPACE_BYTES = LEAD_NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """str(uuid.uuid5(LEAD_NAMESPACE, name)) without building a UUID object (a third of the cost)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def best_pairs(*frames: pd.DataFrame) -> pd.DataFrame:
    """All pairs of the frames, each once at its highest probability, sorted by record ids."""
    usable = [f for f in frames if not f.empty]
    if not usable:
        return pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float})
    pairs = pd.concat([f.reindex(columns=PAIR_COLUMNS) for f in usable], ignore_index=True)
    pairs["match_rule"] = pairs["match_rule"].fillna("")
    pairs = pairs.sort_values("match_probability", ascending=False, kind="stable")
    pairs = pairs.drop_duplicates(["record_id_l", "record_id_r"])
    return pairs.sort_values(["record_id_l", "record_id_r"], kind="stable").reset_index(drop=True)


# A record's door: (its source, house number, street prefix, lat, lon), from door_key.
Door = tuple[object, str, str, float, float]
SAME_BUILDING_KM = 0.1  # two street lines this close on the map may be one corner building's two fronts
_LEADING_DIGITS = re.compile(r"\d+")


def door_key(street_key: object) -> str | None:
    """A record's door as "house-number street-prefix" (prepare.street_key's number and the first three
    letters of its street word: a misspelt street is one door), None without one. A range or a unit letter
    reads as its first number ("123-125 main", "123a main" -> "123 mai"), a unit before a slash as the
    house number after it ("5/12 smith" -> "12 smi", as Australia writes it)."""
    if not isinstance(street_key, str) or " " not in street_key:
        return None
    number, street = street_key.split(" ", 1)
    number = number.rsplit("/", 1)[-1] or number
    digits = _LEADING_DIGITS.match(number)
    return f"{digits.group() if digits else number} {street[:3]}"


def door_of(provider: object, street_key: object, lat: object, lon: object) -> Door | None:
    """The record's door (door_key with its source and point), or None without a house number and street."""
    key = door_key(street_key)
    if key is None:
        return None
    number, street = key.split(" ", 1)
    return provider, number, street, _coordinate(lat), _coordinate(lon)


def _coordinate(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def same_door(a: Door, b: Door) -> bool:
    """One house number on one street (door_key)."""
    return a[1] == b[1] and a[2] == b[2]


def different_doors(a: Door, b: Door) -> bool:
    """Two records of one source at two doors: another house number on another street, not within
    SAME_BUILDING_KM of each other on the map (a corner building's two fronts)."""
    if a[0] != b[0] or a[1] == b[1] or a[2] == b[2]:
        return False
    if a[3] == a[3] and b[3] == b[3] and a[4] == a[4] and b[4] == b[4]:
        from leadlake.core.geo import haversine_km

        return haversine_km(a[3], a[4], b[3], b[4]) >= SAME_BUILDING_KM
    return True


def _confirmed(door: Door, doors: list[Door]) -> bool:
    """Whether another source lists the same door (same_door) among `doors`."""
    return any(other[0] != door[0] and same_door(door, other) for other in doors)


def _branches_apart(mine: list[Door], theirs: list[Door]) -> bool:
    """Whether two clusters are two branches: one source lists them at different doors, and each of those
    doors is confirmed by another source in its own cluster. A single listing at another address (a move,
    a stale listing, a typo) is not evidence: only two places each seen twice are."""
    return any(
        a[0] == b[0] and different_doors(a, b) and _confirmed(a, mine) and _confirmed(b, theirs)
        for a in mine
        for b in theirs
    )


def _objects(values: Sequence[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _root(parent: dict[int, int], rid: int) -> int:
    """Union-find root of rid, halving the path on the way."""
    while parent[rid] != rid:
        parent[rid] = parent[parent[rid]]
        rid = parent[rid]
    return rid


def cluster(
    record_ids: Sequence[str],
    providers: Sequence[str],
    pairs: pd.DataFrame,
    one_per_provider: bool = False,
    min_link_share: float = 0.0,
    keys: Sequence[object] | None = None,
    doors: Sequence[Door | None] | None = None,
) -> dict[str, str]:
    """Map each record to its cluster's smallest record id; strongest links are taken first.

    Two clusters join on a link only when at least `min_link_share` of the pairs between them are links
    too: A-B and B-C without A-C is how a chain of look-alikes swallows different businesses. With
    `one_per_provider`, a cluster also never holds two records of one provider. With `keys` (each
    record's website domain, None without one), two clusters holding different keys and none in common
    join only where a record with one key is linked to a record with another. With `doors` (door_of each
    record), two clusters that are two branches do not join (_branches_apart): a source lists them at two
    doors and another source confirms each door; a chain's shared name, phone and website do not make its
    branches one business."""
    ids = list(record_ids)
    # Records as integer positions (distinct ids, first seen first): union-find on ints, not on text.
    codes, names = pd.factorize(_objects(ids))
    left: list[int] = []
    right: list[int] = []
    isolated: tuple[np.ndarray, np.ndarray] | None = None
    if len(pairs):
        ordered = pairs.sort_values(
            ["match_probability", "record_id_l", "record_id_r"], ascending=[False, True, True], kind="stable"
        )
        index = pd.Index(names)
        lefts = index.get_indexer(ordered["record_id_l"].to_numpy(dtype=object))
        rights = index.get_indexer(ordered["record_id_r"].to_numpy(dtype=object))
        known = (lefts >= 0) & (rights >= 0)
        lefts, rights = lefts[known], rights[known]
        if not one_per_provider:
            # A link whose two records have no other link joins two singletons whatever its rank: most
            # duplicates are such pairs, joined at once; the greedy walk takes the rest.
            degree = np.bincount(np.concatenate([lefts, rights]), minlength=len(names))
            alone = (degree[lefts] == 1) & (degree[rights] == 1)
            a, b = lefts[alone], rights[alone]
            first = names[a] < names[b]
            isolated = (np.where(first, b, a), np.where(first, a, b))  # (dropped, kept)
            lefts, rights = lefts[~alone], rights[~alone]
        left, right = lefts.tolist(), rights.tolist()
    parent = list(range(len(names)))  # a list: every record its own root until a link joins it
    if isolated is not None:
        for drop, keep in zip(isolated[0].tolist(), isolated[1].tolist(), strict=True):
            parent[drop] = keep
    members: dict[int, list[int]] = {}  # a root's records, once it has more than itself
    sources: dict[int, set[str]] = {}
    if one_per_provider:
        linked = set(left) | set(right)
        for position, provider in zip(codes.tolist(), providers, strict=True):
            if position in linked:
                sources[position] = {provider}  # a repeated id: its last provider, as a dict would keep
    owned: dict[int, frozenset[object]] = {}  # a root's keys, once it has any
    keyed: set[int] = set()  # the records that have a key
    if keys is not None:
        for position, key in zip(codes.tolist(), keys, strict=True):
            if key is not None and key == key:
                owned[position] = frozenset([key])
                keyed.add(position)
    at: dict[int, list[Door]] = {}  # a root's doors, once it has any
    if doors is not None:
        at = {
            position: [door] for position, door in zip(codes.tolist(), doors, strict=True) if door is not None
        }
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in zip(left, right, strict=True):
        neighbours[a].add(b)
        neighbours[b].add(a)
    for left_i, right_i in zip(left, right, strict=True):
        a, b = _root(parent, left_i), _root(parent, right_i)
        if a == b or (one_per_provider and sources[a] & sources[b]):
            continue
        if at and a in at and b in at and _branches_apart(at[a], at[b]):
            continue
        group_a, group_b = members.get(a) or [a], members.get(b) or [b]
        if owned.get(a) and owned.get(b) and not (owned[a] & owned[b]):
            # Two keys (websites) meet only where two records with them were linked to each other, not
            # through records without one: a chain of look-alikes joins two businesses there.
            others = {i for i in group_b if i in keyed}
            if not any(j in others for i in group_a if i in keyed for j in neighbours[i]):
                continue
        small, large = (a, b) if len(group_a) <= len(group_b) else (b, a)
        if min_link_share > 0 and len(group_a) * len(group_b) > 1:
            smaller = group_a if small == a else group_b
            links = sum(1 for i in smaller for other in neighbours[i] if _root(parent, other) == large)
            if links < min_link_share * len(group_a) * len(group_b):
                continue
        keep, drop = (a, b) if names[a] < names[b] else (b, a)
        parent[drop] = keep
        members.setdefault(keep, [keep]).extend(members.pop(drop, [drop]))  # no copy of the larger side
        if keys is not None and (owned.get(keep) or owned.get(drop)):
            owned[keep] = owned.get(keep, frozenset()) | owned.pop(drop, frozenset())
        if one_per_provider:
            sources[keep] |= sources.pop(drop)
        if drop in at:
            at[keep] = at.get(keep, []) + at.pop(drop)
    # Every record's root by pointer jumping (a handful of vectorised rounds, not a walk per record).
    root = np.asarray(parent, dtype=np.int64)
    while True:
        jumped = root[root]
        if np.array_equal(jumped, root):
            break
        root = jumped
    return dict(zip(ids, names[root[codes]].tolist(), strict=True))


def links_from_roots(roots: Mapping[str, str]) -> pd.DataFrame:
    """The links frame (LINK_COLUMNS): lead id from the cluster's smallest record id, which is its root."""
    if not roots:
        return pd.DataFrame(columns=LINK_COLUMNS)
    frame = pd.DataFrame({"record_id": list(roots), "root": list(roots.values())}, dtype=object)
    codes, distinct = pd.factorize(frame["root"])
    lead_ids = np.array([_uuid5(root) for root in distinct], dtype=object)  # one uuid5 per cluster
    frame["lead_id"] = lead_ids[codes]
    frame["cluster_size"] = np.bincount(codes)[codes].astype("int64")
    if not frame["record_id"].is_monotonic_increasing:
        frame = frame.sort_values("record_id", kind="stable").reset_index(drop=True)
    return frame[LINK_COLUMNS]
