"""Airflow's four components for this project on 127.0.0.1, as `airflow standalone` starts them.

`airflow standalone` runs `airflow api-server`, `scheduler`, `dag-processor` and `triggerer` as children,
found as `airflow` on PATH, with its own environment. We start the same four ourselves so that they get the
project's environment (the venv's bin first on PATH, the sandbox URL, the lakehouse) without touching this
process's os.environ, bind the API to 127.0.0.1:<port>, write each component's output to a log file, and
stop exactly the processes we started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from leadlake.core.settings import Settings

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class ComponentExited(RuntimeError):
    """An Airflow component stopped on its own; the message names it and ends with its log's last lines."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (and we may bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def component_env(
    settings: Settings, port: int, sandbox_url: str | None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of the Airflow children: this process's, plus the project's Airflow values, the
    venv's bin first on PATH, the lakehouse, and the sandbox URL when the sandbox stands in for providers."""
    from leadlake.runtime.airflow.local import airflow_env

    env = dict(os.environ if base is None else base)
    env.update(airflow_env(settings, port))
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, *(p for p in env.get("PATH", "").split(os.pathsep) if p)])
    env["AIRFLOW__API__HOST"] = "127.0.0.1"
    env["AIRFLOW__API__PORT"] = str(port)
    env["LEADLAKE_LAKEHOUSE_URI"] = settings.lakehouse_root
    env["LEADLAKE_PROJECT_DIR"] = str(settings.project_dir)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # LocalExecutor starts `parallelism` worker processes (Airflow's default 32, ~140 MB each): a laptop's
    # worth is plenty here, as the provider pools cap concurrency anyway.
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "8")
    if sandbox_url:
        env["LEADLAKE_SANDBOX_URL"] = sandbox_url
    else:
        env.pop("LEADLAKE_SANDBOX_URL", None)
    return env


@dataclass
class Component:
    name: str
    process: subprocess.Popen
    log_path: Path
    log_file: IO[bytes]


@dataclass
class Airflow:
    """The running components; stop() ends them (and what they started) by process id."""

    port: int
    home: Path
    components: list[Component] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs" / "leadlake-airflow"

    def start(self, env: dict[str, str], *, cwd: Path) -> None:
        """Start the four components with `env`; their output goes to <home>/logs/leadlake-airflow/."""
        airflow_bin = str(Path(sys.executable).with_name("airflow"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            args = [airflow_bin, name]
            if name == "api-server":
                args += ["--host", "127.0.0.1", "--port", str(self.port)]
            elif name in ("scheduler", "triggerer"):
                # Their log servers bind every interface (no host setting); all components share this
                # machine's log folder, which the API server reads directly.
                args += ["--skip-serve-logs"]
            path = self.log_dir / f"{name}.log"
            log_file = open(path, "ab")  # noqa: SIM115 - closed in stop()
            log_file.write(f"\n---- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n".encode())
            log_file.flush()
            proc = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            self.components.append(Component(name, proc, path, log_file))

    def exited(self) -> Component | None:
        """The first component that has stopped, if any."""
        return next((c for c in self.components if c.process.poll() is not None), None)

    def healthy(self) -> bool:
        """True when the API server answers its health endpoint."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        """Poll the health endpoint until it answers; ComponentExited if a component dies first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (dead := self.exited()) is not None:
                raise ComponentExited(self.describe_exit(dead))
            if self.healthy():
                return
            time.sleep(0.5)
        raise ComponentExited(
            f"the Airflow API server did not answer on {self.url} within {timeout_s:.0f} s "
            f"(logs: {self.log_dir})"
        )

    def describe_exit(self, c: Component) -> str:
        tail = _tail(c.log_path, 5)
        return f"airflow {c.name} exited with code {c.process.returncode} (log: {c.log_path}): {tail}"

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the components and give them `grace_s` to stop what they started; then SIGKILL whatever
        is left of them and their descendants. Only processes we started (and their children) are touched."""
        import psutil

        tree: list[psutil.Process] = []
        tops: list[psutil.Process] = []
        for c in self.components:
            try:
                top = psutil.Process(c.process.pid)
            except psutil.NoSuchProcess:
                continue
            tops.append(top)
            tree += [top, *_children(top)]
        for p in tops:
            _signal(p, signal.SIGTERM)
        psutil.wait_procs(tops, timeout=grace_s)
        tree += [child for p in tops for child in _children(p)]
        for p in tree:
            _signal(p, signal.SIGKILL)
        psutil.wait_procs(tree, timeout=5)
        for c in self.components:
            try:
                c.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            c.log_file.close()
        self.components.clear()


def _children(p: object) -> list:
    import psutil

    try:
        return p.children(recursive=True)  # type: ignore[attr-defined]
    except psutil.NoSuchProcess:
        return []


def _signal(p: object, sig: int) -> None:
    import psutil

    try:
        if p.is_running():  # type: ignore[attr-defined]
            p.send_signal(sig)  # type: ignore[attr-defined]
    except psutil.NoSuchProcess:
        pass


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(no output)"
