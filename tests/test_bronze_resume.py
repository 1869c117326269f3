"""A run killed with SIGKILL during ingestion, started again, ends with the same bronze as an unbroken run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from leadlake.lakehouse import Lakehouse
from leadlake.sandbox.server import Faults, SandboxServer
from leadlake.sandbox.world import World

ROOT = Path(__file__).resolve().parent.parent
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))


def campaign_file(tmp: Path) -> Path:
    doc = {
        "name": "Resume test",
        "vertical": "local_services",
        "geo": [
            {"city": "Denver", "region": "CO", "lat": 39.7392, "lon": -104.9903, "radius_km": 40},
            {"city": "Chicago", "region": "IL", "lat": 41.8781, "lon": -87.6298, "radius_km": 40},
            {"city": "Dallas", "region": "TX", "lat": 32.7767, "lon": -96.797, "radius_km": 40},
        ],
        "keywords": ["plumber", "electrician", "dentist", "roofing", "cafe", "bakery"],
        "sources": ["google_places", "yelp"],
    }
    path = tmp / "resume.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_bronze(campaign: Path, lake: Path, sandbox_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLAKE_")}
    env |= {
        "LEADLAKE_LAKEHOUSE_URI": str(lake),
        "LEADLAKE_SANDBOX_URL": sandbox_url,
        "LEADLAKE_BRONZE_FLUSH_ROWS": "40",  # many small commits, so the kill lands between two of them
    }
    cmd = [LEADLAKE, "run", "--campaign", str(campaign), "--through", "bronze"]
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def bronze_content(lake: Path) -> set[tuple[str, str, str, str]]:
    lh = Lakehouse(str(lake))
    out = set()
    for table in ("bronze.places_raw", "bronze.yelp_businesses_raw"):
        if not lh.exists(table):
            continue
        for r in lh.read(table, columns=["provider", "provider_key", "content_hash", "payload"]).to_pylist():
            out.add((r["provider"], r["provider_key"], r["content_hash"], r["payload"]))
    return out


def test_sigkill_during_ingestion_then_rerun(tmp_path: Path) -> None:
    world = World.generate(seed=3, businesses=6000)
    campaign = campaign_file(tmp_path)
    with SandboxServer(world, faults=Faults(latency_ms=100)) as sb:
        whole = run_bronze(campaign, tmp_path / "whole", sb.url)
        assert whole.wait(timeout=600) == 0, whole.stderr.read()

        killed = run_bronze(campaign, tmp_path / "killed", sb.url)
        log = tmp_path / "killed" / "bronze" / "ingest_log" / "_delta_log"
        deadline = time.monotonic() + 300
        while not (log.exists() and any(log.glob("*.json"))) and killed.poll() is None:
            assert time.monotonic() < deadline, "ingestion never committed anything"
            time.sleep(0.05)
        assert killed.poll() is None, "the run finished before it could be killed; make the campaign bigger"
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL

        partial = bronze_content(tmp_path / "killed")
        expected = bronze_content(tmp_path / "whole")
        assert partial < expected, "the kill left bronze incomplete"

        again = run_bronze(campaign, tmp_path / "killed", sb.url)
        assert again.wait(timeout=600) == 0, again.stderr.read()

    resumed = bronze_content(tmp_path / "killed")
    assert resumed == expected
    counts = {
        t: Lakehouse(str(tmp_path / "killed")).read(t, columns=["provider_key"]).num_rows
        for t in ("bronze.places_raw", "bronze.yelp_businesses_raw")
    }
    assert sum(counts.values()) == len(expected), "no payload landed twice"
