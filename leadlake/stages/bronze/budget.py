"""One budget per campaign run, drawn on by every paid call the run causes: discovery and enrichment alike.

The ledger is a small SQLite file under the state dir, one per lakehouse
(`<state_dir>/spend/<sha of the lakehouse root>.sqlite`): a row per (campaign_id, run_id) with its budget,
and the spend per provider. Every request is paid for *before* it is sent (`ProviderHttp` calls the
meter before each attempt, retries included) in one `BEGIN IMMEDIATE` transaction, so concurrent provider
tasks (threads or processes of one machine) check and debit the same remaining budget atomically; when
it cannot pay for the next call, that provider stops with BudgetExhausted and nothing is sent.

Why SQLite and not a Delta table: a debit happens before every HTTP call, from several processes at once;
a Delta commit per call would cost milliseconds to seconds (and a commit conflict per race), while SQLite
serialises writers with a file lock in well under a millisecond. Why one file per lakehouse: the ledger
belongs with the tables the runs write (a scratch lakehouse in a test never sees a real run's spend). On
a cluster whose tasks run on several machines, the ledger must live in a shared database instead (the
same two tables in Postgres with `SELECT ... FOR UPDATE`): see the README.

Charging rule for enrichment (leads come from silver and may belong to several campaigns): a lookup is
made for the leads of the campaigns that asked for that provider, and each of its requests is split in
equal shares among those campaigns; a campaign that cannot pay its share drops out and the others share
the price; when none can pay, the lookup stops with "budget exhausted". Each campaign pays from the
ledger of the run that found its leads: the run with the enrichment's own run id when there is one (the
CLI runs every stage under one id), else the campaign's latest opened run (Airflow's ingest DAG run
before the gold DAG), else a new one with the campaign's budget.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadlake.connectors.http import BudgetExhausted, ProviderHttp

if TYPE_CHECKING:
    from leadlake.connectors.sources.base import SourceAdapter
    from leadlake.core.campaign import CampaignSpec
    from leadlake.stages.bronze.planning import CampaignPlan

MICRO = 1_000_000  # amounts are kept in micro-dollars: integer sums, no float drift
STALE_LEDGER_S = 90 * 24 * 3600.0  # a ledger nobody wrote to for this long (a scratch lakehouse) is removed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    budget_micro INTEGER,            -- NULL: no cap (a spec built in code without a budget)
    opened_at REAL NOT NULL,
    UNIQUE (campaign_id, run_id)
);
CREATE TABLE IF NOT EXISTS spend (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    calls INTEGER NOT NULL,
    micro INTEGER NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, run_id, provider)
);
"""


def _micro(usd: float) -> int:
    return round(usd * MICRO)


def _usd(micro: int) -> float:
    return micro / MICRO


@dataclass(frozen=True)
class Payer:
    """The campaign run a charge is drawn from."""

    campaign_id: str
    run_id: str


@dataclass
class RunSpend:
    """What one campaign run may spend and has spent, per provider."""

    campaign_id: str
    run_id: str
    budget_usd: float | None
    spent_usd: float = 0.0
    calls: int = 0
    refused: int = 0
    providers: dict[str, dict[str, float]] = field(default_factory=dict)  # {calls, usd, refused}

    @property
    def remaining_usd(self) -> float | None:
        return None if self.budget_usd is None else max(0.0, self.budget_usd - self.spent_usd)

    @property
    def exhausted(self) -> bool:
        return self.refused > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "run_id": self.run_id,
            "budget_usd": self.budget_usd,
            "spent_usd": round(self.spent_usd, 6),
            "remaining_usd": None if self.remaining_usd is None else round(self.remaining_usd, 6),
            "calls": self.calls,
            "refused_calls": self.refused,
            "providers": self.providers,
        }


