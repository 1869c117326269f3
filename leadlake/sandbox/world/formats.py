"""Deterministic ids and text formats: slugs, phone renderings, provider ids, seeded picks, name variants."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from typing import Any

from leadlake.sandbox.world.vocabulary import DIRECTIONS, STREET_SUFFIXES

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_TABLE = bytes(ord(BASE62[b % 62]) for b in range(256))
_NON_SLUG = re.compile(r"[^a-z0-9]+")
_LEGAL_SUFFIXES = (" LLC", " Inc.", " Co.", " Company", " Corp.", " DDS", " PC", " PLLC", " LLP")


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


def digest(seed: int, *parts: str) -> bytes:
    """SHA-256 of seed and parts: ids derived from it never consume the world's random stream."""
    return hashlib.sha256(f"{seed}:{':'.join(parts)}".encode()).digest()


def google_place_id(seed: int, business_id: str) -> str:
    """A 27-character `ChIJ...` id, base64url-ish, derived from seed and business id."""
    return "ChIJ" + base64.urlsafe_b64encode(digest(seed, "google", business_id)).decode()[:23]


def base62_id(seed: int, *parts: str, length: int = 22) -> str:
    """A base62 id of `length` characters (at most 32) derived from seed and parts."""
    return digest(seed, *parts)[:length].translate(_BASE62_TABLE).decode()


def pick(rng: random.Random, options: tuple[str, ...] | tuple[tuple[str, str], ...]) -> Any:
    """Seeded choice; cheaper than Random.choice, which matters at 100k businesses."""
    return options[int(rng.random() * len(options))]


def abbreviate_street(line: str) -> str:
    """ "100 North Main Street" -> "100 N Main St", as providers shorten addresses."""
    words = line.split(" ")
    return " ".join(STREET_SUFFIXES.get(w, DIRECTIONS.get(w, w)) for w in words)


def drop_legal_suffix(name: str) -> str:
    """ "Acme Plumbing LLC" -> "Acme Plumbing"; names without a legal suffix are unchanged."""
    for suffix in _LEGAL_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)].rstrip(",")
    return name


def address_component(long_text: str, short_text: str, kind: str, political: bool = False) -> dict:
    """One Google Places addressComponents entry."""
    types = [kind, "political"] if political else [kind]
    return {"longText": long_text, "shortText": short_text, "types": types, "languageCode": "en"}


def google_address_components(
    number: str, route_full: str, route_short: str, unit: str | None, city: Any, postal: str
) -> list[dict]:
    """Google Places addressComponents of a US street address (subpremise first when there is a unit)."""
    components = [
        address_component(number, number, "street_number"),
        address_component(route_full, route_short, "route"),
    ]
    if unit:
        unit_no = unit.split(" ")[1]
        components.insert(0, address_component(unit_no, unit_no, "subpremise"))
    return components + [
        address_component(city.name, city.name, "locality", political=True),
        address_component(city.state_name, city.state, "administrative_area_level_1", political=True),
        address_component("United States", "US", "country", political=True),
        address_component(postal, postal, "postal_code"),
    ]
