"""HubSpot CRM v3 companies through the official client: batch upsert on a unique leadlake id property,
merge of two companies (when two leads turn out to be one business), re-keying a company to a lead, and
reading back what sales did with them (`pull_feedback`: the CRM search API, by hs_lastmodifieddate).

The field mapping is data (`mappings/hubspot.yaml`, or a campaign's own): `validate_mapping()` checks it
against GET /crm/v3/properties/{companies,contacts} before the first write, so a property the portal lacks
stops this destination with a message naming it and nothing is sent. Leads with emails also become
contacts (batch upsert on email) associated to their company (v4 default association). A batch HubSpot
refuses (400 VALIDATION_ERROR, e.g. a value it will not take) raises DeliveryError carrying HubSpot's own
message and status, so delivery splits the batch until the refused lead stands alone.

Every call goes through a RateGate that paces the destination's requests (every thread's, retries included)
at the rate HubSpot's X-HubSpot-RateLimit-* headers announce, so concurrent batches stay under the app's
limit instead of collecting 429s; a 429 still waits out its Retry-After (urllib3 Retry)."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from urllib3.util.retry import Retry

from leadlake.connectors.destinations.base import (
    DeliveryError,
    MappingError,
    UpsertResult,
    mapping_document,
)
from leadlake.connectors.destinations.mapping import FieldRule, check_targets, parse_fields, plain, render

log = logging.getLogger("leadlake.connectors.destinations.hubspot")

ID_PROPERTY = "leadlake_id"
BATCH_LIMIT = 100  # HubSpot's documented batch upsert maximum
MAX_IN_FLIGHT = 8  # batch upserts delivery keeps in flight at once (the gate keeps them under the limit)
# HubSpot's rate-limit reply headers (lower-case: urllib3 header lookups ignore case anyway)
RATE_MAX, RATE_REMAINING = "x-hubspot-ratelimit-max", "x-hubspot-ratelimit-remaining"
RATE_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"
RATE_SECONDLY, RATE_SECONDLY_REMAINING = (
    "x-hubspot-ratelimit-secondly",
    "x-hubspot-ratelimit-secondly-remaining",
)
SEARCH_PAGE = 200  # HubSpot's documented maximum page size of the CRM search endpoints
SEARCH_CAP = 10_000  # one search pages through at most this many results
MODIFIED = "hs_lastmodifieddate"
LIFECYCLE_STAGES = (
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "other",
)
# What sales did with a company: its stage, lead status, close date, per-stage dates and its merges.
OUTCOME_PROPERTIES: tuple[str, ...] = (
    ID_PROPERTY,
    "name",
    "domain",
    "lifecyclestage",
    "hs_lead_status",
    "closedate",
    "hs_merged_object_ids",
    *(f"hs_v2_date_entered_{stage}" for stage in LIFECYCLE_STAGES),
)
DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "hubspot.yaml"
COMPANIES, CONTACTS = "companies", "contacts"
CONTACT_ID_PROPERTY = "email"  # HubSpot's unique contact property: contacts are upserted on it
ASSOCIATION_LIMIT = 100  # inputs per v4 association batch this destination sends
AUTH_STATUSES = (401, 403)
PROPERTY_READ_ATTEMPTS = 4  # reads of the properties API before a malformed reply stops the destination


@dataclass(frozen=True)
class ContactMapping:
    """Leads with emails as HubSpot contacts: where the emails are, the contact properties, the lead id."""

    emails_from: tuple[str, ...]
    fields: dict[str, FieldRule]
    lead_property: str | None = None

    def emails(self, lead: Mapping[str, Any]) -> list[str]:
        """The lead's email addresses, trimmed and lower-cased (HubSpot compares them so), each once."""
        found: list[str] = []
        for column in self.emails_from:
            value = plain(lead.get(column))
            if isinstance(value, str):
                value = re.split(r"[;,]", value)
            for item in value or ():
                text = str(item).strip().lower() if item is not None else ""
                if text:
                    found.append(text)
        return list(dict.fromkeys(found))

    def properties(self, lead: Mapping[str, Any], email: str, lead_id: str) -> dict[str, str]:
        props = {rule.target: v for col, rule in self.fields.items() if (v := render(lead.get(col), rule))}
        if self.lead_property:
            props[self.lead_property] = lead_id
        return props | {CONTACT_ID_PROPERTY: email}


