"""Process workers for the rate-limit and spend-ledger race tests, importable by spawned children.

Kept apart from `support.providers` and light at import time (stdlib only; leadlake modules are imported
inside the workers), so that spawning a child costs little.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


class RecordingClock:
    """The system's monotonic clock (one clock for all processes of a machine) that records every wait."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)


def take_tokens(path: str, rate: float, burst: int, count: int, shared: bool, start: Any, out: Any) -> None:
    """Child process: wait for `start`, take `count` tokens, put (grant times, waits requested) on `out`."""
    from leadlake.connectors.ratelimit import SharedTokenBucket, TokenBucket

    clock = RecordingClock()
    bucket: Any = (
        SharedTokenBucket(Path(path), rate, burst, clock) if shared else TokenBucket(rate, burst, clock)
    )
    start.wait()
    grants = [bucket.acquire() for _ in range(count)]
    out.put((grants, clock.sleeps))


def spend_until_refused(
    path: str, campaign_id: str, run_id: str, provider: str, price_usd: float, out: Any
) -> None:
    """Child process: charge one provider's calls to a campaign run until the ledger refuses; report the
    number of calls it was allowed."""
    from leadlake.connectors.http import BudgetExhausted
    from leadlake.stages.bronze.budget import Payer, SpendLedger

    ledger = SpendLedger(path)
    allowed = 0
    while True:
        try:
            ledger.charge([Payer(campaign_id, run_id)], provider, price_usd)
        except BudgetExhausted:
            break
        allowed += 1
    out.put(allowed)
