"""Real provider overlap as data: a `NoiseProfile` of rates, and the `Noiser` that applies it.

The noise draws from its own seeded stream, never from the world's: with `NoiseProfile.off()` the world is
byte-identical to a world without noise, and turning one rate up changes only what that rate touches (plus
later draws of the noise stream). Every phenomenon is tagged in `World.record_noise` (per provider record)
or `World.business_noise` (per business) so that tests and benchmarks can break accuracy down by it.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, fields, replace

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
    pick,
    slug,
)
from leadlake.sandbox.world.geography import CITIES, City
from leadlake.sandbox.world.records import GOOGLE, YELP, Business, RecordMeta
from leadlake.sandbox.world.vocabulary import (
    ABBREVIABLE_PATTERNS,
    ADJECTIVES,
    CATEGORY_NOUNS,
    DEFAULT_SUFFIXES,
    FRANCHISES,
    LEGAL_SUFFIXES,
    NAME_ABBREVIATIONS,
    OWNER_KINDS,
    STREETS,
    SURNAMES,
)

# Record tags (World.record_noise) and business tags (World.business_noise).
NAME_VARIANT, TYPO, DBA, STALE_PHONE, MISSING_PHONE = (
    "name_variant",
    "typo",
    "dba",
    "stale_phone",
    "missing_phone",
)
MISSING_WEBSITE, MISSING_COORDINATES, MISSING_ADDRESS = (
    "missing_website",
    "missing_coordinates",
    "missing_address",
)
SUITE_LINE1, MOVED, DUPLICATE = "suite_line1", "moved", "duplicate"
ABBREVIABLE, FRANCHISE, CHAIN_SHARED, CO_LOCATED, CO_LOCATED_PHONE = (
    "abbreviable",
    "franchise",
    "chain_shared",
    "co_located",
    "co_located_phone",
)
CO_LOCATED_SHARE_PHONE = 0.25  # of co-located businesses, how many answer the building's (the host's) phone
FRANCHISE_ON_BRAND_SITE = 0.6  # of franchisees, how many only have a page on the franchisor's site


@dataclass(frozen=True)
class NoiseProfile:
    """Rates of real provider-overlap phenomena, on top of the providers' baseline habits.

    Baseline, always on: Google drops a legal suffix from 30% of names and Yelp from 50%, Yelp writes "&" as
    "and" in 30%, streets are abbreviated, coordinates jitter by ~40 m, phones are missing from 4% (Google)
    / 6% (Yelp) of records and stale in 4% / 5%, Google lacks the website of 8%.

    Rates marked "record" apply to each provider record independently; "business" to each business once.
    Defaults are realistic (a few % each); `off()` is the baseline alone, `scaled(k)` multiplies every rate.
    """

    name_variant: float = 0.06  # record: legal suffix added/dropped, "&" <-> "and", a word (un)abbreviated
    abbreviable_names: float = 0.06  # business: its name has a word providers abbreviate (Saint, Brothers...)
    typo: float = 0.02  # record: a one-character typo in the name
    dba: float = 0.02  # record: the owner's legal name instead, alone or as "Owner LLC dba Name"
    moved: float = 0.03  # business: moved; one provider still shows the old address, position, usually phone
    stale_phone: float = 0.02  # record: an old, disconnected number
    chain_shared_contact: float = 0.5  # chain brand in a city: every branch lists one central phone and site
    suite_line1: float = 0.25  # record of a business with a suite: Yelp puts it in address1, Google drops it
    missing_phone: float = 0.02  # record: no phone
    missing_website: float = 0.03  # Google record: no website (Yelp never has one)
    missing_coordinates: float = 0.02  # record: geocoded to the city centre only (payloads keep coordinates)
    missing_address: float = 0.02  # Yelp record: a service-area business hiding its street address
    franchise: float = 0.03  # business: a franchisee of a shared brand name, with its own owner and phone
    co_located: float = 0.03  # business: in the same building as an unrelated business (sometimes its phone)
    duplicate: float = 0.02  # business, per provider listing it: listed twice, under two provider keys

    def __post_init__(self) -> None:
        for f in fields(self):
            rate = getattr(self, f.name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"NoiseProfile.{f.name} must be within [0, 1], got {rate}")

    @classmethod
    def off(cls) -> NoiseProfile:
        """No phenomenon beyond the providers' baseline habits: the world as it was before noise profiles."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> NoiseProfile:
        """Every rate times `factor`, capped at 1."""
        return replace(self, **{f.name: min(1.0, getattr(self, f.name) * factor) for f in fields(self)})

    @property
    def active(self) -> bool:
        """Whether any rate is above zero."""
        return any(getattr(self, f.name) > 0 for f in fields(self))


