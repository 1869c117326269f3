"""Yelp Fusion v3: business search (offset paging, the 240 rule) and business details."""

from __future__ import annotations

from leadlake.sandbox.index import (
    ALL_CATEGORIES,
    YELP_ALIAS_TO_CATEGORY,
    categories_in,
    cities_in,
    cities_near,
    dumps,
)
from leadlake.sandbox.protocol import Provider, Request, Response, route
from leadlake.sandbox.state import SandboxState
from leadlake.sandbox.world import CATEGORIES, CITIES, YELP, haversine_m

MAX_LIMIT = 50
DEFAULT_LIMIT = 20
MAX_RADIUS_M = 40_000
SORTS = ("best_match", "rating", "review_count", "distance")


def error(status: int, code: str, description: str) -> Response:
    """A Yelp error body."""
    return Response(status, {"error": {"code": code, "description": description}})


def validation(description: str) -> Response:
    """400 VALIDATION_ERROR."""
    return error(400, "VALIDATION_ERROR", description)


def rate_limited() -> Response:
    """What Yelp answers above its queries-per-second limit."""
    return error(
        429,
        "TOO_MANY_REQUESTS_PER_SECOND",
        "You have exceeded the queries-per-second limit for this endpoint. "
        "Try reducing the rate at which you make queries.",
    )


def unavailable(code: int) -> Response:
    """A transient server error."""
    return error(code, "INTERNAL_ERROR", "Something went wrong internally, please try your request again")


def check_token(state: SandboxState, req: Request) -> Response | None:
    """Bearer API key: missing is TOKEN_MISSING, wrong is TOKEN_INVALID (both 401)."""
    token = req.bearer()
    if token is None:
        return error(401, "TOKEN_MISSING", "An access token must be supplied in order to use this endpoint.")
    if token != state.keys[YELP]:
        return error(401, "TOKEN_INVALID", "Invalid access token or authorization header.")
    return None


def _int(req: Request, name: str, default: int | None) -> int | None | Response:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return validation(f"'{raw}' is not of type 'integer' ({name})")


def _float(req: Request, name: str) -> float | None | Response:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        return validation(f"'{raw}' is not of type 'number' ({name})")


