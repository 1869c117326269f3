"""Google Places API (New) Text Search adapter: `POST /v1/places:searchText`, field mask, page tokens."""

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
from leadlake.core.normalize import is_toll_free, normalize_name, normalize_phone, registered_domain

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

PLACE_FIELDS: tuple[str, ...] = (
    "id",
    "displayName",
    "formattedAddress",
    "addressComponents",
    "location",
    "nationalPhoneNumber",
    "internationalPhoneNumber",
    "websiteUri",
    "rating",
    "userRatingCount",
    "types",
    "primaryType",
    "businessStatus",
)
SEARCH_FIELD_MASK = ",".join([f"places.{f}" for f in PLACE_FIELDS] + ["nextPageToken"])
DETAILS_FIELD_MASK = ",".join(PLACE_FIELDS)
MAX_RADIUS_M = 50_000.0
PAGE_SIZE = 20


class _Text(BaseModel):
    text: StrictStr


class _LatLng(BaseModel):
    latitude: StrictFloat = Field(ge=-90, le=90)
    longitude: StrictFloat = Field(ge=-180, le=180)


class _Component(BaseModel):
    longText: StrictStr | None = None
    shortText: StrictStr | None = None
    types: list[StrictStr] = []


class GooglePlace(BaseModel):
    """The parts of a Place we rely on; anything else may vary freely."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr = Field(min_length=1)
    displayName: _Text
    location: _LatLng
    formattedAddress: StrictStr | None = None
    addressComponents: list[_Component] | None = None
    nationalPhoneNumber: StrictStr | None = None
    internationalPhoneNumber: StrictStr | None = None
    websiteUri: StrictStr | None = None
    rating: StrictFloat | None = Field(None, ge=0, le=5)
    userRatingCount: StrictInt | None = Field(None, ge=0)
    types: list[StrictStr] | None = None
    primaryType: StrictStr | None = None


def _validate_search_body(body: dict[str, Any]) -> str | None:
    # Google answers `{}` when nothing matched, so a missing list is fine; a non-list is not.
    if "places" in body and not isinstance(body["places"], list):
        return f"'places' is a {type(body['places']).__name__}, expected a list"
    unknown = set(body) - {"places", "nextPageToken", "searchUri", "contextualContents", "routingSummaries"}
    if unknown and "places" not in body:
        return f"response lacks 'places' and has unexpected keys {sorted(unknown)}"
    return None


def _components(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """addressComponents keyed by their first type."""
    out: dict[str, dict[str, Any]] = {}
    comps = payload.get("addressComponents")
    for comp in comps if isinstance(comps, list) else []:
        if isinstance(comp, dict):
            for kind in comp.get("types") or []:
                out.setdefault(kind, comp)
    return out


Components = Mapping[str, Mapping[str, Any]]


def _component_text(comps: Components, kinds: tuple[str, ...], short: bool) -> str | None:
    for kind in kinds:
        comp = comps.get(kind)
        if comp:
            text = clean_text(comp.get("shortText" if short else "longText") or comp.get("longText"))
            if text:
                return text
    return None


def _street_line(comps: Components, formatted: str | None) -> str | None:
    number = _component_text(comps, ("street_number",), short=True)
    route = _component_text(comps, ("route",), short=True)
    if number or route:
        return " ".join(p for p in (number, route) if p)
    # Without components, the formatted address starts with the street line ("12 Main St, Denver, ...").
    return clean_text(formatted.split(",")[0]) if formatted and "," in formatted else None


def _categories(payload: Mapping[str, Any]) -> list[str]:
    types = payload.get("types") if isinstance(payload.get("types"), list) else []
    ordered = [payload.get("primaryType"), *types]
    out: list[str] = []
    for t in ordered:
        if isinstance(t, str) and t.strip() and t.strip().lower() not in out:
            out.append(t.strip().lower())
    return out


class GooglePlacesAdapter(HttpAdapterBase):
    """Text Search (New) per campaign area and keyword; pages via nextPageToken (Google stops at 60)."""

    name: ClassVar[str] = "google_places"
    query_limits: ClassVar[QueryLimits] = QueryLimits(MAX_RADIUS_M / 1000.0, PAGE_SIZE, 60)  # 3 pages max

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        rate: RateLimitPolicy | None = None,
        page_size: int = PAGE_SIZE,
        **http_opts: Any,
    ) -> None:
        self.page_size = max(1, min(PAGE_SIZE, page_size))
        self._connect(
            api_key,
            base_url,
            rate,
            {"X-Goog-Api-Key": api_key, "Content-Type": "application/json"},
            http_opts,
        )

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]:
        """One Text Search per area tile and keyword; areas wider than 50 km are tiled so none is cut."""
        queries = []
        for area in campaign.areas:
            tiles = tiles_for(area, MAX_RADIUS_M / 1000.0) or [None]  # no centre: the city name alone
            for keyword in campaign.keywords:
                for tile in tiles:
                    params: dict[str, Any] = {
                        "textQuery": f"{keyword} in {area.city}, {area.region}",
                        "pageSize": self.page_size,
                    }
                    if tile is not None:
                        centre = {"latitude": tile.center_lat, "longitude": tile.center_lon}
                        radius = tile.radius_km * 1000.0
                        params["locationBias"] = {"circle": {"center": centre, "radius": radius}}
                    queries.append(ProviderQuery.build(self.name, params))
        return queries

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        """One page of a Text Search; `cursor` is the previous page's nextPageToken."""
        body = dict(query.params)
        if cursor:
            body["pageToken"] = cursor
        data, calls = self._http.request_json(
            "POST",
            "/v1/places:searchText",
            json=body,
            headers={"X-Goog-FieldMask": SEARCH_FIELD_MASK},
            validate=_validate_search_body,
        )
        items = [validate_item(p, GooglePlace) for p in data.get("places") or []]
        token = data.get("nextPageToken")
        return Page(query, cursor, items, token if isinstance(token, str) and token else None, calls)

    def fetch_details(self, place_id: str) -> RawItem:
        """Place Details (New) for one place id, validated like a search item."""
        data, _ = self._http.request_json(
            "GET", f"/v1/places/{place_id}", headers={"X-Goog-FieldMask": DETAILS_FIELD_MASK}
        )
        return validate_item(data, GooglePlace)

    @staticmethod
    def normalize(payload: Mapping[str, Any] | str) -> SourceRecord:
        """A Place (dict or its JSON text) as a silver SourceRecord; pure, tolerant of missing fields."""
        p = as_payload(payload)
        key = p.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError("google_places payload has no 'id'")
        display = p.get("displayName")
        name = clean_text(display.get("text") if isinstance(display, dict) else display)
        comps = _components(p)
        country = (_component_text(comps, ("country",), short=True) or "").upper() or None
        phone = normalize_phone(p.get("internationalPhoneNumber"), country or "US") or normalize_phone(
            p.get("nationalPhoneNumber"), country or "US"
        )
        website = clean_text(p.get("websiteUri"))
        loc = p.get("location") if isinstance(p.get("location"), dict) else {}
        return SourceRecord(
            record_id=f"google_places:{key}",
            provider="google_places",
            provider_key=key,
            name=name,
            name_norm=normalize_name(name),
            phone_e164=phone,
            phone_is_toll_free=is_toll_free(phone),
            website=website,
            domain=registered_domain(website),
            address_line1=_street_line(comps, clean_text(p.get("formattedAddress"))),
            city=_component_text(comps, ("locality", "postal_town", "sublocality"), short=False),
            region=_component_text(comps, ("administrative_area_level_1",), short=True),
            postal=us_postal(_component_text(comps, ("postal_code",), short=False), country),
            country=country,
            lat=as_float(loc.get("latitude")),
            lon=as_float(loc.get("longitude")),
            rating=as_float(p.get("rating")),
            review_count=as_int(p.get("userRatingCount")),
            categories=_categories(p),
        )
