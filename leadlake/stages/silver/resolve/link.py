"""Linking: deterministic pairs, the geographic veto, and Splink 5 scoring on DuckDB or Spark.

The Splink settings are built from ResolveSettings (data), the same for every backend. A record's keys
never depend on the other records of its batch, so a model plus the same records always scores the
same pairs, whether they come in one run or in increments.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator
from splink.internals.exceptions import EMTrainingException, SplinkException

from leadlake.core.geo import haversine_km_np
from leadlake.stages.silver.resolve.prepare import text_order
from leadlake.stages.silver.resolve.settings import (
    FLOAT_COLUMNS,
    MODEL_COLUMNS,
    PAIR_COLUMNS,
    ComparisonSpec,
    ResolveSettings,
    extra_comparison,
)

if TYPE_CHECKING:
    from splink.internals.comparison_creator import ComparisonCreator

logger = logging.getLogger(__name__)

MODEL_KEY = "leadlake"  # our part of a saved model: term frequencies, format version
BATCH_COLUMN = "batch_new"

# ---------------------------------------------------------------------------------------------------
# String similarity in Python (the deterministic pass), the same Jaro-Winkler the backends compute.


def jaro_winkler(a: str | None, b: str | None, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity in [0, 1]; 0 when either side is missing."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    used = [False] * len(b)
    matches_a: list[str] = []
    for i, char in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not used[j] and b[j] == char:
                used[j] = True
                matches_a.append(char)
                break
    if not matches_a:
        return 0.0
    matches_b = [b[j] for j in range(len(b)) if used[j]]
    transpositions = sum(x != y for x, y in zip(matches_a, matches_b, strict=True)) / 2
    m = len(matches_a)
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def name_similarity_sql(a: str, b: str, sorted_a: str, sorted_b: str) -> str:
    """DuckDB SQL: how alike two names are. The greater of their Jaro-Winkler similarity and that of the
    words each has that the other lacks (from the sorted names): the same words in any order are 1.0, and
    a word both share says nothing ("Palace Court" and "Empress Court": 0.68, where the sorted names'
    "court empress" and "court palace" score 0.83 on their common start)."""
    words_a, words_b = f"string_split({sorted_a}, ' ')", f"string_split({sorted_b}, ' ')"
    only_a = f"list_filter({words_a}, lambda w: not list_contains({words_b}, w))"
    only_b = f"list_filter({words_b}, lambda w: not list_contains({words_a}, w))"
    rest = (
        f"case when {sorted_a} is null or {sorted_b} is null then null "
        f"when len({only_a}) = 0 and len({only_b}) = 0 then 1.0 "
        f"when len({only_a}) = 0 or len({only_b}) = 0 then null "
        f"else jaro_winkler_similarity(array_to_string({only_a}, ' '), array_to_string({only_b}, ' ')) end"
    )
    return f"greatest(jaro_winkler_similarity({a}, {b}), coalesce({rest}, 0.0))"


def name_similarity(
    a: np.ndarray,
    b: np.ndarray,
    a_sorted: np.ndarray | None,
    b_sorted: np.ndarray | None,
    cfg: ResolveSettings,
) -> np.ndarray:
    """name_similarity_sql of each pair of names (DuckDB's jaro_winkler_similarity, the one the backends
    score with); NaN where either name is missing."""
    missing = pd.isna(a) | pd.isna(b) | (a == "") | (b == "")
    frame = pd.DataFrame({"a": a, "b": b})
    frame["sa"] = a_sorted if a_sorted is not None else None
    frame["sb"] = b_sorted if b_sorted is not None else None
    frame = frame.astype("string")
    con = _duckdb(cfg)
    try:
        con.register("names", frame)
        out = con.execute(
            f"select {name_similarity_sql('a', 'b', 'sa', 'sb')} as jw from names"
        ).fetchnumpy()["jw"]
    finally:
        con.close()
    values = np.ma.filled(np.ma.asarray(out).astype(float), np.nan)
    return np.where(missing, np.nan, values)


# ---------------------------------------------------------------------------------------------------
# Splink settings: pure, from our data.

_LEVEL_LABELS = {"exact": "exact", "same_words": "same words"}


def level_labels(spec: ComparisonSpec) -> list[str]:
    """Reviewer-facing labels of a comparison's non-null levels, most similar first, ELSE ("") last; a
    level that speaks against a match ("" too) is no reason two records matched."""
    if spec.kind == "exact":
        return ["exact", ""]
    if spec.kind == "exact_cascade":
        return [f"exact {c.removesuffix('_key')}" for c in spec.columns] + [""]
    if spec.kind == "jaro_winkler":
        return ["exact", *(f"jw>={t:g}" for t in spec.thresholds), ""]
    if spec.kind == "name":
        return ["exact", "same words", *(f"jw>={t:g}" for t in spec.thresholds), ""]
    if spec.kind == "distance_km":
        return [f"<={t:g}km" for t in spec.thresholds] + [""]
    if spec.kind == "street":
        return ["exact", *(f"jw>={t:g} same number" for t in spec.thresholds), "", ""]  # two doors: unlike
    raise ValueError(f"unknown comparison kind {spec.kind!r} for {spec.name!r}")


def agree_or_missing_sql(left: str, right: str) -> str:
    """SQL every backend reads: the two values are equal, or either is missing (house numbers: the
    deterministic rules and the street comparison hold them to the same test)."""
    return f"({left} is null or {right} is null or {left} = {right})"


def compared_columns(spec: ComparisonSpec) -> tuple[str, ...]:
    """The columns a comparison needs values in to tell records apart: a street's house number only
    sharpens it ("Hauptstraße 5" has none in front), so a street is compared without any."""
    return spec.columns[:1] if spec.kind == "street" else spec.columns


def _comparison(spec: ComparisonSpec, term_frequency: bool) -> ComparisonCreator:
    """One comparison from its spec, its levels starting at the spec's m/u priors."""
    tf = spec.term_frequency and term_frequency
    if spec.kind == "exact":
        comparison: ComparisonCreator = cl.CustomComparison(
            [
                cll.NullLevel(spec.columns[0]),
                cll.ExactMatchLevel(spec.columns[0], term_frequency_adjustments=tf),
                cll.ElseLevel(),
            ],
            output_column_name=spec.name,
        )
    elif spec.kind == "exact_cascade":
        levels = [
            cll.NullLevel(spec.columns[-1]),
            *(cll.ExactMatchLevel(c) for c in spec.columns),
            cll.ElseLevel(),
        ]
        comparison = cl.CustomComparison(levels, output_column_name=spec.name)
    elif spec.kind == "jaro_winkler":
        comparison = cl.CustomComparison(
            [
                cll.NullLevel(spec.columns[0]),
                cll.ExactMatchLevel(spec.columns[0], term_frequency_adjustments=tf),
                *(cll.JaroWinklerLevel(spec.columns[0], t) for t in spec.thresholds),
                cll.ElseLevel(),
            ],
            output_column_name=spec.name,
        )
    elif spec.kind == "street":
        street, number = spec.columns
        # "102 Oak Ave" and "142 Oak Ave" are two doors (Jaro-Winkler 0.95): a near street counts only when
        # the house numbers agree or one is missing.
        same_number = cll.CustomLevel(
            agree_or_missing_sql(f"{number}_l", f"{number}_r"),
            label_for_charts="house numbers agree or one is missing",
            base_dialect_str="duckdb",
        )
        # Two house numbers, unlike: two doors, whatever the street says. Without coordinates this is what
        # tells a chain's branches (one name, phone and website in one town) apart.
        two_doors = cll.CustomLevel(
            f"{number}_l is not null and {number}_r is not null and {number}_l <> {number}_r",
            label_for_charts="two house numbers, unlike",
            base_dialect_str="duckdb",
        )
        comparison = cl.CustomComparison(
            [
                cll.NullLevel(street),
                cll.ExactMatchLevel(street, term_frequency_adjustments=tf),
                *(cll.And(cll.JaroWinklerLevel(street, t), same_number) for t in spec.thresholds),
                two_doors,
                cll.ElseLevel(),
            ],
            output_column_name=spec.name,
        )
    elif spec.kind == "name":
        first, words = spec.columns
        comparison = cl.CustomComparison(
            [
                cll.NullLevel(first),
                cll.ExactMatchLevel(first, term_frequency_adjustments=tf),
                cll.ExactMatchLevel(words),
                *(
                    cll.Or(cll.JaroWinklerLevel(first, t), cll.JaroWinklerLevel(words, t))
                    for t in spec.thresholds
                ),
                cll.ElseLevel(),
            ],
            output_column_name=spec.name,
        )
    elif spec.kind == "distance_km":
        levels = cl.DistanceInKMAtThresholds(
            spec.columns[0], spec.columns[1], list(spec.thresholds)
        ).create_comparison_levels()
        comparison = cl.CustomComparison(levels, output_column_name=spec.name)
    else:
        raise ValueError(f"unknown comparison kind {spec.kind!r} for {spec.name!r}")
    if spec.m_priors:
        comparison = comparison.configure(
            m_probabilities=list(spec.m_priors), u_probabilities=list(spec.u_priors)
        )
    return comparison