@dataclass(frozen=True)
class HubSpotMapping:
    """Gold lead -> HubSpot company (and contacts), loaded from YAML (mappings/hubspot.yaml's shape)."""

    key_column: str
    id_property: str
    fields: dict[str, FieldRule]
    contacts: ContactMapping | None = None

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | None = None) -> HubSpotMapping:
        """From a YAML file, an inline mapping laid over the default, or the default (None)."""
        doc = mapping_document(source, DEFAULT_MAPPING, "hubspot")
        companies = doc.get("companies")
        if not isinstance(companies, Mapping):
            raise MappingError("hubspot mapping: `companies` {key_column, id_property, fields} is required")
        fields = parse_fields(companies.get("fields"), "hubspot mapping companies.fields")
        if not fields:
            raise MappingError("hubspot mapping: companies.fields maps no gold column to a company property")
        contacts = None
        spec = doc.get("contacts")
        if spec is not None:
            if not isinstance(spec, Mapping):
                raise MappingError("hubspot mapping: `contacts` must be {emails_from, fields, lead_property}")
            sources = spec.get("emails_from") or ["emails", "email"]
            sources = [sources] if isinstance(sources, str) else sources
            if not isinstance(sources, list) or not all(isinstance(c, str) for c in sources):
                raise MappingError("hubspot mapping: contacts.emails_from is a gold column or a list of them")
            lead_property = spec.get("lead_property")
            contacts = ContactMapping(
                tuple(sources),
                parse_fields(spec.get("fields"), "hubspot mapping contacts.fields"),
                str(lead_property) if lead_property else None,
            )
        return cls(
            key_column=str(companies.get("key_column") or "lead_id"),
            id_property=str(companies.get("id_property") or ID_PROPERTY),
            fields=fields,
            contacts=contacts,
        )

    def company_properties(self, lead: Mapping[str, Any]) -> dict[str, str]:
        """The company's property values (strings; lists joined; empty values left out)."""
        return {rule.target: v for col, rule in self.fields.items() if (v := render(lead.get(col), rule))}

    def targets(self, kind: str) -> dict[str, str]:
        """Property -> where its value comes from, for every property this mapping writes on `kind`."""
        if kind == COMPANIES:
            out = {r.target: f"gold column {c!r}" for c, r in self.fields.items()}
            return {self.id_property: f"the lead id (gold column {self.key_column!r})", **out}
        if self.contacts is None:
            return {}
        out = {r.target: f"gold column {c!r}" for c, r in self.contacts.fields.items()}
        if self.contacts.lead_property:
            out[self.contacts.lead_property] = f"the lead id (gold column {self.key_column!r})"
        return {CONTACT_ID_PROPERTY: f"the emails ({', '.join(self.contacts.emails_from)})", **out}


DEFAULT = HubSpotMapping.load()
# Gold column -> HubSpot company property of the default mapping.
FIELD_MAP: Mapping[str, str] = {column: rule.target for column, rule in DEFAULT.fields.items()}


def _message(exc: Any) -> str:
    """The CRM's own message from an ApiException body (JSON `message`), else the body or reason."""
    return _crm_message(getattr(exc, "body", None), getattr(exc, "reason", None))


def to_properties(lead: Mapping[str, Any]) -> dict[str, str]:
    """Gold row -> HubSpot company property values by the default mapping (strings; lists joined; empty
    values left out)."""
    return DEFAULT.company_properties(lead)


def _crm_message(body: object, reason: object) -> str:
    """The `message` of a HubSpot error body, else the body (or reason) as given."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    return str(body or reason)


def _header_number(headers: Any, name: str) -> float | None:
    """A numeric header from urllib3's case-insensitive headers, or any mapping of them."""
    try:
        raw = headers.get(name)
        if raw is None:
            raw = next((v for k, v in headers.items() if str(k).lower() == name), None)
    except AttributeError:
        return None
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


