"""resolve(): prepare, link (deterministic, then Splink), veto far pairs, cluster with an evidence check."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadlake.stages.silver.resolve.cluster import (
    SAME_BUILDING_KM,
    Door,
    best_pairs,
    cluster,
    door_key,
    door_of,
    links_from_roots,
)
from leadlake.stages.silver.resolve.link import (
    capped_blocks,
    deterministic_pairs,
    identical_heads,
    identical_pairs,
    name_similarity,
    pair_km,
    placeless,
    same_address_codes,
    same_name_pairs,
    share_address,
    splink_pairs,
    town_only,
    unpairable,
    veto_far_pairs,
)
from leadlake.stages.silver.resolve.prepare import identifies, prepare, shared_value_pairs
from leadlake.stages.silver.resolve.settings import (
    KNOWN_COLUMNS,
    MODEL_COLUMNS,
    PAIR_COLUMNS,
    ResolveSettings,
)

logger = logging.getLogger(__name__)

# Columns the golden record reads (build_leads) but resolve() does not: not "unknown".
_PASS_THROUGH = frozenset(
    {
        "provider_key", "region", "country", "rating", "review_count", "categories", "address_line2",
        "source", "fetched_at", "raw", "email", "hours", "price_level", "url", "status", "business_status",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Resolution:
    """What resolve() found: a lead per record, the linking pairs, and how long it took on which backend."""

    links: pd.DataFrame
    pairs: pd.DataFrame
    duplicates_merged: int
    seconds: float
    backend: str
    training: str = "none"  # "em", "priors", "model" (given one) or "none"
    model: dict[str, Any] | None = None  # JSON-ready; pass back as resolve(..., model=) to score alike
    # Extra columns left out because sure duplicates seldom agree on them: column -> their agreement share
    unconfirmed_extras: dict[str, float] = dataclasses.field(default_factory=dict)


def identifying_extras(prep: pd.DataFrame, cfg: ResolveSettings) -> ResolveSettings:
    """cfg without the extra columns that do not tell these records apart (ResolveSettings.
    max_extra_pairs_per_record), each named in a warning."""
    limit = cfg.max_extra_pairs_per_record
    left_out = [c for c in cfg.extra_columns if c in prep and not identifies(prep[c], limit)]
    for column in left_out:
        logger.warning(
            "extra column %s left out: %s pairs of records share a value (more than %s per record), so it "
            "does not tell records apart; raise max_extra_pairs_per_record to keep it",
            column,
            f"{shared_value_pairs(prep[column]):,}",
            f"{limit:g}",
        )
    if not left_out:
        return cfg
    return dataclasses.replace(cfg, extra_columns=tuple(c for c in cfg.extra_columns if c not in left_out))


def extra_agreement(prep: pd.DataFrame, pairs: pd.DataFrame, column: str) -> tuple[int, float]:
    """How many of `pairs` have a value of `column` on both records, and the share of those that agree."""
    if not len(pairs) or column not in prep:
        return 0, float("nan")
    values = pd.Series(prep[column].to_numpy(dtype=object), index=prep["record_id"].astype(str).to_numpy())
    left = values.reindex(pairs["record_id_l"].astype(str).to_numpy()).to_numpy(dtype=object)
    right = values.reindex(pairs["record_id_r"].astype(str).to_numpy()).to_numpy(dtype=object)
    both = pd.notna(left) & pd.notna(right)
    n = int(both.sum())
    return n, (float((left[both] == right[both]).mean()) if n else float("nan"))


def confirmed_extras(
    prep: pd.DataFrame, sure: pd.DataFrame, cfg: ResolveSettings
) -> tuple[ResolveSettings, dict[str, float]]:
    """cfg without the extra columns that the sure duplicates (one website, domain or phone and a like
    name: deterministic_pairs) seldom agree on: a record's own timestamp or owner, not the entity's id.
    Judged only on ResolveSettings.min_sure_pairs or more pairs with the column on both records."""
    dropped: dict[str, float] = {}
    said: dict[tuple[str, str], list[str]] = {}  # one warning per share and pair count: an export's 20
    for column in cfg.extra_columns:  # timestamps are one line, not 20
        n, share = extra_agreement(prep, sure, column)
        if n >= cfg.min_sure_pairs and share < cfg.min_extra_agreement:
            dropped[column] = share
            said.setdefault((f"{share:.0%}", f"{n:,}"), []).append(column)
    for (share_text, n_text), columns in said.items():
        one = len(columns) == 1
        logger.warning(
            "extra column%s %s left out: %s of %s sure duplicate pairs agree on %s (fewer than %s), so %s "
            "not an identifier of the entity; lower min_extra_agreement to keep %s",
            "" if one else "s",
            ", ".join(columns),
            share_text,
            n_text,
            "it" if one else "each",
            f"{cfg.min_extra_agreement:.0%}",
            "it is" if one else "none is",
            "it" if one else "them",
        )
    if not dropped:
        return cfg, {}
    kept = tuple(c for c in cfg.extra_columns if c not in dropped)
    return dataclasses.replace(cfg, extra_columns=kept), dropped


def sharing_pairs(values: pd.Series, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Up to `size` pairs of positions of records that share a value (None: no value), drawn at random
    (a fixed seed: the same pairs every run): each from a record of a shared value and another record of
    that value."""
    none = np.zeros(0, dtype=np.int64)
    codes, _ = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    if not (codes >= 0).any():
        return none, none
    counts = np.bincount(codes[codes >= 0])
    shared = np.flatnonzero((codes >= 0) & (counts[np.maximum(codes, 0)] > 1))
    if not len(shared):
        return none, none
    order = shared[np.argsort(codes[shared], kind="stable")]  # each value's records together
    group = codes[order]
    starts = np.searchsorted(group, group)  # where each record's value begins in `order`
    sizes = counts[group]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(order), size=min(size, len(order) * 4))
    step = rng.integers(1, sizes[pick])  # another record of the same value: never the record itself
    other = starts[pick] + (pick - starts[pick] + step) % sizes[pick]
    return order[pick], order[other]


