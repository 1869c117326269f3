"""Deterministic synthetic world of local businesses, as seen by each provider with its own noise."""

from __future__ import annotations

import base64
import gc
import hashlib
import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

GOOGLE = "google_places"
YELP = "yelp"
PROVIDERS = (GOOGLE, YELP)
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class City:
    """A real US metro: centre, state, ZIP prefixes and area codes."""

    name: str
    state: str
    state_name: str
    lat: float
    lon: float
    zip_prefixes: tuple[str, ...]
    area_codes: tuple[str, ...]
    nickname: str
    weight: float


CITIES: tuple[City, ...] = (
    City("Denver", "CO", "Colorado", 39.7392, -104.9903, ("802",), ("303", "720"), "Mile High", 1.0),
    City("Austin", "TX", "Texas", 30.2672, -97.7431, ("787",), ("512", "737"), "Lone Star", 1.0),
    City("Portland", "OR", "Oregon", 45.5152, -122.6784, ("972",), ("503", "971"), "Rose City", 0.9),
    City("Seattle", "WA", "Washington", 47.6062, -122.3321, ("981",), ("206",), "Emerald City", 1.0),
    City("Chicago", "IL", "Illinois", 41.8781, -87.6298, ("606",), ("312", "773", "872"), "Windy City", 1.6),
    City("Boston", "MA", "Massachusetts", 42.3601, -71.0589, ("021",), ("617", "857"), "Beacon Hill", 1.1),
    City("Atlanta", "GA", "Georgia", 33.7490, -84.3880, ("303",), ("404", "470", "678"), "Peachtree", 1.2),
    City("Phoenix", "AZ", "Arizona", 33.4484, -112.0740, ("850",), ("602", "480"), "Desert Sun", 1.2),
    City("Nashville", "TN", "Tennessee", 36.1627, -86.7816, ("372",), ("615", "629"), "Music City", 0.8),
    City("Minneapolis", "MN", "Minnesota", 44.9778, -93.2650, ("554",), ("612",), "North Star", 0.8),
    City("San Diego", "CA", "California", 32.7157, -117.1611, ("921",), ("619", "858"), "Pacific Coast", 1.1),
    City("Miami", "FL", "Florida", 25.7617, -80.1918, ("331",), ("305", "786"), "Biscayne", 1.0),
    City("Dallas", "TX", "Texas", 32.7767, -96.7970, ("752",), ("214", "469", "972"), "Big D", 1.3),
    City("Philadelphia", "PA", "Pennsylvania", 39.9526, -75.1652, ("191",), ("215", "267"), "Liberty", 1.2),
    City("Salt Lake City", "UT", "Utah", 40.7608, -111.8910, ("841",), ("801", "385"), "Wasatch", 0.7),
    City("Kansas City", "MO", "Missouri", 39.0997, -94.5786, ("641",), ("816",), "Heartland", 0.7),
    City("Columbus", "OH", "Ohio", 39.9612, -82.9988, ("432",), ("614", "380"), "Buckeye", 0.8),
    City("Charlotte", "NC", "North Carolina", 35.2271, -80.8431, ("282",), ("704", "980"), "Queen City", 0.9),
    City("Raleigh", "NC", "North Carolina", 35.7796, -78.6382, ("276",), ("919", "984"), "Oak City", 0.7),
    City("Pittsburgh", "PA", "Pennsylvania", 40.4406, -79.9959, ("152",), ("412",), "Steel City", 0.7),
)

CATEGORIES: tuple[str, ...] = (
    "plumber",
    "electrician",
    "dentist",
    "hvac",
    "roofing",
    "landscaping",
    "auto_repair",
    "bakery",
    "cafe",
    "law_firm",
)

# Words a search text may use for each category (singular, plural, trade name).
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "plumber": ("plumber", "plumbers", "plumbing"),
    "electrician": ("electrician", "electricians", "electrical", "electric"),
    "dentist": ("dentist", "dentists", "dental", "dentistry"),
    "hvac": ("hvac", "heating", "air conditioning", "furnace repair", "ac repair"),
    "roofing": ("roofing", "roofer", "roofers", "roof repair"),
    "landscaping": ("landscaping", "landscaper", "landscapers", "lawn care"),
    "auto_repair": ("auto repair", "auto_repair", "car repair", "mechanic", "mechanics", "auto shop"),
    "bakery": ("bakery", "bakeries", "baker", "bakers"),
    "cafe": ("cafe", "cafes", "café", "coffee", "coffee shop", "coffee shops"),
    "law_firm": ("law firm", "law firms", "law_firm", "lawyer", "lawyers", "attorney", "attorneys"),
}

