"""`leadlake bench`: a sandbox world of N businesses through bronze -> silver -> gold, timed and measured."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from leadlake.connectors.registry import names
from leadlake.core.campaign import Area, CampaignSpec


@dataclass
class StageResult:
    """One stage's wall time, records handled and the peak RSS of this process and its children (the JVM)."""

    stage: str
    seconds: float
    records: int
    peak_rss_mb: float
    notes: str = ""


@dataclass
class BenchResult:
    """Every stage's figures for one world size."""

    businesses: int
    stages: list[StageResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"businesses": self.businesses, "stages": [asdict(s) for s in self.stages]}


class RssSampler:
    """Samples the RSS of this process tree every 100 ms; the peak is kept per stage."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")

    def _sample(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._sample())

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def reset(self) -> None:
        self.peak = self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


def bench_campaign(world: Any) -> CampaignSpec:
    """A campaign covering every city and category of the world, from every registered provider."""
    areas = [Area(city=c.name, region=c.state, lat=c.lat, lon=c.lon, radius_km=60) for c in world.cities()]
    keywords = [c.replace("_", " ") for c in world.categories()]
    return CampaignSpec(
        campaign_id="bench",
        name="bench",
        vertical="local_services",
        areas=areas,
        keywords=keywords,
        sources=names("discovery"),
        enrichment=names("enrichment"),
    )


def run_bench(businesses: int, through: str = "gold", console: Any = None) -> BenchResult:
    """Build a world, serve it, and run each registered stage up to `through` against a scratch lakehouse."""
    from leadlake.core.settings import get_settings
    from leadlake.runtime.resources import Resources, new_run_id
    from leadlake.runtime.stages import run_stage
    from leadlake.runtime.stages import through as stages_through
    from leadlake.sandbox.server import SandboxServer
    from leadlake.sandbox.world import World

    say = console.print if console else print
    result = BenchResult(businesses)
    sampler = RssSampler().start()

    def timed(stage: str, work: Callable[[], Any], summary: Callable[[Any], tuple[int, str]]) -> Any:
        """Run one stage, then record its seconds, records, peak RSS and notes."""
        sampler.reset()
        t0 = time.perf_counter()
        out = work()
        records, notes = summary(out)
        result.stages.append(
            StageResult(stage, time.perf_counter() - t0, records, sampler.peak / 2**20, notes)
        )
        return out

    try:
        world = timed(
            "world",
            lambda: World.generate(seed=42, businesses=businesses),
            lambda _: (businesses, "synthetic world"),
        )
        with (
            SandboxServer(world) as server,
            tempfile.TemporaryDirectory(prefix="leadlake-bench-") as root,
        ):
            settings = get_settings().model_copy(update={"lakehouse_uri": root})
            spec = bench_campaign(world)
            res = Resources.for_sandbox(server.url, settings, (spec,))
            say(f"bench: {businesses} businesses, {len(spec.areas)} areas x {len(spec.keywords)} keywords")
            run_id = new_run_id("bench")
            for stage in stages_through(through):
                if stage.spark:
                    res.spark  # noqa: B018 - start Spark before the clock of its first stage, as before
                timed(stage.name, lambda stage=stage: run_stage(stage, res, run_id), _notes)
    finally:
        sampler.stop()
    return result


def _notes(report: Any) -> tuple[int, str]:
    """Records handled and a one-line note from a stage report."""
    d = report.details
    extra = ""
    if report.stage == "bronze":
        calls = sum(p.calls for r in d for p in r.providers.values())
        extra = f"{calls} HTTP calls, {report.rows_out} landed"
    elif report.stage == "silver":
        extra = ", ".join(f"{k} {v:.1f}s" for k, v in (d.seconds or {}).items())
        extra += f"; {d.leads} leads, {d.duplicates_merged} merged"
    elif report.stage == "enrich":
        extra = f"{d.leads} leads, {sum(p.calls for p in d.providers.values())} HTTP calls"
    elif report.stage == "gold":
        extra = f"tiers {d.tiers}"
    elif report.stage == "delivery":
        extra = f"{d.failed} failed"
    if report.failures:
        extra += f"; {len(report.failures)} failures"
    return report.rows_in, extra