def all_comparisons(cfg: ResolveSettings) -> tuple[ComparisonSpec, ...]:
    """The configured comparisons plus one per extra identifier column."""
    return (*cfg.comparisons, *(extra_comparison(c) for c in cfg.extra_columns))


def _informative(prep: pd.DataFrame | None, columns: Collection[str], min_records: int) -> bool:
    """A column tells records apart unless it is empty, or constant over at least min_records values
    (two records with one name are not "a constant name")."""
    if prep is None:
        return True
    for column in columns:
        values = prep[column].dropna() if column in prep else pd.Series(dtype=object)
        if values.empty or (len(values) >= min_records and not (values != values.iloc[0]).any()):
            return False
    return True


def active_comparisons(cfg: ResolveSettings, prep: pd.DataFrame | None = None) -> list[ComparisonSpec]:
    """Comparisons whose columns carry information in this input: an empty or constant column would
    only let EM fit noise (with no phones at all, EM learns "one agreeing field is a match")."""
    return [
        spec
        for spec in all_comparisons(cfg)
        if _informative(prep, compared_columns(spec), cfg.min_records_for_em)
    ]


def all_blocking_rules(cfg: ResolveSettings) -> list[tuple[str, ...]]:
    """The configured blocking rules plus one per extra identifier column."""
    return [*cfg.blocking_rules, *((c,) for c in cfg.extra_columns)]


def blocking_sql(columns: Collection[str], incremental: bool = False, max_km: float | None = None) -> str:
    """A blocking rule as SQL every backend reads; incremental rules also need a new record. With
    max_km, pairs whose records both have coordinates further apart than that are never generated
    (veto_far_pairs would drop them after scoring anyway)."""
    sql = " and ".join(f"l.{c} = r.{c}" for c in columns)
    if max_km is not None:
        sql += f" and {near_sql(max_km)}"
    return f"({sql}) and (l.{BATCH_COLUMN} = 1 or r.{BATCH_COLUMN} = 1)" if incremental else sql


def near_sql(max_km: float, columns: Collection[str] | None = None) -> str:
    """SQL: the records l and r lack coordinates, are at most max_km apart (haversine, a hair of slack
    so that rounding never drops a pair veto_far_pairs keeps) or share a street address
    (same_address_sql on the table's `columns`; None: it has them all)."""
    keys = address_keys(columns)
    same = f" or {same_address_sql('l', 'r', keys)}" if keys else ""
    return (
        "(l.lat is null or l.lon is null or r.lat is null or r.lon is null or "
        f"{_sql_km('l', 'r')} <= {max_km + 1e-6!r}{same})"
    )


# A street address with a house number, in one postcode or one city: two records there are at one place
# whatever their coordinates say. Geocoders fall back to a city's or a postcode's centre, and one provider
# may misplace a pin by kilometres; the distance veto is for chains' branches, which never share an address.
SAME_ADDRESS_KEYS: tuple[tuple[str, ...], ...] = (
    ("address_norm", "postal"),
    ("address_norm", "city_key"),
    ("street_key", "postal"),
)


def address_keys(columns: Collection[str] | None = None) -> tuple[tuple[str, ...], ...]:
    """The SAME_ADDRESS_KEYS a table with `columns` has (None: all); none without a house number."""
    if columns is None:
        return SAME_ADDRESS_KEYS
    if "address_number" not in columns:
        return ()
    return tuple(cols for cols in SAME_ADDRESS_KEYS if all(c in columns for c in cols))


def same_address_sql(left: str, right: str, keys: tuple[tuple[str, ...], ...] = SAME_ADDRESS_KEYS) -> str:
    """SQL: the records share a street address with a house number, and its postcode or its city (one of
    `keys`, SAME_ADDRESS_KEYS by default)."""
    either = " or ".join("(" + " and ".join(f"{left}.{c} = {right}.{c}" for c in cols) + ")" for cols in keys)
    return f"({left}.address_number is not null and ({either}))"


def same_address_codes(
    frame: pd.DataFrame, cache: dict[str, tuple[np.ndarray, int]] | None = None
) -> list[np.ndarray]:
    """same_address_sql as integer codes (rule_codes), one array per SAME_ADDRESS_KEYS: two records share
    a street address exactly when one of the arrays holds the same code for both."""
    size = len(frame)
    own = -1 - np.arange(size, dtype=np.int64)  # a code of its own: equal to no other record's
    if "address_number" not in frame:
        return [own.copy() for _ in SAME_ADDRESS_KEYS]
    numbered = frame["address_number"].notna().to_numpy(dtype=bool)
    out = []
    for cols in SAME_ADDRESS_KEYS:
        code = rule_codes(frame, cols, cache).copy() if all(c in frame for c in cols) else own.copy()
        code[~numbered] = own[~numbered]
        out.append(code)
    return out


