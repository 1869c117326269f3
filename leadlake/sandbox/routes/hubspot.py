"""HubSpot CRM v3 companies: batch upsert/read, list with `after` cursors, get/update/archive by id or unique
property, merge (POST /merge: the merged company is archived, a GET by its old id answers the primary) and
search (POST /search: filterGroups, one sort, offset paging, the 10,000-result cap).

Every CRM route spends one request of the app's rate limit (CrmStore.rate_limit, a token bucket: 10
requests/s by default, LEADLAKE_SANDBOX_HUBSPOT_RATE_LIMIT): past it the answer is HubSpot's 429 with
Retry-After, and every answer carries the X-HubSpot-RateLimit-* headers."""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlencode

from leadlake.sandbox.crm import CrmError, CrmNotFound, hubspot_timestamp
from leadlake.sandbox.protocol import Handler, Provider, Request, Response, correlation_id, route
from leadlake.sandbox.state import SandboxState

HUBSPOT = "hubspot"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
BASE = "/crm/v3/objects/companies"


def error(status: int, category: str, message: str, **extra: Any) -> Response:
    """A HubSpot error body."""
    body = {"status": "error", "message": message, "correlationId": correlation_id(), "category": category}
    return Response(status, {**body, **extra})


def validation(message: str) -> Response:
    """400 VALIDATION_ERROR."""
    return error(400, "VALIDATION_ERROR", message)


def rate_limited() -> Response:
    """The per-second (SECONDLY) rate-limit answer."""
    return error(
        429,
        "RATE_LIMITS",
        "You have reached your secondly limit.",
        errorType="RATE_LIMIT",
        policyName="SECONDLY",
    )


def unavailable(code: int) -> Response:
    """A transient server error."""
    return error(code, "INTERNAL_ERROR", "An internal error occurred; please retry the request.")


def check_token(state: SandboxState, req: Request) -> Response | None:
    """Private-app / OAuth bearer token."""
    if req.bearer() != state.keys[HUBSPOT]:
        return error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
            "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    return None


def rate_limited_by_app(retry_after: str) -> Response:
    """The 10-second (TEN_SECONDLY_ROLLING) rate-limit answer of an app past its limit."""
    resp = error(
        429,
        "RATE_LIMITS",
        "You have reached your ten_secondly_rolling limit.",
        errorType="RATE_LIMIT",
        policyName="TEN_SECONDLY_ROLLING",
    )
    resp.headers["Retry-After"] = retry_after
    return resp


def limited(handler: Handler) -> Handler:
    """A route that spends one request of the rate limit (once the token is accepted) and answers with the
    rate-limit headers; a request past the limit gets a 429 and changes nothing."""

    @wraps(handler)
    def run(state: SandboxState, req: Request) -> Response:
        denied = check_token(state, req)
        if denied:
            return denied
        allowed, headers = state.crm.rate_limit.take()
        if not allowed:
            resp = rate_limited_by_app(headers.pop("Retry-After"))
        else:
            resp = handler(state, req)
        resp.headers.update(headers)
        return resp

    return run


def _body(req: Request) -> dict | Response:
    try:
        body = req.json()
    except ValueError as exc:
        return validation(f"Invalid input JSON: {exc}")
    return body if isinstance(body, dict) else validation("Invalid input JSON: expected an object.")


def batch_upsert(state: SandboxState, req: Request) -> Response:
    """POST /crm/v3/objects/companies/batch/upsert."""
    denied = check_token(state, req)
    if denied:
        return denied
    body = _body(req)
    if isinstance(body, Response):
        return body
    started = hubspot_timestamp()
    try:
        results = state.crm.upsert(body.get("inputs"))  # validates the whole batch before any write
    except CrmError as exc:
        return validation(str(exc))
    return Response(
        200,
        {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": hubspot_timestamp()},
    )


def batch_read(state: SandboxState, req: Request) -> Response:
    """POST /crm/v3/objects/companies/batch/read; 207 with errors when some ids are unknown."""
    denied = check_token(state, req)
    if denied:
        return denied
    body = _body(req)
    if isinstance(body, Response):
        return body
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_LIMIT:
        return validation("Batch inputs must contain between 1 and 100 items.")
    if not all(isinstance(i, dict) and i.get("id") not in (None, "") for i in inputs):
        return validation("Every input needs an id.")
    started = hubspot_timestamp()
    props = body.get("properties") or None
    results, missing = [], []
    for item in inputs:
        obj = state.crm.get(str(item["id"]), body.get("idProperty"), props)
        if obj is None:
            missing.append(str(item["id"]))
        else:
            results.append(obj)
    out: dict = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": hubspot_timestamp(),
    }
    if not missing:
        return Response(200, out)
    err = {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": (
            "Could not get some COMPANY objects, they may be deleted or not exist. Check that ids are valid."
        ),
        "context": {"ids": missing},
    }
    return Response(207, {**out, "numErrors": 1, "errors": [err]})


