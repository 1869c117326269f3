"""The resilience layer against a scripted server on 127.0.0.1: retries, Retry-After, breaker, auth, rate,
the spend meter.

Waits are asserted as the waits the client asked of its injected clock (`FakeClock.sleeps`), never as
elapsed wall time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from leadlake.connectors.http import (
    BudgetExhausted,
    CircuitOpenError,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderHttp,
    SharedTokenBucket,
    TokenBucket,
)
from leadlake.connectors.ratelimit import FakeClock
from leadlake.connectors.sources.base import RateLimitPolicy

SECRET_KEY = "sk-test-secret-value-123"
FAST = RateLimitPolicy(rate_per_s=1000.0, burst=1000, scope="process")


@dataclass
class Reply:
    """One scripted response; `delay_s` makes the server stall before answering (for client timeouts)."""

    status: int = 200
    body: str = '{"items": []}'
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: str


class ScriptedServer:
    """Answers with `replies` in order, repeating the last one; records every request it gets."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                with server._lock:
                    n = len(server.seen)
                    server.seen.append(
                        Seen(time.monotonic(), self.command, self.path, dict(self.headers), body)
                    )
                reply = server.replies[min(n, len(server.replies) - 1)]
                if reply.delay_s:
                    time.sleep(reply.delay_s)  # the server stalls; the client's timeout is under test
                data = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(*replies: Reply) -> ScriptedServer:
        srv = ScriptedServer(list(replies)).__enter__()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.__exit__()


def client(url: str, rate: RateLimitPolicy = FAST, **opts: Any) -> ProviderHttp:
    """A client of the scripted server; pass `clock=FakeClock()` to see the waits it asks for."""
    opts = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 4, **opts}
    return ProviderHttp(
        "testprov", url, {"Authorization": f"Bearer {SECRET_KEY}"}, rate, key_env="TEST_KEY", **opts
    )


def ok(payload: dict[str, Any] | None = None) -> Reply:
    return Reply(200, json.dumps(payload if payload is not None else {"items": [1, 2]}))


def test_429_retry_after_is_honoured(serve: Any) -> None:
    srv = serve(Reply(429, '{"error": {"code": "TOO_MANY"}}', {"Retry-After": "7"}), ok())
    clock = FakeClock()
    http = client(srv.url, backoff_max_s=30.0, clock=clock)
    body, attempts = http.request_json("GET", "/search", params={"q": "x"})
    assert body == {"items": [1, 2]} and attempts == 2
    assert len(srv.seen) == 2
    assert clock.sleeps == [7.0]  # the provider's Retry-After, not our backoff
    assert srv.seen[0].path == "/search?q=x"


def test_retry_after_is_capped_by_backoff_max(serve: Any) -> None:
    srv = serve(Reply(503, "{}", {"Retry-After": "120"}), ok())
    clock = FakeClock()
    http = client(srv.url, backoff_max_s=0.2, clock=clock)
    _, attempts = http.request_json("GET", "/")
    assert attempts == 2
    assert clock.sleeps == [0.2]


def test_backoff_without_retry_after_is_jittered_and_capped(serve: Any) -> None:
    srv = serve(Reply(503), Reply(503), Reply(503), ok())
    clock = FakeClock()
    _, attempts = client(srv.url, backoff_base_s=0.5, backoff_max_s=0.8, clock=clock).request_json("GET", "/")
    assert attempts == 4 and len(clock.sleeps) == 3
    assert all(0.0 <= w <= 0.8 for w in clock.sleeps)


def test_5xx_retried_until_success(serve: Any) -> None:
    srv = serve(Reply(503, '{"error": {"status": "UNAVAILABLE"}}'), Reply(500), Reply(502), ok())
    body, attempts = client(srv.url, max_attempts=6).request_json("POST", "/v1/x", json={"a": 1})
    assert attempts == 4 and len(srv.seen) == 4 and body["items"] == [1, 2]
    assert json.loads(srv.seen[0].body) == {"a": 1}


def test_5xx_gives_up_after_max_attempts(serve: Any) -> None:
    srv = serve(Reply(500, '{"error": {"code": "INTERNAL_ERROR", "description": "boom"}}'))
    with pytest.raises(ProviderError) as info:
        client(srv.url, max_attempts=3).request_json("GET", "/")
    assert len(srv.seen) == 3
    assert info.value.status == 500 and info.value.provider == "testprov"
    assert "boom" in str(info.value) and not isinstance(info.value, CircuitOpenError)


