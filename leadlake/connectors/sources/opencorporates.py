"""OpenCorporates company search adapter: `GET /v0.4/companies/search`, `api_token` param, page numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from leadlake.connectors.sources.base import (
    HttpAdapterBase,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    RawItem,
    as_payload,
    clean_text,
    validate_item,
)
from leadlake.connectors.sources.enrichment_base import (
    EnrichmentRecord,
    distinct_queries,
    iter_leads,
    jurisdiction_for,
    region_code,
)
from leadlake.core.normalize import normalize_name

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

MAX_PER_PAGE = 100
SEARCH_PATH = "/v0.4/companies/search"
DATE = r"^\d{4}-\d{2}-\d{2}$"
# Register wording for a company that no longer exists, lowercase substrings of `current_status`.
DEAD_STATUSES = ("dissolved", "struck", "revoked", "cancel", "withdrawn", "merged", "terminated")
LIVE_STATUSES = ("active", "good standing", "registered", "in existence", "exists", "current")


class OpenCorporatesCompany(BaseModel):
    """The parts of an OpenCorporates `company` object we rely on; anything else may vary freely."""

    model_config = ConfigDict(extra="allow")

    name: StrictStr = Field(min_length=1)
    company_number: StrictStr = Field(min_length=1)
    jurisdiction_code: StrictStr = Field(min_length=2)
    incorporation_date: StrictStr | None = Field(None, pattern=DATE)
    dissolution_date: StrictStr | None = Field(None, pattern=DATE)
    company_type: StrictStr | None = None
    current_status: StrictStr | None = None
    inactive: StrictBool | None = None
    branch: StrictStr | None = None
    registered_address_in_full: StrictStr | None = None
    opencorporates_url: StrictStr | None = None


def _validate_search_body(body: dict[str, Any]) -> str | None:
    results = body.get("results")
    if not isinstance(results, dict):
        return f"'results' object expected, got {type(results).__name__ if 'results' in body else 'missing'}"
    if not isinstance(results.get("companies"), list):
        return "'results.companies' list expected"
    for name in ("page", "total_pages"):
        value = results.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"'results.{name}' is a {type(value).__name__}, expected an integer"
    return None


def _company_item(entry: Any) -> RawItem:
    """One search result, unwrapped from `{"company": {...}}`, keyed "jurisdiction/company_number"."""
    company = (
        entry["company"] if isinstance(entry, dict) and isinstance(entry.get("company"), dict) else entry
    )
    item = validate_item(company, OpenCorporatesCompany, key_field="company_number")
    if isinstance(company, dict):
        jur, number = company.get("jurisdiction_code"), company.get("company_number")
        if isinstance(jur, str) and jur and isinstance(number, str) and number:
            return dataclasses.replace(item, provider_key=f"{jur}/{number}")
    return item


def company_status(company: Mapping[str, Any]) -> str | None:
    """ "dissolved", "inactive" or "active" from the register's dissolution date, status text and flag."""
    status = (clean_text(company.get("current_status")) or "").lower()
    if clean_text(company.get("dissolution_date")) or any(w in status for w in DEAD_STATUSES):
        return "dissolved"
    if company.get("inactive") is True or "inactive" in status:
        return "inactive"
    if company.get("inactive") is False or any(w in status for w in LIVE_STATUSES):
        return "active"
    return None


class OpenCorporatesAdapter(HttpAdapterBase):
    """Legal-entity lookups by company name within a US state's register; pages by page number."""

    name: ClassVar[str] = "opencorporates"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        page_size: int = MAX_PER_PAGE,
        **http_opts: Any,
    ) -> None:
        self._api_token = api_key
        self.page_size = max(1, min(MAX_PER_PAGE, page_size))
        self._connect(api_key, base_url, rate, {"Accept": "application/json"}, http_opts)

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        """None: OpenCorporates enriches leads, it does not discover them."""
        return []

    def lookup_queries(self, leads: Iterable[Mapping[str, Any]]) -> list[ProviderQuery]:
        """One search per distinct normalised name and state (leads outside the US search every register)."""
        queries = []
        for lead in iter_leads(leads):
            params = self.search_params(lead, self.page_size)
            if params is not None:
                queries.append(ProviderQuery.build(self.name, params))
        return distinct_queries(queries)

    @staticmethod
    def search_params(lead: Mapping[str, Any], per_page: int = MAX_PER_PAGE) -> dict[str, Any] | None:
        """The company search a lead asks for: its normalised name, in its US state's register when it has
        one; None for a lead without a name."""
        q = normalize_name(clean_text(lead.get("name")))
        if not q:
            return None
        params: dict[str, Any] = {"q": q, "per_page": per_page}
        jurisdiction = jurisdiction_for(lead.get("region"), lead.get("country") or "US")
        if jurisdiction:
            params["jurisdiction_code"] = jurisdiction
        return params

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        """One page of a company search; `cursor` is the 1-based page number as text."""
        page = int(cursor) if cursor else 1
        params = {**query.params, "page": page, "api_token": self._api_token}
        data, calls = self._http.request_json(
            "GET", SEARCH_PATH, params=params, validate=_validate_search_body
        )
        results = data["results"]
        companies = results["companies"]
        items = [_company_item(c) for c in companies]
        total_pages = results.get("total_pages")
        more = bool(companies) and (total_pages is None or page < total_pages)
        return Page(query, cursor, items, str(page + 1) if more else None, calls)

    def fetch_company(self, jurisdiction_code: str, company_number: str) -> RawItem:
        """One company by its register identity, validated like a search item."""
        path = f"/v0.4/companies/{jurisdiction_code}/{company_number}"
        data, _ = self._http.request_json("GET", path, params={"api_token": self._api_token})
        results = data.get("results") if isinstance(data.get("results"), dict) else {}
        return _company_item(results.get("company", results))

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> EnrichmentRecord:
        """An OpenCorporates company (bare or `{"company": ...}`; dict or JSON) as an EnrichmentRecord."""
        c = as_payload(payload)
        if isinstance(c.get("company"), dict):
            c = c["company"]
        jur, number = clean_text(c.get("jurisdiction_code")), clean_text(c.get("company_number"))
        if not jur or not number:
            raise ValueError("opencorporates payload has no 'jurisdiction_code' and 'company_number'")
        jur = jur.lower()
        name = clean_text(c.get("name"))
        region = region_code(jur[3:]) if jur.startswith("us_") else None
        incorporated = clean_text(c.get("incorporation_date"))
        return EnrichmentRecord(
            provider="opencorporates",
            provider_key=f"{jur}/{number}",
            lookup_key=f"{normalize_name(name)}|{region or ''}",
            name=name,
            legal_name=name,
            registration_id=number,
            jurisdiction=jur,
            company_status=company_status(c),
            founded_year=int(incorporated[:4]) if incorporated and incorporated[:4].isdigit() else None,
        )