class RateGate:
    """Paces one destination's requests, across threads, at the rate HubSpot's headers announce.

    `acquire()` before each request hands out start times 1/rate apart (rate: the lower of Max per
    Interval-Milliseconds and Secondly). Slots nobody used (the threads were busy) may be made up, at most
    one second's worth and only while the last reply's Remaining leaves room for twice that, so a stall
    does not lower the rate. Until a reply has told the rate, one request goes at a time (the probe); a
    reply saying Remaining or Secondly-Remaining is 0 holds the next request for one request's worth of
    time; after a few replies without the headers (a CRM that sends none) the gate stops pacing.
    """

    PROBES_WITHOUT_HEADERS = 3

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self._clock, self._sleep = clock, sleep
        self._cond = threading.Condition()
        self._interval: float | None = None  # seconds between request starts; 0: no pacing; None: unknown
        self._next = 0.0  # earliest start of the next request
        self._probing = False
        self._bare_replies = 0
        self._catch_up = 0.0  # seconds of unused slots that may be made up now
        self.rate: float | None = None  # requests per second, as last announced
        self.waited = 0.0  # seconds requests spent waiting on the gate

    def acquire(self) -> None:
        """Wait for this request's turn."""
        with self._cond:
            while self._interval is None and self._probing:
                self._cond.wait(0.5)
            now = self._clock()
            if self._interval is None:
                self._probing = True  # this request learns the rate; the others wait for its reply
                return
            start = max(now - self._catch_up, self._next)
            self._next = start + self._interval
        if start > now:
            self.waited += start - now
            self._sleep(start - now)

    def observe(self, headers: Any) -> None:
        """Learn from one reply's headers (any reply: a success, an error, a retried 429)."""
        cap = _header_number(headers, RATE_MAX)
        window_ms = _header_number(headers, RATE_INTERVAL_MS)
        secondly = _header_number(headers, RATE_SECONDLY)
        rates = [cap * 1000 / window_ms if cap and window_ms else None, secondly or None]
        known = [r for r in rates if r]
        with self._cond:
            if known:
                self.rate = min(known)
                self._interval = 1.0 / self.rate
                remaining = _header_number(headers, RATE_REMAINING)
                secondly_left = _header_number(headers, RATE_SECONDLY_REMAINING)
                roomy = remaining is not None and remaining >= 2 * self.rate
                self._catch_up = 1.0 if roomy else 0.0
                if remaining == 0 or secondly_left == 0:
                    self._next = max(self._next, self._clock() + self._interval)
            elif self._interval is None:
                self._bare_replies += 1
                if self._bare_replies >= self.PROBES_WITHOUT_HEADERS:
                    self._interval = 0.0
            self._probing = False
            self._cond.notify_all()

    def release(self) -> None:
        """A request ended without a reply to learn from (e.g. a connection error): let another probe."""
        with self._cond:
            self._probing = False
            self._cond.notify_all()


class PacedRetry(Retry):
    """urllib3 Retry whose retries also wait for the gate and teach it from the reply they retry."""

    gate: RateGate | None = None

    def new(self, **kw: Any) -> PacedRetry:
        retry = super().new(**kw)
        retry.gate = self.gate
        return retry

    def increment(
        self, method: Any = None, url: Any = None, response: Any = None, *args: Any, **kw: Any
    ) -> Retry:
        if self.gate is not None and response is not None:
            self.gate.observe(response.headers)
        return super().increment(method, url, response, *args, **kw)

    def sleep(self, response: Any = None) -> None:
        super().sleep(response)
        if self.gate is not None:
            self.gate.acquire()