def pair_name_similarity(
    prep: pd.DataFrame, left: np.ndarray, right: np.ndarray, cfg: ResolveSettings
) -> np.ndarray:
    """name_similarity of the records at positions left[k] and right[k] of prep; NaN without a name."""
    names = prep["name_norm"].to_numpy(dtype=object)
    ordered = prep["name_sorted"].to_numpy(dtype=object) if "name_sorted" in prep else None
    return name_similarity(
        names[left], names[right],
        ordered[left] if ordered is not None else None,
        ordered[right] if ordered is not None else None,
        cfg,
    )  # fmt: skip


Pairs = tuple[np.ndarray, np.ndarray]


def like_name_share(
    prep: pd.DataFrame, column: str, cfg: ResolveSettings, pairs: Pairs | None = None
) -> tuple[int, float]:
    """Of sampled pairs of records sharing a value of `column` (sharing_pairs, or `pairs` when already
    drawn) with both names, how many, and the share whose names are alike (cfg.min_name_similarity,
    either word order)."""
    if column not in prep or "name_norm" not in prep:
        return 0, float("nan")
    left, right = pairs if pairs is not None else sharing_pairs(prep[column], cfg.extra_name_sample)
    if not len(left):
        return 0, float("nan")
    similar = pair_name_similarity(prep, left, right, cfg)
    named = ~np.isnan(similar)
    n = int(named.sum())
    return n, (float((similar[named] >= cfg.min_name_similarity).mean()) if n else float("nan"))


def same_door_share(
    prep: pd.DataFrame, column: str, cfg: ResolveSettings, pairs: Pairs | None = None
) -> tuple[int, float]:
    """Of sampled pairs of records sharing a value of `column` (sharing_pairs, or `pairs` when already
    drawn) with both a door (door_keys), how many, and the share at the same door."""
    if column not in prep or "street_key" not in prep:
        return 0, float("nan")
    left, right = pairs if pairs is not None else sharing_pairs(prep[column], cfg.extra_name_sample)
    keys = prep["street_key"].to_numpy(dtype=object)  # only the sampled rows' doors, not every record's
    a, b = door_keys(pd.Series(keys[left])), door_keys(pd.Series(keys[right]))
    placed = pd.notna(a) & pd.notna(b)
    n = int(placed.sum())
    if not n:
        return 0, float("nan")
    same = a[placed] == b[placed]
    return n, float(np.mean(same))


