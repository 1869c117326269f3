"""What the CLI prints, in-process: CSV line ends, one-line errors and their exit codes, the run summary's
80-column layout and the sections it leaves out, and the exit code of a run whose stages failed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import typer
from rich.console import Console
from support.summary import PATH_LINES, over_80

from leadlake.cli import common, run
from leadlake.cli.common import EXIT_FAILED, EXIT_USAGE, Format, emit, errors
from leadlake.lakehouse import Lakehouse
from leadlake.observe.reports import StageReport


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stdout and stderr consoles of the CLI, 80 columns wide, into one buffer each (stderr: .err)."""
    buf, err = io.StringIO(), io.StringIO()
    stdout = Console(file=buf, width=80, color_system=None, legacy_windows=False)
    stderr = Console(file=err, width=80, color_system=None, legacy_windows=False)
    for module in (common, run):
        monkeypatch.setattr(module, "console", stdout, raising=False)
    monkeypatch.setattr(common, "err_console", stderr)
    buf.err = err  # type: ignore[attr-defined]
    return buf


def test_csv_has_unix_line_ends(capsys: pytest.CaptureFixture[str]) -> None:
    emit([{"n": 173, "name": 'say "hi", then go'}], Format.csv)
    raw = capsys.readouterr().out
    assert raw == 'n,name\n173,"say ""hi"", then go"\n'


def test_csv_cells_of_lists_structs_and_booleans_are_what_shell_tools_read(
    capsys: pytest.CaptureFixture[str], out: io.StringIO
) -> None:
    """`sql --format csv | jq`-style use: a list column is JSON (it was Python's "['bakeries']"), a boolean
    true/false, a NULL empty; the table a person reads shows a list as "a, b"."""
    row = {"tags": ["bakeries", "café"], "s": {"a": 1}, "ok": False, "none": None, "n": 2.5}
    emit([row], Format.csv)
    raw = capsys.readouterr().out
    assert raw == 'tags,s,ok,none,n\n"[""bakeries"", ""café""]","{""a"": 1}",false,,2.5\n'
    parsed = next(csv.DictReader(io.StringIO(raw)))
    assert json.loads(parsed["tags"]) == ["bakeries", "café"] and json.loads(parsed["s"]) == {"a": 1}
    emit([row], Format.table)
    assert "bakeries, café" in out.getvalue() and "['" not in out.getvalue()


def test_a_result_without_rows_still_has_its_columns(
    capsys: pytest.CaptureFixture[str], out: io.StringIO
) -> None:
    """A query that matches nothing: the CSV is its header (it was one empty line), the table its head and
    "(0 rows)" (it was blank), JSON an empty list."""
    emit([], Format.csv, columns=["lead_id", "name"])
    assert capsys.readouterr().out == "lead_id,name\n"
    emit([], Format.json, columns=["lead_id", "name"])
    assert capsys.readouterr().out == "[]\n"
    emit([], Format.table, columns=["lead_id", "name"])
    assert "lead_id" in out.getvalue() and "(0 rows)" in out.getvalue()
    emit([], Format.csv)
    assert capsys.readouterr().out == ""


def test_a_user_error_is_one_masked_line_and_exit_2(out: io.StringIO) -> None:
    from leadlake.core.settings import SettingsError

    with pytest.raises(typer.Exit) as exited, errors():
        raise SettingsError("LEADLAKE_X='jane.doe@example.com': expected a number\nmore detail")
    assert exited.value.exit_code == EXIT_USAGE
    assert out.err.getvalue() == "error: LEADLAKE_X='j***@example.com': expected a number\n"  # type: ignore[attr-defined]


def test_a_provider_refusal_exits_1(out: io.StringIO) -> None:
    from leadlake.connectors.http import ProviderError

    with pytest.raises(typer.Exit) as exited, errors():
        raise ProviderError("yelp", 401, "API key rejected; set LEADLAKE_YELP_API_KEY", code="TOKEN_INVALID")
    assert exited.value.exit_code == EXIT_FAILED
    assert out.err.getvalue().count("\n") == 1 and "LEADLAKE_YELP_API_KEY" in out.err.getvalue()  # type: ignore[attr-defined]


