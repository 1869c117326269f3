"""The resilience layer under every adapter: pooled httpx client, rate limit, retries, circuit breaker, and a
spend meter that pays for each request before it is sent.

Every wait (rate limit, backoff, Retry-After) goes through one injectable `Clock`, so tests assert on the
waits requested rather than on the wall clock.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import math
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from leadlake.connectors.ratelimit import (
    SYSTEM_CLOCK,
    Clock,
    RateLimiter,
    RateLimitPolicy,
    SharedTokenBucket,
    TokenBucket,
    limiter_for,
)
from leadlake.core.normalize import mask_pii

__all__ = [
    "AUTH_CODES",
    "RETRYABLE_STATUS",
    "BudgetExhausted",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "MalformedResponse",
    "Meter",
    "ProviderAuthError",
    "ProviderError",
    "ProviderHttp",
    "RateLimitPolicy",
    "RateLimiter",
    "SharedTokenBucket",
    "TokenBucket",
    "parse_error_body",
    "parse_retry_after",
]

log = logging.getLogger("leadlake.connectors.sources")


RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Provider error codes that mean "your credential is wrong" even when the HTTP status is 400.
AUTH_CODES = frozenset({"API_KEY_INVALID", "TOKEN_MISSING", "TOKEN_INVALID", "UNAUTHORIZED_ACCESS_TOKEN"})

Validator = Callable[[dict[str, Any]], str | None]


class ProviderError(Exception):
    """A provider call that failed; carries the provider, HTTP status and the provider's own message."""

    def __init__(self, provider: str, status: int | None, message: str, *, code: str | None = None) -> None:
        self.provider, self.status, self.code = provider, status, code
        self.message = mask_pii(message)
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        return f"{self.provider}: {status}{code}: {self.message}"


class ProviderAuthError(ProviderError):
    """The key is missing or rejected: stop calling this provider; retrying cannot help."""


class CircuitOpenError(ProviderError):
    """The provider failed persistently; calls are refused until the breaker's reset time passes."""

    def __init__(self, provider: str, message: str, last_error: BaseException | None = None) -> None:
        self.last_error = last_error
        super().__init__(provider, getattr(last_error, "status", None), message, code="CIRCUIT_OPEN")


class MalformedResponse(ProviderError):
    """A page still unparseable (not JSON, or lacking its list) after every retry; `.body` is the raw text."""

    def __init__(self, provider: str, status: int | None, message: str, body: str) -> None:
        self.body = body
        super().__init__(provider, status, message, code="MALFORMED")


class BudgetExhausted(ProviderError):
    """The campaign budget cannot pay for the next request: this provider stops; nothing was sent."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(provider, None, f"budget exhausted: {message}", code="BUDGET_EXHAUSTED")


class Meter(Protocol):
    """Pays for each request before it is sent (every attempt, retries included)."""

    def charge(self, provider: str) -> None:
        """Record one paid request; raise BudgetExhausted when the budget cannot pay for it."""
        ...


class _Transient(Exception):
    """A retryable failure of one attempt; turned into a ProviderError when the retries run out."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.retry_after = message, status, code, retry_after
        self.body: str | None = None


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failed calls; admits one trial call after the reset."""

    def __init__(
        self,
        provider: str,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.provider, self.failure_threshold, self.reset_after_s = provider, failure_threshold, reset_after_s
        self.clock = clock or SYSTEM_CLOCK
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._last_error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """ "closed", "open" or "half_open"."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self.clock.monotonic() - self._opened_at >= self.reset_after_s else "open"

    def _open_error(self) -> CircuitOpenError:
        return CircuitOpenError(
            self.provider,
            f"circuit open after {self._failures} consecutive failed calls; calls refused for "
            f"{self.reset_after_s:g}s; last error: {self._last_error}",
            self._last_error,
        )

    def before_call(self) -> None:
        """Raise CircuitOpenError while open; in half-open state admit a single trial call."""
        with self._lock:
            if self._opened_at is None:
                return
            if self.clock.monotonic() - self._opened_at < self.reset_after_s or self._trial_running:
                raise self._open_error()
            self._trial_running = True

    def record_success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial_running = 0, None, False

    def release_trial(self) -> None:
        """Free the half-open trial slot without judging the provider."""
        with self._lock:
            self._trial_running = False

    def record_failure(self, error: BaseException) -> CircuitOpenError | None:
        """Count a failed call; returns the CircuitOpenError to raise if this failure opened the breaker."""
        with self._lock:
            self._failures += 1
            self._last_error = error
            was_trial, self._trial_running = self._trial_running, False
            if was_trial or self._failures >= self.failure_threshold:
                self._opened_at = self.clock.monotonic()
                return self._open_error()
            return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_error_body(body: Any) -> tuple[str | None, str | None]:
    """(message, code) from a Google `{"error": {message, status, details}}` or Yelp `{"error": {code,
    description}}` body; a Google ErrorInfo reason (e.g. API_KEY_INVALID) wins as the code."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):
        return err, None
    if not isinstance(err, dict):
        return None, None
    message = err.get("message") or err.get("description")
    code = err.get("status") if isinstance(err.get("status"), str) else err.get("code")
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
            code = detail["reason"]
            break
    return (str(message) if message else None), (str(code) if code is not None else None)


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per CA setting: loading the CA bundle costs ~50 ms,
    which every adapter instance (two per campaign and stage) paid again."""
    return httpx.create_ssl_context()


