"""Each provider's view of a business: its own ids, name and address variants, jitter and stale phones."""

from __future__ import annotations

import math

from leadlake.sandbox.world.businesses import BusinessMaker
from leadlake.sandbox.world.formats import (
    abbreviate_street,
    base62_id,
    digest,
    drop_legal_suffix,
    google_address_components,
    google_place_id,
    international_phone,
    national_phone,
    slug,
)
from leadlake.sandbox.world.geography import City
from leadlake.sandbox.world.records import Business, RecordMeta
from leadlake.sandbox.world.vocabulary import GOOGLE_TYPES, YELP_CATEGORIES


class ProviderViews:
    """Builds Google and Yelp records from the ground truth, drawing noise from the businesses' stream."""

    def __init__(self, seed: int, maker: BusinessMaker) -> None:
        self.seed = seed
        self.maker = maker  # a stale provider phone is a fresh number that nobody else holds
        self.rng = maker.rng

    def google(self, i: int, biz: Business, unit: str | None, city: City, ci: int) -> tuple[dict, RecordMeta]:
        """A Place (New) record for business `i` and its clean index values."""
        rng = self.rng
        pid = google_place_id(self.seed, biz.business_id)
        name = biz.name
        if rng.random() < 0.3:
            name = drop_legal_suffix(name)
        if rng.random() < 0.3:
            name = name.replace(" Company", " Co.")
        street_full = biz.address_line1[: -len(unit) - 1] if unit else biz.address_line1
        number, route_full = street_full.split(" ", 1)
        route_short = abbreviate_street(route_full)
        line = f"{number} {route_short}" + (f" {unit.replace('Ste', 'Suite')}" if unit else "")
        lat, lon = self._jitter(biz.lat, biz.lon)
        phone = self._provider_phone(biz, city, missing=0.04, old=0.04)
        website = biz.website if rng.random() > 0.08 else None
        if website and rng.random() < 0.4:
            website += "/"
        rating = min(5.0, max(1.0, round(biz.rating + rng.gauss(0, 0.15), 1)))
        count = max(0, round(biz.review_count * (0.6 + 0.8 * rng.random())))
        types = list(GOOGLE_TYPES[biz.category])
        components = google_address_components(number, route_full, route_short, unit, city, biz.postal)
        cid = int.from_bytes(digest(self.seed, pid)[:8], "big")
        place: dict = {
            "name": f"places/{pid}",
            "id": pid,
            "types": types + ["point_of_interest", "establishment"],
            "nationalPhoneNumber": national_phone(phone) if phone else None,
            "internationalPhoneNumber": international_phone(phone) if phone else None,
            "formattedAddress": f"{line}, {city.name}, {city.state} {biz.postal}, USA",
            "addressComponents": components,
            "location": {"latitude": lat, "longitude": lon},
            "rating": rating,
            "googleMapsUri": f"https://maps.google.com/?cid={cid}",
            "websiteUri": website,
            "businessStatus": "OPERATIONAL" if rng.random() > 0.02 else "CLOSED_TEMPORARILY",
            "userRatingCount": count,
            "displayName": {"text": name, "languageCode": "en"},
            "primaryType": types[0],
        }
        # Google omits absent fields rather than sending null.
        place = {k: v for k, v in place.items() if v is not None}
        meta = RecordMeta(i, biz.category, ci, lat, lon, rating, count, name)
        return place, meta

    def yelp(
        self, i: int, biz: Business, unit: str | None, city: City, ci: int, alias_counts: dict[str, int]
    ) -> tuple[dict, RecordMeta]:
        """A Yelp Fusion business for business `i`; `alias_counts` keeps aliases unique as Yelp does."""
        rng = self.rng
        yid = base62_id(self.seed, "yelp", biz.business_id)
        name = biz.name
        if rng.random() < 0.5:
            name = drop_legal_suffix(name)
        if rng.random() < 0.3:
            name = name.replace(" & ", " and ")
        base_alias = f"{slug(name)}-{slug(city.name)}"
        alias_counts[base_alias] = alias_counts.get(base_alias, 0) + 1
        alias = base_alias if alias_counts[base_alias] == 1 else f"{base_alias}-{alias_counts[base_alias]}"
        street_full = biz.address_line1[: -len(unit) - 1] if unit else biz.address_line1
        address1 = abbreviate_street(street_full) if rng.random() < 0.6 else street_full
        lat, lon = self._jitter(biz.lat, biz.lon)
        phone = self._provider_phone(biz, city, missing=0.06, old=0.05)
        rating = min(5.0, max(1.0, round((biz.rating + rng.gauss(0, 0.2)) * 2) / 2))
        count = max(0, round(biz.review_count * (0.4 + 0.9 * rng.random())))
        food = biz.category in ("bakery", "cafe")
        display = [address1] + ([unit] if unit else []) + [f"{city.name}, {city.state} {biz.postal}"]
        ybiz: dict = {
            "id": yid,
            "alias": alias,
            "name": name,
            "image_url": f"https://s3-media1.fl.yelpcdn.com/bphoto/{base62_id(self.seed, 'img', yid)}/o.jpg",
            "is_closed": False,
            "url": f"https://www.yelp.com/biz/{alias}?utm_campaign=yelp_api_v3&utm_medium=api_v3_business_search",
            "review_count": count,
            "categories": [{"alias": a, "title": t} for a, t in YELP_CATEGORIES[biz.category]],
            "rating": rating,
            "coordinates": {"latitude": lat, "longitude": lon},
            "transactions": ["pickup", "delivery"] if food and rng.random() < 0.5 else [],
            "location": {
                "address1": address1,
                "address2": unit or "",
                "address3": "",
                "city": city.name,
                "zip_code": biz.postal,
                "country": "US",
                "state": city.state,
                "display_address": display,
            },
            "phone": phone or "",
            "display_phone": national_phone(phone) if phone else "",
        }
        if food or biz.category in ("dentist", "law_firm"):
            ybiz["price"] = "$" * (1 + int(rng.random() * (2 if food else 4)))
        meta = RecordMeta(i, biz.category, ci, lat, lon, rating, count, name)
        return ybiz, meta

    def _jitter(self, lat: float, lon: float) -> tuple[float, float]:
        rng = self.rng
        return (
            round(lat + (rng.random() - 0.5) * 80 / 111_320, 7),
            round(lon + (rng.random() - 0.5) * 80 / (111_320 * math.cos(math.radians(lat))), 7),
        )

    def _provider_phone(self, biz: Business, city: City, missing: float, old: float) -> str | None:
        u = self.rng.random()
        if biz.phone is None or u < missing:
            return None
        if u < missing + old:
            return self.maker.phone(city, toll_free_rate=0.0)
        return biz.phone