def naming_extras(prep: pd.DataFrame, cfg: ResolveSettings) -> tuple[ResolveSettings, dict[str, float]]:
    """cfg without the extra columns that name a place or a group rather than one entity: their shared
    values mostly join unlike names (like_name_share below cfg.min_extra_like_names: a neighbourhood, an
    organisation's email) or records at different doors (same_door_share below cfg.min_extra_same_door:
    an agency's director, a chain's head office)."""
    checks = (
        (like_name_share, cfg.min_extra_like_names, "min_extra_like_names", "have like names",
         "names a place or a group, not one entity"),
        (same_door_share, cfg.min_extra_same_door, "min_extra_same_door", "are at the same street address",
         "names a group of places (a chain's, an agency's), not one"),
    )  # fmt: skip
    dropped: dict[str, float] = {}
    for column in (c for c in cfg.extra_columns if c in prep):
        pairs = sharing_pairs(prep[column], cfg.extra_name_sample)  # one sample for both checks
        for share_of, floor, setting, what, meaning in checks:
            n, share = share_of(prep, column, cfg, pairs)
            if n >= cfg.min_sure_pairs and share < floor:
                dropped[column] = share
                logger.warning(
                    "extra column %s left out: of %s sampled pairs of records sharing a value, %s %s (fewer "
                    "than %s), so it %s; lower %s to keep it",
                    column, f"{n:,}", f"{share:.0%}", what, f"{floor:.0%}", meaning, setting,
                )  # fmt: skip
                break
    if not dropped:
        return cfg, {}
    kept = tuple(c for c in cfg.extra_columns if c not in dropped)
    return dataclasses.replace(cfg, extra_columns=kept), dropped


def _doors(rows: pd.DataFrame) -> list[Door | None]:
    """cluster.door_of each of prep's `rows` (their provider, street_key and coordinates)."""
    nothing = pd.Series(None, index=rows.index, dtype=object)
    return [
        door_of(p, k, la, lo)
        for p, k, la, lo in zip(
            rows["provider"].tolist(),
            rows.get("street_key", nothing).tolist(),
            rows.get("lat", nothing).tolist(),
            rows.get("lon", nothing).tolist(),
            strict=True,
        )
    ]


def _cluster_with_identical(
    prep: pd.DataFrame, pairs: pd.DataFrame, heads: dict[str, str], cfg: ResolveSettings
) -> dict[str, str]:
    """cluster() with identical records (identical_heads) as one: their links count as their head's, and
    they join its cluster (a star of links would fail the link-share test)."""
    ids, providers = list(prep["record_id"]), list(prep["provider"])
    if heads:
        kept = [i for i, r in enumerate(ids) if str(r) not in heads]
        ids, providers = [ids[i] for i in kept], [providers[i] for i in kept]
        left = pairs["record_id_l"].astype(str).map(lambda r: heads.get(r, r))
        right = pairs["record_id_r"].astype(str).map(lambda r: heads.get(r, r))
        pairs = pairs.assign(
            record_id_l=left.where(left < right, right), record_id_r=right.where(left < right, left)
        )
        pairs = best_pairs(pairs[pairs["record_id_l"] != pairs["record_id_r"]])
    # The columns clustering reads, in the order of ids: one lookup for the keys and the doors.
    read = [c for c in ("provider", "domain_key", "street_key", "lat", "lon") if c in prep]
    rows = prep[["record_id", *read]].set_index("record_id").loc[ids]
    roots = cluster(
        ids,
        providers,
        pairs,
        one_per_provider=cfg.one_record_per_provider,
        min_link_share=cfg.cluster_min_link_share,
        keys=list(rows["domain_key"]) if "domain_key" in rows else None,
        doors=_doors(rows) if cfg.branches_by_door else None,
    )
    for record, head in heads.items():
        roots[record] = roots[head]
    return roots


