"""Golden records: one row per lead, each field group from its most trusted record, with provenance.

Vectorised: records are sorted once by lead, then record_id, and every choice and aggregate is a numpy
group operation over that order. Python runs per lead only to cut its lists and join its provenance.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LEAD_COLUMNS = [
    "lead_id", "name", "name_norm", "website", "domain", "phone_e164", "phone_is_toll_free",
    "address_line1", "city", "region", "postal", "country", "lat", "lon", "rating", "review_count",
    "categories", "providers", "source_record_ids", "source_count", "provenance",
]  # fmt: skip


def default_field_confidence() -> dict[str, dict[str, float]]:
    """Per golden field group and provider, how much a provider is trusted (its connector spec says)."""
    from leadlake.connectors.registry import connectors

    out: dict[str, dict[str, float]] = {}
    for spec in connectors("discovery"):
        for group, value in spec.field_confidence.items():
            out.setdefault(group, {})[spec.name] = value
    return out


UNKNOWN_PROVIDER_CONFIDENCE = 0.5

# Golden field groups: the fields of a group come from one record, so an address is never a mix.
FIELD_GROUPS: Mapping[str, tuple[str, ...]] = {
    "name": ("name", "name_norm"),
    "website": ("website", "domain"),
    "phone": ("phone_e164", "phone_is_toll_free"),
    "address": ("address_line1", "city", "region", "postal", "country"),
    "geo": ("lat", "lon"),
}
# Aggregated fields: every contributing provider is in the provenance, after the field groups.
AGGREGATES = ("rating", "review_count", "categories")

Confidence = Mapping[str, Mapping[str, float]]

_READ_COLUMNS = frozenset(
    {"record_id", "lead_id", "provider", "rating", "review_count", "categories"}.union(*FIELD_GROUPS.values())
)

# Object columns holding only these types need no per-value boxing: a value is what to_dict gives.
_PLAIN_TYPES = frozenset({str, float, int, bool, type(None)})


class _Column(NamedTuple):
    """One record column as the golden row reads it."""

    present: np.ndarray  # bool per record: not None, NaN or blank text
    values: np.ndarray  # object per record: the plain Python value, None where not present
    numbers: np.ndarray | None  # the numeric column itself (bool, int, float dtypes), for arithmetic


def _present(value: object) -> bool:
    """False for None, NaN and blank text."""
    if value is None:
        return False
    if isinstance(value, float) and value != value:
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return True


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array of `values`, even when they are sequences themselves."""
    return np.fromiter(values, dtype=object, count=len(values))


def _boxed(series: pd.Series) -> tuple[np.ndarray, bool]:
    """(the values as the records' to_dict gives them, whether all are str/float/int/bool/None)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return series.to_numpy().astype(object), True  # Python scalars, as iteration gives them
    raw = series.to_numpy()
    if isinstance(dtype, np.dtype) and dtype.kind == "O" and set(map(type, raw)) <= _PLAIN_TYPES:
        return raw, True
    # numpy scalars in objects, extension dtypes: box each value as to_dict does (pd.NA to None).
    boxed = _objects(series.to_frame(name="v").to_dict("list")["v"])
    return boxed, set(map(type, boxed)) <= _PLAIN_TYPES


def _column(frame: pd.DataFrame, name: str) -> _Column:
    """The column's presence and plain values (numpy scalars as Python, None if missing); no column: None."""
    n = len(frame)
    if name not in frame.columns:
        return _Column(np.zeros(n, dtype=bool), np.full(n, None, dtype=object), None)
    series = frame[name]
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        numbers = series.to_numpy()
        present = ~np.isnan(numbers) if dtype.kind == "f" else np.ones(n, dtype=bool)
        values = numbers.astype(object)  # Python scalars, as the records' to_dict gives them
        values[~present] = None
        return _Column(present, values, numbers)
    boxed, plain_types = _boxed(series)
    if plain_types:
        # Among these types only None and float NaN are NA; blank text is the one Python-level test.
        present = ~pd.isna(boxed)
        present &= ~np.fromiter(((type(v) is str and (not v or v.isspace())) for v in boxed), bool, n)
        values = boxed.copy()
        values[~present] = None
        return _Column(present, values, None)
    present = np.fromiter((_present(v) for v in boxed), bool, n)
    plain = [
        (v.item() if hasattr(v, "item") else v) if p else None for v, p in zip(boxed, present, strict=True)
    ]
    return _Column(present, _objects(plain), None)


