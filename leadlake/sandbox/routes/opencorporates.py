"""OpenCorporates v0.4: company search (page-number paging) and company by jurisdiction and number."""

from __future__ import annotations

import math

from leadlake.sandbox.enrichment import OPENCORPORATES
from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.routes.pdl import over_limit
from leadlake.sandbox.state import SandboxState

OC_DEFAULT_PER_PAGE = 30
OC_MAX_PER_PAGE = 100


def oc_error(status: int, message: str) -> Response:
    """An OpenCorporates error body."""
    return Response(status, {"error": {"message": message}})


def oc_rate_limited() -> Response:
    """What OpenCorporates answers above its rate limit."""
    return oc_error(429, "Rate limit exceeded. Please wait before making further requests.")


def oc_unavailable(code: int) -> Response:
    """A transient server error."""
    return oc_error(code, "Sorry, something went wrong. Please try again later.")


def _oc_check(state: SandboxState, req: Request) -> Response | None:
    """`api_token` query parameter; missing or wrong is 401 Invalid Api Token."""
    if req.arg("api_token") != state.keys[OPENCORPORATES]:
        return oc_error(401, "Invalid Api Token")
    return over_limit(state, OPENCORPORATES, oc_rate_limited)


def oc_search(state: SandboxState, req: Request) -> Response:
    """GET /v0.4/companies/search."""
    denied = _oc_check(state, req)
    if denied:
        return denied
    page, per_page = req.int_arg("page", 1), req.int_arg("per_page", OC_DEFAULT_PER_PAGE)
    if page is None or per_page is None or page < 1 or per_page < 1:
        return oc_error(400, "page and per_page must be positive integers")
    per_page = min(per_page, OC_MAX_PER_PAGE)  # OpenCorporates silently caps per_page
    register = state.enrichment.register
    hits = register.search(req.arg("q") or "", (req.arg("jurisdiction_code") or "").lower() or None)
    # No truncated-page fault here: with page-number paging a short page would lose items for good.
    start = (page - 1) * per_page
    companies = [{"company": register.records[i]} for i in hits[start : start + per_page]]
    results = {
        "companies": companies,
        "page": page,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(len(hits) / per_page)) if hits else 0,
        "total_count": len(hits),
    }
    return Response(200, {"api_version": "0.4", "results": results})


def oc_company(state: SandboxState, req: Request) -> Response:
    """GET /v0.4/companies/{jurisdiction_code}/{company_number}."""
    denied = _oc_check(state, req)
    if denied:
        return denied
    register = state.enrichment.register
    pos = register.by_number.get((req.params["jurisdiction"].lower(), req.params["number"]))
    if pos is None:
        return oc_error(404, "No company found with that jurisdiction/company number")
    return Response(200, {"api_version": "0.4", "results": {"company": register.records[pos]}})


def not_found(req: Request) -> Response:
    """What OpenCorporates answers for a path it does not serve."""
    return oc_error(404, f"Not found: {req.path}")


ROUTES = (
    route(OPENCORPORATES, "GET", r"/v0.4/companies/search", "opencorporates.search", oc_search, paged=True),
    route(
        OPENCORPORATES,
        "GET",
        r"/v0.4/companies/(?P<jurisdiction>[a-z_]+)/(?P<number>[^/]+)",
        "opencorporates.company",
        oc_company,
    ),
)
PROVIDER = Provider(
    OPENCORPORATES,
    "/v0.4/",
    ROUTES,
    key="sandbox-opencorporates-token",
    rate_limited=oc_rate_limited,
    unavailable=oc_unavailable,
    error_codes=(500, 502, 503),
    not_found=not_found,
)
