"""Gold's model step: re-score the leads gold built with the MLflow champion, or keep the rules baseline.

`apply_champion(leads, tracking_uri)` takes the frame gold built (pandas, or a Spark DataFrame scored per
partition with `mapInPandas(spark_scorer(...))`). With a champion in the registry its lead_score,
priority_tier, score_reasons and model_version replace the rules' ones; without one (no registry, no
champion, a model that does not load or does not score) the frame comes back as it was, with one warning
saying why. It never raises for a model problem: gold always publishes, with the rules at worst.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.ml.registry import Champion, load_champion, redact, registry_exists, tracking

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger("leadlake.stages.gold.model")

SCORED_COLUMNS = ("lead_score", "priority_tier", "score_reasons", "model_version")
PSI_COLUMNS = ["feature", "psi", "flagged"]


def empty_psi() -> pd.DataFrame:
    """A PSI table without rows (no champion, or nothing to compare)."""
    return pd.DataFrame({"feature": pd.Series(dtype="object"), "psi": [], "flagged": pd.Series(dtype=bool)})


@dataclass
class ModelScoring:
    """The leads (re-scored or as given), which model scored them and how far they drifted from training."""

    frame: Any  # pandas or Spark, as given
    champion: str | None = None  # the registry version that scored, None when the rules did
    model_version: str | None = None  # what model_version now says for the champion's rows
    psi: pd.DataFrame = field(default_factory=empty_psi)
    fallback: str | None = None  # why the rules scores were kept

    @property
    def flagged(self) -> list[str]:
        """Features (and lead_score) whose PSI crossed the threshold."""
        return [str(f) for f in self.psi.loc[self.psi["flagged"].astype(bool), "feature"]]


def _is_spark(frame: Any) -> bool:
    return not isinstance(frame, pd.DataFrame) and hasattr(frame, "mapInPandas")


def _needed_columns(champion: Champion, columns: list[str]) -> list[str]:
    """The columns of `columns` the champion's features are built from (lead_id first)."""
    from leadlake.ml.spec import DERIVED

    wanted = {"lead_id", *champion.feature_set.columns}
    wanted |= {source for name, (_, source) in DERIVED.items() if name in champion.feature_set.columns}
    return [c for c in columns if c in wanted]


def psi_against_training(champion: Champion, leads: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    """PSI of the leads' features and scores against the champion's training reference (empty on error)."""
    from leadlake.ml.drift import psi_table

    if not champion.reference:
        return empty_psi()
    try:
        table = psi_table(champion.reference, champion.model.features(leads), scores.to_numpy())
    except Exception as exc:  # noqa: BLE001 - drift is a report: its failure must not drop the scores
        log.warning("PSI against champion v%s failed: %s: %s", champion.version, type(exc).__name__, exc)
        return empty_psi()
    return table[PSI_COLUMNS].reset_index(drop=True)


def _score_pandas(champion: Champion, leads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from leadlake.ml.score import score_frame

    scores = score_frame(champion.model, leads)  # one row per input row, in order
    if len(scores) != len(leads):
        raise ValueError(f"{len(scores)} scores for {len(leads)} leads")
    out = leads.copy()
    out["lead_score"] = scores["lead_score"].astype("int64").to_numpy()
    out["priority_tier"] = scores["priority_tier"].to_numpy()
    out["score_reasons"] = pd.Series(
        [list(r) for r in scores["score_reasons"]], index=out.index, dtype=object
    )
    out["model_version"] = scores["model_version"].to_numpy()
    return out, psi_against_training(champion, leads, scores["lead_score"])


def _score_spark(champion: Champion, leads: DataFrame) -> tuple[DataFrame, pd.DataFrame]:
    from leadlake.ml.score import SCORE_SCHEMA_DDL, spark_scorer

    scores = leads.mapInPandas(spark_scorer(champion.model.to_bytes()), schema=SCORE_SCHEMA_DDL)
    kept = [c for c in leads.columns if c not in SCORED_COLUMNS]
    out = leads.select(*kept).join(scores, on="lead_id", how="left").select(*leads.columns)
    # Kept for the caller's next action (its publish or collect): the model runs once per partition.
    out = out.persist()
    # One action here, not at publish time: a model that fails on the executors falls back now.
    sample = out.select(*_needed_columns(champion, leads.columns), "lead_score").toPandas()
    if sample["lead_score"].isna().any():
        raise ValueError(f"{int(sample['lead_score'].isna().sum())} leads got no score")
    return out, psi_against_training(champion, sample, sample["lead_score"])


class _Said(logging.Handler):
    """Keeps the last message a logger emitted (it still reaches the other handlers as usual)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


def _load(tracking_uri: str) -> tuple[Champion | None, str | None]:
    """load_champion, and the warning it gave when it found none.

    The load runs with MLflow's fluent tracking and registry URIs set to `tracking_uri`: downloading a
    `models:/` artifact resolves the model through the default registry otherwise."""
    said = _Said()
    registry_log = logging.getLogger(load_champion.__module__)
    registry_log.addHandler(said)
    try:
        if not registry_exists(tracking_uri):  # no MLflow import for a registry that is not there
            return load_champion(tracking_uri), said.message
        with tracking(tracking_uri):
            return load_champion(tracking_uri), said.message
    finally:
        registry_log.removeHandler(said)


def find_champion(tracking_uri: str) -> tuple[Champion | None, str | None]:
    """The champion to score with, or None and why not (said once, as a warning); never raises."""
    try:
        champion, said = _load(tracking_uri)
    except Exception as exc:  # noqa: BLE001 - load_champion warns and returns None; anything else too
        reason = f"champion failed to load from {redact(tracking_uri)}: {type(exc).__name__}: {exc}"
        log.warning("%s; scoring with the rules", reason)
        return None, reason
    if champion is None:  # load_champion already said why, once
        return None, said or "no champion in the model registry"
    return champion, None


def apply_champion(leads: Any, tracking_uri: str, champion: Champion | None = None) -> ModelScoring:
    """Score `leads` (pandas or Spark, with lead_id and the rules' score columns) with the champion (the one
    given, else the registry's).

    With no champion, or when loading or scoring it fails, the leads come back unchanged (the rules scores
    and model_version) and one warning says why."""
    if champion is None:
        champion, reason = find_champion(tracking_uri)
        if champion is None:
            return ModelScoring(leads, fallback=reason)
    try:
        if _is_spark(leads):
            frame, psi = _score_spark(champion, leads)
        else:
            frame, psi = _score_pandas(champion, leads)
    except Exception as exc:  # noqa: BLE001 - a model that cannot score leaves the rules scores in place
        reason = f"champion v{champion.version} failed to score: {type(exc).__name__}: {exc}"
        log.warning("%s; scoring with the rules", reason)
        return ModelScoring(leads, fallback=reason)
    result = ModelScoring(
        frame, champion=champion.version, model_version=champion.model.model_version, psi=psi
    )
    if result.flagged:  # INFO: the run's summary (CLI, Airflow task) reports it; gold.score_drift keeps it
        log.info(
            "leads drifted from champion v%s's training data (PSI > threshold): %s",
            champion.version,
            ", ".join(result.flagged),
        )
    return result