def _ints(column: _Column, mask: np.ndarray, *, missing_as_zero: bool) -> np.ndarray:
    """int(value) of the masked records (truncating floats); with missing_as_zero, missing counts as 0."""
    numbers = column.numbers
    if numbers is not None and numbers.dtype.kind in "biu":
        return numbers[mask].astype(np.int64)
    if numbers is not None:
        picked = numbers[mask]
        known = ~np.isnan(picked)
        if np.all(np.abs(picked[known]) < 2.0**53):
            return np.where(known, np.trunc(np.where(known, picked, 0.0)), 0.0).astype(np.int64)
    values = column.values[mask]
    return np.array([int(v or 0) if missing_as_zero else int(v) for v in values], dtype=np.int64)


def _floats(column: _Column, mask: np.ndarray) -> np.ndarray:
    """float(value) of the masked records."""
    if column.numbers is not None:
        return column.numbers[mask].astype(np.float64)
    return np.array([float(v) for v in column.values[mask]], dtype=np.float64)


def _starts(codes: np.ndarray) -> np.ndarray:
    """Where each run of equal codes begins in a sorted code array."""
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, dtype=np.int64)


def _ordered_sums(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Per group, 0 + v1 + v2 + ... left to right as Python 3.11's sum() adds (numpy's sums are pairwise,
    pandas' compensated: either can differ in the last bit, and so in a rounded rating).

    `codes` is sorted; one vectorised step adds every group's k-th value, so steps = the largest group.
    """
    sums = np.zeros(groups, dtype=np.float64)
    if not len(codes):
        return sums
    starts = _starts(codes)
    rank = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        step = by_rank[lo:hi]  # at most one value per group: plain fancy-index addition is exact
        sums[codes[step]] += values[step]
    return sums


def _per_lead(lead_of_item: np.ndarray, items: list[Any], leads: int) -> list[list[Any]]:
    """Items (sorted by lead) cut into one list per lead; a lead without items gets []."""
    bounds = np.searchsorted(lead_of_item, np.arange(leads + 1)).tolist()
    return [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _python_order(values: np.ndarray) -> np.ndarray:
    """Indices that sort `values` as Python's sorted() does (stable)."""
    if len(values) > 1 and set(map(type, values)) == {str}:
        try:
            text = pa.array(values, type=pa.string())
        except (UnicodeEncodeError, pa.ArrowException):  # e.g. a lone surrogate: no UTF-8 for it
            pass
        else:
            # UTF-8 byte order is code point order, which is how Python compares str; Arrow's is a C sort.
            return pc.sort_indices(text).to_numpy()
    return np.array(sorted(range(len(values)), key=values.__getitem__), dtype=np.int64)


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per value, distinct values in sorted order): codes number the values in sorted order."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = _python_order(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct keys (np.unique, but by sorting: its hash path is slower on int keys)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _pairs(lead: np.ndarray, code: np.ndarray, mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (lead, code) pairs of the masked records, sorted by lead, then code."""
    keys = _unique(lead[mask] * width + code[mask])
    return keys // width, keys % width


def _category_lists(joined: pd.DataFrame) -> list[Any]:
    """Each record's categories as its to_dict gives them (a sequence, or None); no column: all None."""
    if "categories" not in joined.columns:
        return [None] * len(joined)
    series = joined["categories"]
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "O":
        na = pd.NA
        return [None if c is na else c for c in series.to_numpy()]  # to_dict boxes only pd.NA here
    return series.to_frame(name="v").to_dict("list")["v"]


def _choose(
    columns: Mapping[str, _Column], lead_code: np.ndarray, provider_code: np.ndarray,
    providers: np.ndarray, confidence: Confidence, leads: int,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Per field group, each lead's chosen record (-1: none has the group's lead field).

    The most trusted record with the lead field present wins; then the most complete; then the smallest
    record_id, which is the smallest position since records are sorted by lead, then record_id."""
    completeness = np.sum([c.present for c in columns.values()], axis=0, dtype=np.int64)
    position = np.arange(len(lead_code))
    chosen: dict[str, np.ndarray] = {}
    for group, fields in FIELD_GROUPS.items():
        trust = confidence.get(group, {})
        trusted = np.array([float(trust.get(p, UNKNOWN_PROVIDER_CONFIDENCE)) for p in providers])
        (candidates,) = np.nonzero(columns[fields[0]].present)
        keys = (position[candidates], -completeness[candidates], -trusted[provider_code[candidates]])
        ranked = candidates[np.lexsort((*keys, lead_code[candidates]))]
        best = ranked[_starts(lead_code[ranked])]
        chosen[group] = np.full(leads, -1, dtype=np.int64)
        chosen[group][lead_code[best]] = best
    return chosen


def _ratings(rating: _Column, review_count: _Column, lead_code: np.ndarray, leads: int) -> list[float | None]:
    """Each lead's mean rating weighted by review count (plain mean when no reviews), to 3 places."""
    rated = rating.present
    rated_leads = lead_code[rated]
    ratings = _floats(rating, rated)
    weights = np.maximum(_ints(review_count, rated, missing_as_zero=True), 0)
    starts = _starts(rated_leads)
    total = np.zeros(leads, dtype=np.int64)
    if len(starts):
        total[rated_leads[starts]] = np.add.reduceat(weights, starts)
    count = np.bincount(rated_leads, minlength=leads)
    weighted = _ordered_sums(rated_leads, ratings * weights, leads) / np.maximum(total, 1)
    plain = _ordered_sums(rated_leads, ratings, leads) / np.maximum(count, 1)
    mean = np.where(total > 0, weighted, plain).tolist()
    # Python's round (correctly rounded decimal), not numpy's (scaled rint): they differ on some values.
    return [round(m, 3) if c else None for m, c in zip(mean, count.tolist(), strict=True)]


