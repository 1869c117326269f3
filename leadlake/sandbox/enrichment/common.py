"""What the enrichment datasets share: provider names, company-name helpers and hash draws.

Draws hash the seed with fixed parts, never the World's random stream, so no Google or Yelp record changes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

OPENCORPORATES = "opencorporates"
PDL = "pdl"
HUNTER = "hunter"
PROVIDERS = (OPENCORPORATES, PDL, HUNTER)

DRIFT_RATE = 0.02  # persistent schema drift in each provider's records

LEGAL_SUFFIX_TYPES: dict[str, str] = {
    "LLC": "Limited Liability Company",
    "Inc.": "Corporation",
    "Corp.": "Corporation",
    "Co.": "Corporation",
    "Company": "Corporation",
    "PC": "Professional Corporation",
    "PLLC": "Professional Limited Liability Company",
    "LLP": "Limited Liability Partnership",
    "DDS": "Professional Corporation",
}
# PDL's industry per category; Hunter reports the same industry, title-cased.
PDL_INDUSTRY: dict[str, str] = {
    "plumber": "construction",
    "electrician": "construction",
    "dentist": "medical practice",
    "hvac": "construction",
    "roofing": "construction",
    "landscaping": "facilities services",
    "auto_repair": "automotive",
    "bakery": "food production",
    "cafe": "food & beverages",
    "law_firm": "law practice",
}
_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIX_TOKENS = frozenset({"llc", "inc", "corp", "co", "company", "pc", "pllc", "llp", "dds", "ltd", "the"})


def uniform(seed: int, *parts: str) -> float:
    """A uniform draw in [0, 1) fixed by seed and parts."""
    digest = hashlib.blake2b(f"{seed}:{':'.join(parts)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def integer(seed: int, *parts: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi] fixed by seed and parts."""
    return lo + int(uniform(seed, *parts) * (hi - lo + 1))


def choice(seed: int, options: tuple, *parts: str) -> Any:
    """One of `options`, fixed by seed and parts."""
    return options[int(uniform(seed, *parts) * len(options))]


def day(seed: int, year: int, *parts: str) -> str:
    """An ISO date in `year`, fixed by seed and parts (days 1-28 so every month has it)."""
    month, dom = integer(seed, *parts, "m", lo=1, hi=12), integer(seed, *parts, "d", lo=1, hi=28)
    return f"{year:04d}-{month:02d}-{dom:02d}"


def name_tokens(text: str) -> tuple[str, ...]:
    """Search tokens of a company name: lowercase words, "&" as "and", legal suffixes dropped."""
    low = text.lower().replace("&", " and ").replace("'", "")
    return tuple(t for t in _TOKEN.findall(low) if t not in _SUFFIX_TOKENS)


def website_domain(url: str | None) -> str | None:
    """ "https://www.acme.com/x" -> "acme.com" (the world's websites have simple one-label suffixes)."""
    if not url:
        return None
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    return host.removeprefix("www.") or None


def strip_legal_suffix(name: str) -> tuple[str, str | None]:
    """("Acme Plumbing LLC") -> ("Acme Plumbing", "LLC"); (name, None) when it carries no legal suffix."""
    for suffix in LEGAL_SUFFIX_TYPES:
        if name.endswith(" " + suffix):
            return name[: -len(suffix) - 1].rstrip(","), suffix
    return name, None
