"""In-memory Salesforce org for the sandbox: Lead, Account and Contact records, sessions, bulk jobs, SOQL.

One org per sandbox server (`org_for(state)`), thread-safe and readable in-process, so a test can see what
a client wrote. What it models, kept small but as Salesforce behaves:

* Lead fields with describe metadata: standard fields plus the custom `LeadLake_*__c` ones; the external
  id `LeadLake_Id__c` is unique. Account (external id `LeadLake_Id__c`) and Contact (external id
  `LeadLake_Contact_Id__c`, lookup `AccountId` set by `"Account": {"LeadLake_Id__c": ...}`) live beside
  Lead in stores of their own (`org.sobject("Account")`, `org.records("Contact")`).
  Values are checked per field (unknown field, type, length, required on create, not writable) and by
  an optional validation rule (E.164 phones) the test switches on.
* Upsert on the external id: created or updated, per record, with Salesforce's error codes and messages.
* Access tokens with a TTL (short in tests), refresh tokens, `expire_sessions()` to force a refresh.
* Bulk API 2.0 ingest jobs: CSV upload, processed on UploadComplete, results as CSV.
* SOQL: `SELECT f, ... | COUNT() FROM Lead|Account|Contact [WHERE ... AND ...] [ORDER BY f [ASC|DESC]]
  [LIMIT n]`, with `=`, `!=`, `IN (...)`, `NOT IN (...)` on quoted strings, numbers, true/false and null;
  paged by locator.
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import hmac
import io
import itertools
import math
import re
import secrets
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LEAD = "Lead"
EXTERNAL_ID = "LeadLake_Id__c"
ORG_ID = "00D5g000004SbxAEAS"
USER_ID = "0055g00000A1bCdAAE"
# Sandbox credentials (fake; printing them is fine). The client secret is the provider's sandbox key.
CLIENT_ID = "sandbox-salesforce-client"
USERNAME = "leadlake@sandbox.example"
PASSWORD = "sandbox-password"
SECURITY_TOKEN = "sandboxtoken"
DEFAULT_TOKEN_TTL_S = 7200.0
QUERY_PAGE = 2000  # SOQL's default (and maximum) batch size
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class FieldSpec:
    """One Lead field as describe reports it."""

    name: str
    label: str
    type: str  # id, string, textarea, phone, url, email, picklist, double, datetime
    length: int = 0
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    required: bool = False  # not nillable and no default: a create without it fails
    writable: bool = True  # createable and updateable
    picklist: tuple[str, ...] = ()
    default: str | None = None

    def describe(self) -> dict[str, Any]:
        """The field entry of `GET .../sobjects/Lead/describe`."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": self.length,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.external_id or self.name == "Id",
            "nillable": not self.required and self.writable and self.type != "id",
            "createable": self.writable,
            "updateable": self.writable,
            "defaultedOnCreate": self.default is not None or not self.writable,
            "defaultValue": self.default,
            "precision": 18 if self.type == "double" else 0,
            "scale": 2 if self.type == "double" else 0,
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "restrictedPicklist": False,
            "soapType": "xsd:double" if self.type == "double" else "xsd:string",
        }


LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
_STAMPS = (  # every object's system timestamps, read-only
    FieldSpec("CreatedDate", "Created Date", "datetime", writable=False),
    FieldSpec("LastModifiedDate", "Last Modified Date", "datetime", writable=False),
    FieldSpec("SystemModstamp", "System Modstamp", "datetime", writable=False),
)
LEAD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Id", "Lead ID", "id", 18, writable=False),
    FieldSpec("LastName", "Last Name", "string", 80, required=True),
    FieldSpec("FirstName", "First Name", "string", 40),
    FieldSpec("Company", "Company", "string", 255, required=True),
    FieldSpec("Phone", "Phone", "phone", 40),
    FieldSpec("Email", "Email", "email", 80),
    FieldSpec("Website", "Website", "url", 255),
    FieldSpec("Street", "Street", "textarea", 255),
    FieldSpec("City", "City", "string", 40),
    FieldSpec("State", "State/Province", "string", 80),
    FieldSpec("PostalCode", "Zip/Postal Code", "string", 20),
    FieldSpec("Country", "Country", "string", 80),
    FieldSpec("Industry", "Industry", "picklist", 255),
    FieldSpec("Rating", "Rating", "picklist", 255, picklist=("Hot", "Warm", "Cold")),
    FieldSpec("LeadSource", "Lead Source", "picklist", 255, picklist=("Web", "Partner Referral", "Other")),
    FieldSpec("Status", "Status", "picklist", 255, picklist=LEAD_STATUSES, default=LEAD_STATUSES[0]),
    FieldSpec("Description", "Description", "textarea", 32000),
    *_STAMPS,
    FieldSpec(EXTERNAL_ID, "LeadLake Id", "string", 64, custom=True, external_id=True, unique=True),
    FieldSpec("LeadLake_Score__c", "LeadLake Score", "double", custom=True),
    FieldSpec("LeadLake_Tier__c", "LeadLake Tier", "string", 10, custom=True),
    FieldSpec("LeadLake_Score_Reasons__c", "LeadLake Score Reasons", "textarea", 32768, custom=True),
    FieldSpec("LeadLake_Sources__c", "LeadLake Sources", "string", 255, custom=True),
)
FIELDS: dict[str, FieldSpec] = {f.name: f for f in LEAD_FIELDS}
_CANONICAL: dict[str, str] = {f.name.lower(): f.name for f in LEAD_FIELDS}
ACCOUNT = "Account"
CONTACT = "Contact"
CONTACT_EXTERNAL_ID = "LeadLake_Contact_Id__c"
ACCOUNT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Id", "Account ID", "id", 18, writable=False),
    FieldSpec("Name", "Account Name", "string", 255, required=True),
    FieldSpec("Phone", "Account Phone", "phone", 40),
    FieldSpec("Website", "Website", "url", 255),
    FieldSpec("BillingStreet", "Billing Street", "textarea", 255),
    FieldSpec("BillingCity", "Billing City", "string", 40),
    FieldSpec("BillingState", "Billing State/Province", "string", 80),
    FieldSpec("BillingPostalCode", "Billing Zip/Postal Code", "string", 20),
    FieldSpec("BillingCountry", "Billing Country", "string", 80),
    FieldSpec("Industry", "Industry", "picklist", 255),
    FieldSpec(
        "AccountSource", "Account Source", "picklist", 255, picklist=("Web", "Partner Referral", "Other")
    ),
    FieldSpec("Description", "Account Description", "textarea", 32000),
    *_STAMPS,
    FieldSpec(EXTERNAL_ID, "LeadLake Id", "string", 64, custom=True, external_id=True, unique=True),
    FieldSpec("LeadLake_Score__c", "LeadLake Score", "double", custom=True),
    FieldSpec("LeadLake_Tier__c", "LeadLake Tier", "string", 10, custom=True),
    FieldSpec("LeadLake_Score_Reasons__c", "LeadLake Score Reasons", "textarea", 32768, custom=True),
    FieldSpec("LeadLake_Sources__c", "LeadLake Sources", "string", 255, custom=True),
)
CONTACT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Id", "Contact ID", "id", 18, writable=False),
    FieldSpec("LastName", "Last Name", "string", 80, required=True),
    FieldSpec("FirstName", "First Name", "string", 40),
    FieldSpec("Email", "Email", "email", 80),
    FieldSpec("Phone", "Business Phone", "phone", 40),
    FieldSpec("AccountId", "Account ID", "reference", 18),
    FieldSpec("LeadSource", "Lead Source", "picklist", 255, picklist=("Web", "Partner Referral", "Other")),
    *_STAMPS,
    FieldSpec(
        CONTACT_EXTERNAL_ID, "LeadLake Contact Id", "string", 255, custom=True, external_id=True, unique=True
    ),
)


@dataclass(frozen=True)
class SObjectSchema:
    """One sObject the org holds: its fields, key prefix, the one external id it indexes and its
    relationship names (`Account` on Contact -> the AccountId lookup to Account)."""

    name: str
    plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    external_id: str
    relationships: tuple[tuple[str, str, str], ...] = ()  # (relationship, lookup field, target object)

    def spec(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def canonical(self, name: str) -> str | None:
        """The field's own spelling (case-insensitive lookup), or None when the object has no such field."""
        low = name.lower()
        return next((f.name for f in self.fields if f.name.lower() == low), None)


LEAD_SCHEMA = SObjectSchema(LEAD, "Leads", "00Q", LEAD_FIELDS, EXTERNAL_ID)
ACCOUNT_SCHEMA = SObjectSchema(ACCOUNT, "Accounts", "001", ACCOUNT_FIELDS, EXTERNAL_ID)
CONTACT_SCHEMA = SObjectSchema(
    CONTACT, "Contacts", "003", CONTACT_FIELDS, CONTACT_EXTERNAL_ID, (("Account", "AccountId", ACCOUNT),)
)
SCHEMAS: dict[str, SObjectSchema] = {s.name.lower(): s for s in (LEAD_SCHEMA, ACCOUNT_SCHEMA, CONTACT_SCHEMA)}


def canonical_field(name: str) -> str | None:
    """The field's own spelling (Salesforce field names are case-insensitive), or None when unknown."""
    return _CANONICAL.get(name.lower())


def describe_lead(url_base: str) -> dict[str, Any]:
    """The body of `GET /services/data/vXX.X/sobjects/Lead/describe`."""
    return {
        "name": LEAD,
        "label": "Lead",
        "labelPlural": "Leads",
        "keyPrefix": "00Q",
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "fields": [f.describe() for f in LEAD_FIELDS],
        "urls": {"describe": f"{url_base}/sobjects/Lead/describe", "sobject": f"{url_base}/sobjects/Lead"},
    }


def describe_sobject(schema: SObjectSchema, url_base: str) -> dict[str, Any]:
    """The body of `GET /services/data/vXX.X/sobjects/{name}/describe` for any object the org holds."""
    if schema is LEAD_SCHEMA:
        return describe_lead(url_base)
    fields = []
    for f in schema.fields:
        entry = f.describe()
        rel = next((r for r in schema.relationships if r[1] == f.name), None)
        if rel:
            entry.update({"relationshipName": rel[0], "referenceTo": [rel[2]], "soapType": "tns:ID"})
        fields.append(entry)
    return {
        "name": schema.name,
        "label": schema.name,
        "labelPlural": schema.plural,
        "keyPrefix": schema.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "fields": fields,
        "urls": {
            "describe": f"{url_base}/sobjects/{schema.name}/describe",
            "sobject": f"{url_base}/sobjects/{schema.name}",
        },
    }


def salesforce_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: 3-char key prefix, 12 base-62 digits, the case-safe checksum."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    body = ""
    for _ in range(12):
        n, r = divmod(n, 62)
        body = digits[r] + body
    short = prefix + body
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(short[chunk * 5 : chunk * 5 + 5]) if c.isupper())
        suffix += alphabet[bits]
    return short + suffix