def _prune(folder: Path) -> None:
    """Remove ledgers (and their WAL files) untouched for STALE_LEDGER_S: tests' scratch lakehouses leave
    one each, and a run that old has no budget left to guard."""
    now = time.time()
    try:
        for f in folder.glob("*.sqlite*"):
            if now - f.stat().st_mtime > STALE_LEDGER_S:
                f.unlink(missing_ok=True)
    except OSError:
        pass


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.Lock:
    """One lock per ledger file in this process, shared by every SpendLedger opened on it."""
    key = str(path.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class SpendLedger:
    """Budgets and spend per (campaign, run) in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect()  # creates the tables
        # Resolved once: Path.resolve per charge was a seventh of bronze's thread time at 100k businesses.
        self._lock = _process_lock(self.path)

    @classmethod
    def for_lakehouse(cls, state_dir: str | Path, lakehouse_root: str) -> SpendLedger:
        """The ledger of one lakehouse on this machine: `<state_dir>/spend/<sha12 of the root>.sqlite`."""
        digest = hashlib.sha256(lakehouse_root.rstrip("/").encode()).hexdigest()[:12]
        path = Path(state_dir) / "spend" / f"{digest}.sqlite"
        if not path.exists():
            _prune(path.parent)
        return cls(path)

    # ---- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    class _Tx:
        def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
            self.conn, self.lock = conn, lock

        def __enter__(self) -> sqlite3.Connection:
            # Threads of one process queue on a Python lock: SQLite's busy handler would make them sleep
            # and retry (1-100 ms a time), which serialised bronze's workers behind the ledger.
            self.lock.acquire()
            try:
                self.conn.execute("BEGIN IMMEDIATE")  # the write lock first: check-and-debit is atomic
            except BaseException:
                self.lock.release()
                raise
            return self.conn

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            try:
                self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.lock.release()

    def _tx(self) -> SpendLedger._Tx:
        return SpendLedger._Tx(self._connect(), self._lock)

    # ---- runs ----------------------------------------------------------------------------------------
    def open_run(self, campaign_id: str, run_id: str, budget_usd: float | None) -> Payer:
        """Open a campaign run's budget (idempotent: a retried task keeps the first budget and its spend)."""
        with self._tx() as db:
            self._open(db, campaign_id, run_id, budget_usd)
        return Payer(campaign_id, run_id)

    @staticmethod
    def _open(db: sqlite3.Connection, campaign_id: str, run_id: str, budget_usd: float | None) -> None:
        db.execute(
            "INSERT OR IGNORE INTO runs (campaign_id, run_id, budget_micro, opened_at) VALUES (?, ?, ?, ?)",
            (campaign_id, run_id, None if budget_usd is None else _micro(budget_usd), time.time()),
        )

    def payer_for(self, campaign_id: str, run_id: str, budget_usd: float | None) -> Payer:
        """The run an enrichment lookup of this campaign pays from: this run id if the campaign has it,
        else the campaign's latest opened run, else a new run with `budget_usd`."""
        with self._tx() as db:
            row = db.execute(
                "SELECT run_id FROM runs WHERE campaign_id = ? ORDER BY run_id = ? DESC, seq DESC LIMIT 1",
                (campaign_id, run_id),
            ).fetchone()
            if row is not None:
                return Payer(campaign_id, row[0])
            self._open(db, campaign_id, run_id, budget_usd)
        return Payer(campaign_id, run_id)

    def runs(self, campaign_id: str) -> list[str]:
        """The campaign's run ids in the order they were opened."""
        rows = self._connect().execute(
            "SELECT run_id FROM runs WHERE campaign_id = ? ORDER BY seq", (campaign_id,)
        )
        return [r[0] for r in rows]

    def run(self, campaign_id: str, run_id: str) -> RunSpend:
        """Budget and spend of one campaign run (KeyError when it was never opened)."""
        db = self._connect()
        row = db.execute(
            "SELECT budget_micro FROM runs WHERE campaign_id = ? AND run_id = ?", (campaign_id, run_id)
        ).fetchone()
        if row is None:
            raise KeyError(f"no budget opened for campaign {campaign_id!r} run {run_id!r}")
        out = RunSpend(campaign_id, run_id, None if row[0] is None else _usd(row[0]))
        for provider, calls, micro, refused in db.execute(
            "SELECT provider, calls, micro, refused FROM spend WHERE campaign_id = ? AND run_id = ? "
            "ORDER BY provider",
            (campaign_id, run_id),
        ):
            out.providers[provider] = {"calls": calls, "usd": _usd(micro), "refused": refused}
            out.calls += calls
            out.refused += refused
            out.spent_usd += _usd(micro)
        return out

    # ---- charging ------------------------------------------------------------------------------------
    def charge(self, payers: Sequence[Payer], provider: str, price_usd: float) -> dict[Payer, float]:
        """Pay for one request, split equally among `payers` that can pay their share; returns the shares.

        Raises BudgetExhausted (and records the refusal) when no payer can; nothing is charged then.
        """
        unique = list(dict.fromkeys(payers))
        if not unique:
            raise BudgetExhausted(provider, "no campaign run to charge this request to")
        price = _micro(price_usd)
        with self._tx() as db:
            remaining: dict[Payer, int | None] = {}
            for p in unique:
                row = db.execute(
                    "SELECT r.budget_micro, COALESCE(SUM(s.micro), 0) FROM runs r LEFT JOIN spend s "
                    "ON s.campaign_id = r.campaign_id AND s.run_id = r.run_id "
                    "WHERE r.campaign_id = ? AND r.run_id = ? GROUP BY r.seq",
                    (p.campaign_id, p.run_id),
                ).fetchone()
                if row is None:
                    raise BudgetExhausted(
                        provider, f"campaign {p.campaign_id!r} run {p.run_id!r} has no budget opened"
                    )
                remaining[p] = None if row[0] is None else row[0] - row[1]
            able = unique
            while able:
                share = math.ceil(price / len(able))
                fits = [p for p in able if remaining[p] is None or remaining[p] >= share]
                if len(fits) == len(able):
                    break
                able = fits
            if not able:  # the refusal is recorded (committed), then raised
                for p in unique:
                    self._record(db, p, provider, calls=0, micro=0, refused=1)
            else:
                share = math.ceil(price / len(able))
                for p in able:
                    self._record(db, p, provider, calls=1, micro=share, refused=0)
        if not able:
            raise BudgetExhausted(provider, self._exhausted_message(unique, remaining, provider, price))
        return {p: _usd(share) for p in able}

    @staticmethod
    def _record(
        db: sqlite3.Connection, p: Payer, provider: str, *, calls: int, micro: int, refused: int
    ) -> None:
        db.execute(
            "INSERT INTO spend (campaign_id, run_id, provider, calls, micro, refused) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (campaign_id, run_id, provider) DO UPDATE SET calls = calls + excluded.calls, "
            "micro = micro + excluded.micro, refused = refused + excluded.refused",
            (p.campaign_id, p.run_id, provider, calls, micro, refused),
        )

    @staticmethod
    def _exhausted_message(
        payers: list[Payer], remaining: dict[Payer, int | None], provider: str, price: int
    ) -> str:
        left = ", ".join(
            f"campaign {p.campaign_id!r} run {p.run_id!r} has ${_usd(remaining[p] or 0):.4f} left"
            for p in payers
        )
        return (
            f"{left}; the next {provider} call costs ${_usd(price):g}. Raise budget.max_cost_usd in the "
            "campaign file for more per run; the next run starts a new budget"
        )


class CampaignMeter:
    """A `Meter` for ProviderHttp: charges each request to the payers a callable names at call time.

    `units` names how many prices the request costs: 1 by default, 0 for a request whose lookups were
    paid one by one beforehand (a bulk request, see PayingAdapter.fetch_bulk)."""

    def __init__(
        self,
        ledger: SpendLedger,
        price_usd: float,
        payers: Sequence[Payer] | Callable[[], Sequence[Payer]],
        units: Callable[[], int] | None = None,
    ) -> None:
        self.ledger, self.price_usd = ledger, float(price_usd)
        self._payers = payers if callable(payers) else (lambda fixed=tuple(payers): fixed)
        self._units = units or (lambda: 1)

    def charge(self, provider: str) -> None:
        units = self._units()
        if units > 0:
            self.ledger.charge(self._payers(), provider, self.price_usd * units)


def meter_adapter(adapter: Any, meter: CampaignMeter | None) -> None:
    """Make every request of `adapter` pay through `meter` (None removes it). An adapter without a
    ProviderHttp cannot be metered and is refused: spend that nobody counts is what this module prevents."""
    http = getattr(adapter, "_http", None)
    if not isinstance(http, ProviderHttp):
        raise TypeError(f"{getattr(adapter, 'name', adapter)!r} has no ProviderHttp to meter its spend")
    http.meter = meter


# ---- discovery ---------------------------------------------------------------------------------------
def guard_ingest(
    campaign: CampaignSpec, adapters: Iterable[SourceAdapter], run_id: str, ledger: SpendLedger
) -> CampaignPlan:
    """Before any call of an ingest task: plan the *whole* campaign (every source and its enrichment, not
    just this task's providers), refuse it when discovery's worst case exceeds the budget, open the run's
    one budget in the ledger and make every adapter pay each request from it. Returns the plan."""
    from leadlake.stages.bronze.planning import enforce_budget, plan_campaign

    adapters = list(adapters)
    plan = plan_campaign(campaign, adapters)
    enforce_budget(plan)
    payer = ledger.open_run(campaign.campaign_id, run_id, campaign.max_cost_usd)
    for a in adapters:
        meter_adapter(a, CampaignMeter(ledger, a.price_per_call_usd, [payer]))
    return plan


# ---- enrichment --------------------------------------------------------------------------------------
class _PayerContext:
    """The payers of the lookup the current thread is fetching (landing runs each query in one thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> Sequence[Payer]:
        return getattr(self._local, "payers", ())

    def set(self, payers: Sequence[Payer]) -> Sequence[Payer]:
        previous = self.get()
        self._local.payers = payers
        return previous

    def units(self) -> int:
        return getattr(self._local, "units", 1)

    def set_units(self, units: int) -> int:
        previous = self.units()
        self._local.units = units
        return previous


class PayingAdapter:
    """An enrichment adapter whose requests for a query are charged to that query's payers."""

    def __init__(self, adapter: Any, ledger: SpendLedger, payers: dict[str, list[Payer]]) -> None:
        self._adapter, self._payers, self._ledger = adapter, payers, ledger
        self._context = _PayerContext()
        meter_adapter(
            adapter,
            CampaignMeter(ledger, adapter.price_per_call_usd, self._context.get, self._context.units),
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    def fetch_all(self, query: Any) -> Iterator[Any]:
        previous = self._context.set(self._payers.get(query.fingerprint, ()))
        try:
            yield from self._adapter.fetch_all(query)
        finally:
            self._context.set(previous)

    def fetch_page(self, query: Any, cursor: str | None = None) -> Any:
        previous = self._context.set(self._payers.get(query.fingerprint, ()))
        try:
            return self._adapter.fetch_page(query, cursor)
        finally:
            self._context.set(previous)

    def fetch_bulk(self, queries: list[Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """A bulk request: each lookup is paid first, by its own payers, one price each (PDL bills every
        match as one enrichment); lookups the budget cannot pay are not sent and come back as errors
        saying "budget exhausted". Raises BudgetExhausted when not even the first can be paid."""
        paid, unpaid = [], {}
        for i, q in enumerate(queries):
            try:
                self._ledger.charge(self._payers.get(q.fingerprint, ()), self.name, self.price_per_call_usd)
            except BudgetExhausted as exc:
                if not paid:
                    raise
                unpaid = {rest.fingerprint: str(exc) for rest in queries[i:]}
                break
            paid.append(q)
        units = self._context.set_units(0)  # paid above: the request itself costs nothing more
        try:
            pages, errors = self._adapter.fetch_bulk(paid)
        finally:
            self._context.set_units(units)
        return pages, {**errors, **unpaid}

    def close(self) -> None:
        meter_adapter(self._adapter, None)


def guard_enrichment(
    ledger: SpendLedger, planned: dict[Payer, float]
) -> dict[Payer, tuple[float, float | None]]:
    """Before any enrichment call: each campaign run's share of the *targeted* plan (cache hits and
    untargeted leads excluded) against what its budget has left. Returns the runs whose plan does not
    fit, with (planned, remaining); the caller sends nothing for lookups only those runs would pay."""
    over: dict[Payer, tuple[float, float | None]] = {}
    for payer, cost in planned.items():
        remaining = ledger.run(payer.campaign_id, payer.run_id).remaining_usd
        if remaining is not None and cost > remaining + 1e-9:
            over[payer] = (cost, remaining)
    return over
