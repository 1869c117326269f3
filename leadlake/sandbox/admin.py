"""/_sandbox/* routes: health, stats, truth, drifted records, CRM contents, reset; no auth, no faults."""

from __future__ import annotations

from typing import Any, Protocol

from leadlake.sandbox.protocol import Request, Response
from leadlake.sandbox.state import SandboxState

PREFIX = "/_sandbox/"


class AdminState(SandboxState, Protocol):
    """The sandbox state plus the counters an operator reads and resets."""

    def stats(self) -> dict:
        """Request counts per route and per status code, and the faults served."""
        ...

    def reset(self) -> None:
        """Forget the CRM's contents and the counters."""
        ...


def handle(state: AdminState, req: Request) -> tuple[str, Response]:
    """Answer one /_sandbox/* request; returns the stats name and the response."""
    path = req.path.rstrip("/")
    w = state.world
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
        return "admin.stats", Response(200, state.stats())
    if req.method == "GET" and path == "/_sandbox/truth":
        body = [{"provider": p, "provider_key": k, "business_id": b} for (p, k), b in w.truth.items()]
        return "admin.truth", Response(200, body)
    if req.method == "GET" and path == "/_sandbox/malformed":
        body = [{"provider": p, "provider_key": k} for p, k in sorted(w.malformed)]
        return "admin.malformed", Response(200, body)
    if req.method == "GET" and path == "/_sandbox/crm/companies":
        return "admin.crm", Response(200, state.crm.companies())
    if req.method == "POST" and path == "/_sandbox/reset":
        state.reset()
        return "admin.reset", Response(200, {"ok": True})
    return "admin.unknown", Response(404, {"error": f"unknown sandbox route {req.method} {req.path}"})
