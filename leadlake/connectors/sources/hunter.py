"""Hunter domain search adapter: `GET /v2/domain-search`, `api_key` parameter, limit/offset paging."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from leadlake.connectors.sources.base import (
    HttpAdapterBase,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    as_payload,
    clean_text,
    validate_item,
)
from leadlake.connectors.sources.enrichment_base import (
    EnrichmentRecord,
    distinct_queries,
    iter_leads,
    lead_domain,
)

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

SEARCH_PATH = "/v2/domain-search"
MAX_LIMIT = 100
# Domains whose mailboxes belong to their users, not to the lead: a domain search there is wasted credit.
SKIP_DOMAINS = frozenset(
    {
        "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "facebook.com",
        "instagram.com", "yelp.com", "google.com", "linktr.ee", "wixsite.com", "square.site",
        "godaddysites.com",
    }
)  # fmt: skip
# Shared mailboxes that belong to a function (sales, billing) rather than being the catch-all front door.
ROLE_MAILBOXES = frozenset(
    {"sales", "support", "billing", "accounts", "accounting", "careers", "jobs", "hr", "marketing", "press",
     "orders", "service", "booking", "bookings", "reservations", "appointments", "help"}
)  # fmt: skip
VERIFIED = {"valid": True, "invalid": False}  # accept_all and unknown prove nothing either way


class _Verification(BaseModel):
    date: StrictStr | None = None
    status: Literal["valid", "accept_all", "unknown", "invalid", "webmail", "disposable"] | None = None


class _Email(BaseModel):
    model_config = ConfigDict(extra="allow")

    value: StrictStr = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    type: Literal["personal", "generic"] | None = None
    confidence: StrictInt | None = Field(None, ge=0, le=100)
    first_name: StrictStr | None = None
    last_name: StrictStr | None = None
    position: StrictStr | None = None
    verification: _Verification | None = None


class HunterDomain(BaseModel):
    """The parts of a Hunter domain-search `data` object we rely on; anything else may vary freely."""

    model_config = ConfigDict(extra="allow")

    domain: StrictStr = Field(min_length=3)
    accept_all: StrictBool | None = None
    pattern: StrictStr | None = None
    organization: StrictStr | None = None
    emails: list[_Email]


def _validate_search_body(body: dict[str, Any]) -> str | None:
    data, meta = body.get("data"), body.get("meta")
    if not isinstance(data, dict):
        return f"'data' object expected, got {type(data).__name__ if 'data' in body else 'missing'}"
    if not isinstance(data.get("emails"), list):
        return "'data.emails' list expected"
    results = meta.get("results") if isinstance(meta, dict) else None
    if results is not None and (not isinstance(results, int) or isinstance(results, bool)):
        return f"'meta.results' is a {type(results).__name__}, expected an integer"
    return None


def email_type(value: str, hunter_type: Any) -> str:
    """ "personal", or for shared inboxes "role" (sales@, billing@) vs "generic" (info@, contact@)."""
    if hunter_type == "personal":
        return "personal"
    local = value.split("@", 1)[0].lower()
    return "role" if local in ROLE_MAILBOXES else "generic"


class HunterAdapter(HttpAdapterBase):
    """Email discovery per website domain; pages by offset until `meta.results` is reached."""

    name: ClassVar[str] = "hunter"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        page_size: int = MAX_LIMIT,
        type_filter: Literal["personal", "generic"] | None = None,
        **http_opts: Any,
    ) -> None:
        self._api_key = api_key
        self.page_size = max(1, min(MAX_LIMIT, page_size))
        self.type_filter = type_filter
        self._connect(api_key, base_url, rate, {"Accept": "application/json"}, http_opts)

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        """None: Hunter enriches leads, it does not discover them."""
        return []

    def lookup_queries(self, leads: Iterable[Mapping[str, Any]]) -> list[ProviderQuery]:
        """One domain search per distinct website domain; leads without one (or on webmail) are skipped."""
        queries = []
        for lead in iter_leads(leads):
            domain = lead_domain(lead)
            if not domain or domain in SKIP_DOMAINS:
                continue
            params: dict[str, Any] = {"domain": domain, "limit": self.page_size}
            if self.type_filter:
                params["type"] = self.type_filter
            queries.append(ProviderQuery.build(self.name, params))
        return distinct_queries(queries)

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        """One page of a domain search; `cursor` is the offset as text.

        The page's item is Hunter's `data` object with that page's emails, keyed "domain#offset" so that
        every page of a domain lands in bronze; a domain Hunter knows nothing about gives no items.
        """
        offset = int(cursor) if cursor else 0
        params = {**query.params, "api_key": self._api_key}
        if offset:
            params["offset"] = offset
        body, calls = self._http.request_json(
            "GET", SEARCH_PATH, params=params, validate=_validate_search_body
        )
        data, meta = body["data"], body.get("meta") if isinstance(body.get("meta"), dict) else {}
        emails = data["emails"]
        items = []
        if emails or (offset == 0 and data.get("organization")):
            item = validate_item(data, HunterDomain, key_field="domain")
            domain = data.get("domain") if isinstance(data.get("domain"), str) else query.params.get("domain")
            items.append(dataclasses.replace(item, provider_key=f"{domain}#{offset}"))
        total = meta.get("results")
        nxt = offset + len(emails)
        more = bool(emails) and (nxt < total if isinstance(total, int) else len(emails) >= self.page_size)
        return Page(query, cursor, items, str(nxt) if more else None, calls)

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> EnrichmentRecord:
        """A Hunter `data` object (bare or `{"data": ...}`, dict or JSON text) as an EnrichmentRecord.

        One page gives that page's emails; `merge_records` folds a domain's pages together.
        """
        d = as_payload(payload)
        if isinstance(d.get("data"), dict):
            d = d["data"]
        domain = (clean_text(d.get("domain")) or "").lower()
        if not domain:
            raise ValueError("hunter payload has no 'domain'")
        emails: list[dict[str, Any]] = []
        verified_on_domain = False
        seen: set[str] = set()
        for e in d.get("emails") if isinstance(d.get("emails"), list) else []:
            value = (clean_text(e.get("value")) if isinstance(e, dict) else None) or ""
            value = value.lower()
            if "@" not in value or value in seen:
                continue
            seen.add(value)
            ver = e.get("verification") if isinstance(e.get("verification"), dict) else {}
            status = ver.get("status")
            emails.append(
                {"value": value, "type": email_type(value, e.get("type")), "verified": VERIFIED.get(status)}
            )
            verified_on_domain |= status == "valid" and value.endswith("@" + domain)
        return EnrichmentRecord(
            provider="hunter",
            provider_key=domain,
            lookup_key=domain,
            name=clean_text(d.get("organization")),
            emails=emails,
            email_verified_domain=verified_on_domain,
        )