def test_error_text_is_not_taken_for_markup(out: io.StringIO) -> None:
    from leadlake.lakehouse import LakehouseError

    with pytest.raises(typer.Exit), errors():
        raise LakehouseError("[Errno 111] Connection refused [/bold] at s3://b/x")
    assert out.err.getvalue() == "error: [Errno 111] Connection refused [/bold] at s3://b/x\n"  # type: ignore[attr-defined]


def test_a_bug_is_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError), errors():
        1 / 0  # noqa: B018


def _report(
    stage: str, status: str, failures: list[str] | None = None, error: str | None = None
) -> StageReport:
    return StageReport(stage, "r1", status, datetime.now(UTC), 1.0, failures=failures or [], error=error)  # type: ignore[arg-type]


def test_a_successful_run_exits_0(out: io.StringIO) -> None:
    run.exit_for([_report("bronze", "success"), _report("silver", "success")])
    assert out.err.getvalue() == ""  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("report", "line"),
    [
        (
            _report(
                "bronze", "partial", ["denver/yelp: every query failed: HTTP 401; set LEADLAKE_YELP_API_KEY"]
            ),
            "partial: bronze: denver/yelp: every query failed: HTTP 401; set LEADLAKE_YELP_API_KEY",
        ),
        (
            _report(
                "bronze",
                "failed",
                ["denver/google_places: every query failed", "denver/yelp: every query failed"],
            ),
            "failed: bronze: denver/google_places: every query failed; denver/yelp: every query failed",
        ),
        (_report("silver", "failed", error="KeyError: 'lead_id'"), "failed: silver: KeyError: 'lead_id'"),
    ],
)
def test_a_failed_or_partial_stage_exits_1_naming_what_failed(
    out: io.StringIO, report: StageReport, line: str
) -> None:
    with pytest.raises(typer.Exit) as exited:
        run.exit_for([_report("world", "success"), report])
    assert exited.value.exit_code == EXIT_FAILED
    assert out.err.getvalue() == line + "\n"  # type: ignore[attr-defined]


