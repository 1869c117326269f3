"""The company profiles People Data Labs serves: one per covered single-site business, one per chain."""

from __future__ import annotations

from typing import Any

from leadlake.sandbox.enrichment.common import (
    DRIFT_RATE,
    PDL,
    PDL_INDUSTRY,
    integer,
    name_tokens,
    strip_legal_suffix,
    uniform,
    website_domain,
)
from leadlake.sandbox.enrichment.opencorporates import CompanyRegister
from leadlake.sandbox.world import CITIES, Business, World, base62_id, slug

# A PDL key the sandbox accepts but whose credits are used up: every enrichment answers 402.
PDL_NO_CREDITS_KEY = "sandbox-pdl-key-no-credits"
PDL_COVERAGE = 0.8

MEDIAN_EMPLOYEES: dict[str, int] = {
    "plumber": 9, "electrician": 11, "dentist": 12, "hvac": 14, "roofing": 16, "landscaping": 13,
    "auto_repair": 7, "bakery": 8, "cafe": 10, "law_firm": 15,
}  # fmt: skip

PDL_SIZES: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
    (10000, "5001-10000"),
)
CATEGORY_TAGS: dict[str, tuple[str, ...]] = {
    "plumber": ("plumbing", "drain cleaning", "water heaters"),
    "electrician": ("electrical", "lighting", "panel upgrades"),
    "dentist": ("dentistry", "cosmetic dentistry", "family dentistry"),
    "hvac": ("hvac", "heating", "air conditioning"),
    "roofing": ("roofing", "gutters", "roof repair"),
    "landscaping": ("landscaping", "lawn care", "irrigation"),
    "auto_repair": ("auto repair", "brakes", "oil change"),
    "bakery": ("bakery", "pastries", "custom cakes"),
    "cafe": ("coffee", "espresso", "breakfast"),
    "law_firm": ("legal services", "litigation", "estate planning"),
}
# Tech tags and the share of businesses carrying them (food businesses sell online more often).
TECH_TAGS: dict[str, tuple[float, float]] = {  # tag -> (share for food businesses, share for others)
    "wordpress": (0.35, 0.45),
    "shopify": (0.40, 0.05),
    "stripe": (0.30, 0.20),
    "square": (0.45, 0.10),
    "google analytics": (0.50, 0.50),
    "mailchimp": (0.20, 0.15),
    "wix": (0.10, 0.10),
    "squarespace": (0.15, 0.10),
}


def size_bucket(count: int) -> str:
    """PDL's size bucket for an employee count."""
    for top, label in PDL_SIZES:
        if count <= top:
            return label
    return "10001+"


