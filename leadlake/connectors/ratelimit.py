"""Client-side rate limits: a token bucket per process, and one whose state every process on a machine shares.

A provider's documented rate is a property of the key, not of one Python process: an Airflow pool with four
slots runs four tasks (four processes) against one provider, and four private buckets would send four times
the rate. `SharedTokenBucket` keeps the bucket (tokens and the time of the last refill) in a small file per
provider under the state dir and updates it under an exclusive `flock`, so every process on the machine
draws from the same tokens. On a cluster the processes do not share a disk: see `README.md` ("Rate limits on
a cluster") for what holds the limit there.

Both buckets take a `Clock` (monotonic time and sleep), so tests inject a fake clock and assert on the waits
the limiter asked for and the grant times it recorded, never on the wall clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger("leadlake.connectors.ratelimit")

Scope = Literal["machine", "process"]
SCOPES: tuple[Scope, ...] = ("machine", "process")
STALE_BUCKET_S = 7 * 24 * 3600.0  # bucket files untouched this long are removed when a new one is made


@dataclass(frozen=True)
class RateLimitPolicy:
    """Client-side token bucket settings for one provider.

    `scope="machine"` (the default) shares the bucket with every process on this machine that calls the
    same provider at the same base URL; `scope="process"` keeps it in memory (tests, the sandbox's high
    rates, where a file lock per call buys nothing).
    """

    rate_per_s: float
    burst: int
    scope: Scope = "machine"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"rate limit scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")


class Clock(Protocol):
    """Monotonic seconds and a way to wait; `time.monotonic` / `time.sleep` outside tests."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock. CLOCK_MONOTONIC is one clock for every process of a machine (since boot)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


@dataclass
class FakeClock:
    """A clock for tests: time moves only when someone sleeps; every requested sleep is recorded."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


class RateLimiter(Protocol):
    """What ProviderHttp asks of a limiter: block until a request may go, return the grant time."""

    rate: float
    burst: int

    def acquire(self) -> float: ...


def _refill(tokens: float, stamp: float, now: float, rate: float, burst: int) -> float:
    """Tokens after refilling from `stamp` to `now` (a clock that went backwards refills nothing)."""
    return min(float(burst), tokens + max(0.0, now - stamp) * rate)


def _check(rate_per_s: float, burst: int) -> None:
    if not rate_per_s > 0 or burst < 1:
        raise ValueError(f"a token bucket needs rate_per_s > 0 and burst >= 1, got {rate_per_s}, {burst}")


class TokenBucket:
    """In-process rate limiter: `rate_per_s` tokens a second, at most `burst` saved up; thread-safe."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock | None = None) -> None:
        _check(rate_per_s, burst)
        self.rate, self.burst = float(rate_per_s), int(burst)
        self.clock = clock or SYSTEM_CLOCK
        self._tokens = float(burst)
        self._stamp = self.clock.monotonic()
        self._lock = threading.Lock()

    def take(self) -> tuple[float, float]:
        """(0.0, grant time) when a token was taken, else (seconds until one will be there, now)."""
        with self._lock:
            now = self.clock.monotonic()
            self._tokens = _refill(self._tokens, self._stamp, now, self.rate, self.burst)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0, now
            return (1.0 - self._tokens) / self.rate, now

    def acquire(self) -> float:
        """Block until a token is available, take it, and return the clock time it was granted at."""
        while True:
            wait, at = self.take()
            if wait <= 0:
                return at
            self.clock.sleep(wait)


def _boot_id() -> str:
    """This boot's id: monotonic stamps from another boot mean nothing (Linux; empty elsewhere)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class SharedTokenBucket:
    """A token bucket whose state lives in a file shared by every process on the machine.

    The file holds `{"tokens", "stamp", "boot"}`; a caller takes an exclusive `flock` on it, refills from
    `stamp` to now, takes a token or learns how long to wait, writes the state back and unlocks. The stamp
    is CLOCK_MONOTONIC, which all processes of one boot share; a file from another boot starts full.
    Threads of one process share the instance's file descriptor, on which `flock` does not exclude them,
    so a thread lock guards it too; a forked child reopens the file (its own lock, not the parent's).
    """

    def __init__(self, path: str | Path, rate_per_s: float, burst: int, clock: Clock | None = None) -> None:
        import fcntl  # noqa: F401 - POSIX only: fail at construction, not at the first request

        _check(rate_per_s, burst)
        self.path = Path(path)
        self.rate, self.burst = float(rate_per_s), int(burst)
        self.clock = clock or SYSTEM_CLOCK
        self._boot = _boot_id()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = -1

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    def take(self) -> tuple[float, float]:
        """(0.0, grant time) when a token was taken, else (seconds until one will be there, now)."""
        import fcntl

        with self._lock:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self.clock.monotonic()
                raw = os.pread(fd, 4096, 0)
                try:
                    state = json.loads(raw) if raw else {}
                    tokens, stamp = float(state["tokens"]), float(state["stamp"])
                    if state.get("boot") != self._boot or stamp > now:
                        raise ValueError("another boot or clock")
                except (ValueError, KeyError, TypeError):
                    tokens, stamp = float(self.burst), now  # new, unreadable or stale: start full
                tokens = _refill(tokens, stamp, now, self.rate, self.burst)
                wait = 0.0
                if tokens >= 1.0:
                    tokens -= 1.0
                else:
                    wait = (1.0 - tokens) / self.rate
                data = json.dumps({"tokens": tokens, "stamp": now, "boot": self._boot}).encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                return wait, now
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def acquire(self) -> float:
        """Block until a token is available, take it, and return the clock time it was granted at."""
        while True:
            wait, at = self.take()
            if wait <= 0:
                return at
            self.clock.sleep(wait)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def bucket_path(state_dir: str | Path, provider: str, base_url: str) -> Path:
    """The bucket file of one provider at one base URL (the live API and a sandbox never share tokens)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", provider)
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:12]
    return Path(state_dir) / "ratelimit" / f"{safe}-{digest}.json"


def _prune(folder: Path, keep: Path, clock_now: float | None = None) -> None:
    """Remove bucket files nobody touched for a week (sandboxes on random ports leave one each)."""
    now = time.time() if clock_now is None else clock_now
    try:
        for f in folder.glob("*.json"):
            if f != keep and now - f.stat().st_mtime > STALE_BUCKET_S:
                f.unlink(missing_ok=True)
    except OSError:
        pass


def limiter_for(
    provider: str,
    base_url: str,
    policy: RateLimitPolicy,
    *,
    state_dir: str | Path | None = None,
    clock: Clock | None = None,
) -> TokenBucket | SharedTokenBucket:
    """The limiter a policy asks for: in memory, or shared through a file under the state dir."""
    if policy.scope == "process":
        return TokenBucket(policy.rate_per_s, policy.burst, clock)
    if state_dir is None:
        from leadlake.core.settings import get_settings

        state_dir = get_settings().resolved_state_dir
    path = bucket_path(state_dir, provider, base_url)
    if not path.exists():
        _prune(path.parent, path)
    try:
        return SharedTokenBucket(path, policy.rate_per_s, policy.burst, clock)
    except ImportError:  # no fcntl (Windows): the limit holds per process only
        log.warning("%s: no file locks on this platform; the rate limit holds per process only", provider)
        return TokenBucket(policy.rate_per_s, policy.burst, clock)
