"""HubSpot CRM v3 companies: batch upsert/read, list with `after` cursors, get/update/archive by id or unique
property, merge (POST /merge: the merged company is archived, a GET by its old id answers the primary) and
search (POST /search: filterGroups, one sort, offset paging, the 10,000-result cap).

Contacts (CRM v3 /crm/v3/objects/contacts: batch upsert keyed on email, batch read, list, get), the
properties API (GET /crm/v3/properties/{objectType}[/{name}]: HubSpot's standard properties plus
leadlake's custom ones, `leadlake_id` unique on companies) and CRM v4 associations between contacts and
companies (batch/create, batch/associate/default, batch/read, and the per-object list) are served too.

A write naming a property the object does not have, or a value one of the operator's reject rules refuses
(`CrmStore.reject_rules`: LEADLAKE_SANDBOX_HUBSPOT_REJECT, or POST /_sandbox/crm/rejects), is refused as a
whole with HubSpot's 400 VALIDATION_ERROR "Property values were not valid: [...]", naming the property
and the value.

Every CRM route spends one request of the app's rate limit (CrmStore.rate_limit, a token bucket: 10
requests/s by default, LEADLAKE_SANDBOX_HUBSPOT_RATE_LIMIT): past it the answer is HubSpot's 429 with
Retry-After, and every answer carries the X-HubSpot-RateLimit-* headers."""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import unquote, urlencode

from leadlake.sandbox.crm import CrmError, CrmNotFound, hubspot_timestamp
from leadlake.sandbox.crm_schema import (
    ASSOCIATION_LABELS,
    CATALOG,
    COMPANIES,
    CONTACTS,
    object_type,
    properties,
)
from leadlake.sandbox.protocol import Handler, Provider, Request, Response, correlation_id, route
from leadlake.sandbox.state import SandboxState

HUBSPOT = "hubspot"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
BASE = "/crm/v3/objects/companies"
CONTACTS_BASE = "/crm/v3/objects/contacts"
PROPERTIES = "/crm/v3/properties"
ASSOCIATIONS = "/crm/v4/associations"
MAX_ASSOCIATION_INPUTS = 2000  # HubSpot's v4 batch association limit
TYPE_IDS = {COMPANIES: "0-2", CONTACTS: "0-1"}


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


def batch_upsert_of(kind: str) -> Handler:
    """POST /crm/v3/objects/{companies|contacts}/batch/upsert."""

    def batch_upsert(state: SandboxState, req: Request) -> Response:
        denied = check_token(state, req)
        if denied:
            return denied
        body = _body(req)
        if isinstance(body, Response):
            return body
        started = hubspot_timestamp()
        try:
            results = state.crm.upsert(body.get("inputs"), kind)  # validates the whole batch before any write
        except CrmError as exc:
            return validation(str(exc))
        done = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hubspot_timestamp(),
        }
        return Response(200, done)

    return batch_upsert


batch_upsert = batch_upsert_of(COMPANIES)


def _get(
    state: SandboxState, kind: str, key: str, id_property: str | None, props: list[str] | None
) -> dict | None:
    if kind == CONTACTS:
        return state.crm.get_contact(key, id_property, props)
    return state.crm.get(key, id_property, props)


def batch_read_of(kind: str) -> Handler:
    """POST /crm/v3/objects/{companies|contacts}/batch/read; 207 with errors when some ids are unknown."""

    def batch_read(state: SandboxState, req: Request) -> Response:
        return _batch_read(state, req, kind)

    return batch_read


def _batch_read(state: SandboxState, req: Request, kind: str) -> Response:
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
        try:
            obj = _get(state, kind, str(item["id"]), body.get("idProperty"), props)
        except CrmError as exc:
            return validation(str(exc))
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
            f"Could not get some {kind[:-1].upper()} objects, they may be deleted or not exist. "
            "Check that ids are valid."
        ),
        "context": {"ids": missing},
    }
    return Response(207, {**out, "numErrors": 1, "errors": [err]})


batch_read = batch_read_of(COMPANIES)


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
    contacts = req.path.rstrip("/") == CONTACTS_BASE
    page = state.crm.contact_page if contacts else state.crm.page
    results, following = ([], None) if archived else page(after, take, props)
    out: dict = {"results": results}
    if following:
        query = {"after": following, "limit": limit}
        if props:
            query["properties"] = ",".join(props)
        base = CONTACTS_BASE if contacts else BASE
        out["paging"] = {"next": {"after": following, "link": f"{state.url}{base}?{urlencode(query)}"}}
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


