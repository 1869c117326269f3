"""HubSpot CRM v3 companies through the official client: batch upsert on a unique leadlake id property,
merge of two companies (when two leads turn out to be one business), re-keying a company to a lead, and
reading back what sales did with them (`pull_changes`: the CRM search API, by hs_lastmodifieddate).

Every call goes through a RateGate that paces the destination's requests (every thread's, retries included)
at the rate HubSpot's X-HubSpot-RateLimit-* headers announce, so concurrent batches stay under the app's
limit instead of collecting 429s; a 429 still waits out its Retry-After (urllib3 Retry)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from urllib3.util.retry import Retry

from leadlake.connectors.destinations.base import DeliveryError, UpsertResult

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
# Canonical gold field -> HubSpot company property (mapping as data; custom properties start with leadlake_).
FIELD_MAP: Mapping[str, str] = {
    "name": "name",
    "domain": "domain",
    "website": "website",
    "phone_e164": "phone",
    "address_line1": "address",
    "city": "city",
    "region": "state",
    "postal": "zip",
    "country": "country",
    "lead_score": "leadlake_score",
    "priority_tier": "leadlake_tier",
    "score_reasons": "leadlake_score_reasons",
    "providers": "leadlake_sources",
}


def _message(exc: Any) -> str:
    """The CRM's own message from an ApiException body (JSON `message`), else the body or reason."""
    import json

    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.body or exc.reason)


def to_properties(lead: Mapping[str, Any]) -> dict[str, str]:
    """Gold row -> HubSpot property values (strings; lists joined; empty values left out)."""
    props = {}
    for field, prop in FIELD_MAP.items():
        value = lead.get(field)
        if hasattr(value, "tolist"):  # numpy arrays and scalars (np.int64 too) as plain Python values
            value = value.tolist()
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        props[prop] = str(value)
    return props


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
    """Batch upserts of companies, idempotent on the leadlake_id unique property; merges and re-keys."""

    name = "hubspot"

    def __init__(
        self,
        access_token: str,
        base_url: str = "https://api.hubapi.com",
        max_retries: int = 6,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        from hubspot import HubSpot

        self.max_in_flight = max(1, max_in_flight)  # delivery's concurrent batches to this destination
        self.gate = RateGate()
        retry = PacedRetry(
            total=max_retries,
            backoff_factor=0.3,
            status_forcelist=(429, 500, 502, 503, 504),
            # Upsert is idempotent on the unique id, re-keying is a plain PATCH and merging an id that was
            # already merged into the primary is harmless: every method may be retried.
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.gate = self.gate
        self._client = HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=retry)

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Upsert up to 100 leads in one call; returns the CRM id of each."""
        from hubspot.crm.companies import ApiException, BatchInputSimplePublicObjectBatchInputUpsert

        if len(leads) > BATCH_LIMIT:
            raise ValueError(f"a HubSpot batch holds at most {BATCH_LIMIT} inputs, got {len(leads)}")
        inputs = [
            {
                "idProperty": ID_PROPERTY,
                "id": lead["lead_id"],
                "properties": to_properties(lead) | {ID_PROPERTY: lead["lead_id"]},
            }
            for lead in leads
        ]
        self.gate.acquire()
        try:
            resp, _, headers = self._client.crm.companies.batch_api.upsert_with_http_info(
                BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
            )
            self.gate.observe(headers)
        except ApiException as exc:
            self.gate.observe(exc.headers)
            raise DeliveryError(
                f"hubspot batch upsert failed: HTTP {exc.status}: {_message(exc)}", exc.status
            ) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends, after the retries ran out
            self.gate.release()
            raise DeliveryError(f"hubspot batch upsert failed: {type(exc).__name__}: {exc}") from None
        # A 200 whose body is not the documented batch reply (truncated JSON, no results list) fails this
        # batch only: the caller keeps it out of the ledger and the next run sends it again.
        results = getattr(resp, "results", None)
        if not isinstance(results, list):
            raise DeliveryError("hubspot batch upsert failed: malformed reply (a 200 without a results list)")
        crm_ids, new_ids = {}, set()
        for result in results:
            props = result.properties or {}
            lead_id = props.get(ID_PROPERTY)
            if lead_id:
                crm_ids[lead_id] = result.id
                if getattr(result, "new", False):
                    new_ids.add(lead_id)
        missing = {lead["lead_id"] for lead in leads} - set(crm_ids)
        if missing:
            raise DeliveryError(f"hubspot did not return {len(missing)} of {len(leads)} upserted companies")
        return UpsertResult(crm_ids, len(new_ids), len(crm_ids) - len(new_ids), frozenset(new_ids))

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
        """Every company with a leadlake id modified at or after `since` (None: all), oldest change first,
        as the raw JSON objects the search API answers (id, properties, createdAt, updatedAt, archived).

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
        """One search page as the JSON HubSpot sent (retried by the client on 429 and 5xx)."""
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
