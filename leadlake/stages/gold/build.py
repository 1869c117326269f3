"""Gold: score every silver lead with the rules baseline and publish gold.scored_leads."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.core.campaign import CampaignSpec
from leadlake.core.settings import Settings
from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, GOLD_SCORED_LEADS, SILVER_LEADS
from leadlake.lakehouse.stage_io import StageIO, to_spark
from leadlake.quality.gates import enforce
from leadlake.stages.gold.features import FEATURE_TYPES, FEATURES, enrichment_features
from leadlake.stages.gold.model import apply_champion
from leadlake.stages.gold.score import MODEL_VERSION, Score, score_lead

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
    """What the gold stage scored and published."""

    leads: int = 0
    tiers: dict[str, int] | None = None
    delta_backend: str = ""
    seconds: float = 0.0


def load_campaigns(io: StageIO) -> dict[str, CampaignSpec]:
    """Every campaign spec ingestion recorded in bronze.campaigns, by id."""
    if not io.lake.exists(BRONZE_CAMPAIGNS):
        return {}
    rows = io.lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist()
    return {r["campaign_id"]: CampaignSpec.model_validate_json(r["spec"]) for r in rows}


def best_campaign_score(
    lead: Mapping[str, Any], specs: list[CampaignSpec]
) -> tuple[CampaignSpec | None, Score]:
    """The campaign a lead scores best under, and that score.

    The rule for a lead several campaigns found: score it under each of them, each time with that
    campaign's vertical *and* that campaign's own areas (a radius is only meaningful for the campaign that
    drew it), and keep the highest score; a tie goes to the first campaign id in sorted order, so the
    choice is stable from run to run. The winning campaign is recorded (`scored_campaign_id`, `vertical`)
    so that sales ops can see which campaign's rules the score follows. A lead no recorded campaign found
    scores with vertical "other" and no area.
    """
    best: tuple[CampaignSpec | None, Score] | None = None
    for spec in sorted(specs, key=lambda s: s.campaign_id):
        s = score_lead(lead, spec.vertical, spec.areas)
        if best is None or s.lead_score > best[1].lead_score:
            best = (spec, s)
    return best if best is not None else (None, score_lead(lead, "other", ()))


def score_frame(leads: pd.DataFrame, campaigns: dict[str, CampaignSpec]) -> pd.DataFrame:
    """Score each lead under the campaign that found it that it fits best (see best_campaign_score)."""
    rows = []
    for lead in leads.to_dict("records"):
        ids = lead.get("campaign_ids")
        # A list from Arrow, a numpy array from Spark's toPandas (whose truth value is ambiguous), or missing.
        ids = [] if ids is None or isinstance(ids, float | str) else list(ids)
        specs = [campaigns[c] for c in ids if c in campaigns]
        spec, s = best_campaign_score(lead, specs)
        rows.append(
            lead
            | {
                "vertical": spec.vertical if spec else "other",
                "scored_campaign_id": spec.campaign_id if spec else None,
                "lead_score": s.lead_score,
                "priority_tier": s.priority_tier,
                "score_reasons": s.score_reasons,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            *leads.columns,
            "vertical",
            "scored_campaign_id",
            "lead_score",
            "priority_tier",
            "score_reasons",
        ],
    )
    out["model_version"] = MODEL_VERSION
    out["scored_at"] = pd.Timestamp.now(tz="UTC")
    out["lead_score"] = out["lead_score"].astype("int64")
    return out[GOLD_COLUMNS]


def build_gold(spark: SparkSession, settings: Settings) -> GoldReport:
    """Read silver.leads, score, validate and MERGE into gold.scored_leads."""
    t0 = time.perf_counter()
    io = StageIO(spark, settings)
    report = GoldReport(delta_backend=io.backend)
    leads_df = io.read(SILVER_LEADS)
    if leads_df is None:
        log.warning("silver.leads does not exist yet: run the silver stage first")
        return report
    leads = leads_df.toPandas()
    leads = leads.merge(enrichment_features(io.lake, leads), on="lead_id", how="left")
    scored = score_frame(leads, load_campaigns(io))
    # Kept beside the champion's score: the baseline a model must beat, on every lead.
    scored["rules_score"] = scored["lead_score"]
    scored = apply_champion(scored, settings.tracking_uri).frame  # the champion's scores, else the rules'
    enforce(GOLD_SCORED_LEADS, scored)
    io.publish(GOLD_SCORED_LEADS, to_spark(spark, scored, FEATURE_TYPES), ["lead_id"], delete_missing=True)
    report.leads = len(scored)
    report.tiers = scored["priority_tier"].value_counts().sort_index().to_dict()
    report.seconds = time.perf_counter() - t0
    return report
