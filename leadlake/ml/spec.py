"""The model's inputs and its label, as data: which features a feature set reads and what counts as a win."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from leadlake.core.geo import nearest_km
from leadlake.core.normalize import is_toll_free


@dataclass(frozen=True)
class FeatureSet:
    """A versioned list of model inputs: numeric (bools count as 0/1), categorical (one value) and multi
    (a list of values, such as categories or detected technologies: one 0/1 input per known value)."""

    version: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    multi: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical, *self.multi)

    def asdict(self) -> dict[str, Any]:
        out = {"version": self.version, "numeric": list(self.numeric), "categorical": list(self.categorical)}
        return out | ({"multi": list(self.multi)} if self.multi else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSet:
        return cls(str(d["version"]), tuple(d["numeric"]), tuple(d["categorical"]), tuple(d.get("multi", ())))


# fs1: the silver lead columns gold carries, gold's enrichment features (leadlake.stages.gold.features
# FEATURE_TYPES, names copied here: ml sits below stages) and a few derived from them (DERIVED).
FS1 = FeatureSet(
    version="fs1",
    numeric=(
        "rating",
        "review_count",
        "source_count",
        "has_website",
        "has_domain",
        "has_phone",
        "phone_is_toll_free",
        "email_verified_domain",
        "has_address",
        "distance_km",  # to the nearest centre of the campaign's areas; gold computes it
        "employee_count",
        "founded_year",
        "tech_signal_count",
        "category_count",
    ),
    categorical=(
        "vertical",
        "primary_category",
        "employees_range",
        "industry",
        "company_status",
    ),
)
# fs2: fs1 with what a lead's outcome depends on and fs1 missed (measured by benchmarks/bench_score.py):
# every listed category and detected technology (fs1 kept only the first category, alphabetically often
# "establishment", and a count of technologies), and whether the website is a page of a larger site (a
# chain's location page), and which providers listed it (what a missing website or phone means depends
# on it: one provider never shows websites).
FS2 = FeatureSet(
    version="fs2",
    numeric=(
        "rating",
        "review_count",
        "source_count",
        "has_website",
        "has_domain",
        "website_has_path",
        "has_phone",
        "phone_is_toll_free",
        "email_verified_domain",
        "has_address",
        "distance_km",  # to the nearest area centre of the campaign the score follows: with_context()
        "employee_count",
        "founded_year",
        "tech_signal_count",
        "category_count",
    ),
    categorical=("vertical", "employees_range", "industry", "company_status"),
    multi=("categories", "tech_signals", "providers"),
)
FEATURE_SETS: dict[str, FeatureSet] = {FS1.version: FS1, FS2.version: FS2}
DEFAULT_FEATURE_SET = FS2

# How a feature a lead row does not carry is derived from one that it does: (kind, source column).
# present: 1.0 when the source holds a non-empty value; length: items in a list; first: its first item;
# path: 1.0 when a URL points below its site's root (0.0 at the root, missing without a URL); toll_free:
# 1.0 for a toll-free number as the adapters type it (a CRM export has the phone, seldom the flag).
DERIVED: dict[str, tuple[str, str]] = {
    "has_website": ("present", "website"),
    "website_has_path": ("path", "website"),
    "has_domain": ("present", "domain"),
    "has_phone": ("present", "phone_e164"),
    "phone_is_toll_free": ("toll_free", "phone_e164"),
    "has_address": ("present", "address_line1"),
    "tech_signal_count": ("length", "tech_signals"),
    "category_count": ("length", "categories"),
    "primary_category": ("first", "categories"),
}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return v is pd.NA or v is pd.NaT


def _items(v: Any) -> list[Any]:
    """A list value from Arrow (list), Spark's toPandas / mapInPandas (numpy array) or nothing."""
    if isinstance(v, list | tuple | np.ndarray):
        return [x for x in v if not _missing(x)]
    return []


def _derive(kind: str, values: pd.Series) -> pd.Series:
    if kind == "present":
        return values.map(lambda v: 0.0 if _missing(v) or v == "" else 1.0)
    if kind == "length":
        return values.map(lambda v: float(len(_items(v))))
    if kind == "first":
        return values.map(lambda v: str(_items(v)[0]) if _items(v) else None)
    if kind == "path":
        return values.map(_below_root)
    if kind == "toll_free":
        return values.map(lambda v: 0.0 if _missing(v) or not str(v).strip() else float(is_toll_free(str(v))))
    raise ValueError(f"unknown derivation {kind!r}")


def _below_root(url: Any) -> float:
    if _missing(url) or not str(url).strip():
        return np.nan
    path = urlsplit(str(url).strip() if "//" in str(url) else "//" + str(url).strip()).path
    return 1.0 if path.strip("/") else 0.0


def _multi(values: pd.Series) -> pd.Series:
    """Lists of non-empty strings (sorted, distinct); a missing list is an empty one."""
    return values.map(lambda v: sorted({str(x) for x in _items(v) if str(x) != ""})).astype("object")