def share_address(codes: list[np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For pairs of positions: whether the two records share a street address (same_address_codes)."""
    same = np.zeros(len(left), dtype=bool)
    for code in codes:
        same |= code[left] == code[right]
    return same


def _has_values(prep: pd.DataFrame, column: str) -> bool:
    """Whether the column exists and has a value; the first rows usually answer it."""
    if column not in prep:
        return False
    values = prep[column]
    return bool(values.iloc[:64].notna().any() or values.notna().any())


def active_blocking_rules(cfg: ResolveSettings, prep: pd.DataFrame | None = None) -> list[tuple[str, ...]]:
    """Blocking rules whose columns all have values in this input."""
    return [
        cols for cols in all_blocking_rules(cfg) if prep is None or all(_has_values(prep, c) for c in cols)
    ]


def link_type_for(prep: pd.DataFrame | None, cfg: ResolveSettings) -> str:
    """cfg.link_type, or for "auto": dedupe_only on one source, link_and_dedupe on several."""
    if cfg.link_type != "auto":
        return cfg.link_type
    if prep is not None and prep["provider"].nunique() < 2:
        return "dedupe_only"
    return "link_and_dedupe"


def _prediction_rules(
    cfg: ResolveSettings, prep: pd.DataFrame | None, incremental: bool
) -> list[dict[str, str]]:
    rules = active_blocking_rules(cfg, prep) or [("record_id",)]  # nothing to block on: no pairs
    return [{"blocking_rule": blocking_sql(cols, incremental)} for cols in rules]


def _has_coordinates(prep: pd.DataFrame | None) -> bool:
    return prep is not None and all(_has_values(prep, c) for c in ("lat", "lon"))


def splink_settings(
    cfg: ResolveSettings,
    probability_two_random_records_match: float = 1e-4,
    term_frequencies: bool = True,
    prep: pd.DataFrame | None = None,
    incremental: bool = False,
) -> SettingsCreator:
    """The Splink settings for our data, the same for every backend; m/u start from the priors.

    With `prep`, comparisons and blocking rules on columns this input leaves empty are left out."""
    return SettingsCreator(
        link_type=link_type_for(prep, cfg),  # type: ignore[arg-type]
        unique_id_column_name="record_id",
        source_dataset_column_name="provider",
        comparisons=[_comparison(spec, term_frequencies) for spec in active_comparisons(cfg, prep)],
        blocking_rules_to_generate_predictions=_prediction_rules(cfg, prep, incremental),  # type: ignore[arg-type]
        probability_two_random_records_match=probability_two_random_records_match,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,  # with them come the gamma_* columns: why a pair matched
    )


def _pair_count(sizes: list[int], link_type: str) -> float:
    n = sum(sizes)
    if link_type == "link_only":
        return (n * n - sum(s * s for s in sizes)) / 2
    return n * (n - 1) / 2


def prior_match_probability(prep: pd.DataFrame, cfg: ResolveSettings) -> float:
    """Prior odds that two records match, from sizes, the expected overlap between providers and the
    expected share of within-source duplicates."""
    sizes = prep["provider"].value_counts().tolist()
    link_type = link_type_for(prep, cfg)
    total_pairs = _pair_count(sizes, link_type)
    if total_pairs <= 0:
        return 1e-4
    expected = cfg.expected_overlap * min(sizes) * (len(sizes) - 1) if len(sizes) > 1 else 0.0
    if link_type != "link_only":
        expected += cfg.expected_duplicate_share * sum(sizes)
    return min(max(expected / total_pairs, 1e-9), cfg.max_prior)


def estimated_match_probability(
    prep: pd.DataFrame,
    cfg: ResolveSettings,
    recall: float = 0.6,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> float:
    """The prior from strict rules (same name and another identifier agreeing), assumed to find `recall`
    of the matches, kept within cfg.prior_max_factor of prior_match_probability. EM never moves it.
    codes: rule_codes' cache of prep's column codes, shared with the other passes."""
    base = prior_match_probability(prep, cfg)
    link_type = link_type_for(prep, cfg)
    seconds = [c for c in ("phone_key", "address_norm", "website_key", *cfg.extra_columns) if c in prep]
    cache = {} if codes is None else codes
    providers = pd.factorize(prep["provider"])[0] if link_type == "link_only" else None
    found_count = _union_pair_count(prep, "name_norm", seconds, cache, providers)
    total = _pair_count(prep["provider"].value_counts().tolist(), link_type)
    if not found_count or total <= 0:
        return base
    estimate = found_count / recall / total
    return min(max(estimate, base / cfg.prior_max_factor), base * cfg.prior_max_factor, cfg.max_prior)


def _pairs_in_groups(code: np.ndarray, providers: np.ndarray | None = None) -> int:
    """Pairs of records with one code (rule_codes; negative codes pair nothing); with providers, only
    pairs of two providers (link_only)."""
    grouped = code >= 0
    if not grouped.any():
        return 0
    sizes = np.bincount(code[grouped])
    total = int((sizes * (sizes - 1) // 2).sum())
    if providers is None:
        return total
    per_provider = np.bincount(code[grouped] * (int(providers.max()) + 1) + providers[grouped])
    return total - int((per_provider * (per_provider - 1) // 2).sum())


def _union_pair_count(
    prep: pd.DataFrame,
    first: str,
    seconds: list[str],
    cache: dict[str, tuple[np.ndarray, int]],
    providers: np.ndarray | None = None,
) -> int:
    """How many distinct pairs agree on `first` and on at least one of `seconds`, by inclusion-exclusion
    over the sets of seconds (each a count of group sizes): linear in the records, where joining them
    grows with the square of the largest group (20,000 copies of one record: 200 million pairs)."""
    found = 0
    empty: list[frozenset[str]] = []  # sets agreeing nowhere: every superset agrees nowhere either
    for size in range(1, len(seconds) + 1):
        for subset in itertools.combinations(seconds, size):
            if any(e <= set(subset) for e in empty):
                continue
            count = _pairs_in_groups(rule_codes(prep, (first, *subset), cache), providers)
            if not count:
                empty.append(frozenset(subset))
            found += count if size % 2 else -count
    return found


# ---------------------------------------------------------------------------------------------------
# Deterministic pass and the geographic veto.


_RULE_WORDS = {
    "website_key": "website",
    "domain_key": "domain",
    "phone_local_key": "phone",
    "phone_key": "phone",
}


def _rule_name(cols: Collection[str]) -> str:
    return "exact " + " + ".join(_RULE_WORDS.get(c, c) for c in cols) + " + name"


def _duckdb(cfg: ResolveSettings) -> Any:
    """A fresh in-memory DuckDB connection, one thread per core (DuckDB's default)."""
    import duckdb

    return duckdb.connect(config={"threads": cfg.duckdb_threads} if cfg.duckdb_threads else {})


def _sql_km(left: str, right: str) -> str:
    """Haversine distance in km between two aliases' lat/lon, in SQL (both must have coordinates:
    DuckDB's least() skips a NULL)."""
    return (
        f"2 * 6371.0088 * asin(least(1.0, sqrt("
        f"pow(sin(radians({right}.lat - {left}.lat) / 2), 2) + cos(radians({left}.lat)) * "
        f"cos(radians({right}.lat)) * pow(sin(radians({right}.lon - {left}.lon) / 2), 2))))"
    )


def _max_lat_gap(km: float) -> float:
    """Degrees of latitude two points at most km apart can differ by (the great-circle distance is at
    least the Earth's radius times the latitude gap), with a hair of slack: a cheap bound checked first."""
    return km / (6371.0088 * math.pi / 180) * 1.0001


# What two records must agree on, missing values included, to be "identical records" (identical_heads).
IDENTITY_COLUMNS = (
    "name_norm", "phone_key", "website_key", "domain_key", "address_norm", "address_number", "city_key",
    "postal", "lat", "lon",
)  # fmt: skip
IDENTICAL_RULE = "identical records"


def identical_heads(
    prep: pd.DataFrame,
    cfg: ResolveSettings = ResolveSettings(),
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> dict[str, str]:
    """Records of blocks over cfg.max_block_size that are identical on every compared field, with a
    name and a street or coordinates: each mapped to the first of its kind (by record id),
    which it is. A list holding one business 600 times would otherwise give 600 leads: its blocks pair
    nothing. Not with link_only or one record per provider (identical records of one provider stay two)."""
    if (
        cfg.max_block_size is None
        or len(prep) < 2
        or "name_norm" not in prep
        or cfg.one_record_per_provider
        or link_type_for(prep, cfg) == "link_only"
    ):
        return {}
    over = np.zeros(len(prep), dtype=bool)
    for cols in active_blocking_rules(cfg, prep):
        code = rule_codes(prep, cols, codes)
        over |= capped(code, cfg.max_block_size) != code
    if not over.any():
        return {}

    def present(column: str) -> np.ndarray:
        return prep[column].notna().to_numpy() if column in prep else np.zeros(len(prep), dtype=bool)

    # A place, not a contact: a chain's branches share a switchboard phone and a website, not a street.
    anchored = present("address_norm") | (present("lat") & present("lon"))
    rows = np.flatnonzero(over & present("name_norm") & anchored)
    if len(rows) < 2:
        return {}
    key = np.zeros(len(rows), dtype=np.int64)
    for column in (*IDENTITY_COLUMNS, *cfg.extra_columns):
        if column in prep:
            values = pd.Series(prep[column].to_numpy(dtype=object)[rows]).astype(str)  # None as "None"
            code, uniques = pd.factorize(values)
            key, _ = pd.factorize(key * (len(uniques) + 1) + code)
            key = key.astype(np.int64)
    found = pd.DataFrame({"key": key, "id": prep["record_id"].astype(str).to_numpy(dtype=object)[rows]})
    found = found.sort_values(["key", "id"], kind="stable")
    key, ids = found["key"].to_numpy(), found["id"].to_numpy(dtype=object)
    first = np.r_[True, key[1:] != key[:-1]]
    head = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))  # each row's group's first row
    return dict(zip(ids[~first].tolist(), ids[head[~first]].tolist(), strict=True))


def identical_pairs(heads: Mapping[str, str], new_record_ids: Collection[str] | None = None) -> pd.DataFrame:
    """identical_heads as PAIR_COLUMNS (head, record) at probability 1.0; with new_record_ids, only
    the pairs with a new record."""
    new = None if new_record_ids is None else {str(r) for r in new_record_ids}
    found = [(h, r) for r, h in heads.items() if new is None or r in new or h in new]
    return pd.DataFrame(
        {
            "record_id_l": [h for h, _ in found],
            "record_id_r": [r for _, r in found],
            "match_probability": np.ones(len(found)),
            "match_rule": [IDENTICAL_RULE] * len(found),
        },
        columns=PAIR_COLUMNS,
    )


def _deterministic_frame(prep: pd.DataFrame, new: set[str] | None) -> pd.DataFrame:
    """The columns the deterministic pass reads, typed for DuckDB (missing ones all NULL)."""
    frame = pd.DataFrame({"record_id": prep["record_id"].astype(str)})
    for column in ("provider", "name_norm", "name_sorted", "name_prefix", "address_number", "postal",
                   "website_key", "domain_key", "phone_local_key", "phone_key"):  # fmt: skip
        values = prep[column] if column in prep else pd.Series(None, index=prep.index, dtype=object)
        frame[column] = values.astype(object).where(values.notna(), None).astype("string")
    for column in ("lat", "lon"):
        values = prep[column] if column in prep else pd.Series(None, index=prep.index, dtype=object)
        frame[column] = pd.to_numeric(values, errors="coerce").astype(float)
    frame["is_new"] = True if new is None else frame["record_id"].isin(new)
    return frame


def deterministic_pairs(
    prep: pd.DataFrame,
    cfg: ResolveSettings = ResolveSettings(),
    new_record_ids: Collection[str] | None = None,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> pd.DataFrame:
    """Pairs sharing an identifying key (exact website, domain or local phone) AND a similar name, with
    no distance or street number against them. Records of one provider can pair (a source lists a place
    twice); a key several businesses share is kept apart by the name and place checks, and is evidence
    for the model either way. With new_record_ids, only pairs with a new record are built. A key shared
    by more than cfg.max_block_size records joins none of them (identical_heads takes identical ones).

    One SQL join per rule in DuckDB (its jaro_winkler_similarity is the one Splink scores with), on the
    key and the name's first letters: a name JW >= 0.88 nearly always shares them, and a chain's website
    no longer joins all its branches to each other. codes: rule_codes' cache of prep's column codes."""
    empty = pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float})
    rules = [cols for cols in cfg.deterministic_rules if all(c in prep for c in cols)]
    if len(prep) < 2 or not rules or "name_norm" not in prep:
        return empty
    new = {str(r) for r in new_record_ids} if new_record_ids is not None else None
    frame = _deterministic_frame(prep, new)
    link_only = link_type_for(prep, cfg) == "link_only"
    selects = []
    cache = {} if codes is None else codes
    for order, cols in enumerate(rules):
        on = [*cols, "name_prefix"] if "name_prefix" in prep else list(cols)
        # A hash join on one integer, not on text. A key more records share than max_block_size pairs
        # nothing here, as a block: 20,000 copies of one record would be 200 million pairs.
        frame[f"_k{order}"] = capped(rule_codes(prep, on, cache), cfg.max_block_size)
        conditions = [
            f"l._k{order} = r._k{order}",
            "l.record_id < r.record_id",
            "(l.is_new or r.is_new)",
            "l.name_norm is not null and r.name_norm is not null",
            "(l.lat is null or l.lon is null or r.lat is null or r.lon is null or "
            f"(abs(l.lat - r.lat) <= {_max_lat_gap(cfg.deterministic_max_km + 1e-9)!r} and "
            f"{_sql_km('l', 'r')} <= {cfg.deterministic_max_km + 1e-9!r}))",
            agree_or_missing_sql("l.address_number", "r.address_number"),
            # Without a house number on both, two postcodes are two places (a chain's branches).
            f"({agree_or_missing_sql('l.postal', 'r.postal')} or l.address_number = r.address_number)",
            f"{name_similarity_sql('l.name_norm', 'r.name_norm', 'l.name_sorted', 'r.name_sorted')} "
            f">= {cfg.deterministic_min_name_similarity!r}",
        ]
        if link_only:
            conditions.append("l.provider <> r.provider")
        selects.append(
            f"select l.record_id as record_id_l, r.record_id as record_id_r, {order} as rule "
            f"from records l join records r on {' and '.join(conditions)}"
        )
    sql = (
        f"select record_id_l, record_id_r, min(rule) as rule from ({' union all '.join(selects)}) "
        "group by record_id_l, record_id_r order by min(rule), record_id_l, record_id_r"
    )
    con = _duckdb(cfg)
    try:
        con.register("frame", frame)
        con.execute(  # NaN (a missing coordinate in pandas) as NULL; a table: pandas text is read once
            "create temp table records as select * replace (nullif(lat, 'nan'::double) as lat, "
            "nullif(lon, 'nan'::double) as lon) from frame"
        )
        found = con.execute(sql).df()
    finally:
        con.close()
    if found.empty:
        return empty
    names = [_rule_name(cols) for cols in rules]
    pairs = pd.DataFrame(
        {
            "record_id_l": found["record_id_l"].astype(object),
            "record_id_r": found["record_id_r"].astype(object),
            "match_probability": 1.0,
            "match_rule": [names[i] for i in found["rule"]],
        }
    )
    return pairs[PAIR_COLUMNS].reset_index(drop=True)


# What places a record: with none of these anywhere in the input, only names and identifiers are left.
PLACE_COLUMNS = ("address_norm", "city_key", "postal", "lat", "lon")
SAME_NAME_RULE = "same name, no place given"
SAME_NAME_TOWN_RULE = "same name and town, no street given"


def placeless(prep: pd.DataFrame) -> bool:
    """No record of the input has a street, a town, a postcode or coordinates (a list of company names)."""
    return not any(_has_values(prep, c) for c in PLACE_COLUMNS)


def town_only(prep: pd.DataFrame) -> bool:
    """Records give a town at most: no street, postcode or coordinates anywhere, but towns (a list of names
    and towns, perhaps phones). A like name in one town alone then scores below the usual threshold."""
    return _has_values(prep, "city_key") and not any(
        _has_values(prep, c) for c in PLACE_COLUMNS if c != "city_key"
    )


def same_name_pairs(
    prep: pd.DataFrame, cfg: ResolveSettings, new_record_ids: Collection[str] | None = None
) -> pd.DataFrame:
    """For an input without places (placeless): pairs of records with the same name words (name_sorted)
    that no identifier tells apart (phone, website, domain and each extra column agree or are missing on
    one side), as PAIR_COLUMNS at probability 1.0. Nothing else could: without it a list of company names
    made no pair at all. A name more records share than cfg.max_block_size pairs nothing, as a block.

    For an input of names and towns (town_only): the same name words in one town, when no source lists
    that name twice there (a source's two listings are a chain's two branches)."""
    empty = pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float})
    in_towns = town_only(prep)
    if len(prep) < 2 or "name_sorted" not in prep or not (placeless(prep) or in_towns):
        return empty
    key = prep["name_sorted"].to_numpy(dtype=object)
    if in_towns:
        towns = prep["city_key"].to_numpy(dtype=object)
        key = np.array(
            [None if n is None or t is None else f"{n}\x1f{t}" for n, t in zip(key, towns, strict=True)],
            dtype=object,
        )
    codes, _ = pd.factorize(key, use_na_sentinel=True)
    named = np.flatnonzero(codes >= 0)
    if not len(named):
        return empty
    order = named[np.argsort(codes[named], kind="stable")]
    bounds = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1], True])
    cap = cfg.max_block_size or len(prep)
    providers = prep["provider"].to_numpy(dtype=object) if in_towns and "provider" in prep else None
    lefts, rights = [], []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        group = order[start:stop]
        if not 2 <= len(group) <= cap:
            continue
        if providers is not None and len(set(providers[group].tolist())) < len(group):
            continue
        a, b = np.triu_indices(len(group), 1)
        lefts.append(group[a])
        rights.append(group[b])
    if not lefts:
        return empty
    left, right = np.concatenate(lefts), np.concatenate(rights)
    keep = np.ones(len(left), dtype=bool)
    for column in ("phone_key", "website_key", "domain_key", *cfg.extra_columns):
        if column in prep:
            values = prep[column].to_numpy(dtype=object)
            both = pd.notna(values[left]) & pd.notna(values[right])
            keep &= ~both | (values[left] == values[right])
    ids = prep["record_id"].astype(str).to_numpy(dtype=object)
    left, right = ids[left[keep]], ids[right[keep]]
    if new_record_ids is not None:
        new = {str(r) for r in new_record_ids}
        mine = np.array([a in new or b in new for a, b in zip(left, right, strict=True)], dtype=bool)
        left, right = left[mine], right[mine]
    low = np.where(left < right, left, right)
    high = np.where(left < right, right, left)
    rule = SAME_NAME_TOWN_RULE if in_towns else SAME_NAME_RULE
    return pd.DataFrame(
        {
            "record_id_l": low.astype(object),
            "record_id_r": high.astype(object),
            "match_probability": np.ones(len(low)),
            "match_rule": [rule] * len(low),
        },
        columns=PAIR_COLUMNS,
    )