class HubSpotDestination:
    """Batch upserts of companies (and their contacts), idempotent on the leadlake_id unique property;
    mapping checked against the properties API before the first write; merges and re-keys."""

    name = "hubspot"
    batch_limit = BATCH_LIMIT  # leads per upsert call (HubSpot's batch maximum)

    def __init__(
        self,
        access_token: str,
        base_url: str = "https://api.hubapi.com",
        max_retries: int = 6,
        max_in_flight: int = MAX_IN_FLIGHT,
        mapping: str | Path | Mapping[str, Any] | HubSpotMapping | None = None,
    ) -> None:
        from hubspot import HubSpot

        self.max_in_flight = max(1, max_in_flight)  # delivery's concurrent batches to this destination
        self.mapping = mapping if isinstance(mapping, HubSpotMapping) else HubSpotMapping.load(mapping)
        self._validated = False
        self.gate = RateGate()
        retry = PacedRetry(
            total=max_retries,
            backoff_factor=0.3,
            status_forcelist=(429, 500, 502, 503, 504),
            # Upserts are idempotent on their unique ids, re-keying is a plain PATCH, merging an id that was
            # already merged into the primary is harmless and associating twice changes nothing: every
            # method may be retried.
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.gate = self.gate
        self._client = HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=retry)

    # --- mapping ----------

    @classmethod
    def load_mapping(cls, source: str | Path | Mapping[str, Any] | None) -> HubSpotMapping:
        """A campaign's mapping (a YAML path, or inline keys over the default); raises MappingError."""
        return HubSpotMapping.load(source)

    def with_mapping(
        self, mapping: str | Path | Mapping[str, Any] | HubSpotMapping | None
    ) -> HubSpotDestination:
        """This destination (same client and rate gate) writing through another mapping."""
        other = copy.copy(self)
        other.mapping = mapping if isinstance(mapping, HubSpotMapping) else HubSpotMapping.load(mapping)
        other._validated = False
        return other

    def payload(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """What this destination sends for a lead: its company properties and its contacts' properties."""
        lead_id = str(lead[self.mapping.key_column])
        company = self.mapping.company_properties(lead) | {self.mapping.id_property: lead_id}
        contacts = self.mapping.contacts
        people = [contacts.properties(lead, e, lead_id) for e in contacts.emails(lead)] if contacts else []
        return {"company": company, "contacts": people}

    def properties(self, kind: str = COMPANIES, attempts: int = PROPERTY_READ_ATTEMPTS) -> dict[str, Any]:
        """Property name -> its definition, from GET /crm/v3/properties/{kind}.

        A read is repeated (a few times) after a malformed reply or exhausted transport retries, so a
        passing fault does not stop the destination as if its mapping were wrong; a refusal is raised."""
        what = f"hubspot properties of {kind}"
        for attempt in range(1, attempts + 1):
            try:
                resp = self._request(
                    what, lambda: self._client.crm.properties.core_api.get_all_with_http_info(kind)
                )
                results = getattr(resp, "results", None)
                if not isinstance(results, list):
                    raise DeliveryError(f"{what} failed: malformed reply (a 200 without a results list)")
                return {p.name: p for p in results}
            except DeliveryError as exc:
                if exc.refused or attempt == attempts:
                    raise
                log.warning("%s: attempt %d/%d failed: %s", what, attempt, attempts, exc)
        raise AssertionError("unreachable")  # the loop returns or raises

    def describe_fields(self) -> set[str]:
        """The company property names the portal has."""
        return set(self.properties(COMPANIES))

    def test_connection(self) -> None:
        """Authenticate and read the company properties; raises DeliveryError when the id property is missing
        or does not hold unique values."""
        self._check_id_property(self.properties(COMPANIES))

    def _check_id_property(self, described: Mapping[str, Any]) -> None:
        prop = described.get(self.mapping.id_property)
        if prop is None:
            raise MappingError(
                f"hubspot companies have no property {self.mapping.id_property} (the lead id): create it "
                "as a single-line text property with unique values; nothing was written"
            )
        if not getattr(prop, "has_unique_value", False):
            raise MappingError(
                f"hubspot company property {self.mapping.id_property} does not hold unique values, so "
                "companies cannot be upserted on it: recreate it with unique values on; nothing was written"
            )

    def validate_mapping(self) -> None:
        """Every mapped property exists in the portal (companies, and contacts when mapped) and the id
        property is unique; raises MappingError naming what is missing, before any write."""
        companies = self.properties(COMPANIES)
        self._check_id_property(companies)
        check_targets("hubspot", COMPANIES, self.mapping.targets(COMPANIES), companies)
        if self.mapping.contacts is not None:
            check_targets("hubspot", CONTACTS, self.mapping.targets(CONTACTS), self.properties(CONTACTS))
        self._validated = True

    # --- writes ----------

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Upsert up to 100 leads' companies in one call, then their contacts, associated to the companies;
        returns the company id of each lead.

        A refusal of the companies or of their contacts (HubSpot refuses a batch as a whole) raises
        DeliveryError with HubSpot's message and status; re-sending is safe (upserts on unique ids)."""
        if len(leads) > BATCH_LIMIT:
            raise ValueError(f"a HubSpot batch holds at most {BATCH_LIMIT} inputs, got {len(leads)}")
        if not leads:
            return UpsertResult({}, 0, 0)
        if not self._validated:
            self.validate_mapping()
        payloads = [self.payload(lead) for lead in leads]
        crm_ids, new_ids = self._upsert_companies(leads, payloads)
        if self.mapping.contacts is not None:
            self._upsert_contacts(payloads, crm_ids)
        return UpsertResult(crm_ids, len(new_ids), len(crm_ids) - len(new_ids), frozenset(new_ids))

    def _upsert_companies(
        self, leads: Sequence[Mapping[str, Any]], payloads: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, str], set[str]]:
        from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInputUpsert

        m = self.mapping
        inputs = [
            {
                "idProperty": m.id_property,
                "id": str(lead[m.key_column]),
                "properties": payload["company"],
            }
            for lead, payload in zip(leads, payloads, strict=True)
        ]
        body = BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        resp = self._request(
            "hubspot batch upsert", lambda: self._client.crm.companies.batch_api.upsert_with_http_info(body)
        )
        # A 200 whose body is not the documented batch reply (truncated JSON, no results list) fails this
        # batch only: the caller keeps it out of the ledger and the next run sends it again.
        results = getattr(resp, "results", None)
        if not isinstance(results, list):
            raise DeliveryError("hubspot batch upsert failed: malformed reply (a 200 without a results list)")
        crm_ids, new_ids = {}, set()
        for result in results:
            props = result.properties or {}
            lead_id = props.get(m.id_property)
            if lead_id:
                crm_ids[lead_id] = result.id
                if getattr(result, "new", False):
                    new_ids.add(lead_id)
        missing = {str(lead[m.key_column]) for lead in leads} - set(crm_ids)
        if missing:
            raise DeliveryError(f"hubspot did not return {len(missing)} of {len(leads)} upserted companies")
        return crm_ids, new_ids

    def _upsert_contacts(self, payloads: Sequence[Mapping[str, Any]], company_ids: Mapping[str, str]) -> None:
        """One contact per email of the batch's payloads (the last lead naming an email sets its
        properties), then each contact associated to its lead's company."""
        from hubspot.crm.associations.v4 import (
            BatchInputPublicDefaultAssociationMultiPost,
            PublicDefaultAssociationMultiPost,
            PublicObjectId,
        )
        from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert

        contacts: dict[str, dict[str, str]] = {}
        links: list[tuple[str, str]] = []  # (email, company id)
        for payload in payloads:
            lead_id = payload["company"][self.mapping.id_property]
            for person in payload["contacts"]:
                contacts[person[CONTACT_ID_PROPERTY]] = person
                links.append((person[CONTACT_ID_PROPERTY], company_ids[lead_id]))
        if not contacts:
            return
        contact_ids: dict[str, str] = {}
        emails = list(contacts)
        for start in range(0, len(emails), BATCH_LIMIT):
            chunk = emails[start : start + BATCH_LIMIT]
            inputs = [{"idProperty": CONTACT_ID_PROPERTY, "id": e, "properties": contacts[e]} for e in chunk]
            body = BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
            resp = self._request(
                "hubspot contact batch upsert",
                lambda body=body: self._client.crm.contacts.batch_api.upsert_with_http_info(body),
            )
            results = getattr(resp, "results", None)
            if not isinstance(results, list):
                raise DeliveryError(
                    "hubspot contact batch upsert failed: malformed reply (a 200 without a results list)"
                )
            for result in results:
                email = str((result.properties or {}).get(CONTACT_ID_PROPERTY) or "").lower()
                if email and result.id:
                    contact_ids[email] = str(result.id)
            if not set(chunk) <= set(contact_ids):
                raise DeliveryError(f"hubspot did not return every one of {len(chunk)} upserted contacts")
        pairs = list(dict.fromkeys((contact_ids[e], company) for e, company in links))
        for start in range(0, len(pairs), ASSOCIATION_LIMIT):
            chunk = pairs[start : start + ASSOCIATION_LIMIT]
            body = BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    PublicDefaultAssociationMultiPost(_from=PublicObjectId(id=c), to=PublicObjectId(id=co))
                    for c, co in chunk
                ]
            )
            resp = self._request(
                "hubspot contact-company association",
                lambda body=body: self._client.crm.associations.v4.batch_api.create_default_with_http_info(
                    CONTACTS, COMPANIES, body
                ),
            )
            # A 207 (some ids unknown) deserialises to None: not every association was made; the next run
            # sends the batch again (associating twice changes nothing).
            if len(getattr(resp, "results", None) or ()) != len(chunk):
                raise DeliveryError(
                    f"hubspot contact-company association failed: {len(chunk)} asked, the reply confirms "
                    f"{len(getattr(resp, 'results', None) or ())}"
                )

    def _request(self, what: str, call: Callable[[], Any]) -> Any:
        """One `*_with_http_info` call through the rate gate: its object; HubSpot's refusals (with its message
        and status), exhausted retries and transport errors as DeliveryError."""
        self.gate.acquire()
        try:
            resp, _, headers = call()
            self.gate.observe(headers)
        except Exception as exc:  # noqa: BLE001 - each API module has its own ApiException class
            if hasattr(exc, "status") and hasattr(exc, "body"):
                self.gate.observe(getattr(exc, "headers", None) or {})
                status = getattr(exc, "status", None)
                if status in AUTH_STATUSES:
                    raise DeliveryError(
                        f"hubspot refused our credentials (HTTP {status}) at {what}: {_message(exc)}; check "
                        "LEADLAKE_HUBSPOT_ACCESS_TOKEN (a private app token with the CRM scopes)",
                        status,
                    ) from None
                raise DeliveryError(f"{what} failed: HTTP {status}: {_message(exc)}", status) from None
            self.gate.release()  # urllib3 MaxRetryError and friends, after the retries ran out
            raise DeliveryError(f"{what} failed: {type(exc).__name__}: {exc}") from None
        return resp

    # --- reads ----------

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """lead id -> the company HubSpot holds for it: its mapped properties, `id`, and (when contacts are
        mapped) `contacts`, the emails of the contacts associated to it, sorted."""
        from hubspot.crm.companies import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        m = self.mapping
        ids = list(dict.fromkeys(str(i) for i in lead_ids))
        wanted = list(m.targets(COMPANIES))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_LIMIT):
            body = BatchReadInputSimplePublicObjectId(
                id_property=m.id_property,
                inputs=[SimplePublicObjectId(id=i) for i in ids[start : start + BATCH_LIMIT]],
                properties=wanted,
                properties_with_history=[],
            )
            resp = self._request(
                "hubspot company batch read",
                lambda body=body: self._client.crm.companies.batch_api.read_with_http_info(body),
            )
            for obj in getattr(resp, "results", None) or ():
                props = {k: v for k, v in (obj.properties or {}).items() if k in wanted}
                out[str(props[m.id_property])] = {"id": str(obj.id), **props}
        if m.contacts is not None and out:
            emails = self.contact_emails([x["id"] for x in out.values()])
            for row in out.values():
                row["contacts"] = emails.get(row["id"], [])
        return out

    def contact_emails(self, company_ids: Sequence[str]) -> dict[str, list[str]]:
        """company id -> the sorted emails of the contacts associated to it (v4 associations, then a contact
        batch read)."""
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )
        from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        linked: dict[str, list[str]] = {}
        for start in range(0, len(company_ids), BATCH_LIMIT):
            body = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[
                    PublicFetchAssociationsBatchRequest(id=i)
                    for i in company_ids[start : start + BATCH_LIMIT]
                ]
            )
            resp = self._request(
                "hubspot association read",
                lambda body=body: self._client.crm.associations.v4.batch_api.get_page_with_http_info(
                    COMPANIES, CONTACTS, body
                ),
            )
            for row in getattr(resp, "results", None) or ():
                linked[str(row._from.id)] = [str(t.to_object_id) for t in row.to or ()]
        contact_ids = sorted({c for cs in linked.values() for c in cs})
        email_of: dict[str, str] = {}
        for start in range(0, len(contact_ids), BATCH_LIMIT):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in contact_ids[start : start + BATCH_LIMIT]],
                properties=[CONTACT_ID_PROPERTY],
                properties_with_history=[],
            )
            resp = self._request(
                "hubspot contact batch read",
                lambda body=body: self._client.crm.contacts.batch_api.read_with_http_info(body),
            )
            for obj in getattr(resp, "results", None) or ():
                email_of[str(obj.id)] = (obj.properties or {}).get(CONTACT_ID_PROPERTY) or ""
        return {co: sorted(email_of[c] for c in cs if c in email_of) for co, cs in linked.items()}

    def merge(self, primary_crm_id: str, merged_crm_id: str) -> str:
        """Merge company `merged_crm_id` into `primary_crm_id` (HubSpot's own merge: the merged company is
        archived and its id remembered in the primary's hs_merged_object_ids); returns the id of the company
        that lives on, as HubSpot answers it."""
        from hubspot.crm.companies import PublicMergeInput

        what = f"hubspot merge of company {merged_crm_id} into {primary_crm_id}"
        body = PublicMergeInput(primary_object_id=primary_crm_id, object_id_to_merge=merged_crm_id)
        resp = self._call(what, lambda: self._client.crm.companies.basic_api.merge_with_http_info(body))
        return str(resp.id)

    def rekey(self, crm_id: str, lead_id: str) -> None:
        """Point company `crm_id` at another lead: set its leadlake_id, so the next upsert of that lead
        updates this company instead of creating a second one."""
        from hubspot.crm.companies import SimplePublicObjectInput

        what = f"hubspot re-key of company {crm_id} to {ID_PROPERTY}={lead_id}"
        body = SimplePublicObjectInput(properties={ID_PROPERTY: lead_id})
        resp = self._call(
            what, lambda: self._client.crm.companies.basic_api.update_with_http_info(crm_id, body)
        )
        if (resp.properties or {}).get(ID_PROPERTY) != lead_id:
            raise DeliveryError(f"{what} failed: the reply does not carry the new {ID_PROPERTY}")

    def pull_changes(self, since: datetime | str | int | None = None) -> Iterator[dict[str, Any]]:
        """The former name of `pull_feedback` (kept for callers that still use it)."""
        return self.pull_feedback(since)

    def pull_feedback(self, since: datetime | str | int | None = None) -> Iterator[dict[str, Any]]:
        """The Destination's outcome pull (FeedbackSource): every company with a leadlake id modified at or
        after `since` (None: all), oldest change first, as the raw JSON objects the search API answers (id,
        properties, createdAt, updatedAt, archived).

        Pages through POST /crm/v3/objects/companies/search sorted by hs_lastmodifieddate; at HubSpot's
        10,000-result cap it starts a new search from the last timestamp it saw (a company at that
        boundary is not yielded twice). Raises DeliveryError when the CRM refuses or fails."""
        from hubspot.crm.companies import Filter, FilterGroup, PublicObjectSearchRequest

        since_ms = to_epoch_ms(since) if since is not None else 0
        seen_at_boundary: set[str] = set()
        while True:
            after: str | None = None
            window = 0
            last_ms = since_ms
            at_last: set[str] = set()
            while True:
                request = PublicObjectSearchRequest(
                    filter_groups=[
                        FilterGroup(
                            filters=[
                                Filter(property_name=MODIFIED, operator="GTE", value=str(since_ms)),
                                Filter(property_name=ID_PROPERTY, operator="HAS_PROPERTY"),
                            ]
                        )
                    ],
                    sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                    properties=list(OUTCOME_PROPERTIES),
                    limit=SEARCH_PAGE,
                    after=after,
                )
                page = self._search(request)
                results = page.get("results") or []
                for company in results:
                    stamp = to_epoch_ms((company.get("properties") or {}).get(MODIFIED))
                    if stamp is not None and stamp > last_ms:
                        last_ms, at_last = stamp, set()
                    at_last.add(str(company.get("id")))
                    if stamp == since_ms and str(company.get("id")) in seen_at_boundary:
                        continue  # yielded by the previous window already
                    yield company
                window += len(results)
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            if window < SEARCH_CAP or int(page.get("total") or 0) <= window:
                return
            if last_ms == since_ms:
                raise DeliveryError(
                    f"hubspot search: more than {SEARCH_CAP:,} companies share {MODIFIED}={since_ms}"
                )
            since_ms, seen_at_boundary = last_ms, at_last

    def _search(self, request: Any) -> dict[str, Any]:
        """One search page as the JSON HubSpot sent (retried by the client on 429 and 5xx; a malformed 200
        is read again, since a search changes nothing, up to PROPERTY_READ_ATTEMPTS times)."""
        for attempt in range(1, PROPERTY_READ_ATTEMPTS + 1):
            try:
                return self._search_once(request)
            except DeliveryError as exc:
                if exc.refused or attempt == PROPERTY_READ_ATTEMPTS or "malformed reply" not in str(exc):
                    raise
                log.warning(
                    "hubspot company search: attempt %d/%d failed: %s", attempt, PROPERTY_READ_ATTEMPTS, exc
                )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _search_once(self, request: Any) -> dict[str, Any]:
        from hubspot.crm.companies import ApiException

        what = "hubspot company search"
        self.gate.acquire()
        try:
            resp = self._client.crm.companies.search_api.do_search(
                public_object_search_request=request, _preload_content=False
            )
            self.gate.observe(resp.headers)
            raw = resp.data
        except ApiException as exc:
            self.gate.observe(exc.headers)
            message = _crm_message(exc.body, exc.reason)
            raise DeliveryError(f"{what} failed: HTTP {exc.status}: {message}", exc.status) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends, after the retries ran out
            self.gate.release()
            raise DeliveryError(f"{what} failed: {type(exc).__name__}: {exc}") from None
        try:
            page = json.loads(raw)
        except ValueError:
            page = None
        if not isinstance(page, dict) or not isinstance(page.get("results"), list):
            raise DeliveryError(f"{what} failed: malformed reply (a 200 without a results list)")
        return page

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """One single-object call (a `*_with_http_info` method: object, status, headers): CRM errors and
        exhausted retries as DeliveryError, reply shape checked."""
        from hubspot.crm.companies import ApiException, SimplePublicObject

        self.gate.acquire()
        try:
            resp, _, headers = call()
            self.gate.observe(headers)
        except ApiException as exc:
            self.gate.observe(exc.headers)
            message = _crm_message(exc.body, exc.reason)
            raise DeliveryError(f"{what} failed: HTTP {exc.status}: {message}", exc.status) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends, after the retries ran out
            self.gate.release()
            raise DeliveryError(f"{what} failed: {type(exc).__name__}: {exc}") from None
        # A truncated 200 body deserialises to a plain string: the call may not have been applied.
        if not isinstance(resp, SimplePublicObject) or not resp.id:
            raise DeliveryError(f"{what} failed: malformed reply (a 200 without the company)")
        return resp


def to_epoch_ms(value: datetime | str | int | None) -> int | None:
    """A HubSpot timestamp (ISO-8601 with Z, or epoch milliseconds) or a datetime as epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
