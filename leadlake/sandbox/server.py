"""The sandbox HTTP server: the registered providers' protocols over a synthetic World, faults on demand."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leadlake.sandbox import admin
from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.enrichment import EnrichmentData
from leadlake.sandbox.faults import FaultDice, Faults
from leadlake.sandbox.index import WorldIndex
from leadlake.sandbox.outcomes import OutcomeSimulator
from leadlake.sandbox.protocol import Request, Response, Route
from leadlake.sandbox.registry import RouteModule, SandboxKeys, builtin
from leadlake.sandbox.world import World

# Derived from the registered route modules; kept as names because callers inspect them.
ROUTES: tuple[Route, ...] = builtin().routes
PROVIDER_PREFIXES: Mapping[str, str] = builtin().prefixes
# What a truncated JSON body looks like on a write route that was not applied.
TRUNCATED_WRITE = b'{"status":"COMPLETE","results":[{"id":"'

__all__ = ["PROVIDER_PREFIXES", "ROUTES", "Faults", "SandboxKeys", "SandboxServer", "serve"]


class SandboxServer:
    """A local, deterministic stand-in for the provider APIs and the CRM (it satisfies SandboxState)."""

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 42,
        businesses: int = 500,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults = Faults(),
        keys: Mapping[str, str] | None = None,
        max_results: dict[str, int] | None = None,
        extra_routes: Iterable[RouteModule] = (),
        state_path: str | Path | None = None,
    ) -> None:
        """`state_path`: a JSON file the CRM loads on start (when it exists) and saves after each write, so
        its companies, their simulated lives and its clock outlive this server."""
        extra = list(extra_routes)
        self.registry = builtin().extended(extra) if extra else builtin()
        unknown = set(keys or {}) - set(self.registry.providers)
        if unknown:
            raise ValueError(f"keys for unregistered providers: {sorted(unknown)}")
        self.world = world if world is not None else World.generate(seed=seed, businesses=businesses)
        self.index = WorldIndex(self.world)
        self.state_path = Path(state_path) if state_path else None
        self.crm = CrmStore(OutcomeSimulator(self.world), self.state_path)
        self.faults = faults
        self.keys = SandboxKeys({**self.registry.keys, **(keys or {})})
        self.max_results = {**self.registry.max_results, **(max_results or {})}
        self._dice = FaultDice(faults, self.world.seed)
        self._enrichment: EnrichmentData | None = None
        self._enrichment_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.app = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (use it for every provider and the CRM)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def enrichment(self) -> EnrichmentData:
        """The enrichment providers' data, built on first use (cheap worlds need not pay for it)."""
        built = self._enrichment
        if built is None:
            with self._enrichment_lock:
                if self._enrichment is None:
                    self._enrichment = EnrichmentData.build(self.world)
                built = self._enrichment
        return built

    def start(self) -> SandboxServer:
        """Serve in a background thread."""
        if self._thread is None:
            # A short poll interval keeps stop() fast; the loop is idle-cheap either way.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="leadlake-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stats(self) -> dict:
        """Request counts per route and per status code, and the faults served."""
        with self._stats_lock:
            return {
                "requests": sum(self._routes.values()),
                "routes": dict(self._routes),
                "status": dict(self._statuses),
                "faults": dict(self._faults_served),
            }

    def reset(self) -> None:
        """Forget the CRM's contents and the counters (admin)."""
        self.crm.clear()
        with self._stats_lock:
            self._routes.clear()
            self._statuses.clear()
            self._faults_served.clear()

    def advance(self, days: int) -> dict:
        """Let `days` simulated days pass in the CRM (what POST /_sandbox/crm/advance does)."""
        return self.crm.advance(days)

    def draw_fault(self) -> str | None:
        """None, "429", "5xx" or "malformed" for one provider request."""
        return self._dice.fault()

    def draw_truncation(self) -> bool:
        """Whether this page should come back shorter than asked."""
        return self._dice.truncation()

    def handle(self, req: Request) -> tuple[str, Response]:
        """Route one request; returns the stats name and the response."""
        if req.path.startswith(admin.PREFIX):
            return admin.handle(self, req)
        provider = self.registry.provider_for(req.path)
        if provider is None:
            return "unknown", Response(404, {"error": {"code": 404, "message": f"Unknown path {req.path}"}})
        matched = self.registry.match(provider, req)
        name = matched.name if matched else "unknown"
        if self.faults.latency_ms > 0:
            time.sleep(self.faults.latency_ms / 1000)
        fault = self.draw_fault()
        if fault is not None:
            with self._stats_lock:
                self._faults_served[fault] += 1
        if fault == "429":
            resp = provider.rate_limited()
            resp.headers["Retry-After"] = str(self.faults.retry_after_s)
            return name, resp
        if fault == "5xx":
            return name, provider.unavailable(self._dice.pick(provider.error_codes))
        if matched is None:
            return name, provider.not_found(req)
        if fault == "malformed" and matched.mutating:
            return name, Response(200, TRUNCATED_WRITE)  # not applied: a faulted request has no side effect
        resp = matched.handler(self, req)
        if fault == "malformed":
            payload = resp.payload()
            return name, Response(200, payload[: max(1, len(payload) // 2)], resp.headers)
        return name, resp

    def record(self, name: str, status: int) -> None:
        """Count a served request."""
        with self._stats_lock:
            self._routes[name] += 1
            self._statuses[str(status)] += 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    app: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections across pages
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(self.command, split.path, parse_qs(split.query), self.headers, body)
        app = self.server.app
        try:
            name, resp = app.handle(req)
        except Exception as exc:  # a sandbox bug must surface as a 500, never a hung client
            name, resp = (
                "error",
                Response(500, {"error": {"code": 500, "message": f"sandbox error: {exc!r}"}}),
            )
        payload = resp.payload()
        head = [f"HTTP/1.1 {resp.status} {self.responses.get(resp.status, ('',))[0]}"]
        headers = {"Content-Type": "application/json; charset=UTF-8", **resp.headers}
        headers["Content-Length"] = str(len(payload))
        head += [f"{k}: {v}" for k, v in headers.items()]
        # Counted before the reply leaves: a client that reads stats() after its reply sees its request.
        app.record(name, resp.status)
        # One write for head and body: avoids Nagle/delayed-ACK stalls on keep-alive connections.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines may carry API keys in query strings."""


def serve(
    port: int = 8765,
    seed: int = 42,
    businesses: int = 500,
    fault_rate: float = 0.0,
    state_path: str | Path | None = None,
    world: World | None = None,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM (for `leadlake sandbox serve`)."""
    server = SandboxServer(
        world,
        seed=seed,
        businesses=businesses,
        port=port,
        faults=Faults.from_rate(fault_rate),
        state_path=state_path,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    server.start()
    print(f"leadlake sandbox listening on {server.url} (seed={seed}, businesses={businesses})", flush=True)
    print(f"  keys: {dict(server.keys)}", flush=True)
    if server.state_path is not None:
        print(f"  CRM state: {server.state_path} ({len(server.crm)} companies)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        print("leadlake sandbox stopped", file=sys.stderr, flush=True)
