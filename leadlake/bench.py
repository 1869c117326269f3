"""`leadlake bench`: a sandbox world of N businesses through bronze -> silver -> gold, timed and measured."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
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
    try:
        sampler.reset()
        t0 = time.perf_counter()
        world = World.generate(seed=42, businesses=businesses)
        result.stages.append(
            StageResult(
                "world", time.perf_counter() - t0, businesses, sampler.peak / 2**20, "synthetic world"
            )
        )
        with (
            SandboxServer(world) as server,
            tempfile.TemporaryDirectory(prefix="leadlake-bench-") as root,
            _bench_env(root, server.url),
        ):
            spec = bench_campaign(world)
            say(f"bench: {businesses} businesses, {len(spec.areas)} areas x {len(spec.keywords)} keywords")
            sampler.reset()
            t0 = time.perf_counter()
            ingest = pipeline.run_ingest(spec, pipeline.new_run_id("bench"))
            calls = sum(p.calls for p in ingest.providers.values())
            result.stages.append(
                StageResult(
                    "bronze",
                    time.perf_counter() - t0,
                    ingest.items,
                    sampler.peak / 2**20,
                    f"{calls} HTTP calls, {ingest.landed} landed",
                )
            )
            if stop >= 1:
                sampler.reset()
                t0 = time.perf_counter()
                pipeline.spark_session()
                spark_start = time.perf_counter() - t0
                silver = pipeline.run_silver()
                result.stages.append(
                    StageResult(
                        "silver",
                        time.perf_counter() - t0,
                        silver.bronze_records,
                        sampler.peak / 2**20,
                        f"spark start {spark_start:.1f}s; "
                        + ", ".join(f"{k} {v:.1f}s" for k, v in (silver.seconds or {}).items())
                        + f"; {silver.leads} leads, {silver.duplicates_merged} merged",
                    )
                )
            if stop >= 2:
                sampler.reset()
                t0 = time.perf_counter()
                enrich = pipeline.run_enrichment(pipeline.new_run_id("bench"))
                looked_up = sum(p.items for p in enrich.providers.values())
                calls = sum(p.calls for p in enrich.providers.values())
                result.stages.append(
                    StageResult(
                        "enrich",
                        time.perf_counter() - t0,
                        looked_up,
                        sampler.peak / 2**20,
                        f"{enrich.leads} leads, {calls} HTTP calls",
                    )
                )
                sampler.reset()
                t0 = time.perf_counter()
                gold = pipeline.run_gold()
                result.stages.append(
                    StageResult(
                        "gold",
                        time.perf_counter() - t0,
                        gold.leads,
                        sampler.peak / 2**20,
                        f"tiers {gold.tiers}",
                    )
                )
            if stop >= 3:
                sampler.reset()
                t0 = time.perf_counter()
                d = pipeline.run_delivery(pipeline.new_run_id("bench"))
                result.stages.append(
                    StageResult(
                        "delivery",
                        time.perf_counter() - t0,
                        d.sent,
                        sampler.peak / 2**20,
                        f"{d.failed} failed",
                    )
                )
    finally:
        sampler.stop()
    return result
