"""The pieces of leadlake.runtime.airflow that need no Airflow database: airflow.cfg patching, the values
prepare() writes, the UI login, the components' environment, schedules and outlets from the registry."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from leadlake.core.settings import PROJECT_ROOT, Settings, reset_settings


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(lakehouse_uri=str(tmp_path / "lake"), state_dir=tmp_path / "state", **kw)


# ---- airflow.cfg ------------------------------------------------------------------------------------------
def test_patch_config_rewrites_adds_and_keeps_comments(tmp_path: Path) -> None:
    from leadlake.runtime.airflow.local import patch_config, read_config

    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[core]\n# Where DAGs live\ndags_folder = /somewhere/dags\nload_examples = True\n\n"
        "[logging]\nbase_log_folder = /x\n"
    )
    values = {
        "core": {"dags_folder": "/project/dags", "load_examples": "False", "execution_api_server_url": "u"},
        "leadlake": {"lakehouse_uri": "/data/50%lake"},
    }
    assert patch_config(cfg, values) is True
    text = cfg.read_text()
    assert "# Where DAGs live" in text and "base_log_folder = /x" in text
    assert text.count("dags_folder") == 1 and text.count("load_examples") == 1
    got = read_config(tmp_path)
    assert got["core"]["dags_folder"] == "/project/dags"
    assert got["core"]["load_examples"] == "False"
    assert got["core"]["execution_api_server_url"] == "u"
    assert got["leadlake"]["lakehouse_uri"] == "/data/50%%lake"  # escaped for Airflow's interpolation
    assert patch_config(cfg, values) is False  # idempotent


def test_config_values_name_the_project_dags_db_and_execution_api(tmp_path: Path, monkeypatch) -> None:
    from leadlake.runtime.airflow.local import DAGS_FOLDER, airflow_env, config_values

    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    s = _settings(tmp_path, airflow_home=tmp_path / "home")
    values = config_values(s, api_port=18123)
    assert DAGS_FOLDER == PROJECT_ROOT / "dags"
    assert values["core"]["dags_folder"] == str(PROJECT_ROOT / "dags")
    assert values["core"]["load_examples"] == "False"
    assert values["core"]["execution_api_server_url"] == "http://127.0.0.1:18123/execution/"
    assert values["api"] == {"host": "127.0.0.1", "port": "18123"}
    assert values["database"]["sql_alchemy_conn"] == f"sqlite:///{tmp_path / 'home' / 'airflow.db'}"
    assert values["leadlake"]["lakehouse_uri"] == str(tmp_path / "lake")
    env = airflow_env(s, 18123)
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == values["core"]["execution_api_server_url"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == values["database"]["sql_alchemy_conn"]


def test_one_airflow_home_per_lakehouse(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    a = Settings(lakehouse_uri=str(tmp_path / "a"), state_dir=tmp_path / "state")
    b = Settings(lakehouse_uri=str(tmp_path / "b"), state_dir=tmp_path / "state")
    again = Settings(lakehouse_uri=str(tmp_path / "a"), state_dir=tmp_path / "state")
    assert a.resolved_airflow_home != b.resolved_airflow_home
    assert a.resolved_airflow_home == again.resolved_airflow_home
    default = Settings(lakehouse_uri="lakehouse", project_dir=PROJECT_ROOT)
    assert default.resolved_airflow_home == PROJECT_ROOT / "airflow_home"
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "shared"))
    assert Settings(lakehouse_uri=str(tmp_path / "a")).resolved_airflow_home == tmp_path / "shared"


def test_configured_api_port_is_kept(tmp_path: Path) -> None:
    from leadlake.runtime.airflow.local import configured_api_port, patch_config

    assert configured_api_port(tmp_path) == 8080
    patch_config(tmp_path / "airflow.cfg", {"api": {"port": "9123"}})
    assert configured_api_port(tmp_path) == 9123


def test_login_writes_the_admin_password_once(tmp_path: Path, monkeypatch) -> None:
    from leadlake.runtime.airflow.local import login

    for key in ("USERS", "ALL_ADMINS", "PASSWORDS_FILE"):
        monkeypatch.delenv(f"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_{key}", raising=False)
    user, password, path = login(tmp_path)
    assert user == "admin" and len(password) >= 12
    assert path == tmp_path / "simple_auth_manager_passwords.json.generated"
    assert json.loads(path.read_text()) == {"admin": password}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert login(tmp_path)[1] == password
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "ann:viewer,bob:admin")
    user, other, _ = login(tmp_path)
    assert user == "bob" and set(json.loads(path.read_text())) == {"admin", "ann", "bob"}
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    assert login(tmp_path) is None


@pytest.mark.airflow
def test_airflow_settings_take_the_lakehouse_from_the_home(tmp_path: Path, monkeypatch) -> None:
    from leadlake.runtime.airflow.dags import airflow_settings, table_asset
    from leadlake.runtime.airflow.local import patch_config

    home = tmp_path / "home"
    home.mkdir()
    patch_config(home / "airflow.cfg", {"leadlake": {"lakehouse_uri": str(tmp_path / "from-home")}})
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.delenv("LEADLAKE_LAKEHOUSE_URI", raising=False)
    monkeypatch.setenv("LEADLAKE_PROJECT_DIR", str(tmp_path))  # no .env of the checkout
    reset_settings()
    assert airflow_settings().lakehouse_root == str(tmp_path / "from-home")
    assert table_asset("bronze.places_raw").uri == (tmp_path / "from-home" / "bronze" / "places_raw").as_uri()
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", str(tmp_path / "from-env"))
    reset_settings()
    assert airflow_settings().lakehouse_root == str(tmp_path / "from-env")


# ---- the components' environment --------------------------------------------------------------------------
def test_component_env_puts_the_venv_first_and_the_sandbox_in_the_children_only(
    tmp_path: Path, monkeypatch
) -> None:
    from leadlake.runtime.airflow.standalone import component_env

    monkeypatch.delenv("LEADLAKE_SANDBOX_URL", raising=False)
    before = dict(os.environ)
    s = _settings(tmp_path, airflow_home=tmp_path / "home")
    env = component_env(s, 18124, "http://127.0.0.1:5555", base={"PATH": "/usr/bin:/bin"})
    assert os.environ == before
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["LEADLAKE_SANDBOX_URL"] == "http://127.0.0.1:5555"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18124/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18124"
    assert env["LEADLAKE_LAKEHOUSE_URI"] == str(tmp_path / "lake")
    live = component_env(s, 18124, None, base={"PATH": "", "LEADLAKE_SANDBOX_URL": "http://old"})
    assert "LEADLAKE_SANDBOX_URL" not in live


def test_port_free(tmp_path: Path) -> None:
    import socket

    from leadlake.runtime.airflow.standalone import port_free

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        assert port_free(sock.getsockname()[1]) is False


# ---- DAG shape from the registry ---------------------------------------------------------------------------
@pytest.mark.airflow
def test_upstream_assets_are_the_previous_dags_tables() -> None:
    from leadlake.connectors.registry import connectors
    from leadlake.runtime.airflow.dags import upstream_assets

    assert upstream_assets("leadlake_ingest") == []
    assert {a.name for a in upstream_assets("leadlake_silver")} == {
        s.bronze_table for s in connectors("discovery")
    }
    assert [a.name for a in upstream_assets("leadlake_gold")] == ["silver.leads"]


@pytest.mark.airflow
def test_a_provider_task_writes_its_own_bronze_table_and_the_shared_ones() -> None:
    from leadlake.lakehouse import catalog
    from leadlake.runtime.airflow.dags import task_tables
    from leadlake.runtime.stages import get_stage

    bronze = task_tables(get_stage("bronze"), "yelp")
    assert "bronze.yelp_businesses_raw" in bronze and "bronze.places_raw" not in bronze
    assert catalog.BRONZE_INGEST_LOG in bronze
    assert task_tables(get_stage("enrich"), "pdl") == ["bronze.pdl_companies_raw"]
    assert task_tables(get_stage("delivery"), "hubspot") == [
        catalog.GOLD_CRM_DELIVERIES,
        catalog.GOLD_DELIVERY_DEAD_LETTERS,
        catalog.OPS_SYNC_LOG,
    ]


def test_failure_message_names_dag_task_and_log(tmp_path: Path, monkeypatch) -> None:
    from leadlake.runtime.airflow.local import failure_message

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    ok = SimpleNamespace(task_id="a", state="success", try_number=1, map_index=-1)
    bad = SimpleNamespace(task_id="bronze_yelp", state="failed", try_number=1, map_index=-1)
    run = SimpleNamespace(state="failed", run_id="manual__1", get_task_instances=lambda: [ok, bad])
    log = tmp_path / "logs/dag_id=d/run_id=manual__1/task_id=bronze_yelp/attempt=1.log"
    log.parent.mkdir(parents=True)
    log.write_text("{}\n")
    msg = failure_message("d", run)
    assert msg == f"DAG d failed at task bronze_yelp (run manual__1; log: {log})"
    assert "\n" not in msg
