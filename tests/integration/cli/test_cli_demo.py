"""`leadlake demo` end to end (real Airflow dag.test() runs), and what a user does with its lakehouse next:
tables, sql, the CSV a shell script reads, the 80-column summary, the analyst notebook from notebooks/.

Every test here shares one demo run (session fixture `demo_run`, ~2-4 min).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_support import LEADLAKE, ROOT, DemoRun, cli, scratch_env
from support.summary import PATH_LINES, over_80, whole_lines

from leadlake.core.campaign import passes_filters

pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.timeout(3000)]


def _ok(demo: DemoRun) -> str:
    assert demo.done.returncode == 0, demo.done.stderr[-3000:] + demo.done.stdout[-3000:]
    return demo.done.stdout


def test_demo_runs_every_dag_and_prints_the_summary(demo_run: DemoRun) -> None:
    out = _ok(demo_run)
    for needle in (
        "lakehouse tables",
        "top 10 leads",
        "duplicates merged",
        "leadlake_silver",
        "delivered to hubspot",
    ):
        assert needle in out, needle


def test_tables_and_sql_agree_with_the_demo(demo_run: DemoRun) -> None:
    _ok(demo_run)
    env = demo_run.env
    listed = json.loads(cli("tables", "--format", "json", env=env).stdout)
    names = {t["table"]: t for t in listed}
    for table in ("bronze.places_raw", "bronze.yelp_businesses_raw", "silver.leads", "gold.scored_leads"):
        assert names[table]["rows"] > 0, table
    counted = json.loads(
        cli("sql", "select count(*) as n from gold.scored_leads", "--format", "json", env=env).stdout
    )
    assert counted[0]["n"] == names["gold.scored_leads"]["rows"]
    # Every campaign sends to HubSpot at tier C: a lead is delivered when one of its campaigns' filters
    # (min rating, min reviews) lets it through.
    recorded = cli("sql", "select spec from bronze.campaigns", "--format", "json", env=env).stdout
    specs = {spec["campaign_id"]: spec for spec in (json.loads(r["spec"]) for r in json.loads(recorded))}
    scored = json.loads(
        cli(
            "sql",
            "select rating, review_count, campaign_ids from gold.scored_leads",
            "--format",
            "json",
            env=env,
        ).stdout
    )
    wanted = [
        r
        for r in scored
        if any(
            passes_filters(r, specs[c]["min_rating"], specs[c]["min_reviews"])
            for c in r["campaign_ids"] or []
        )
    ]
    assert 0 < len(wanted) <= len(scored)
    assert names["gold.crm_deliveries"]["rows"] == len(wanted)
    csv_out = cli(
        "sql", "select lead_id, lead_score from gold.scored_leads limit 3", "--format", "csv", env=env
    )
    assert csv_out.stdout.splitlines()[0] == "lead_id,lead_score" and len(csv_out.stdout.splitlines()) == 4


def test_a_shell_script_reads_the_csv_count_without_a_carriage_return(demo_run: DemoRun) -> None:
    """Defect 2: `n=$(leadlake sql "select count(*) ..." --format csv | tail -1)` gave `173\\r`."""
    _ok(demo_run)
    rows = {
        t["table"]: t["rows"] for t in json.loads(cli("tables", "--format", "json", env=demo_run.env).stdout)
    }
    script = (
        'n=$("$LEADLAKE" sql "select count(*) from gold.scored_leads" --format csv | tail -1)\n'
        'printf "%s" "$n"\n'
        '[ "$n" -eq "$n" ] 2>/dev/null || exit 3  # a number to the shell, not "173\\r"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        env=demo_run.env | {"LEADLAKE": LEADLAKE},
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == str(rows["gold.scored_leads"]).encode()
    whole = subprocess.run(
        [LEADLAKE, "sql", "select lead_id, name from gold.scored_leads limit 5", "--format", "csv"],
        capture_output=True,
        env=demo_run.env,
        cwd=ROOT,
        timeout=300,
        check=True,
    ).stdout
    assert b"\r" not in whole and whole.endswith(b"\n") and whole.count(b"\n") == 6


def _summary(out: str) -> list[str]:
    """The demo's summary: from the lakehouse tables to the end."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if "lakehouse tables" in ln)
    return lines[start:]


