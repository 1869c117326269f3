"""Fixtures of the CLI tests: a served sandbox (`support.served`) and one shared demo run, both started as a
user would.

Every command gets its own lakehouse, state dir and Airflow home under tmp_path (never the checkout's),
small sandbox worlds, and 127.0.0.1 only. One demo run is shared by every test that needs a demo lakehouse.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_support import DemoRun, ServedSandbox, cli, scratch_env
from support.served import served_sandbox as serve


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts the leadlake command (or a whole demo) as a subprocess")
    config.addinivalue_line("markers", "airflow: runs Airflow DAGs (dag.test())")


@pytest.fixture(scope="session")
def served_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSandbox]:
    """`leadlake sandbox serve` on a free 127.0.0.1 port, answering /_sandbox/stats; terminated at the end.

    A test that needs other options (a fault rate, a seed) starts its own with `support.served`."""
    with serve(tmp_path_factory.mktemp("sandbox-serve"), businesses=1000) as sb:
        yield ServedSandbox(sb.url, sb.proc)


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
