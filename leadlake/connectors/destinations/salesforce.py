"""Salesforce Leads (or Accounts with their Contacts) through simple-salesforce: upsert on the
`LeadLake_Id__c` external id, read back by SOQL.

* Auth: OAuth 2.0 at `{base_url}/services/oauth2/token`, the password grant (username, password with the
  security token appended, client id and secret) or client_credentials (client id and secret). The
  session is `simple_salesforce.Salesforce(instance_url=..., session_id=...)`; a call answered 401
  INVALID_SESSION_ID logs in again (refresh token first) and is repeated once.
* Writes: up to `collections_max` leads go through sObject Collections upsert in chunks of 200
  (`allOrNone: false`), more through one Bulk API 2.0 upsert job. Leads Salesforce refuses one by one
  come back in `UpsertResult.failures` with Salesforce's own message; the rest of the batch commits.
* Retries: 429 and 5xx with backoff honouring Retry-After (urllib3 Retry on the session), then malformed
  replies and exhausted transport retries again at the call level (the writes are idempotent upserts).
* The field mapping is data (`mappings/salesforce.yaml`); `validate_mapping()` checks it against the
  Lead describe before the first write.
* A mapping with `object: Account` and a `contacts:` section (`mappings/salesforce_account_contact.yaml`)
  writes each lead as one Account, then each of its emails as one Contact upserted on its own external id
  (lead id + ":" + the email in lower case) and linked by `Account: {LeadLake_Id__c: <lead id>}`; both
  describes are checked first. A lead whose Account or any Contact is refused fails as a whole.

A plain `http://` base URL (the local sandbox) is reached as is: simple-salesforce always builds
`https://` URLs, so the session maps them back to http for that host.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import yaml
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from leadlake.connectors.destinations.base import (
    DeliveryError,
    MappingError,
    MappingSource,
    UpsertResult,
    mapping_document,
)
from leadlake.connectors.destinations.mapping import check_targets

log = logging.getLogger("leadlake.connectors.destinations.salesforce")

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "salesforce.yaml"
DEFAULT_API_VERSION = "60.0"
COLLECTION_LIMIT = 200  # sObject Collections' documented maximum per request
COLLECTIONS_MAX = 2000  # above this many leads in one call, Bulk API 2.0
MAPPING_KEYS = ("object", "external_id", "fields", "constants", "contacts")
CONTACT_KEYS = ("object", "column", "external_id", "email_field", "relationship", "constants")
READ_BACK_CHUNK = 200  # external ids per SOQL IN (...) list
T = TypeVar("T")


class _Transient(Exception):
    """A reply that may change on a retry: malformed body, incomplete results, exhausted transport retries."""


@dataclass(frozen=True)
class FieldRule:
    """One mapped field: the Lead field, how the gold value is written and how lists are joined."""

    field: str
    type: str = "string"  # string | number
    join: str = "; "


@dataclass(frozen=True)
class ContactMapping:
    """A lead's emails (a list column) -> Contact records linked to the lead's Account."""

    column: str = "emails"
    object: str = "Contact"
    external_id: str = "LeadLake_Contact_Id__c"
    email_field: str = "Email"
    relationship: str = "Account"  # the Contact's lookup to the Account, set by the Account's external id
    constants: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, doc: Any) -> ContactMapping:
        """From the mapping's `contacts:` section; MappingError names the key that is wrong."""
        if not isinstance(doc, Mapping):
            raise MappingError(
                "a Salesforce mapping's `contacts` must be a mapping "
                f"({', '.join(CONTACT_KEYS)}), e.g. {{column: emails, external_id: LeadLake_Contact_Id__c}}"
            )
        unknown = sorted(str(k) for k in doc if k not in CONTACT_KEYS)
        if unknown:
            raise MappingError(
                f"a Salesforce mapping's `contacts` has unknown key(s) {', '.join(unknown)}; "
                f"it takes {', '.join(CONTACT_KEYS)}"
            )
        for key in ("object", "column", "external_id", "email_field", "relationship"):
            if key in doc and (not isinstance(doc[key], str) or not doc[key]):
                raise MappingError(f"a Salesforce mapping's `contacts.{key}` must be a field name")
        if not isinstance(doc.get("constants") or {}, Mapping):
            raise MappingError(
                "a Salesforce mapping's `contacts.constants` must map Contact fields to values"
            )
        given = {k: str(doc[k]) for k in CONTACT_KEYS if k in doc and k != "constants"}
        return cls(**given, constants=dict(doc.get("constants") or {}))

    def target_fields(self) -> list[str]:
        """Every Contact field written (the external id first; the relationship is checked apart)."""
        return list(dict.fromkeys([self.external_id, self.email_field, *self.constants]))

    def emails(self, lead: Mapping[str, Any]) -> list[str]:
        """The lead's distinct emails (case-insensitive), in order; empty values left out."""
        value = _plain(lead.get(self.column))
        items = [value] if isinstance(value, str) else list(value or [])
        out: dict[str, str] = {}
        for item in items:
            text = str(item).strip() if item is not None else ""
            if text:
                out.setdefault(text.lower(), text)
        return list(out.values())

    def to_records(
        self, lead_id: str, account_external_id: str, lead: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """One Contact record per email, linked to the Account by the Account's external id."""
        return [
            {
                self.external_id: f"{lead_id}:{email.lower()}",
                self.email_field: email,
                **self.constants,
                self.relationship: {account_external_id: lead_id},
            }
            for email in self.emails(lead)
        ]


@dataclass(frozen=True)
class LeadMapping:
    """Gold lead -> Salesforce record, loaded from YAML (or a dict of the same shape)."""

    object: str
    key_column: str
    external_id: str
    fields: dict[str, FieldRule]
    constants: dict[str, Any] = field(default_factory=dict)
    contacts: ContactMapping | None = None

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | None = None) -> LeadMapping:
        """From a YAML file, a mapping of the YAML's shape, or the default mapping."""
        doc: Any = source
        if source is None or isinstance(source, str | Path):
            path = Path(source) if source is not None else DEFAULT_MAPPING
            doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, Mapping):
            raise MappingError("a Salesforce field mapping must be a mapping (object, external_id, fields)")
        unknown = sorted(str(k) for k in doc if k not in MAPPING_KEYS)
        if unknown:
            raise MappingError(
                f"a Salesforce field mapping has unknown key(s) {', '.join(unknown)}; "
                f"it takes {', '.join(MAPPING_KEYS)}"
            )
        if not isinstance(doc.get("fields") or {}, Mapping):
            raise MappingError("a Salesforce field mapping's `fields` must map gold columns to Lead fields")
        ext = doc.get("external_id") or {}
        if not isinstance(ext, Mapping):
            raise MappingError("a Salesforce field mapping's `external_id` must be {column, field}")
        rules: dict[str, FieldRule] = {}
        for column, spec in (doc.get("fields") or {}).items():
            if isinstance(spec, str):
                rules[str(column)] = FieldRule(spec)
            elif isinstance(spec, Mapping) and isinstance(spec.get("field"), str):
                kind = str(spec.get("type", "string"))
                if kind not in ("string", "number"):
                    raise MappingError(f"mapping of {column!r}: type must be string or number, got {kind!r}")
                rules[str(column)] = FieldRule(spec["field"], kind, str(spec.get("join", "; ")))
            else:
                raise MappingError(f"mapping of {column!r}: expected a field name or {{field, type}}")
        if not rules or not ext.get("field") or not ext.get("column"):
            raise MappingError("a Salesforce field mapping needs fields and external_id {column, field}")
        obj = str(doc.get("object", "Lead"))
        contacts = None
        if doc.get("contacts") is not None:
            if obj != "Account":
                raise MappingError(
                    f"a Salesforce mapping's `contacts` go with `object: Account` (this one writes {obj})"
                )
            contacts = ContactMapping.load(doc["contacts"])
        return cls(
            object=obj,
            key_column=str(ext["column"]),
            external_id=str(ext["field"]),
            fields=rules,
            constants=dict(doc.get("constants") or {}),
            contacts=contacts,
        )

    def target_fields(self) -> list[str]:
        """Every Lead field the mapping writes (the external id first)."""
        names = [self.external_id, *(r.field for r in self.fields.values()), *self.constants]
        return list(dict.fromkeys(names))

    def to_record(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """One gold lead as Lead field values (empty values left out: an upsert then leaves them as is)."""
        record: dict[str, Any] = {self.external_id: str(lead[self.key_column]), **self.constants}
        for column, rule in self.fields.items():
            value = _plain(lead.get(column))
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, list | tuple):
                value = rule.join.join(str(v) for v in value)
            if rule.type == "number":
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
            elif isinstance(value, bool):
                value = "true" if value else "false"
            else:
                value = str(value)
            record[rule.field] = value
        return record


