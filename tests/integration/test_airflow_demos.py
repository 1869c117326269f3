"""`leadlake demo` through Airflow, several times in one project: a default-lakehouse demo (`make demo`)
then other lakehouses (one against a standalone sandbox server, one faulty), one AIRFLOW_HOME for two
lakehouses.

Each demo used to fail after the first with AirflowInactiveAssetInInletOrOutletException for
bronze.places_raw (the assets kept the first lakehouse's URIs) and a traceback. Every demo here runs the
real DAGs with dag.test() in a `leadlake` subprocess, on a small sandbox world.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.e2e, pytest.mark.slow, pytest.mark.requires_delta_spark]

ROOT = Path(__file__).resolve().parents[2]
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
DEMO_TIMEOUT_S = 1500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_env(**extra: str) -> dict[str, str]:
    """A user's environment with no leadlake or Airflow settings and no provider keys, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADLAKE_", "AIRFLOW")) and not k.endswith(("_API_KEY", "_API_TOKEN"))
    }
    return env | {
        "LEADLAKE_SANDBOX_BUSINESSES": "300",
        "COLUMNS": "200",
        "SPARK_LOCAL_IP": "127.0.0.1",
        **extra,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder like the checkout (marker, dags/, campaigns/), so `make demo`'s defaults (lakehouse/,
    airflow_home/, .state/) land in tmp_path and not in the real checkout."""
    proj = tmp_path / "project"
    proj.mkdir()
    shutil.copy(ROOT / "leadlake_project.yml", proj)
    shutil.copytree(ROOT / "dags", proj / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "campaigns", proj / "campaigns")
    return proj


def demo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [LEADLAKE, "demo", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"exit {done.returncode}\n{out[-6000:]}"
    assert "Traceback" not in out, out[-6000:]
    assert "Inactive" not in out, out[-6000:]
    return done


def assert_pipeline_ran(lake: Path) -> None:
    for table in ("bronze/places_raw", "silver/leads", "gold/scored_leads", "gold/crm_deliveries"):
        assert (lake / table / "_delta_log").is_dir(), f"{lake}: {table} was not written"


def active_assets(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db") as db:
        return dict(db.execute("select name, uri from asset_active"))


@pytest.mark.timeout(3 * DEMO_TIMEOUT_S)
def test_default_demo_then_two_other_lakehouses_one_faulty(
    project: Path, tmp_path: Path, sandbox_server: str
) -> None:
    """`make demo` (the default lakehouse), then a demo into a new lakehouse against a sandbox served on
    its own (`leadlake sandbox serve`), then one with --fault-rate 0.2 into a third: all exit 0, each
    through Airflow, each lakehouse gets its tables and Airflow home."""
    demo(env=user_env(), cwd=project)
    assert_pipeline_ran(project / "lakehouse")
    assert (project / "airflow_home" / "airflow.db").is_file()

    second, third = tmp_path / "lake-2", tmp_path / "lake-3"
    env = user_env(LEADLAKE_LAKEHOUSE_URI=str(second), LEADLAKE_SANDBOX_URL=sandbox_server)
    out = demo(env=env, cwd=project).stdout
    assert sandbox_server in out  # the demo says which sandbox it used: the standalone one, not its own
    assert_pipeline_ran(second)
    demo("--fault-rate", "0.2", env=user_env(LEADLAKE_LAKEHOUSE_URI=str(third)), cwd=project)
    assert_pipeline_ran(third)

    homes = sorted(p.parent for p in (project / ".state" / "airflow").glob("*/airflow.db"))
    assert len(homes) == 2, homes  # one per non-default lakehouse, next to the default's airflow_home
    assert any(str(h) in out.replace("\n", "") for h in homes)  # the demo says which home it used
    for home in homes:
        uris = set(active_assets(home).values())
        assert all(u.startswith((second.as_uri(), third.as_uri())) for u in uris), uris
    default_uris = set(active_assets(project / "airflow_home").values())
    assert all(u.startswith((project / "lakehouse").as_uri()) for u in default_uris)


@pytest.fixture
def sandbox_server(tmp_path: Path) -> Iterator[str]:
    """`leadlake sandbox serve` on a free loopback port, in its own process group, always stopped."""
    port = free_port()
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", str(port), "--businesses", "300"],
        env=user_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"sandbox serve exited with {proc.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "sandbox serve did not listen within 120 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.timeout(2 * DEMO_TIMEOUT_S + 300)
def test_one_airflow_home_shared_by_two_lakehouses(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "shared-airflow-home"
    first, second = tmp_path / "lake-a", tmp_path / "lake-b"
    demo(env=user_env(AIRFLOW_HOME=str(home), LEADLAKE_LAKEHOUSE_URI=str(first)), cwd=project)
    assert set(active_assets(home).values()) and all(
        u.startswith(first.as_uri()) for u in active_assets(home).values()
    )
    demo(env=user_env(AIRFLOW_HOME=str(home), LEADLAKE_LAKEHOUSE_URI=str(second)), cwd=project)
    assert_pipeline_ran(second)
    active = active_assets(home)
    assert "bronze.places_raw" in active
    assert all(u.startswith(second.as_uri()) for u in active.values()), active
    assert not (project / "airflow_home").exists()  # AIRFLOW_HOME was honoured


@pytest.mark.timeout(DEMO_TIMEOUT_S)
def test_a_failed_dag_ends_the_demo_with_one_line_naming_dag_task_and_log(
    project: Path, tmp_path: Path
) -> None:
    """Providers that refuse every call fail the ingest DAG: the demo says so in one line, no traceback."""
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = user_env(LEADLAKE_LAKEHOUSE_URI=str(tmp_path / "lake-dead"), LEADLAKE_SANDBOX_URL=dead)
    done = subprocess.run(
        [LEADLAKE, "demo"], env=env, cwd=project, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert "DAG leadlake_ingest__" in line and "at task bronze_" in line, line
    log = Path(line.split("log: ", 1)[1].rstrip(")"))
    assert log.is_file(), line
    assert "Task failed with exception" in log.read_text()
