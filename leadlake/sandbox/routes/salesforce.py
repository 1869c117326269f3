"""Salesforce REST, as simple-salesforce and the Salesforce destination drive it, over the sandbox's org.

* OAuth 2.0 `POST /services/oauth2/token`: password (with the security token appended or not),
  client_credentials (form fields or HTTP Basic) and refresh_token grants; the client secret is the
  provider's sandbox key. Tokens expire after the org's `token_ttl_s` -> 401 INVALID_SESSION_ID.
* `GET /services/data/`, `.../vXX.X/sobjects/`, `.../sobjects/{Lead|Account|Contact}/describe`, `.../limits/`.
  Every record call below takes Lead, Account or Contact; a Contact may name its Account by the Account's
  external id (`"Account": {"LeadLake_Id__c": "L1"}`, or an `Account.LeadLake_Id__c` bulk CSV column).
* Lead by id (GET/PATCH/DELETE), create (POST), get/upsert by external id
  (`PATCH .../sobjects/Lead/LeadLake_Id__c/{value}`: 201 created; 200 updated from v46.0, 204 before).
* sObject Collections upsert `PATCH .../composite/sobjects/Lead/{externalIdField}` (at most 200 records,
  per-record results and errors; `allOrNone` rolls back).
* SOQL `GET .../query?q=` and `.../queryAll?q=`, paged by `nextRecordsUrl` (2000 a page, or the
  `Sforce-Query-Options: batchSize=` header).
* Bulk API 2.0 ingest: create, upload CSV, close, poll, successful/failed/unprocessed results.

Errors have Salesforce's shape: a list of `{"message", "errorCode"[, "fields"]}`; OAuth errors are
`{"error", "error_description"}`. The org lives in `salesforce_store.org_for(state)`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote

from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.salesforce_store import (
    CLIENT_ID,
    LEAD,
    PASSWORD,
    QUERY_PAGE,
    SCHEMAS,
    SECURITY_TOKEN,
    USERNAME,
    BulkError,
    SalesforceOrg,
    SoqlError,
    describe_sobject,
    org_for,
)
from leadlake.sandbox.state import SandboxState

SALESFORCE = "salesforce"
KEY = "sandbox-salesforce-secret"  # the connected app's client secret
VERSIONS = ("55.0", "56.0", "57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
MIN_VERSION = 31.0
DATA = r"/services/data/v(?P<version>\d+\.\d)"
SOBJECT = r"(?P<sobject>[A-Za-z]\w*)"
RECORD_ID = r"(?P<record_id>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)"
COLLECTION_LIMIT = 200
CSV = "text/csv; charset=UTF-8"


def errors(status: int, code: str, message: str, **headers: str) -> Response:
    """A Salesforce REST error: a one-element list of {message, errorCode}."""
    return Response(status, [{"message": message, "errorCode": code}], dict(headers))


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """An OAuth endpoint error."""
    return Response(status, {"error": error, "error_description": description})


def rate_limited() -> Response:
    """The request-limit answer."""
    return errors(429, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def unavailable(code: int) -> Response:
    """A transient server error."""
    if code == 503:
        return errors(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry the request.")
    return errors(code, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId.")


def not_found(req: Request) -> Response:
    """What Salesforce answers for a path it cannot route."""
    return errors(404, "NOT_FOUND", "The requested resource does not exist")


def _org(state: SandboxState) -> SalesforceOrg:
    return org_for(state, state.keys[SALESFORCE])


def _store(state: SandboxState, req: Request) -> SalesforceOrg:
    """The store of the path's sObject (Lead, Account or Contact; `_guard` has refused any other)."""
    store = _org(state).sobject(req.params.get("sobject") or LEAD)
    assert store is not None
    return store


def _guard(state: SandboxState, req: Request) -> Response | None:
    """A supported API version, a live session and an object the org holds; else Salesforce's refusal."""
    version = req.params.get("version")
    if version is not None and not MIN_VERSION <= float(version) <= float(VERSIONS[-1]):
        return not_found(req)
    if not _org(state).session_valid(req.bearer()):
        return errors(
            401, "INVALID_SESSION_ID", "Session expired or invalid", **{"WWW-Authenticate": "Token"}
        )
    sobject = req.params.get("sobject")
    if sobject is not None and sobject.lower() not in SCHEMAS:
        return errors(404, "NOT_FOUND", f"sObject type '{sobject}' is not supported.")
    return None


def _json(req: Request) -> Any:
    """The JSON body, or a JSON_PARSER_ERROR response."""
    try:
        return req.json()
    except ValueError as exc:
        return errors(400, "JSON_PARSER_ERROR", f"Unexpected character in the JSON body: {exc}")


def _json_object(req: Request) -> dict[str, Any] | Response:
    """The JSON object body, or the JSON_PARSER_ERROR response Salesforce gives for anything else."""
    body = _json(req)
    if isinstance(body, Response) or isinstance(body, dict):
        return body
    return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")