def search(state: SandboxState, req: Request) -> Response:
    """GET /v3/businesses/search."""
    denied = check_token(state, req)
    if denied:
        return denied
    values = {
        "limit": _int(req, "limit", DEFAULT_LIMIT),
        "offset": _int(req, "offset", 0),
        "radius": _int(req, "radius", None),
        "latitude": _float(req, "latitude"),
        "longitude": _float(req, "longitude"),
    }
    for value in values.values():
        if isinstance(value, Response):
            return value
    limit, offset, radius = values["limit"], values["offset"], values["radius"]
    lat, lon = values["latitude"], values["longitude"]
    cap = state.max_results[YELP]
    if limit > MAX_LIMIT:
        return validation(f"{limit} is greater than the maximum of {MAX_LIMIT} (limit)")
    if limit < 0 or offset < 0:
        return validation(f"{min(limit, offset)} is less than the minimum of 0 (limit, offset)")
    if limit + offset > cap:
        return validation(f"Too many results requested, limit+offset must be <= {cap}.")
    if radius is not None and not 0 <= radius <= MAX_RADIUS_M:
        return validation(f"{radius} is greater than the maximum of {MAX_RADIUS_M} (radius)")
    sort_by = req.arg("sort_by", "best_match")
    if sort_by not in SORTS:
        return validation(f"'{sort_by}' is not one of {list(SORTS)} (sort_by)")
    location = req.arg("location")
    if location:
        cities = cities_in(location)
        if not cities:
            return error(
                400, "LOCATION_NOT_FOUND", "Could not execute search, try specifying a more exact location."
            )
        centre = (CITIES[cities[0]].lat, CITIES[cities[0]].lon)
    elif lat is not None and lon is not None:
        if abs(lat) > 90 or abs(lon) > 180:
            return validation("Invalid latitude or longitude")
        centre = (lat, lon)
        radius = MAX_RADIUS_M if radius is None else radius
        cities = cities_near(lat, lon, radius)
    else:
        return validation("Please specify a location or a latitude and longitude")
    cats, name_filter = _categories(req)
    key = (YELP, tuple(sorted(cats)), name_filter, tuple(cities), centre, radius, sort_by)
    matches = state.index.cached(
        key, lambda: _matches(state, cats, name_filter, cities, centre, radius, sort_by)
    )
    take = limit
    if state.draw_truncation() and take > 1:
        take = max(1, take // 2)
    idx = state.index.providers[YELP]
    page = []
    for p in matches[offset : offset + take]:
        m = idx.metas[p]
        distance = round(haversine_m(centre[0], centre[1], m.lat, m.lon), 6)
        # Splice the per-request distance into the memoised record JSON (it always ends with "}").
        page.append(idx.encoded(p)[:-1] + b',"distance":' + repr(distance).encode() + b"}")
    region = {"center": {"latitude": centre[0], "longitude": centre[1]}}
    tail = b'],"total":' + str(len(matches)).encode() + b',"region":' + dumps(region) + b"}"
    return Response(200, b'{"businesses":[' + b",".join(page) + tail)


def _categories(req: Request) -> tuple[set[str], str | None]:
    """Categories asked for (term synonyms, `categories` aliases) and a name filter for other terms."""
    cats = set(ALL_CATEGORIES)
    aliases = req.arg_list("categories")
    if aliases:
        cats = {YELP_ALIAS_TO_CATEGORY.get(a, a) for a in aliases} & set(CATEGORIES)
    term = (req.arg("term") or "").strip()
    if not term:
        return cats, None
    from_term = categories_in(term)
    if from_term:
        return cats & from_term, None
    return cats, term.lower()


def _matches(
    state: SandboxState,
    cats: set[str],
    name_filter: str | None,
    cities: list[int],
    centre: tuple[float, float],
    radius: int | None,
    sort_by: str,
) -> tuple[int, ...]:
    idx = state.index.providers[YELP]
    out: list[int] = []
    dist: dict[int, float] = {}
    near = (centre[0], centre[1], float(radius)) if radius is not None else None
    for p in idx.candidates(cats, cities, near=near):
        m = idx.metas[p]
        if name_filter and name_filter not in m.name.lower():
            continue
        if radius is not None or sort_by == "distance":
            dist[p] = haversine_m(centre[0], centre[1], m.lat, m.lon)
            if radius is not None and dist[p] > radius:
                continue
        out.append(p)
    if sort_by == "distance":
        out.sort(key=dist.__getitem__)
    elif sort_by == "rating":
        out.sort(key=lambda p: (-idx.metas[p].rating, idx.rank[p]))
    elif sort_by == "review_count":
        out.sort(key=lambda p: (-idx.metas[p].review_count, idx.rank[p]))
    return tuple(out)


def business(state: SandboxState, req: Request) -> Response:
    """GET /v3/businesses/{id or alias}."""
    denied = check_token(state, req)
    if denied:
        return denied
    key = req.params["business_id"]
    pos = state.index.providers[YELP].by_key.get(key)
    if pos is None:
        return error(404, "BUSINESS_NOT_FOUND", "The requested business could not be found.")
    record = state.world.yelp_businesses[pos]
    return Response(200, {**record, "is_claimed": True, "photos": [record["image_url"]]})


def not_found(req: Request) -> Response:
    """What Yelp answers for a path it does not serve."""
    return error(404, "NOT_FOUND", f"Resource could not be found: {req.path}")


ROUTES = (
    route(YELP, "GET", r"/v3/businesses/search", "yelp.search", search, paged=True),
    route(YELP, "GET", r"/v3/businesses/(?P<business_id>[^/]+)", "yelp.business", business),
)
PROVIDER = Provider(
    YELP,
    "/v3/businesses",
    ROUTES,
    key="sandbox-yelp-key",
    max_results=240,  # limit + offset may not pass 240, however many businesses match
    rate_limited=rate_limited,
    unavailable=unavailable,
    error_codes=(500, 503),
    not_found=not_found,
)
