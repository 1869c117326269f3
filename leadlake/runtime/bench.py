"""`leadlake bench`: a sandbox world of N businesses through bronze -> silver -> gold, timed and measured.

The bench plans its campaigns from the world it serves (one campaign per city, one keyword per category,
areas small enough that no query reaches a provider's paging cap), so that bronze lands about every record
the world holds and the later stages' figures say something about N. What the campaigns ask beyond their
areas and keywords (vertical, filters, enrichment, destinations) comes from a template campaign: by default
the tech spec's example campaign (`DEFAULT_TEMPLATE`), or any campaign file (`leadlake bench --campaign`).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from leadlake.connectors.registry import connector, names
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.core.geo import haversine_km_np

# The tech spec's example campaign (002, 10.3 "Create Campaign"): its filters (4.0 stars, 20 reviews) and a
# CRM destination (the registry's default one) at the default min tier, with every registered discovery
# and enrichment provider. No budget cap: a bench measures the whole run (a cap would stop enrichment).
DEFAULT_TEMPLATE: dict[str, Any] = {
    "name": "bench template",
    "vertical": "local_services",
    "geo": {"city": "Denver", "region": "CO", "country": "US", "radius_km": 50},
    "keywords": ["plumber"],
    "filters": {"min_rating": 4.0, "min_reviews": 20},
}


def _default_template() -> dict[str, Any]:
    """DEFAULT_TEMPLATE with its providers and destination from the connector registry."""
    from leadlake.connectors.registry import default_destinations

    return DEFAULT_TEMPLATE | {
        "sources": names("discovery"),
        "enrichment": names("enrichment"),
        "destinations": [{"type": d} for d in default_destinations()[:1]],
    }


def bench_template(path: str | Path | None = None) -> CampaignSpec:
    """The campaign the bench's city campaigns copy (vertical, filters, enrichment, destinations)."""
    from leadlake.core.campaign import from_document, load_campaign

    return load_campaign(path) if path else from_document(_default_template(), "bench template")


# Candidates for a circle's count come from an equirectangular plane around the city, whose scale drifts
# by ~1% across a metro: the plane's search reach is this much wider than the circle.
_CIRCLE_SLACK = 1.03


@dataclass
class StageResult:
    """One stage's wall time, records handled, peak RSS of the pipeline's process tree (the JVM and Python
    workers too; the sandbox's own process apart), calls and cost."""

    stage: str
    seconds: float
    records: int
    peak_rss_mb: float
    notes: str = ""
    http_calls: int = 0
    cost_usd: float = 0.0
    sandbox_rss_mb: float = 0.0  # the stand-in providers' process: on the internet in a real run

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class BenchPlan:
    """What the bench asks of the sandbox for one world: campaigns, queries, the records it should land."""

    campaigns: list[CampaignSpec]
    expected_records: int  # every provider record the world holds
    queries: int  # per provider, every campaign: areas x keywords
    max_per_query: dict[str, int]  # the most records any one planned query can match, per provider


@dataclass
class BenchResult:
    """Every stage's figures for one world size, and how much of the world bronze landed."""

    businesses: int
    stages: list[StageResult] = field(default_factory=list)
    expected_records: int = 0
    landed_records: int = 0  # distinct provider records in bronze (quarantined ones included)
    campaigns: int = 0
    areas: int = 0
    keywords: int = 0
    error: str | None = None  # the stage that raised, and why: later stages did not run

    @property
    def landed_ratio(self) -> float:
        return self.landed_records / self.expected_records if self.expected_records else 0.0

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages if s.stage != "world")

    def as_dict(self) -> dict[str, Any]:
        return {
            "businesses": self.businesses,
            "expected_records": self.expected_records,
            "landed_records": self.landed_records,
            "landed_ratio": round(self.landed_ratio, 4),
            "campaigns": self.campaigns,
            "areas": self.areas,
            "keywords": self.keywords,
            "total_seconds": round(self.total_seconds, 3),
            "error": self.error,
            "stages": [asdict(s) | {"records_per_s": round(s.records_per_s, 1)} for s in self.stages],
        }


