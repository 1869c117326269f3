"""People Data Labs v5: company enrichment by website or name, with likelihood and an out-of-credits key."""

from __future__ import annotations

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


def pdl_enrich(state: SandboxState, req: Request) -> Response:
    """GET /v5/company/enrich: `X-Api-Key` header (or `api_key` parameter); 404 when nothing matches."""
    key = req.headers.get("X-Api-Key") or req.arg("api_key")
    if not key:
        return pdl_error(401, "authentication_error", "No API key was provided")
    if key == PDL_NO_CREDITS_KEY:
        return pdl_error(402, "payment_required", "You have hit your account maximum for company enrichment")
    if key != state.keys[PDL]:
        return pdl_error(401, "authentication_error", "Invalid API key")
    website, name = req.arg("website"), req.arg("name")
    if not website and not name and not req.arg("profile") and not req.arg("ticker"):
        return pdl_error(
            400, "invalid_request_error", "You must include at least one of website, name, profile, ticker"
        )
    min_likelihood = req.int_arg("min_likelihood", 2)
    if min_likelihood is None or not 0 <= min_likelihood <= 10:
        return pdl_error(400, "invalid_request_error", "min_likelihood must be an integer from 0 to 10")
    pdl = state.enrichment.pdl
    found = pdl.match(website, name, req.arg("locality"), req.arg("region"))
    if found is None or found[1] < min_likelihood:
        return pdl_error(404, "not_found", "No records were found matching your request")
    pos, likelihood = found
    return Response(200, {**pdl.records[pos], "likelihood": likelihood})


def not_found(req: Request) -> Response:
    """What PDL answers for an endpoint it does not serve."""
    return pdl_error(404, "not_found", f"Endpoint {req.path} does not exist")


ROUTES = (route(PDL, "GET", r"/v5/company/enrich", "pdl.company_enrich", pdl_enrich),)
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