# Google Places (New) primaryType and extra types per category.
GOOGLE_TYPES: dict[str, tuple[str, ...]] = {
    "plumber": ("plumber",),
    "electrician": ("electrician",),
    "dentist": ("dentist", "dental_clinic", "health"),
    "hvac": ("general_contractor",),
    "roofing": ("roofing_contractor", "general_contractor"),
    "landscaping": ("general_contractor",),
    "auto_repair": ("car_repair",),
    "bakery": ("bakery", "food_store", "food", "store"),
    "cafe": ("cafe", "coffee_shop", "food"),
    "law_firm": ("lawyer",),
}

# Yelp Fusion category {alias, title} per category (real Yelp aliases).
YELP_CATEGORIES: dict[str, tuple[tuple[str, str], ...]] = {
    "plumber": (("plumbing", "Plumbing"),),
    "electrician": (("electricians", "Electricians"),),
    "dentist": (("generaldentistry", "General Dentistry"),),
    "hvac": (("hvac", "Heating & Air Conditioning/HVAC"),),
    "roofing": (("roofing", "Roofing"),),
    "landscaping": (("landscaping", "Landscaping"),),
    "auto_repair": (("autorepair", "Auto Repair"),),
    "bakery": (("bakeries", "Bakeries"),),
    "cafe": (("coffee", "Coffee & Tea"),),
    "law_firm": (("lawyers", "Lawyers"),),
}

CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "plumber": ("Plumbing", "Plumbing & Heating", "Plumbing & Drain", "Rooter Service", "Plumbing Company"),
    "electrician": ("Electric", "Electrical Services", "Electric Company", "Electrical Contractors"),
    "dentist": ("Dental", "Family Dentistry", "Dental Care", "Dental Group", "Smile Studio"),
    "hvac": ("Heating & Air", "HVAC", "Heating & Cooling", "Comfort Systems", "Air Conditioning Company"),
    "roofing": ("Roofing", "Roofing & Exteriors", "Roofing Company", "Roof Systems"),
    "landscaping": ("Landscaping", "Lawn & Garden", "Landscape Design", "Lawn Care Company"),
    "auto_repair": ("Auto Repair", "Automotive", "Auto Service", "Garage", "Auto Care"),
    "bakery": ("Bakery", "Bakehouse", "Bread Company", "Pastry Shop"),
    "cafe": ("Coffee", "Cafe", "Coffee House", "Espresso Bar", "Coffee Company"),
    "law_firm": ("Law Group", "Law Firm", "Legal", "Law Offices", "& Associates"),
}

LEGAL_SUFFIXES: dict[str, tuple[str, ...]] = {
    "dentist": ("DDS", "PC", "PLLC"),
    "law_firm": ("LLP", "PC", "PLLC"),
}
DEFAULT_SUFFIXES = ("LLC", "Inc.", "Co.", "Company", "Corp.")