def _form(req: Request) -> dict[str, str]:
    raw = {**req.query, **parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)}
    return {k: v[0] for k, v in raw.items() if v}


# --- OAuth ----------


def token(state: SandboxState, req: Request) -> Response:
    """POST /services/oauth2/token."""
    org = _org(state)
    form = _form(req)
    basic = req.headers.get("Authorization") or ""
    if basic.lower().startswith("basic "):
        try:
            user, _, secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error("invalid_client", "invalid client credentials")
        form.setdefault("client_id", user)
        form.setdefault("client_secret", secret)
    grant = form.get("grant_type")
    if grant not in ("password", "client_credentials", "refresh_token"):
        return oauth_error("unsupported_grant_type", "grant type not supported")
    if form.get("client_id") != CLIENT_ID:
        return oauth_error("invalid_client_id", "client identifier invalid")
    secret = form.get("client_secret")
    if (grant != "refresh_token" or secret is not None) and secret != state.keys[SALESFORCE]:
        return oauth_error("invalid_client", "invalid client credentials")
    if grant == "password":
        if form.get("username") != USERNAME or form.get("password") not in (
            PASSWORD + SECURITY_TOKEN,
            PASSWORD,
        ):
            return oauth_error("invalid_grant", "authentication failure")
        return Response(200, org.issue_token(state.url, with_refresh=True))
    if grant == "refresh_token" and not org.valid_refresh_token(form.get("refresh_token")):
        return oauth_error("invalid_grant", "expired access/refresh token")
    return Response(200, org.issue_token(state.url))


def revoke(state: SandboxState, req: Request) -> Response:
    """POST /services/oauth2/revoke (token=...)."""
    value = _form(req).get("token")
    if value:
        _org(state).revoke(value)
    return Response(200, b"")


# --- metadata ----------


def versions(state: SandboxState, req: Request) -> Response:
    """GET /services/data/ (no session needed)."""
    return Response(200, [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS])