@dataclass(frozen=True)
class Spot:
    """Where a provider places a business: street ("1234 Oak Street"), unit, postal code, position, phone."""

    street: str
    unit: str | None
    postal: str
    lat: float
    lon: float
    phone: str | None


class Noiser:
    """Applies a NoiseProfile: first to the ground truth (before the views), then to each provider record."""

    def __init__(self, seed: int, profile: NoiseProfile, maker: BusinessMaker) -> None:
        self.seed = seed
        self.p = profile
        self.maker = maker
        self.rng = random.Random(int.from_bytes(digest(seed, "noise")[:8], "big"))
        self.business_noise: dict[str, set[str]] = {}
        self.record_noise: dict[tuple[str, str], set[str]] = {}
        self.owners: dict[int, str] = {}
        self.old_spot: dict[int, Spot] = {}
        self.stale_provider: dict[int, str] = {}

    # ---- ground truth ----------------------------------------------------------------------------------
    def shape_truth(self, businesses: list[Business], units: list[str | None], city_idx: list[int]) -> None:
        """Abbreviable names, franchisees, chains' shared contacts, co-located businesses, moves."""
        rng, p = self.rng, self.p
        by_city: dict[int, list[int]] = {}
        chain_groups: dict[tuple[str, int], list[int]] = {}
        for i, biz in enumerate(businesses):
            city = CITIES[city_idx[i]]
            if biz.chain is None:
                if rng.random() < p.franchise:
                    brand, domain = pick(rng, FRANCHISES[biz.category])
                    owner = pick(rng, SURNAMES)
                    site = f"https://www.{domain}/{slug(city.name)}-{slug(owner)}"
                    website = site if rng.random() < FRANCHISE_ON_BRAND_SITE else biz.website
                    biz = replace(biz, name=brand, website=website)
                    self._tag_business(biz, FRANCHISE)
                elif rng.random() < p.abbreviable_names:
                    biz = replace(biz, name=self._abbreviable_name(biz, city))
                    self._tag_business(biz, ABBREVIABLE)
            else:
                chain_groups.setdefault((biz.chain, city_idx[i]), []).append(i)
            if p.dba > 0:
                self.owners[i] = f"{pick(rng, SURNAMES)} {pick(rng, OWNER_KINDS)} LLC"
            peers = by_city.setdefault(city_idx[i], [])
            if peers and rng.random() < p.co_located:
                host = self._host(businesses, peers, biz)
                if host is not None:
                    biz, units[i] = self._co_locate(biz, businesses[host], units[host], city)
                    businesses[host] = self._tag_business(businesses[host], CO_LOCATED)
            peers.append(i)
            businesses[i] = biz
        for (_, ci), members in sorted(chain_groups.items()):
            if rng.random() < p.chain_shared_contact:
                city = CITIES[ci]
                phone = self.maker.phone(city, toll_free_rate=0.5, rng=rng)
                host = (businesses[members[0]].website or "").split("/")[2]
                for i in members:
                    businesses[i] = replace(businesses[i], phone=phone, website=f"https://{host}")
                    self._tag_business(businesses[i], CHAIN_SHARED)
        for i, biz in enumerate(businesses):
            if rng.random() < p.moved:
                self.old_spot[i] = self._old_spot(biz, CITIES[city_idx[i]])
                self.stale_provider[i] = GOOGLE if rng.random() < 0.5 else YELP
                self._tag_business(biz, MOVED)

    def _tag_business(self, biz: Business, tag: str) -> Business:
        self.business_noise.setdefault(biz.business_id, set()).add(tag)
        return biz

    def _abbreviable_name(self, biz: Business, city: City) -> str:
        rng = self.rng
        noun = pick(rng, CATEGORY_NOUNS[biz.category]).lstrip("& ")
        name = pick(rng, ABBREVIABLE_PATTERNS).format(
            surname=pick(rng, SURNAMES), noun=noun, street=pick(rng, STREETS), adjective=pick(rng, ADJECTIVES)
        )
        if rng.random() < 0.4:
            name += " " + pick(rng, LEGAL_SUFFIXES.get(biz.category, DEFAULT_SUFFIXES))
        return name

    def _host(self, businesses: list[Business], peers: list[int], biz: Business) -> int | None:
        for _ in range(4):  # a building with an unrelated neighbour: another category, not a chain branch
            j = peers[int(self.rng.random() * len(peers))]
            if businesses[j].category != biz.category and businesses[j].chain is None:
                return j
        return None

    def _co_locate(
        self, biz: Business, host: Business, host_unit: str | None, city: City
    ) -> tuple[Business, str | None]:
        rng = self.rng
        street = _street_of(host.address_line1, host_unit)
        unit: str | None = None
        if host_unit or rng.random() < 0.5:
            host_no = int(host_unit.split(" ")[1]) if host_unit else -1
            no = host_no
            while no == host_no:
                no = int(rng.random() * 490) + 100
            unit = f"Suite {no}"
        lat = round(host.lat + (rng.random() - 0.5) * 10 / 111_320, 6)
        lon = round(host.lon + (rng.random() - 0.5) * 10 / (111_320 * math.cos(math.radians(host.lat))), 6)
        phone = biz.phone
        if host.phone and rng.random() < CO_LOCATED_SHARE_PHONE:
            phone = host.phone
            self._tag_business(biz, CO_LOCATED_PHONE)
            self._tag_business(host, CO_LOCATED_PHONE)
        line1 = f"{street} {unit}" if unit else street
        moved = replace(biz, address_line1=line1, postal=host.postal, lat=lat, lon=lon, phone=phone)
        self._tag_business(moved, CO_LOCATED)
        return moved, unit

    def _old_spot(self, biz: Business, city: City) -> Spot:
        rng = self.rng
        street, unit = self.maker.street(rng)
        km = 0.5 + 7.5 * rng.random()
        bearing = rng.random() * 2 * math.pi
        lat = round(biz.lat + km * math.cos(bearing) / 111.32, 6)
        lon = round(biz.lon + km * math.sin(bearing) / (111.32 * math.cos(math.radians(biz.lat))), 6)
        postal = city.zip_prefixes[0] + f"{int(rng.random() * 99) + 1:02d}"
        phone = self.maker.phone(city, toll_free_rate=0.0, rng=rng) if rng.random() < 0.7 else biz.phone
        return Spot(street, unit, postal, lat, lon, phone)

    # ---- provider records ------------------------------------------------------------------------------
    def record(
        self, provider: str, rec: dict, meta: RecordMeta, i: int, biz: Business, unit: str | None, city: City
    ) -> RecordMeta:
        """Apply the record-level phenomena to one provider record in place; its meta, updated."""
        rng, p = self.rng, self.p
        tags: set[str] = set()
        spot = Spot(_street_of(biz.address_line1, unit), unit, biz.postal, *_position(provider, rec), None)
        relocate = False
        if self.stale_provider.get(i) == provider:
            spot, relocate = self.old_spot[i], True
            spot = replace(spot, lat=self._jitter(spot.lat, 40), lon=self._jitter(spot.lon, 40, spot.lat))
            self._set_phone(provider, rec, spot.phone)
            tags.add(MOVED)
        name = _name_of(provider, rec)
        if rng.random() < p.dba and i in self.owners:
            owner = self.owners[i]
            name = f"{owner} dba {drop_legal_suffix(name)}" if rng.random() < 0.6 else owner
            tags.add(DBA)
        elif rng.random() < p.name_variant:
            name = self._name_variant(name, biz)
            tags.add(NAME_VARIANT)
        if rng.random() < p.typo:
            name = _typo(rng, name)
            tags.add(TYPO)
        if rng.random() < p.stale_phone and _phone_of(provider, rec):
            self._set_phone(provider, rec, self.maker.phone(city, toll_free_rate=0.0, rng=rng))
            tags.add(STALE_PHONE)
        if rng.random() < p.missing_phone and _phone_of(provider, rec):
            self._set_phone(provider, rec, None)
            tags.add(MISSING_PHONE)
        if provider == GOOGLE and rng.random() < p.missing_website and "websiteUri" in rec:
            del rec["websiteUri"]
            tags.add(MISSING_WEBSITE)
        if rng.random() < p.missing_coordinates:
            spot = replace(spot, lat=city.lat, lon=city.lon)
            tags.add(MISSING_COORDINATES)
        suite_in_line1 = False
        if spot.unit and rng.random() < p.suite_line1:
            suite_in_line1, relocate = True, True
            tags.add(SUITE_LINE1)
        hide_street = False
        if provider == YELP and rng.random() < p.missing_address:
            hide_street, relocate = True, True
            tags.add(MISSING_ADDRESS)
        if relocate:
            _set_address(provider, rec, spot, city, suite_in_line1, hide_street)
        _set_position(provider, rec, spot.lat, spot.lon)
        _set_name(provider, rec, name)
        if tags:
            self.record_noise[(provider, rec["id"])] = tags
        return replace(meta, lat=spot.lat, lon=spot.lon, name=name)

    def duplicate(
        self,
        provider: str,
        rec: dict,
        meta: RecordMeta,
        biz: Business,
        city: City,
        alias_counts: dict[str, int],
    ) -> tuple[dict, RecordMeta] | None:
        """The same business listed a second time by this provider, or None (drawn at `duplicate`)."""
        rng = self.rng
        if rng.random() >= self.p.duplicate:
            return None
        dup = copy.deepcopy(rec)
        name = _name_of(provider, rec)
        tags = {DUPLICATE}
        u = rng.random()
        if u < 0.4:
            name = self._name_variant(name, biz)
            tags.add(NAME_VARIANT)
        elif u < 0.55:
            name = _typo(rng, name)
            tags.add(TYPO)
        v = rng.random()
        if v < 0.35:  # a call-tracking number, or the listing that was never updated
            self._set_phone(provider, dup, self.maker.phone(city, toll_free_rate=0.1, rng=rng))
            tags.add(STALE_PHONE)
        elif v < 0.5:
            self._set_phone(provider, dup, None)
            tags.add(MISSING_PHONE)
        lat, lon = _position(provider, rec)
        lat, lon = self._jitter(lat, 30), self._jitter(lon, 30, lat)
        _set_position(provider, dup, lat, lon)
        _set_name(provider, dup, name)
        count = int(rng.random() * 12)
        if provider == GOOGLE:
            pid = google_place_id(self.seed, f"{biz.business_id}:dup")
            cid = int.from_bytes(digest(self.seed, pid)[:8], "big")
            dup.update(id=pid, name=f"places/{pid}", googleMapsUri=f"https://maps.google.com/?cid={cid}")
            dup["userRatingCount"] = count
        else:
            yid = base62_id(self.seed, "yelp", biz.business_id, "dup")
            base_alias = f"{slug(name)}-{slug(city.name)}"
            alias_counts[base_alias] = alias_counts.get(base_alias, 0) + 1
            n = alias_counts[base_alias]
            alias = base_alias if n == 1 else f"{base_alias}-{n}"
            dup.update(id=yid, alias=alias, review_count=count)
            dup["url"] = (
                f"https://www.yelp.com/biz/{alias}?utm_campaign=yelp_api_v3&utm_medium=api_v3_business_search"
            )
            dup["image_url"] = (
                f"https://s3-media1.fl.yelpcdn.com/bphoto/{base62_id(self.seed, 'img', yid)}/o.jpg"
            )
        self.record_noise.setdefault((provider, rec["id"]), set()).add(DUPLICATE)
        self.record_noise[(provider, dup["id"])] = tags
        return dup, replace(meta, lat=lat, lon=lon, name=name, review_count=count)

    def _name_variant(self, name: str, biz: Business) -> str:
        rng = self.rng
        kinds = ["suffix"]
        if " & " in name or " and " in name:
            kinds.append("and")
        words = name.split(" ")
        if any(w in NAME_ABBREVIATIONS or w in _EXPANSIONS for w in words):
            kinds.append("abbreviation")
        kind = pick(rng, tuple(kinds))
        if kind == "and":
            return name.replace(" & ", " and ") if " & " in name else name.replace(" and ", " & ")
        if kind == "abbreviation":
            return " ".join(NAME_ABBREVIATIONS.get(w, _EXPANSIONS.get(w, w)) for w in words)
        bare = drop_legal_suffix(name)
        if bare != name:
            return bare
        return f"{name} {pick(rng, LEGAL_SUFFIXES.get(biz.category, DEFAULT_SUFFIXES))}"

    def _jitter(self, value: float, metres: float, lat: float | None = None) -> float:
        scale = 111_320 * (math.cos(math.radians(lat)) if lat is not None else 1.0)
        return round(value + (self.rng.random() - 0.5) * 2 * metres / scale, 7)

    def _set_phone(self, provider: str, rec: dict, phone: str | None) -> None:
        if provider == GOOGLE:
            rec.pop("nationalPhoneNumber", None)
            rec.pop("internationalPhoneNumber", None)
            if phone:
                rec["nationalPhoneNumber"] = national_phone(phone)
                rec["internationalPhoneNumber"] = international_phone(phone)
        else:
            rec["phone"] = phone or ""
            rec["display_phone"] = national_phone(phone) if phone else ""