def _review_counts(review_count: _Column, lead_code: np.ndarray, leads: int) -> list[int | None]:
    """Each lead's largest review count; None when no record has one."""
    counted_leads = lead_code[review_count.present]
    starts = _starts(counted_leads)
    out: list[int | None] = [None] * leads
    if len(starts):
        maxima = np.maximum.reduceat(_ints(review_count, review_count.present, missing_as_zero=False), starts)
        for lead, value in zip(counted_leads[starts].tolist(), maxima.tolist(), strict=True):
            out[lead] = value
    return out


def _categories(lists: list[Any], lead_code: np.ndarray, leads: int) -> list[list[str]]:
    """Each lead's sorted union of its records' categories (as text)."""
    counts = np.fromiter((0 if c is None else len(c) for c in lists), np.int64, len(lists))
    flat = list(chain.from_iterable(c for c in lists if c is not None))
    if set(map(type, flat)) - {str}:
        flat = [str(c) for c in flat]
    code, names = _sorted_codes(np.array(flat, dtype=object))
    width = max(len(names), 1)
    keys = _unique(np.repeat(lead_code, counts) * width + code)
    return _per_lead(keys // width, names[keys % width].tolist(), leads)


def _provenance(
    entries: list[tuple[np.ndarray, int, np.ndarray]],
    providers: np.ndarray,
    confidence: Confidence,
    leads: int,
) -> list[str]:
    """Each lead's provenance JSON: its (lead, section, provider code) entries, by section, then provider.

    Equal to json.dumps(list of entries, sort_keys=True): each distinct entry is encoded once."""
    names = [*FIELD_GROUPS, *AGGREGATES]
    texts = [
        json.dumps(
            {
                "field": name,
                "provider": provider,
                "confidence": confidence.get(name, {}).get(provider, UNKNOWN_PROVIDER_CONFIDENCE),
            },
            sort_keys=True,
        )
        for name in names
        for provider in providers.tolist()
    ]
    # Every entry as a lead's first, then as a later one (after ", "), and their lengths.
    table = np.array([*texts, *(", " + t for t in texts)], dtype=object)
    lengths = np.array([len(t) for t in table], dtype=np.int64)
    lead = np.concatenate([e[0] for e in entries])
    section = np.concatenate([np.full(len(e[0]), e[1]) for e in entries])
    code = np.concatenate([e[2] for e in entries])
    order = np.lexsort((code, section, lead))
    lead, entry = lead[order], section[order] * len(providers) + code[order]
    entry[1:] += len(texts) * (lead[1:] == lead[:-1])
    # One string of all leads' entries, sliced per lead: no list per lead to build.
    text = "".join(table[entry].tolist())
    bounds = np.r_[0, np.cumsum(lengths[entry])][np.searchsorted(lead, np.arange(leads + 1))].tolist()
    return ["[" + text[lo:hi] + "]" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _check_one_to_one(records: pd.DataFrame, links: pd.DataFrame) -> None:
    """merge(validate="one_to_one")'s check and error, by hashing (pandas' own check cost seconds)."""
    left, right = (frame["record_id"].duplicated().any() for frame in (records, links))
    if left or right:
        where = "either left or right" if left and right else "left" if left else "right"
        raise pd.errors.MergeError(f"Merge keys are not unique in {where} dataset; not a one-to-one merge")


def _frame_column(values: list[Any] | np.ndarray) -> Any:
    """A column for pd.DataFrame: what it infers from the list `values`, built without its per-value copy.

    Text (with None), lists, floats (with None) and bools are built here; any other mix goes as a list
    and pandas infers its dtype as it always did."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    column = values if isinstance(values, np.ndarray) else _objects(values)
    kinds = set(map(type, column)) - {type(None)}
    if kinds <= {str} or kinds == {list}:  # pandas leaves these objects as they are
        return column
    if kinds == {float}:  # float64, NaN for None
        missing = pd.isna(column)
        floats = np.full(len(column), np.nan)
        floats[~missing] = column[~missing].astype(np.float64)
        return floats
    if kinds == {bool} and not pd.isna(column).any():
        return column.astype(bool)
    return column.tolist()


def build_leads(
    records: pd.DataFrame, links: pd.DataFrame, confidence: Confidence | None = None
) -> pd.DataFrame:
    """One golden row per lead: per field group the most trusted non-null value, with provenance."""
    if records.empty:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    confidence = default_field_confidence() if confidence is None else confidence
    with _collector_paused():
        return _build_leads(records, links, confidence)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the lists built per lead (none of them cyclic) would wake it
    every 700 lists to walk the heap, a third of build_leads' time at 300k records."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_leads(records: pd.DataFrame, links: pd.DataFrame, confidence: Confidence) -> pd.DataFrame:
    """build_leads on non-empty records."""
    _check_one_to_one(records, links)
    # Only the columns a golden row reads go through the merge and sorts (lead_id too: a records column
    # of that name collides with the link's, as it always did).
    joined = records[[c for c in records.columns if c in _READ_COLUMNS]].merge(
        links[["record_id", "lead_id"]], on="record_id", how="inner"
    )
    if len(joined) != len(records):
        raise ValueError("every record needs exactly one link")
    lead_values, provider_values = _boxed(joined["lead_id"])[0], _boxed(joined["provider"])[0]
    for name, values in (("links.lead_id", lead_values), ("records.provider", provider_values)):
        if pd.isna(values).any():
            raise ValueError(f"{name} is missing for some records: give every record one")
    lead_code, lead_ids = _sorted_codes(lead_values)
    record_rank = np.empty(len(joined), dtype=np.int64)
    record_rank[_python_order(_boxed(joined["record_id"])[0])] = np.arange(len(joined))
    # Records grouped by lead (in lead_id order), in record_id order inside a lead: the lead's members.
    order = np.lexsort((record_rank, lead_code))
    joined = joined.take(order).reset_index(drop=True)
    lead_code = lead_code[order]
    provider_code, providers = _sorted_codes(provider_values[order])
    leads = len(lead_ids)

    columns = {f: _column(joined, f) for fields in FIELD_GROUPS.values() for f in fields}
    chosen = _choose(columns, lead_code, provider_code, providers, confidence, leads)
    out: dict[str, Any] = {"lead_id": lead_ids}
    entries: list[tuple[np.ndarray, int, np.ndarray]] = []  # (lead, provenance section, provider code)
    for section, (group, fields) in enumerate(FIELD_GROUPS.items()):
        has = chosen[group] >= 0
        rows = chosen[group][has]
        for f in fields:
            picked = np.full(leads, None, dtype=object)
            picked[has] = columns[f].values[rows]
            out[f] = picked
        entries.append((np.flatnonzero(has), section, provider_code[rows]))
    out["phone_is_toll_free"] = [
        bool(toll) if phone else False
        for phone, toll in zip(out["phone_e164"], out["phone_is_toll_free"], strict=True)
    ]

    rating, review_count = _column(joined, "rating"), _column(joined, "review_count")
    out["rating"] = _ratings(rating, review_count, lead_code, leads)
    out["review_count"] = _review_counts(review_count, lead_code, leads)
    lists = _category_lists(joined)
    out["categories"] = _categories(lists, lead_code, leads)
    with_categories = np.fromiter((c is not None and len(c) > 0 for c in lists), bool, len(lists))
    for section, mask in enumerate(
        (rating.present, review_count.present, with_categories), len(FIELD_GROUPS)
    ):
        lead, code = _pairs(lead_code, provider_code, mask, len(providers))
        entries.append((lead, section, code))
    lead, code = _pairs(lead_code, provider_code, np.ones(len(joined), dtype=bool), len(providers))
    out["providers"] = _per_lead(lead, providers[code].tolist(), leads)
    out["source_record_ids"] = _per_lead(lead_code, _boxed(joined["record_id"])[0].tolist(), leads)
    out["source_count"] = np.bincount(lead_code, minlength=leads).astype(np.int64)
    out["provenance"] = _provenance(entries, providers, confidence, leads)
    frame = pd.DataFrame({name: _frame_column(out[name]) for name in LEAD_COLUMNS}, columns=LEAD_COLUMNS)
    return frame.astype({"source_count": "int64", "phone_is_toll_free": bool})
