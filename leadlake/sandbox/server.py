"""The sandbox HTTP server: Google Places, Yelp Fusion and HubSpot protocols over a synthetic World."""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leadlake.sandbox import enrichment, google, hubspot, yelp
from leadlake.sandbox.crm import CrmStore
from leadlake.sandbox.index import WorldIndex
from leadlake.sandbox.protocol import Request, Response, Route
from leadlake.sandbox.world import GOOGLE, YELP, World

ROUTES: list[Route] = [*google.ROUTES, *yelp.ROUTES, *hubspot.ROUTES, *enrichment.ROUTES]
PROVIDER_PREFIXES = {
    "/v1/places": GOOGLE,
    "/v3/businesses": YELP,
    "/crm/": hubspot.HUBSPOT,
    **enrichment.PREFIXES,
}
ERRORS = {
    GOOGLE: (google.rate_limited, google.unavailable, (500, 503)),
    YELP: (yelp.rate_limited, yelp.unavailable, (500, 503)),
    hubspot.HUBSPOT: (hubspot.rate_limited, hubspot.unavailable, (500, 502, 503)),
    **enrichment.ERRORS,
}
DEFAULT_MAX_RESULTS = {GOOGLE: 60, YELP: 240}
# What a truncated JSON body looks like on a write route that was not applied.
TRUNCATED_WRITE = b'{"status":"COMPLETE","results":[{"id":"'


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


@dataclass(frozen=True)
class SandboxKeys:
    """The credentials the sandbox accepts (they are fake; printing them is fine)."""

    google_places: str = "sandbox-google-places-key"
    yelp: str = "sandbox-yelp-key"
    hubspot: str = "sandbox-hubspot-token"
    opencorporates: str = "sandbox-opencorporates-token"
    pdl: str = "sandbox-pdl-key"
    hunter: str = "sandbox-hunter-key"


class SandboxServer:
    """A local, deterministic stand-in for the provider APIs and the CRM."""

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 42,
        businesses: int = 500,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults = Faults(),
        keys: SandboxKeys = SandboxKeys(),
        max_results: dict[str, int] | None = None,
    ) -> None:
        self.world = world if world is not None else World.generate(seed=seed, businesses=businesses)
        self.index = WorldIndex(self.world)
        self.crm = CrmStore()
        self.faults = faults
        self.keys = keys
        self.max_results = {**DEFAULT_MAX_RESULTS, **(max_results or {})}
        self._fault_rng = random.Random(self.world.seed)
        self._fault_lock = threading.Lock()
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

    # ---- fault draws: seeded, serialised so a run's fault sequence depends only on request order ----
    def draw_fault(self) -> str | None:
        """None, "429", "5xx" or "malformed" for one provider request."""
        f = self.faults
        if f.rate_429 <= 0 and f.rate_5xx <= 0 and f.rate_malformed <= 0:
            return None
        with self._fault_lock:
            u = self._fault_rng.random()
        if u < f.rate_429:
            return "429"
        if u < f.rate_429 + f.rate_5xx:
            return "5xx"
        if u < f.rate_429 + f.rate_5xx + f.rate_malformed:
            return "malformed"
        return None

    def draw_truncation(self) -> bool:
        """Whether this page should come back shorter than asked."""
        if self.faults.truncated_pages <= 0:
            return False
        with self._fault_lock:
            return self._fault_rng.random() < self.faults.truncated_pages

    def _pick(self, options: tuple[int, ...]) -> int:
        with self._fault_lock:
            return self._fault_rng.choice(options)

    # ---- dispatch ---------------------------------------------------------------------------------------
    def handle(self, req: Request) -> tuple[str, Response]:
        """Route one request; returns the stats name and the response."""
        if req.path.startswith("/_sandbox/"):
            return admin(self, req)
        provider = next((p for prefix, p in PROVIDER_PREFIXES.items() if req.path.startswith(prefix)), None)
        matched = _match(req)
        name = matched.name if matched else "unknown"
        if provider is None:
            return name, Response(404, {"error": {"code": 404, "message": f"Unknown path {req.path}"}})
        if self.faults.latency_ms > 0:
            time.sleep(self.faults.latency_ms / 1000)
        fault = self.draw_fault()
        if fault is not None:
            with self._stats_lock:
                self._faults_served[fault] += 1
        rate_limited, unavailable, codes = ERRORS[provider]
        if fault == "429":
            resp = rate_limited()
            resp.headers["Retry-After"] = str(self.faults.retry_after_s)
            return name, resp
        if fault == "5xx":
            return name, unavailable(self._pick(codes))
        if matched is None:
            return name, _not_found(provider, req)
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


def _match(req: Request) -> Route | None:
    for r in ROUTES:
        if r.method == req.method:
            m = r.pattern.match(req.path)
            if m:
                req.params = m.groupdict()
                return r
    return None


def _not_found(provider: str, req: Request) -> Response:
    if provider == GOOGLE:
        return google.error(404, "NOT_FOUND", f"Method not found: {req.method} {req.path}")
    if provider == YELP:
        return yelp.error(404, "NOT_FOUND", f"Resource could not be found: {req.path}")
    if provider in enrichment.PROVIDERS:
        return enrichment.not_found(provider, req)
    return hubspot.error(404, "OBJECT_NOT_FOUND", f"Unable to route {req.method} {req.path}")


def admin(app: SandboxServer, req: Request) -> tuple[str, Response]:
    """/_sandbox/* routes: no auth, no faults."""
    path = req.path.rstrip("/")
    w = app.world
    if req.method == "GET" and path == "/_sandbox/health":
        body: Any = {
            "ok": True,
            "seed": w.seed,
            "businesses": len(w.businesses),
            "google_places": len(w.google_places),
            "yelp": len(w.yelp_businesses),
        }
        return "admin.health", Response(200, body)
    if req.method == "GET" and path == "/_sandbox/stats":
        return "admin.stats", Response(200, app.stats())
    if req.method == "GET" and path == "/_sandbox/truth":
        body = [{"provider": p, "provider_key": k, "business_id": b} for (p, k), b in w.truth.items()]
        return "admin.truth", Response(200, body)
    if req.method == "GET" and path == "/_sandbox/malformed":
        body = [{"provider": p, "provider_key": k} for p, k in sorted(w.malformed)]
        return "admin.malformed", Response(200, body)
    if req.method == "GET" and path == "/_sandbox/crm/companies":
        return "admin.crm", Response(200, app.crm.companies())
    if req.method == "POST" and path == "/_sandbox/reset":
        app.reset()
        return "admin.reset", Response(200, {"ok": True})
    return "admin.unknown", Response(404, {"error": f"unknown sandbox route {req.method} {req.path}"})


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
        # One write for head and body: avoids Nagle/delayed-ACK stalls on keep-alive connections.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        app.record(name, resp.status)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines may carry API keys in query strings."""


def serve(port: int = 8765, seed: int = 42, businesses: int = 500, fault_rate: float = 0.0) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM (for `leadlake sandbox serve`)."""
    keys = SandboxKeys()
    server = SandboxServer(seed=seed, businesses=businesses, port=port, faults=Faults.from_rate(fault_rate))
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    server.start()
    print(f"leadlake sandbox listening on {server.url} (seed={seed}, businesses={businesses})", flush=True)
    print(f"  keys: {asdict(keys)}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        print("leadlake sandbox stopped", file=sys.stderr, flush=True)