def get_contact(state: SandboxState, req: Request) -> Response:
    """GET /crm/v3/objects/contacts/{id}[?idProperty=email]."""
    object_id = unquote(req.params["object_id"])  # an email as the id arrives percent-encoded
    try:
        obj = state.crm.get_contact(object_id, req.arg("idProperty"), req.arg_list("properties") or None)
    except CrmError as exc:
        return validation(str(exc))
    return Response(200, obj) if obj is not None else object_not_found(object_id)


def _kind(name: str) -> str | Response:
    kind = object_type(name)
    return kind if kind else validation(f"Unable to infer object type from: {name}")


def list_properties(state: SandboxState, req: Request) -> Response:
    """GET /crm/v3/properties/{objectType}: every property of companies or contacts."""
    kind = _kind(req.params["object_type"])
    if isinstance(kind, Response):
        return kind
    archived = (req.arg("archived") or "false").lower() == "true"
    return Response(200, {"results": [] if archived else properties(kind)})


def get_property(state: SandboxState, req: Request) -> Response:
    """GET /crm/v3/properties/{objectType}/{propertyName}."""
    kind = _kind(req.params["object_type"])
    if isinstance(kind, Response):
        return kind
    prop = CATALOG[kind].get(req.params["name"])
    if prop is None:
        return error(404, "OBJECT_NOT_FOUND", f"Property {req.params['name']} does not exist")
    return Response(200, prop.to_json())


def _pair(req: Request) -> tuple[str, str] | Response:
    kinds = _kind(req.params["from_type"]), _kind(req.params["to_type"])
    for kind in kinds:
        if isinstance(kind, Response):
            return kind
    return kinds  # type: ignore[return-value]


def _association_request(req: Request) -> tuple[tuple[str, str], list] | Response:
    """An associations batch call's (from, to) object kinds and its inputs, or the error HubSpot answers."""
    pair = _pair(req)
    if isinstance(pair, Response):
        return pair
    body = _body(req)
    if isinstance(body, Response):
        return body
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_ASSOCIATION_INPUTS:
        return validation(f"Batch inputs must contain between 1 and {MAX_ASSOCIATION_INPUTS} items.")
    return pair, inputs


def _object_id(value: object) -> str | None:
    """The id of a {"id": ...} object (ids arrive as strings or numbers)."""
    raw = value.get("id") if isinstance(value, dict) else None
    return str(raw) if raw not in (None, "") and not isinstance(raw, bool) else None


def _associate(state: SandboxState, req: Request, default: bool) -> Response:
    request = _association_request(req)
    if isinstance(request, Response):
        return request
    pair, inputs = request
    started = hubspot_timestamp()
    pairs, types = [], None
    for n, item in enumerate(inputs):
        ids = (
            (_object_id(item.get("from")), _object_id(item.get("to")))
            if isinstance(item, dict)
            else (None, None)
        )
        if None in ids:
            return validation(f"inputs[{n}]: from.id and to.id are required.")
        pairs.append(ids)
        if not default:
            spec = item.get("types")
            if not isinstance(spec, list) or not spec:
                return validation(f"inputs[{n}].types: at least one association type is required.")
            try:
                wanted = sorted({int(t["associationTypeId"]) for t in spec})
            except (TypeError, KeyError, ValueError):
                return validation(f"inputs[{n}].types: each needs associationCategory and associationTypeId.")
            if types not in (None, wanted):
                return validation("All inputs of one batch must use the same association types.")
            types = wanted
    try:
        done, missing = state.crm.associate(pair[0], pair[1], pairs, types)
    except CrmError as exc:
        return validation(str(exc))
    from_id, to_id = TYPE_IDS[pair[0]], TYPE_IDS[pair[1]]
    if default:
        results: list[dict] = [
            {
                "from": {"id": r["from"]},
                "to": {"id": r["to"]},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": r["types"][0],
                },
            }
            for r in done
        ]
    else:
        results = [
            {
                "fromObjectTypeId": from_id,
                "fromObjectId": r["from"],
                "toObjectTypeId": to_id,
                "toObjectId": r["to"],
                "labels": [],
            }  # fmt: skip
            for r in done
        ]
    out: dict = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": hubspot_timestamp(),
    }
    if not missing:
        return Response(200 if default else 201, out)
    err = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": f"Could not find objects with ids {missing}; no association was made for them.",
        "context": {"ids": missing},
        "errors": [],
        "links": {},
    }
    return Response(207, {**out, "numErrors": 1, "errors": [err]})


