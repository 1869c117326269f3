"""People Data Labs company enrichment: `GET /v5/company/enrich`, `X-Api-Key` header, 404 = no match; and
bulk enrichment, `POST /v5/company/enrich/bulk` with up to 100 `{"params": ...}` requests, one answer each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from leadlake.connectors.http import ProviderAuthError, ProviderError
from leadlake.connectors.sources.base import (
    HttpAdapterBase,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    as_int,
    as_payload,
    clean_text,
    validate_item,
)
from leadlake.connectors.sources.enrichment_base import (
    EnrichmentRecord,
    distinct_queries,
    iter_leads,
    lead_domain,
    name_key,
)
from leadlake.core.normalize import registered_domain

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

ENRICH_PATH = "/v5/company/enrich"
BULK_PATH = "/v5/company/enrich/bulk"
BULK_MAX = 100  # PDL's documented cap of requests in one bulk enrichment
SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+")
# Tags that name a technology a company runs (PDL mixes them with free-text keywords); lowercase.
TECH_VOCABULARY = frozenset(
    {
        "shopify", "stripe", "wordpress", "woocommerce", "square", "squarespace", "wix", "bigcommerce",
        "magento", "paypal", "mailchimp", "klaviyo", "hubspot", "salesforce", "zendesk", "intercom",
        "google analytics", "google tag manager", "facebook pixel", "toast", "clover", "quickbooks",
        "godaddy", "weebly", "webflow", "calendly", "yelp reservations", "opentable",
    }
)  # fmt: skip
NO_MATCH_PHRASE = "no records were found"  # PDL's 404 message for "nothing matched" (vs a wrong path)


class _Location(BaseModel):
    name: StrictStr | None = None
    locality: StrictStr | None = None
    region: StrictStr | None = None
    country: StrictStr | None = None


class PdlCompany(BaseModel):
    """The parts of a PDL company record we rely on; anything else may vary freely."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr = Field(min_length=1)
    likelihood: StrictInt | None = Field(None, ge=0, le=10)
    name: StrictStr | None = None
    display_name: StrictStr | None = None
    website: StrictStr | None = None
    size: StrictStr | None = None
    employee_count: StrictInt | None = Field(None, ge=0)
    industry: StrictStr | None = None
    founded: StrictInt | None = Field(None, ge=1000, le=2100)
    location: _Location | None = None
    tags: list[StrictStr] | None = None
    linkedin_url: StrictStr | None = None


def _validate_enrich_body(body: dict[str, Any]) -> str | None:
    status = body.get("status")
    if status is not None and status != 200:
        return f"'status' is {status!r} in a 200 response"
    return None