ADJECTIVES = (
    "Ace", "Premier", "Reliable", "Summit", "Blue Ribbon", "Liberty", "Pioneer", "Precision", "Golden",
    "Evergreen", "Northside", "Southside", "Eastside", "Westside", "Elite", "Trusted", "Family", "Quality",
    "Heritage", "Red Rock", "Keystone", "Capital", "Metro", "Cornerstone", "Bright", "Sunrise", "Frontier",
    "Patriot", "All Star", "First Choice", "Hometown", "Old Town", "Riverside", "Lakeside", "Oak Tree",
)  # fmt: skip
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell",
    "Perez", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart",
    "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Kelly", "Howard",
)  # fmt: skip
STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Lincoln",
    "Jefferson", "Madison", "Franklin", "Highland", "Sunset", "Broadway", "Market", "Church", "Spring",
    "Walnut", "Chestnut", "Center", "River", "Ridge", "Meadow", "Forest", "Valley", "Colfax", "Blake",
    "Wynkoop", "Grand", "Union", "College", "Prospect", "Jackson", "Adams", "Monroe", "Willow", "Birch",
    "Mill", "Front", "Water", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth",
)  # fmt: skip
# Full street suffix -> USPS abbreviation (used by providers' noise, never by the ground truth).
STREET_SUFFIXES: dict[str, str] = {
    "Street": "St",
    "Avenue": "Ave",
    "Boulevard": "Blvd",
    "Road": "Rd",
    "Drive": "Dr",
    "Lane": "Ln",
    "Way": "Way",
    "Parkway": "Pkwy",
    "Court": "Ct",
    "Place": "Pl",
}
DIRECTIONS: dict[str, str] = {"North": "N", "South": "S", "East": "E", "West": "W"}
UNIT_KINDS = ("Suite", "Unit", "Ste")
TLDS = (".com", ".com", ".com", ".com", ".net", ".co", ".biz", ".us")

# Chain brands: several branches, each a DIFFERENT business sharing brand name and domain.
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "plumber": (("Rapid Rooter Plumbing", "rapidrooter.com"), ("Blue Pipe Plumbing", "bluepipeplumbing.com")),
    "electrician": (("BrightWire Electric", "brightwire.com"),),
    "dentist": (("SmileWorks Dental", "smileworksdental.com"), ("Bright Now Dental", "brightnowdental.net")),
    "hvac": (("Comfort Masters Heating & Air", "comfortmasters.com"),),
    "roofing": (("Peak Roofing & Exteriors", "peakroofing.com"),),
    "landscaping": (("GreenScape Lawn & Landscape", "greenscape.com"),),
    "auto_repair": (("Precision Auto Care", "precisionac.com"), ("QuickLane Auto Service", "quicklane.com")),
    "bakery": (("Golden Crust Bakery", "goldencrust.com"),),
    "cafe": (("Bluebird Coffee", "bluebirdcoffee.com"), ("Daily Grind Coffee", "dailygrind.coffee")),
    "law_firm": (("Hartman & Cole Law", "hartmancole.law"),),
}

TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_TABLE = bytes(ord(BASE62[b % 62]) for b in range(256))
_NON_SLUG = re.compile(r"[^a-z0-9]+")
_DIRECTION_WORDS = tuple(DIRECTIONS)
_SUFFIX_WORDS = tuple(STREET_SUFFIXES)


@dataclass(frozen=True)
class Business:
    """The ground-truth entity behind every provider record."""

    business_id: str
    name: str
    category: str
    address_line1: str
    city: str
    region: str
    postal: str
    country: str
    lat: float
    lon: float
    phone: str | None
    website: str | None
    rating: float
    review_count: int
    chain: str | None


@dataclass(frozen=True)
class RecordMeta:
    """What the server indexes a provider record by: clean values even when the record is schema-drifted."""

    business_index: int
    category: str
    city_index: int
    lat: float
    lon: float
    rating: float
    review_count: int
    name: str


@dataclass
class World:
    """Ground truth plus each provider's noisy, overlapping view of it."""

    seed: int
    businesses: list[Business]
    google_places: list[dict]
    yelp_businesses: list[dict]
    truth: dict[tuple[str, str], str]
    malformed: set[tuple[str, str]] = field(default_factory=set)
    google_meta: list[RecordMeta] = field(default_factory=list, repr=False)
    yelp_meta: list[RecordMeta] = field(default_factory=list, repr=False)

    @classmethod
    def generate(cls, seed: int = 42, businesses: int = 500, malformed_rate: float = 0.005) -> World:
        """Build the world; the same arguments always give byte-identical records."""
        with gc_paused():
            return _Generator(seed).build(businesses, malformed_rate)

    def cities(self) -> list[City]:
        """The metros businesses live in."""
        return list(CITIES)

    def categories(self) -> list[str]:
        """Leadlake's category ids."""
        return list(CATEGORIES)

    def records(self, provider: str) -> list[dict]:
        """The provider's records in world order."""
        return self.google_places if provider == GOOGLE else self.yelp_businesses

    def meta(self, provider: str) -> list[RecordMeta]:
        """Clean index values parallel to `records(provider)`."""
        return self.google_meta if provider == GOOGLE else self.yelp_meta


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause cyclic GC: building millions of small acyclic objects would otherwise trigger pass after pass."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def slug(text: str) -> str:
    """Lowercase ASCII slug with hyphens: "Smith & Sons" -> "smith-sons"."""
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def national_phone(e164: str) -> str:
    """+13035550101 -> (303) 555-0101."""
    d = e164[2:]
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


