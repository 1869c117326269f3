"""Enrichment when one provider refuses our key mid-run, or every provider fails now and then.

The other providers' answers land; the failing provider is reported with its error; a re-run completes
what was missing and lands nothing twice (bronze ends up equal to a clean run's).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from support.pipeline import campaign, record_campaigns, resources_for, silver_lead, write_silver_leads

from leadlake.connectors.registry import connector
from leadlake.core.normalize import registered_domain
from leadlake.lakehouse import Lakehouse
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import Faults, SandboxServer
from leadlake.sandbox.world import World

pytestmark = pytest.mark.slow  # three enrichment runs against the sandbox, with retried faults

PROVIDERS = ("pdl", "hunter", "opencorporates")
TABLES = {p: connector(p).bronze_table for p in PROVIDERS}


class RevokeAfter(Mapping[str, str]):
    """The sandbox's accepted keys, except that `provider`'s key stops being accepted after `n` checks."""

    def __init__(self, keys: Mapping[str, str], provider: str, n: int) -> None:
        self.keys, self.provider, self.left = dict(keys), provider, n
        self.lock = threading.Lock()

    def __getitem__(self, name: str) -> str:
        if name == self.provider:
            with self.lock:
                self.left -= 1
                if self.left < 0:
                    return "revoked-by-the-test"
        return self.keys[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=7, businesses=300)


def prepare(root: Path, world: World) -> Lakehouse:
    """silver.leads for 120 of the world's businesses with a website, and a campaign asking for enrichment."""
    lake = Lakehouse(str(root))
    with_site = [b for b in world.businesses if b.website][:120]
    write_silver_leads(
        lake,
        [
            silver_lead(
                f"L{i:04d}",
                b.name,
                website=b.website,
                domain=registered_domain(b.website),
                city=b.city,
                region=b.region,
            )
            for i, b in enumerate(with_site)
        ],
    )
    record_campaigns(lake, [campaign("denver_home_services", "local_services", enrichment=list(PROVIDERS))])
    return lake


def landed(lake: Lakehouse) -> dict[str, list[tuple[str, str]]]:
    """Per provider, its bronze rows' (provider_key, content_hash), sorted, duplicates kept."""
    return {
        p: sorted(
            (r["provider_key"], r["content_hash"])
            for r in lake.read(table, columns=["provider_key", "content_hash"]).to_pylist()
        )
        for p, table in TABLES.items()
    }


@pytest.fixture(scope="module")
def clean(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """What a fault-free enrichment run lands."""
    root = tmp_path_factory.mktemp("clean") / "lake"
    prepare(root, world)
    with SandboxServer(world) as sb:
        report = run_stage(get_stage("enrich"), resources_for(str(root), sb.url), "e0")
    assert report.status == "success"
    lake = Lakehouse(str(root))
    out = landed(lake)
    assert all(out[p] for p in PROVIDERS), "every provider knows some of these businesses"
    return out


def test_a_key_refused_mid_run_stops_that_provider_only(world: World, clean: dict, tmp_path: Path) -> None:
    lake = prepare(tmp_path / "lake", world)
    hunter_queries = len({k.split("#")[0] for k, _ in clean["hunter"]})
    with SandboxServer(world) as sb:
        res = resources_for(lake.root_uri, sb.url)
        accepted = sb.keys
        sb.keys = RevokeAfter(accepted, "hunter", n=hunter_queries // 2)
        first = run_stage(get_stage("enrich"), res, "e1")
        sb.keys = accepted  # the key works again (rotated back, quota reset...)
        second = run_stage(get_stage("enrich"), res, "e2")

    hunter = first.details.providers["hunter"]
    assert hunter.failed_queries >= 1
    assert "401" in hunter.errors[0] and "key" in hunter.errors[0].lower()
    assert 0 < hunter.landed < len(clean["hunter"]), "hunter stopped part-way"
    assert first.status == "partial"
    assert [f for f in first.failures if f.startswith("hunter: ")] and len(first.failures) == 1
    for other in ("pdl", "opencorporates"):
        pr = first.details.providers[other]
        assert pr.failed_queries == 0 and pr.landed == len(clean[other])

    assert second.status == "success"
    assert second.details.providers["hunter"].landed == len(clean["hunter"]) - hunter.landed
    assert second.details.providers["pdl"].landed == 0
    assert second.details.providers["opencorporates"].landed == 0
    assert landed(lake) == clean, "bronze now holds what a clean run lands, each payload once"


def test_provider_faults_are_retried_or_reported_and_a_rerun_completes(
    world: World, clean: dict, tmp_path: Path
) -> None:
    lake = prepare(tmp_path / "lake", world)
    faults = Faults(rate_429=0.1, rate_5xx=0.1, rate_malformed=0.1, retry_after_s=0)
    with SandboxServer(world, faults=faults) as sb:
        res = resources_for(lake.root_uri, sb.url)
        first = run_stage(get_stage("enrich"), res, "e1")
        served = sb.stats()["faults"]
    assert served.get("malformed", 0) >= 1 and served.get("5xx", 0) >= 1
    assert first.status in ("success", "partial")
    for p in PROVIDERS:
        pr = first.details.providers[p]
        assert pr.failed_queries == 0 or pr.errors, f"{p}: a failed query is reported with its error"

    with SandboxServer(world) as sb:
        second = run_stage(get_stage("enrich"), resources_for(lake.root_uri, sb.url), "e2")
    assert second.status == "success"
    assert landed(lake) == clean, "the re-run filled the gaps and landed nothing twice"
    gaps = sum(len(clean[p]) - first.details.providers[p].landed for p in PROVIDERS)
    assert sum(second.details.providers[p].landed for p in PROVIDERS) == gaps