class ProviderHttp:
    """One provider's HTTP client: pooled connections, rate limited, metered, retried with backoff,
    circuit-broken.

    The rate limit is shared by every process on the machine unless the policy's scope is "process"
    (see `leadlake.connectors.ratelimit`); `limiter` overrides it outright. `meter`, when set, pays for
    each attempt before it is sent and stops the provider with BudgetExhausted when it cannot. `clock`
    serves every wait: rate limit, backoff and Retry-After.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        rate: RateLimitPolicy,
        timeout_s: float = 15.0,
        max_attempts: int = 6,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 20.0,
        *,
        key_env: str | None = None,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        state_dir: str | Path | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.provider, self.key_env = provider, key_env
        self.max_attempts, self.backoff_max_s = max(1, max_attempts), backoff_max_s
        self.timeout_s = timeout_s
        self.clock = clock or SYSTEM_CLOCK
        self.bucket: RateLimiter = limiter or limiter_for(
            provider, base_url, rate, state_dir=state_dir, clock=self.clock
        )
        self.breaker = CircuitBreaker(provider, failure_threshold, reset_after_s, self.clock)
        self.meter = meter
        self._jitter = wait_random_exponential(multiplier=backoff_base_s, max=backoff_max_s)
        # httpx.Client is thread-safe and pools connections; one per adapter instance.
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            follow_redirects=False,
            verify=_tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
        )

    def close(self) -> None:
        self._client.close()
        close = getattr(self.bucket, "close", None)
        if close is not None:
            close()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        validate: Validator | None = None,
        array: bool = False,
    ) -> tuple[Any, int]:
        """Send one logical request (retrying transient failures) and return (parsed JSON object, attempts).

        `validate` checks the body's shape; a non-None answer makes the attempt a retried malformed response.
        `array`: the endpoint answers a JSON array (a bulk endpoint); `validate` then gets `{"items": [...]}`.
        """
        self.breaker.before_call()
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            if self.meter is not None:
                self.meter.charge(self.provider)  # paid before it is sent; BudgetExhausted stops here
            attempts += 1
            self.bucket.acquire()
            return self._attempt(method, path, params, json, headers, validate, array)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda rs: self._log_retry(method, path, rs),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            body = retrying(attempt)
        except BudgetExhausted:
            self.breaker.release_trial()  # nothing was sent: says nothing about the provider's health
            raise
        except _Transient as exc:
            error = self._final_error(exc, attempts)
            opened = self.breaker.record_failure(error)
            if opened is not None:
                log.error("%s", opened)
                raise opened from error
            raise error from None
        except ProviderError:
            self.breaker.record_success()  # the provider answered: it is up, the request was wrong
            raise
        except BaseException:
            self.breaker.release_trial()  # an unexpected error says nothing about the provider's health
            raise
        self.breaker.record_success()
        return body, attempts

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        validate: Validator | None,
        array: bool = False,
    ) -> Any:
        try:
            resp = self._client.request(method, path, params=params, json=json, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ProviderError(self.provider, None, f"bad base URL or path: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.timeout_s:g}s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection error: {type(exc).__name__}: {exc}") from exc
        if resp.is_success:
            return self._parse_success(resp, validate, array)
        return self._raise_for_status(resp)

    def _parse_success(self, resp: httpx.Response, validate: Validator | None, array: bool = False) -> Any:
        try:
            body = resp.json()
        except ValueError:
            problem = "response body is not valid JSON"
        else:
            kind, word = (list, "array") if array else (dict, "object")
            problem = None if isinstance(body, kind) else f"response body is not a JSON {word}"
            if problem is None and validate is not None:
                problem = validate({"items": body} if array else body)
            if problem is None:
                return body
        exc = _Transient(problem, resp.status_code, code="MALFORMED")
        exc.body = resp.text
        raise exc

    def _raise_for_status(self, resp: httpx.Response) -> dict[str, Any]:
        try:
            message, code = parse_error_body(resp.json())
        except ValueError:
            message, code = None, None
        message = message or (resp.text[:200].strip() or resp.reason_phrase)
        status = resp.status_code
        if status in RETRYABLE_STATUS:
            raise _Transient(
                message, status, code=code, retry_after=parse_retry_after(resp.headers.get("Retry-After"))
            )
        if status in (401, 403) or (code or "") in AUTH_CODES:
            hint = f"; set {self.key_env} to a valid key" if self.key_env else ""
            raise ProviderAuthError(self.provider, status, f"API key rejected: {message}{hint}", code=code)
        raise ProviderError(self.provider, status, message, code=code)

    def _wait(self, retry_state: RetryCallState) -> float:
        """Retry-After when the provider sent one (capped), else exponential backoff with full jitter."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max_s)
        return self._jitter(retry_state)

    def _log_retry(self, method: str, path: str, rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        status = getattr(exc, "status", None)
        wait = rs.next_action.sleep if rs.next_action else 0.0
        log.warning(
            "%s %s %s: %s%s; attempt %d/%d, retrying in %.2fs",
            self.provider,
            method,
            path,
            f"HTTP {status} " if status else "",
            mask_pii(str(exc)),
            rs.attempt_number,
            self.max_attempts,
            wait,
        )

    def _final_error(self, exc: _Transient, attempts: int) -> ProviderError:
        message = f"{exc.message} (gave up after {attempts} attempts)"
        if exc.body is not None:
            return MalformedResponse(self.provider, exc.status, message, exc.body)
        return ProviderError(self.provider, exc.status, message, code=exc.code)
