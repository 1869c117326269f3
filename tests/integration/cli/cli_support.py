"""Running `leadlake` as a user does: a real subprocess of .venv/bin/leadlake with scratch settings."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from support import served

ROOT = Path(__file__).resolve().parents[3]
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
CAMPAIGN = ROOT / "campaigns" / "denver_home_services.yaml"


def scratch_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with no leadlake settings of their own, pointed at scratch folders."""
    return served.scratch_env(tmp, **({"LEADLAKE_SANDBOX_BUSINESSES": "300"} | extra))


def cli(
    *args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 900, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`leadlake <args>` as a user types it (`stdin`: what is piped in); never raises on a non-zero exit."""
    return subprocess.run(
        [LEADLAKE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
        input=stdin,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    """Assert the command failed with `code` and exactly one stderr line holding every needle."""
    assert done.returncode == code, (done.returncode, done.stderr[-3000:])
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def free_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_campaign(path: Path, **changes: str) -> Path:
    """The Denver campaign with some lines replaced: `keywords="[plumber]"` sets that key's value."""
    lines = []
    for line in CAMPAIGN.read_text().splitlines():
        key = line.split(":", 1)[0]
        lines.append(f"{key}: {changes[key]}" if key in changes else line)
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class ServedSandbox:
    url: str
    proc: subprocess.Popen[str]

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=5).json()


@dataclass
class DemoRun:
    done: subprocess.CompletedProcess[str]
    env: dict[str, str]
    project: Path  # a project folder (leadlake_project.yml) whose default lakehouse/ is the demo's

    @property
    def lake(self) -> Path:
        return self.project / "lakehouse"