def international_phone(e164: str) -> str:
    """+13035550101 -> +1 303-555-0101."""
    d = e164[2:]
    return f"+1 {d[:3]}-{d[3:6]}-{d[6:]}"


def _digest(seed: int, *parts: str) -> bytes:
    return hashlib.sha256(f"{seed}:{':'.join(parts)}".encode()).digest()


def google_place_id(seed: int, business_id: str) -> str:
    """A 27-character `ChIJ...` id, base64url-ish, derived from seed and business id."""
    return "ChIJ" + base64.urlsafe_b64encode(_digest(seed, "google", business_id)).decode()[:23]


def base62_id(seed: int, *parts: str, length: int = 22) -> str:
    """A base62 id of `length` characters (at most 32) derived from seed and parts."""
    return _digest(seed, *parts)[:length].translate(_BASE62_TABLE).decode()


def _pick(rng: random.Random, options: tuple[str, ...] | tuple[tuple[str, str], ...]) -> Any:
    """Seeded choice; cheaper than Random.choice, which matters at 100k businesses."""
    return options[int(rng.random() * len(options))]


def _abbreviate_street(line: str) -> str:
    words = line.split(" ")
    return " ".join(STREET_SUFFIXES.get(w, DIRECTIONS.get(w, w)) for w in words)


def _drop_legal_suffix(name: str) -> str:
    for suffix in (" LLC", " Inc.", " Co.", " Company", " Corp.", " DDS", " PC", " PLLC", " LLP"):
        if name.endswith(suffix):
            return name[: -len(suffix)].rstrip(",")
    return name


