"""`leadlake sandbox serve` as a user starts it, as a context manager taking its options: a real subprocess
on a free 127.0.0.1 port, with a scratch environment, waited on until /_sandbox/stats answers.

    with served_sandbox(tmp_path, fault_rate=0.2, env={"LEADLAKE_SANDBOX_SEED": "7"}) as sb:
        ... sb.url ...
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))


@dataclass
class Served:
    """A running `leadlake sandbox serve`: its URL, process and log file."""

    url: str
    proc: subprocess.Popen[str]
    log: Path

    def stats(self) -> dict[str, Any]:
        """Requests per route and status, and the faults served (the admin view: never faulted)."""
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """One /_sandbox/* call; raises on an error status."""
        resp = httpx.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json()


def free_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user's environment with no leadlake settings of their own, pointed at scratch folders."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADLAKE_", "AIRFLOW")) and not k.endswith(("_API_KEY", "_API_TOKEN"))
    }
    return env | {
        "LEADLAKE_LAKEHOUSE_URI": str(tmp / "lake"),
        "LEADLAKE_STATE_DIR": str(tmp / "state"),
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "LEADLAKE_SANDBOX_BUSINESSES": "50",
        "COLUMNS": "200",
        **extra,
    }


@contextmanager
def served_sandbox(
    tmp: Path,
    *options: str,
    env: Mapping[str, str] | None = None,
    businesses: int = 50,
    fault_rate: float | None = None,
    timeout_s: float = 180,
) -> Iterator[Served]:
    """`leadlake sandbox serve --port P --businesses N [--fault-rate R] [options]` with `env` added to a
    scratch environment; yields once it answers, terminates it (kill after 30 s) on exit."""
    if fault_rate is not None:
        options = ("--fault-rate", str(fault_rate), *options)
    folder = tmp / f"serve-{free_port()}"
    folder.mkdir(parents=True)
    port = free_port()
    log_path = folder / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", str(port), "--businesses", str(businesses), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=scratch_env(folder, **dict(env or {})),
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/stats", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sandbox serve did not answer within {timeout_s:.0f} s: {log_path.read_text()}"
                )
            try:
                proc.wait(timeout=0.2)  # waits on the process, not the clock: returns early if serve exited
                raise RuntimeError(f"sandbox serve exited {proc.returncode}: {log_path.read_text()}")
            except subprocess.TimeoutExpired:
                pass
        yield Served(url, proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
