"""Scoring with a trained scorer: a 0-100 lead score, a priority tier and reasons, in pandas or in Spark.

In Spark, ship the scorer as bytes and score each partition with `DataFrame.mapInPandas`:

    df.mapInPandas(spark_scorer(scorer.to_bytes()), schema=SCORE_SCHEMA_DDL)

The bundle is rebuilt once per partition; the rows are the same as `score_frame` gives in-process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pandas as pd

from leadlake.ml.explain import TOP_REASONS, reasons_from
from leadlake.ml.model import LeadScorer
from leadlake.ml.spec import FeatureSet

# Lowest score of each tier, best first; below the last one a lead is tier C.
TIER_THRESHOLDS: tuple[tuple[str, int], ...] = (("A", 60), ("B", 30))
LOWEST_TIER = "C"
SCORE_COLUMNS = ["lead_id", "lead_score", "priority_tier", "score_reasons", "model_version"]
SCORE_SCHEMA_DDL = (
    "lead_id string, lead_score bigint, priority_tier string, score_reasons array<string>, "
    "model_version string"
)


def tier_for(score: int, thresholds: tuple[tuple[str, int], ...] = TIER_THRESHOLDS) -> str:
    """The first tier whose threshold the score reaches."""
    return next((tier for tier, low in thresholds if score >= low), LOWEST_TIER)


def to_points(probs: np.ndarray) -> np.ndarray:
    """Probabilities -> 0-100 integer scores."""
    return np.clip(np.rint(np.asarray(probs, dtype="float64") * 100.0), 0, 100).astype("int64")


def score_frame(
    model: LeadScorer,
    features_pdf: pd.DataFrame,
    feature_set: FeatureSet | None = None,
    *,
    thresholds: tuple[tuple[str, int], ...] = TIER_THRESHOLDS,
    top_reasons: int = TOP_REASONS,
) -> pd.DataFrame:
    """[lead_id, lead_score 0-100, priority_tier, score_reasons, model_version] per row of `features_pdf`
    (lead_id plus raw lead columns or built features). `feature_set`, when given, must be the model's."""
    if feature_set is not None and feature_set != model.feature_set:
        raise ValueError(
            f"the model reads feature set {model.feature_set.version!r}, not {feature_set.version!r}"
        )
    if "lead_id" not in features_pdf.columns:
        raise ValueError("features_pdf needs a lead_id column")
    if len(features_pdf) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in SCORE_COLUMNS}).astype(
            {"lead_score": "int64"}
        )
    feats = model.features(features_pdf)
    probs, contributions, bias = model.predict(feats, contributions=True)
    scores = to_points(probs)
    out = pd.DataFrame(
        {
            "lead_id": features_pdf["lead_id"].astype("string").astype("object").to_numpy(),
            "lead_score": scores,
            "priority_tier": [tier_for(int(s), thresholds) for s in scores],
            "score_reasons": reasons_from(contributions, bias, feats, top_reasons),
            "model_version": model.model_version,
        }
    )
    return out[SCORE_COLUMNS]


def score_partitions(
    batches: Iterator[pd.DataFrame],
    model_bytes: bytes,
    thresholds: tuple[tuple[str, int], ...] = TIER_THRESHOLDS,
    top_reasons: int = TOP_REASONS,
) -> Iterator[pd.DataFrame]:
    """For `DataFrame.mapInPandas` (schema SCORE_SCHEMA_DDL): one partition's batches, scored; the model
    is rebuilt from its bytes once per partition."""
    model = LeadScorer.from_bytes(model_bytes)
    for batch in batches:
        yield score_frame(model, batch, thresholds=thresholds, top_reasons=top_reasons)


def spark_scorer(
    model_bytes: bytes,
    thresholds: tuple[tuple[str, int], ...] = TIER_THRESHOLDS,
    top_reasons: int = TOP_REASONS,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """score_partitions with the model bound: `df.mapInPandas(spark_scorer(b), SCORE_SCHEMA_DDL)`."""
    return partial(score_partitions, model_bytes=model_bytes, thresholds=thresholds, top_reasons=top_reasons)
