"""What a run made, read back from the lakehouse: rows per table, duplicates merged, the top leads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, SILVER_LEADS, SILVER_SOURCE_RECORDS


@dataclass
class Summary:
    """Figures the demo and `run` print at the end."""

    tables: list[Any]
    duplicates_merged: int
    top: list[dict]


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
    return Summary(tables, dup, top)
