"""Bad input as a user meets it: one stderr line naming the setting or table and the fix, no traceback.

Exit code 2 for what the user can fix (a setting, a campaign, SQL); a lakehouse with one unreadable table is
still listed, with exit code 1 and one line naming the broken table (as `ls` does).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from cli_support import CAMPAIGN, ROOT, cli, free_port, one_line_error, scratch_env

pytestmark = pytest.mark.e2e


def test_config_show_json(tmp_path: Path) -> None:
    done = cli("config", "show", "--format", "json", env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr
    cfg = json.loads(done.stdout)
    assert cfg["lakehouse_uri"] == str(tmp_path / "lake")
    assert cfg["providers"] == "sandbox"
    assert cfg["project_dir"] == str(ROOT)
    assert {"mlflow_tracking_uri", "airflow_home", "delta_backend", "spark_master", "sandbox_url"} <= set(cfg)


def test_campaign_with_a_wrong_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CAMPAIGN.read_text().replace("keywords:", "keywrds:"))
    one_line_error(cli("run", "--campaign", str(bad), env=scratch_env(tmp_path)), "keywrds")
    assert not (tmp_path / "lake").exists(), "nothing written"


def test_campaign_with_an_unknown_provider(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        CAMPAIGN.read_text().replace("sources: [google_places, yelp]", "sources: [google_places, foursquare]")
    )
    one_line_error(cli("run", "--campaign", str(bad), env=scratch_env(tmp_path)), "foursquare")
    assert not (tmp_path / "lake").exists(), "nothing written"


def test_unreachable_lakehouse(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = scratch_env(tmp_path) | {"LEADLAKE_LAKEHOUSE_URI": str(blocker / "lake")}
    one_line_error(cli("run", "--campaign", str(CAMPAIGN), "--through", "bronze", env=env), str(blocker))
    assert blocker.read_text() == "not a directory"


def test_wrong_setting_fails_at_start(tmp_path: Path) -> None:
    env = scratch_env(tmp_path) | {"LEADLAKE_LAKEHOUSE_URI": "gs://bucket/lake"}
    one_line_error(cli("tables", env=env), "LEADLAKE_LAKEHOUSE_URI")


def test_bad_sql_is_one_line(tmp_path: Path) -> None:
    one_line_error(cli("sql", "select nope from", env=scratch_env(tmp_path)), "query failed")
    # A misspelt column is one line too, with the columns DuckDB suggests instead.
    _small_lakehouse(tmp_path / "lake")
    line = one_line_error(cli("sql", "select nme from silver.leads", env=scratch_env(tmp_path)), '"nme"')
    assert 'Candidate bindings: "name"' in line, line


def test_sql_reads_a_statement_from_stdin_with_dash(tmp_path: Path) -> None:
    """A long query lives in a file: `leadlake sql - < report.sql`, as `resolve -i -` reads stdin."""
    env = scratch_env(tmp_path)
    _small_lakehouse(tmp_path / "lake")
    report = "-- leads by name\nselect count(*) as n\nfrom silver.leads;\n"
    done = cli("sql", "-", "--format", "csv", env=env, stdin=report)
    assert done.returncode == 0 and done.stdout == "n\n2\n", done.stderr
    one_line_error(cli("sql", "-", env=env, stdin=""), "no statement on stdin", "report.sql")


def test_sql_on_a_table_that_does_not_exist_names_it_the_lakehouse_and_the_fix(tmp_path: Path) -> None:
    """DuckDB says "Table with name scored_leads does not exist!": an analyst's first query before the demo
    learns which lakehouse was read and what to run; with tables there, a misspelt name is pointed at them."""
    env = scratch_env(tmp_path)
    query = "select name from gold.scored_leads"
    one_line_error(cli("sql", query, env=env), "gold.scored_leads", str(tmp_path / "lake"), "leadlake demo")
    _small_lakehouse(tmp_path / "lake")
    done = cli("sql", query, "--format", "csv", env=env)
    assert done.returncode == 0 and done.stdout.splitlines() == ["name", "lead 0"], done.stderr
    line = one_line_error(cli("sql", "select * from gold.scored_lead", env=env), "gold.scored_lead ")
    assert "leadlake tables" in line and "leadlake demo" not in line


def test_an_unreachable_s3_endpoint_names_the_endpoint_setting(tmp_path: Path) -> None:
    port = free_port()
    env = scratch_env(tmp_path) | {
        "LEADLAKE_LAKEHOUSE_URI": "s3://b/x",
        "LEADLAKE_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        # Dummy keys: no lookup of instance credentials on the way to the refused connection.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    line = one_line_error(cli("tables", env=env, timeout=300), "s3://b/x", "LEADLAKE_S3_ENDPOINT_URL")
    assert f"127.0.0.1:{port}" in line and "unreachable" in line


@pytest.mark.parametrize(
    "command", [("tables",), ("run", "--campaign", str(CAMPAIGN), "--through", "bronze")]
)
def test_a_negative_rate_limit_names_the_variable(tmp_path: Path, command: tuple[str, ...]) -> None:
    env = scratch_env(tmp_path) | {"LEADLAKE_RATE_LIMITS": '{"yelp": -1}'}
    one_line_error(cli(*command, env=env), "LEADLAKE_RATE_LIMITS", "yelp", "positive")
    assert not (tmp_path / "lake").exists(), "nothing written"


def _small_lakehouse(root: Path) -> dict[str, int]:
    """Three small tables written through the lakehouse module (delta-rs); their row counts."""
    from leadlake.lakehouse import Lakehouse

    lake = Lakehouse(str(root))
    counts = {"bronze.places_raw": 3, "silver.leads": 2, "gold.scored_leads": 1}
    for name, n in counts.items():
        lake.append(name, pa.table({"id": list(range(n)), "name": [f"lead {i}" for i in range(n)]}))
    return counts


def test_a_truncated_delta_log_names_the_broken_table_and_lists_the_others(tmp_path: Path) -> None:
    counts = _small_lakehouse(tmp_path / "lake")
    log = tmp_path / "lake" / "silver" / "leads" / "_delta_log" / "00000000000000000000.json"
    log.write_bytes(log.read_bytes()[: len(log.read_bytes()) // 2])
    env = scratch_env(tmp_path)

    done = cli("tables", "--format", "json", env=env)
    line = one_line_error(done, "silver.leads", "00000000000000000000.json", code=1)
    assert "bronze.places_raw" not in line and "gold.scored_leads" not in line
    listed = {t["table"]: t for t in json.loads(done.stdout)}
    assert listed["bronze.places_raw"]["rows"] == counts["bronze.places_raw"]
    assert listed["gold.scored_leads"]["rows"] == counts["gold.scored_leads"]
    assert (
        listed["silver.leads"]["rows"] is None
        and "00000000000000000000.json" in listed["silver.leads"]["error"]
    )
    assert listed["bronze.places_raw"]["error"] is None

    table = cli("tables", env=env)
    one_line_error(table, "silver.leads", code=1)
    for name in counts:
        assert name in table.stdout, name
    assert "unreadable" in table.stdout
