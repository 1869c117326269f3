"""The `leadlake` command as a user runs it: the demo end to end, tables, sql, config, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))


def cli(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LEADLAKE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False
    )


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADLAKE_", "AIRFLOW"))}
    return env | {
        "LEADLAKE_LAKEHOUSE_URI": str(tmp / "lake"),
        "LEADLAKE_STATE_DIR": str(tmp / "state"),
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "LEADLAKE_SANDBOX_BUSINESSES": "3000",
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """`leadlake demo` once, through real Airflow dag.test() runs, in a scratch lakehouse."""
    tmp = tmp_path_factory.mktemp("demo")
    env = base_env(tmp)
    return cli("demo", env=env, timeout=1200), env


def test_demo_runs_every_dag_and_prints_the_summary(demo_run) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    out = done.stdout
    for needle in (
        "lakehouse tables",
        "top 10 leads",
        "duplicates merged",
        "leadlake_silver",
        "delivered to hubspot",
    ):
        assert needle in out, needle


def test_tables_and_sql_agree_with_the_demo(demo_run) -> None:
    done, env = demo_run
    assert done.returncode == 0
    listed = json.loads(cli("tables", "--format", "json", env=env).stdout)
    names = {t["table"]: t for t in listed}
    for table in ("bronze.places_raw", "bronze.yelp_businesses_raw", "silver.leads", "gold.scored_leads"):
        assert names[table]["rows"] > 0, table
    counted = json.loads(
        cli("sql", "select count(*) as n from gold.scored_leads", "--format", "json", env=env).stdout
    )
    assert counted[0]["n"] == names["gold.scored_leads"]["rows"]
    assert names["gold.crm_deliveries"]["rows"] == names["gold.scored_leads"]["rows"]
    csv_out = cli(
        "sql", "select lead_id, lead_score from gold.scored_leads limit 3", "--format", "csv", env=env
    )
    assert csv_out.stdout.splitlines()[0] == "lead_id,lead_score" and len(csv_out.stdout.splitlines()) == 4


def test_config_show_json(tmp_path: Path) -> None:
    done = cli("config", "show", "--format", "json", env=base_env(tmp_path))
    assert done.returncode == 0, done.stderr
    cfg = json.loads(done.stdout)
    assert cfg["lakehouse_uri"] == str(tmp_path / "lake")
    assert cfg["providers"] == "sandbox"
    assert {"mlflow_tracking_uri", "airflow_home", "delta_backend", "spark_master", "sandbox_url"} <= set(cfg)


def _one_line_error(done: subprocess.CompletedProcess, needle: str) -> None:
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def test_campaign_with_a_wrong_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "campaigns" / "denver_home_services.yaml").read_text().replace("keywords:", "keywrds:")
    )
    env = base_env(tmp_path)
    _one_line_error(cli("run", "--campaign", str(bad), env=env), "keywrds")
    assert not (tmp_path / "lake").exists(), "nothing written"


def test_campaign_with_an_unknown_provider(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "campaigns" / "denver_home_services.yaml").read_text()
    bad.write_text(text.replace("sources: [google_places, yelp]", "sources: [google_places, foursquare]"))
    env = base_env(tmp_path)
    _one_line_error(cli("run", "--campaign", str(bad), env=env), "foursquare")
    assert not (tmp_path / "lake").exists(), "nothing written"


def test_unreachable_lakehouse(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = base_env(tmp_path) | {"LEADLAKE_LAKEHOUSE_URI": str(blocker / "lake")}
    camp = str(ROOT / "campaigns" / "denver_home_services.yaml")
    _one_line_error(cli("run", "--campaign", camp, "--through", "bronze", env=env), str(blocker))
    assert blocker.read_text() == "not a directory"


def test_wrong_setting_fails_at_start(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"LEADLAKE_LAKEHOUSE_URI": "gs://bucket/lake"}
    _one_line_error(cli("tables", env=env), "LEADLAKE_LAKEHOUSE_URI")


def test_bad_sql_is_one_line(tmp_path: Path) -> None:
    _one_line_error(cli("sql", "select nope from", env=base_env(tmp_path)), "query failed")


def test_analyst_notebook_runs_on_the_demo_lakehouse(demo_run, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    done, env = demo_run
    assert done.returncode == 0
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", env["LEADLAKE_LAKEHOUSE_URI"])
    nb = nbformat.read(ROOT / "notebooks" / "analyst_tour.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert "commits; version 0 had" in "".join(o.get("text", "") for o in outputs)


def test_bench_prints_every_stage_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = cli(
        "bench", "--businesses", "400", "--through", "bronze", "--out", str(out), env=base_env(tmp_path)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert [s["stage"] for s in figures["stages"]] == ["world", "bronze"]
    bronze = figures["stages"][1]
    assert bronze["records"] > 0 and bronze["seconds"] > 0 and bronze["peak_rss_mb"] > 0
    assert "HTTP calls" in bronze["notes"] and "bronze" in done.stdout
