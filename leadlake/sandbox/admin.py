"""/_sandbox/* routes: health, stats, truth, drifted records, CRM contents, reset; no auth, no faults.

The CRM's simulated time is admin too: POST /_sandbox/crm/advance {"days": N} lets N days of sales work
pass (deterministic per seed), GET /_sandbox/crm/propensity answers the hidden propensity of every live
company and the ceiling AUC. Neither is part of any provider's protocol.

The CRM can be told to refuse property values the way HubSpot does (a 400 VALIDATION_ERROR for the whole
batch, naming the property and the value): POST /_sandbox/crm/rejects with a rule, a list of rules or
{"rules": [...]}, each {"property": "phone", "pattern": "^\\+[1-9][0-9]{7,14}$"} (a value that does not
fully match the pattern is refused; optional "object_type": companies | contacts, "error": the error code,
"message": a template with {value}, {property}, {pattern}) replaces the rules; GET lists them, DELETE
clears them. LEADLAKE_SANDBOX_HUBSPOT_REJECT (the same JSON) sets them when the sandbox starts.
GET /_sandbox/crm/contacts lists the contacts with the companies they are associated to."""

from __future__ import annotations

from typing import Any, Protocol

from leadlake.sandbox.faults import parse_reject_rules
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
    if req.method == "GET" and path == "/_sandbox/crm/contacts":
        return "admin.crm.contacts", Response(200, state.crm.contacts())
    if path == "/_sandbox/crm/rejects" and req.method in ("GET", "POST", "DELETE"):
        return "admin.crm.rejects", _rejects(state, req)
    if req.method == "POST" and path == "/_sandbox/crm/advance":
        try:
            body = req.json() if req.body else {}
            days = body.get("days", 1) if isinstance(body, dict) else None
            return "admin.crm.advance", Response(200, state.crm.advance(days))
        except ValueError as exc:  # bad JSON, or CrmError: days out of range
            return "admin.crm.advance", Response(400, {"error": str(exc)})
    if req.method == "GET" and path == "/_sandbox/crm/propensity":
        return "admin.crm.propensity", Response(200, state.crm.propensities())
    if req.method == "POST" and path == "/_sandbox/reset":
        state.reset()
        return "admin.reset", Response(200, {"ok": True})
    return "admin.unknown", Response(404, {"error": f"unknown sandbox route {req.method} {req.path}"})


def _rejects(state: AdminState, req: Request) -> Response:
    """List (GET), replace (POST) or clear (DELETE) the CRM's reject rules; 400 names a bad rule."""
    if req.method == "POST":
        try:
            rules = parse_reject_rules(req.json())
        except ValueError as exc:  # bad JSON or a bad rule
            return Response(400, {"error": str(exc)})
        state.crm.set_reject_rules(rules)
    elif req.method == "DELETE":
        state.crm.set_reject_rules(())
    return Response(200, {"rules": [r.to_json() for r in state.crm.reject_rules]})