def _numeric(values: pd.Series) -> pd.Series:
    """Floats; booleans (numpy, Python or object with None) become 0/1, anything else not a number NaN."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    return pd.to_numeric(values.map(lambda v: np.nan if _missing(v) else v), errors="coerce").astype(
        "float64"
    )


def campaign_distance_km(leads: pd.DataFrame, campaigns: Mapping[str, Any]) -> pd.Series:
    """`distance_km` per lead: from its lat/lon to the nearest area centre of the campaign its score follows
    (`scored_campaign_id`; any given campaign's when that is empty), NaN without coordinates or centres.
    `campaigns` maps campaign id -> a spec with `.areas` (each with `lat`, `lon`)."""
    out = pd.Series(np.nan, index=leads.index, dtype="float64", name="distance_km")
    if "lat" not in leads.columns or "lon" not in leads.columns or leads.empty:
        return out
    lat, lon = _numeric(leads["lat"]).to_numpy(), _numeric(leads["lon"]).to_numpy()
    centres = {
        cid: [(float(a.lat), float(a.lon)) for a in spec.areas if a.lat is not None and a.lon is not None]
        for cid, spec in campaigns.items()
    }
    every = [c for cs in centres.values() for c in cs]
    scored = leads.get("scored_campaign_id", pd.Series([None] * len(leads), index=leads.index))
    groups: dict[str | None, list[int]] = {}
    for pos, cid in enumerate(scored.tolist()):
        groups.setdefault(None if _missing(cid) else str(cid), []).append(pos)
    values = np.full(len(leads), np.nan)
    for cid, positions in groups.items():
        found = centres.get(cid) if cid is not None else None
        points = found if found else every
        if not points:
            continue
        idx = np.asarray(positions)
        c_lat, c_lon = np.array(points, dtype=float).T
        values[idx] = nearest_km(lat[idx], lon[idx], c_lat, c_lon)
    out[:] = values
    return out


def with_context(leads: pd.DataFrame, campaigns: Mapping[str, Any]) -> pd.DataFrame:
    """`leads` plus the campaign-context features a lead row does not carry (distance_km): what gold
    stores in its feature rows, so that training and scoring read the same value."""
    out = leads.copy()
    if "distance_km" not in out.columns or out["distance_km"].isna().all():
        out["distance_km"] = campaign_distance_km(out, campaigns)
    return out


def build_features(
    leads: pd.DataFrame, feature_set: FeatureSet = DEFAULT_FEATURE_SET, key: str = "lead_id"
) -> pd.DataFrame:
    """`key` plus the feature set's columns, taken from `leads` when present, else derived (DERIVED), else
    missing (NaN / None). Idempotent: building from built features changes nothing."""
    out = pd.DataFrame(index=leads.index)
    if key in leads.columns:
        out[key] = leads[key]
    for name in feature_set.columns:
        if name in leads.columns:
            col = leads[name]
        elif name in DERIVED and DERIVED[name][1] in leads.columns:
            kind, source = DERIVED[name]
            col = _derive(kind, leads[source])
        else:
            col = pd.Series([None] * len(leads), index=leads.index, dtype="object")
        if name in feature_set.numeric:
            out[name] = _numeric(col)
        elif name in feature_set.multi:
            out[name] = _multi(col)
        else:
            out[name] = col.map(lambda v: None if _missing(v) or v == "" else str(v)).astype("object")
    return out


@dataclass(frozen=True)
class LabelRule:
    """A lead is positive when it reached one of `positive_stages` within `within_days` of delivery."""

    name: str
    positive_stages: tuple[str, ...]
    within_days: int
    columns: Mapping[str, str] = field(
        default_factory=lambda: {
            "key": "lead_id",
            "stage": "stage",
            "stage_at": "stage_at",
            "delivered_at": "delivered_at",
        }
    )


QUALIFIED_OR_WON_90D = LabelRule("qualified_or_won_90d", ("qualified", "won"), 90)
WON_180D = LabelRule("won_180d", ("won",), 180)
LABEL_RULES: dict[str, LabelRule] = {r.name: r for r in (QUALIFIED_OR_WON_90D, WON_180D)}
DEFAULT_LABEL_RULE = QUALIFIED_OR_WON_90D


def label(outcomes: pd.DataFrame, rule: LabelRule = DEFAULT_LABEL_RULE) -> pd.Series:
    """1/0 per lead (a Series indexed by lead id, named after the rule) from its outcome rows: one row per
    stage a lead reached (lead id, stage, when it got there, when it was delivered). Stages compare
    case-insensitively; a stage reached before delivery counts (the lead was already warm)."""
    c = rule.columns
    if outcomes.empty:
        return pd.Series([], dtype="int64", name=rule.name, index=pd.Index([], name=c["key"]))
    stage = outcomes[c["stage"]].astype("string").str.strip().str.lower()
    wanted = {s.lower() for s in rule.positive_stages}
    reached = pd.to_datetime(outcomes[c["stage_at"]], utc=True)
    delivered = pd.to_datetime(outcomes[c["delivered_at"]], utc=True)
    in_time = (reached - delivered) <= pd.Timedelta(days=rule.within_days)
    hit = (stage.isin(wanted) & in_time.fillna(False)).astype("int64")
    out = hit.groupby(outcomes[c["key"]]).max().rename(rule.name)
    return out.astype("int64")


def labelled_rows(
    leads: pd.DataFrame, outcomes: pd.DataFrame, rule: LabelRule = DEFAULT_LABEL_RULE
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """train()'s inputs from leads (one row per lead id) and their outcome rows: the delivered leads'
    rows, their labels and their as_of time (first delivery), aligned by position, oldest first.
    Leads never delivered are left out: nobody judged them yet."""
    c = rule.columns
    if outcomes.empty:
        return (
            leads.iloc[:0].reset_index(drop=True),
            pd.Series([], dtype="int64"),
            pd.Series([], dtype=object),
        )
    delivered = pd.to_datetime(outcomes[c["delivered_at"]], utc=True).groupby(outcomes[c["key"]]).min()
    y = label(outcomes, rule)
    rows = leads[leads[c["key"]].isin(y.index)].copy()
    rows["__as_of"] = rows[c["key"]].map(delivered)
    rows = rows.sort_values(["__as_of", c["key"]], kind="stable").reset_index(drop=True)
    as_of = rows.pop("__as_of").rename("as_of")
    return rows, rows[c["key"]].map(y).astype("int64").rename(rule.name), as_of
