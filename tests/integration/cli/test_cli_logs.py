"""Emails, phones and credential parameters never reach real log output: a process that imported leadlake
(a plain script, the CLI's logging, an Airflow task under dag.test()) prints them masked, tracebacks too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_support import ROOT, cli, scratch_env

pytestmark = pytest.mark.e2e

EMAIL, PHONE, KEY = "jane.doe@example.com", "+1 303 555 0142", "sk-live-0123456789abcdef"
RAW = (EMAIL, PHONE, "303 555 0142", KEY)
MASKED = ("j***@example.com", "+1******0142", "api_key=***")

# Logs a record with an email and a phone through a leadlake logger, makes a real httpx request whose URL
# carries api_key=..., and logs an exception whose message holds both; the handler is chosen by argv[1].
SCRIPT = textwrap.dedent(
    f"""
    import http.server, logging, sys, threading
    import httpx
    import leadlake

    if sys.argv[1] == "cli":
        from leadlake.cli.common import quiet_logs
        quiet_logs()
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("httpx").setLevel(logging.INFO)
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{{}}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{{server.server_port}}/v2/domain-search?domain=x.com&api_key={KEY}"
    httpx.get(url).raise_for_status()
    server.shutdown()

    log = logging.getLogger("leadlake.stages.delivery")
    log.warning("lead %s, phone %s", "{EMAIL}", "{PHONE}")
    try:
        raise ValueError("CRM refused {EMAIL} ({PHONE})")
    except ValueError:
        log.exception("delivery failed")
    logging.getLogger("some.library").error("saw {EMAIL}")
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("handler", ["plain", "cli"])
def test_log_output_of_a_process_that_imported_leadlake_is_masked(tmp_path: Path, handler: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, handler],
        capture_output=True,
        text=True,
        env=scratch_env(tmp_path),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-3000:]
    err = done.stderr
    assert "HTTP Request: GET http://127.0.0.1:" in err, err  # httpx's own record, its URL redacted
    assert "Traceback (most recent call last)" in err and "ValueError: CRM refused j***@example.com" in err
    assert "some.library: saw j***@example.com" in err
    for raw in RAW:
        assert raw not in err, raw
    for masked in MASKED:
        assert masked in err, masked


def test_cli_error_lines_are_masked(tmp_path: Path) -> None:
    done = cli("sql", f'select "{EMAIL}"', env=scratch_env(tmp_path))
    assert done.returncode == 2 and "query failed" in done.stderr, done.stderr
    assert EMAIL not in done.stderr and "j***@example.com" in done.stderr


DAG = textwrap.dedent(
    f"""
    import logging
    from datetime import datetime

    import leadlake  # noqa: F401 - as every leadlake DAG file does
    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
    def leadlake_pii_probe():
        @task
        def speak():
            log = logging.getLogger("leadlake.probe")
            log.warning("lead %s, phone %s", "{EMAIL}", "{PHONE}")
            try:
                raise ValueError("CRM refused {EMAIL}")
            except ValueError:
                log.exception("delivery failed for {PHONE}")

        speak()


    probe = leadlake_pii_probe()

    if __name__ == "__main__":
        run = probe.test()
        print("STATE", getattr(run.state, "value", run.state), flush=True)
    """
)


@pytest.mark.airflow
@pytest.mark.timeout(1200)
def test_airflow_task_logs_are_masked(tmp_path: Path) -> None:
    """A record made by a leadlake logger inside a task, as dag.test() prints the task's log."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "leadlake_pii_probe.py").write_text(DAG)
    env = scratch_env(tmp_path) | {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run(
        [airflow, "db", "migrate"], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    done = subprocess.run(
        [sys.executable, str(dags / "leadlake_pii_probe.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0 and "STATE success" in done.stdout, done.stderr[-3000:] + done.stdout[-3000:]
    logs = done.stdout + done.stderr
    for path in (tmp_path / "airflow").rglob("*.log"):
        logs += path.read_text(errors="replace")
    assert "lead j***@example.com, phone +1******0142" in logs
    assert "delivery failed for +1******0142" in logs and "ValueError: CRM refused j***@example.com" in logs
    for raw in (EMAIL, PHONE, "303 555 0142"):
        assert raw not in logs, raw