def test_invalid_json_then_good(serve: Any) -> None:
    srv = serve(Reply(200, '{"items": [1, 2'), ok())
    body, attempts = client(srv.url).request_json("GET", "/")
    assert attempts == 2 and body == {"items": [1, 2]}


def test_shape_validator_retries_then_raises_malformed_with_body(serve: Any) -> None:
    srv = serve(Reply(200, '{"itemz": []}'))

    def needs_items(body: dict[str, Any]) -> str | None:
        return None if isinstance(body.get("items"), list) else "missing 'items'"

    with pytest.raises(MalformedResponse) as info:
        client(srv.url, max_attempts=3).request_json("GET", "/", validate=needs_items)
    assert len(srv.seen) == 3
    assert info.value.body == '{"itemz": []}'
    assert "missing 'items'" in str(info.value)


def test_timeout_is_retried(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = serve(Reply(200, '{"items": []}', delay_s=1.5), ok())
    with caplog.at_level(logging.WARNING, logger="leadlake.connectors.sources"):
        body, attempts = client(srv.url, timeout_s=0.3).request_json("GET", "/")
    # Had the client waited the stall out, the first attempt would have answered {"items": []}.
    assert attempts == 2 and body == {"items": [1, 2]} and len(srv.seen) == 2
    assert "timed out after 0.3s" in caplog.text


def test_connection_refused_is_retried_then_reported(serve: Any) -> None:
    srv = serve(ok())
    url = srv.url
    srv.__exit__()  # nothing listens on the port any more
    with pytest.raises(ProviderError) as info:
        client(url, max_attempts=2).request_json("GET", "/")
    assert "connection error" in str(info.value) and "2 attempts" in str(info.value)


def test_breaker_opens_after_persistent_failure_and_names_provider(serve: Any) -> None:
    srv = serve(Reply(503, '{"error": {"code": 503, "status": "UNAVAILABLE", "message": "backend down"}}'))
    http = client(srv.url, max_attempts=2, failure_threshold=2, reset_after_s=60)
    with pytest.raises(ProviderError) as first:
        http.request_json("GET", "/")
    assert not isinstance(first.value, CircuitOpenError)
    with pytest.raises(CircuitOpenError) as tripped:
        http.request_json("GET", "/")
    assert len(srv.seen) == 4
    with pytest.raises(CircuitOpenError) as refused:
        http.request_json("GET", "/")
    assert len(srv.seen) == 4  # refused without touching the network
    for exc in (tripped.value, refused.value):
        assert exc.provider == "testprov" and "testprov" in str(exc)
        assert "backend down" in str(exc) and "circuit open" in str(exc)
    assert http.breaker.state == "open"


def test_breaker_half_open_trial_closes_it_again(serve: Any) -> None:
    srv = serve(Reply(500), Reply(500), ok())
    http = client(srv.url, max_attempts=1, failure_threshold=2, reset_after_s=0.0)
    with pytest.raises(ProviderError):
        http.request_json("GET", "/")
    with pytest.raises(CircuitOpenError):
        http.request_json("GET", "/")
    body, _ = http.request_json("GET", "/")  # reset elapsed: a trial call goes through and succeeds
    assert body == {"items": [1, 2]} and http.breaker.state == "closed"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, '{"error": {"code": "TOKEN_INVALID", "description": "Invalid access token"}}'),
        (403, '{"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "denied"}}'),
        (
            400,
            json.dumps(
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "API key not valid.",
                        "details": [
                            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                        ],
                    }
                }
            ),
        ),
    ],
)
def test_auth_error_is_not_retried(serve: Any, status: int, body: str) -> None:
    srv = serve(Reply(status, body))
    http = client(srv.url, max_attempts=5)
    with pytest.raises(ProviderAuthError) as info:
        http.request_json("GET", "/")
    assert len(srv.seen) == 1
    assert info.value.status == status and "TEST_KEY" in str(info.value)
    assert SECRET_KEY not in str(info.value)
    assert http.breaker.state == "closed"  # a bad key is not an outage


def test_other_4xx_not_retried(serve: Any) -> None:
    srv = serve(Reply(400, '{"error": {"code": "VALIDATION_ERROR", "description": "limit too big"}}'))
    with pytest.raises(ProviderError) as info:
        client(srv.url).request_json("GET", "/")
    assert len(srv.seen) == 1 and not isinstance(info.value, ProviderAuthError)
    assert info.value.code == "VALIDATION_ERROR" and "limit too big" in str(info.value)


