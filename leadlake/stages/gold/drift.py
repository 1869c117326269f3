"""gold.score_drift: per scoring run, how far the scored leads moved from the champion's training data.

One row per feature (and one for `lead_score`) per run: the population stability index against the
reference the champion stored at training time (leadlake.ml.drift), flagged over the threshold. Runs scored
by the rules have no reference, so no rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from leadlake.lakehouse.catalog import GOLD_SCORE_DRIFT

if TYPE_CHECKING:
    from leadlake.lakehouse import Lakehouse

KEYS = ["run_id", "feature"]
DRIFT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("model_version", pa.string()),  # what gold.scored_leads says, e.g. xgb-fs1-v3
        ("champion_version", pa.string()),  # the registry version
        ("feature", pa.string()),  # a feature of the champion's set, or lead_score
        ("psi", pa.float64()),
        ("threshold", pa.float64()),
        ("flagged", pa.bool_()),
        ("leads", pa.int64()),  # leads scored in the run
        ("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)


def drift_rows(
    psi: pd.DataFrame,
    *,
    run_id: str,
    model_version: str,
    champion_version: str,
    leads: int,
    threshold: float | None = None,
    scored_at: datetime | None = None,
) -> pa.Table:
    """A PSI table (feature, psi, flagged) as gold.score_drift rows of one run."""
    from leadlake.ml.drift import PSI_THRESHOLD

    at = scored_at or datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "model_version": model_version,
            "champion_version": str(champion_version),
            "feature": str(r["feature"]),
            "psi": float(r["psi"]),
            "threshold": float(PSI_THRESHOLD if threshold is None else threshold),
            "flagged": bool(r["flagged"]),
            "leads": int(leads),
            "scored_at": at,
        }
        for r in psi.to_dict("records")
    ]
    return pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA)


def publish_drift(lake: Lakehouse, rows: pa.Table) -> int | None:
    """MERGE one run's drift rows on (run_id, feature); None when there is nothing to write."""
    if rows.num_rows == 0:
        return None
    return lake.merge(GOLD_SCORE_DRIFT, rows, KEYS).version
