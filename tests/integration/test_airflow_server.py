"""`leadlake airflow --port N` after a demo: Airflow answers on 127.0.0.1:N, its REST API lists the project's
DAGs (no examples, no import errors) and the demo's runs, and an ingest DAG triggered through the API the way
the UI's trigger button does it (unpause, then POST a DAG run) succeeds on the sandbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.e2e, pytest.mark.slow, pytest.mark.requires_delta_spark]

ROOT = Path(__file__).resolve().parents[2]
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
PIPELINE_DAGS = {
    "leadlake_silver",
    "leadlake_gold",
    "leadlake_delivery",
    "leadlake_feedback",
    "leadlake_train",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADLAKE_", "AIRFLOW")) and not k.endswith(("_API_KEY", "_API_TOKEN"))
    }
    return env | {
        "LEADLAKE_LAKEHOUSE_URI": str(tmp_path / "lake"),
        "LEADLAKE_STATE_DIR": str(tmp_path / "state"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "LEADLAKE_SANDBOX_BUSINESSES": "300",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "COLUMNS": "200",
    }


def wait_for(what: str, check, deadline_s: float, proc: subprocess.Popen | None = None, every: float = 1.0):
    """Poll `check()` until it returns something truthy, within a bounded deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: `leadlake airflow` exited with {proc.returncode}")
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(every)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the command's process group (Airflow's components included), then SIGKILL what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def listening_addresses(pid: int) -> set[str]:
    """The addresses the process and its descendants listen on."""
    import psutil

    root = psutil.Process(pid)
    found: set[str] = set()
    for p in [root, *root.children(recursive=True)]:
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    return found


@pytest.mark.timeout(3600)
def test_airflow_serves_the_demo_and_runs_an_ingest_dag_triggered_through_the_api(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    demo = subprocess.run(
        [LEADLAKE, "demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False
    )
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-6000:]

    port = free_port()
    log = open(tmp_path / "leadlake-airflow.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [LEADLAKE, "airflow", "--port", str(port), "--timeout", "900"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:

            def healthy() -> bool:
                try:
                    return http.get("/api/v2/monitor/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("health endpoint", healthy, 900, proc)
            assert listening_addresses(proc.pid) <= {"127.0.0.1"}, listening_addresses(proc.pid)

            # The banner names the login; the password is the one in Airflow's simple auth manager file.
            banner = wait_for(
                "ready banner",
                lambda: "log in as" in (tmp_path / "leadlake-airflow.log").read_text(),
                60,
                proc,
            )
            assert banner
            passwords = (tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
            password = json.loads(passwords)["admin"]
            assert password in (tmp_path / "leadlake-airflow.log").read_text()
            token = http.post("/auth/token", json={"username": "admin", "password": password})
            assert token.status_code in (200, 201), token.text
            http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

            dags = http.get("/api/v2/dags", params={"limit": 100}).json()
            dag_ids = {d["dag_id"] for d in dags["dags"]}
            ingest = sorted(d for d in dag_ids if d.startswith("leadlake_ingest__"))
            assert ingest and PIPELINE_DAGS <= dag_ids
            assert dag_ids == set(ingest) | PIPELINE_DAGS, dag_ids  # no example DAGs
            errors = http.get("/api/v2/importErrors").json()
            assert errors["total_entries"] == 0, errors

            for dag_id in dag_ids:  # the demo's runs are there
                runs = http.get(f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
                assert any(r["state"] == "success" for r in runs), (dag_id, runs)

            # What the UI's trigger button does: unpause, then create a run.
            dag_id = (
                "leadlake_ingest__seattle_food" if "leadlake_ingest__seattle_food" in dag_ids else ingest[0]
            )
            patched = http.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            assert patched.status_code == 200 and patched.json()["is_paused"] is False, patched.text
            created = http.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {}})
            assert created.status_code in (200, 201), created.text
            run_id = created.json()["dag_run_id"]

            def finished() -> dict | None:
                run = http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
                return run if run["state"] in ("success", "failed") else None

            run = wait_for(f"DAG run {run_id}", finished, 900, proc, every=3)
            tis = http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
            assert run["state"] == "success", (run, [(t["task_id"], t["state"]) for t in tis])
            assert tis and all(t["state"] == "success" for t in tis), tis
    finally:
        stop_group(proc)
        log.close()
    assert proc.returncode is not None
