"""Bronze: land what the CRM says happened to delivered companies, exactly once, from a watermark.

`pull_feedback` asks a destination for the companies modified since its watermark (the destination's own
`pull_feedback`, oldest change first: the CRM's search API lives in its connector) and lands each one's raw
JSON in bronze.crm_outcomes, insert-only on (destination, crm_id, content_hash): a company seen again
unchanged lands nothing. The watermark (the latest hs_lastmodifieddate landed) lives in ops.watermarks and
moves after every committed batch, so a crash re-reads at most one batch and a re-run with nothing new lands
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from leadlake.connectors.destinations.base import FeedbackSource, pull_feedback_of
from leadlake.core.normalize import parse_timestamp
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CRM_OUTCOMES, OPS_WATERMARKS

log = logging.getLogger("leadlake.stages.bronze.feedback")

READER = "crm_outcomes"  # this reader's name in ops.watermarks
OUTCOME_KEYS = ["destination", "crm_id", "content_hash"]
OUTCOME_SCHEMA = pa.schema(
    [
        ("destination", pa.string()),
        ("crm_id", pa.string()),
        ("leadlake_id", pa.string()),
        ("last_modified_at", pa.timestamp("us", tz="UTC")),  # the company's hs_lastmodifieddate
        ("run_id", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("payload", pa.string()),  # the company object exactly as the CRM answered it
        ("content_hash", pa.string()),
    ]
)
WATERMARK_KEYS = ["reader", "source"]
WATERMARK_SCHEMA = pa.schema(
    [
        ("reader", pa.string()),  # who reads incrementally, e.g. crm_outcomes
        ("source", pa.string()),  # from where, e.g. a destination name
        ("watermark", pa.timestamp("us", tz="UTC")),  # read up to and including this instant
        ("run_id", pa.string()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)
MODIFIED = "hs_lastmodifieddate"
ID_PROPERTY = "leadlake_id"


@dataclass
class FeedbackReport:
    """What one pull read from a destination and landed, and how far it has now read."""

    destination: str
    run_id: str
    fetched: int = 0  # companies the CRM answered (a re-read at the watermark counts here)
    landed: int = 0  # of those, new to bronze.crm_outcomes
    watermark_before: datetime | None = None
    watermark_after: datetime | None = None
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        return self.fetched - self.landed


def company_hash(company: dict[str, Any]) -> str:
    """SHA-256 of the company's canonical JSON: the change-detection key of a raw CRM record."""
    return hashlib.sha256(json.dumps(company, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_watermark(lakehouse: Lakehouse, source: str, reader: str = READER) -> datetime | None:
    """How far `reader` has read from `source` (None: never)."""
    if not lakehouse.exists(OPS_WATERMARKS):
        return None
    rows = lakehouse.read(OPS_WATERMARKS).to_pylist()
    found = [r["watermark"] for r in rows if r["reader"] == reader and r["source"] == source]
    return max(found) if found else None


def write_watermark(
    lakehouse: Lakehouse, source: str, watermark: datetime, run_id: str, reader: str = READER
) -> None:
    """Move `reader`'s watermark on `source` (upserted on reader and source)."""
    row = {
        "reader": reader,
        "source": source,
        "watermark": watermark,
        "run_id": run_id,
        "updated_at": datetime.now(UTC),
    }
    lakehouse.merge(OPS_WATERMARKS, pa.Table.from_pylist([row], schema=WATERMARK_SCHEMA), keys=WATERMARK_KEYS)


def outcome_row(destination: str, company: dict[str, Any], run_id: str, fetched_at: datetime) -> dict:
    """One bronze.crm_outcomes row for a company object as the CRM answered it."""
    props = company.get("properties") or {}
    return {
        "destination": destination,
        "crm_id": str(company.get("id") or props.get("hs_object_id")),
        "leadlake_id": props.get(ID_PROPERTY) or None,
        "last_modified_at": parse_timestamp(props.get(MODIFIED) or company.get("updatedAt")),
        "run_id": run_id,
        "fetched_at": fetched_at,
        "payload": json.dumps(company, sort_keys=True, separators=(",", ":")),
        "content_hash": company_hash(company),
    }


def _batches(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def pull_feedback(
    lakehouse: Lakehouse,
    destination: FeedbackSource,
    run_id: str,
    *,
    lookback: timedelta = timedelta(0),
    batch_rows: int = 1000,
) -> FeedbackReport:
    """Land every company the destination changed since the watermark (minus `lookback`, for CRMs whose
    search index lags behind their writes) in bronze.crm_outcomes, then move the watermark.

    Errors from the destination propagate (DeliveryError) after the batches already landed are committed
    and the watermark moved past them; a destination without `pull_feedback` raises FeedbackNotSupported
    before anything is read or written."""
    t0 = time.perf_counter()
    name = destination.name
    report = FeedbackReport(name, run_id)
    report.watermark_before = read_watermark(lakehouse, name)
    since = report.watermark_before - lookback if report.watermark_before else None
    changes = pull_feedback_of(destination, since)  # raises before the pull when it reports no outcomes
    watermark = report.watermark_before
    try:
        for batch in _batches(changes, batch_rows):
            fetched_at = datetime.now(UTC)
            rows = [outcome_row(name, company, run_id, fetched_at) for company in batch]
            report.fetched += len(rows)
            unique = list({(r["crm_id"], r["content_hash"]): r for r in rows}.values())
            stats = lakehouse.merge(
                BRONZE_CRM_OUTCOMES,
                pa.Table.from_pylist(unique, schema=OUTCOME_SCHEMA),
                keys=OUTCOME_KEYS,
                update=False,
            )
            report.landed += stats.inserted
            stamps = [r["last_modified_at"] for r in rows if r["last_modified_at"] is not None]
            newest = max(stamps, default=None)
            if newest is not None and (watermark is None or newest > watermark):
                watermark = newest
                write_watermark(lakehouse, name, watermark, run_id)
    finally:
        report.watermark_after = watermark
        report.seconds = time.perf_counter() - t0
    log.info(
        "feedback from %s: %d fetched, %d landed, watermark %s",
        name,
        report.fetched,
        report.landed,
        watermark,
    )
    return report
