"""The bench's sandbox runs in a process of its own: it serves the bench's world, stops when closed, and a
sandbox that dies before it is ready is an error that says so."""

from __future__ import annotations

import json
import urllib.request

import pytest

from leadlake.runtime.bench import RssSampler, SandboxProcess


def test_the_sandbox_process_serves_the_world_and_stops_when_closed() -> None:
    sandbox = SandboxProcess(60, seed=7)
    try:
        url = sandbox.wait_ready()
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=30) as reply:
            health = json.loads(reply.read())
        assert health["ok"] and health["seed"] == 7 and health["businesses"] == 60
        sampler = RssSampler()
        sampler.apart = sandbox.pid
        sampler.reset()
        assert sampler.apart_peak > 0 and sampler.peak > 0  # counted apart from this process
    finally:
        sandbox.close()
    assert sandbox.proc.returncode is not None


def test_a_sandbox_that_dies_before_it_is_ready_is_an_error() -> None:
    sandbox = SandboxProcess(60)
    sandbox.proc.kill()
    sandbox.proc.wait()
    with pytest.raises(RuntimeError, match="sandbox did not start"):
        sandbox.wait_ready()
    sandbox.close()