def timestamp(now: datetime | None = None) -> str:
    """Salesforce's datetime format: 2024-05-01T12:00:00.000+0000."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class RecordError:
    """One per-record error: Salesforce's status code, message and the fields it concerns."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def collection(self) -> dict[str, Any]:
        """As an sObject Collections result carries it."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def rest(self) -> dict[str, Any]:
        """As a single-record REST call answers it (a list of these)."""
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def bulk(self) -> str:
        """The `sf__Error` column of a Bulk API 2.0 failed result."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class SoqlError(ValueError):
    """A query Salesforce refuses: `code` is MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class UpsertOutcome:
    """What one record's write came to."""

    id: str | None
    created: bool
    errors: tuple[RecordError, ...] = ()

    @property
    def success(self) -> bool:
        return not self.errors

    def collection(self) -> dict[str, Any]:
        """As an sObject Collections upsert result."""
        return {
            "id": self.id,
            "success": self.success,
            "errors": [e.collection() for e in self.errors],
            **({"created": self.created} if self.success else {}),
        }


@dataclass
class Job:
    """A Bulk API 2.0 ingest job."""

    id: str
    operation: str
    object: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    api_version: str
    created: str
    state: str = "Open"
    data: bytes | None = None
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)  # [sf__Id, sf__Created, *row]
    failed: list[list[str]] = field(default_factory=list)  # [sf__Id, sf__Error, *row]
    error_message: str | None = None
    polls_in_progress: int = 0  # GETs that still answer InProgress once the upload is complete

    def info(self) -> dict[str, Any]:
        """The job as `GET .../jobs/ingest/{id}` answers it."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": USER_ID,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.successful) + len(self.failed) if self.done else 0,
            "numberRecordsFailed": len(self.failed) if self.done else 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        if self.error_message:
            out["errorMessage"] = self.error_message
        return out

    @property
    def done(self) -> bool:
        return self.state == "JobComplete"


DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class BulkError(ValueError):
    """A Bulk API 2.0 request Salesforce refuses (400 INVALIDJOB / INVALIDJOBSTATE, 404 NOT_FOUND)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class SalesforceOrg:
    """The org's Leads, sessions, bulk jobs and query cursors."""

    def __init__(
        self, client_secret: str, schema: SObjectSchema = LEAD_SCHEMA, parent: SalesforceOrg | None = None
    ) -> None:
        self.client_secret = client_secret
        self.schema = schema
        self._parent = parent
        self._children: dict[str, SalesforceOrg] = {}
        self.token_ttl_s = DEFAULT_TOKEN_TTL_S
        self.reject_malformed_phones = False  # the "E.164 phones only" validation rule
        self.bulk_polls_in_progress = 1  # how many job GETs answer InProgress before JobComplete
        self._lock = parent._lock if parent is not None else threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        self._by_external: dict[str, str] = {}
        self._writes: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self._refresh: set[str] = set()
        self._jobs: dict[str, Job] = {}
        self._job_ids = itertools.count(1)
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._cursor_ids = itertools.count(1)
        self.received: list[dict[str, Any]] = []  # every record body a write call carried, as sent

    # --- sessions -----------------------------------------------------------------------------------------

    def issue_token(self, url: str, with_refresh: bool = False) -> dict[str, Any]:
        """A fresh access token in the body shape of `POST /services/oauth2/token`."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        issued = str(int(time.time() * 1000))
        ident = f"{url}/id/{ORG_ID}/{USER_ID}"
        sig = hmac.new(self.client_secret.encode(), (ident + issued).encode(), hashlib.sha256).digest()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": url,
            "id": ident,
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": base64.b64encode(sig).decode(),
            "scope": "api refresh_token" if with_refresh else "api",
        }
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
            if with_refresh:
                refresh = f"5Aep{secrets.token_urlsafe(40)}"
                self._refresh.add(refresh)
                body["refresh_token"] = refresh
        return body

    def valid_refresh_token(self, token: str | None) -> bool:
        with self._lock:
            return token in self._refresh

    def session_valid(self, token: str | None) -> bool:
        """Whether the access token was issued here and has not expired."""
        if not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if time.monotonic() >= expiry:
                del self._tokens[token]
                return False
            return True

    def expire_sessions(self) -> None:
        """End every access token now (refresh tokens stay valid), as a session timeout does."""
        with self._lock:
            self._tokens.clear()

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)
            self._refresh.discard(token)

    # --- objects ------------------------------------------------------------------------------------------

    def sobject(self, name: str) -> SalesforceOrg | None:
        """The store of one object (Lead is this org itself; Account and Contact live beside it), or None."""
        root = self._parent if self._parent is not None else self  # an org with no records is falsy
        schema = SCHEMAS.get(name.lower())
        if schema is None:
            return None
        if schema is LEAD_SCHEMA:
            return root
        with root._lock:
            child = root._children.get(schema.name)
            if child is None:
                child = root._children[schema.name] = SalesforceOrg(root.client_secret, schema, root)
            return child

    def records(self, name: str) -> list[dict[str, Any]]:
        """Every record of one object (copies, creation order, with `_writes`), e.g. `records("Contact")`."""
        store = self.sobject(name)
        return [] if store is None else store.leads()

    # --- records ------------------------------------------------------------------------------------------

    def leads(self) -> list[dict[str, Any]]:
        """Every Lead (copies), in creation order, with a `_writes` count of the writes it took."""
        with self._lock:
            return [{**copy.deepcopy(r), "_writes": self._writes[i]} for i, r in self._records.items()]

    def by_external_id(self, value: str) -> dict[str, Any] | None:
        with self._lock:
            rid = self._by_external.get(value)
            return copy.deepcopy(self._records[rid]) if rid else None

    def get(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            rid = self._resolve_id(record_id)
            return copy.deepcopy(self._records[rid]) if rid else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def clear(self) -> None:
        """Forget records, jobs and cursors (sessions stay)."""
        with self._lock:
            self._records.clear()
            self._by_external.clear()
            self._writes.clear()
            self._jobs.clear()
            self._cursors.clear()
            self.received.clear()
            for child in self._children.values():
                child.clear()

    def upsert(self, external_field: str, value: str | None, values: Mapping[str, Any]) -> UpsertOutcome:
        """Create or update the Lead whose `external_field` (an external id field, or Id) is `value`."""
        with self._lock:
            self.received.append(dict(values))
            fields, errors = self._check_values(values)
            ext = self.schema.canonical(external_field)
            if ext == "Id":
                rid = self._resolve_id(value or "")
                if rid is None:
                    return UpsertOutcome(None, False, (RecordError("NOT_FOUND", "Provided Id not found"),))
                return self._write(rid, fields, errors)
            if ext is None or not self.schema.spec(ext).external_id:
                err = RecordError(
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {external_field}",
                )
                return UpsertOutcome(None, False, (err,))
            in_body = fields.get(ext)
            if value in (None, ""):
                if in_body in (None, ""):
                    return UpsertOutcome(
                        None, False, (RecordError("MISSING_ARGUMENT", f"{ext} not specified"),)
                    )
                value = str(in_body)
            elif in_body not in (None, "") and str(in_body) != value:
                msg = f"The value of {ext} in the body ({in_body}) differs from the one in the URL ({value})"
                errors.append(RecordError("INVALID_FIELD", msg, (ext,)))
            fields[ext] = value
            return self._write(self._by_external.get(value), fields, errors)

    def upsert_many(
        self, external_field: str, records: list[Any], all_or_none: bool = False
    ) -> list[UpsertOutcome]:
        """sObject Collections upsert: one outcome per record, in order; with `all_or_none`, one failure
        rolls every record back."""
        with self._lock:
            keys = [_record_key(r, external_field) for r in records]
            seen = [k for k in keys if k not in (None, "")]
            dupes = {k for k in seen if seen.count(k) > 1}
            snapshot = (copy.deepcopy(self._records), dict(self._by_external), dict(self._writes))
            outcomes = []
            for record, key in zip(records, keys, strict=True):
                if not isinstance(record, dict):
                    err = RecordError("JSON_PARSER_ERROR", "Each record must be a JSON object")
                    outcomes.append(UpsertOutcome(None, False, (err,)))
                elif (record.get("attributes") or {}).get("type") != self.schema.name:
                    err = RecordError(
                        "INVALID_TYPE", f"Each record needs attributes.type = {self.schema.name}"
                    )
                    outcomes.append(UpsertOutcome(None, False, (err,)))
                elif key in dupes:
                    err = RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}")
                    outcomes.append(UpsertOutcome(None, False, (err,)))
                else:
                    outcomes.append(self.upsert(external_field, None, record))
            if all_or_none and not all(o.success for o in outcomes):
                self._records, self._by_external, self._writes = snapshot
                rolled = RecordError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using "
                    "AllOrNone header",
                )
                outcomes = [o if not o.success else UpsertOutcome(None, False, (rolled,)) for o in outcomes]
            return outcomes

    def insert(self, values: Mapping[str, Any]) -> UpsertOutcome:
        with self._lock:
            self.received.append(dict(values))
            fields, errors = self._check_values(values)
            return self._write(None, fields, errors)

    def update(self, record_id: str, values: Mapping[str, Any]) -> UpsertOutcome:
        with self._lock:
            self.received.append(dict(values))
            rid = self._resolve_id(record_id)
            if rid is None:
                return UpsertOutcome(
                    None, False, (RecordError("NOT_FOUND", "The requested resource does not exist"),)
                )
            fields, errors = self._check_values(values)
            return self._write(rid, fields, errors)

    def delete(self, record_id: str) -> bool:
        with self._lock:
            rid = self._resolve_id(record_id)
            if rid is None:
                return False
            rec = self._records.pop(rid)
            self._writes.pop(rid, None)
            if rec.get(self.schema.external_id):
                self._by_external.pop(rec[self.schema.external_id], None)
            return True

    def _resolve_id(self, record_id: str) -> str | None:
        if len(record_id) == 15:
            return next((r for r in self._records if r[:15] == record_id), None)
        return record_id if record_id in self._records else None

    def _check_values(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[RecordError]]:
        """Field names resolved and values coerced to their type; the problems Salesforce reports."""
        out: dict[str, Any] = {}
        errors: list[RecordError] = []
        for raw_name, value in values.items():
            if raw_name == "attributes":
                continue
            rel = next((r for r in self.schema.relationships if r[0].lower() == raw_name.lower()), None)
            if rel is not None and isinstance(value, Mapping):
                resolved, error = self._reference(rel, value)
                if error:
                    errors.append(error)
                else:
                    out[rel[1]] = resolved
                continue
            name = self.schema.canonical(raw_name)
            if name is None:
                errors.append(
                    RecordError(
                        "INVALID_FIELD",
                        f"No such column '{raw_name}' on sobject of type {self.schema.name}",
                        (raw_name,),
                    )
                )
                continue
            spec = self.schema.spec(name)
            if not spec.writable:
                errors.append(
                    RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        f"Unable to create/update fields: {name}. Please check the security settings of this "
                        "field and verify that it is read/write for your profile or permission set.",
                        (name,),
                    )
                )
                continue
            coerced, error = _coerce(spec, value)
            if error:
                errors.append(error)
            else:
                out[name] = coerced
        phone = out.get("Phone")
        if self.reject_malformed_phones and phone and not E164.match(phone):
            errors.append(
                RecordError(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    f"Phone must be in E.164 format, e.g. +13035550100 (got {phone})",
                    ("Phone",),
                )
            )
        return out, errors

    def _reference(
        self, rel: tuple[str, str, str], value: Mapping[str, Any]
    ) -> tuple[Any, RecordError | None]:
        """A relationship given by the target's external id (`"Account": {"LeadLake_Id__c": "L1"}`) as the
        target's record id, or Salesforce's error when no such record exists."""
        target = self.sobject(rel[2])
        assert target is not None
        items = list(value.items())
        field_name = target.schema.canonical(str(items[0][0])) if len(items) == 1 else None
        if field_name is None or not target.schema.spec(field_name).external_id:
            return None, RecordError(
                "INVALID_FIELD", f"{rel[0]}: a relationship needs exactly one external id field of {rel[2]}"
            )
        key = str(items[0][1])
        rid = target._by_external.get(key)
        if rid is None:
            return None, RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {key} not found for field {field_name} in entity {rel[2]}",
                (rel[1],),
            )
        return rid, None

    def _write(self, rid: str | None, fields: dict[str, Any], errors: list[RecordError]) -> UpsertOutcome:
        created = rid is None
        current = {} if created else self._records[rid]
        merged = {**current, **fields}
        EXTERNAL_ID = self.schema.external_id  # noqa: N806 - the object's own external id
        missing = [f.name for f in self.schema.fields if f.required and merged.get(f.name) in (None, "")]
        if missing:
            errors.append(
                RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    tuple(missing),
                )
            )
        ext = fields.get(EXTERNAL_ID)
        if ext not in (None, "") and self._by_external.get(ext) not in (None, rid):
            other = self._by_external[ext]
            errors.append(
                RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {EXTERNAL_ID} duplicates value on record with id: {other}",
                    (EXTERNAL_ID,),
                )
            )
        if errors:
            return UpsertOutcome(None, False, tuple(errors))
        now = timestamp()
        if created:
            rid = salesforce_id(self.schema.key_prefix, next(self._ids))
            for spec in self.schema.fields:
                if spec.default is not None:
                    merged.setdefault(spec.name, spec.default)
            merged.update({"Id": rid, "CreatedDate": now})
            self._writes[rid] = 0
        assert rid is not None
        merged.update({"LastModifiedDate": now, "SystemModstamp": now})
        old_ext = current.get(EXTERNAL_ID)
        if old_ext not in (None, "") and old_ext != merged.get(EXTERNAL_ID):
            self._by_external.pop(old_ext, None)
        if merged.get(EXTERNAL_ID) not in (None, ""):
            self._by_external[merged[EXTERNAL_ID]] = rid
        self._records[rid] = merged
        self._writes[rid] += 1
        return UpsertOutcome(rid, created)

    # --- SOQL ---------------------------------------------------------------------------------------------

    def query(self, soql: str, page_size: int = QUERY_PAGE) -> tuple[list[dict[str, Any]], int, str | None]:
        """Run a query: the first page of records, the total size and a locator when more remain.

        COUNT() queries answer no records and the count as total size.
        """
        found = re.search(r"\bFROM\s+([A-Za-z]\w*)", soql, re.IGNORECASE)
        target = self.sobject(found.group(1)) if found else None
        if target is not None and target is not self:
            return target._query(soql, page_size)
        return self._query(soql, page_size)

    def _query(self, soql: str, page_size: int) -> tuple[list[dict[str, Any]], int, str | None]:
        q = parse_soql(soql, self.schema)
        with self._lock:
            rows = [copy.deepcopy(r) for r in self._records.values() if q.matches(r)]
        if q.order_by:
            key, desc = q.order_by
            present = [r for r in rows if r.get(key) is not None]
            absent = [r for r in rows if r.get(key) is None]
            present.sort(key=lambda r: r[key], reverse=desc)
            rows = present + absent  # nulls last... whatever the direction, as NULLS LAST
        if q.offset:
            rows = rows[q.offset :]
        if q.limit is not None:
            rows = rows[: q.limit]
        if q.count:
            return [], len(rows), None
        records = [{f: r.get(f) for f in q.fields} for r in rows]
        return self._page(records, page_size)

    def query_more(self, locator: str) -> tuple[list[dict[str, Any]], int, str | None] | None:
        """The page a `nextRecordsUrl` locator (`<cursor>-<offset>`) names; None when unknown."""
        cursor, _, start = locator.rpartition("-")
        with self._lock:
            found = self._cursors.get(cursor)
        if found is None or not start.isdigit():
            return None
        rows, size = found
        begin = int(start)
        following = f"{cursor}-{begin + size}" if begin + size < len(rows) else None
        return rows[begin : begin + size], len(rows), following

    def _page(self, records: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], int, str | None]:
        if len(records) <= size:
            return records, len(records), None
        if self._parent is not None:  # query_more is asked of the org itself
            return self._parent._page(records, size)
        with self._lock:
            cursor = salesforce_id("01g", next(self._cursor_ids))[:15]
            self._cursors[cursor] = (records, size)
        return records[:size], len(records), f"{cursor}-{size}"

    # --- Bulk API 2.0 -------------------------------------------------------------------------------------

    def create_job(self, body: Mapping[str, Any], api_version: str) -> Job:
        operation = body.get("operation")
        if operation not in ("insert", "upsert", "update"):
            raise BulkError("INVALIDJOB", f"InvalidJob : Unsupported operation: {operation}")
        store = self.sobject(str(body.get("object") or ""))
        if store is None or body.get("object") != store.schema.name:
            raise BulkError("INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        if (body.get("contentType") or "CSV") != "CSV":
            raise BulkError("INVALIDJOB", "InvalidJob : Only CSV content is supported")
        delimiter = body.get("columnDelimiter") or "COMMA"
        ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS or ending not in LINE_ENDINGS:
            raise BulkError("INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            name = store.schema.canonical(str(ext or ""))
            if name is None or not (store.schema.spec(name).external_id or name == "Id"):
                raise BulkError(
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank or not valid for {store.schema.name}: {ext}",
                )
            ext = name
        with self._lock:
            job = Job(
                id=salesforce_id("750", next(self._job_ids)),
                operation=str(operation),
                object=store.schema.name,
                external_id_field=ext if operation == "upsert" else None,
                column_delimiter=delimiter,
                line_ending=ending,
                api_version=api_version,
                created=timestamp(),
            )
            self._jobs[job.id] = job
        return job

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BulkError("NOT_FOUND", "The requested resource does not exist", 404)
            if job.state in ("UploadComplete", "InProgress"):
                if job.polls_in_progress > 0:
                    job.state = "InProgress"
                    job.polls_in_progress -= 1
                else:
                    job.state = "JobComplete"
            return job

    def upload(self, job_id: str, data: bytes) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BulkError("NOT_FOUND", "The requested resource does not exist", 404)
            if job.state != "Open" or job.data is not None:
                raise BulkError(
                    "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload (state {job.state})", 409
                )
            job.data = data

    def set_state(self, job_id: str, state: object) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BulkError("NOT_FOUND", "The requested resource does not exist", 404)
            if state == "Aborted":
                if job.state in ("JobComplete", "Failed"):
                    raise BulkError("INVALIDJOBSTATE", f"Can't abort a job in state {job.state}")
                job.state = "Aborted"
                return job
            if state != "UploadComplete":
                raise BulkError("INVALIDJOBSTATE", f"Invalid state: {state}")
            if job.state != "Open":
                raise BulkError("INVALIDJOBSTATE", f"Can't close a job in state {job.state}")
            self._process(job)
            return job

    def results(self, job_id: str, kind: str) -> str:
        """successfulResults / failedResults / unprocessedrecords as CSV (every value quoted)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BulkError("NOT_FOUND", "The requested resource does not exist", 404)
            if kind != "unprocessedrecords" and not job.done:
                raise BulkError(
                    "INVALIDJOBSTATE", f"Results are available once the job is complete ({job.state})"
                )
            out = io.StringIO()
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            if kind == "successfulResults":
                writer.writerow(["sf__Id", "sf__Created", *job.header])
                writer.writerows(job.successful)
            elif kind == "failedResults":
                writer.writerow(["sf__Id", "sf__Error", *job.header])
                writer.writerows(job.failed)
            else:
                writer.writerow(job.header)
            return out.getvalue()

    def _process(self, job: Job) -> None:
        if job.data is None:
            job.state, job.error_message = "Failed", "InvalidBatch : No data was uploaded for this job"
            return
        text = job.data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.column_delimiter])
        rows = [r for r in reader if r]
        if not rows:
            job.state, job.error_message = "Failed", "InvalidBatch : The file is empty"
            return
        job.header = rows[0]
        found = self.sobject(job.object)
        store = found if found is not None else self  # not `or`: an org with no records is falsy
        relations = {r[0].lower(): r for r in store.schema.relationships}

        def known(h: str) -> bool:  # a field, or `Relationship.ExternalId__c`
            rel, dot, _ = h.partition(".")
            return store.schema.canonical(h) is not None or bool(dot and rel.lower() in relations)

        unknown = [h for h in job.header if not known(h)]
        if unknown:
            job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
            return
        for row in rows[1:]:
            values: dict[str, Any] = {}
            for h, v in zip(job.header, row, strict=False):
                if v == "":
                    continue
                rel, dot, sub = h.partition(".")
                if dot and store.schema.canonical(h) is None:
                    values[relations[rel.lower()][0]] = {sub: _csv_value(v)}
                else:
                    values[h] = _csv_value(v)
            if job.operation == "insert":
                outcome = store.insert(values)
            elif job.operation == "update":
                rid = str(values.pop("Id", "") or "")
                outcome = store.update(rid, values)
            else:
                ext = job.external_id_field or "Id"
                key = next((v for h, v in values.items() if store.schema.canonical(h) == ext), None)
                if ext == "Id":
                    values = {h: v for h, v in values.items() if store.schema.canonical(h) != "Id"}
                outcome = store.upsert(ext, None if key is None else str(key), values)
            if outcome.success:
                job.successful.append([outcome.id or "", "true" if outcome.created else "false", *row])
            else:
                job.failed.append(["", " ".join(e.bulk() for e in outcome.errors), *row])
        job.state = "UploadComplete"
        job.polls_in_progress = self.bulk_polls_in_progress


