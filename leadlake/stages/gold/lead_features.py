"""gold.lead_features: the model's inputs, one row per lead and feature-set version, computed once.

Gold builds the rows from what it joined for scoring (silver lead columns, enrichment, the campaign a lead
is scored under and that campaign's areas) with the feature set's own code (leadlake.ml.spec), publishes
them with a Delta MERGE on (lead_id, feature_set_version), and scores those very rows; training and
`leadlake score` read them back from the table. One function makes them, so what a model was trained on and
what it scores are computed the same way (no train/serve skew).

The table is wide: the union of every registered feature set's columns (a row fills its own set's), numeric
features as float64, categorical ones as strings and multi-valued ones as lists of strings, so a new feature
set adds columns, not a table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, GOLD_LEAD_FEATURES, GOLD_SCORED_LEADS, SILVER_LEADS

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec
    from leadlake.lakehouse import Lakehouse
    from leadlake.ml.spec import FeatureSet

log = logging.getLogger("leadlake.stages.gold.lead_features")

KEYS = ["lead_id", "feature_set_version"]
STAMPS = ["run_id", "computed_at"]  # which run computed a row, and when: not a change of its values


def feature_columns() -> dict[str, pa.DataType]:
    """Every registered feature set's columns with their Arrow types (numeric float64, categorical string)."""
    from leadlake.ml.spec import FEATURE_SETS

    out: dict[str, pa.DataType] = {}
    for fs in FEATURE_SETS.values():
        out = _add(out, fs)
    return out


def _add(cols: dict[str, pa.DataType], fs: FeatureSet) -> dict[str, pa.DataType]:
    """`cols` plus the feature set's columns it lacks (numeric float64, categorical string, multi a list)."""
    out = dict(cols)
    for name in fs.numeric:
        out.setdefault(name, pa.float64())
    for name in fs.categorical:
        out.setdefault(name, pa.string())
    for name in getattr(fs, "multi", ()):
        out.setdefault(name, pa.list_(pa.string()))
    return out


def features_schema(extra: Iterable[FeatureSet] = ()) -> pa.Schema:
    """gold.lead_features: keys, the features of every registered set (and of `extra` sets), provenance."""
    cols = feature_columns()
    for fs in extra:
        cols = _add(cols, fs)
    return pa.schema(
        [
            ("lead_id", pa.string()),
            ("feature_set_version", pa.string()),
            *cols.items(),
            ("scored_campaign_id", pa.string()),  # whose areas distance_km was measured to
            ("run_id", pa.string()),
            ("computed_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def lead_features(
    leads: pd.DataFrame,
    campaigns: Mapping[str, CampaignSpec],
    feature_sets: Iterable[FeatureSet],
    run_id: str,
    computed_at: datetime | None = None,
) -> pd.DataFrame:
    """gold.lead_features rows for `leads` (gold's joined rows: silver + enrichment + scored_campaign_id),
    one per lead and feature set, in the table's column order."""
    from leadlake.ml.spec import build_features, with_context

    sets = list(dict.fromkeys(feature_sets))
    schema = features_schema(sets)
    at = pd.Timestamp(computed_at or datetime.now(UTC))
    context = with_context(leads.reset_index(drop=True), campaigns)  # distance_km to the campaign's areas
    parts = []
    for fs in sets:
        feats = build_features(context, fs)
        feats["feature_set_version"] = fs.version
        feats["scored_campaign_id"] = (
            context["scored_campaign_id"] if "scored_campaign_id" in context else None
        )
        parts.append(feats)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["lead_id"])
    for f in schema:
        if f.name not in out.columns:
            dtype = "float64" if pa.types.is_floating(f.type) else object
            out[f.name] = pd.Series([None] * len(out), dtype=dtype)
    out["run_id"] = run_id
    out["computed_at"] = at
    return out[schema.names]


def to_arrow(frame: pd.DataFrame, feature_sets: Iterable[FeatureSet] = ()) -> pa.Table:
    """Feature rows as an Arrow table of the table's schema."""
    schema = features_schema(feature_sets)
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def read_features(
    lake: Lakehouse, feature_set: FeatureSet, lead_ids: Iterable[str] | None = None
) -> tuple[pd.DataFrame, int | None]:
    """The feature set's rows of gold.lead_features (of `lead_ids` when given) and the table version read;
    an empty frame and None when the table does not exist."""
    if not lake.exists(GOLD_LEAD_FEATURES):
        return pd.DataFrame(columns=["lead_id", *feature_set.columns]), None
    version = int(lake.version(GOLD_LEAD_FEATURES))
    table = lake.read(
        GOLD_LEAD_FEATURES, version=version, filter=f"feature_set_version = '{_quote(feature_set.version)}'"
    )
    frame = table.to_pandas()
    if lead_ids is not None:
        frame = frame[frame["lead_id"].isin(set(lead_ids))]
    for name in feature_set.columns:  # a set added after the table was written: its new columns are missing
        if name not in frame.columns:
            frame[name] = None
    return frame[["lead_id", *feature_set.columns]].reset_index(drop=True), version


def _quote(value: str) -> str:
    return value.replace("'", "''")


def load_campaigns(lake: Lakehouse) -> dict[str, Any]:
    """Every campaign spec ingestion recorded in bronze.campaigns, by id."""
    from leadlake.core.campaign import CampaignSpec

    if not lake.exists(BRONZE_CAMPAIGNS):
        return {}
    rows = lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist()
    return {r["campaign_id"]: CampaignSpec.model_validate_json(r["spec"]) for r in rows}


def publish_features(lake: Lakehouse, frame: pd.DataFrame, feature_sets: Iterable[FeatureSet] = ()) -> int:
    """MERGE feature rows into gold.lead_features on (lead_id, feature_set_version) with delta-rs; the new
    table version."""
    return lake.merge(GOLD_LEAD_FEATURES, to_arrow(frame, feature_sets), KEYS, ignore_columns=STAMPS).version


def gold_context(lake: Lakehouse, gold: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gold's rows (read, unless given) plus the silver columns gold does not carry: what lead features and
    the rules are computed from."""
    gold = lake.read(GOLD_SCORED_LEADS).to_pandas() if gold is None else gold
    if lake.exists(SILVER_LEADS):
        silver = lake.read(SILVER_LEADS).to_pandas()
        extra = ["lead_id", *(c for c in silver.columns if c not in gold.columns)]
        gold = gold.merge(silver[extra], on="lead_id", how="left")
    return gold


def ensure_features(lake: Lakehouse, feature_set: FeatureSet, run_id: str) -> pd.DataFrame:
    """gold.lead_features rows of `feature_set` for every lead of gold.scored_leads: those in the table, and
    for leads it lacks (a lakehouse gold built before the table existed, a feature set new since) rows
    computed from gold's rows with the same code and published first, so they too are computed once."""
    gold_ids = set(lake.read(GOLD_SCORED_LEADS, columns=["lead_id"]).column("lead_id").to_pylist())
    have, _ = read_features(lake, feature_set)
    missing = gold_ids - set(have["lead_id"])
    if missing:
        context = gold_context(lake)
        context = context[context["lead_id"].isin(missing)]
        rows = lead_features(context, load_campaigns(lake), [feature_set], run_id)
        publish_features(lake, rows, [feature_set])
        log.info("computed %d missing %s rows of %s", len(rows), feature_set.version, GOLD_LEAD_FEATURES)
        have, _ = read_features(lake, feature_set)
    return have
