"""The rate limiters: waits asked of an injected clock, and a limit that holds across processes.

Nothing here asserts on elapsed wall time: single-process tests drive a FakeClock and compare the waits
the limiter requested; the multi-process test records the monotonic grant time of every token and checks
that no window of time holds more grants than the bucket allows (burst + rate x window).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from support.provider_workers import take_tokens

from leadlake.connectors.ratelimit import (
    FakeClock,
    RateLimitPolicy,
    SharedTokenBucket,
    TokenBucket,
    bucket_path,
    limiter_for,
)

EPS = 1e-9


def max_excess(grants: list[float], rate: float, burst: int) -> float:
    """The largest (grants in [t_i, t_j]) - (burst + rate * (t_j - t_i)) over all windows; <= 0 when the
    grants respect the bucket."""
    ts = sorted(grants)
    worst = float("-inf")
    for i in range(len(ts)):
        for j in range(i, len(ts)):
            worst = max(worst, (j - i + 1) - (burst + rate * (ts[j] - ts[i])))
    return worst


@pytest.mark.parametrize("make", ["process", "machine"])
def test_burst_is_free_then_each_token_costs_one_over_rate(make: str, tmp_path: Path) -> None:
    clock = FakeClock()
    bucket = (
        TokenBucket(4.0, 2, clock)
        if make == "process"
        else SharedTokenBucket(tmp_path / "b.json", 4.0, 2, clock)
    )
    grants = [bucket.acquire() for _ in range(5)]
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25])  # two from the burst, then 1/rate each
    assert grants == pytest.approx([1000.0, 1000.0, 1000.25, 1000.5, 1000.75])
    clock.sleep(10.0)  # idle: the bucket refills, but only up to its burst
    clock.sleeps.clear()
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == pytest.approx([0.25])


def test_two_shared_buckets_on_one_file_share_the_tokens(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "yelp.json"
    a, b = SharedTokenBucket(path, 2.0, 2, clock), SharedTokenBucket(path, 2.0, 2, clock)
    a.acquire()
    b.acquire()  # the second instance sees what the first took: the burst is gone
    assert clock.sleeps == []
    assert b.take() == (pytest.approx(0.5), clock.now)
    state = json.loads(path.read_text())
    assert state["tokens"] == pytest.approx(0.0) and state["stamp"] == clock.now
    private_a, private_b = TokenBucket(2.0, 2, clock), TokenBucket(2.0, 2, clock)
    private_a.acquire(), private_a.acquire()
    assert private_b.take()[0] == 0.0, "private buckets do not share: the flaw the shared one fixes"


def test_a_bucket_file_from_another_boot_or_unreadable_starts_full(tmp_path: Path) -> None:
    clock = FakeClock(now=5.0)
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"tokens": 0.0, "stamp": 4.0, "boot": "another-boot"}))
    assert SharedTokenBucket(path, 1.0, 3, clock).take()[0] == 0.0
    path.write_text("{not json")
    assert SharedTokenBucket(path, 1.0, 3, clock).take()[0] == 0.0
    assert json.loads(path.read_text())["tokens"] == pytest.approx(2.0)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-process"])
def test_the_limit_holds_across_processes_only_when_shared(shared: bool, tmp_path: Path) -> None:
    """Four processes (an Airflow pool of four slots) take tokens of one provider at the same moment."""
    rate, burst, procs, each = 40.0, 4, 4, 10
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(procs), ctx.Queue()  # all start together, however slow to spawn
    path = str(tmp_path / "provider.json")
    workers = [
        ctx.Process(target=take_tokens, args=(path, rate, burst, each, shared, start, out))
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    grants = [t for ts, _ in results for t in ts]
    waits = [w for _, ws in results for w in ws]
    assert len(grants) == procs * each
    if shared:
        # No window of the recorded grant times holds more than burst + rate x its length.
        assert max_excess(grants, rate, burst) <= EPS
        assert max(grants) - min(grants) >= (procs * each - burst) / rate - EPS
        assert all(0 < w <= 1.0 / rate + EPS for w in waits)  # every wait asked for is at most one token
    else:
        # The control: private buckets let the pool through at several times the rate; the check sees it.
        assert max_excess(grants, rate, burst) > burst


def test_policy_scope_picks_the_limiter_and_urls_do_not_share(tmp_path: Path) -> None:
    clock = FakeClock()
    live = limiter_for(
        "yelp", "https://api.yelp.com", RateLimitPolicy(5.0, 5), state_dir=tmp_path, clock=clock
    )
    sandbox = limiter_for("yelp", "http://127.0.0.1:8765", RateLimitPolicy(5.0, 5), state_dir=tmp_path)
    memory = limiter_for("yelp", "https://api.yelp.com", RateLimitPolicy(5.0, 5, scope="process"))
    assert isinstance(live, SharedTokenBucket) and isinstance(sandbox, SharedTokenBucket)
    assert isinstance(memory, TokenBucket)
    assert live.path == bucket_path(tmp_path, "yelp", "https://api.yelp.com/")
    assert live.path != sandbox.path and live.path.parent == tmp_path / "ratelimit"


def test_nonsense_is_refused(tmp_path: Path) -> None:
    for rate, burst in ((0, 1), (-1, 1), (1, 0)):
        with pytest.raises(ValueError, match="rate_per_s > 0 and burst >= 1"):
            TokenBucket(rate, burst)
        with pytest.raises(ValueError, match="rate_per_s > 0 and burst >= 1"):
            SharedTokenBucket(tmp_path / "x.json", rate, burst)
    with pytest.raises(ValueError, match="scope"):
        RateLimitPolicy(1.0, 1, scope="cluster")  # type: ignore[arg-type]