CHILDREN_EVERY_S = 0.5


class RssSampler:
    """Samples the RSS of this process tree every 100 ms; the peak is kept per stage. The sandbox's process
    (`apart`) is summed on its own: its memory is the providers', not the pipeline's."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.apart: int | None = None
        self.peak = 0
        self.apart_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")
        self._kids: list[psutil.Process] = []
        self._listed_at = -math.inf

    def _children(self) -> list[psutil.Process]:
        # Listing the tree walks every process in /proc: done every half second, not every sample (at 10 a
        # second it took a tenth of the bench process's interpreter away from the pipeline it measures).
        now = time.monotonic()
        if now - self._listed_at >= CHILDREN_EVERY_S:
            self._kids, self._listed_at = self.proc.children(recursive=True), now
        return self._kids

    def _sample(self) -> tuple[int, int]:
        total, apart = self.proc.memory_info().rss, 0
        for child in self._children():
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            if self.apart is not None and child.pid == self.apart:
                apart += rss
            else:
                total += rss
        return total, apart

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            total, apart = self._sample()
            self.peak, self.apart_peak = max(self.peak, total), max(self.apart_peak, apart)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def reset(self) -> None:
        self._listed_at = -math.inf  # a stage starts from the whole tree as it is now
        self.peak, self.apart_peak = self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


# The sandbox's process, served until the bench closes its stdin, or dies. The child builds the world, plans
# the bench's campaigns from it and serves it: the bench process never holds a world (at 300,000
# businesses the bench process still held 2 GB after bronze once its planning copy had been deleted).
_SANDBOX_MAIN = """
import json, sys, time
from leadlake.core.campaign import CampaignSpec
from leadlake.runtime.bench import plan_bench
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World
t0 = time.perf_counter()
world = World.generate(seed={seed}, businesses={businesses})
t1 = time.perf_counter()
template = CampaignSpec.model_validate_json(sys.argv[1]) if sys.argv[1] else None
plan = plan_bench(world, template=template)
t2 = time.perf_counter()
server = SandboxServer(world).start()
print(server.url, flush=True)
print(json.dumps(dict(
    campaigns=[c.model_dump(mode="json") for c in plan.campaigns], expected_records=plan.expected_records,
    queries=plan.queries, max_per_query=plan.max_per_query, world_s=t1 - t0, plan_s=t2 - t1,
)), flush=True)
sys.stdin.read()
server.stop()
"""


class SandboxProcess:
    """The sandbox in a process of its own, as the providers are other machines in a real run: its CPU is
    not taken from the pipeline's interpreter and its memory is reported apart. It also plans the bench's
    campaigns (`plan`, with the seconds the world and the plan took) from the world it serves."""

    def __init__(self, businesses: int, seed: int = 42, template: CampaignSpec | None = None) -> None:
        self.code = _SANDBOX_MAIN.format(seed=int(seed), businesses=int(businesses))
        self.url = ""
        self.plan: BenchPlan | None = None
        self.world_s = self.plan_s = 0.0
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.code, template.model_dump_json() if template else ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self) -> str:
        """The server's URL once its world is built; a sandbox that exits first raises with its output."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        planned = self.proc.stdout.readline().strip() if line.startswith("http://") else ""
        if not planned.startswith("{"):
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").strip().splitlines()[-5:]
            said = " | ".join(tail) or line or "no output"
            raise RuntimeError(f"the bench's sandbox did not start: {said}")
        got = json.loads(planned)
        self.plan = BenchPlan(
            [CampaignSpec.model_validate(c) for c in got["campaigns"]],
            int(got["expected_records"]),
            int(got["queries"]),
            {k: int(v) for k, v in got["max_per_query"].items()},
        )
        self.world_s, self.plan_s = float(got["world_s"]), float(got["plan_s"])
        self.url = line
        return line

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- planning from the world ------------------------------------------------------------------------------
def _caps(providers: Sequence[str]) -> tuple[dict[str, int], float]:
    """Each discovery provider's per-query result cap, and the widest circle every one of them accepts."""
    caps, radius = {}, math.inf
    for name in providers:
        limits = connector(name).load().query_limits
        caps[name] = int(limits.max_results)
        radius = min(radius, float(limits.max_radius_km))
    return caps, radius