def list_page(state: SandboxState, req: Request) -> Response:
    """GET /crm/v3/objects/companies?limit=&after=&properties=."""
    denied = check_token(state, req)
    if denied:
        return denied
    try:
        limit = int(req.arg("limit") or DEFAULT_LIMIT)
    except ValueError:
        return validation("limit must be an integer")
    if not 1 <= limit <= MAX_LIMIT:
        return validation(f"limit must be between 1 and {MAX_LIMIT}")
    after = req.arg("after")
    if after and not after.isdigit():
        return validation(f"Invalid paging cursor after={after}")
    props = req.arg_list("properties") or None
    take = max(1, limit // 2) if state.draw_truncation() and limit > 1 else limit
    archived = (req.arg("archived") or "false").lower() == "true"
    results, following = ([], None) if archived else state.crm.page(after, take, props)
    out: dict = {"results": results}
    if following:
        query = {"after": following, "limit": limit}
        if props:
            query["properties"] = ",".join(props)
        out["paging"] = {"next": {"after": following, "link": f"{state.url}{BASE}?{urlencode(query)}"}}
    return Response(200, out)


def search(state: SandboxState, req: Request) -> Response:
    """POST /crm/v3/objects/companies/search: filterGroups, one sort, `after` offsets, at most 200 per page
    and 10,000 results per search (HubSpot's cap: page past it and the answer is a 400)."""
    denied = check_token(state, req)
    if denied:
        return denied
    body = _body(req)
    if isinstance(body, Response):
        return body
    try:
        found = state.crm.search(body)
    except CrmError as exc:
        return validation(str(exc))
    out: dict = {"total": found["total"], "results": found["results"]}
    if found["after"] is not None:
        out["paging"] = {
            "next": {"after": found["after"], "link": f"{state.url}{BASE}/search?after={found['after']}"}
        }
    return Response(200, out)


def object_not_found(object_id: str) -> Response:
    """404 OBJECT_NOT_FOUND for one id."""
    return error(404, "OBJECT_NOT_FOUND", "resource not found", context={"id": [object_id]})


def get_one(state: SandboxState, req: Request) -> Response:
    """GET /crm/v3/objects/companies/{id}[?idProperty=...]; a merged company's old id answers the primary."""
    denied = check_token(state, req)
    if denied:
        return denied
    object_id = req.params["object_id"]
    props = req.arg_list("properties") or None
    obj = state.crm.get(object_id, req.arg("idProperty"), props, follow_merges=True)
    if obj is None:
        return object_not_found(object_id)
    return Response(200, obj)


def update_one(state: SandboxState, req: Request) -> Response:
    """PATCH /crm/v3/objects/companies/{id}[?idProperty=...] with {"properties": {...}}."""
    denied = check_token(state, req)
    if denied:
        return denied
    body = _body(req)
    if isinstance(body, Response):
        return body
    object_id = req.params["object_id"]
    try:
        return Response(200, state.crm.update(object_id, body.get("properties"), req.arg("idProperty")))
    except CrmNotFound:
        return object_not_found(object_id)
    except CrmError as exc:
        return validation(str(exc))


def archive_one(state: SandboxState, req: Request) -> Response:
    """DELETE /crm/v3/objects/companies/{id}: archive it; 204 whether or not it existed."""
    denied = check_token(state, req)
    if denied:
        return denied
    state.crm.archive(req.params["object_id"])
    return Response(204, b"")


def merge(state: SandboxState, req: Request) -> Response:
    """POST /crm/v3/objects/companies/merge {"primaryObjectId", "objectIdToMerge"}; answers the primary."""
    denied = check_token(state, req)
    if denied:
        return denied
    body = _body(req)
    if isinstance(body, Response):
        return body
    try:
        return Response(200, state.crm.merge(body.get("primaryObjectId"), body.get("objectIdToMerge")))
    except CrmNotFound as exc:
        return object_not_found(exc.object_id)
    except CrmError as exc:
        return validation(str(exc))


def not_found(req: Request) -> Response:
    """What HubSpot answers for a path it cannot route."""
    return error(404, "OBJECT_NOT_FOUND", f"Unable to route {req.method} {req.path}")


ROUTES = (
    route(
        HUBSPOT, "POST", rf"{BASE}/batch/upsert", "hubspot.batchUpsert", limited(batch_upsert), mutating=True
    ),
    route(HUBSPOT, "POST", rf"{BASE}/batch/read", "hubspot.batchRead", limited(batch_read)),
    route(HUBSPOT, "POST", rf"{BASE}/merge", "hubspot.merge", limited(merge), mutating=True),
    route(HUBSPOT, "POST", rf"{BASE}/search", "hubspot.search", limited(search), paged=True),
    route(HUBSPOT, "GET", BASE, "hubspot.list", limited(list_page), paged=True),
    route(HUBSPOT, "GET", rf"{BASE}/(?P<object_id>[^/]+)", "hubspot.get", limited(get_one)),
    route(
        HUBSPOT,
        "PATCH",
        rf"{BASE}/(?P<object_id>[^/]+)",
        "hubspot.update",
        limited(update_one),
        mutating=True,
    ),
    route(
        HUBSPOT,
        "DELETE",
        rf"{BASE}/(?P<object_id>[^/]+)",
        "hubspot.archive",
        limited(archive_one),
        mutating=True,
    ),
)
PROVIDER = Provider(
    HUBSPOT,
    "/crm/",
    ROUTES,
    key="sandbox-hubspot-token",
    rate_limited=rate_limited,
    unavailable=unavailable,
    error_codes=(500, 502, 503),
    not_found=not_found,
)