def check_columns(records: pd.DataFrame, cfg: ResolveSettings) -> None:
    """Refuse records without record_id/provider or without an extra column asked for; warn, naming them,
    about known columns that are absent (treated as empty) and columns resolve() does not know."""
    missing = [c for c in ("record_id", "provider", *cfg.extra_columns) if c not in records.columns]
    if missing:
        raise ValueError(f"resolve() needs columns {missing}; the records have {list(records.columns)}")
    absent = [c for c in KNOWN_COLUMNS if c not in records.columns and c not in ("name", "name_norm")]
    if "name" not in records.columns and "name_norm" not in records.columns:
        absent.insert(0, "name")
    if absent:
        logger.warning("resolve(): known columns absent, treated as empty: %s", ", ".join(absent))
    unknown = [
        c
        for c in records.columns
        if c not in KNOWN_COLUMNS and c not in cfg.extra_columns and c not in _PASS_THROUGH
    ]
    if unknown:
        logger.warning(
            "resolve(): columns not used for matching: %s (name them in ResolveSettings.extra_columns to "
            "compare them)",
            ", ".join(map(str, unknown)),
        )


def _tokens(name: object) -> set[str]:
    return set(name.split()) if isinstance(name, str) and name else set()


def veto_unlike_names(pairs: pd.DataFrame, prep: pd.DataFrame, cfg: ResolveSettings) -> pd.DataFrame:
    """Drop scored pairs whose names are unlike (Jaro-Winkler below cfg.min_name_similarity in either word
    order, neither name's words inside the other's) unless an identifier agrees: the website, the domain or
    an extra id column. Two businesses in one building share a place, a ZIP and often a phone; only an
    identifier can say a renamed or DBA listing is the same business. One exception: a name that is only
    an owner's registered name ("Green Group LLC") says nothing against a trade name at the same phone and
    street address (_owner_listing).

    The similarity is DuckDB's jaro_winkler_similarity (the one the model scored with), over all pairs in
    one query; only the pairs it finds unlike are checked word by word and identifier by identifier."""
    if pairs.empty or cfg.min_name_similarity <= 0 or "name_norm" not in prep:
        return pairs
    index = pd.Index(prep["record_id"])
    left, right = index.get_indexer(pairs["record_id_l"]), index.get_indexer(pairs["record_id_r"])
    # Words compared without "the", "and", "of" (name_sorted drops them): "The Edinburgh Larder" is inside
    # "Edinburgh Larder Cafe".
    names = prep["name_sorted" if "name_sorted" in prep else "name_norm"].to_numpy(dtype=object)
    similar = pair_name_similarity(prep, left, right, cfg)
    # A missing name says nothing against a pair (NULL similarity: kept).
    keep = np.isnan(similar) | (similar >= cfg.min_name_similarity)
    identifiers = ("website_key", "domain_key", *cfg.extra_columns)
    ids = [prep[c].to_numpy(dtype=object) for c in identifiers if c in prep]
    unlike = np.flatnonzero(~keep)
    owner = _owner_listing(prep, left[unlike], right[unlike])
    for k, by_owner in zip(unlike.tolist(), owner.tolist(), strict=True):
        i, j = left[k], right[k]
        ta, tb = _tokens(names[i]), _tokens(names[j])
        keep[k] = (
            by_owner
            or bool(ta and tb and (ta <= tb or tb <= ta))
            or any(col[i] is not None and col[i] == col[j] for col in ids)
        )
    return pairs[keep].reset_index(drop=True)


def veto_two_doors(pairs: pd.DataFrame, prep: pd.DataFrame, cfg: ResolveSettings) -> pd.DataFrame:
    """Drop scored pairs at two doors (two_doors), or at two postcodes without a door on both, unless the
    map puts them within SAME_BUILDING_KM, they share a phone no third door gives (a corner building's two
    fronts, a move), or an extra identifier agrees (a person who moved). A chain's branches share a name, a
    website and often a phone: without coordinates their places are what tells them apart."""
    if pairs.empty or not cfg.veto_two_doors or "street_key" not in prep:
        return pairs
    index = pd.Index(prep["record_id"])
    left, right = index.get_indexer(pairs["record_id_l"]), index.get_indexer(pairs["record_id_r"])
    doors = door_keys(prep["street_key"])
    apart = two_doors(doors, left, right)
    if "postal" in prep:  # without a door on both, two postcodes are two places
        postal = prep["postal"].to_numpy(dtype=object)
        doorless = pd.isna(doors[left]) | pd.isna(doors[right])
        apart |= doorless & pd.notna(postal[left]) & pd.notna(postal[right]) & (postal[left] != postal[right])
    if not apart.any():
        return pairs
    km = pair_km(prep, left, right)
    apart &= np.isnan(km) | (km >= SAME_BUILDING_KM)
    if "phone_key" in prep:
        phone = prep["phone_key"].to_numpy(dtype=object)
        own = pd.Series(phone).map(pd.Series(doors).groupby(pd.Series(phone)).nunique()).fillna(0) <= 2
        apart &= ~(pd.notna(phone[left]) & (phone[left] == phone[right]) & own.to_numpy(dtype=bool)[left])
    for column in cfg.extra_columns:
        if column in prep:
            values = prep[column].to_numpy(dtype=object)
            apart &= ~(pd.notna(values[left]) & (values[left] == values[right]))
    return pairs[~apart].reset_index(drop=True)