class _Generator:
    """One seeded pass that builds businesses, then each provider's view."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.used_phones: set[str] = set()

    def build(self, n: int, malformed_rate: float) -> World:
        city_weights = [c.weight for c in CITIES]
        city_idx = self.rng.choices(range(len(CITIES)), weights=city_weights, k=n)
        businesses: list[Business] = []
        units: list[str | None] = []
        chain_branches: dict[tuple[str, int], int] = {}
        for i in range(n):
            biz, unit = self._business(i, CITIES[city_idx[i]], chain_branches)
            businesses.append(biz)
            units.append(unit)
        world = World(seed=self.seed, businesses=businesses, google_places=[], yelp_businesses=[], truth={})
        alias_counts: dict[str, int] = {}
        for i, biz in enumerate(businesses):
            in_google = self.rng.random() < 0.75
            in_yelp = self.rng.random() < 0.75
            city = CITIES[city_idx[i]]
            if in_google:
                place, meta = self._google(i, biz, units[i], city, city_idx[i])
                world.google_places.append(place)
                world.google_meta.append(meta)
                world.truth[(GOOGLE, place["id"])] = biz.business_id
            if in_yelp:
                ybiz, meta = self._yelp(i, biz, units[i], city, city_idx[i], alias_counts)
                world.yelp_businesses.append(ybiz)
                world.yelp_meta.append(meta)
                world.truth[(YELP, ybiz["id"])] = biz.business_id
        self._drift(world, malformed_rate)
        return world

    # ---- ground truth -------------------------------------------------------------------------------
    def _business(
        self, i: int, city: City, chain_branches: dict[tuple[str, int], int]
    ) -> tuple[Business, str | None]:
        rng = self.rng
        category = CATEGORIES[int(rng.random() * len(CATEGORIES))]
        chain: str | None = None
        if rng.random() < 0.10:
            brand, domain = _pick(rng, CHAINS[category])
            chain = brand
            name = brand
            website: str | None = f"https://www.{domain}"
            key = (brand, CITIES.index(city))
            chain_branches[key] = chain_branches.get(key, 0) + 1
            website += f"/locations/{slug(city.name)}-{chain_branches[key]}"
        else:
            name = self._name(category, city)
            website = self._website(name, city) if rng.random() < 0.85 else None
        lat, lon = self._position(city)
        street, unit = self._street()
        postal = city.zip_prefixes[0] + f"{int(rng.random() * 99) + 1:02d}"
        rating = min(5.0, max(1.0, round(rng.gauss(4.2, 0.6), 1)))
        review_count = min(25_000, int(math.exp(rng.gauss(3.4, 1.3))))
        phone = self._phone(city) if rng.random() < 0.96 else None
        line1 = f"{street} {unit}" if unit else street
        biz = Business(
            business_id=f"biz-{i:07d}",
            name=name,
            category=category,
            address_line1=line1,
            city=city.name,
            region=city.state,
            postal=postal,
            country="US",
            lat=lat,
            lon=lon,
            phone=phone,
            website=website,
            rating=rating,
            review_count=review_count,
            chain=chain,
        )
        return biz, unit

    def _name(self, category: str, city: City) -> str:
        rng = self.rng
        noun = _pick(rng, CATEGORY_NOUNS[category])
        style = rng.random()
        if noun.startswith("&"):
            base = f"{_pick(rng, SURNAMES)} {noun}"
        elif style < 0.30:
            base = f"{_pick(rng, ADJECTIVES)} {noun}"
        elif style < 0.45:
            base = f"{city.nickname} {noun}"
        elif style < 0.60:
            base = f"{_pick(rng, SURNAMES)} & Sons {noun}"
        elif style < 0.75 and category == "law_firm":
            base = f"{_pick(rng, SURNAMES)} & {_pick(rng, SURNAMES)} {noun}"
        elif style < 0.75:
            base = f"{_pick(rng, SURNAMES)}'s {noun}"
        else:
            base = f"{_pick(rng, SURNAMES)} {noun}"
        if rng.random() < 0.45:
            base += " " + _pick(rng, LEGAL_SUFFIXES.get(category, DEFAULT_SUFFIXES))
        return base

    def _website(self, name: str, city: City) -> str:
        rng = self.rng
        core = slug(_drop_legal_suffix(name)).replace("-", "")
        if rng.random() < 0.3:
            core += slug(city.name).replace("-", "")
        host = ("www." if rng.random() < 0.8 else "") + core + _pick(rng, TLDS)
        return f"https://{host}"

    def _position(self, city: City) -> tuple[float, float]:
        rng = self.rng
        # Most within 25 km of the centre, a tail out to 60 km so that radius filters matter.
        r_km = 25 * math.sqrt(rng.random()) if rng.random() < 0.85 else 25 + 35 * rng.random()
        bearing = rng.random() * 2 * math.pi
        lat = city.lat + (r_km * math.cos(bearing)) / 111.32
        lon = city.lon + (r_km * math.sin(bearing)) / (111.32 * math.cos(math.radians(city.lat)))
        return round(lat, 6), round(lon, 6)

    def _street(self) -> tuple[str, str | None]:
        rng = self.rng
        number = int(rng.random() * 9900) + 100
        direction = _pick(rng, _DIRECTION_WORDS) + " " if rng.random() < 0.2 else ""
        suffix = _pick(rng, _SUFFIX_WORDS)
        street = f"{number} {direction}{_pick(rng, STREETS)} {suffix}"
        unit = f"{_pick(rng, UNIT_KINDS)} {int(rng.random() * 490) + 100}" if rng.random() < 0.25 else None
        return street, unit

    def _phone(self, city: City, toll_free_rate: float = 0.03) -> str:
        rng = self.rng
        while True:
            area = _pick(rng, TOLL_FREE) if rng.random() < toll_free_rate else _pick(rng, city.area_codes)
            exchange = int(rng.random() * 800) + 200
            if exchange % 100 == 11:  # N11 codes are service numbers, never assigned
                continue
            number = f"+1{area}{exchange}{int(rng.random() * 10000):04d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    # ---- provider views -----------------------------------------------------------------------------
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
            return self._phone(city, toll_free_rate=0.0)
        return biz.phone

    def _google(
        self, i: int, biz: Business, unit: str | None, city: City, ci: int
    ) -> tuple[dict, RecordMeta]:
        rng = self.rng
        pid = google_place_id(self.seed, biz.business_id)
        name = biz.name
        if rng.random() < 0.3:
            name = _drop_legal_suffix(name)
        if rng.random() < 0.3:
            name = name.replace(" Company", " Co.")
        street_full = biz.address_line1[: -len(unit) - 1] if unit else biz.address_line1
        number, route_full = street_full.split(" ", 1)
        route_short = _abbreviate_street(route_full)
        line = f"{number} {route_short}" + (f" {unit.replace('Ste', 'Suite')}" if unit else "")
        lat, lon = self._jitter(biz.lat, biz.lon)
        phone = self._provider_phone(biz, city, missing=0.04, old=0.04)
        website = biz.website if rng.random() > 0.08 else None
        if website and rng.random() < 0.4:
            website += "/"
        rating = min(5.0, max(1.0, round(biz.rating + rng.gauss(0, 0.15), 1)))
        count = max(0, round(biz.review_count * (0.6 + 0.8 * rng.random())))
        types = list(GOOGLE_TYPES[biz.category])
        components = [
            _component(number, number, "street_number"),
            _component(route_full, route_short, "route"),
        ]
        if unit:
            unit_no = unit.split(" ")[1]
            components.insert(0, _component(unit_no, unit_no, "subpremise"))
        components += [
            _component(city.name, city.name, "locality", political=True),
            _component(city.state_name, city.state, "administrative_area_level_1", political=True),
            _component("United States", "US", "country", political=True),
            _component(biz.postal, biz.postal, "postal_code"),
        ]
        cid = int.from_bytes(_digest(self.seed, pid)[:8], "big")
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

    def _yelp(
        self, i: int, biz: Business, unit: str | None, city: City, ci: int, alias_counts: dict[str, int]
    ) -> tuple[dict, RecordMeta]:
        rng = self.rng
        yid = base62_id(self.seed, "yelp", biz.business_id)
        name = biz.name
        if rng.random() < 0.5:
            name = _drop_legal_suffix(name)
        if rng.random() < 0.3:
            name = name.replace(" & ", " and ")
        base_alias = f"{slug(name)}-{slug(city.name)}"
        alias_counts[base_alias] = alias_counts.get(base_alias, 0) + 1
        alias = base_alias if alias_counts[base_alias] == 1 else f"{base_alias}-{alias_counts[base_alias]}"
        street_full = biz.address_line1[: -len(unit) - 1] if unit else biz.address_line1
        address1 = _abbreviate_street(street_full) if rng.random() < 0.6 else street_full
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

    # ---- persistent schema drift --------------------------------------------------------------------
    def _drift(self, world: World, rate: float) -> None:
        """Corrupt a fixed, seeded share of each provider's records the way real feeds drift."""
        for provider, records in ((GOOGLE, world.google_places), (YELP, world.yelp_businesses)):
            k = round(rate * len(records))
            for j, pos in enumerate(sorted(self.rng.sample(range(len(records)), k))):
                rec = records[pos]
                world.malformed.add((provider, rec["id"]))
                (_drift_google if provider == GOOGLE else _drift_yelp)(rec, j % 3)


def _drift_google(place: dict, kind: int) -> None:
    if kind == 0:
        loc = place["location"]
        place["location"] = f"{loc['latitude']},{loc['longitude']}"
    elif kind == 1:
        place["rating"] = f"{place.get('rating', 0)} stars"
    else:
        place["displayName"] = place["displayName"]["text"]
        place["userRatingCount"] = f"{place.get('userRatingCount', 0):,}"


def _drift_yelp(ybiz: dict, kind: int) -> None:
    if kind == 0:
        del ybiz["coordinates"]
        ybiz["id"] = None
    elif kind == 1:
        ybiz["rating"] = str(ybiz["rating"])
        ybiz["review_count"] = None
    else:
        loc = ybiz["location"]
        ybiz["location"] = ", ".join(loc["display_address"])


def _component(long_text: str, short_text: str, kind: str, political: bool = False) -> dict:
    types = [kind, "political"] if political else [kind]
    return {"longText": long_text, "shortText": short_text, "types": types, "languageCode": "en"}
