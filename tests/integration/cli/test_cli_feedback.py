"""`leadlake feedback pull` as a user runs it against a sandbox CRM, and `leadlake sandbox serve --state`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
from cli_support import LEADLAKE, ROOT, cli, free_port, one_line_error, scratch_env

from leadlake.connectors.destinations.hubspot import HubSpotDestination
from leadlake.sandbox.server import SandboxKeys, SandboxServer

TOKEN = SandboxKeys().hubspot


def _deliver(url: str, n: int, prefix: str) -> None:
    leads = [{"lead_id": f"{prefix}{i}", "name": f"Business {prefix}{i}", "city": "Denver"} for i in range(n)]
    HubSpotDestination(TOKEN, url).upsert(leads)


def test_pull_prints_one_line_and_lands_only_changes(tmp_path: Path) -> None:
    with SandboxServer(seed=2, businesses=100) as server:
        _deliver(server.url, 3, "cli-fb-")
        env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=server.url)
        done = cli("feedback", "pull", "--destination", "hubspot", env=env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1, done.stdout
        assert "hubspot: 3 read, 3 landed" in lines[0] and "lead outcomes: 3 leads" in lines[0]
        again = cli("feedback", "pull", env=env)
        assert again.returncode == 0, again.stderr
        assert "0 landed" in again.stdout
        server.advance(120)
        later = cli("feedback", "pull", env=env)
        assert later.returncode == 0, later.stderr
        assert "0 landed" not in later.stdout and "qualified_or_won_90d" in later.stdout


def test_a_refused_token_exits_1_with_one_line(tmp_path: Path) -> None:
    with SandboxServer(seed=2, businesses=50, keys={"hubspot": "another-token"}) as server:
        env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=server.url)
        one_line_error(cli("feedback", "pull", env=env), "HTTP 401", code=1)


def test_a_source_is_not_a_destination(tmp_path: Path) -> None:
    one_line_error(
        cli("feedback", "pull", "--destination", "yelp", env=scratch_env(tmp_path)), "not a destination"
    )


def _serve(tmp: Path, state: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", str(port), "--businesses", "100", "--state", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=scratch_env(tmp),
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        assert proc.poll() is None, "sandbox serve exited"
    proc.kill()
    raise RuntimeError("sandbox serve did not answer")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def test_serve_state_keeps_the_crm_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "crm.json"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, state, port)
    try:
        _deliver(url, 4, "kept-")
        assert httpx.post(f"{url}/_sandbox/crm/advance", json={"days": 30}).status_code == 200
        before = httpx.get(f"{url}/_sandbox/crm/companies").json()
    finally:
        _stop(proc)
    proc = _serve(tmp_path, state, port)
    try:
        assert httpx.get(f"{url}/_sandbox/crm/companies").json() == before
        env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=url)
        done = cli("feedback", "pull", env=env)
        assert done.returncode == 0, done.stderr
        assert "4 landed" in done.stdout
    finally:
        _stop(proc)
    state.write_text("{broken")
    broken = cli(
        "sandbox",
        "serve",
        "--port",
        "0",
        "--businesses",
        "20",
        "--state",
        str(state),
        env=scratch_env(tmp_path),
    )
    one_line_error(broken, "crm.json")