def _plain(value: Any) -> Any:
    """numpy/pandas values as plain Python; NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value


class _PlainHttp(HTTPAdapter):
    """Sends the https:// URLs simple-salesforce builds for an http:// instance over plain http."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url and request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://") :]
        return super().send(request, *args, **kwargs)


def _message(content: Any) -> str:
    """Salesforce's message(s) from an error body: a list of {message, errorCode} or an OAuth error."""
    if isinstance(content, list) and content and all(isinstance(c, Mapping) for c in content):
        return "; ".join(f"{c.get('errorCode', '')}: {c.get('message', '')}".strip(": ") for c in content)
    if isinstance(content, Mapping):
        return str(content.get("error_description") or content.get("message") or content)
    return str(content)


def _record_error(errors: Any) -> str:
    """A collections/bulk record's errors as one message: 'CODE: message (fields)'."""
    parts = []
    for err in errors if isinstance(errors, list) else [errors]:
        if isinstance(err, Mapping):
            fields = ", ".join(err.get("fields") or [])
            text = f"{err.get('statusCode') or err.get('errorCode')}: {err.get('message')}"
            parts.append(f"{text} ({fields})" if fields else text)
        else:
            parts.append(str(err))
    return "; ".join(parts) or "refused without a message"


def _require_external_id(sobject: str, field: str, described: Mapping[str, Mapping[str, Any]]) -> None:
    """The upsert key must be an External ID field of the sObject."""
    if not described[field].get("externalId"):
        raise MappingError(f"salesforce field {sobject}.{field} is not an External ID field")


