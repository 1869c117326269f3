"""`leadlake bench`: a sandbox world of N businesses through bronze -> silver -> gold, timed and measured."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from leadlake.campaign import Area, CampaignSpec

STAGES = ["bronze", "silver", "gold", "delivery"]


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
    """A campaign covering every city and category of the world, from both providers."""
    areas = [Area(city=c.name, region=c.state, lat=c.lat, lon=c.lon, radius_km=60) for c in world.cities()]
    keywords = [c.replace("_", " ") for c in world.categories()]
    return CampaignSpec(
        campaign_id="bench",
        name="bench",
        vertical="local_services",
        areas=areas,
        keywords=keywords,
        sources=["google_places", "yelp"],
        enrichment=["pdl", "hunter", "opencorporates"],
    )


@contextmanager
def _bench_env(root: str, sandbox_url: str) -> Iterator[None]:
    """Point settings at a scratch lakehouse and the bench sandbox for the duration."""
    from leadlake.settings import reset_settings

    saved = {k: os.environ.get(k) for k in ("LEADLAKE_LAKEHOUSE_URI", "LEADLAKE_SANDBOX_URL")}
    os.environ["LEADLAKE_LAKEHOUSE_URI"] = root
    os.environ["LEADLAKE_SANDBOX_URL"] = sandbox_url
    reset_settings()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()


def run_bench(businesses: int, through: str = "gold", console: Any = None) -> BenchResult:
    """Build a world, serve it, and run each stage up to `through` against a scratch lakehouse."""
    from leadlake import pipeline
    from leadlake.sandbox.server import SandboxServer
    from leadlake.sandbox.world import World

    say = console.print if console else print
    result = BenchResult(businesses)
    sampler = RssSampler().start()
    stop = STAGES.index(through)

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

    def calls(report: Any) -> int:
        return sum(p.calls for p in report.providers.values())

    try:
        world = timed(
            "world",
            lambda: World.generate(seed=42, businesses=businesses),
            lambda _: (businesses, "synthetic world"),
        )
        with (
            SandboxServer(world) as server,
            tempfile.TemporaryDirectory(prefix="leadlake-bench-") as root,
            _bench_env(root, server.url),
        ):
            spec = bench_campaign(world)
            say(f"bench: {businesses} businesses, {len(spec.areas)} areas x {len(spec.keywords)} keywords")
            timed(
                "bronze",
                lambda: pipeline.run_ingest(spec, pipeline.new_run_id("bench")),
                lambda r: (r.items, f"{calls(r)} HTTP calls, {r.landed} landed"),
            )
            if stop >= 1:
                timed(
                    "silver",
                    lambda: (pipeline.spark_session(), pipeline.run_silver())[1],
                    lambda r: (
                        r.bronze_records,
                        ", ".join(f"{k} {v:.1f}s" for k, v in (r.seconds or {}).items())
                        + f"; {r.leads} leads, {r.duplicates_merged} merged (includes Spark start)",
                    ),
                )
            if stop >= 2:
                timed(
                    "enrich",
                    lambda: pipeline.run_enrichment(pipeline.new_run_id("bench")),
                    lambda r: (
                        sum(p.items for p in r.providers.values()),
                        f"{r.leads} leads, {calls(r)} HTTP calls",
                    ),
                )
                timed("gold", pipeline.run_gold, lambda r: (r.leads, f"tiers {r.tiers}"))
            if stop >= 3:
                timed(
                    "delivery",
                    lambda: pipeline.run_delivery(pipeline.new_run_id("bench")),
                    lambda r: (r.sent, f"{r.failed} failed"),
                )
    finally:
        sampler.stop()
    return result
