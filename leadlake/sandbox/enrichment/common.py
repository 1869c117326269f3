"""What the enrichment datasets share: provider names, company-name helpers and hash draws.

Draws hash the seed with fixed parts, never the World's random stream, so no Google or Yelp record changes.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from leadlake.sandbox.faults import rate_from_env

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


# The sandbox's documented request limit per enrichment provider (requests/s, one second's worth saved
# up): above it a provider answers 429 with Retry-After, as the real APIs do. The clients' default rate
# against the sandbox (settings.sandbox_rate_per_s, 200/s) stays under it; 0 turns the limit off.
RATE_LIMIT_ENV = "LEADLAKE_SANDBOX_ENRICHMENT_RATE_LIMIT"
DEFAULT_RATE_LIMIT = 250.0


def rate_limit_from_env() -> float:
    """The enrichment providers' sandbox rate limit (requests/s) from RATE_LIMIT_ENV, else the default."""
    return rate_from_env(RATE_LIMIT_ENV, DEFAULT_RATE_LIMIT)


class RequestLimit:
    """A provider's request limit: a token bucket of `per_second` tokens a second, one second's worth saved
    up; `admit()` spends a token, or says how long until one is there (the 429's Retry-After)."""

    def __init__(self, per_second: float, clock: Any = time.monotonic) -> None:
        self.per_second = float(per_second)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = max(1.0, self.per_second)
        self._stamp = clock()
        self.refused = 0

    def admit(self) -> float | None:
        """None when the request may go, else the seconds to wait before retrying."""
        if self.per_second <= 0:
            return None
        with self._lock:
            now = self._clock()
            cap = max(1.0, self.per_second)
            self._tokens = min(cap, self._tokens + (now - self._stamp) * self.per_second)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            self.refused += 1
            return (1.0 - self._tokens) / self.per_second