def _record_key(record: Any, external_field: str) -> Any:
    if not isinstance(record, dict):
        return None
    return next((v for k, v in record.items() if k.lower() == external_field.lower()), None)


def _csv_value(value: str) -> str | None:
    return None if value == "#N/A" else value


def _coerce(spec: FieldSpec, value: Any) -> tuple[Any, RecordError | None]:
    """A value as the field stores it, or the error Salesforce answers for it."""
    if value is None:
        return None, None
    if spec.type == "double":
        if isinstance(value, bool):
            value = None
        elif isinstance(value, int | float):
            value = float(value)
        else:
            try:
                value = float(str(value).strip())
            except ValueError:
                value = None
        if value is None or not math.isfinite(value):
            return None, RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.label}: value not of required type", (spec.name,)
            )
        return value, None
    if isinstance(value, dict | list):
        return None, RecordError(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of string from {type(value).__name__}",
            (spec.name,),
        )
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if spec.length and len(text) > spec.length:
        return None, RecordError(
            "STRING_TOO_LONG",
            f"{spec.label}: data value too large: {text[:40]} (max length={spec.length})",
            (spec.name,),
        )
    if spec.type == "email" and text and not EMAIL.match(text):
        return None, RecordError(
            "INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {text}", (spec.name,)
        )
    return text, None


