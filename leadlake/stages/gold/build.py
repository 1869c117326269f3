"""Gold: score every silver lead and publish gold.scored_leads, gold.lead_features and gold.score_drift.

Every lead is scored by the rules baseline (kept as `rules_score`); its feature rows (gold.lead_features,
one per feature set) are computed once from the same joined rows, and the MLflow champion, when there is
one, re-scores those rows partition by partition in Spark. The champion's drift against its training data
is recorded per run in gold.score_drift.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadlake.core.campaign import CampaignSpec
from leadlake.core.settings import Settings
from leadlake.lakehouse.catalog import (
    BRONZE_CAMPAIGNS,
    GOLD_LEAD_FEATURES,
    GOLD_SCORE_DRIFT,
    GOLD_SCORED_LEADS,
    SILVER_LEADS,
)
from leadlake.lakehouse.stage_io import StageIO, to_spark
from leadlake.ml.spec import DEFAULT_FEATURE_SET
from leadlake.quality.gates import enforce
from leadlake.stages.gold.drift import drift_rows
from leadlake.stages.gold.features import FEATURE_TYPES, FEATURES, enrichment_features
from leadlake.stages.gold.lead_features import KEYS as FEATURE_KEYS
from leadlake.stages.gold.lead_features import STAMPS as FEATURE_STAMPS
from leadlake.stages.gold.lead_features import features_schema, lead_features
from leadlake.stages.gold.model import SCORED_COLUMNS, ModelScoring, apply_champion, find_champion
from leadlake.stages.gold.score import (
    MODEL_VERSION,
    Score,
    distances_to_areas_km,
    score_at_distance,
    score_lead,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("leadlake.stages.gold.build")

GOLD_COLUMNS = [
    "lead_id",
    "name",
    "website",
    "domain",
    "phone_e164",
    "address_line1",
    "city",
    "region",
    "postal",
    "country",
    "lat",
    "lon",
    "rating",
    "review_count",
    "categories",
    "providers",
    "source_count",
    "campaign_ids",
    "vertical",
    "scored_campaign_id",  # the campaign whose vertical and areas the score follows
    *FEATURES,
    "lead_score",
    "priority_tier",
    "score_reasons",
    "model_version",
    "scored_at",
]


@dataclass
class GoldReport:
    """What the gold stage scored and published, and with which model."""

    leads: int = 0
    tiers: dict[str, int] | None = None
    delta_backend: str = ""
    seconds: float = 0.0
    model_version: str = MODEL_VERSION  # what scored: the champion (xgb-<set>-v<n>) or the rules
    champion: str | None = None  # the registry version that scored, None when the rules did
    fallback: str | None = None  # why the rules scored
    feature_sets: list[str] = field(default_factory=list)  # the versions gold.lead_features got rows of
    drift_flagged: list[str] = field(default_factory=list)  # features whose PSI crossed the threshold


def load_campaigns(io: StageIO) -> dict[str, CampaignSpec]:
    """Every campaign spec ingestion recorded in bronze.campaigns, by id."""
    if not io.lake.exists(BRONZE_CAMPAIGNS):
        return {}
    rows = io.lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist()
    return {r["campaign_id"]: CampaignSpec.model_validate_json(r["spec"]) for r in rows}


def best_campaign_score(
    lead: Mapping[str, Any],
    specs: list[CampaignSpec],
    distances: Mapping[str, float | None] | None = None,
) -> tuple[CampaignSpec | None, Score]:
    """The campaign a lead scores best under, and that score.

    The rule for a lead several campaigns found: score it under each of them, each time with that
    campaign's vertical *and* that campaign's own areas (a radius is only meaningful for the campaign that
    drew it), and keep the highest score; a tie goes to the first campaign id in sorted order, so the
    choice is stable from run to run. The winning campaign is recorded (`scored_campaign_id`, `vertical`)
    so that sales ops can see which campaign's rules the score follows. A lead no recorded campaign found
    scores with vertical "other" and no area. `distances`: campaign id -> the lead's distance to that
    campaign's nearest area, when already computed (score_frame does it for every lead at once).
    """
    best: tuple[CampaignSpec | None, Score] | None = None
    for spec in sorted(specs, key=lambda s: s.campaign_id):
        if distances is not None and spec.campaign_id in distances:
            s = score_at_distance(lead, spec.vertical, distances[spec.campaign_id])
        else:
            s = score_lead(lead, spec.vertical, spec.areas)
        if best is None or s.lead_score > best[1].lead_score:
            best = (spec, s)
    return best if best is not None else (None, score_lead(lead, "other", ()))


def _campaign_ids(value: Any) -> list[str]:
    # A list from Arrow, a numpy array from Spark's toPandas (whose truth value is ambiguous), or missing.
    return [] if value is None or isinstance(value, float | str) else list(value)


def area_distances(
    leads: pd.DataFrame, campaigns: Mapping[str, CampaignSpec]
) -> list[dict[str, float | None]]:
    """Per lead: campaign id -> distance to that campaign's nearest area (None: unknown), for the
    campaigns that found it; one numpy pass per campaign instead of a haversine per lead and area."""
    n = len(leads)
    out: list[dict[str, float | None]] = [{} for _ in range(n)]
    if not n:
        return out
    ids = leads["campaign_ids"] if "campaign_ids" in leads.columns else pd.Series([None] * n)
    rows: dict[str, list[int]] = {}
    for i, value in enumerate(ids):
        for cid in _campaign_ids(value):
            if cid in campaigns:
                rows.setdefault(cid, []).append(i)
    lat, lon = (
        pd.to_numeric(leads[c], errors="coerce").to_numpy(float) if c in leads else np.full(n, np.nan)
        for c in ("lat", "lon")
    )
    for cid, idx in rows.items():
        dist = distances_to_areas_km(lat[idx], lon[idx], campaigns[cid].areas)
        for i, d in zip(idx, dist.tolist(), strict=True):
            out[i][cid] = None if d != d else d  # NaN: no coordinates on one side
    return out


# Leads turned into dicts at a time by score_frame: its memory stays the frame's, not a dict per lead.
SCORE_CHUNK = 50_000


def score_frame(leads: pd.DataFrame, campaigns: dict[str, CampaignSpec]) -> pd.DataFrame:
    """Score each lead under the campaign that found it that it fits best (see best_campaign_score)."""
    distances = area_distances(leads, campaigns)
    verticals: list[str] = []
    chosen: list[str | None] = []
    scores: list[int] = []
    tiers: list[str] = []
    reasons: list[list[str]] = []
    for start in range(0, len(leads), SCORE_CHUNK):
        chunk = leads.iloc[start : start + SCORE_CHUNK].to_dict("records")
        for lead, dist in zip(chunk, distances[start : start + SCORE_CHUNK], strict=True):
            specs = [campaigns[c] for c in _campaign_ids(lead.get("campaign_ids")) if c in campaigns]
            spec, s = best_campaign_score(lead, specs, dist)
            verticals.append(spec.vertical if spec else "other")
            chosen.append(spec.campaign_id if spec else None)
            scores.append(s.lead_score)
            tiers.append(s.priority_tier)
            reasons.append(s.score_reasons)
    out = leads.reset_index(drop=True).assign(
        vertical=pd.Series(verticals, dtype=object),
        scored_campaign_id=pd.Series(chosen, dtype=object),
        lead_score=np.asarray(scores, dtype="int64"),
        priority_tier=pd.Series(tiers, dtype=object),
        score_reasons=pd.Series(reasons, dtype=object),
        model_version=MODEL_VERSION,
        scored_at=pd.Timestamp.now(tz="UTC"),
    )
    return out[GOLD_COLUMNS]


def context_rows(leads: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The silver + enrichment rows with the campaign each lead is scored under: the feature rows' input."""
    chosen = scored[["lead_id", "vertical", "scored_campaign_id"]]
    base = leads.drop(columns=[c for c in ("vertical", "scored_campaign_id") if c in leads.columns])
    return base.merge(chosen, on="lead_id", how="left")


