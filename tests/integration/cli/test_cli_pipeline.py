"""The pipeline commands outside the demo: campaign validate and plan, sandbox serve, run --through
bronze / silver / gold, and the exit code of a run in which providers refused us."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from cli_support import (
    CAMPAIGN,
    LEADLAKE,
    ServedSandbox,
    cli,
    free_port,
    one_line_error,
    scratch_env,
    write_campaign,
)
from support.summary import over_80

pytestmark = pytest.mark.e2e


def _tables(env: dict[str, str]) -> dict[str, int | None]:
    done = cli("tables", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return {t["table"]: t["rows"] for t in json.loads(done.stdout)} if done.stdout.strip() else {}


# ---- campaign validate / plan ------------------------------------------------------------------------------
def test_campaign_validate_says_what_the_campaign_asks_for(tmp_path: Path) -> None:
    done = cli("campaign", "validate", str(CAMPAIGN), env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert out.startswith("ok ") and "denver_home_services" in out
    assert "1 areas" in out and "4 keywords" in out and "google_places, yelp" in out
    assert not (tmp_path / "lake").exists(), "validating writes nothing"


def test_campaign_validate_refuses_a_wrong_field_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CAMPAIGN.read_text().replace("keywords:", "keywrds:"))
    done = cli("campaign", "validate", str(bad), env=scratch_env(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "keywrds" in done.stderr


def test_campaign_plan_costs_each_provider_before_any_call(tmp_path: Path) -> None:
    env = scratch_env(tmp_path)
    done = cli("campaign", "plan", str(CAMPAIGN), "--format", "json", env=env)
    rows = json.loads(done.stdout)
    discovery = {r["provider"]: r for r in rows if r["kind"] == "discovery"}
    assert set(discovery) == {"google_places", "yelp"}
    for r in discovery.values():
        # One tile around Denver x four keywords; worst case: every query pages to the provider's cap.
        assert r["queries"] == 4 and r["max_calls"] == r["queries"] * r["max_pages"]
        assert r["cost_usd"] == pytest.approx(r["max_calls"] * r["price_per_call_usd"])
    subtotal = next(r for r in rows if r["kind"] == "subtotal" and r["provider"] == "discovery")
    assert subtotal["budget_usd"] == 50 and subtotal["cost_usd"] == pytest.approx(
        sum(r["cost_usd"] for r in discovery.values())
    )
    # Discovery's worst case must fit the budget before any call (enrichment is capped while it runs).
    assert subtotal["within_budget"] is True
    assert done.returncode == 0, done.stderr
    table = cli("campaign", "plan", str(CAMPAIGN), env=env | {"COLUMNS": "80"})
    assert table.returncode == done.returncode
    # The table view reads at 80 columns: one line per provider with its calls and cost, notes below.
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    for name, r in discovery.items():
        row = next(line for line in lines if line.startswith(f"│ {name} "))
        assert f" {r['max_calls']} " in row and f"{r['cost_usd']:.2f}" in row, row
    assert not (tmp_path / "lake").exists(), "planning makes no call and writes nothing"


# ---- sandbox serve + run --through bronze ------------------------------------------------------------------
def test_run_through_bronze_against_a_served_sandbox(tmp_path: Path, served_sandbox: ServedSandbox) -> None:
    before = served_sandbox.stats()["requests"]
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=served_sandbox.url, COLUMNS="80")
    done = cli("run", "--campaign", str(CAMPAIGN), "--through", "bronze", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert served_sandbox.stats()["requests"] > before, "the run called the served sandbox"
    rows = _tables(env)
    assert rows["bronze.places_raw"] > 0 and rows["bronze.yelp_businesses_raw"] > 0
    assert not any(name.startswith(("silver.", "gold.")) for name in rows)
    # Defect 8: no empty "top 10" or "delivered" sections when the run made no gold table.
    out = done.stdout
    assert "lakehouse tables" in out and "bronze.places_raw" in out
    assert "top 10" not in out and "delivered" not in out and "duplicates merged" not in out
    assert "gold.scored_leads" not in out, "no `sql` hint on a table that does not exist"
    assert not over_80(out), out


def test_sandbox_serve_on_port_0_says_where_it_listens_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", "0", "--businesses", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=scratch_env(tmp_path),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the server listens, or returns "" if serve exited
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert url, first + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        stats = httpx.get(f"{url.group(1)}/_sandbox/stats", timeout=30)
        assert stats.status_code == 200 and stats.json()["requests"] == 0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "leadlake sandbox stopped" in err, err


def test_sandbox_serve_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("sandbox", "serve", "--port", str(port), "--businesses", "50", env=scratch_env(tmp_path))
    one_line_error(done, f"127.0.0.1:{port}", "--port")


# ---- run --through silver / gold outside the demo ----------------------------------------------------------
@pytest.mark.spark
@pytest.mark.timeout(2400)
def test_run_through_silver(tmp_path: Path, served_sandbox: ServedSandbox) -> None:
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=served_sandbox.url, COLUMNS="80")
    done = cli("run", "--campaign", str(CAMPAIGN), "--through", "silver", env=env, timeout=2000)
    assert done.returncode == 0, done.stderr[-3000:]
    # The JVM's start-up chatter stays off a command's stderr (the driver logs errors only).
    for chatter in ("log4j profile", "NativeCodeLoader", "Setting default log level", "setLogLevel"):
        assert chatter not in done.stderr, done.stderr[-3000:]
    rows = _tables(env)
    assert rows["silver.leads"] > 0 and rows["silver.source_records"] >= rows["silver.leads"]
    assert not any(name.startswith("gold.") for name in rows)
    merged = rows["silver.source_records"] - rows["silver.leads"]
    assert f"duplicates merged across providers: {merged}" in done.stdout
    assert "top 10" not in done.stdout and "delivered" not in done.stdout
    stages = json.loads(
        cli(
            "sql", "select stage, status from ops.stage_runs order by started_at", "--format", "json", env=env
        ).stdout
    )
    assert [(s["stage"], s["status"]) for s in stages] == [("bronze", "success"), ("silver", "success")]


@pytest.mark.spark
@pytest.mark.timeout(2400)
def test_run_through_gold(tmp_path: Path, served_sandbox: ServedSandbox) -> None:
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=served_sandbox.url, COLUMNS="80")
    done = cli("run", "--campaign", str(CAMPAIGN), "--through", "gold", env=env, timeout=2000)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _tables(env)
    assert rows["gold.scored_leads"] == rows["silver.leads"] > 0
    assert "gold.crm_deliveries" not in rows, "gold is not delivery"
    out = done.stdout
    assert "top " in out and "leads" in out and "delivered" not in out
    assert not over_80(out), out
    top = json.loads(
        cli(
            "sql",
            "select name from gold.scored_leads"
            " order by lead_score desc, review_count desc nulls last, name limit 1",
            "--format",
            "json",
            env=env,
        ).stdout
    )
    assert top[0]["name"][:15] in out, "the best lead is in the printed top table"


# ---- a run in which calls failed exits 1 (defect 10) -------------------------------------------------------
def _one_keyword(tmp_path: Path) -> Path:
    # One query per provider keeps each provider's refusal to a single call.
    return write_campaign(tmp_path / "one_keyword.yaml", keywords="[plumber]")


def _refused(done, *providers: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    assert "lakehouse tables" in done.stdout, "the summary comes before the exit code"
    last = done.stderr.strip().splitlines()[-1]
    for provider in providers:
        assert provider in last, (provider, last)


def test_run_exits_1_when_no_provider_answers(tmp_path: Path) -> None:
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=f"http://127.0.0.1:{free_port()}")
    done = cli("run", "--campaign", str(_one_keyword(tmp_path)), "--through", "bronze", env=env)
    _refused(done, "google_places", "yelp")
    assert re.search(r"^failed: bronze", done.stderr, re.M), done.stderr[-2000:]
    rows = _tables(env)
    assert not rows.get("bronze.places_raw") and not rows.get("bronze.yelp_businesses_raw"), rows


def _live(env: dict[str, str], url: str, **keys: str) -> dict[str, str]:
    """Live mode (keys set, no sandbox URL) with every discovery provider's base URL at `url`."""
    return env | {"LEADLAKE_GOOGLE_PLACES_BASE_URL": url, "LEADLAKE_YELP_BASE_URL": url} | keys