def unpairable(prep: pd.DataFrame, cfg: ResolveSettings) -> np.ndarray:
    """Which records no rule can pair: no blocking rule, deterministic rule or (in an input without
    places) same name has all its columns on them. They can join no other record, whatever they say."""
    can = np.zeros(len(prep), dtype=bool)
    rules = [*active_blocking_rules(cfg, prep), *cfg.deterministic_rules]
    if placeless(prep):
        rules.append(("name_sorted",))
    for cols in rules:
        if all(c in prep for c in cols):
            can |= np.logical_and.reduce([prep[c].notna().to_numpy() for c in cols])
    return ~can


def pair_km(prep: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The great-circle distance of each pair of prep's row positions; NaN where either has no point
    (or no row: position -1)."""
    if "lat" not in prep or "lon" not in prep:
        return np.full(len(left), np.nan)
    coords = np.column_stack(
        [pd.to_numeric(prep[c], errors="coerce").to_numpy(dtype=float) for c in ("lat", "lon")]
    )
    coords = np.vstack([coords, [np.nan, np.nan]])  # position -1: no coordinates
    a, b = coords[left], coords[right]
    return haversine_km_np(a[:, 0], a[:, 1], b[:, 0], b[:, 1])


def veto_far_pairs(pairs: pd.DataFrame, prep: pd.DataFrame, max_km: float | None) -> pd.DataFrame:
    """Drop pairs whose records both have coordinates more than max_km apart: a place is where it is,
    whatever its name, website or (reassigned) phone say. Unless they share a street address
    (same_address_sql): then a coordinate is what is wrong."""
    if max_km is None or pairs.empty:
        return pairs
    index = pd.Index(prep["record_id"])
    li, ri = index.get_indexer(pairs["record_id_l"]), index.get_indexer(pairs["record_id_r"])
    km = pair_km(prep, li, ri)
    keep = np.isnan(km) | (km <= max_km)
    if not keep.all():
        # Unknown records (-1) get codes of their own: they share no address.
        codes = [np.append(c, -1 - len(prep)) for c in same_address_codes(prep)]
        keep |= share_address(codes, li, ri)
    return pairs[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# Probabilistic pass: the backend, training, scoring.


def db_api(cfg: ResolveSettings, spark: Any = None) -> Any:
    """The Splink database API for cfg.backend: DuckDB in-process, or SparkAPI on the given session."""
    if cfg.backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if cfg.backend == "spark":
        if spark is None:
            raise ValueError("backend 'spark' needs a SparkSession: resolve(records, cfg, spark=session)")
        from splink import SparkAPI

        return SparkAPI(
            spark_session=spark,
            break_lineage_method=cfg.spark_break_lineage,
            num_partitions_on_repartition=cfg.spark_partitions,
        )
    raise ValueError(f"unknown backend {cfg.backend!r}: use 'duckdb' or 'spark'")


def _backend_table(frame: pd.DataFrame, cfg: ResolveSettings, spark: Any) -> Any:
    """A frame as the backend wants it: DuckDB an Arrow table (scanned without the GIL, its text a
    fraction of Python strings' size); Spark an explicit schema so all-null columns work."""
    if cfg.backend != "spark":
        return arrow_table(frame)
    from pyspark.sql import types as T

    types = {"double": T.DoubleType(), "integer": T.IntegerType(), "text": T.StringType()}
    schema = T.StructType([T.StructField(c, types[column_kind(c)], c != "record_id") for c in frame.columns])
    rows = [tuple(r) for r in frame.itertuples(index=False, name=None)]
    return spark.createDataFrame(rows, schema=schema)


def column_kind(column: str) -> str:
    """A model column's type for either backend: coordinates and tf_* double, the batch flag and EM's
    block flags integer, every other column text."""
    if column in FLOAT_COLUMNS or column.startswith("tf_"):
        return "double"
    return "integer" if column == BATCH_COLUMN or column.startswith(EM_BLOCK.format("")) else "text"


def arrow_table(frame: pd.DataFrame) -> Any:
    """A model-shaped frame as an Arrow table typed by column_kind; None and NaN as null (Splink's NULL)."""
    import pyarrow as pa

    types = {"double": pa.float64(), "integer": pa.int64(), "text": pa.string()}
    return pa.table(
        {
            str(c): pa.array(
                frame[c].to_numpy(dtype=object), type=types[column_kind(str(c))], from_pandas=True
            )
            for c in frame.columns
        }
    )


def model_frame(prep: pd.DataFrame, cfg: ResolveSettings) -> pd.DataFrame:
    """prep's model columns (model_columns without the batch flag) as object columns with None for every
    missing value, absent columns all None: one new frame, no frame-wide copies on the way."""
    columns: dict[str, np.ndarray] = {}
    for column in model_columns(cfg):
        if column == BATCH_COLUMN:
            continue
        if column not in prep:
            columns[column] = np.full(len(prep), None, dtype=object)
            continue
        values = prep[column].to_numpy(dtype=object).copy()  # a copy: prep itself is left as it is
        values[pd.isna(values)] = None  # NaN and pd.NA as None, as Splink's NULL
        columns[column] = values
    return pd.DataFrame(columns, index=prep.index, dtype=object)


def model_columns(cfg: ResolveSettings) -> list[str]:
    """The columns of the model input table."""
    return [*MODEL_COLUMNS, *(c for c in cfg.extra_columns if c not in MODEL_COLUMNS), BATCH_COLUMN]


def term_frequency_tables(prep: pd.DataFrame, cfg: ResolveSettings) -> dict[str, dict[str, float]]:
    """Term frequencies (share of non-null values) of the columns with TF adjustments, for values used
    at least cfg.tf_min_count times; rarer values take the level's base u. Kept in the model so that a
    saved model scores a pair the same whatever else came in the batch."""
    tables: dict[str, dict[str, float]] = {}
    for spec in all_comparisons(cfg):
        if not spec.term_frequency:
            continue
        column = spec.columns[0]
        values = prep[column].dropna() if column in prep else pd.Series(dtype=object)
        counts = values.value_counts()
        common = counts[counts >= cfg.tf_min_count]
        tables[column] = {str(k): float(v) / len(values) for k, v in sorted(common.items())}
    return tables


def _pair_total(
    prep: pd.DataFrame,
    cols: Collection[str],
    cache: dict[str, tuple[np.ndarray, int]] | None = None,
    max_block_size: int | None = None,
) -> int:
    """How many pairs of records share all these columns (in numpy, before asking Splink), in blocks of
    at most max_block_size records."""
    if not all(c in prep for c in cols):
        return 0
    return _pairs_in_groups(capped(rule_codes(prep, cols, cache), max_block_size))


EM_BLOCK = "em_block_{}"  # the Splink input's flag column of EM rule {} (em_block_flags)


def em_rules(cfg: ResolveSettings) -> list[tuple[str, ...]]:
    """The EM training rules: the configured ones, then one per extra identifier column."""
    return [*cfg.em_blocking_rules, *((c,) for c in cfg.extra_columns)]


def em_sessions(
    prep: pd.DataFrame, cfg: ResolveSettings, codes: dict[str, tuple[np.ndarray, int]] | None = None
) -> list[tuple[int, tuple[str, ...], int]]:
    """The EM sessions to run: (index in em_rules, rule, pairs it blocks). Not a rule without pairs (a
    session that fails part-way leaves Splink's settings short), nor an extra column's with fewer than
    cfg.em_min_extra_pairs: a handful of pairs teaches EM nothing, at a session's cost."""
    sessions = []
    for i, cols in enumerate(em_rules(cfg)):
        pairs = _pair_total(prep, cols, codes, cfg.max_block_size)
        extra = i >= len(cfg.em_blocking_rules)
        if pairs and not (extra and pairs < cfg.em_min_extra_pairs):
            sessions.append((i, tuple(cols), pairs))
    return sessions


def distinct_rows(frame: pd.DataFrame, link_type: str) -> np.ndarray | None:
    """Positions of the first of each set of records alike in every column Splink compares (not the
    record id; nor the provider, unless linking only), or None when no two are alike. Training on the
    distinct ones keeps 20,000 copies of one record from passing for 200 million agreeing pairs: the u
    and m values and the prior would otherwise depend on how often a file repeats a row."""
    own = {"record_id", BATCH_COLUMN, *([] if link_type == "link_only" else ["provider"])}
    columns = [c for c in frame.columns if c not in own and not c.startswith(EM_BLOCK.format(""))]
    if len(frame) < 2 or not columns:
        return None
    try:
        repeated = frame.duplicated(subset=columns).to_numpy()
    except TypeError:  # an unhashable value: every record counts
        return None
    return np.flatnonzero(~repeated) if repeated.any() else None


def em_block_flags(
    prep: pd.DataFrame, cfg: ResolveSettings, codes: dict[str, tuple[np.ndarray, int]] | None = None
) -> dict[int, np.ndarray]:
    """For each EM rule with a block of more than cfg.max_block_size records: 1 for each record in a
    block within it, else 0. EM then trains on those blocks only: a switchboard phone's pairs are nearly
    all different businesses, and its 1.5 billion pairs (55k records on one number) took 25 s to sample."""
    flags: dict[int, np.ndarray] = {}
    if cfg.max_block_size is None or len(prep) <= cfg.max_block_size:
        return flags
    for i, cols in enumerate(em_rules(cfg)):
        if not all(c in prep for c in cols):
            continue
        code = rule_codes(prep, cols, codes)
        kept = capped(code, cfg.max_block_size)
        if (kept != code).any():
            flags[i] = (kept >= 0).astype(np.int64)
    return flags


def em_rule_sql(cols: Collection[str], pairs: int, cfg: ResolveSettings) -> str:
    """An EM blocking rule as SQL; a rule with more than cfg.em_max_pairs pairs keeps a seeded hash
    sample of about that many (EM's cost is computing each pair's comparisons; its ~20 parameters are
    as well estimated from 100k pairs as from 300k)."""
    sql = blocking_sql(cols)
    if not cfg.em_max_pairs or pairs <= cfg.em_max_pairs:
        return sql
    keep = max(2, math.ceil(pairs / cfg.em_max_pairs))
    ids = f"l.record_id, r.record_id, {cfg.seed}"
    sample = f"pmod(hash({ids}), {keep}) = 0" if cfg.backend == "spark" else f"hash({ids}) % {keep} = 0"
    return f"({sql}) and {sample}"


def _train(
    linker: Linker,
    cfg: ResolveSettings,
    prep: pd.DataFrame,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
    flagged: Collection[int] = (),
) -> dict[str, Any] | None:
    """u by seeded random sampling, then m by EM on each training rule that yields pairs, with the
    prior fixed (EM on blocked pairs drifts it to 0.3-0.7 and makes one agreeing field a match).
    flagged: the rules whose blocks over the cap the input's em_block flags leave out (em_block_flags).

    Returns the trained model as a settings dict, or None when no EM rule could train."""
    linker.training.estimate_u_using_random_sampling(
        max_pairs=cfg.u_max_pairs, seed=cfg.seed, num_chunks=cfg.u_num_chunks, min_count_per_level=None
    )
    # The model after the last session that finished: a session that fails part-way can leave the
    # comparison it blocked on out of the linker's settings, and it comes back from here (u estimated).
    good = linker.misc.save_model_to_json()
    trained = 0
    for i, cols, pairs in em_sessions(prep, cfg, codes):
        sql = em_rule_sql(cols, pairs, cfg)
        if i in flagged:
            sql = f"({sql}) and l.{EM_BLOCK.format(i)} = 1"  # r is in l's block
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                sql,
                estimate_without_term_frequencies=True,
                fix_probability_two_random_records_match=True,
            )
            trained += 1
            good = linker.misc.save_model_to_json()
        except EMTrainingException as exc:  # e.g. no pairs share a phone: the other rules still train
            logger.info("EM on %s skipped: %s", cols, str(exc).splitlines()[0])
        except ValueError as exc:
            # Splink's maximisation step refuses an m that underflowed to 0.0 (every pair of a level scored
            # ~0). The session trains a copy of the settings, so skipping it leaves the model as it was.
            logger.warning("EM on %s skipped: %s", cols, str(exc).splitlines()[0])
    if not trained:
        return None
    final = linker.misc.save_model_to_json()
    have = {c["output_column_name"]: c for c in final["comparisons"]}
    final["comparisons"] = [have.get(c["output_column_name"], c) for c in good["comparisons"]]
    return final


def regularize(model: Mapping[str, Any], floor: float) -> dict[str, Any]:
    """Floor the m probabilities of a trained model: EM on clean data learns "a ZIP never differs"
    (m ~ 1e-20), and one moved shop or mistyped ZIP must not veto a match by itself."""
    out = json.loads(json.dumps(model))
    for comparison in out["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        values = [lvl.get("m_probability") for lvl in levels]
        if any(v is None for v in values):
            continue
        floored = [max(float(v), floor) for v in values]
        for lvl, v in zip(levels, floored, strict=True):
            lvl["m_probability"] = v / sum(floored)
    return out


def guard_model(
    trained: Mapping[str, Any],
    priors: Mapping[str, Any],
    neutral: Collection[str] = (),
    m_floor: float = 0.0,
) -> dict[str, Any]:
    """Undo EM where it learnt nonsense: a comparison whose best level ends up no evidence of a match
    (m <= u), or whose ELSE level ends up evidence for one (m > u), takes its prior m values back. One
    named in `neutral` (an extra column) whose matches EM found never agree on it (best level's m at
    `m_floor`) or which it made meaningless weighs nothing (m = u): a record's own timestamp, not an id."""
    out = json.loads(json.dumps(trained))
    prior_by_name = {c["output_column_name"]: c for c in priors["comparisons"]}
    trained_by_name = {c["output_column_name"]: c for c in out["comparisons"]}
    # A comparison EM lost (a failed session) comes back with its priors, in the priors' order.
    out["comparisons"] = [trained_by_name.get(name, prior) for name, prior in prior_by_name.items()]
    for comparison in out["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        m = [lvl.get("m_probability") for lvl in levels]
        u = [lvl.get("u_probability") for lvl in levels]
        if any(v is None for v in (*m, *u)):
            continue
        name = comparison["output_column_name"]
        never_agree = name in neutral and m[0] <= m_floor * (1 + 1e-9)
        if m[0] > u[0] and m[-1] <= u[-1] and not never_agree:
            continue
        if name in neutral:
            logger.warning(
                "EM found that agreeing on extra column %s says nothing of a match; it weighs nothing", name
            )
            for lvl, u_value in zip(levels, u, strict=True):
                lvl["m_probability"] = u_value
            continue
        logger.info("EM made %s meaningless; its prior m values are kept", name)
        prior = prior_by_name.get(name)
        if prior is None:
            continue
        prior_levels = [lvl for lvl in prior["comparison_levels"] if not lvl.get("is_null_level")]
        for lvl, plvl in zip(levels, prior_levels, strict=True):
            lvl["m_probability"] = plvl.get("m_probability", lvl["m_probability"])
    return out


def _ordered_pairs(predictions: pd.DataFrame, rules: pd.Series) -> pd.DataFrame:
    """Splink's predictions as PAIR_COLUMNS with record_id_l < record_id_r."""
    left, right = predictions["record_id_l"].astype(str), predictions["record_id_r"].astype(str)
    return pd.DataFrame(
        {
            "record_id_l": left.where(left < right, right),
            "record_id_r": right.where(left < right, left),
            "match_probability": predictions["match_probability"].astype(float),
            "match_rule": rules.values,
        }
    )


def model_rules(predictions: pd.DataFrame, cfg: ResolveSettings) -> pd.Series:
    """Why Splink matched each pair, from its gamma columns: the agreeing levels, e.g.
    "model: name exact, address jw>=0.92, geo<=0.05km"."""
    parts: list[pd.Series] = []
    for spec in all_comparisons(cfg):
        column = f"gamma_{spec.name}"
        if column not in predictions:
            continue
        labels = level_labels(spec)
        top = len(labels) - 1
        mapping = {top - i: f"{spec.name} {label}" for i, label in enumerate(labels) if label}
        parts.append(predictions[column].map(mapping).fillna(""))
    if not parts:
        return pd.Series(["model"] * len(predictions), index=predictions.index)
    joined = parts[0].astype(str)
    for part in parts[1:]:  # ", " only between non-empty labels
        part = part.astype(str)
        joined = joined + np.where((joined != "") & (part != ""), ", ", "") + part
    return "model: " + joined.where(joined != "", "no field agrees")


PLACEHOLDER_POINTS = "placeholder_points"


def _placeholder_points(frame: pd.DataFrame, model: Mapping[str, Any] | None) -> list[list[float]]:
    """The geocoders' fallback points the geo comparison ignores, [lat, lon] sorted, as the model keeps
    them: a saved model's own (frame's geo_lat/geo_lon are set from them, so that a pair scores the same
    whatever else came in the batch), else the ones prepare found (placeholder_points)."""
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    kept = ((model or {}).get(MODEL_KEY) or {}).get(PLACEHOLDER_POINTS)
    if kept is None:  # trained here, or a model from before the points were kept: prepare's
        found = frame["geo_lat"].isna().to_numpy() & ~np.isnan(lat) & ~np.isnan(lon)
        return [
            list(p)
            for p in sorted({(float(a), float(b)) for a, b in zip(lat[found], lon[found], strict=True)})
        ]
    points = {(float(a), float(b)) for a, b in kept}
    fallback = np.array(
        [(a, b) in points for a, b in zip(lat.tolist(), lon.tolist(), strict=True)], dtype=bool
    )
    frame["geo_lat"] = np.where(fallback, None, frame["lat"].to_numpy(dtype=object))
    frame["geo_lon"] = np.where(fallback, None, frame["lon"].to_numpy(dtype=object))
    return [list(p) for p in sorted(points)]


def _score_model(
    model: Mapping[str, Any], prep: pd.DataFrame, cfg: ResolveSettings, incremental: bool
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """A saved model made ready for this input: our blocking rules and link type, its term frequencies."""
    settings = json.loads(json.dumps(dict(model)))
    ours = settings.pop(MODEL_KEY, {}) or {}
    settings["link_type"] = link_type_for(prep, cfg)
    settings["blocking_rules_to_generate_predictions"] = _prediction_rules(cfg, prep, incremental)
    settings["retain_intermediate_calculation_columns"] = False
    settings["retain_matching_columns"] = True
    return settings, ours.get("term_frequencies", {})


def blocked_pairs_sql(
    table: str,
    uid_sql: str,
    cfg: ResolveSettings,
    prep: pd.DataFrame,
    incremental: bool,
    materialize: bool = False,
) -> str:
    """The candidate pairs of the prediction blocking rules, as Splink's blocked-pairs table (match_key,
    join_key_l, join_key_r), with pairs further apart than max_match_km left out.

    Splink builds the same set (without the distance) by excluding from each rule the pairs of all
    rules before it: 13 rules x the pairs of a chain's town. Here each rule is one join, the distance is
    checked once per distinct pair, and the union is made distinct by a group-by on row numbers: the
    same pairs after veto_far_pairs, a fraction of the work. A rule makes no pairs from a block of more
    than cfg.max_block_size records. materialize: DuckDB's CTE hint."""
    rules = active_blocking_rules(cfg, prep) or [("record_id",)]
    link_only = link_type_for(prep, cfg) == "link_only"
    max_km = cfg.max_match_km if _has_coordinates(prep) else None
    uid = uid_sql.format(side="t")
    selects = []
    for key, cols in enumerate(rules):
        where = ["l._n < r._n"]  # _n follows the composite id: Splink's join_key_l < join_key_r
        if link_only:
            where.append("l.provider <> r.provider")
        if incremental:
            where.append(f"(l.{BATCH_COLUMN} = 1 or r.{BATCH_COLUMN} = 1)")
        on = " and ".join(f"l.{c} = r.{c}" for c in cols)
        if cfg.max_block_size is not None:
            where.append(f"l._b{key} <= {int(cfg.max_block_size)}")  # r's block is l's
        selects.append(
            f"select {key} as match_key, l._n as n_l, r._n as n_r "
            f"from numbered as l inner join numbered as r on {on} where {' and '.join(where)}"
        )
    near = f" where {near_sql(max_km, list(prep.columns))}" if max_km is not None else ""
    sizes = "".join(
        f", count(*) over (partition by {', '.join(f't.{c}' for c in cols)}) as _b{key}"
        for key, cols in enumerate(rules)
        if cfg.max_block_size is not None
    )
    return (
        f"with numbered as {'materialized ' if materialize else ''}"
        f"(select *, row_number() over (order by {uid}) as _n{sizes} from {table} as t), "
        f"candidates as ({' union all '.join(selects)}), "
        "distinct_pairs as (select n_l, n_r, min(match_key) as match_key from candidates group by n_l, n_r) "
        f"select cast(p.match_key as string) as match_key, {uid_sql.format(side='l')} as join_key_l, "
        f"{uid_sql.format(side='r')} as join_key_r from distinct_pairs as p "
        f"inner join numbered as l on p.n_l = l._n inner join numbered as r on p.n_r = r._n{near}"
    )


def rule_codes(
    frame: pd.DataFrame, columns: Collection[str], cache: dict[str, tuple[np.ndarray, int]] | None = None
) -> np.ndarray:
    """An int64 code per record: equal codes exactly when all the columns are equal and present. A
    record missing any of them gets a code of its own (negative), so it joins nothing, as NULL does.
    cache: each column's factorized codes, shared between rules."""
    size = len(frame)
    code = np.zeros(size, dtype=np.int64)
    missing = np.zeros(size, dtype=bool)
    cache = {} if cache is None else cache
    for column in columns:
        if column not in cache:
            factorized, uniques = pd.factorize(frame[column], use_na_sentinel=True)
            cache[column] = (factorized.astype(np.int64), len(uniques))
        codes, distinct = cache[column]
        missing |= codes < 0
        code, _ = pd.factorize(code * (distinct + 1) + codes)  # stays below size: no overflow
        code = code.astype(np.int64)
    code[missing] = -1 - np.flatnonzero(missing)
    return code


def blocking_codes(
    frame: pd.DataFrame,
    rules: list[tuple[str, ...]],
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
    max_block_size: int | None = None,
) -> pd.DataFrame:
    """The narrow table coded_blocked_pairs joins: integers and floats only. Provider code, batch flag,
    coordinates (_geo: both present) and one integer key per rule (rule_codes, capped)."""
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "provider": pd.factorize(frame["provider"].astype(str))[0].astype(np.int32),
            BATCH_COLUMN: frame[BATCH_COLUMN].to_numpy(dtype=np.int32),
            "lat": lat,
            "lon": lon,
            "_geo": ~(np.isnan(lat) | np.isnan(lon)),
        }
    )
    cache = {} if codes is None else codes
    for key, cols in enumerate(rules):
        out[f"_k{key}"] = capped(rule_codes(frame, cols, cache), max_block_size)
    return out


def capped_blocks(
    prep: pd.DataFrame, cfg: ResolveSettings, codes: dict[str, tuple[np.ndarray, int]] | None = None
) -> list[tuple[tuple[str, ...], int, int]]:
    """The prediction rules with blocks over cfg.max_block_size: (rule, how many such keys, the largest
    block's size)."""
    found: list[tuple[tuple[str, ...], int, int]] = []
    if cfg.max_block_size is None or len(prep) <= cfg.max_block_size:
        return found
    for cols in active_blocking_rules(cfg, prep):
        code = rule_codes(prep, cols, codes)
        sizes = np.bincount(code[code >= 0]) if (code >= 0).any() else np.zeros(0, dtype=np.int64)
        over = sizes > cfg.max_block_size
        if over.any():
            found.append((tuple(cols), int(over.sum()), int(sizes.max())))
    return found


def capped(code: np.ndarray, max_block_size: int | None) -> np.ndarray:
    """rule_codes' codes with every block of more than max_block_size records made missing (a code of
    its own per record, joining nothing); None: as they are."""
    given = code >= 0
    if max_block_size is None or not given.any():
        return code
    sizes = np.bincount(code[given])
    big = np.zeros(len(code), dtype=bool)
    big[given] = sizes[code[given]] > max_block_size
    if not big.any():
        return code
    out = code.copy()
    out[big] = -1 - np.flatnonzero(big)  # rule_codes' missing codes: unique, negative
    return out


def _blocked_pairs(
    linker: Linker,
    api: Any,
    table: Any,
    frame: pd.DataFrame,
    cfg: ResolveSettings,
    prep: pd.DataFrame,
    incremental: bool,
    spark: Any,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> Any:
    """The candidate pairs (blocked_pairs_sql) registered with the backend, ready for predict()."""
    from splink.internals.unique_id_concat import _composite_unique_id_from_nodes_sql

    columns = linker._settings_obj.column_info_settings
    ids = [c for c in (columns.source_dataset_input_column, columns.unique_id_input_column) if c]
    if cfg.backend == "spark":
        uid_sql = _composite_unique_id_from_nodes_sql(ids, "{side}")
        sql = blocked_pairs_sql(table.physical_name, uid_sql, cfg, prep, incremental)
        return api.register(spark.sql(sql))
    id_columns = [c.unquote().name for c in ids]
    import pyarrow as pa

    pairs = coded_blocked_pairs(frame, id_columns, cfg, prep, incremental, codes)
    return api.register(pa.Table.from_pandas(pairs, preserve_index=False))  # its Arrow columns as they are


def coded_blocked_pairs(
    frame: pd.DataFrame,
    id_columns: list[str],
    cfg: ResolveSettings,
    prep: pd.DataFrame,
    incremental: bool,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> pd.DataFrame:
    """blocked_pairs_sql's pairs, the same set, made on integer keys: each rule is one DuckDB hash join
    on its key's code (blocking_codes) giving pair numbers (l._n * size + r._n), made distinct (lowest
    rule first) and checked for distance in numpy; only the pairs left get their text ids. id_columns:
    the columns of Splink's composite id (source dataset, unique id), joined by its separator. codes:
    rule_codes' cache of the column codes (frame's rows in prep's order)."""
    from splink.internals.unique_id_concat import CONCAT_SEPARATOR

    rules = active_blocking_rules(cfg, prep) or [("record_id",)]
    link_only = link_type_for(prep, cfg) == "link_only"
    size = len(frame) + 1
    max_km = cfg.max_match_km if _has_coordinates(prep) else None
    uid = frame[id_columns[0]].astype(str)
    for column in id_columns[1:]:
        uid = uid + CONCAT_SEPARATOR + frame[column].astype(str)
    uids = uid.to_numpy(dtype=object)
    # _n follows the composite id (join_key_l < join_key_r): text_order is its code-point order.
    order = text_order(uids)
    uids = uids[order]
    table = blocking_codes(frame, rules, codes, cfg.max_block_size).iloc[order].reset_index(drop=True)
    # In _n order, for the SQL's cheap check and numpy's deciding one.
    addresses = [c[order] for c in same_address_codes(frame, codes)] if max_km is not None else []
    for i, code in enumerate(addresses):
        table[f"_a{i}"] = code
    table["_n"] = np.arange(1, len(table) + 1, dtype=np.int64)
    selects = []
    for key in range(len(rules)):
        where = ["l._n < r._n"]
        if link_only:
            where.append("l.provider <> r.provider")
        if incremental:
            where.append(f"(l.{BATCH_COLUMN} = 1 or r.{BATCH_COLUMN} = 1)")
        if max_km is not None:
            # A cheap bound first (the distance is at least R x the latitude gap), then the distance with
            # a hair of slack: a chain's branches in one ZIP area are millions of far pairs, which are best
            # never fetched. numpy's check below stays the one that decides.
            same = " or ".join(f"l._a{i} = r._a{i}" for i in range(len(addresses)))
            where.append(
                f"(not l._geo or not r._geo or (abs(l.lat - r.lat) <= {_max_lat_gap(max_km + 1e-6)!r} "
                f"and {_sql_km('l', 'r')} <= {(max_km + 1e-6) * 1.001 + 1e-3!r}) or {same})"
            )
        selects.append(
            f"select {key} as match_key, l._n * {size} + r._n as pair from numbered as l "
            f"inner join numbered as r on l._k{key} = r._k{key} where {' and '.join(where)}"
        )
    con = _duckdb(cfg)
    try:
        con.register("numbered", table)
        # One rule at a time: a union of all of them builds every rule's hash table at once.
        found = [con.execute(sql).fetchnumpy() for sql in selects]
    finally:
        con.close()
    match_key = np.concatenate([np.asarray(f["match_key"], dtype=np.int64) for f in found])
    pair = np.concatenate([np.asarray(f["pair"], dtype=np.int64) for f in found])
    del found
    by_pair = np.lexsort((match_key, pair))  # by pair, then the lowest rule first
    pair, match_key = pair[by_pair], match_key[by_pair]
    first = np.ones(len(pair), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    pair, match_key = pair[first], match_key[first]
    left, right = pair // size - 1, pair % size - 1  # 0-based positions in _n order
    if max_km is not None:
        lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)[order]
        lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)[order]
        km = haversine_km_np(lat[left], lon[left], lat[right], lon[right])
        keep = np.isnan(km) | (km <= max_km + 1e-6)
        keep |= share_address(addresses, left, right)
        left, right, match_key = left[keep], right[keep], match_key[keep]
    # Arrow, not Python strings: a million pairs' ids are ~40 MB as Arrow text, ~150 MB as str objects.
    import pyarrow as pa

    text = pa.array(uids, type=pa.string())
    keys = pa.array([str(k) for k in range(len(rules))], type=pa.string())
    return pd.DataFrame(
        {
            "match_key": _arrow_text(keys.take(pa.array(match_key))),
            "join_key_l": _arrow_text(text.take(pa.array(left))),
            "join_key_r": _arrow_text(text.take(pa.array(right))),
        }
    )


def _arrow_text(values: Any) -> pd.Series:
    """An Arrow string array as a pandas column without copying it to Python strings."""
    import pyarrow as pa

    return pd.Series(values, dtype=pd.ArrowDtype(pa.string()))


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _prediction_sql(table: str, settings: Mapping[str, Any]) -> str:
    """The columns of Splink's predictions this module reads (ids, probability, gamma_* levels), not the
    matching columns of both records that come with them: a fraction of the rows' size to fetch."""
    columns = [
        "record_id_l", "record_id_r", "match_probability",
        *(f"gamma_{c['output_column_name']}" for c in settings.get("comparisons", [])),
    ]  # fmt: skip
    if not all(_IDENTIFIER.fullmatch(c) for c in columns):  # names that would need quoting: all columns
        return f"select * from {table}"
    return f"select {', '.join(columns)} from {table}"


def _splink_input(frame: pd.DataFrame, cfg: ResolveSettings) -> pd.DataFrame:
    """The columns Splink reads on DuckDB: ids, compared columns, EM's blocking columns, the batch flag.
    The prediction blocking is ours (coded_blocked_pairs), so its keys stay out of Splink's tables
    (the input it copies per phase, EM's comparison vectors, predict's two pruned inputs). Spark blocks
    in SQL on the table and keeps every column."""
    if cfg.backend == "spark":
        return frame
    wanted = {"record_id", "provider", BATCH_COLUMN, *cfg.extra_columns}
    wanted.update(c for spec in all_comparisons(cfg) for c in spec.columns)
    wanted.update(c for cols in cfg.em_blocking_rules for c in cols)
    return frame[[c for c in frame.columns if c in wanted or c.startswith(EM_BLOCK.format(""))]]


# Splink retains the columns of the prediction rules in every comparison table; on DuckDB the rules are
# never run (the blocked pairs are registered), so the linkers get this one instead of them.
_ID_RULE = [{"blocking_rule": "l.record_id = r.record_id", "sql_dialect": "duckdb"}]


def _for_linker(settings: Mapping[str, Any], cfg: ResolveSettings) -> dict[str, Any]:
    """The settings a DuckDB linker runs with: the prediction rules as _ID_RULE (see _splink_input)."""
    out = dict(settings)
    if cfg.backend != "spark":
        out["blocking_rules_to_generate_predictions"] = _ID_RULE
    return out


def splink_pairs(
    prep: pd.DataFrame,
    cfg: ResolveSettings = ResolveSettings(),
    spark: Any = None,
    *,
    model: Mapping[str, Any] | None = None,
    new_record_ids: Collection[str] | None = None,
    codes: dict[str, tuple[np.ndarray, int]] | None = None,
) -> tuple[pd.DataFrame, str, dict[str, Any] | None]:
    """Score candidate pairs with Splink: pairs above the threshold, how the model came about ("em",
    "priors", "model" when given one, "none") and the model as a JSON-ready dict (to pass back later).
    codes: rule_codes' cache of prep's column codes, shared between the passes (filled here if empty)."""
    empty = pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float})
    link_type = link_type_for(prep, cfg)
    if len(prep) < 2 or (prep["provider"].nunique() < 2 and link_type == "link_only"):
        return empty, "none", dict(model) if model is not None else None
    if model is None and not active_comparisons(cfg, prep):
        # Every compared column is empty or holds one value: nothing tells pairs apart (Splink would
        # fail on a model of no comparisons). Deterministic and identical pairs still stand.
        logger.warning("no column tells these records apart (each is empty or one value): Splink skipped")
        return empty, "none", None
    incremental = new_record_ids is not None
    new = set(new_record_ids or ())
    frame = model_frame(prep, cfg)
    points = _placeholder_points(frame, model)
    batch = prep["record_id"].isin(new).to_numpy() if incremental else np.ones(len(prep), dtype=bool)
    frame[BATCH_COLUMN] = batch.astype(np.int64)
    # Training sees each set of copies once (see distinct_rows); with none, it trains on the scoring table.
    kept = distinct_rows(_splink_input(frame, cfg), link_type) if model is None else None
    train_prep, train_codes = (prep, codes) if kept is None else (prep.iloc[kept].reset_index(drop=True), {})
    flags = em_block_flags(train_prep, cfg, train_codes) if model is None else {}
    train_frame = frame if kept is None else frame.iloc[kept].reset_index(drop=True)
    for i, flag in flags.items():
        train_frame[EM_BLOCK.format(i)] = flag
    api = db_api(cfg, spark)
    table = api.register(_backend_table(_splink_input(frame, cfg), cfg, spark))
    train_table = (
        table if kept is None else api.register(_backend_table(_splink_input(train_frame, cfg), cfg, spark))
    )
    if model is not None:
        settings, tf_tables = _score_model(model, prep, cfg, incremental)
        training = "model"
    else:
        trainable = cfg.training == "em" and len(prep) >= cfg.min_records_for_em
        prior = (
            estimated_match_probability(train_prep, cfg, codes=train_codes)
            if trainable
            else prior_match_probability(prep, cfg)
        )
        creator = splink_settings(cfg, prior, term_frequencies=True, prep=prep, incremental=incremental)
        priors_dict = creator.create_settings_dict(api.sql_dialect.sql_dialect_str)
        settings, training = priors_dict, "priors"
        if trainable:
            try:
                trainer = Linker(train_table, _for_linker(priors_dict, cfg), log_level=cfg.splink_log_level)
                trained = _train(trainer, cfg, train_prep, train_codes, flags.keys())
            except SplinkException as exc:  # degenerate data (one value everywhere): the priors still hold
                logger.warning("Splink training failed (%s); scoring with the prior weights", exc)
                trained = None
            finally:
                # Training's tables (u samples, comparison vectors) are not the scoring's: freed before it.
                api.delete_tables_created_by_splink_from_db()
            if trained:
                guarded = guard_model(
                    regularize(trained, cfg.m_floor), priors_dict, cfg.extra_columns, cfg.m_floor
                )
                settings, training = guarded, "em"
                settings["blocking_rules_to_generate_predictions"] = priors_dict[
                    "blocking_rules_to_generate_predictions"
                ]
        tf_tables = term_frequency_tables(prep, cfg)
    # The model keeps its own prediction rules (Splink's form of them), whatever the linker ran with.
    rules = [
        {"blocking_rule": r["blocking_rule"], "sql_dialect": api.sql_dialect.sql_dialect_str}
        for r in settings["blocking_rules_to_generate_predictions"]
    ]
    linker = Linker(table, _for_linker(settings, cfg), log_level=cfg.splink_log_level)
    for column, freqs in tf_tables.items():
        tf_frame = pd.DataFrame({column: list(freqs), f"tf_{column}": list(freqs.values())})
        if tf_frame.empty:
            tf_frame = pd.DataFrame({column: ["\x00"], f"tf_{column}": [1.0]})
        linker.table_management.register_term_frequency_lookup(
            api.register(_backend_table(tf_frame, cfg, spark)), column
        )
    linker.table_management.register_blocked_pairs_for_predict(
        _blocked_pairs(linker, api, table, frame, cfg, prep, incremental, spark, codes)
    )
    try:
        predicted = linker.inference.predict(
            threshold_match_probability=cfg.match_threshold, warning_mode="never"
        )
        predictions = linker.misc.query_sql(_prediction_sql(predicted.physical_name, settings), "pandas")
        saved = linker.misc.save_model_to_json()
    finally:
        # A long-lived Spark session would otherwise keep every intermediate view of every run.
        linker.table_management.delete_tables_created_by_splink_from_db()
    saved["blocking_rules_to_generate_predictions"] = rules
    saved[MODEL_KEY] = {"version": 1, "term_frequencies": tf_tables, PLACEHOLDER_POINTS: points}
    if predictions.empty:
        return empty, training, saved
    return _ordered_pairs(predictions, model_rules(predictions, cfg)), training, saved