def test_a_crashing_stage_is_a_failed_stage_with_its_traceback_kept(
    out: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in a stage: later stages are skipped, the summary can still print, exit 1."""
    from leadlake.core.settings import reset_settings
    from leadlake.runtime import stages
    from leadlake.runtime.resources import Resources

    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("LEADLAKE_STATE_DIR", str(tmp_path / "state"))
    reset_settings()
    ran: list[str] = []

    def fake_run_stage(stage, resources, run_id, **_):
        ran.append(stage.name)
        if stage.name == "silver":
            raise RuntimeError("no such column: jane.doe@example.com")
        return _report(stage.name, "success")

    monkeypatch.setattr(stages, "run_stage", fake_run_stage)
    try:
        resources = Resources.for_sandbox("http://127.0.0.1:9", campaigns=())
        reports = run.run_stages(resources, "gold", "cli__test")
    finally:
        reset_settings()
    assert ran == ["bronze", "silver"], "stages after the failed one are skipped"
    assert [r.status for r in reports] == ["success", "failed"]
    assert reports[1].error.startswith("RuntimeError: no such column: jane.doe@example.com (traceback: ")
    kept = Path(reports[1].error.split("(traceback: ")[1].rstrip(")"))
    assert kept.is_file() and "RuntimeError" in kept.read_text() and "jane.doe" not in kept.read_text()
    with pytest.raises(typer.Exit) as exited:
        run.exit_for(reports)
    assert exited.value.exit_code == EXIT_FAILED
    assert "jane.doe@example.com" not in out.err.getvalue()  # type: ignore[attr-defined]


def test_a_user_error_in_a_stage_stops_the_run_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from leadlake.runtime import stages
    from leadlake.runtime.resources import ConfigError, Resources

    def fake_run_stage(stage, resources, run_id, **_):
        raise ConfigError("no credentials for yelp: set LEADLAKE_YELP_API_KEY")

    monkeypatch.setattr(stages, "run_stage", fake_run_stage)
    with pytest.raises(ConfigError):
        run.run_stages(Resources.for_sandbox("http://127.0.0.1:9", campaigns=()), "bronze", "cli__test")


# ---- the summary -------------------------------------------------------------------------------------------
LONG_NAME = "Mile High Plumbing, Heating, Air Conditioning & Drain Cleaning of Greater Denver LLC"
REASONS = [
    "+25 high rating: 4.5 from 56 reviews",
    "+15 website on a registered domain (milehighplumbingheatingairconditioninganddraincleaning.com)",
    "+10 within 25 km of the target area (23.2 km)",
    "+15 verified email on the company domain",
]


def _bronze(lake: Lakehouse) -> None:
    lake.append("bronze.places_raw", pa.table({"provider_key": ["p1", "p2"], "payload": ["{}", "{}"]}))


def _gold(lake: Lakehouse, n: int = 12) -> None:
    lake.append("silver.source_records", pa.table({"record_id": [f"r{i}" for i in range(n + 3)]}))
    lake.append("silver.leads", pa.table({"lead_id": [f"l{i}" for i in range(n)]}))
    lake.append(
        "gold.scored_leads",
        pa.table(
            {
                "lead_id": [f"l{i}" for i in range(n)],
                "name": [f"{LONG_NAME} #{i}" for i in range(n)],
                "city": ["Greenwood Village Heights North"] * n,
                "region": ["CO"] * n,
                "lead_score": [90 - i for i in range(n)],
                "priority_tier": ["A"] * n,
                "score_reasons": [REASONS] * n,
                "source_count": [2] * n,
                "review_count": [56] * n,
            }
        ),
    )


def test_summary_of_a_bronze_run_leaves_out_gold_sections(out: io.StringIO, tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    _bronze(lake)
    run.print_summary(lake, [_report("bronze", "success")], started=None)
    text = out.getvalue()
    assert "bronze.places_raw" in text and "stage seconds: bronze 1.0" in text
    for absent in ("top 10", "delivered", "duplicates merged", "gold.scored_leads"):
        assert absent not in text, absent


def test_stage_seconds_add_up_per_stage_and_scope_in_the_order_they_first_ran() -> None:
    reports = [_report("bronze", "success"), _report("silver", "success"), _report("bronze", "success")]
    reports[0].scope = reports[2].scope = "yelp"
    reports[1].seconds = 2.5
    reports.append(_report("silver", "success"))
    assert run.stage_seconds(reports) == {"bronze[yelp]": 2.0, "silver": 3.5}


def test_summary_fits_80_columns_one_line_per_top_lead(out: io.StringIO, tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    _gold(lake)
    run.print_summary(lake, [_report("gold", "success")], started=None)
    lines = out.getvalue().splitlines()
    paths = [line for line in lines if line.startswith(PATH_LINES)]
    assert len(paths) == 2 and all(Path(line.split(": ", 1)[1]).is_absolute() for line in paths), paths
    assert not over_80(out.getvalue()), out.getvalue()  # paths stay whole; everything else fits 80
    assert "duplicates merged across providers: 3" in lines
    assert "delivered" not in out.getvalue(), "no delivery section before anything was delivered"
    rows = [line for line in lines if line.startswith("│")]
    assert [int(r.split("│")[1]) for r in rows[-10:]] == list(range(1, 11))
    assert all("…" in r and "Greenwood" in r and " A " in r for r in rows[-10:]), (
        "long names are cut, not wrapped"
    )
    # Each lead's reasons: a numbered first line, continuation lines indented under it, nothing lost.
    start = lines.index("why they score high:")
    block = "\n".join(lines[start + 1 :])
    assert block.count(" 1. +25 high rating") == 1 and " 10. +25 high rating" in block
    flat = " ".join(block.split())
    assert flat.count(REASONS[1]) == 10


def test_summary_with_unreadable_tables_still_prints(out: io.StringIO, tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    _gold(lake)
    log = tmp_path / "lake" / "gold" / "scored_leads" / "_delta_log" / "00000000000000000000.json"
    log.write_text(log.read_text()[:40])
    run.print_summary(lake, [], started=None)
    text = out.getvalue()
    assert "unreadable" in text and "top 10" not in text


def test_every_commands_help_keeps_each_paragraph_on_one_line() -> None:
    """`--help` wraps at the terminal's width, not at the docstring's: no paragraph holds a line break."""
    from typer.testing import CliRunner

    from leadlake.cli.app import app

    def commands(t: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
        found = [(prefix + (c.name or c.callback.__name__,), c.help or "") for c in t.registered_commands]
        for g in t.registered_groups:
            found += commands(g.typer_instance, prefix + (g.name,))
        return found

    listed = commands(app)
    assert len(listed) >= 20
    for path, help_text in listed:
        assert help_text, path
        assert all("\n" not in p for p in help_text.split("\n\n")), path
    shown = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert "exits 2 with one line when the data cannot train a model" in shown