def describe_global(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/sobjects/."""
    denied = _guard(state, req)
    if denied:
        return denied
    base = f"/services/data/v{req.params['version']}"
    objects = [
        {k: v for k, v in describe_sobject(schema, base).items() if k != "fields"}
        for schema in SCHEMAS.values()
    ]
    return Response(200, {"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": objects})


def describe(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/sobjects/{Lead|Account|Contact}/describe."""
    denied = _guard(state, req)
    if denied:
        return denied
    return Response(
        200, describe_sobject(_store(state, req).schema, f"/services/data/v{req.params['version']}")
    )


def limits(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/limits/."""
    denied = _guard(state, req)
    if denied:
        return denied
    return Response(
        200,
        {
            "DailyApiRequests": {"Max": 100000, "Remaining": 99999},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        },
    )


# --- records ----------


def _attributes(version: str, record_id: str | None, sobject: str = LEAD) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


def _record(
    version: str, record: dict[str, Any], fields: list[str] | None = None, sobject: str = LEAD
) -> dict[str, Any]:
    values = {k: v for k, v in record.items() if not fields or k in fields}
    return {"attributes": _attributes(version, record.get("Id"), sobject), **values}


def _write_failed(outcome_errors: tuple) -> Response:
    status = 404 if any(e.code == "NOT_FOUND" for e in outcome_errors) else 400
    return Response(status, [e.rest() for e in outcome_errors])


def get_by_id(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/sobjects/Lead/{id}[?fields=a,b]."""
    denied = _guard(state, req)
    if denied:
        return denied
    store = _store(state, req)
    record = store.get(req.params["record_id"])
    if record is None:
        return not_found(req)
    fields = req.arg_list("fields") or None
    return Response(200, _record(req.params["version"], record, fields, store.schema.name))


def create(state: SandboxState, req: Request) -> Response:
    """POST /services/data/vXX.X/sobjects/Lead."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json_object(req)
    if isinstance(body, Response):
        return body
    outcome = _store(state, req).insert(body)
    if not outcome.success:
        return _write_failed(outcome.errors)
    return Response(201, {"id": outcome.id, "success": True, "errors": []})


def update_by_id(state: SandboxState, req: Request) -> Response:
    """PATCH /services/data/vXX.X/sobjects/Lead/{id}: 204."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json_object(req)
    if isinstance(body, Response):
        return body
    outcome = _store(state, req).update(req.params["record_id"], body)
    return Response(204, b"") if outcome.success else _write_failed(outcome.errors)


def delete_by_id(state: SandboxState, req: Request) -> Response:
    """DELETE /services/data/vXX.X/sobjects/Lead/{id}: 204."""
    denied = _guard(state, req)
    if denied:
        return denied
    return Response(204, b"") if _store(state, req).delete(req.params["record_id"]) else not_found(req)


def get_by_external_id(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/sobjects/Lead/{field}/{value}."""
    denied = _guard(state, req)
    if denied:
        return denied
    org = _store(state, req)
    field, value = org.schema.canonical(req.params["field"]), unquote(req.params["value"])
    record = None
    if field == "Id":
        record = org.get(value)
    elif field is not None and org.schema.spec(field).external_id:
        record = org.by_external_id(value)
    if record is None:
        return not_found(req)
    fields = req.arg_list("fields") or None
    return Response(200, _record(req.params["version"], record, fields, org.schema.name))


def upsert_by_external_id(state: SandboxState, req: Request) -> Response:
    """PATCH /services/data/vXX.X/sobjects/Lead/{field}/{value}: 201 created, 200 (v46.0+) or 204 updated."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json_object(req)
    if isinstance(body, Response):
        return body
    outcome = _store(state, req).upsert(req.params["field"], unquote(req.params["value"]), body)
    if not outcome.success:
        return _write_failed(outcome.errors)
    result = {"id": outcome.id, "success": True, "errors": [], "created": outcome.created}
    if outcome.created:
        return Response(201, result)
    if float(req.params["version"]) >= 46.0:
        return Response(200, result)
    return Response(204, b"")


def collections_upsert(state: SandboxState, req: Request) -> Response:
    """PATCH /services/data/vXX.X/composite/sobjects/Lead/{externalIdField}: per-record results."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json(req)
    if isinstance(body, Response):
        return body
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        return errors(400, "INVALID_FIELD", "The request body needs a non-empty records list")
    if len(records) > COLLECTION_LIMIT:
        return errors(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
        )
    store = _store(state, req)
    outcomes = store.upsert_many(req.params["field"], records, bool(body.get("allOrNone", False)))
    return Response(200, [o.collection() for o in outcomes])


# --- SOQL ----------


def _batch_size(req: Request) -> int:
    options = req.headers.get("Sforce-Query-Options") or ""
    for part in options.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(QUERY_PAGE, int(value.strip())))
    return QUERY_PAGE


def _query_page(version: str, kind: str, rows: list, total: int, following: str | None) -> Response:
    body: dict[str, Any] = {
        "totalSize": total,
        "done": following is None,
        "records": [{"attributes": _attributes(version, r.get("Id")), **r} for r in rows],
    }
    if following:
        body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{following}"
    return Response(200, body)


def query(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/query?q=SELECT ... (and queryAll)."""
    denied = _guard(state, req)
    if denied:
        return denied
    soql = req.arg("q")
    if not soql:
        return errors(400, "MALFORMED_QUERY", "A query string (q) is required")
    try:
        rows, total, following = _org(state).query(soql, _batch_size(req))
    except SoqlError as exc:
        return errors(400, exc.code, str(exc))
    return _query_page(req.params["version"], req.params["kind"], rows, total, following)


def query_more(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/query/{locator} (a nextRecordsUrl)."""
    denied = _guard(state, req)
    if denied:
        return denied
    page = _org(state).query_more(req.params["locator"])
    if page is None:
        return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _query_page(req.params["version"], req.params["kind"], *page)


# --- Bulk API 2.0 ----------


def _bulk(call: Any) -> Response:
    try:
        return call()
    except BulkError as exc:
        return errors(exc.status, exc.code, str(exc))


def job_create(state: SandboxState, req: Request) -> Response:
    """POST /services/data/vXX.X/jobs/ingest."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json_object(req)
    if isinstance(body, Response):
        return body
    return _bulk(lambda: Response(200, _org(state).create_job(body, req.params["version"]).info()))


def job_get(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/jobs/ingest/{id}."""
    denied = _guard(state, req)
    return denied or _bulk(lambda: Response(200, _org(state).job(req.params["job_id"]).info()))


def job_patch(state: SandboxState, req: Request) -> Response:
    """PATCH /services/data/vXX.X/jobs/ingest/{id} {"state": "UploadComplete" | "Aborted"}."""
    denied = _guard(state, req)
    if denied:
        return denied
    body = _json(req)
    if isinstance(body, Response):
        return body
    wanted = body.get("state") if isinstance(body, dict) else None
    return _bulk(lambda: Response(200, _org(state).set_state(req.params["job_id"], wanted).info()))


def job_delete(state: SandboxState, req: Request) -> Response:
    """DELETE /services/data/vXX.X/jobs/ingest/{id}."""
    denied = _guard(state, req)
    if denied:
        return denied
    return _bulk(lambda: (_org(state).job(req.params["job_id"]), Response(204, b""))[1])


def job_upload(state: SandboxState, req: Request) -> Response:
    """PUT /services/data/vXX.X/jobs/ingest/{id}/batches (CSV body): 201."""
    denied = _guard(state, req)
    if denied:
        return denied
    if not req.body:
        return errors(400, "INVALIDJOB", "No content was uploaded")
    return _bulk(lambda: (_org(state).upload(req.params["job_id"], req.body), Response(201, b""))[1])


def job_results(state: SandboxState, req: Request) -> Response:
    """GET /services/data/vXX.X/jobs/ingest/{id}/{successfulResults|failedResults|unprocessedrecords}/."""
    denied = _guard(state, req)
    if denied:
        return denied

    def answer() -> Response:
        kind = req.params["kind"]
        kind = "unprocessedrecords" if kind.lower() == "unprocessedrecords" else kind
        text = _org(state).results(req.params["job_id"], kind)
        rows = max(0, text.count("\n") - 1)
        headers = {"Content-Type": CSV, "Sforce-NumberOfRecords": str(rows), "Sforce-Locator": "null"}
        return Response(200, text.encode("utf-8"), headers)

    return _bulk(answer)


JOB = rf"{DATA}/jobs/ingest/(?P<job_id>[A-Za-z0-9]+)"
ROUTES = (
    route(SALESFORCE, "POST", r"/services/oauth2/token", "salesforce.token", token, mutating=True),
    route(SALESFORCE, "POST", r"/services/oauth2/revoke", "salesforce.revoke", revoke, mutating=True),
    route(SALESFORCE, "GET", r"/services/data/?", "salesforce.versions", versions),
    route(SALESFORCE, "GET", rf"{DATA}/sobjects/?", "salesforce.describeGlobal", describe_global),
    route(SALESFORCE, "GET", rf"{DATA}/sobjects/{SOBJECT}/describe/?", "salesforce.describe", describe),
    route(SALESFORCE, "GET", rf"{DATA}/limits/?", "salesforce.limits", limits),
    route(SALESFORCE, "POST", rf"{DATA}/sobjects/{SOBJECT}/?", "salesforce.create", create, mutating=True),
    route(SALESFORCE, "GET", rf"{DATA}/sobjects/{SOBJECT}/{RECORD_ID}/?", "salesforce.get", get_by_id),
    route(
        SALESFORCE,
        "PATCH",
        rf"{DATA}/sobjects/{SOBJECT}/{RECORD_ID}/?",
        "salesforce.update",
        update_by_id,
        mutating=True,
    ),
    route(
        SALESFORCE,
        "DELETE",
        rf"{DATA}/sobjects/{SOBJECT}/{RECORD_ID}/?",
        "salesforce.delete",
        delete_by_id,
        mutating=True,
    ),
    route(
        SALESFORCE,
        "GET",
        rf"{DATA}/sobjects/{SOBJECT}/(?P<field>\w+)/(?P<value>[^/]+)/?",
        "salesforce.getByExternalId",
        get_by_external_id,
    ),
    route(
        SALESFORCE,
        "PATCH",
        rf"{DATA}/sobjects/{SOBJECT}/(?P<field>\w+)/(?P<value>[^/]+)/?",
        "salesforce.upsert",
        upsert_by_external_id,
        mutating=True,
    ),
    route(
        SALESFORCE,
        "PATCH",
        rf"{DATA}/composite/sobjects/{SOBJECT}/(?P<field>\w+)/?",
        "salesforce.collectionsUpsert",
        collections_upsert,
        mutating=True,
    ),
    route(SALESFORCE, "GET", rf"{DATA}/(?P<kind>query|queryAll)/?", "salesforce.query", query, paged=True),
    route(
        SALESFORCE,
        "GET",
        rf"{DATA}/(?P<kind>query|queryAll)/(?P<locator>[A-Za-z0-9]+-\d+)/?",
        "salesforce.queryMore",
        query_more,
        paged=True,
    ),
    route(SALESFORCE, "POST", rf"{DATA}/jobs/ingest/?", "salesforce.jobCreate", job_create, mutating=True),
    route(SALESFORCE, "GET", rf"{JOB}/?", "salesforce.jobGet", job_get),
    route(SALESFORCE, "PATCH", rf"{JOB}/?", "salesforce.jobState", job_patch, mutating=True),
    route(SALESFORCE, "DELETE", rf"{JOB}/?", "salesforce.jobDelete", job_delete, mutating=True),
    route(SALESFORCE, "PUT", rf"{JOB}/batches/?", "salesforce.jobUpload", job_upload, mutating=True),
    route(
        SALESFORCE,
        "GET",
        rf"{JOB}/(?P<kind>successfulResults|failedResults|(?i:unprocessedrecords))/?",
        "salesforce.jobResults",
        job_results,
    ),
)
PROVIDER = Provider(
    SALESFORCE,
    "/services/",
    ROUTES,
    key=KEY,
    rate_limited=rate_limited,
    unavailable=unavailable,
    error_codes=(500, 502, 503),
    not_found=not_found,
)