def door_keys(street_keys: pd.Series) -> np.ndarray:
    """cluster.door_key of each record's street_key."""
    out = np.empty(len(street_keys), dtype=object)
    out[:] = [door_key(k) for k in street_keys.tolist()]
    return out


def two_doors(doors: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For pairs of positions: both records give a door, with other house numbers, and either other streets
    or numbers too unlike for one mistyped (typo_of): "12 elm" and "48 oak", "9791 ced" and "9624 ced"; not
    "1906 bro" and "1960 bro"."""
    parts = [d.split(" ", 1) if d is not None else (None, None) for d in doors.tolist()]
    number = np.array([p[0] for p in parts], dtype=object)
    street = np.array([p[1] for p in parts], dtype=object)
    out = pd.notna(doors[left]) & pd.notna(doors[right]) & (number[left] != number[right])
    same_street = np.flatnonzero(out & (street[left] == street[right]))
    pairs = zip(number[left[same_street]], number[right[same_street]], strict=True)
    out[same_street] = [not typo_of(a, b) for a, b in pairs]
    return out


def typo_of(a: str, b: str) -> bool:
    """Whether two house numbers may be one mistyped: one digit changed, added or dropped, or two swapped."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) <= 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]])
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _owner_listing(prep: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For pairs of positions: one name is an owner's registered name ("Green Group LLC", is_entity_name)
    and the two records share a phone and a street address: one business listed under its owner's name,
    which says nothing against the trade name."""
    if "name_entity" not in prep or "phone_key" not in prep or not len(left):
        return np.zeros(len(left), dtype=bool)
    entity = prep["name_entity"].to_numpy(dtype=bool)
    phone = prep["phone_key"].to_numpy(dtype=object)
    same_phone = np.array([a is not None and a == b for a, b in zip(phone[left], phone[right], strict=True)])
    owner = (entity[left] | entity[right]) & same_phone
    if owner.any():
        owner &= share_address(same_address_codes(prep), left, right)
    return owner


def resolve(
    records: pd.DataFrame,
    cfg: ResolveSettings = ResolveSettings(),
    spark: Any = None,
    *,
    model: dict[str, Any] | None = None,
    new_record_ids: Collection[str] | None = None,
    known_pairs: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> Resolution:
    """Resolve source records into leads: deterministic keys, then Splink, then clusters.

    model: a model from an earlier Resolution.model: score with it, do not train.
    new_record_ids: resolve incrementally: only pairs with at least one of these records are generated;
    known_pairs (PAIR_COLUMNS, pairs among the other records from an earlier run) join them before
    clustering. With the same model, the clusters equal a full resolve() of all the records."""
    started = time.perf_counter()

    def step(message: str) -> None:
        if progress is not None:
            progress(message)

    check_columns(records, cfg)
    if len(records) and records["record_id"].duplicated().any():
        raise ValueError("record_id must be unique")
    step(f"preparing {len(records)} records")
    prep = prepare(records, cfg) if len(records) else pd.DataFrame(columns=MODEL_COLUMNS)
    # prep is all that is read from here on: a caller that kept no reference (the CLI) frees the records
    # before Splink runs, the largest frame of the run.
    del records
    kept = identifying_extras(prep, cfg)
    if model is not None and kept.extra_columns != cfg.extra_columns:
        # A model made where such a column still told records apart stops comparing it here.
        gone = set(cfg.extra_columns) - set(kept.extra_columns)
        compared = [c for c in model.get("comparisons", []) if c.get("output_column_name") not in gone]
        model = {**model, "comparisons": compared}
    cfg = kept
    new = {str(r) for r in new_record_ids} if new_record_ids is not None else None
    codes: dict[str, Any] = {}  # each column's integer codes, made once for every pass that joins on it
    step("deterministic pairs")
    determined = (
        deterministic_pairs(prep, cfg, new, codes=codes)
        if len(prep) > 1
        else pd.DataFrame(columns=PAIR_COLUMNS)
    )
    unconfirmed: dict[str, float] = {}
    if model is None:
        cfg, unconfirmed = confirmed_extras(prep, determined, cfg)
        cfg, unnaming = naming_extras(prep, cfg)
        unconfirmed = {**unconfirmed, **unnaming}
    else:  # judged when the model was trained: the columns it compares
        compared = {c.get("output_column_name") for c in model.get("comparisons", [])}
        cfg = dataclasses.replace(cfg, extra_columns=tuple(c for c in cfg.extra_columns if c in compared))
    alone = int(unpairable(prep, cfg).sum()) if len(prep) > 1 else 0
    if alone:
        logger.warning(
            "%s of %s records have nothing a candidate rule compares (a phone, website, street, town, "
            "postcode, coordinates or an extra identifier): each stays a lead of its own; give them one "
            "of those columns to match them",
            f"{alone:,}",
            f"{len(prep):,}",
        )
    over_cap = capped_blocks(prep, cfg, codes)
    heads = identical_heads(prep, cfg, codes) if over_cap else {}  # only blocks over the cap hold them
    whole = prep
    if heads:
        # Each copy is its head from here on: the copies no longer fill their blocks past the cap, so the
        # record's twin from another source still meets it. They join the head's lead when clustered.
        prep = prep[~prep["record_id"].astype(str).isin(heads)].reset_index(drop=True)
        codes = {}
        # Found again without the copies: the pairs found with them chose the extra columns above.
        determined = deterministic_pairs(prep, cfg, new, codes=codes)
        over_cap = capped_blocks(prep, cfg, codes)
    for cols, keys, largest in over_cap:
        logger.warning(
            "blocking on %s: %s key(s) shared by more than %s records (the largest by %s) find no pairs; "
            "those records meet by their other fields (max_block_size)",
            "+".join(cols),
            f"{keys:,}",
            f"{cfg.max_block_size:,}",
            f"{largest:,}",
        )
    exact = best_pairs(determined, identical_pairs(heads, new)) if len(whole) > 1 else determined
    if len(prep) > 1 and placeless(prep):
        if "name_norm" in prep and prep["name_norm"].notna().any():  # with no names, nothing is taken as one
            logger.warning(
                "no record has a street, town, postcode or coordinates: records with the same name and no "
                "phone, website or other identifier telling them apart are taken as one"
            )
        exact = best_pairs(exact, same_name_pairs(prep, cfg, new))
    elif len(prep) > 1 and town_only(prep):
        logger.warning(
            "no record has a street, postcode or coordinates: records with the same name in one town are "
            "taken as one when no source lists that name twice there and no phone, website or other "
            "identifier tells them apart"
        )
        exact = best_pairs(exact, same_name_pairs(prep, cfg, new))
    step("scoring with Splink" if model is not None else "training and scoring with Splink")
    scored, training, used_model = splink_pairs(
        prep, cfg, spark, model=model, new_record_ids=new, codes=codes
    )
    known = known_pairs if known_pairs is not None else pd.DataFrame(columns=PAIR_COLUMNS)
    if len(known):
        known = known.reindex(columns=PAIR_COLUMNS)
        ids = set(whole["record_id"])
        known = known[known["record_id_l"].isin(ids) & known["record_id_r"].isin(ids)]
    scored = veto_two_doors(veto_unlike_names(scored, prep, cfg), prep, cfg)
    pairs = veto_far_pairs(best_pairs(known, exact, scored), whole, cfg.max_match_km)
    step(f"clustering {len(pairs)} pairs")
    roots = _cluster_with_identical(whole, pairs, heads, cfg)
    links = links_from_roots(roots)
    leads = links["lead_id"].nunique() if len(links) else 0
    return Resolution(
        links=links,
        pairs=pairs,
        duplicates_merged=len(links) - leads,
        seconds=time.perf_counter() - started,
        backend=cfg.backend,
        training=training,
        model=used_model,
        unconfirmed_extras=unconfirmed,
    )
