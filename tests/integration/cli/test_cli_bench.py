"""`leadlake bench` as a user runs it: a world planned so that bronze lands about every record it holds,
per-stage figures printed, and the JSON that lets successive runs be compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import cli, one_line_error, scratch_env

pytestmark = pytest.mark.e2e


def test_bench_lands_about_every_world_record_and_writes_comparable_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = scratch_env(tmp_path)
    done = cli("bench", "--businesses", "300,600", "--through", "bronze", "--json", str(out), env=env)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "leadlake bench --businesses 600" in text and "world records" in text and "growth" in text
    assert "the sandbox serving the world ran in a process of its own" in text
    doc = json.loads(out.read_text())
    assert doc["kind"] == "leadlake-bench" and doc["through"] == "bronze"
    for n in ("300", "600"):
        run = doc["sizes"][n]["runs"][0]
        # The world holds about 1.5 records a business; bronze lands (or quarantines) nearly all of them.
        assert run["expected_records"] > 1.3 * int(n)
        assert run["landed_ratio"] >= 0.98, run
        bronze = next(s for s in run["stages"] if s["stage"] == "bronze")
        assert bronze["http_calls"] > 0 and bronze["cost_usd"] > 0 and bronze["peak_rss_mb"] > 0
        assert bronze["sandbox_rss_mb"] > 0  # the sandbox's process, reported apart from the pipeline's
        summary = {r["stage"]: r for r in doc["sizes"][n]["summary"]}
        assert summary["bronze"]["min_s"] <= summary["bronze"]["median_s"] <= summary["bronze"]["max_s"]
    stages = {r["stage"] for r in doc["growth"]}
    assert {"bronze", "total"} <= stages


def test_bench_writes_under_the_state_dir_by_default(tmp_path: Path) -> None:
    done = cli("bench", "--businesses", "100", "--through", "bronze", env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr
    written = list((tmp_path / "state" / "bench").glob("bench-*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["sizes"]["100"]


def test_bench_refuses_a_size_that_is_not_a_number(tmp_path: Path) -> None:
    done = cli("bench", "--businesses", "10k,lots", env=scratch_env(tmp_path))
    line = one_line_error(done, "--businesses", "lots")
    assert "100k" in line


def test_bench_names_a_campaign_file_it_cannot_use(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvertical: local_services\n")
    done = cli("bench", "--businesses", "100", "--campaign", str(bad), env=scratch_env(tmp_path))
    one_line_error(done, "bad.yaml")