class SalesforceDestination:
    """Lead upserts on the LeadLake_Id__c external id; per-lead failures; read back by SOQL."""

    name = "salesforce"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security_token: str = "",
        base_url: str = "https://login.salesforce.com",
        api_version: str = DEFAULT_API_VERSION,
        mapping: str | Path | Mapping[str, Any] | LeadMapping | None = None,
        collections_max: int = COLLECTIONS_MAX,
        max_retries: int = 6,
        backoff_factor: float = 0.3,
        attempts: int = 6,
        bulk_poll_s: float = 2.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._password = None if password is None else password + security_token
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.lstrip("v")
        self.mapping = mapping if isinstance(mapping, LeadMapping) else LeadMapping.load(mapping)
        self.collections_max = collections_max
        self.attempts = attempts
        self.backoff_factor = backoff_factor
        self.bulk_poll_s = bulk_poll_s
        self.timeout_s = timeout_s
        retry = Retry(
            total=max_retries,
            backoff_factor=backoff_factor,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # every write here is an upsert on the external id: safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._retry = retry
        self._session = requests.Session()
        for prefix in ("https://", "http://"):
            self._session.mount(prefix, HTTPAdapter(max_retries=retry))
        self._plain_http(self.base_url)
        self._sf: Any = None
        self._refresh_token: str | None = None
        self._fields: set[str] | None = None
        self._validated = False

    # --- session ----------

    def _plain_http(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "http":
            self._session.mount(f"https://{parts.netloc}", _PlainHttp(max_retries=self._retry))

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url}/services/oauth2/token"
        try:
            resp = self._session.post(url, data=form, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise _Transient(f"token request failed: {type(exc).__name__}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise _Transient(f"token request: malformed reply (HTTP {resp.status_code})") from None
        if resp.status_code != 200:
            if resp.status_code >= 500 or resp.status_code == 429:
                raise _Transient(f"token request: HTTP {resp.status_code}: {_message(body)}")
            raise DeliveryError(f"salesforce login failed: HTTP {resp.status_code}: {_message(body)}", 401)
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("instance_url"):
            raise _Transient("token request: malformed reply (no access_token / instance_url)")
        return body

    def _login(self) -> None:
        """A fresh session: the refresh token when there is one, else the configured grant."""
        from simple_salesforce import Salesforce

        base = {"client_id": self.client_id, "client_secret": self._client_secret}
        body = None
        if self._refresh_token:
            try:
                body = self._token(
                    {**base, "grant_type": "refresh_token", "refresh_token": self._refresh_token}
                )
            except DeliveryError:
                self._refresh_token = None
        if body is None:
            if self._username is not None:
                grant = {
                    "grant_type": "password",
                    "username": self._username,
                    "password": self._password or "",
                }
            else:
                grant = {"grant_type": "client_credentials"}
            body = self._token({**base, **grant})
        self._refresh_token = body.get("refresh_token") or self._refresh_token
        self._plain_http(body["instance_url"])
        self._sf = Salesforce(
            instance_url=body["instance_url"],
            session_id=body["access_token"],
            session=self._session,
            version=self.api_version,
        )

    def _call(self, what: str, call: Callable[[Any], T]) -> T:
        """One API call with session refresh (once), call-level retries and DeliveryError on failure."""
        from simple_salesforce.exceptions import (
            SalesforceError,
            SalesforceExpiredSession,
            SalesforceGeneralError,
            SalesforceOperationError,
        )

        refreshed = False
        last = ""
        attempt = 0
        while attempt < self.attempts:
            try:
                if self._sf is None:
                    self._login()
                return call(self._sf)
            except SalesforceExpiredSession as exc:
                if refreshed:
                    raise DeliveryError(
                        f"{what} failed: session still invalid after a fresh login: {_message(exc.content)}",
                        401,
                    ) from None
                log.info("salesforce session expired; logging in again")
                self._sf, refreshed = None, True
                continue
            except SalesforceGeneralError as exc:  # 429 / 5xx after the transport's retries, or an odd status
                if exc.status < 500 and exc.status not in (408, 429):
                    raise DeliveryError(
                        f"{what} failed: HTTP {exc.status}: {_message(exc.content)}", exc.status
                    ) from None
                last = f"HTTP {exc.status}: {_message(exc.content)}"
            except SalesforceError as exc:  # 300/400/403/404: a definite no
                raise DeliveryError(
                    f"{what} failed: HTTP {exc.status}: {_message(exc.content)}", exc.status
                ) from None
            except (_Transient, SalesforceOperationError, requests.RequestException, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"  # malformed JSON is a ValueError
            attempt += 1
            log.warning("%s: attempt %d/%d failed: %s", what, attempt, self.attempts, last)
            if attempt < self.attempts:
                time.sleep(min(10.0, self.backoff_factor * (2 ** (attempt - 1))))
        raise DeliveryError(f"{what} failed after {self.attempts} attempts: {last}")

    # --- Destination protocol ----------

    batch_limit = COLLECTIONS_MAX  # delivery hands over this many at once; upsert chunks them itself

    @classmethod
    def connect(
        cls, client_secret: str, base_url: str, client_id: str | None = None
    ) -> SalesforceDestination:
        """From the registry's credentials: the connected app's secret, its login URL and its client id."""
        if not client_id:
            raise DeliveryError(
                "salesforce needs the connected app's client id: set LEADLAKE_SALESFORCE_CLIENT_ID "
                "(or the login of the Airflow connection leadlake_salesforce)"
            )
        return cls(client_id, client_secret, base_url=base_url)

    @classmethod
    def load_mapping(cls, source: MappingSource | LeadMapping) -> LeadMapping:
        """A campaign's mapping for Salesforce: a YAML file, or inline keys over the default
        (`mappings/salesforce.yaml`); MappingError names what is wrong."""
        if isinstance(source, LeadMapping):
            return source
        return LeadMapping.load(mapping_document(source, DEFAULT_MAPPING, "salesforce"))

    def with_mapping(self, source: MappingSource | LeadMapping) -> SalesforceDestination:
        """This destination (same login and session) writing through another mapping; checked against the
        object's describe again before its first write."""
        other = copy.copy(self)
        other.mapping = self.load_mapping(source)
        other._validated = False
        return other

    def payload(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """The Lead record this lead is written as (mapped fields, constants and the external id); with a
        `contacts` mapping, the Account record and its Contact records under `Contacts`."""
        record = self.mapping.to_record(lead)
        contacts = self.mapping.contacts
        if contacts is None:
            return record
        key = record[self.mapping.external_id]
        return {**record, "Contacts": contacts.to_records(key, self.mapping.external_id, lead)}

    def test_connection(self) -> None:
        """Log in and describe Lead; raises DeliveryError when the external id field is missing."""
        fields = self._describe()
        if self.mapping.external_id not in fields:
            raise DeliveryError(
                f"salesforce {self.mapping.object} has no external id field {self.mapping.external_id}", 400
            )

    def describe_fields(self) -> set[str]:
        """The Lead fields, from describe."""
        return set(self._describe())

    def _describe(self, sobject: str | None = None) -> dict[str, dict[str, Any]]:
        obj = sobject or self.mapping.object
        body = self._call(f"salesforce describe {obj}", lambda sf: getattr(sf, obj).describe())
        if not isinstance(body, Mapping) or not isinstance(body.get("fields"), list):
            raise DeliveryError(f"salesforce describe {obj}: malformed reply")
        described = {str(f["name"]): dict(f) for f in body["fields"] if isinstance(f, Mapping)}
        if sobject is None:
            self._fields = set(described)
        return described

    def _validate_contacts(self, contacts: ContactMapping) -> None:
        """The Contact fields exist, the key is an external id and the relationship leads to our object."""
        described = self._describe(contacts.object)
        sources = {contacts.external_id: "the contact external id", contacts.email_field: "the email"}
        sources.update({f: "a contact constant" for f in contacts.constants})
        check_targets(
            "salesforce", contacts.object, {f: sources[f] for f in contacts.target_fields()}, described
        )
        _require_external_id(contacts.object, contacts.external_id, described)
        lookup = [f for f in described.values() if f.get("relationshipName") == contacts.relationship]
        if not lookup or self.mapping.object not in (lookup[0].get("referenceTo") or []):
            raise MappingError(
                f"salesforce {contacts.object} has no relationship {contacts.relationship} to "
                f"{self.mapping.object} (contacts.relationship in the mapping); nothing was written"
            )

    def validate_mapping(self) -> None:
        """Every mapped field exists on the object (and the key is an external id); raises MappingError."""
        described = self._describe()
        m = self.mapping
        sources = {r.field: f"gold column {c!r}" for c, r in m.fields.items()}
        sources.update({f: "a constant" for f in m.constants})
        sources[m.external_id] = f"the external id (gold column {m.key_column!r})"
        check_targets("salesforce", m.object, {f: sources[f] for f in m.target_fields()}, described)
        _require_external_id(m.object, m.external_id, described)
        if m.contacts is not None:
            self._validate_contacts(m.contacts)
        self._validated = True

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Upsert leads on the external id; per-lead refusals in `failures`, the rest committed."""
        if not self._validated:
            self.validate_mapping()
        records: dict[str, dict[str, Any]] = {}
        rows: dict[str, Mapping[str, Any]] = {}
        for lead in leads:  # the same lead twice in one call: the last row wins
            record = self.mapping.to_record(lead)
            records[record[self.mapping.external_id]] = record
            rows[record[self.mapping.external_id]] = lead
        if not records:
            return UpsertResult({}, 0, 0)
        if len(records) <= self.collections_max:
            outcomes = self._collections(list(records.values()))
        else:
            outcomes = self._bulk(list(records.values()))
        if self.mapping.contacts is not None:
            outcomes = self._with_contacts(self.mapping.contacts, outcomes, rows)
        crm_ids: dict[str, str] = {}
        failures: dict[str, str] = {}
        created: set[str] = set()
        for lead_id in records:
            crm_id, was_created, error = outcomes[lead_id]
            if error is not None or not crm_id:
                failures[lead_id] = error or "no id returned"
            else:
                crm_ids[lead_id] = crm_id
                if was_created:
                    created.add(lead_id)
        if failures:
            log.warning("salesforce refused %d of %d leads", len(failures), len(records))
        return UpsertResult(
            crm_ids, len(created), len(crm_ids) - len(created), frozenset(created), failures=failures
        )

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """lead id -> the Lead's mapped fields (and Id), by SOQL on the external id."""
        m = self.mapping
        ids = list(dict.fromkeys(str(i) for i in lead_ids))
        fields = ", ".join(["Id", *m.target_fields()])
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), READ_BACK_CHUNK):
            chunk = ids[start : start + READ_BACK_CHUNK]
            quoted = ", ".join(f"'{_soql_quote(i)}'" for i in chunk)
            soql = f"SELECT {fields} FROM {m.object} WHERE {m.external_id} IN ({quoted})"
            result = self._call("salesforce query", lambda sf, q=soql: sf.query_all(q))
            for row in result.get("records", []):
                values = {k: v for k, v in dict(row).items() if k != "attributes"}
                out[str(values[m.external_id])] = values
        return out

    def read_back_contacts(self, lead_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """lead id -> its Contacts' mapped fields (and Id, AccountId), by SOQL on the Contact external id."""
        contacts = self.mapping.contacts
        if contacts is None:
            raise DeliveryError("this salesforce mapping writes no contacts (no `contacts:` section)")
        accounts = self.read_back(lead_ids)
        by_account = {str(row["Id"]): lead_id for lead_id, row in accounts.items()}
        fields = ", ".join(["Id", "AccountId", *contacts.target_fields()])
        out: dict[str, list[dict[str, Any]]] = {lead_id: [] for lead_id in accounts}
        ids = list(by_account)
        for start in range(0, len(ids), READ_BACK_CHUNK):
            quoted = ", ".join(f"'{_soql_quote(i)}'" for i in ids[start : start + READ_BACK_CHUNK])
            soql = f"SELECT {fields} FROM {contacts.object} WHERE AccountId IN ({quoted})"
            result = self._call("salesforce query", lambda sf, q=soql: sf.query_all(q))
            for row in result.get("records", []):
                values = {k: v for k, v in dict(row).items() if k != "attributes"}
                out[by_account[str(values["AccountId"])]].append(values)
        return out

    # --- writes ----------

    def _with_contacts(
        self,
        contacts: ContactMapping,
        outcomes: dict[str, tuple[str | None, bool, str | None]],
        rows: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, tuple[str | None, bool, str | None]]:
        """Upsert the Contacts of every Account that landed; a refused Contact fails its lead (the Account
        stays: the next send of the lead upserts it again, unchanged)."""
        owner: dict[str, str] = {}
        records: list[dict[str, Any]] = []
        for lead_id, (crm_id, _, error) in outcomes.items():
            if error is not None or not crm_id:
                continue
            for record in contacts.to_records(lead_id, self.mapping.external_id, rows[lead_id]):
                owner[record[contacts.external_id]] = lead_id
                records.append(record)
        if not records:
            return outcomes
        if len(records) <= self.collections_max:
            results = self._collections(records, contacts.object, contacts.external_id)
        else:
            results = self._bulk(records, contacts.object, contacts.external_id)
        merged = dict(outcomes)
        refused: dict[str, list[str]] = {}
        for key, (crm_id, _, error) in results.items():
            if error is not None or not crm_id:
                refused.setdefault(owner[key], []).append(error or "no id returned")
        for lead_id, errors in refused.items():
            merged[lead_id] = (None, False, f"{len(errors)} contact(s) refused: {'; '.join(errors)}")
        if refused:
            log.warning("salesforce refused contacts of %d leads", len(refused))
        return merged

    def _collections(
        self, records: list[dict[str, Any]], sobject: str | None = None, external_id: str | None = None
    ) -> dict[str, tuple[str | None, bool, str | None]]:
        m = self.mapping
        obj, ext = sobject or m.object, external_id or m.external_id
        noun = "leads" if sobject is None else "records"
        path = f"composite/sobjects/{obj}/{ext}"
        outcomes: dict[str, tuple[str | None, bool, str | None]] = {}
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            body = json.dumps(
                {"allOrNone": False, "records": [{"attributes": {"type": obj}, **r} for r in chunk]}
            )

            def send(sf: Any, body: str = body, n: int = len(chunk)) -> list:
                reply = sf.restful(path, method="PATCH", data=body, timeout=self.timeout_s)
                if not isinstance(reply, list) or len(reply) != n:
                    raise _Transient("malformed reply (not one result per record)")
                return reply

            what = f"salesforce collections upsert of {len(chunk)} {noun}"
            for record, result in zip(chunk, self._call(what, send), strict=True):
                lead_id = record[ext]
                if isinstance(result, Mapping) and result.get("success"):
                    outcomes[lead_id] = (result.get("id"), bool(result.get("created")), None)
                else:
                    errors = result.get("errors") if isinstance(result, Mapping) else result
                    outcomes[lead_id] = (None, False, _record_error(errors))
        return outcomes

    def _bulk(
        self, records: list[dict[str, Any]], sobject: str | None = None, external_id: str | None = None
    ) -> dict[str, tuple[str | None, bool, str | None]]:
        m = self.mapping
        obj, ext = sobject or m.object, external_id or m.external_id
        noun = "leads" if sobject is None else "records"
        rows = [_csv_row(r) for r in records]
        total = len(rows)

        def run(sf: Any) -> dict[str, tuple[str | None, bool, str | None]]:
            bulk = getattr(sf.bulk2, obj)
            jobs = bulk.upsert(records=rows, external_id_field=ext, wait=self.bulk_poll_s)
            outcomes: dict[str, tuple[str | None, bool, str | None]] = {}
            for job in jobs:
                outcomes.update(self._job_results(job, obj, ext))
            if len(outcomes) != total:
                raise _Transient(f"bulk results cover {len(outcomes)} of {total} records")
            return outcomes

        return self._call(f"salesforce bulk upsert of {total} {noun}", run)

    def _job_results(
        self, job: Mapping[str, Any], sobject: str | None = None, external_id: str | None = None
    ) -> dict[str, tuple[str | None, bool, str | None]]:
        """One job's successful and failed rows, re-read until they add up to what the job processed."""
        obj = sobject or self.mapping.object
        ext = external_id or self.mapping.external_id
        job_id = str(job["job_id"])
        processed = int(job["numberRecordsProcessed"])

        def fetch(sf: Any) -> dict[str, tuple[str | None, bool, str | None]]:
            bulk = getattr(sf.bulk2, obj)
            ok = list(csv.DictReader(io.StringIO(bulk.get_successful_records(job_id))))
            bad = list(csv.DictReader(io.StringIO(bulk.get_failed_records(job_id))))
            # A cut-off CSV parses without complaint: the counts and the key columns tell.
            complete = all(
                r.get("sf__Id") and r.get(ext) and r.get("sf__Created") in ("true", "false") for r in ok
            )
            complete = complete and all(r.get(ext) and r.get("sf__Error") is not None for r in bad)
            if len(ok) + len(bad) != processed or not complete:
                raise _Transient(f"bulk job {job_id}: incomplete results")
            out: dict[str, tuple[str | None, bool, str | None]] = {
                r[ext]: (r["sf__Id"], r["sf__Created"] == "true", None) for r in ok
            }
            out.update({r[ext]: (None, False, _bulk_error(r["sf__Error"])) for r in bad})
            return out

        return self._call(f"salesforce bulk job {job_id} results", fetch)


def _csv_row(record: Mapping[str, Any]) -> dict[str, str]:
    """A record as Bulk API 2.0 CSV cells; a relationship `{Rel: {ExtId: v}}` as the column `Rel.ExtId`."""
    out: dict[str, str] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{sub}": _csv_cell(v) for sub, v in value.items()})
        else:
            out[key] = _csv_cell(value)
    return out


def _csv_cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _bulk_error(raw: str) -> str:
    """`CODE:message:fields --` (Bulk API 2.0's sf__Error) as 'CODE: message (fields)'."""
    text = raw.strip().removesuffix("--").strip()
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:
        message, fields = rest, ""
    return f"{code}: {message} ({fields})" if fields else f"{code}: {message}"


def _soql_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
