"""Ground truth: the businesses themselves, drawn from the world's one seeded random stream."""

from __future__ import annotations

import math
import random

from leadlake.sandbox.world.formats import drop_legal_suffix, pick, slug
from leadlake.sandbox.world.geography import CITIES, City
from leadlake.sandbox.world.records import Business
from leadlake.sandbox.world.vocabulary import (
    ADJECTIVES,
    CATEGORIES,
    CATEGORY_NOUNS,
    CHAINS,
    DEFAULT_SUFFIXES,
    DIRECTIONS,
    LEGAL_SUFFIXES,
    STREET_SUFFIXES,
    STREETS,
    SURNAMES,
    TLDS,
    TOLL_FREE,
    UNIT_KINDS,
)

_DIRECTION_WORDS = tuple(DIRECTIONS)
_SUFFIX_WORDS = tuple(STREET_SUFFIXES)


class BusinessMaker:
    """Draws businesses and phone numbers; it shares its stream with the provider views: order matters."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_phones: set[str] = set()  # providers' stale numbers must not collide with anyone's real one
        self.used_domains: set[str] = set()  # two independent businesses never own one domain

    def business(
        self, i: int, city: City, chain_branches: dict[tuple[str, int], int]
    ) -> tuple[Business, str | None]:
        """The i-th business in `city` and its unit (suite) if any; chain branches are counted per city."""
        rng = self.rng
        category = CATEGORIES[int(rng.random() * len(CATEGORIES))]
        chain: str | None = None
        if rng.random() < 0.10:
            brand, domain = pick(rng, CHAINS[category])
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
        street, unit = self.street()
        postal = city.zip_prefixes[0] + f"{int(rng.random() * 99) + 1:02d}"
        rating = min(5.0, max(1.0, round(rng.gauss(4.2, 0.6), 1)))
        review_count = min(25_000, int(math.exp(rng.gauss(3.4, 1.3))))
        phone = self.phone(city) if rng.random() < 0.96 else None
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

    def phone(self, city: City, toll_free_rate: float = 0.03, rng: random.Random | None = None) -> str:
        """A valid, never-issued E.164 number in the city's area codes (or toll-free); `rng` defaults to the
        world's stream (the noise stream passes its own so that noise never shifts the base world)."""
        rng = rng or self.rng
        while True:
            area = pick(rng, TOLL_FREE) if rng.random() < toll_free_rate else pick(rng, city.area_codes)
            exchange = int(rng.random() * 800) + 200
            if exchange % 100 == 11:  # N11 codes are service numbers, never assigned
                continue
            number = f"+1{area}{exchange}{int(rng.random() * 10000):04d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def _name(self, category: str, city: City) -> str:
        rng = self.rng
        noun = pick(rng, CATEGORY_NOUNS[category])
        style = rng.random()
        if noun.startswith("&"):
            base = f"{pick(rng, SURNAMES)} {noun}"
        elif style < 0.30:
            base = f"{pick(rng, ADJECTIVES)} {noun}"
        elif style < 0.45:
            base = f"{city.nickname} {noun}"
        elif style < 0.60:
            base = f"{pick(rng, SURNAMES)} & Sons {noun}"
        elif style < 0.75 and category == "law_firm":
            base = f"{pick(rng, SURNAMES)} & {pick(rng, SURNAMES)} {noun}"
        elif style < 0.75:
            base = f"{pick(rng, SURNAMES)}'s {noun}"
        else:
            base = f"{pick(rng, SURNAMES)} {noun}"
        if rng.random() < 0.45:
            base += " " + pick(rng, LEGAL_SUFFIXES.get(category, DEFAULT_SUFFIXES))
        return base

    def _website(self, name: str, city: City) -> str:
        """The site of an independent business: its name (and city, sometimes) as a domain. A name taken
        by an earlier business gets the city, then a number, as a real second registrant would; the
        random stream is the same either way, so nothing else in the world changes."""
        rng = self.rng
        core = slug(drop_legal_suffix(name)).replace("-", "")
        town = slug(city.name).replace("-", "")
        if rng.random() < 0.3:
            core += town
        www, tld = "www." if rng.random() < 0.8 else "", pick(rng, TLDS)
        if core + tld in self.used_domains and not core.endswith(town):
            core += town
        base, n = core, 1
        while core + tld in self.used_domains:
            n += 1
            core = f"{base}{n}"
        self.used_domains.add(core + tld)
        return f"https://{www}{core}{tld}"

    def _position(self, city: City) -> tuple[float, float]:
        rng = self.rng
        # Most within 25 km of the centre, a tail out to 60 km so that radius filters matter.
        r_km = 25 * math.sqrt(rng.random()) if rng.random() < 0.85 else 25 + 35 * rng.random()
        bearing = rng.random() * 2 * math.pi
        lat = city.lat + (r_km * math.cos(bearing)) / 111.32
        lon = city.lon + (r_km * math.sin(bearing)) / (111.32 * math.cos(math.radians(city.lat)))
        return round(lat, 6), round(lon, 6)

    def street(self, rng: random.Random | None = None) -> tuple[str, str | None]:
        """A street line ("1234 N Oak Street") and a unit ("Suite 210") or None."""
        rng = rng or self.rng
        number = int(rng.random() * 9900) + 100
        direction = pick(rng, _DIRECTION_WORDS) + " " if rng.random() < 0.2 else ""
        suffix = pick(rng, _SUFFIX_WORDS)
        street = f"{number} {direction}{pick(rng, STREETS)} {suffix}"
        unit = f"{pick(rng, UNIT_KINDS)} {int(rng.random() * 490) + 100}" if rng.random() < 0.25 else None
        return street, unit
