"""The bench's sandbox runs in a process of its own: it serves the bench's world, stops when closed, and a
sandbox that dies before it is ready is an error that says so."""

from __future__ import annotations

import json
import urllib.request

import pytest

from leadlake.runtime.bench import RssSampler, SandboxProcess, bench_template, plan_bench
from leadlake.sandbox.world import World


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


def test_the_sandbox_process_plans_the_campaigns_from_the_world_it_serves() -> None:
    """The bench process never builds a world: the sandbox's child plans from its own, as the bench would."""
    template = bench_template().model_copy(update={"min_reviews": 7, "vertical": "ecommerce"})
    sandbox = SandboxProcess(300, seed=5, template=template)
    try:
        sandbox.wait_ready()
    finally:
        sandbox.close()
    expected = plan_bench(World.generate(seed=5, businesses=300), template=template)
    assert sandbox.plan == expected
    assert {(c.vertical, c.min_reviews) for c in sandbox.plan.campaigns} == {("ecommerce", 7)}
    assert sandbox.world_s > 0 and sandbox.plan_s > 0