def associate_default(state: SandboxState, req: Request) -> Response:
    """POST /crm/v4/associations/{from}/{to}/batch/associate/default: the default (unlabeled) type."""
    return _associate(state, req, default=True)


def associate_labeled(state: SandboxState, req: Request) -> Response:
    """POST /crm/v4/associations/{from}/{to}/batch/create with explicit association types."""
    return _associate(state, req, default=False)


def _linked(to: list[tuple[str, list[int]]]) -> list[dict]:
    return [
        {
            "toObjectId": int(to_id),
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": t, "label": ASSOCIATION_LABELS.get(t)}
                for t in types
            ],
        }
        for to_id, types in to
    ]


def read_associations(state: SandboxState, req: Request) -> Response:
    """POST /crm/v4/associations/{from}/{to}/batch/read {"inputs": [{"id"}]}: 207 for unknown ids."""
    request = _association_request(req)
    if isinstance(request, Response):
        return request
    pair, inputs = request
    started = hubspot_timestamp()
    results, missing = [], []
    for n, item in enumerate(inputs):
        key = _object_id(item)
        if key is None:
            return validation(f"inputs[{n}].id is required.")
        to = state.crm.associations_of(pair[0], key, pair[1])
        if to is None:
            missing.append(key)
        else:
            results.append({"from": {"id": key}, "to": _linked(to)})
    out: dict = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": hubspot_timestamp(),
    }
    if not missing:
        return Response(200, out)
    err = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"No {pair[0]} with ids {missing}.",
           "context": {"ids": missing}, "errors": [], "links": {}}  # fmt: skip
    return Response(207, {**out, "numErrors": 1, "errors": [err]})


def list_associations(state: SandboxState, req: Request) -> Response:
    """GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}."""
    pair = _pair(req)
    if isinstance(pair, Response):
        return pair
    to = state.crm.associations_of(pair[0], req.params["object_id"], pair[1])
    if to is None:
        return object_not_found(req.params["object_id"])
    return Response(200, {"results": _linked(to)})


def not_found(req: Request) -> Response:
    """What HubSpot answers for a path it cannot route."""
    return error(404, "OBJECT_NOT_FOUND", f"Unable to route {req.method} {req.path}")


ROUTES = (
    route(
        HUBSPOT, "POST", rf"{BASE}/batch/upsert", "hubspot.batchUpsert", limited(batch_upsert), mutating=True
    ),
    route(HUBSPOT, "POST", rf"{BASE}/batch/read", "hubspot.batchRead", limited(batch_read)),
    route(
        HUBSPOT,
        "POST",
        rf"{CONTACTS_BASE}/batch/upsert",
        "hubspot.contacts.batchUpsert",
        limited(batch_upsert_of(CONTACTS)),
        mutating=True,
    ),
    route(
        HUBSPOT,
        "POST",
        rf"{CONTACTS_BASE}/batch/read",
        "hubspot.contacts.batchRead",
        limited(batch_read_of(CONTACTS)),
    ),
    route(HUBSPOT, "GET", CONTACTS_BASE, "hubspot.contacts.list", limited(list_page), paged=True),
    route(
        HUBSPOT, "GET", rf"{CONTACTS_BASE}/(?P<object_id>[^/]+)", "hubspot.contacts.get", limited(get_contact)
    ),
    route(
        HUBSPOT,
        "GET",
        rf"{PROPERTIES}/(?P<object_type>[^/]+)",
        "hubspot.properties.list",
        limited(list_properties),
    ),
    route(
        HUBSPOT,
        "GET",
        rf"{PROPERTIES}/(?P<object_type>[^/]+)/(?P<name>[^/]+)",
        "hubspot.properties.get",
        limited(get_property),
    ),
    route(
        HUBSPOT,
        "POST",
        rf"{ASSOCIATIONS}/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/batch/associate/default",
        "hubspot.associations.createDefault",
        limited(associate_default),
        mutating=True,
    ),
    route(
        HUBSPOT,
        "POST",
        rf"{ASSOCIATIONS}/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/batch/create",
        "hubspot.associations.create",
        limited(associate_labeled),
        mutating=True,
    ),
    route(
        HUBSPOT,
        "POST",
        rf"{ASSOCIATIONS}/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/batch/read",
        "hubspot.associations.batchRead",
        limited(read_associations),
    ),
    route(
        HUBSPOT,
        "GET",
        r"/crm/v4/objects/(?P<from_type>[^/]+)/(?P<object_id>[^/]+)/associations/(?P<to_type>[^/]+)",
        "hubspot.associations.list",
        limited(list_associations),
    ),
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
