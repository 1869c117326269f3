"""`leadlake airflow`: Airflow (API server + UI, scheduler, DAG processor, triggerer) on the project's DAGs
and the metadata of the current lakehouse, on 127.0.0.1, with the sandbox when no provider keys are set."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer

from leadlake.cli.common import EXIT_FAILED, console, errors, fail, quiet_logs, settings


@contextmanager
def _providers(s: Any) -> Iterator[str | None]:
    """The sandbox URL the tasks use: LEADLAKE_SANDBOX_URL, else a sandbox served from this process when
    no discovery provider has a key, else None (live APIs)."""
    from leadlake.runtime.resources import uses_sandbox

    if s.sandbox_url:
        yield s.sandbox_url
        return
    if not uses_sandbox(s):
        yield None
        return
    from leadlake.sandbox import SandboxServer

    server = SandboxServer(seed=s.sandbox_seed, businesses=s.sandbox_businesses).start()
    try:
        yield server.url
    finally:
        server.stop()


class _Stop(Exception):
    """SIGTERM / SIGHUP: leave the wait loop and stop the components."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def airflow(
    port: int = typer.Option(
        8080, "--port", "-p", min=1, max=65535, help="API server / UI port on 127.0.0.1"
    ),
    timeout: float = typer.Option(240.0, "--timeout", help="Seconds to wait for the API server to answer"),
) -> None:
    """Start Airflow on this project's DAGs and the demo's runs (Ctrl-C stops it).

    Like `airflow standalone`: api-server, scheduler, dag-processor and triggerer, here bound to
    127.0.0.1:PORT, with AIRFLOW_HOME = the current lakehouse's Airflow home (the one `leadlake demo`
    used). When no provider key is set, a sandbox is served from this process and the tasks use it.
    Log in with the user and password printed (Airflow's simple auth manager).
    """
    quiet_logs()
    with errors():
        from leadlake.runtime.airflow import local
        from leadlake.runtime.airflow.standalone import Airflow, ComponentExited, component_env, port_free

        s = settings()
        if not port_free(port):
            fail(f"port {port} on 127.0.0.1 is in use; choose another with --port")
        with _providers(s) as sandbox_url:
            home = local.prepare(s, api_port=port)
            dags = local.load_dags(s)
            credentials = local.login(home)
            env = component_env(s, port, sandbox_url)
            for name, value in local.exported_env().items():  # prepare() tuned this process, not them
                if name not in local.airflow_env(s, port) and env.get(name) == value:
                    env.pop(name)
            server = Airflow(port=port, home=home)
            previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
            code = 0
            try:
                server.start(env, cwd=s.project_dir)
                console.print(f"starting Airflow on {server.url} (home {home}) ...", highlight=False)
                server.wait_ready(timeout)
                _banner(server, s, dags, sandbox_url, credentials)
                while (dead := server.exited()) is None:
                    time.sleep(0.5)
                raise ComponentExited(server.describe_exit(dead))
            except ComponentExited as exc:
                console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
                code = EXIT_FAILED
            except (KeyboardInterrupt, _Stop):
                console.print("stopping Airflow ...", highlight=False)
            finally:
                # A second Ctrl-C or SIGTERM must not cut the shutdown short and orphan the components.
                previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
                for sig in previous:
                    signal.signal(sig, signal.SIG_IGN)
                try:
                    server.stop()
                finally:
                    signal.signal(signal.SIGINT, previous_int)
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
        if code:
            raise typer.Exit(code)


def _banner(server: Any, s: Any, dags: dict, sandbox_url: str | None, credentials: Any) -> None:
    from rich.markup import escape

    from leadlake.runtime.airflow.local import DAGS_FOLDER

    providers = (
        f"the sandbox at {sandbox_url}"
        if sandbox_url
        else "the live provider APIs (keys from the environment)"
    )
    console.print(f"[bold green]Airflow is ready:[/] [bold]{server.url}[/]", highlight=False)
    if credentials is None:
        login = ["  no login needed ([core] simple_auth_manager_all_admins = True)"]
    else:
        user, password, pw_file = credentials
        console.print(f"  log in as [bold]{escape(user)}[/] / [bold]{escape(password)}[/]", highlight=False)
        login = [f"  (Airflow's simple auth manager; passwords of its users are in {pw_file})"]
    for line in (
        *login,
        f"  {len(dags)} DAGs from {DAGS_FOLDER} (paused until you trigger or unpause one)",
        f"  lakehouse {s.lakehouse_root}; tasks call {providers}",
        f"  AIRFLOW_HOME={server.home}  (any `airflow` command with it sees the same DAGs and runs)",
        f"  component logs: {server.log_dir}",
        "Ctrl-C stops Airflow" + (" and the sandbox." if sandbox_url and not s.sandbox_url else "."),
    ):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
