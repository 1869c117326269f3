"""The one quarantine shape: every stage's rejected rows, with where they were headed and why.

Each layer keeps its own table (`bronze.quarantine`, `silver.quarantine`, ...) in this shape, so one query
reads all of them and a replay knows what to re-run.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

QUARANTINE_SCHEMA = pa.schema(
    [
        ("stage", pa.string()),  # the stage that rejected the row
        ("target_table", pa.string()),  # where the row was headed
        ("record_key", pa.string()),  # the row's key there (provider key, record id); "" when it had none
        ("provider", pa.string()),
        ("provider_key", pa.string()),
        ("campaign_id", pa.string()),  # "" when the row belongs to no single campaign
        ("run_id", pa.string()),
        ("reason", pa.string()),  # names the field and what was wrong
        ("payload", pa.string()),  # the raw text as it arrived, when there was one
        ("content_hash", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)
# A re-run that rejects the same content for the same target again updates the row instead of adding one.
QUARANTINE_KEYS = ["target_table", "campaign_id", "record_key", "content_hash"]


def quarantine_row(
    *,
    stage: str,
    target_table: str,
    reason: str,
    record_key: str | None = None,
    provider: str | None = None,
    provider_key: str | None = None,
    campaign_id: str | None = None,
    run_id: str | None = None,
    payload: str | None = None,
    content_hash: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One quarantine row; key columns are never null so the MERGE on QUARANTINE_KEYS matches re-runs."""
    if content_hash is None:
        content_hash = hashlib.sha256((payload or "").encode()).hexdigest() if payload else ""
    return {
        "stage": stage,
        "target_table": target_table,
        "record_key": record_key or "",
        "provider": provider,
        "provider_key": provider_key,
        "campaign_id": campaign_id or "",
        "run_id": run_id,
        "reason": reason,
        "payload": payload,
        "content_hash": content_hash,
        "quarantined_at": at or datetime.now(UTC),
    }


def quarantine_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows in the quarantine shape as an Arrow table (last row per key wins)."""
    last: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        last[tuple(r[k] for k in QUARANTINE_KEYS)] = r
    return pa.Table.from_pylist(list(last.values()), schema=QUARANTINE_SCHEMA)
