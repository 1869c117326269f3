"""Re-score gold.scored_leads with the current champion, without rebuilding gold (`leadlake score`).

The rules baseline re-scores every lead (so a fallback has the rules' tiers and reasons again); the champion,
when there is one, scores the lead's rows of gold.lead_features (the rows gold published, computed once),
and the run's drift against the champion's training data goes to gold.score_drift. The light path: delta-rs
and pandas, no JVM; the gold stage does the same per partition in Spark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS

log = logging.getLogger("leadlake.stages.gold.rescore")

# The gold columns the rules baseline writes; re-scoring recomputes them from the lead columns.
RULES_OUTPUT = ("vertical", "scored_campaign_id", "lead_score", "priority_tier", "score_reasons")


class GoldNotReady(ValueError):
    """gold.scored_leads is missing or older than this code; the message says what to run."""


@dataclass
class RescoreReport:
    """Which model scored how many leads, why the rules did when they did, and the run's drift."""

    run_id: str
    leads: int = 0
    champion: str | None = None
    model_version: str = ""
    fallback: str | None = None
    psi: list[tuple[str, float, bool]] = field(default_factory=list)  # (feature, psi, flagged)
    unseen: list[str] = field(default_factory=list)  # features the champion's training data never held
    threshold: float = 0.0

    @property
    def flagged(self) -> list[tuple[str, float]]:
        return [(f, p) for f, p, flag in self.psi if flag]


def rescore(lake: Lakehouse, tracking_uri: str, run_id: str) -> RescoreReport:
    """Re-score every lead of gold.scored_leads with the champion (the rules when there is none) and MERGE
    the scores back; the drift rows of the run go to gold.score_drift."""
    from leadlake.ml.drift import PSI_THRESHOLD, unseen_in_training
    from leadlake.quality.gates import enforce
    from leadlake.stages.gold.build import GOLD_COLUMNS
    from leadlake.stages.gold.build import score_frame as rules_frame
    from leadlake.stages.gold.drift import drift_rows, publish_drift
    from leadlake.stages.gold.lead_features import ensure_features, gold_context, load_campaigns
    from leadlake.stages.gold.model import SCORED_COLUMNS, apply_champion, find_champion

    report = RescoreReport(run_id, threshold=PSI_THRESHOLD)
    if not lake.exists(GOLD_SCORED_LEADS):
        raise GoldNotReady(f"{GOLD_SCORED_LEADS} does not exist yet: run the pipeline first (leadlake run)")
    table = lake.read(GOLD_SCORED_LEADS)
    table_schema = table.schema
    missing = [c for c in GOLD_COLUMNS if c not in table_schema.names]
    if missing:
        raise GoldNotReady(
            f"{GOLD_SCORED_LEADS} lacks the columns {', '.join(missing)}: rebuild it (leadlake run)"
        )
    gold = gold_context(lake, table.to_pandas())
    leads = gold.drop(columns=[*RULES_OUTPUT, "model_version", "scored_at"])
    scored = rules_frame(leads, load_campaigns(lake))  # same rows, same order
    extra = [c for c in table_schema.names if c not in scored.columns]  # columns newer code added
    if extra:
        scored = pd.concat([scored, gold[extra].reset_index(drop=True)], axis=1)
    if "rules_score" in scored:
        scored["rules_score"] = scored["lead_score"]

    champion, report.fallback = find_champion(tracking_uri)
    drift = None
    if champion is not None:
        features = ensure_features(lake, champion.feature_set, run_id)
        rows = features[features["lead_id"].isin(set(scored["lead_id"]))].merge(
            scored[["lead_id", *SCORED_COLUMNS]], on="lead_id", how="right"
        )
        result = apply_champion(rows, tracking_uri, champion=champion)
        report.fallback = result.fallback
        if result.champion is not None:
            got = result.frame[["lead_id", *SCORED_COLUMNS]]
            scored = scored.drop(columns=list(SCORED_COLUMNS)).merge(got, on="lead_id", how="left")
            scored = scored[[*GOLD_COLUMNS, *(c for c in scored.columns if c not in GOLD_COLUMNS)]]
            report.champion, report.model_version = result.champion, str(result.model_version)
            report.psi = [(str(r.feature), float(r.psi), bool(r.flagged)) for r in result.psi.itertuples()]
            report.unseen = unseen_in_training(champion.reference or {})
            drift = drift_rows(
                result.psi,
                run_id=run_id,
                model_version=report.model_version,
                champion_version=result.champion,
                leads=len(scored),
                scored_at=datetime.now(UTC),
            )
    scored = scored[list(table_schema.names)]
    enforce(GOLD_SCORED_LEADS, scored)
    arrow = pa.Table.from_pandas(scored, schema=table_schema, preserve_index=False)
    lake.merge(GOLD_SCORED_LEADS, arrow, ["lead_id"], delete_missing=True)
    if drift is not None:
        publish_drift(lake, drift)
    report.leads = len(scored)
    if report.champion is None:
        report.model_version = str(scored["model_version"].iloc[0]) if len(scored) else "rules"
    return report
