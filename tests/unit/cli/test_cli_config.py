"""`config show` and the project root it reports: found upwards like dbt, looked up per settings build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadlake.cli.app import app
from leadlake.core.settings import PROJECT_MARKER, find_project_root, get_settings, reset_settings

CHECKOUT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch):
    for var in [v for v in os.environ if v.startswith("LEADLAKE_") or v == "AIRFLOW_HOME"]:
        monkeypatch.delenv(var)
    reset_settings()
    yield
    reset_settings()


def _project(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / PROJECT_MARKER).write_text("name: p\n")
    return root


def test_the_nearest_marker_upwards_wins(tmp_path: Path) -> None:
    outer = _project(tmp_path / "outer")
    inner = _project(outer / "a" / "inner")
    assert find_project_root(outer / "a" / "b") == outer
    assert find_project_root(inner / "a" / "b") == inner
    assert find_project_root(inner) == inner


def test_leadlake_project_dir_wins_over_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "p")
    monkeypatch.setenv("LEADLAKE_PROJECT_DIR", str(tmp_path / "explicit"))
    assert find_project_root(project / "a") == (tmp_path / "explicit").resolve()


def test_without_a_marker_the_checkout_is_the_root(tmp_path: Path) -> None:
    assert find_project_root(tmp_path) == CHECKOUT


def test_settings_follow_the_current_directory_not_the_import_time_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook kernel may import leadlake before it changes folder: the root is looked up per settings."""
    project = _project(tmp_path / "p")
    monkeypatch.chdir(project / "a" / "b")
    reset_settings()
    s = get_settings()
    assert s.project_dir == project
    assert s.lakehouse_root == str(project / "lakehouse")
    assert s.resolved_state_dir == project / ".state"
    assert s.resolved_airflow_home == project / "airflow_home"
    assert s.resolved_campaigns_dir == project / "campaigns"


def test_a_relative_project_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "p")
    monkeypatch.chdir(project)
    monkeypatch.setenv("LEADLAKE_PROJECT_DIR", "a")
    assert get_settings().project_dir == project / "a"
    assert get_settings().lakehouse_root == str(project / "a" / "lakehouse")


def test_config_show_reports_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "p")
    monkeypatch.chdir(project / "a")
    reset_settings()
    done = CliRunner().invoke(app, ["config", "show", "--format", "json"])
    assert done.exit_code == 0, done.output
    cfg = json.loads(done.stdout)
    assert cfg["project_dir"] == str(project) and cfg["lakehouse_uri"] == str(project / "lakehouse")