def test_the_summary_reads_at_80_columns(demo_run: DemoRun) -> None:
    """Defect 8: the top-10 table wrapped its reasons into twenty-line rows in an 80-column terminal."""
    summary = _summary(_ok(demo_run))
    assert not over_80("\n".join(summary)), summary
    # Commands and paths are whole lines, however long: copied or cut by a shell tool they still work.
    commands = [ln for ln in whole_lines(summary) if not ln.startswith(PATH_LINES)]
    paths = [ln for ln in summary if ln.startswith(PATH_LINES)]
    assert len(commands) >= 3 and len(paths) == 2, summary
    ui = next(ln for ln in commands if " ui --backend-store-uri sqlite:///" in ln)
    assert ui.split("   (")[0].strip().endswith("--port 5000 --workers 1"), ui
    assert all(Path(ln.split(": ", 1)[1]).is_dir() for ln in paths), paths
    title = next(i for i, ln in enumerate(summary) if "top 10 leads" in ln)
    body_start = next(i for i in range(title, len(summary)) if summary[i].startswith(("┡", "├"))) + 1
    body_end = next(i for i in range(body_start, len(summary)) if summary[i].startswith("└"))
    rows = summary[body_start:body_end]
    # One line per lead: ten lines, numbered 1..10 in the first column, each with a score and a tier.
    assert [int(r.split("│")[1]) for r in rows] == list(range(1, 11)), rows
    for r in rows:
        cells = [c.strip() for c in r.strip("│").split("│")]
        assert len(cells) == 6 and cells[1] and cells[3].isdigit() and cells[4], r
    # The reasons follow on their own numbered lines, wrapped under their number.
    reasons = summary[body_end + 1 :]
    for i in range(1, 11):
        assert any(re.match(rf"^\s*{i}\. \S", ln) for ln in reasons), i


def test_tables_from_a_subfolder_of_the_project_finds_its_lakehouse(demo_run: DemoRun) -> None:
    """Defect 7: `leadlake tables` from a subfolder listed nothing; the root is found upwards, as dbt does."""
    _ok(demo_run)
    env = {k: v for k, v in demo_run.env.items() if k != "LEADLAKE_LAKEHOUSE_URI"}
    from_root = json.loads(cli("tables", "--format", "json", env=demo_run.env).stdout)
    done = cli("tables", "--format", "json", env=env, cwd=demo_run.project / "notebooks")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == from_root
    assert {"silver.leads", "gold.scored_leads"} <= {t["table"] for t in from_root}


def _run_notebook(path, cwd) -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    return outputs


def _text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs)


def test_analyst_notebook_runs_on_the_demo_lakehouse(
    demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook in the checkout, its kernel started in notebooks/ as Jupyter starts it."""
    _ok(demo_run)
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", demo_run.env["LEADLAKE_LAKEHOUSE_URI"])
    outputs = _run_notebook(ROOT / "notebooks" / "analyst_tour.ipynb", ROOT / "notebooks")
    text = _text(outputs)
    assert "commits; version 0 had" in text
    assert f"project: {ROOT}" in text and f"lakehouse: {demo_run.lake}" in text


def test_notebook_in_a_project_subfolder_finds_the_default_lakehouse(
    demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 7: with no LEADLAKE_* variable at all, a kernel started in <project>/notebooks finds the
    project root through leadlake's settings and reads <project>/lakehouse, the demo's tables."""
    _ok(demo_run)
    for var in [v for v in os.environ if v.startswith("LEADLAKE_")]:
        monkeypatch.delenv(var)
    notebook = demo_run.project / "notebooks" / "analyst_tour.ipynb"
    shutil.copy(ROOT / "notebooks" / "analyst_tour.ipynb", notebook)
    text = _text(_run_notebook(notebook, notebook.parent))
    assert f"project: {demo_run.project}" in text and f"lakehouse: {demo_run.lake}" in text
    assert "commits; version 0 had" in text


def test_config_show_from_a_subfolder_names_the_projects_folders(demo_run: DemoRun) -> None:
    _ok(demo_run)
    env = scratch_env(demo_run.project.parent / "elsewhere")
    env = {k: v for k, v in env.items() if k not in ("LEADLAKE_LAKEHOUSE_URI", "LEADLAKE_STATE_DIR")}
    cfg = json.loads(
        cli("config", "show", "--format", "json", env=env, cwd=demo_run.project / "notebooks").stdout
    )
    assert cfg["project_dir"] == str(demo_run.project)
    assert cfg["lakehouse_uri"] == str(demo_run.lake)
    assert cfg["mlflow_tracking_uri"] == f"sqlite:///{demo_run.project / '.state' / 'mlflow.db'}"


def test_a_full_re_resolution_of_the_demo_keeps_every_lead_id(demo_run: DemoRun) -> None:
    """`leadlake resolve --full` retrains and rescores every pair; on unchanged data no id changes."""
    _ok(demo_run)
    env = demo_run.env
    query = "select record_id, lead_id from silver.lead_links order by record_id"
    before = cli("sql", query, "--format", "csv", env=env).stdout
    done = cli("resolve", "--full", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "full re-resolution:" in done.stdout and "0 minted, 0 merged, 0 split" in done.stdout
    assert cli("sql", query, "--format", "csv", env=env).stdout == before