def test_run_exits_1_when_every_key_is_rejected(tmp_path: Path, served_sandbox: ServedSandbox) -> None:
    env = _live(
        scratch_env(tmp_path),
        served_sandbox.url,
        LEADLAKE_GOOGLE_PLACES_API_KEY="wrong-google-key",
        LEADLAKE_YELP_API_KEY="wrong-yelp-key",
    )
    assert json.loads(cli("config", "show", "--format", "json", env=env).stdout)["providers"] == "live APIs"
    done = cli("run", "--campaign", str(_one_keyword(tmp_path)), "--through", "bronze", env=env)
    _refused(done, "google_places", "yelp", "LEADLAKE_GOOGLE_PLACES_API_KEY", "LEADLAKE_YELP_API_KEY")
    assert "wrong-google-key" not in done.stderr + done.stdout and "wrong-yelp-key" not in done.stderr
    rows = _tables(env)
    assert not rows.get("bronze.places_raw") and not rows.get("bronze.yelp_businesses_raw"), rows


def test_a_partial_run_exits_1_and_names_the_refusing_provider(
    tmp_path: Path, served_sandbox: ServedSandbox
) -> None:
    env = _live(
        scratch_env(tmp_path),
        served_sandbox.url,
        LEADLAKE_GOOGLE_PLACES_API_KEY="sandbox-google-places-key",  # the sandbox's own key: accepted
        LEADLAKE_YELP_API_KEY="wrong-yelp-key",
    )
    done = cli("run", "--campaign", str(_one_keyword(tmp_path)), "--through", "bronze", env=env)
    _refused(done, "yelp", "LEADLAKE_YELP_API_KEY")
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("partial: bronze") and "google_places" not in last, last
    rows = _tables(env)
    assert rows["bronze.places_raw"] > 0, "the provider that answered landed its records"
    assert not rows.get("bronze.yelp_businesses_raw"), rows


# ---- bench ----------------------------------------------------------------------------------------------
def test_bench_prints_every_stage_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = cli(
        "bench", "--businesses", "400", "--through", "bronze", "--out", str(out), env=scratch_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = json.loads(out.read_text())["sizes"]["400"]["runs"]
    ran = [s["stage"] for s in run["stages"]]
    assert ran[0] == "world" and ran[-1] == "bronze" and not {"silver", "enrich", "gold"} & set(ran)
    bronze = run["stages"][-1]
    assert bronze["records"] > 0 and bronze["seconds"] > 0 and bronze["peak_rss_mb"] > 0
    assert bronze["http_calls"] > 0 and "landed" in bronze["notes"] and "bronze" in done.stdout
