"""One report shape for every stage run, kept per run in `ops.stage_runs` for later reports and alerts."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import OPS_STAGE_RUNS

log = logging.getLogger("leadlake.observe.reports")

Status = Literal["success", "partial", "failed"]

STAGE_RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("stage", pa.string()),
        ("scope", pa.string()),
        ("status", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("seconds", pa.float64()),
        ("rows_in", pa.int64()),
        ("rows_out", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("failures", pa.list_(pa.string())),
        ("error", pa.string()),
        ("details_json", pa.string()),
    ]
)


@dataclass
class Outcome:
    """What a stage-specific report amounts to: rows in and out, quarantined, and what failed."""

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    failures: list[str] = field(default_factory=list)  # e.g. "yelp: every query failed: 401 ..."
    failed: bool = False  # nothing useful was done (every provider refused us, ...)


@dataclass
class StageReport:
    """One stage's run: status, rows, failures, and the stage's own report as details."""

    stage: str
    run_id: str
    status: Status
    started_at: datetime
    seconds: float
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    scope: str = ""  # a campaign or provider when the stage ran for part of the work
    details: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def row(self) -> dict[str, Any]:
        """This report as an ops.stage_runs row."""
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "scope": self.scope,
            "status": self.status,
            "started_at": self.started_at,
            "seconds": float(self.seconds),
            "rows_in": int(self.rows_in),
            "rows_out": int(self.rows_out),
            "rows_quarantined": int(self.rows_quarantined),
            "failures": list(self.failures),
            "error": self.error,
            "details_json": json.dumps(plain(self.details), default=str, sort_keys=True),
        }


def plain(value: Any) -> Any:
    """Dataclasses (nested in lists and dicts) as plain JSON-able values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def from_outcome(
    stage: str,
    run_id: str,
    started_at: datetime,
    seconds: float,
    details: Any,
    outcome: Outcome,
    scope: str = "",
) -> StageReport:
    """A StageReport whose status follows the outcome: failed, partial (some failures) or success."""
    status: Status = "failed" if outcome.failed else ("partial" if outcome.failures else "success")
    return StageReport(
        stage=stage,
        run_id=run_id,
        status=status,
        started_at=started_at,
        seconds=seconds,
        rows_in=outcome.rows_in,
        rows_out=outcome.rows_out,
        rows_quarantined=outcome.rows_quarantined,
        failures=list(outcome.failures),
        scope=scope,
        details=details,
    )


def failed_report(
    stage: str, run_id: str, started_at: datetime, seconds: float, exc: BaseException, scope: str = ""
) -> StageReport:
    """The report of a stage that raised."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StageReport(
        stage=stage,
        run_id=run_id,
        status="failed",
        started_at=started_at,
        seconds=seconds,
        error=f"{type(exc).__name__}: {first}",
        scope=scope,
    )


def record(lake: Lakehouse, report: StageReport) -> None:
    """Append the report to ops.stage_runs; a lakehouse that cannot take it only costs a warning."""
    try:
        lake.merge(
            OPS_STAGE_RUNS,
            pa.Table.from_pylist([report.row()], schema=STAGE_RUNS_SCHEMA),
            ["run_id", "stage", "scope"],
        )
    except Exception as exc:  # noqa: BLE001 - the run's own outcome matters more than its record
        log.warning("could not record %s/%s in %s: %s", report.stage, report.run_id, OPS_STAGE_RUNS, exc)


def now() -> datetime:
    return datetime.now(UTC)
