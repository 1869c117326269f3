"""Hunter v2: domain search (offset paging, personal or generic emails); an unknown domain has no emails."""

from __future__ import annotations

from typing import Any

from leadlake.sandbox.enrichment import HUNTER, website_domain
from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.routes.pdl import over_limit
from leadlake.sandbox.state import SandboxState

HUNTER_DEFAULT_LIMIT = 10
HUNTER_MAX_LIMIT = 100
WEBMAIL = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com"})


def hunter_error(status: int, ident: str, details: str) -> Response:
    """A Hunter v2 error body."""
    return Response(status, {"errors": [{"id": ident, "code": status, "details": details}]})


def hunter_rate_limited() -> Response:
    """What Hunter answers above its rate limit."""
    return hunter_error(429, "too_many_requests", "You have reached the rate limit for this API endpoint")


def hunter_unavailable(code: int) -> Response:
    """A transient server error."""
    return hunter_error(code, "internal_server_error", "Something went wrong on our side. Please try again.")


def hunter_domain_search(state: SandboxState, req: Request) -> Response:
    """GET /v2/domain-search: `api_key` parameter; an unknown domain is a 200 with no emails."""
    key = req.arg("api_key") or req.headers.get("X-API-KEY")
    if key != state.keys[HUNTER]:
        return hunter_error(401, "authentication_failed", "No user found for the API key supplied")
    limited = over_limit(state, HUNTER, hunter_rate_limited)
    if limited is not None:
        return limited
    raw = (req.arg("domain") or "").strip().lower()
    if not raw:
        return hunter_error(400, "wrong_params", "You are missing the domain or company parameter")
    domain = website_domain(raw) or raw
    if "." not in domain:
        return hunter_error(400, "invalid_domain", "The domain parameter is not a valid domain")
    limit, offset = req.int_arg("limit", HUNTER_DEFAULT_LIMIT), req.int_arg("offset", 0)
    if limit is None or offset is None or not 1 <= limit <= HUNTER_MAX_LIMIT or offset < 0:
        return hunter_error(400, "pagination_error", f"limit must be 1-{HUNTER_MAX_LIMIT} and offset >= 0")
    kind = req.arg("type")
    if kind not in (None, "", "personal", "generic"):
        return hunter_error(400, "wrong_params", "type must be personal or generic")
    found = state.enrichment.hunter_data.domain(domain)
    emails = [e for e in (found or {}).get("emails", []) if not kind or e["type"] == kind]
    take = limit
    if state.draw_truncation() and take > 1:
        take = max(1, take // 2)
    body: dict[str, Any] = {
        "domain": domain,
        "disposable": False,
        "webmail": domain in WEBMAIL,
        "accept_all": False,
        "pattern": None,
        "organization": None,
    }
    if found:
        body = {k: v for k, v in found.items() if k != "emails"}
    body["emails"] = emails[offset : offset + take]
    meta = {
        "results": len(emails),
        "limit": limit,
        "offset": offset,
        "params": {
            "domain": domain,
            "company": None,
            "type": kind or None,
            "seniority": None,
            "department": None,
        },
    }
    return Response(200, {"data": body, "meta": meta})


def not_found(req: Request) -> Response:
    """What Hunter answers for an endpoint it does not serve."""
    return hunter_error(404, "not_found", f"The requested endpoint {req.path} does not exist")


ROUTES = (
    route(HUNTER, "GET", r"/v2/domain-search", "hunter.domain_search", hunter_domain_search, paged=True),
)
PROVIDER = Provider(
    HUNTER,
    "/v2/",
    ROUTES,
    key="sandbox-hunter-key",
    rate_limited=hunter_rate_limited,
    unavailable=hunter_unavailable,
    error_codes=(500, 503),
    not_found=not_found,
)