def test_headers_sent_but_never_logged_and_pii_masked(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = serve(Reply(503, '{"error": {"message": "call +1 303 555 0101 or ops@example.com"}}'), ok())
    with caplog.at_level(logging.DEBUG, logger="leadlake.connectors.sources"):
        client(srv.url).request_json("GET", "/")
    assert srv.seen[0].headers["Authorization"] == f"Bearer {SECRET_KEY}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in logged and "testprov" in logged
    assert SECRET_KEY not in logged
    assert "555 0101" not in logged and "ops@example.com" not in logged and "o***@example.com" in logged


def test_token_bucket_limits_throughput_across_threads() -> None:
    rate, burst = 40.0, 2
    bucket = TokenBucket(rate_per_s=rate, burst=burst)
    grants: list[float] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        for _ in range(n):
            at = bucket.acquire()
            with lock:
                grants.append(at)

    threads = [threading.Thread(target=take, args=(5,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Over the recorded grant times, no window holds more than the burst plus rate x its length.
    ts = sorted(grants)
    assert len(ts) == 20
    for i in range(len(ts)):
        for j in range(i, len(ts)):
            assert j - i + 1 <= burst + rate * (ts[j] - ts[i]) + 1e-9


def test_provider_http_is_rate_limited(serve: Any) -> None:
    srv = serve(ok())
    clock = FakeClock()
    http = client(srv.url, rate=RateLimitPolicy(rate_per_s=10.0, burst=1, scope="process"), clock=clock)
    for _ in range(6):
        http.request_json("GET", "/")
    assert len(srv.seen) == 6
    assert clock.sleeps == pytest.approx([0.1] * 5)  # the first is the burst, then 1/rate before each


def test_provider_http_shares_its_bucket_with_other_clients_on_the_machine(serve: Any, tmp_path: Any) -> None:
    srv = serve(ok())
    clock = FakeClock()
    policy = RateLimitPolicy(rate_per_s=10.0, burst=2)  # scope "machine", the default
    a = client(srv.url, rate=policy, clock=clock, state_dir=tmp_path)
    b = client(srv.url, rate=policy, clock=clock, state_dir=tmp_path)
    assert isinstance(a.bucket, SharedTokenBucket) and a.bucket.path == b.bucket.path
    a.request_json("GET", "/")
    b.request_json("GET", "/")
    b.request_json("GET", "/")
    assert clock.sleeps == pytest.approx([0.1])  # b found the burst half spent by a
    a.close(), b.close()


@dataclass
class CountingMeter:
    """Pays for `allowed` requests, then refuses."""

    allowed: int
    charged: list[str] = field(default_factory=list)

    def charge(self, provider: str) -> None:
        if len(self.charged) >= self.allowed:
            raise BudgetExhausted(provider, f"{self.allowed} calls paid, none left")
        self.charged.append(provider)


def test_every_attempt_is_paid_before_it_is_sent(serve: Any) -> None:
    srv = serve(Reply(503), Reply(503), ok())
    meter = CountingMeter(allowed=10)
    http = client(srv.url, meter=meter)
    _, attempts = http.request_json("GET", "/")
    assert attempts == 3 and meter.charged == ["testprov"] * 3 == ["testprov"] * len(srv.seen)


def test_budget_exhausted_stops_without_sending(serve: Any) -> None:
    srv = serve(Reply(503), ok())
    meter = CountingMeter(allowed=1)
    http = client(srv.url, meter=meter, failure_threshold=1)
    with pytest.raises(BudgetExhausted) as info:
        http.request_json("GET", "/")  # attempt 1 paid and sent (503); the retry cannot be paid
    assert len(srv.seen) == 1 and info.value.code == "BUDGET_EXHAUSTED"
    assert "budget exhausted" in str(info.value) and "testprov" in str(info.value)
    assert http.breaker.state == "closed", "an unpaid request says nothing about the provider"
    with pytest.raises(BudgetExhausted):
        http.request_json("GET", "/")
    assert len(srv.seen) == 1


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)


def test_clients_share_one_verifying_tls_context() -> None:
    """The CA bundle is loaded once per process, not by every adapter instance; verification stays on."""
    import ssl

    a, b = client("http://127.0.0.1:9"), client("http://127.0.0.1:9")
    try:
        ctx_a = a._client._transport._pool._ssl_context  # httpx -> httpcore pool
        assert ctx_a is b._client._transport._pool._ssl_context
        assert ctx_a.verify_mode == ssl.CERT_REQUIRED and ctx_a.check_hostname
    finally:
        a.close()
        b.close()
