"""Bronze: land every raw provider payload exactly once, quarantine what does not parse, log every query."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from leadlake.connectors.http import (
    BudgetExhausted,
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
)
from leadlake.connectors.sources.base import Page, ProviderQuery, SourceAdapter
from leadlake.core.campaign import CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, BRONZE_INGEST_LOG, BRONZE_QUARANTINE
from leadlake.quality.quarantine import QUARANTINE_KEYS, quarantine_row, quarantine_table

log = logging.getLogger("leadlake.stages.bronze.landing")

BRONZE_KEYS = ["campaign_id", "provider_key", "content_hash"]

RAW_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("provider_key", pa.string()),
        ("campaign_id", pa.string()),
        ("run_id", pa.string()),
        ("request_fingerprint", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("payload", pa.string()),
        ("content_hash", pa.string()),
    ]
)
LOG_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("campaign_id", pa.string()),
        ("provider", pa.string()),
        ("request_fingerprint", pa.string()),
        ("query", pa.string()),
        ("pages", pa.int64()),
        ("calls", pa.int64()),
        ("items", pa.int64()),
        ("quarantined", pa.int64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)


def content_hash(payload: str, volatile: tuple[str, ...] = ()) -> str:
    """SHA-256 of the payload: the change-detection key of a raw record, blind to request-dependent fields."""
    if volatile:
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            stable = {k: v for k, v in doc.items() if k not in volatile}
            payload = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class ProviderReport:
    """What one provider's queries did in one run."""

    provider: str
    queries: int = 0
    pages: int = 0
    calls: int = 0
    items: int = 0
    landed: int = 0
    already_seen: int = 0
    quarantined: int = 0
    failed_queries: int = 0
    skipped_queries: int = 0  # not sent: the provider was stopped (bad key, open breaker, spent budget)
    errors: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What an ingestion run landed, per provider."""

    campaign_id: str
    run_id: str
    providers: dict[str, ProviderReport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def landed(self) -> int:
        return sum(p.landed for p in self.providers.values())

    @property
    def items(self) -> int:
        return sum(p.items for p in self.providers.values())


class _Buffer:
    """Rows waiting to be merged into one bronze table; flushed in batches to keep Delta commits few."""

    def __init__(self, lakehouse: Lakehouse, table: str, flush_rows: int) -> None:
        self.lakehouse, self.table, self.flush_rows = lakehouse, table, flush_rows
        self.rows: list[dict] = []
        self.quarantine: list[dict] = []
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self.landed = 0

    def add(self, rows: list[dict], quarantine: list[dict], log_row: dict) -> None:
        with self.lock:
            self.rows.extend(rows)
            self.quarantine.extend(quarantine)
            self.log.append(log_row)
            if len(self.rows) >= self.flush_rows:
                self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        # Raw rows first, then the log: a crash between the two re-runs the query, and the
        # insert-only merge on (campaign, provider_key, content_hash) makes that harmless.
        if self.rows:
            table = pa.Table.from_pylist(_dedupe(self.rows), schema=RAW_SCHEMA)
            stats = self.lakehouse.merge(
                self.table, table, keys=BRONZE_KEYS, update=False, partition_by=["campaign_id"]
            )
            self.landed += stats.inserted
        if self.quarantine:
            rows = [_as_quarantine(r, self.table) for r in self.quarantine]
            self.lakehouse.merge(
                BRONZE_QUARANTINE, quarantine_table(rows), keys=QUARANTINE_KEYS, update=False
            )
        if self.log:
            self.lakehouse.append(BRONZE_INGEST_LOG, pa.Table.from_pylist(self.log, schema=LOG_SCHEMA))
        self.rows, self.quarantine, self.log = [], [], []


def _as_quarantine(row: dict, table: str) -> dict:
    """A raw row that failed validation, in the one quarantine shape."""
    return quarantine_row(
        stage="bronze",
        target_table=table,
        reason=row["reason"],
        record_key=row.get("provider_key"),
        provider=row["provider"],
        provider_key=row.get("provider_key"),
        campaign_id=row["campaign_id"],
        run_id=row["run_id"],
        payload=row["payload"],
        content_hash=row["content_hash"],
        at=row["fetched_at"],
    )


def _dedupe(rows: list[dict]) -> list[dict]:
    """Drop rows repeated within one batch (the same place returned by two overlapping queries)."""
    seen: set[tuple] = set()
    out = []
    for r in rows:
        key = (r["campaign_id"], r.get("provider_key"), r["content_hash"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def page_rows(
    page: Page, provider: str, campaign_id: str, run_id: str, volatile: tuple[str, ...] = ()
) -> tuple[list[dict], list[dict]]:
    """Split a fetched page into bronze rows and quarantine rows."""
    now = datetime.now(UTC)
    good, bad = [], []
    for item in page.items:
        row = {
            "provider": provider,
            "provider_key": item.provider_key,
            "campaign_id": campaign_id,
            "run_id": run_id,
            "request_fingerprint": page.query.fingerprint,
            "fetched_at": now,
            "payload": item.payload,
            "content_hash": content_hash(item.payload, volatile),
        }
        if item.error or not item.provider_key:
            bad.append(row | {"reason": item.error or "missing provider key"})
        else:
            good.append(row)
    return good, bad


def _run_query(
    adapter: SourceAdapter, query: ProviderQuery, campaign_id: str, run_id: str
) -> tuple[list[dict], list[dict], dict]:
    """Fetch one query to its last page; a failure is logged and quarantined, never raised."""
    rows: list[dict] = []
    bad: list[dict] = []
    pages = calls = 0
    status, error = "ok", None
    try:
        for page in adapter.fetch_all(query):
            pages += 1
            calls += page.calls
            g, b = page_rows(page, adapter.name, campaign_id, run_id, getattr(adapter, "volatile_fields", ()))
            rows.extend(g)
            bad.extend(b)
    except MalformedResponse as exc:
        status, error = "malformed", str(exc)
        body = getattr(exc, "body", "") or ""
        bad.append(
            {
                "provider": adapter.name,
                "provider_key": None,
                "campaign_id": campaign_id,
                "run_id": run_id,
                "request_fingerprint": query.fingerprint,
                "fetched_at": datetime.now(UTC),
                "payload": body,
                "content_hash": content_hash(body),
                "reason": f"malformed response page: {exc}",
            }
        )
    except (ProviderAuthError, CircuitOpenError):
        raise
    except BudgetExhausted as exc:
        # Nothing was sent for the refused call; pages fetched before it are kept and landed.
        status, error = "budget_exhausted", str(exc)
    except ProviderError as exc:
        status, error = "failed", str(exc)
    log_row = {
        "run_id": run_id,
        "campaign_id": campaign_id,
        "provider": adapter.name,
        "request_fingerprint": query.fingerprint,
        "query": _describe(query),
        "pages": pages,
        "calls": calls,
        "items": len(rows) + len(bad),
        "quarantined": len(bad),
        "status": status,
        "error": error,
        "finished_at": datetime.now(UTC),
    }
    return rows, bad, log_row


def _describe(query: ProviderQuery) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(query.params.items()) if k not in ("pageToken", "offset"))


def record_campaign(lakehouse: Lakehouse, campaign: CampaignSpec) -> None:
    """Keep the spec a run used, so later stages score against the same areas and vertical."""
    row = {
        "campaign_id": campaign.campaign_id,
        "spec": campaign.model_dump_json(),
        "updated_at": datetime.now(UTC),
    }
    schema = pa.schema(
        [("campaign_id", pa.string()), ("spec", pa.string()), ("updated_at", pa.timestamp("us", tz="UTC"))]
    )
    lakehouse.merge(BRONZE_CAMPAIGNS, pa.Table.from_pylist([row], schema=schema), keys=["campaign_id"])


def ingest_queries(
    campaign_id: str,
    adapter: SourceAdapter,
    queries: list[ProviderQuery],
    lakehouse: Lakehouse,
    run_id: str,
    *,
    workers: int = 4,
    flush_rows: int = 5000,
    on_query_done: Callable[[str], None] | None = None,
) -> ProviderReport:
    """Fetch one adapter's queries to their last page and land the payloads in its bronze table."""
    pr = ProviderReport(adapter.name, queries=len(queries))
    buf = _Buffer(lakehouse, adapter.bronze_table, flush_rows)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"ingest-{adapter.name}") as pool:
        # Pending futures only: a handled one is dropped, so its rows are freed once they are buffered (all
        # of a big campaign's payloads were held until its last query returned).
        futures = {pool.submit(_run_query, adapter, q, campaign_id, run_id): None for q in queries}
        for fut in as_completed(futures):
            futures.pop(fut, None)
            if fut.cancelled():  # stopped by a bad key, an open breaker or a spent budget above
                pr.skipped_queries += 1
                continue
            try:
                rows, bad, log_row = fut.result()
            except (ProviderAuthError, CircuitOpenError) as exc:
                # A bad key or an open breaker stops this provider; other providers go on.
                for other in futures:
                    other.cancel()
                pr.failed_queries += 1
                pr.errors.append(str(exc))
                continue
            pr.pages += log_row["pages"]
            pr.calls += log_row["calls"]
            pr.items += log_row["items"]
            pr.quarantined += len(bad)
            if log_row["status"] == "failed":
                pr.failed_queries += 1
                pr.errors.append(log_row["error"])
            elif log_row["status"] == "budget_exhausted":
                # The campaign's budget is spent: stop this provider's remaining queries, keep what landed.
                for other in futures:
                    other.cancel()
                pr.failed_queries += 1
                if not any("budget exhausted" in e for e in pr.errors):
                    pr.errors.append(log_row["error"])
            buf.add(rows, bad, log_row)
            if on_query_done:
                on_query_done(adapter.name)
    buf.flush()
    pr.landed = buf.landed
    pr.already_seen = pr.items - pr.quarantined - pr.landed
    if pr.failed_queries:
        log.warning(
            "%s: %d of %d queries failed: %s", adapter.name, pr.failed_queries, pr.queries, pr.errors[0]
        )
    return pr


def ingest(
    campaign: CampaignSpec,
    adapters: Iterable[SourceAdapter],
    lakehouse: Lakehouse,
    run_id: str,
    *,
    workers: int = 4,
    flush_rows: int = 5000,
    on_query_done: Callable[[str], None] | None = None,
) -> IngestReport:
    """Run every adapter's planned queries for a campaign and land the payloads in bronze."""
    started = datetime.now(UTC)
    report = IngestReport(campaign.campaign_id, run_id)
    record_campaign(lakehouse, campaign)
    for adapter in adapters:
        report.providers[adapter.name] = ingest_queries(
            campaign.campaign_id,
            adapter,
            adapter.plan_queries(campaign),
            lakehouse,
            run_id,
            workers=workers,
            flush_rows=flush_rows,
            on_query_done=on_query_done,
        )
    report.seconds = (datetime.now(UTC) - started).total_seconds()
    return report