def plan_city_tiles(
    lats: np.ndarray,
    lons: np.ndarray,
    groups: np.ndarray,
    caps: np.ndarray,
    centre: tuple[float, float],
    max_radius_km: float,
) -> list[tuple[float, float, float, np.ndarray]]:
    """Circles (lat, lon, radius km, records of each group inside) that hold every point, none over a cap.

    Only the records need covering, not the whole metro: a k-d split of the points (at the median, across
    the wider side) until the smallest circle around each part's bounding box holds no more records of one
    (provider, category) group than that provider's cap and is no wider than `max_radius_km`. Radii are
    whole metres (Yelp's unit) and every count uses the sandbox's own great-circle distance.
    """
    lat0, lon0 = centre
    kx = 111.32 * math.cos(math.radians(lat0))
    x, y = (lons - lon0) * kx, (lats - lat0) * 111.32
    order = np.argsort(x, kind="stable")
    xs = x[order]
    out: list[tuple[float, float, float, np.ndarray]] = []
    stack = [np.arange(len(lats))]
    while stack:
        part = stack.pop()
        px, py = x[part], y[part]
        x_lo, x_hi, y_lo, y_hi = px.min(), px.max(), py.min(), py.max()
        cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
        lat, lon = lat0 + cy / 111.32, lon0 + cx / kx
        far = float(haversine_km_np(lat, lon, lats[part], lons[part]).max())
        radius = math.ceil(far * 1000 + 1) / 1000  # whole metres, never short of the farthest record
        splittable = len(part) > 1 and (x_hi > x_lo or y_hi > y_lo)
        if radius <= max_radius_km or not splittable:
            # Every record of the city within the circle counts, not just this part's: the sorted x
            # strip bounds the candidates (the plane's scale drifts ~1% across a metro, hence the slack).
            reach = radius * _CIRCLE_SLACK + 0.01
            strip = order[np.searchsorted(xs, cx - reach) : np.searchsorted(xs, cx + reach, side="right")]
            strip = strip[np.abs(y[strip] - cy) <= reach]
            inside = strip[haversine_km_np(lat, lon, lats[strip], lons[strip]) <= radius]
            counts = np.bincount(groups[inside], minlength=len(caps))
            if bool((counts <= caps).all()) or not splittable:
                out.append((round(lat, 6), round(lon, 6), radius, counts))
                continue
        axis = px if x_hi - x_lo >= y_hi - y_lo else py
        cut = np.argsort(axis, kind="stable")
        half = len(part) // 2
        stack += [part[cut[:half]], part[cut[half:]]]
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def plan_bench(
    world: Any, sources: Sequence[str] | None = None, template: CampaignSpec | None = None
) -> BenchPlan:
    """One campaign per city of the world, its areas planned from where the world's records lie; each
    takes the template's vertical, filters, enrichment and destinations (`bench_template()` by default).

    Every category is a keyword (one category each), and each area is small enough that none of its
    queries matches more records of one category than a provider's paging cap (Google 60, Yelp 240): so
    bronze can land about every record, N x the average number of sources per business.
    """
    sources = list(sources or names("discovery"))
    template = template or bench_template()
    caps, max_radius = _caps(sources)
    categories = list(world.categories())
    cat_index = {c: i for i, c in enumerate(categories)}
    cap_arr = np.array([caps[p] for p in sources for _ in categories])
    per_city: dict[int, list[tuple[float, float, int]]] = {}
    expected = 0
    for pi, provider in enumerate(sources):
        metas = world.meta(provider)
        expected += len(metas)
        for m in metas:
            per_city.setdefault(m.city_index, []).append(
                (m.lat, m.lon, pi * len(categories) + cat_index[m.category])
            )
    keywords = [c.replace("_", " ") for c in categories]
    campaigns: list[CampaignSpec] = []
    most = dict.fromkeys(sources, 0)
    ncat = len(categories)
    cities = world.cities()
    for ci, points in sorted(per_city.items()):
        city = cities[ci]
        arr = np.array(points, dtype=float)
        tiles = plan_city_tiles(
            arr[:, 0], arr[:, 1], arr[:, 2].astype(int), cap_arr, (city.lat, city.lon), max_radius
        )
        for t in tiles:
            for pi, p in enumerate(sources):
                most[p] = max(most[p], int(t[3][pi * ncat : (pi + 1) * ncat].max()))
        areas = [Area(city=city.name, region=city.state, lat=t[0], lon=t[1], radius_km=t[2]) for t in tiles]
        campaigns.append(
            CampaignSpec(
                campaign_id=f"bench-{_slug(city.name)}",
                name=f"bench {city.name}",
                vertical=template.vertical,
                areas=areas,
                keywords=keywords,
                min_rating=template.min_rating,
                min_reviews=template.min_reviews,
                sources=sources,
                enrichment=[e for e in names("enrichment") if e in template.enrichment],
                destinations=list(template.destinations),
            )
        )
    queries = sum(len(c.areas) * len(c.keywords) for c in campaigns)
    return BenchPlan(campaigns, expected, queries, most)


