"""Fault injection: the knobs, and the seeded draws that decide which provider request gets which fault."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """Fault-injection knobs; rates are per provider/CRM request, never on /_sandbox routes."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0  # 200 with a truncated, invalid JSON body
    latency_ms: int = 0
    truncated_pages: float = 0.0  # shorter page, still a next token: paging reaches every item
    retry_after_s: int = 1

    @classmethod
    def from_rate(cls, rate: float, retry_after_s: int = 1) -> Faults:
        """One overall fault rate split evenly over 429, 5xx and malformed bodies."""
        share = rate / 3
        return cls(rate_429=share, rate_5xx=share, rate_malformed=share, retry_after_s=retry_after_s)


class FaultDice:
    """Seeded draws, serialised so that a run's fault sequence depends only on the order of requests."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def fault(self) -> str | None:
        """None, "429", "5xx" or "malformed" for one provider request."""
        f = self.faults
        if f.rate_429 <= 0 and f.rate_5xx <= 0 and f.rate_malformed <= 0:
            return None  # no draw at all: a fault-free run leaves the stream to page truncation
        with self._lock:
            u = self._rng.random()
        if u < f.rate_429:
            return "429"
        if u < f.rate_429 + f.rate_5xx:
            return "5xx"
        if u < f.rate_429 + f.rate_5xx + f.rate_malformed:
            return "malformed"
        return None

    def truncation(self) -> bool:
        """Whether this page should come back shorter than asked."""
        if self.faults.truncated_pages <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.faults.truncated_pages

    def pick(self, options: tuple[int, ...]) -> int:
        """One of the options (e.g. which 5xx status), from the same stream."""
        with self._lock:
            return self._rng.choice(options)
