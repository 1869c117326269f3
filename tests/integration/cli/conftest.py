"""Fixtures of the CLI tests: a served sandbox and one shared demo run, both started as a user would.

Every command gets its own lakehouse, state dir and Airflow home under tmp_path (never the checkout's),
small sandbox worlds, and 127.0.0.1 only. One demo run is shared by every test that needs a demo lakehouse.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from cli_support import LEADLAKE, ROOT, DemoRun, ServedSandbox, cli, free_port, scratch_env


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts the leadlake command (or a whole demo) as a subprocess")
    config.addinivalue_line("markers", "airflow: runs Airflow DAGs (dag.test())")


@pytest.fixture(scope="session")
def served_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSandbox]:
    """`leadlake sandbox serve` on a free 127.0.0.1 port, answering /_sandbox/stats; terminated at the end."""
    tmp = tmp_path_factory.mktemp("sandbox-serve")
    port = free_port()
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", str(port), "--businesses", "1000"],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=scratch_env(tmp),
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/stats", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sandbox serve did not answer within 180 s: {(tmp / 'serve.log').read_text()}"
                )
            try:
                # Waits on the process, not the clock: returns early (and fails) if serve exited.
                proc.wait(timeout=0.2)
                raise RuntimeError(
                    f"sandbox serve exited {proc.returncode}: {(tmp / 'serve.log').read_text()}"
                )
            except subprocess.TimeoutExpired:
                pass
        yield ServedSandbox(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`leadlake demo` once, through real Airflow dag.test() runs, at 80 columns, in a scratch lakehouse.

    The lakehouse is the default `lakehouse/` of a scratch project (its own leadlake_project.yml), so tests
    can also start commands and the notebook below that project without any LEADLAKE_* variable.
    """
    tmp = tmp_path_factory.mktemp("demo")
    project = tmp / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "leadlake_project.yml").write_text("name: demo-under-test\n")
    env = scratch_env(tmp, LEADLAKE_SANDBOX_BUSINESSES="3000", COLUMNS="80")
    env["LEADLAKE_LAKEHOUSE_URI"] = str(project / "lakehouse")
    return DemoRun(cli("demo", env=env, timeout=2400), env, project)