def _validate_bulk_body(body: dict[str, Any]) -> str | None:
    for i, entry in enumerate(body["items"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("status"), int):
            return f"bulk answer {i} has no integer 'status'"
    return None


def tech_signals(tags: Any) -> list[str]:
    """The technology names among PDL's tags, lowercase, sorted, each once."""
    if not isinstance(tags, list):
        return []
    return sorted(
        {t.strip().lower() for t in tags if isinstance(t, str) and t.strip().lower() in TECH_VOCABULARY}
    )


class PdlAdapter(HttpAdapterBase):
    """Company enrichment by website domain, else by name and place; one request per lookup, no paging."""

    name: ClassVar[str] = "pdl"
    bulk_size: ClassVar[int] = BULK_MAX

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        min_likelihood: int | None = None,
        page_size: int | None = None,  # accepted for a uniform build_adapter call; enrichment has no pages
        **http_opts: Any,
    ) -> None:
        self.min_likelihood = min_likelihood
        self._connect(
            api_key, base_url, rate, {"X-Api-Key": api_key, "Accept": "application/json"}, http_opts
        )

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        """None: PDL enriches leads, it does not discover them."""
        return []

    def lookup_queries(self, leads: Iterable[Mapping[str, Any]]) -> list[ProviderQuery]:
        """One enrichment per distinct website domain; leads without one go by name, city and region."""
        queries = []
        for lead in iter_leads(leads):
            domain = lead_domain(lead)
            params: dict[str, Any]
            if domain:
                params = {"website": domain}
            else:
                name = clean_text(lead.get("name"))
                if not name:
                    continue
                params = {
                    "name": name,
                    "locality": clean_text(lead.get("city")),
                    "region": clean_text(lead.get("region")),
                }
                params = {k: v for k, v in params.items() if v is not None}
            if self.min_likelihood is not None:
                params["min_likelihood"] = self.min_likelihood
            queries.append(ProviderQuery.build(self.name, params))
        return distinct_queries(queries)

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        """The single page of an enrichment: one company, or no items when PDL has no match (404)."""
        try:
            data, calls = self._http.request_json(
                "GET", ENRICH_PATH, params=dict(query.params), validate=_validate_enrich_body
            )
        except ProviderAuthError:
            raise
        except ProviderError as exc:
            if exc.status == 404 and NO_MATCH_PHRASE in exc.message.lower():
                return Page(
                    query, cursor, [], None, 1
                )  # attempts before the 404 are not reported by the error
            raise  # 402 payment_required and friends: the caller must stop, not skip
        return Page(query, cursor, [validate_item(data, PdlCompany)], None, calls)

    def fetch_bulk(self, queries: list[ProviderQuery]) -> tuple[dict[str, Page], dict[str, str]]:
        """Up to BULK_MAX lookups in one request: ({fingerprint: its page}, {fingerprint: error}).

        Answers come back in request order, each with the `metadata` we sent (the query's fingerprint); a
        404 is "no match" (no items, not billed), another status is that lookup's error. The one request's
        attempts are reported on the first page.
        """
        if not 1 <= len(queries) <= BULK_MAX:
            raise ValueError(f"a PDL bulk enrichment takes 1 to {BULK_MAX} lookups, got {len(queries)}")
        body = {"requests": [{"params": dict(q.params), "metadata": {"fp": q.fingerprint}} for q in queries]}
        data, calls = self._http.request_json(
            "POST", BULK_PATH, json=body, validate=_validate_bulk_body, array=True
        )
        if len(data) != len(queries):
            raise ProviderError(self.name, 200, f"bulk answered {len(data)} of {len(queries)} lookups")
        by_fp = {q.fingerprint: q for q in queries}
        pages: dict[str, Page] = {}
        errors: dict[str, str] = {}
        for query, answer in zip(queries, data, strict=True):
            meta = answer.get("metadata") if isinstance(answer.get("metadata"), dict) else {}
            # The metadata we sent ties an answer to its request; the order is the fallback.
            q = by_fp.get(meta.get("fp"), query)
            status = answer["status"]
            spent = calls if not pages and not errors else 0
            if status == 200:
                # PDL's company answer is the record itself (status, likelihood, fields); accept `data` too.
                record = answer["data"] if isinstance(answer.get("data"), dict) else answer
                record = {k: v for k, v in record.items() if k != "metadata"}
                pages[q.fingerprint] = Page(q, None, [validate_item(record, PdlCompany)], None, spent)
            elif status == 404:
                pages[q.fingerprint] = Page(q, None, [], None, spent)
            else:
                err = answer.get("error") if isinstance(answer.get("error"), dict) else {}
                errors[q.fingerprint] = f"pdl: HTTP {status}: {err.get('message') or 'bulk lookup failed'}"
        return pages, errors

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> EnrichmentRecord:
        """A PDL company record (dict or JSON text) as an EnrichmentRecord; pure, tolerant of gaps."""
        c = as_payload(payload)
        key = c.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError("pdl payload has no 'id'")
        display = clean_text(c.get("display_name")) or clean_text(c.get("name"))
        domain = registered_domain(clean_text(c.get("website")))
        loc = c.get("location") if isinstance(c.get("location"), dict) else {}
        size = clean_text(c.get("size"))
        founded = as_int(c.get("founded"))
        by_name = name_key(display, loc.get("region"))
        return EnrichmentRecord(
            provider="pdl",
            provider_key=key,
            lookup_key=domain or by_name or key,
            name_key=by_name if domain else None,
            name=display,
            employees_range=size if size in SIZES else None,
            employee_count=as_int(c.get("employee_count")),
            industry=clean_text(c.get("industry")),
            founded_year=founded if founded and 1000 <= founded <= 2100 else None,
            tech_signals=tech_signals(c.get("tags")),
        )