# ---- running ----------------------------------------------------------------------------------------------
def run_bench(
    businesses: int, through: str = "gold", console: Any = None, template: CampaignSpec | None = None
) -> BenchResult:
    """Build a world, serve it, and run each registered stage up to `through` against a scratch lakehouse;
    the campaigns copy `template` (the tech spec's example campaign by default)."""
    from leadlake.core.settings import get_settings
    from leadlake.runtime.resources import Resources, new_run_id
    from leadlake.runtime.stages import run_stage
    from leadlake.runtime.stages import through as stages_through

    say = console.print if console else print
    result = BenchResult(businesses)
    sampler = RssSampler().start()
    sandbox = SandboxProcess(businesses, template=template)
    sampler.apart = sandbox.pid

    def timed(stage: str, work: Callable[[], Any], summary: Callable[[Any], StageResult]) -> Any:
        """Run one stage, then record its seconds, records, peak RSS, calls, cost and notes."""
        sampler.reset()
        t0 = time.perf_counter()
        out = work()
        figures = summary(out)
        figures.stage, figures.seconds = stage, time.perf_counter() - t0
        figures.peak_rss_mb = sampler.peak / 2**20
        figures.sandbox_rss_mb = sampler.apart_peak / 2**20
        result.stages.append(figures)
        return out

    try:
        url = sandbox.wait_ready()
        plan = sandbox.plan
        assert plan is not None
        # Built and planned in the sandbox's process: their memory is the sandbox's, printed apart.
        mine, apart = sampler.peak / 2**20, sampler.apart_peak / 2**20
        result.stages += [
            StageResult("world", sandbox.world_s, businesses, mine, "synthetic world", sandbox_rss_mb=apart),
            StageResult(
                "plan",
                sandbox.plan_s,
                plan.expected_records,
                mine,
                f"{plan.queries} queries per source; most records of a category in one query: "
                + ", ".join(f"{k} {v}" for k, v in plan.max_per_query.items()),
                sandbox_rss_mb=apart,
            ),
        ]
        result.expected_records = plan.expected_records
        result.campaigns = len(plan.campaigns)
        result.areas = sum(len(c.areas) for c in plan.campaigns)
        result.keywords = len(plan.campaigns[0].keywords) if plan.campaigns else 0
        with tempfile.TemporaryDirectory(prefix="leadlake-bench-") as root:
            settings = get_settings().model_copy(update={"lakehouse_uri": root})
            res = Resources.for_sandbox(url, settings, tuple(plan.campaigns))
            say(
                f"bench: {businesses} businesses, {result.campaigns} city campaigns, {result.areas} areas x "
                f"{result.keywords} keywords = {plan.queries} queries per source; "
                f"{plan.expected_records} records in the world"
            )
            run_id = new_run_id("bench")
            for stage in stages_through(through):
                if stage.spark:
                    res.spark  # noqa: B018 - start Spark before the clock of its first stage, as before
                try:
                    timed(stage.name, lambda stage=stage: run_stage(stage, res, run_id), _figures)
                except Exception as exc:  # noqa: BLE001 - the figures so far still print; the error is said
                    result.error = f"{stage.name}: {type(exc).__name__}: {exc}"
                    say(f"bench: stopped at {result.error}")
                    break
                if stage.name == "bronze":
                    result.landed_records = landed_records(res.lakehouse)
                    say(
                        f"bench: bronze landed {result.landed_records} of {result.expected_records} world "
                        f"records ({result.landed_ratio:.1%})"
                    )
    finally:
        sampler.stop()
        sandbox.close()
    return result