_EXPANSIONS = {abbr: full for full, abbr in NAME_ABBREVIATIONS.items()}


def _street_of(line1: str, unit: str | None) -> str:
    return line1[: -len(unit) - 1] if unit else line1


def _typo(rng: random.Random, name: str) -> str:
    """One edit in one letter of a word of four letters or more (never its first letter)."""
    words = name.split(" ")
    candidates = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return name
    k = pick(rng, tuple(candidates))
    w = words[k]
    pos = 1 + int(rng.random() * (len(w) - 1))
    op = int(rng.random() * 4)
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.random() * 26)]
    if op == 0 and w[pos].lower() != letter:  # substitution
        w = w[:pos] + letter + w[pos + 1 :]
    elif op == 1:  # deletion
        w = w[:pos] + w[pos + 1 :]
    elif op == 2 and pos < len(w) - 1 and w[pos] != w[pos + 1]:  # transposition
        w = w[:pos] + w[pos + 1] + w[pos] + w[pos + 2 :]
    else:  # doubled letter
        w = w[:pos] + w[pos] + w[pos:]
    words[k] = w
    return " ".join(words)


def _name_of(provider: str, rec: dict) -> str:
    return rec["displayName"]["text"] if provider == GOOGLE else rec["name"]


def _set_name(provider: str, rec: dict, name: str) -> None:
    if provider == GOOGLE:
        rec["displayName"] = {"text": name, "languageCode": "en"}
    else:
        rec["name"] = name