class PdlDataset:
    """PDL's records for a World, indexed by website domain and by name tokens."""

    def __init__(
        self, world: World, business_by_domain: dict[str, Business], register: CompanyRegister
    ) -> None:
        self.seed = world.seed
        self.register = register  # a single-site company was founded the year its entity was incorporated
        self.records: list[dict] = []
        self.of: dict[str, int] = {}  # business id -> its PDL record (chain branches share the brand's)
        self.by_domain: dict[str, int] = {}
        self.by_name: dict[tuple[str, ...], list[int]] = {}
        self.malformed: set[tuple[str, str]] = set()
        seed = self.seed
        for biz in world.businesses:
            bid = biz.business_id
            domain = website_domain(biz.website)
            if biz.chain and domain in self.by_domain:
                self.of[bid] = self.by_domain[domain]
                continue
            if domain and business_by_domain.get(domain) is not biz:
                continue  # a second business on a name-collided domain: PDL knows only the first
            if not biz.chain and uniform(seed, "pdl", bid) >= PDL_COVERAGE:
                continue
            record = self._record(biz, domain)
            pos = len(self.records)
            self.records.append(record)
            self.of[bid] = pos
            if domain:
                self.by_domain[domain] = pos
            self.by_name.setdefault(name_tokens(record["display_name"]), []).append(pos)
            if uniform(seed, "pdldrift", bid) < DRIFT_RATE:
                record["employee_count"] = f"{record['employee_count']:,} employees"  # drift: text
                self.malformed.add((PDL, record["id"]))

    def match(
        self, website: str | None, name: str | None, locality: str | None, region: str | None
    ) -> tuple[int, int] | None:
        """(record position, likelihood) for an enrichment request, or None (404)."""
        if website:
            pos = self.by_domain.get(website_domain(website) or "")
            return (pos, 10) if pos is not None else None
        if not name:
            return None
        candidates = self.by_name.get(name_tokens(name), [])
        region_l = (region or "").strip().lower()
        locality_l = (locality or "").strip().lower()
        best: tuple[int, int] | None = None
        for pos in candidates:
            loc = self.records[pos]["location"]
            state_code = next((c.state for c in CITIES if c.state_name.lower() == loc["region"]), "")
            if region_l and region_l not in (loc["region"], state_code.lower()):
                continue
            if locality_l and locality_l != loc["locality"]:
                continue
            score = 4 + 3 * bool(region_l) + 2 * bool(locality_l)
            if best is None or score > best[1]:
                best = (pos, score)
        return best

    def _record(self, biz: Business, domain: str | None) -> dict[str, Any]:
        seed, bid = self.seed, biz.business_id
        city = next(c for c in CITIES if c.name == biz.city)
        display = biz.chain or strip_legal_suffix(biz.name)[0]
        if biz.chain:
            count = integer(seed, "emp", biz.chain, lo=250, hi=4000)
            founded = integer(seed, "brand", biz.chain, lo=1978, hi=2005)  # the parent's incorporation year
        else:
            median = MEDIAN_EMPLOYEES[biz.category]
            count = max(1, round(median * 2 ** ((uniform(seed, "emp", bid) - 0.5) * 5)))
            founded = int(self.register.entities[self.register.entity_of[bid]].incorporation_date[:4])
        food = biz.category in ("bakery", "cafe")
        tags = list(CATEGORY_TAGS[biz.category][: integer(seed, "ntags", bid, lo=1, hi=3)])
        tags += [
            t for t, shares in TECH_TAGS.items() if uniform(seed, "tech", t, bid) < shares[0 if food else 1]
        ]
        handle = slug(display)
        state = city.state_name.lower()
        return {
            "status": 200,
            "likelihood": 10,
            "id": base62_id(seed, "pdl", biz.chain or bid, length=28),
            "name": display.lower(),
            "display_name": display,
            "size": size_bucket(count),
            "employee_count": count,
            "founded": founded,
            "industry": PDL_INDUSTRY[biz.category],
            "naics": None,
            "sic": None,
            "location": {
                "name": f"{biz.city.lower()}, {state}, united states",
                "locality": biz.city.lower(),
                "region": state,
                "metro": f"{biz.city.lower()}, {state}",
                "country": "united states",
                "continent": "north america",
                "street_address": biz.address_line1.lower(),
                "address_line_2": None,
                "postal_code": biz.postal,
                "geo": f"{biz.lat:.2f},{biz.lon:.2f}",
            },
            "linkedin_id": str(integer(seed, "li", bid, lo=1_000_000, hi=99_999_999)),
            "linkedin_url": f"linkedin.com/company/{handle}",
            "facebook_url": f"facebook.com/{handle.replace('-', '')}"
            if uniform(seed, "fb", bid) < 0.6
            else None,
            "twitter_url": None,
            "profiles": [f"linkedin.com/company/{handle}"],
            "website": domain,
            "ticker": None,
            "type": "private",
            "summary": f"{display} provides {CATEGORY_TAGS[biz.category][0]} in {biz.city}.".lower(),
            "tags": tags,
            "headline": None,
            "alternative_names": [],
            "alternative_domains": [],
            "affiliated_profiles": [],
            "employee_count_by_country": {"united states": count},
            "dataset_version": "29.2",
        }
