"""A run killed with SIGKILL during ingestion, started again, ends with the same bronze as an unbroken run.

No sleeps and no race with the clock: the sandbox holds every provider request once the run has committed
its first batch to bronze.ingest_log (an observable checkpoint), so the run is provably mid-ingestion,
blocked on a request, when it is killed. A deadline only bounds how long the test waits for that
checkpoint; missing it fails the test with the run's stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadlake.lakehouse import Lakehouse
from leadlake.sandbox.protocol import Request, Response
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World

pytestmark = pytest.mark.e2e  # runs `leadlake run` three times in subprocesses

ROOT = Path(__file__).resolve().parent.parent
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
CHECKPOINT_DEADLINE_S = 300  # generous: the first commit comes after a few dozen requests


class HoldingSandbox(SandboxServer):
    """The sandbox, able to hold every request once `hold_when()` is true, until release()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold_when: Callable[[], bool] | None = None
        self.holding = threading.Event()  # set once a request is being held
        self._released = threading.Event()

    def handle(self, req: Request) -> tuple[str, Response]:
        check = self.hold_when
        if check is not None and not self._released.is_set() and check():
            self.holding.set()
            self._released.wait()
        return super().handle(req)

    def release(self) -> None:
        self.hold_when = None
        self._released.set()


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


def run_bronze(campaign: Path, lake: Path, sandbox_url: str, log: Path) -> subprocess.Popen:
    """`leadlake run --through bronze` in a child process; its stderr goes to `log` (never a full pipe)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLAKE_")}
    env |= {
        "LEADLAKE_LAKEHOUSE_URI": str(lake),
        "LEADLAKE_STATE_DIR": str(lake.parent / "state"),  # rate-limit buckets, spend ledger: not the repo's
        "LEADLAKE_SANDBOX_URL": sandbox_url,
        "LEADLAKE_BRONZE_FLUSH_ROWS": "40",  # many small commits: the kill lands between two of them
    }
    cmd = [LEADLAKE, "run", "--campaign", str(campaign), "--through", "bronze"]
    with log.open("w") as err:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True)


def finished(proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    code = proc.wait(timeout=timeout)
    assert code == 0, f"leadlake run exited {code}:\n{log.read_text()[-3000:]}"


def ingest_log_committed(lake: Path) -> bool:
    """The checkpoint: bronze.ingest_log has at least one Delta commit (so bronze holds a first batch)."""
    log = lake / "bronze" / "ingest_log" / "_delta_log"
    return log.is_dir() and any(log.glob("*.json"))


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
    whole_lake, killed_lake = tmp_path / "whole" / "lake", tmp_path / "killed" / "lake"
    with HoldingSandbox(world) as sb:
        try:
            finished(run_bronze(campaign, whole_lake, sb.url, tmp_path / "whole.log"), tmp_path / "whole.log")

            # Every request after the first ingest_log commit is held: google_places commits its first
            # batch long before yelp (queried after it) is asked anything, so the run cannot end on its own.
            sb.hold_when = lambda: ingest_log_committed(killed_lake)
            killed = run_bronze(campaign, killed_lake, sb.url, tmp_path / "killed.log")
            deadline = time.monotonic() + CHECKPOINT_DEADLINE_S
            while not sb.holding.wait(timeout=0.1):
                assert killed.poll() is None, (
                    f"the run exited ({killed.returncode}) before its first ingest_log commit:\n"
                    + (tmp_path / "killed.log").read_text()[-3000:]
                )
                assert time.monotonic() < deadline, f"no ingest_log commit within {CHECKPOINT_DEADLINE_S}s"
            assert ingest_log_committed(killed_lake) and killed.poll() is None
            os.kill(killed.pid, signal.SIGKILL)
            assert killed.wait(timeout=60) == -signal.SIGKILL
        finally:
            sb.release()

        partial = bronze_content(killed_lake)
        expected = bronze_content(whole_lake)
        assert partial, "the checkpoint means a first batch landed before the kill"
        assert partial < expected, "the kill left bronze incomplete"

        finished(run_bronze(campaign, killed_lake, sb.url, tmp_path / "again.log"), tmp_path / "again.log")

    resumed = bronze_content(killed_lake)
    assert resumed == expected
    counts = {
        t: Lakehouse(str(killed_lake)).read(t, columns=["provider_key"]).num_rows
        for t in ("bronze.places_raw", "bronze.yelp_businesses_raw")
    }
    assert sum(counts.values()) == len(expected), "no payload landed twice"