# --- SOQL ----------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|<>|=|\(|\)|,)|(?P<word>[A-Za-z_][\w.]*(?:\(\))?))"
)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # =, !=, IN, NOT IN
    values: tuple[Any, ...]

    def matches(self, record: Mapping[str, Any]) -> bool:
        value = record.get(self.field)
        hit = any(_equal(value, v) for v in self.values)
        return hit if self.op in ("=", "IN") else not hit


@dataclass(frozen=True)
class Soql:
    fields: tuple[str, ...]
    count: bool
    where: tuple[Condition, ...]
    order_by: tuple[str, bool] | None
    limit: int | None
    offset: int

    def matches(self, record: Mapping[str, Any]) -> bool:
        return all(c.matches(record) for c in self.where)


def _equal(value: Any, literal: Any) -> bool:
    if literal is None:
        return value in (None, "")
    if isinstance(literal, float) and isinstance(value, int | float):
        return float(value) == literal
    if isinstance(literal, str) and isinstance(value, str):
        return value.lower() == literal.lower()  # SOQL string comparison is case-insensitive
    return value == literal


def _tokens(soql: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, soql.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].split()[0]}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), raw[1:-1])
    if kind == "num":
        return float(raw)
    low = raw.lower()
    if low in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[low]
    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw}'")


