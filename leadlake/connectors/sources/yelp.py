"""Yelp Fusion business search adapter: `GET /v3/businesses/search`, bearer auth, limit/offset paging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from leadlake.connectors.sources.base import (
    HttpAdapterBase,
    Page,
    ProviderQuery,
    QueryLimits,
    RateLimitPolicy,
    RawItem,
    SourceRecord,
    as_float,
    as_int,
    as_payload,
    clean_text,
    us_postal,
    validate_item,
)
from leadlake.core.geo import tiles_for
from leadlake.core.normalize import is_toll_free, normalize_name, normalize_phone

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

MAX_LIMIT = 50
MAX_DEPTH = 240  # Yelp rejects limit + offset > 240
MAX_RADIUS_M = 40_000


class _Coordinates(BaseModel):
    latitude: StrictFloat = Field(ge=-90, le=90)
    longitude: StrictFloat = Field(ge=-180, le=180)


class _Category(BaseModel):
    alias: StrictStr
    title: StrictStr | None = None


class _Location(BaseModel):
    address1: StrictStr | None = None
    address2: StrictStr | None = None
    address3: StrictStr | None = None
    city: StrictStr | None = None
    zip_code: StrictStr | None = None
    country: StrictStr | None = None
    state: StrictStr | None = None
    display_address: list[StrictStr] | None = None


class YelpBusiness(BaseModel):
    """The parts of a Yelp business we rely on; anything else may vary freely."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr = Field(min_length=1)
    name: StrictStr = Field(min_length=1)
    coordinates: _Coordinates
    rating: StrictFloat | None = Field(None, ge=0, le=5)
    review_count: StrictInt | None = Field(None, ge=0)
    categories: list[_Category] | None = None
    location: _Location | None = None
    phone: StrictStr | None = None
    display_phone: StrictStr | None = None
    url: StrictStr | None = None


def _validate_search_body(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("businesses"), list):
        got = type(body["businesses"]).__name__ if "businesses" in body else "missing"
        return f"'businesses' list expected, got {got}"
    total = body.get("total")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
        return f"'total' is a {type(total).__name__}, expected an integer"
    return None


def _next_offset(offset: int, received: int, total: int | None) -> int | None:
    """Where the next page starts, or None at the end (no items, the total reached, or Yelp's 240 cap)."""
    nxt = offset + received
    end = min(total if total is not None else MAX_DEPTH, MAX_DEPTH)
    return nxt if received > 0 and nxt < end else None


class YelpAdapter(HttpAdapterBase):
    """Yelp business search per campaign area and keyword; pages by offset up to Yelp's 240-result depth."""

    name: ClassVar[str] = "yelp"
    query_limits: ClassVar[QueryLimits] = QueryLimits(MAX_RADIUS_M / 1000.0, MAX_LIMIT, MAX_DEPTH)
    # `distance` is measured from each search's centre, so one business differs between overlapping queries.
    volatile_fields: ClassVar[tuple[str, ...]] = ("distance",)

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        page_size: int = MAX_LIMIT,
        **http_opts: Any,
    ) -> None:
        self.page_size = max(1, min(MAX_LIMIT, page_size))
        self._connect(
            api_key,
            base_url,
            rate,
            {"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            http_opts,
        )

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        """One search per area tile and keyword (areas wider than 40 km are tiled), else the named city."""
        queries = []
        for area in campaign.areas:
            tiles = tiles_for(area, MAX_RADIUS_M / 1000.0) or [None]  # no centre: the city name alone
            for keyword in campaign.keywords:
                for tile in tiles:
                    params: dict[str, Any] = {"term": keyword, "limit": self.page_size}
                    if tile is not None:
                        # The epsilon keeps 39.96 km from flooring to 39959 m through float error.
                        radius = int(tile.radius_km * 1000.0 + 1e-6)
                        centre = {"latitude": tile.center_lat, "longitude": tile.center_lon}
                        params |= {**centre, "radius": radius}
                    else:
                        # A radius here would cut the city at an arbitrary distance from Yelp's chosen centre.
                        params["location"] = f"{area.city}, {area.region}"
                    queries.append(ProviderQuery.build(self.name, params))
        return queries

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        """One page of a business search; `cursor` is the offset as text."""
        offset = int(cursor) if cursor else 0
        params = dict(query.params)
        params["limit"] = min(int(params.get("limit", MAX_LIMIT)), MAX_DEPTH - offset)
        if params["limit"] <= 0:
            return Page(query, cursor, [], None, 0)
        if offset:
            params["offset"] = offset
        data, calls = self._http.request_json(
            "GET", "/v3/businesses/search", params=params, validate=_validate_search_body
        )
        businesses = data["businesses"]
        items = [validate_item(b, YelpBusiness) for b in businesses]
        nxt = _next_offset(offset, len(businesses), data.get("total"))
        return Page(query, cursor, items, str(nxt) if nxt is not None else None, calls)

    def fetch_details(self, business_id: str) -> RawItem:
        """Business details for one Yelp id, validated like a search item."""
        data, _ = self._http.request_json("GET", f"/v3/businesses/{business_id}")
        return validate_item(data, YelpBusiness)

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> SourceRecord:
        """A Yelp business (dict or its JSON text) as a silver SourceRecord; pure, tolerant of gaps.

        Yelp search carries no business website (`url` is the Yelp page), so website and domain stay None.
        """
        b = as_payload(payload)
        key = b.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError("yelp payload has no 'id'")
        name = clean_text(b.get("name"))
        loc = b.get("location") if isinstance(b.get("location"), dict) else {}
        country = (clean_text(loc.get("country")) or "").upper() or None
        phone = normalize_phone(b.get("phone"), country or "US") or normalize_phone(
            b.get("display_phone"), country or "US"
        )
        coords = b.get("coordinates") if isinstance(b.get("coordinates"), dict) else {}
        cats = b.get("categories") if isinstance(b.get("categories"), list) else []
        categories: list[str] = []
        for c in cats:
            alias = clean_text(c.get("alias") if isinstance(c, dict) else c)
            if alias and alias.lower() not in categories:
                categories.append(alias.lower())
        region = clean_text(loc.get("state"))
        return SourceRecord(
            record_id=f"yelp:{key}",
            provider="yelp",
            provider_key=key,
            name=name,
            name_norm=normalize_name(name),
            phone_e164=phone,
            phone_is_toll_free=is_toll_free(phone),
            website=None,
            domain=None,
            address_line1=clean_text(loc.get("address1")),
            city=clean_text(loc.get("city")),
            region=region.upper() if region else None,
            postal=us_postal(loc.get("zip_code"), country),
            country=country,
            lat=as_float(coords.get("latitude")),
            lon=as_float(coords.get("longitude")),
            rating=as_float(b.get("rating")),
            review_count=as_int(b.get("review_count")),
            categories=categories,
        )