def landed_records(lake: Any) -> int:
    """Distinct provider records in the discovery bronze tables and bronze quarantine (landed or refused)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from leadlake.connectors.registry import connectors
    from leadlake.lakehouse.catalog import BRONZE_QUARANTINE

    total = 0
    for spec in connectors("discovery"):
        if spec.bronze_table and lake.exists(spec.bronze_table):
            keys = lake.read(spec.bronze_table, columns=["provider_key"]).column("provider_key")
            total += pc.count_distinct(keys).as_py()
    if lake.exists(BRONZE_QUARANTINE):
        q = lake.read(BRONZE_QUARANTINE)
        if {"provider", "provider_key"} <= set(q.column_names):
            pairs = pa.table({"p": q.column("provider"), "k": q.column("provider_key")})
            total += pairs.group_by(["p", "k"]).aggregate([]).num_rows
    return total


def _price(provider: str) -> float:
    try:
        return float(connector(provider).price_per_call_usd)
    except KeyError:
        return 0.0


def _provider_calls(providers: dict[str, Any]) -> tuple[int, float]:
    """HTTP calls and their estimated cost over provider reports (a report's own cost when it has one)."""
    calls, cost = 0, 0.0
    for name, p in providers.items():
        n = int(getattr(p, "calls", 0) or 0)
        calls += n
        own = getattr(p, "cost_usd", None)
        cost += float(own) if isinstance(own, int | float) else n * _price(name)
    return calls, cost


def _figures(report: Any) -> StageResult:
    """Records handled, HTTP calls, estimated cost and a one-line note from a stage report."""
    d = report.details
    extra, calls, cost = "", 0, 0.0
    if report.stage == "bronze":
        for r in d or []:
            c, usd = _provider_calls(r.providers)
            calls, cost = calls + c, cost + usd
        extra = f"{report.rows_out} landed, {report.rows_quarantined} quarantined"
    elif report.stage == "silver" and d is not None:
        extra = ", ".join(f"{k} {v:.1f}s" for k, v in (d.seconds or {}).items())
        extra += f"; {d.leads} leads, {d.duplicates_merged} merged"
    elif report.stage == "enrich" and d is not None:
        calls, cost = _provider_calls(d.providers)
        extra = (
            f"{d.leads} leads, {d.leads_targeted} targeted; {d.calls_per_lead:.2f} calls and "
            f"{d.paid_per_lead:.2f} paid lookups per lead"
        )
    elif report.stage == "gold" and d is not None:
        extra = f"tiers {d.tiers}"
    elif report.stage == "delivery":
        extra = f"{sum(getattr(r, 'failed', 0) for r in d or [])} failed"
    if report.failures:
        extra += f"; {len(report.failures)} failures: {report.failures[0]}"
    if report.error:
        extra += f"; error: {report.error}"
    return StageResult(report.stage, 0.0, report.rows_in, 0.0, extra, calls, round(cost, 4))


# ---- repeats, summaries, growth ------------------------------------------------------------------------
def summarise(runs: Sequence[BenchResult]) -> list[dict[str, Any]]:
    """Per stage over repeated runs of one size: min / median / max seconds, records/s at the median,
    the highest peak RSS, calls and cost (of the last run)."""
    rows = []
    order = list(dict.fromkeys(s.stage for r in runs for s in r.stages))
    for stage in [*order, "total"]:
        if stage == "total":
            secs = [r.total_seconds for r in runs]
            figs = [
                StageResult(
                    "total",
                    r.total_seconds,
                    r.businesses,
                    max((s.peak_rss_mb for s in r.stages), default=0.0),
                    "",
                    sum(s.http_calls for s in r.stages),
                    sum(s.cost_usd for s in r.stages),
                    max((s.sandbox_rss_mb for s in r.stages), default=0.0),
                )
                for r in runs
            ]
        else:
            figs = [s for r in runs for s in r.stages if s.stage == stage]
            secs = [s.seconds for s in figs]
        med = statistics.median(secs)
        last = figs[-1]
        rows.append(
            {
                "stage": stage,
                "runs": len(secs),
                "min_s": round(min(secs), 2),
                "median_s": round(med, 2),
                "max_s": round(max(secs), 2),
                "records": last.records,
                "records_per_s": round(last.records / med, 1) if med else 0.0,
                "peak_rss_mb": round(max(s.peak_rss_mb for s in figs), 1),
                "sandbox_rss_mb": round(max(s.sandbox_rss_mb for s in figs), 1),
                "http_calls": last.http_calls,
                "cost_usd": round(last.cost_usd, 2),
                "notes": last.notes,
            }
        )
    return rows


def growth(summaries: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per stage across world sizes: median seconds and peak RSS at each size, and how each grows
    (the exponent k of seconds ~ N^k between the smallest and the largest size; 1.0 is linear)."""
    sizes = sorted(summaries)
    stages = list(dict.fromkeys(r["stage"] for n in sizes for r in summaries[n]))
    rows = []
    for stage in stages:
        row: dict[str, Any] = {"stage": stage}
        by = {n: next((r for r in summaries[n] if r["stage"] == stage), None) for n in sizes}
        for n in sizes:
            r = by[n]
            row[f"{n}: s"] = None if r is None else r["median_s"]
            row[f"{n}: MiB"] = None if r is None else r["peak_rss_mb"]
        lo, hi = by[sizes[0]], by[sizes[-1]]
        row["time ~ N^k"] = _exponent(sizes[0], sizes[-1], lo and lo["median_s"], hi and hi["median_s"])
        row["RSS ~ N^k"] = _exponent(sizes[0], sizes[-1], lo and lo["peak_rss_mb"], hi and hi["peak_rss_mb"])
        rows.append(row)
    return rows


def _exponent(n0: int, n1: int, v0: float | None, v1: float | None) -> float | None:
    if n1 <= n0 or not v0 or not v1:
        return None
    return round(math.log(v1 / v0) / math.log(n1 / n0), 2)


def template_summary(template: CampaignSpec, enrich_fields: str) -> dict[str, Any]:
    """What the bench's campaigns asked for beyond their areas: the figures depend on it."""
    return {
        "vertical": template.vertical,
        "min_rating": template.min_rating,
        "min_reviews": template.min_reviews,
        "enrichment": list(template.enrichment),
        "destinations": [f"{d.type}@{d.min_tier}" for d in template.destinations],
        "enrich_fields": enrich_fields,
    }


def bench_document(
    runs: dict[int, list[BenchResult]], through: str, campaign: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON a bench writes: when and where it ran, the campaign shape, every run's figures, the
    summaries and growth."""
    summaries = {n: summarise(rs) for n, rs in runs.items()}
    return {
        "kind": "leadlake-bench",
        "version": 1,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "through": through,
        "campaign": campaign or {},
        "machine": {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        "sizes": {
            str(n): {
                "runs": [r.as_dict() for r in rs],
                "summary": summaries[n],
                "landed_ratio": [round(r.landed_ratio, 4) for r in rs],
            }
            for n, rs in runs.items()
        },
        "growth": growth(summaries) if len(runs) > 1 else [],
    }


def default_json_path(state_dir: Path) -> Path:
    """Where a bench writes its JSON unless told: one file per run under the state directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir / "bench" / f"bench-{stamp}.json"


def write_document(doc: dict[str, Any], path: Path) -> Path:
    """Write the bench JSON (creating its folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path