def _phone_of(provider: str, rec: dict) -> str | None:
    return rec.get("internationalPhoneNumber") if provider == GOOGLE else rec.get("phone") or None


def _position(provider: str, rec: dict) -> tuple[float, float]:
    loc = rec["location"] if provider == GOOGLE else rec["coordinates"]
    return loc["latitude"], loc["longitude"]


def _set_position(provider: str, rec: dict, lat: float, lon: float) -> None:
    rec["location" if provider == GOOGLE else "coordinates"] = {"latitude": lat, "longitude": lon}


def _set_address(provider: str, rec: dict, spot: Spot, city: City, suite_in_line1: bool, hide: bool) -> None:
    """Rewrite a record's address from `spot`; a suite in line 1 is dropped by Google, joined by Yelp."""
    number, route_full = spot.street.split(" ", 1)
    route_short = abbreviate_street(route_full)
    if provider == GOOGLE:
        unit = None if suite_in_line1 else spot.unit
        line = f"{number} {route_short}" + (f" {unit.replace('Ste', 'Suite')}" if unit else "")
        components = google_address_components(number, route_full, route_short, unit, city, spot.postal)
        rec["formattedAddress"] = f"{line}, {city.name}, {city.state} {spot.postal}, USA"
        rec["addressComponents"] = components
        return
    loc = rec["location"]
    # Keep the record's own habit: abbreviated ("N Oak St") or spelled out ("North Oak Street").
    short = loc["address1"] == abbreviate_street(loc["address1"])
    address1 = abbreviate_street(spot.street) if short else spot.street
    address2 = spot.unit or ""
    if suite_in_line1 and spot.unit:
        kind, no = spot.unit.split(" ")
        address1 = f"{address1} {('#' + no) if kind == 'Unit' else 'Ste ' + no}"
        address2 = ""
    if hide:
        address1 = address2 = ""
    city_line = f"{city.name}, {city.state} {spot.postal}"
    loc.update(address1=address1, address2=address2, zip_code=spot.postal)
    loc["display_address"] = [x for x in (address1, address2) if x] + [city_line]
