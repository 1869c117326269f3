"""The project root is found as dbt finds its project: upwards from where a command starts to
leadlake_project.yml; relative defaults (lakehouse/, .state/, campaigns/, airflow_home/) hang off it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from cli_support import ROOT, cli, scratch_env

pytestmark = pytest.mark.e2e

DEFAULTED = ("LEADLAKE_LAKEHOUSE_URI", "LEADLAKE_STATE_DIR", "AIRFLOW_HOME")


def _defaults_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user's environment with no lakehouse, state or Airflow home of their own: the defaults apply."""
    return {k: v for k, v in scratch_env(tmp).items() if k not in DEFAULTED} | extra


def _config(env: dict[str, str], cwd: Path) -> dict[str, str]:
    done = cli("config", "show", "--format", "json", env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("sub", ["notebooks", "dags"])
def test_commands_in_a_subfolder_of_the_checkout_find_its_root(tmp_path: Path, sub: str) -> None:
    env = _defaults_env(tmp_path)
    cfg = _config(env, ROOT / sub)
    assert cfg == _config(env, ROOT)
    assert cfg["project_dir"] == str(ROOT)
    assert cfg["lakehouse_uri"] == str(ROOT / "lakehouse")
    assert cfg["campaigns_dir"] == str(ROOT / "campaigns")
    assert cfg["airflow_home"] == str(ROOT / "airflow_home")
    assert cfg["mlflow_tracking_uri"] == f"sqlite:///{ROOT / '.state' / 'mlflow.db'}"
    # `tables` reads the project's lakehouse, not <sub>/lakehouse (read only: the checkout's own demo).
    done = cli("tables", env=env, cwd=ROOT / sub)
    assert done.returncode == 0, done.stderr
    assert str(ROOT / "lakehouse") in " ".join(done.stdout.split())
    assert not (ROOT / sub / "lakehouse").exists()


def _project(tmp_path: Path) -> Path:
    """A user's own project folder: its marker and one table in its default lakehouse."""
    from leadlake.lakehouse import Lakehouse

    project = tmp_path / "my-project"
    (project / "analysis" / "deep").mkdir(parents=True)
    (project / "leadlake_project.yml").write_text("name: my-project\n")
    Lakehouse(str(project / "lakehouse")).append("gold.scored_leads", pa.table({"lead_id": ["a", "b", "c"]}))
    return project


def test_a_project_of_its_own_is_found_from_below_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = _defaults_env(tmp_path)
    cfg = _config(env, project / "analysis" / "deep")
    assert cfg["project_dir"] == str(project)
    assert cfg["lakehouse_uri"] == str(project / "lakehouse")
    assert cfg["mlflow_tracking_uri"] == f"sqlite:///{project / '.state' / 'mlflow.db'}"
    assert cfg["campaigns_dir"] == str(project / "campaigns")
    for cwd in (project, project / "analysis", project / "analysis" / "deep"):
        done = cli("tables", "--format", "json", env=env, cwd=cwd)
        assert done.returncode == 0, done.stderr
        assert [(t["table"], t["rows"]) for t in json.loads(done.stdout)] == [("gold.scored_leads", 3)], cwd
        counted = cli(
            "sql", "select count(*) as n from gold.scored_leads", "--format", "json", env=env, cwd=cwd
        )
        assert json.loads(counted.stdout) == [{"n": 3}], counted.stderr


def test_the_project_env_file_is_read_from_the_project_root(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".env").write_text("LEADLAKE_SPARK_MASTER=local[3]\nLEADLAKE_YELP_API_KEY=from-dotenv\n")
    cfg = _config(_defaults_env(tmp_path), project / "analysis")
    assert cfg["spark_master"] == "local[3]"
    assert cfg["LEADLAKE_YELP_API_KEY"] == "set" and "from-dotenv" not in json.dumps(cfg)


def test_leadlake_project_dir_names_the_root_explicitly(tmp_path: Path) -> None:
    project = _project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _defaults_env(tmp_path, LEADLAKE_PROJECT_DIR=str(project))
    cfg = _config(env, elsewhere)
    assert cfg["project_dir"] == str(project) and cfg["lakehouse_uri"] == str(project / "lakehouse")
    done = cli("tables", "--format", "json", env=env, cwd=elsewhere)
    assert [t["table"] for t in json.loads(done.stdout)] == ["gold.scored_leads"]


def test_outside_any_project_the_checkout_is_the_root(tmp_path: Path) -> None:
    lonely = tmp_path / "no-project-here"
    lonely.mkdir()
    assert _config(_defaults_env(tmp_path), lonely)["project_dir"] == str(ROOT)
