"""What a run made, read back from the lakehouse: rows per table, duplicates merged, the top leads, which
model scored gold and how far the scored leads drifted from its training data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import (
    GOLD_SCORE_DRIFT,
    GOLD_SCORED_LEADS,
    SILVER_LEADS,
    SILVER_SOURCE_RECORDS,
)


@dataclass
class Summary:
    """Figures the demo and `run` print at the end."""

    tables: list[Any]
    duplicates_merged: int
    top: list[dict]
    scored_by: dict[str, int] = field(default_factory=dict)  # gold.scored_leads rows per model_version
    drift: Drift | None = None  # the newest scoring run's drift, when the model scoring gold now made it


@dataclass
class Drift:
    """One scoring run's PSI against the champion's training data (gold.score_drift)."""

    run_id: str
    model_version: str
    champion_version: str
    threshold: float
    features: list[tuple[str, float, bool]]  # (feature, psi, flagged), flagged first, then by PSI

    @property
    def flagged(self) -> list[tuple[str, float]]:
        return [(f, p) for f, p, flag in self.features if flag]


def summarize(lake: Lakehouse, top_n: int = 10) -> Summary:
    """Rows per table, duplicates merged and the top leads (figures of unreadable tables are left out)."""
    tables = lake.list_tables()
    # A table whose log cannot be read is listed (with its error) but not queried.
    readable = {t.name for t in tables if getattr(t, "error", None) is None}
    dup = 0
    if {SILVER_SOURCE_RECORDS, SILVER_LEADS} <= readable:
        dup = (
            lake.read(SILVER_SOURCE_RECORDS, columns=["record_id"]).num_rows
            - lake.read(SILVER_LEADS, columns=["lead_id"]).num_rows
        )
    top = []
    if GOLD_SCORED_LEADS in readable:
        top = lake.sql(
            "select name, city, region, lead_score, priority_tier, score_reasons, source_count "
            "from gold.scored_leads order by lead_score desc, review_count desc nulls last, name "
            f"limit {int(top_n)}"
        ).to_pylist()
    scored_by: dict[str, int] = {}
    if GOLD_SCORED_LEADS in readable:
        columns = lake.sql("select * from gold.scored_leads limit 0").schema.names
        if "model_version" in columns:  # a gold table written by hand may not say
            query = "select model_version, count(*) as n from gold.scored_leads group by 1"
            scored_by = {str(r["model_version"]): int(r["n"]) for r in lake.sql(query).to_pylist()}
    drift = latest_drift(lake) if GOLD_SCORE_DRIFT in readable else None
    if drift is not None and drift.model_version not in scored_by:
        drift = None  # drift of a model that no longer scores gold
    return Summary(tables, dup, top, scored_by, drift)


def latest_drift(lake: Lakehouse) -> Drift | None:
    """The newest scoring run's rows of gold.score_drift; None when there are none."""
    rows = lake.read(GOLD_SCORE_DRIFT).to_pylist()
    if not rows:
        return None
    newest = max(rows, key=lambda r: (r["scored_at"], r["run_id"]))
    mine = sorted(
        (r for r in rows if r["run_id"] == newest["run_id"]),
        key=lambda r: (not r["flagged"], -r["psi"], r["feature"]),
    )
    return Drift(
        run_id=newest["run_id"],
        model_version=newest["model_version"],
        champion_version=newest["champion_version"],
        threshold=float(newest["threshold"]),
        features=[(r["feature"], float(r["psi"]), bool(r["flagged"])) for r in mine],
    )
