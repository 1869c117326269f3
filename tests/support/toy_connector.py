"""A toy discovery connector: the one module a new provider needs (the sandbox side is toy_sandbox.py).

It speaks the toy API (`GET /toy/v1/search?q=&limit=`, bearer key) and normalises its items to silver's
SourceRecord; its spec (credentials, bronze table, rate, price) is registered by the test that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from leadlake.connectors.sources.base import (
    HttpAdapterBase,
    Page,
    ProviderQuery,
    RateLimitPolicy,
    SourceRecord,
    as_payload,
    clean_text,
    validate_item,
)
from leadlake.core.normalize import normalize_name

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec


class ToyItem(BaseModel):
    """What the toy API promises for each item."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr = Field(min_length=1)
    name: StrictStr = Field(min_length=1)
    city: StrictStr | None = None


def _validate_body(body: dict[str, Any]) -> str | None:
    return None if isinstance(body.get("items"), list) else "'items' list expected"


class ToyAdapter(HttpAdapterBase):
    """One search per campaign keyword, no paging."""

    name: ClassVar[str] = "toy"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        **http_opts: Any,
    ) -> None:
        self._connect(api_key, base_url, rate, {"Authorization": f"Bearer {api_key}"}, http_opts)

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        return [ProviderQuery.build(self.name, {"q": k, "limit": 50}) for k in campaign.keywords]

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        data, calls = self._http.request_json(
            "GET", "/toy/v1/search", params=query.params, validate=_validate_body
        )
        return Page(query, cursor, [validate_item(i, ToyItem) for i in data["items"]], None, calls)

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> SourceRecord:
        item = as_payload(payload)
        key, name = item.get("id"), clean_text(item.get("name"))
        if not isinstance(key, str) or not key:
            raise ValueError("toy payload has no 'id'")
        return SourceRecord(
            record_id=f"toy:{key}",
            provider="toy",
            provider_key=key,
            name=name,
            name_norm=normalize_name(name),
            phone_e164=None,
            phone_is_toll_free=False,
            website=None,
            domain=None,
            address_line1=None,
            city=clean_text(item.get("city")),
            region=None,
            postal=None,
            country="US",
            lat=None,
            lon=None,
            rating=None,
            review_count=None,
            categories=[],
        )
