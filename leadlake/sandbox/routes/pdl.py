"""People Data Labs v5: company enrichment by website or name, with likelihood and an out-of-credits key, and
bulk company enrichment (`POST /v5/company/enrich/bulk`, 1-100 `{"params": ...}` requests per call)."""

from __future__ import annotations

import math
from collections.abc import Callable

from leadlake.sandbox.enrichment import PDL, PDL_NO_CREDITS_KEY
from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.state import SandboxState


def pdl_error(status: int, kind: str, message: str) -> Response:
    """A PDL v5 error body."""
    return Response(status, {"status": status, "error": {"type": kind, "message": message}})


def pdl_rate_limited() -> Response:
    """What PDL answers above its rate limit."""
    return pdl_error(429, "rate_limit_error", "An error occurred due to requests hitting the API too quick")


def pdl_unavailable(code: int) -> Response:
    """A transient server error."""
    return pdl_error(code, "error", "An unexpected error occurred on our end. Please try again.")


BULK_MAX = 100  # requests one bulk enrichment may carry (PDL's documented cap)


def over_limit(state: SandboxState, provider: str, rate_limited: Callable[[], Response]) -> Response | None:
    """The provider's 429 (with Retry-After) when this request is above the sandbox's rate limit."""
    wait = state.enrichment.admit(provider)
    if wait is None:
        return None
    resp = rate_limited()
    resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))  # whole seconds, as HTTP says
    return resp


def _auth(state: SandboxState, req: Request) -> Response | None:
    """The error for a missing, wrong or out-of-credits key, or the rate limit; None when it may go."""
    key = req.headers.get("X-Api-Key") or req.arg("api_key")
    if not key:
        return pdl_error(401, "authentication_error", "No API key was provided")
    if key == PDL_NO_CREDITS_KEY:
        return pdl_error(402, "payment_required", "You have hit your account maximum for company enrichment")
    if key != state.keys[PDL]:
        return pdl_error(401, "authentication_error", "Invalid API key")
    return over_limit(state, PDL, pdl_rate_limited)


def _enrich_one(state: SandboxState, params: dict) -> Response:
    """One company enrichment from its parameters (query string or a bulk request's `params`)."""

    def text(name: str) -> str | None:
        value = params.get(name)
        return None if value is None else str(value)

    website, name = text("website"), text("name")
    if not website and not name and not text("profile") and not text("ticker"):
        return pdl_error(
            400, "invalid_request_error", "You must include at least one of website, name, profile, ticker"
        )
    raw = params.get("min_likelihood", 2)
    try:
        min_likelihood = 2 if raw in (None, "") else int(raw)
    except (TypeError, ValueError):
        min_likelihood = -1
    if not 0 <= min_likelihood <= 10:
        return pdl_error(400, "invalid_request_error", "min_likelihood must be an integer from 0 to 10")
    pdl = state.enrichment.pdl
    found = pdl.match(website, name, text("locality"), text("region"))
    if found is None or found[1] < min_likelihood:
        return pdl_error(404, "not_found", "No records were found matching your request")
    pos, likelihood = found
    return Response(200, {**pdl.records[pos], "likelihood": likelihood})


def pdl_enrich(state: SandboxState, req: Request) -> Response:
    """GET /v5/company/enrich: `X-Api-Key` header (or `api_key` parameter); 404 when nothing matches."""
    refused = _auth(state, req)
    if refused is not None:
        return refused
    return _enrich_one(state, {k: v[0] for k, v in req.query.items() if v})


def pdl_enrich_bulk(state: SandboxState, req: Request) -> Response:
    """POST /v5/company/enrich/bulk: `{"requests": [{"params": {...}, "metadata": {...}}, ...]}` (1-100);
    answers a JSON array in request order, each the single enrichment's body (a company, or the error with
    its status) with the request's `metadata` echoed."""
    refused = _auth(state, req)
    if refused is not None:
        return refused
    try:
        body = req.json()
    except ValueError:
        return pdl_error(400, "invalid_request_error", "Request body must be valid JSON")
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not 1 <= len(requests) <= BULK_MAX:
        return pdl_error(
            400, "invalid_request_error", f"'requests' must be an array of 1 to {BULK_MAX} request objects"
        )
    out = []
    for entry in requests:
        params = entry.get("params") if isinstance(entry, dict) else None
        if not isinstance(params, dict):
            answer = pdl_error(400, "invalid_request_error", "Each request needs a 'params' object").body
        else:
            answer = _enrich_one(state, params).body
        if isinstance(entry, dict) and "metadata" in entry:
            answer = {**answer, "metadata": entry["metadata"]}
        out.append(answer)
    return Response(200, out)


def not_found(req: Request) -> Response:
    """What PDL answers for an endpoint it does not serve."""
    return pdl_error(404, "not_found", f"Endpoint {req.path} does not exist")


ROUTES = (
    route(PDL, "GET", r"/v5/company/enrich", "pdl.company_enrich", pdl_enrich),
    route(PDL, "POST", r"/v5/company/enrich/bulk", "pdl.company_enrich_bulk", pdl_enrich_bulk),
)
PROVIDER = Provider(
    PDL,
    "/v5/",
    ROUTES,
    key="sandbox-pdl-key",
    rate_limited=pdl_rate_limited,
    unavailable=pdl_unavailable,
    error_codes=(500, 503),
    not_found=not_found,
)
