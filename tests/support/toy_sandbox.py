"""A toy sandbox provider for registry tests: GET /toy/v1/search?q=... over the World, with a bearer key.

It is what a new provider's route module looks like; tests register it at runtime via `extra_routes`.
"""

from __future__ import annotations

from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.state import SandboxState

TOY = "toy"
TOY_KEY = "sandbox-toy-key"
MAX_LIMIT = 50


def error(status: int, code: str) -> Response:
    """The toy API's error body."""
    return Response(status, {"error": {"status": status, "code": code}})


def search(state: SandboxState, req: Request) -> Response:
    """GET /toy/v1/search?q=&limit=: businesses whose name contains q, in world order."""
    if req.bearer() != state.keys[TOY]:
        return error(401, "unauthorized")
    q = (req.arg("q") or "").strip().lower()
    limit = req.int_arg("limit", 10)
    if not q or limit is None or not 1 <= limit <= MAX_LIMIT:
        return error(400, "bad_request")
    hits = [b for b in state.world.businesses if q in b.name.lower()]
    items = [{"id": b.business_id, "name": b.name, "city": b.city} for b in hits[:limit]]
    return Response(200, {"items": items, "total": len(hits)})


ROUTES = (route(TOY, "GET", r"/toy/v1/search", "toy.search", search),)
PROVIDER = Provider(
    TOY,
    "/toy/",
    ROUTES,
    key=TOY_KEY,
    rate_limited=lambda: error(429, "slow_down"),
    not_found=lambda req: error(404, "no_such_endpoint"),
)
