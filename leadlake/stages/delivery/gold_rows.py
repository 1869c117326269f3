"""Hand-made gold rows in the shape delivery reads from gold.scored_leads, for tests and benchmarks.

One definition of that shape (`GOLD_LEAD_SCHEMA`, a subset of gold's columns: the ones the CRM mappings,
the routing and the suppression list read), so a test and a benchmark start delivery from the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS

GOLD_LEAD_SCHEMA = pa.schema(
    [
        ("lead_id", pa.string()),
        ("name", pa.string()),
        ("domain", pa.string()),
        ("website", pa.string()),
        ("phone_e164", pa.string()),
        ("city", pa.string()),
        ("region", pa.string()),
        ("lead_score", pa.int64()),
        ("priority_tier", pa.string()),
        ("score_reasons", pa.list_(pa.string())),
        ("providers", pa.list_(pa.string())),
        ("campaign_ids", pa.list_(pa.string())),
    ]
)


def gold_leads(
    n: int, tier: str = "B", prefix: str = "L", width: int = 4, providers: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """n distinct qualifying gold rows (`L0000`...: `prefix` and `width` set the id) with hand-checkable CRM
    fields: Business i, businessi.com, a distinct valid Denver phone; found on `providers`; no campaigns."""
    return [
        {
            "lead_id": f"{prefix}{i:0{width}d}",
            "name": f"Business {i}",
            "domain": f"business{i}.com",
            "website": f"https://business{i}.com",
            "phone_e164": f"+1303{5_550_000 + i:07d}",  # +1303555iiii below 10,000, 10 digits always
            "city": "Denver",
            "region": "CO",
            "lead_score": 40,
            "priority_tier": tier,
            "score_reasons": ["+15 website on a registered domain"],
            "providers": list(providers),
        }
        for i in range(n)
    ]


def gold_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as a gold.scored_leads table (missing columns null)."""
    return pa.Table.from_pylist(list(rows), schema=GOLD_LEAD_SCHEMA)


def write_gold_leads(lake: Lakehouse, rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace gold.scored_leads with these rows (the columns delivery reads)."""
    lake.overwrite(GOLD_SCORED_LEADS, gold_table(rows))