def _champion_scores(
    spark: SparkSession, scored: pd.DataFrame, features: pd.DataFrame, champion: Any
) -> tuple[pd.DataFrame, ModelScoring]:
    """Score the champion's feature rows in Spark (mapInPandas, partition by partition) and put its score
    columns in place of the rules' ones; the rules' frame unchanged when it cannot score."""
    mine = features[features["feature_set_version"] == champion.feature_set.version]
    rows = mine[["lead_id", *champion.feature_set.columns]].merge(
        scored[["lead_id", *SCORED_COLUMNS]], on="lead_id", how="left"
    )
    types = {f.name: f.type for f in features_schema([champion.feature_set])}
    result = apply_champion(to_spark(spark, rows, types), "", champion=champion)
    if result.champion is None:
        return scored, result
    got = result.frame.select("lead_id", *SCORED_COLUMNS).toPandas()
    result.frame.unpersist()
    got["score_reasons"] = [list(r) if r is not None else [] for r in got["score_reasons"]]
    out = scored.drop(columns=list(SCORED_COLUMNS)).merge(got, on="lead_id", how="left")
    out["lead_score"] = out["lead_score"].astype("int64")
    return out[scored.columns], result


def build_gold(spark: SparkSession, settings: Settings, run_id: str = "manual") -> GoldReport:
    """Read silver.leads, score with the rules and the champion, validate and MERGE gold's tables."""
    t0 = time.perf_counter()
    io = StageIO(spark, settings)
    report = GoldReport(delta_backend=io.backend)
    leads_df = io.read(SILVER_LEADS)
    if leads_df is None:
        log.warning("silver.leads does not exist yet: run the silver stage first")
        return report
    leads = leads_df.toPandas()
    leads = leads.merge(enrichment_features(io.lake, leads), on="lead_id", how="left")
    campaigns = load_campaigns(io)
    scored = score_frame(leads, campaigns)
    # Kept beside the champion's score: the baseline a model must beat, on every lead.
    scored["rules_score"] = scored["lead_score"]

    champion, report.fallback = find_champion(settings.tracking_uri)
    sets = list(dict.fromkeys([DEFAULT_FEATURE_SET, *([champion.feature_set] if champion else [])]))
    features = lead_features(context_rows(leads, scored), campaigns, sets, run_id)
    result = ModelScoring(scored, fallback=report.fallback)
    if champion is not None:
        scored, result = _champion_scores(spark, scored, features, champion)
    enforce(GOLD_SCORED_LEADS, scored)  # before any publish: a failed gate leaves every gold table as it was

    types = {f.name: f.type for f in features_schema(sets)}
    # The run's stamps are not changes: rows whose values are the same are not rewritten (nor re-stamped).
    io.publish(
        GOLD_LEAD_FEATURES,
        to_spark(spark, features, types),
        FEATURE_KEYS,
        ignore_columns=FEATURE_STAMPS,
    )
    io.publish(
        GOLD_SCORED_LEADS,
        to_spark(spark, scored, FEATURE_TYPES),
        ["lead_id"],
        delete_missing=True,
        ignore_columns=["scored_at"],
    )
    if result.champion is not None and not result.psi.empty:
        drift = drift_rows(
            result.psi,
            run_id=run_id,
            model_version=str(result.model_version),
            champion_version=result.champion,
            leads=len(scored),
        )
        io.publish(GOLD_SCORE_DRIFT, spark.createDataFrame(drift), ["run_id", "feature"])
    report.leads = len(scored)
    report.tiers = scored["priority_tier"].value_counts().sort_index().to_dict()
    report.model_version = result.model_version or MODEL_VERSION
    report.champion, report.fallback = result.champion, result.fallback
    report.feature_sets = [fs.version for fs in sets]
    report.drift_flagged = result.flagged
    report.seconds = time.perf_counter() - t0
    return report
