"""Google Places API (New): Text Search and Place Details, with field masks and opaque page tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from leadlake.sandbox.index import (
    Rectangle,
    apply_mask,
    categories_for_google_type,
    categories_in,
    cities_in,
    cities_near,
)
from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.state import SandboxState
from leadlake.sandbox.world import CITIES, GOOGLE, haversine_m

MAX_PAGE_SIZE = 20
MAX_BIAS_RADIUS_M = 50_000.0
# Fields a Place (New) may be asked for; absent ones are simply not returned.
PLACE_FIELDS = frozenset(
    """id name displayName formattedAddress shortFormattedAddress addressComponents location viewport plusCode
    nationalPhoneNumber internationalPhoneNumber websiteUri rating userRatingCount types primaryType
    primaryTypeDisplayName businessStatus googleMapsUri priceLevel regularOpeningHours currentOpeningHours
    utcOffsetMinutes adrFormatAddress iconMaskBaseUri iconBackgroundColor reviews photos editorialSummary
    attributions accessibilityOptions paymentOptions parkingOptions""".split()
)
FIELD_MASK_REQUIRED = (
    "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters on how to "
    "provide it. As an example, you can set the header 'X-Goog-FieldMask' to value 'places.displayName', "
    "'places.id' to ask for the display name and the id of a place. You can also set the value to '*' in "
    "manual testing to get all the available response fields."
)


def error(code: int, status: str, message: str, **extra: Any) -> Response:
    """A google.rpc.Status error body."""
    return Response(code, {"error": {"code": code, "message": message, "status": status, **extra}})


def invalid(message: str) -> Response:
    """400 INVALID_ARGUMENT."""
    return error(400, "INVALID_ARGUMENT", message)


def rate_limited() -> Response:
    """What Google answers when quota is exhausted."""
    return error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")


def unavailable(code: int) -> Response:
    """A transient server error."""
    if code == 503:
        return error(503, "UNAVAILABLE", "The service is currently unavailable.")
    return error(500, "INTERNAL", "Internal error encountered.")


def check_key(state: SandboxState, req: Request) -> Response | None:
    """Key from `X-Goog-Api-Key` (or `?key=`): missing is 403, wrong is 400 API_KEY_INVALID."""
    key = req.headers.get("X-Goog-Api-Key") or req.arg("key")
    if not key:
        return error(403, "PERMISSION_DENIED", "The request is missing a valid API key.")
    if key != state.keys[GOOGLE]:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "places.googleapis.com"},
            }
        ]
        return error(
            400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details=details
        )
    return None


def parse_mask(raw: str | None, prefix: str) -> dict | None | Response:
    """Field mask -> tree of wanted paths (None means everything); a Response on a bad path."""
    if raw is None or not raw.strip():
        return invalid(FIELD_MASK_REQUIRED)
    tree: dict = {}
    for path in (p.strip() for p in raw.split(",")):
        if not path:
            continue
        if path == "*":
            return None
        parts = path.split(".")
        if prefix:
            if parts[0] == "nextPageToken" and len(parts) == 1:
                tree["nextPageToken"] = None
                continue
            if parts[0] != prefix:
                return invalid(
                    f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."
                )
            parts = parts[1:]
            if not parts:  # "places" alone: every place field
                tree.setdefault(prefix, {})["*"] = None
                continue
        if parts[0] not in PLACE_FIELDS:
            return invalid(
                f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."
            )
        node = tree.setdefault(prefix, {}) if prefix else tree
        for part in parts[:-1]:
            child = node.get(part, {})
            if child is None:
                break
            node = node.setdefault(part, child)
        else:
            node[parts[-1]] = None
    return tree


def _token(query_hash: str, offset: int) -> str:
    raw = json.dumps([query_hash, offset]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        query_hash, offset = json.loads(raw)
        return (query_hash, offset) if isinstance(query_hash, str) and isinstance(offset, int) else None
    except (ValueError, TypeError):
        return None


def _point(obj: Any) -> tuple[float, float] | None:
    if not isinstance(obj, dict):
        return None
    lat, lon = obj.get("latitude", 0.0), obj.get("longitude", 0.0)
    if (
        not isinstance(lat, int | float)
        or not isinstance(lon, int | float)
        or abs(lat) > 90
        or abs(lon) > 180
    ):
        return None
    return float(lat), float(lon)


def _geometry(body: dict) -> tuple[tuple[float, float, float] | None, Rectangle | None] | Response:
    """The bias circle (lat, lon, radius) and the restriction rectangle of a request, validated."""
    bias, restriction = body.get("locationBias"), body.get("locationRestriction")
    if bias is not None and restriction is not None:
        return invalid("Only one of location_bias and location_restriction may be set.")
    circle = rect = None
    if isinstance(bias, dict) and "rectangle" in bias:
        restriction, bias = bias, None  # a rectangle bias filters like a restriction here
    if bias is not None:
        c = bias.get("circle") if isinstance(bias, dict) else None
        centre = _point(c.get("center")) if isinstance(c, dict) else None
        radius = c.get("radius", 0.0) if isinstance(c, dict) else None
        if centre is None or not isinstance(radius, int | float) or not 0 <= radius <= MAX_BIAS_RADIUS_M:
            return invalid("Invalid location_bias: circle radius must be between 0.0 and 50000.0, inclusive.")
        circle = (centre[0], centre[1], float(radius))
    if restriction is not None:
        r = restriction.get("rectangle") if isinstance(restriction, dict) else None
        low = _point(r.get("low")) if isinstance(r, dict) else None
        high = _point(r.get("high")) if isinstance(r, dict) else None
        if low is None or high is None or low[0] > high[0]:
            return invalid("Invalid location_restriction: a rectangle with a valid low and high is required.")
        rect = Rectangle(low[0], low[1], high[0], high[1])
    return circle, rect


def _matches(
    state: SandboxState, body: dict, circle: tuple | None, rect: Rectangle | None
) -> tuple[int, ...]:
    """Positions of matching places, best first, before the result cap."""
    idx = state.index.providers[GOOGLE]
    text: str = body["textQuery"]
    included = body.get("includedType")
    cats = categories_in(text)
    if included:
        by_type = categories_for_google_type(included)
        cats = (cats & by_type) if cats else by_type
    if not cats:
        return ()
    if rect is not None:
        cities = range(len(CITIES))
    elif cities_in(text):
        cities = cities_in(text)
    elif circle is not None:
        cities = cities_near(*circle)
    else:
        return ()
    min_rating = body.get("minRating")
    out = []
    for p in idx.candidates(cats, cities, near=circle):
        m = idx.metas[p]
        if rect is not None and not rect.contains(m.lat, m.lon):
            continue
        if circle is not None and haversine_m(circle[0], circle[1], m.lat, m.lon) > circle[2]:
            continue
        if isinstance(min_rating, int | float) and m.rating < min_rating:
            continue
        out.append(p)
    return tuple(out)


def search_text(state: SandboxState, req: Request) -> Response:
    """POST /v1/places:searchText."""
    denied = check_key(state, req)
    if denied:
        return denied
    mask = parse_mask(
        req.headers.get("X-Goog-FieldMask") or req.arg("fields") or req.arg("$fields"), "places"
    )
    if isinstance(mask, Response):
        return mask
    try:
        body = req.json()
    except ValueError:
        return invalid("Invalid JSON payload received.")
    if not isinstance(body, dict):
        return invalid("Invalid JSON payload received. Expected an object.")
    if not isinstance(body.get("textQuery"), str) or not body["textQuery"].strip():
        return invalid("Empty text_query.")
    page_size = body.get("pageSize") or body.get("maxResultCount") or MAX_PAGE_SIZE
    if not isinstance(page_size, int) or page_size < 0:
        return invalid("Invalid page_size: must be a non-negative integer.")
    page_size = min(page_size, MAX_PAGE_SIZE)  # the real API coerces larger sizes to 20
    geometry = _geometry(body)
    if isinstance(geometry, Response):
        return geometry
    bound = {k: v for k, v in body.items() if k not in ("pageToken", "pageSize", "maxResultCount")}
    query_hash = hashlib.sha256(json.dumps(bound, sort_keys=True).encode()).hexdigest()[:24]
    offset = 0
    if body.get("pageToken"):
        decoded = _untoken(str(body["pageToken"]))
        if decoded is None or decoded[0] != query_hash or decoded[1] < 0:
            return invalid("Invalid page token: it does not belong to this request.")
        offset = decoded[1]
    matches = state.index.cached((GOOGLE, query_hash), lambda: _matches(state, body, *geometry))
    matches = matches[: state.max_results[GOOGLE]]
    take = page_size
    if state.draw_truncation() and take > 1:
        take = max(1, take // 2)
    page = matches[offset : offset + take]
    # Assembled from per-place JSON memoised in the index: serialising places dominates a page's cost.
    parts = []
    if page and (mask is None or "places" in mask):
        idx = state.index.providers[GOOGLE]
        place_mask = None if mask is None else mask["places"]
        parts.append(b'"places":[' + b",".join(idx.encoded(p, place_mask) for p in page) + b"]")
    if offset + len(page) < len(matches) and (mask is None or "nextPageToken" in mask):
        parts.append(b'"nextPageToken":' + json.dumps(_token(query_hash, offset + len(page))).encode())
    return Response(200, b"{" + b",".join(parts) + b"}")


def place_details(state: SandboxState, req: Request) -> Response:
    """GET /v1/places/{place_id}."""
    denied = check_key(state, req)
    if denied:
        return denied
    mask = parse_mask(req.headers.get("X-Goog-FieldMask") or req.arg("fields") or req.arg("$fields"), "")
    if isinstance(mask, Response):
        return mask
    place_id = req.params["place_id"]
    pos = state.index.providers[GOOGLE].by_key.get(place_id)
    if pos is None:
        return error(404, "NOT_FOUND", f"Place ID '{place_id}' not found.")
    return Response(200, apply_mask(state.world.google_places[pos], mask))


def not_found(req: Request) -> Response:
    """What Google answers for a method it does not serve."""
    return error(404, "NOT_FOUND", f"Method not found: {req.method} {req.path}")


ROUTES = (
    route(GOOGLE, "POST", r"/v1/places:searchText", "google.searchText", search_text, paged=True),
    route(GOOGLE, "GET", r"/v1/places/(?P<place_id>[^/:]+)", "google.placeDetails", place_details),
)
PROVIDER = Provider(
    GOOGLE,
    "/v1/places",
    ROUTES,
    key="sandbox-google-places-key",
    max_results=60,  # Text Search stops after three pages of 20
    rate_limited=rate_limited,
    unavailable=unavailable,
    error_codes=(500, 503),
    not_found=not_found,
)