def _field(raw: str, schema: SObjectSchema) -> str:
    name = schema.canonical(raw)
    if name is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{raw}' on entity '{schema.name}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name.",
        )
    return name


def parse_soql(soql: str, schema: SObjectSchema = LEAD_SCHEMA) -> Soql:
    """Parse the SOQL subset this org answers; raises SoqlError like Salesforce's 400s."""
    toks = _tokens(soql)
    i = 0

    def peek(n: int = 0) -> tuple[str, str]:
        return toks[i + n] if i + n < len(toks) else ("eof", "")

    def keyword(word: str) -> bool:
        kind, raw = peek()
        return kind == "word" and raw.upper() == word

    def expect(word: str) -> None:
        nonlocal i
        if not keyword(word):
            raise SoqlError("MALFORMED_QUERY", f"expecting '{word}', found '{peek()[1] or 'EOF'}'")
        i += 1

    expect("SELECT")
    fields: list[str] = []
    count = False
    if keyword("COUNT()"):
        count, i = True, i + 1
    else:
        while True:
            kind, raw = peek()
            if kind != "word" or raw.upper() == "FROM":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw or 'EOF'}'")
            fields.append(_field(raw, schema))
            i += 1
            if peek() == ("op", ","):
                i += 1
                continue
            break
    expect("FROM")
    kind, obj = peek()
    if kind != "word":
        raise SoqlError("MALFORMED_QUERY", "expecting an object name after FROM")
    if obj.lower() != schema.name.lower():
        raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
    i += 1
    where: list[Condition] = []
    if keyword("WHERE"):
        i += 1
        while True:
            kind, raw = peek()
            if kind != "word":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw or 'EOF'}'")
            name = _field(raw, schema)
            i += 1
            negated = keyword("NOT")
            if negated:
                i += 1
            if keyword("IN"):
                i += 1
                if peek() != ("op", "("):
                    raise SoqlError("MALFORMED_QUERY", "expecting '(' after IN")
                i += 1
                values = []
                while True:
                    kind, raw = peek()
                    values.append(_literal(kind, raw))
                    i += 1
                    sep = peek()
                    i += 1
                    if sep == ("op", ")"):
                        break
                    if sep != ("op", ","):
                        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{sep[1] or 'EOF'}'")
                where.append(Condition(name, "NOT IN" if negated else "IN", tuple(values)))
            elif not negated and peek()[0] == "op" and peek()[1] in ("=", "!=", "<>"):
                op = "=" if peek()[1] == "=" else "!="
                i += 1
                kind, raw = peek()
                where.append(Condition(name, op, (_literal(kind, raw),)))
                i += 1
            else:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{peek()[1] or 'EOF'}'")
            if keyword("AND"):
                i += 1
                continue
            break
    order_by = None
    if keyword("ORDER"):
        i += 1
        expect("BY")
        kind, raw = peek()
        if kind != "word":
            raise SoqlError("MALFORMED_QUERY", "expecting a field after ORDER BY")
        name = _field(raw, schema)
        i += 1
        desc = False
        if keyword("ASC") or keyword("DESC"):
            desc = peek()[1].upper() == "DESC"
            i += 1
        order_by = (name, desc)
    limit = None
    offset = 0
    for word in ("LIMIT", "OFFSET"):
        if keyword(word):
            i += 1
            kind, raw = peek()
            if kind != "num" or not raw.isdigit():
                raise SoqlError("MALFORMED_QUERY", f"expecting a non-negative integer after {word}")
            i += 1
            if word == "LIMIT":
                limit = int(raw)
            else:
                offset = int(raw)
    if i != len(toks):
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{peek()[1]}'")
    return Soql(tuple(fields), count, tuple(where), order_by, limit, offset)


# --- one org per sandbox ----------

_ORGS: weakref.WeakKeyDictionary[object, SalesforceOrg] = weakref.WeakKeyDictionary()
_ORGS_LOCK = threading.Lock()


def org_for(state: object, client_secret: str | None = None) -> SalesforceOrg:
    """The org a sandbox (any SandboxState) serves; created on first use and living as long as the sandbox.

    Tests reach it the same way: `org_for(server)` (to read what was sent, set `token_ttl_s`, switch
    on `reject_malformed_phones`).
    """
    with _ORGS_LOCK:
        org = _ORGS.get(state)
        if org is None:
            if client_secret is None:
                keys: Mapping[str, str] = getattr(state, "keys", {})
                client_secret = keys.get("salesforce", "")
            org = _ORGS[state] = SalesforceOrg(client_secret)
        return org
