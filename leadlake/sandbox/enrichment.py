"""OpenCorporates v0.4, People Data Labs v5 and Hunter v2 over data derived deterministically from the World.

Each business gets a legal entity (plus dissolved predecessors and look-alike decoys), a PDL company
profile and a Hunter email set, all from hashes of the world seed and business id: the World's own
random stream is untouched, so adding these providers changes no Google or Yelp record.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from leadlake.sandbox.protocol import Request, Response, route
from leadlake.sandbox.world import CITIES, SURNAMES, Business, World, base62_id, gc_paused, slug

if TYPE_CHECKING:
    from leadlake.sandbox.server import SandboxServer

OPENCORPORATES = "opencorporates"
PDL = "pdl"
HUNTER = "hunter"
PROVIDERS = (OPENCORPORATES, PDL, HUNTER)
PREFIXES = {"/v0.4/": OPENCORPORATES, "/v5/": PDL, "/v2/": HUNTER}

# A PDL key the sandbox accepts but whose credits are used up: every enrichment answers 402.
PDL_NO_CREDITS_KEY = "sandbox-pdl-key-no-credits"

OC_DEFAULT_PER_PAGE = 30
OC_MAX_PER_PAGE = 100
HUNTER_DEFAULT_LIMIT = 10
HUNTER_MAX_LIMIT = 100
# Shares of the synthetic data; settings as data so tests and docs can refer to them.
OC_DISSOLVED_PREDECESSOR = 0.12  # an older, dissolved entity with the same legal name
OC_LOOKALIKE = 0.06  # an unrelated active entity whose name contains the business's name
OC_OTHER_STATE_TWIN = 0.05  # an unrelated entity with the exact legal name in another state
PDL_COVERAGE = 0.8
HUNTER_COVERAGE = 0.85
HUNTER_ACCEPT_ALL = 0.15
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
NEW_SUFFIXES: dict[str, tuple[str, ...]] = {
    "dentist": ("PC", "PLLC", "LLC"),
    "law_firm": ("LLP", "PC", "PLLC"),
}
DEFAULT_NEW_SUFFIXES = ("LLC", "LLC", "LLC", "Inc.", "Corp.")

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
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Luis", "Emily",
    "Steven", "Maria", "Kevin", "Michelle", "Brian", "Amanda", "Jose", "Melissa", "Tyler", "Olivia",
)  # fmt: skip
POSITIONS: dict[str, tuple[str, ...]] = {
    "plumber": ("Master Plumber", "Service Manager", "Dispatcher"),
    "electrician": ("Master Electrician", "Project Manager", "Estimator"),
    "dentist": ("Dentist", "Practice Manager", "Hygienist"),
    "hvac": ("Service Manager", "HVAC Technician", "Comfort Advisor"),
    "roofing": ("Project Manager", "Estimator", "Sales Manager"),
    "landscaping": ("Landscape Designer", "Crew Lead", "Account Manager"),
    "auto_repair": ("Service Advisor", "Shop Foreman", "Parts Manager"),
    "bakery": ("Head Baker", "Pastry Chef", "Store Manager"),
    "cafe": ("Cafe Manager", "Head Barista", "Catering Manager"),
    "law_firm": ("Partner", "Attorney", "Paralegal"),
}
LEADERS = (("Owner", "executive", "executive"), ("General Manager", "executive", "management"))
PATTERNS = ("{first}.{last}", "{first}", "{f}{last}", "{first}{l}")
WEBMAIL = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com"})
_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIX_TOKENS = frozenset({"llc", "inc", "corp", "co", "company", "pc", "pllc", "llp", "dds", "ltd", "the"})


# ---- deterministic draws ------------------------------------------------------------------------------
def _u(seed: int, *parts: str) -> float:
    """A uniform draw in [0, 1) fixed by seed and parts."""
    digest = hashlib.blake2b(f"{seed}:{':'.join(parts)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _n(seed: int, *parts: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi] fixed by seed and parts."""
    return lo + int(_u(seed, *parts) * (hi - lo + 1))


def _pick(seed: int, options: tuple, *parts: str) -> Any:
    return options[int(_u(seed, *parts) * len(options))]


def _date(seed: int, year: int, *parts: str) -> str:
    return f"{year:04d}-{_n(seed, *parts, 'm', lo=1, hi=12):02d}-{_n(seed, *parts, 'd', lo=1, hi=28):02d}"


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


def size_bucket(count: int) -> str:
    """PDL's size bucket for an employee count."""
    for top, label in PDL_SIZES:
        if count <= top:
            return label
    return "10001+"


# ---- the derived data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LegalEntity:
    """One company register entry; `business_id` is the World business it is, None for unrelated ones."""

    name: str
    company_number: str
    jurisdiction_code: str
    incorporation_date: str
    dissolution_date: str | None
    company_type: str
    branch: str | None
    address: str
    business_id: str | None
    tokens: tuple[str, ...] = field(compare=False)

    @property
    def active(self) -> bool:
        return self.dissolution_date is None

    def record(self) -> dict[str, Any]:
        """The OpenCorporates `company` object."""
        jur, number = self.jurisdiction_code, self.company_number
        return {
            "name": self.name,
            "company_number": number,
            "jurisdiction_code": jur,
            "incorporation_date": self.incorporation_date,
            "dissolution_date": self.dissolution_date,
            "company_type": self.company_type,
            "registry_url": f"https://sos.{jur[3:]}.gov.sandbox/entity/{number}",
            "branch": self.branch,
            "branch_status": "foreign" if self.branch == "F" else None,
            "inactive": not self.active,
            "current_status": "Active" if self.active else "Dissolved",
            "created_at": f"{self.incorporation_date}T00:00:00+00:00",
            "updated_at": "2025-01-15T08:00:00+00:00",
            "retrieved_at": "2025-01-14T22:00:00+00:00",
            "opencorporates_url": f"https://opencorporates.com/companies/{jur}/{number}",
            "previous_names": [],
            "source": {"publisher": f"{jur[3:].upper()} Secretary of State", "url": None},
            "registered_address": None,
            "registered_address_in_full": self.address,
            "industry_codes": [],
            "restricted_for_marketing": None,
            "native_company_number": None,
        }


class EnrichmentData:
    """The three providers' records for one World, built once and indexed for lookups."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.seed
        self.entities: list[LegalEntity] = []
        self.entity_of: dict[str, int] = {}  # business id -> its active entity
        self.pdl_records: list[dict] = []
        self.pdl_of: dict[str, int] = {}  # business id -> its PDL record (chain branches share the brand's)
        self.pdl_by_domain: dict[str, int] = {}
        self.pdl_by_name: dict[tuple[str, ...], list[int]] = {}
        self.hunter_domains: dict[str, Business] = {}  # covered domain -> the business it belongs to
        self._hunter_cache: dict[str, dict] = {}
        self._hunter_lock = threading.Lock()
        self.business_by_domain: dict[str, Business] = {}
        self.malformed: set[tuple[str, str]] = set()
        self._token_index: dict[str, set[int]] = {}
        self._numbers: set[tuple[str, str]] = set()
        for biz in world.businesses:
            domain = website_domain(biz.website)
            if domain:
                self.business_by_domain.setdefault(domain, biz)  # the first business owns a shared domain
        self._build_entities()
        self._build_pdl()
        self._build_hunter()
        self.entity_by_number = {
            (e.jurisdiction_code, e.company_number): i for i, e in enumerate(self.entities)
        }
        for i, e in enumerate(self.entities):
            for t in set(e.tokens):
                self._token_index.setdefault(t, set()).add(i)

    # ---- OpenCorporates ---------------------------------------------------------------------------
    def _number(self, jur: str, year: int, *parts: str) -> str:
        n = _n(self.seed, "ocnum", *parts, lo=1_000_000, hi=9_999_999)
        while (jur, f"{year}{n}") in self._numbers:
            n += 1
        self._numbers.add((jur, f"{year}{n}"))
        return f"{year}{n}"

    def _add_entity(
        self, name: str, jur: str, year: int, business_id: str | None, *parts: str, **kw: Any
    ) -> int:
        base, suffix = strip_legal_suffix(name)
        entity = LegalEntity(
            name=name,
            company_number=self._number(jur, year, *parts),
            jurisdiction_code=jur,
            incorporation_date=_date(self.seed, year, "ocdate", *parts),
            dissolution_date=kw.get("dissolution_date"),
            company_type=kw.get("company_type") or LEGAL_SUFFIX_TYPES.get(suffix or "", "Corporation"),
            branch=kw.get("branch"),
            address=kw["address"],
            business_id=business_id,
            tokens=name_tokens(base),
        )
        self.entities.append(entity)
        return len(self.entities) - 1

    def _build_entities(self) -> None:
        seed = self.seed
        brands: dict[tuple[str, str], int] = {}
        for biz in self.world.businesses:
            bid, jur = biz.business_id, f"us_{biz.region.lower()}"
            address = f"{biz.address_line1}, {biz.city}, {biz.region}, {biz.postal}"
            if biz.chain:
                key = (biz.chain, jur)
                if key not in brands:
                    if (biz.chain, "us_de") not in brands:
                        parent_year = _n(seed, "brand", biz.chain, lo=1978, hi=2005)
                        hq = f"251 Little Falls Drive, Wilmington, DE, 19808 ({biz.chain})"
                        brands[(biz.chain, "us_de")] = self._add_entity(
                            f"{biz.chain}, Inc.", "us_de", parent_year, None, "brand", biz.chain, address=hq
                        )
                    year = _n(seed, "branch", biz.chain, jur, lo=2006, hi=2022)
                    brands[key] = self._add_entity(
                        f"{biz.chain}, Inc.",
                        jur,
                        year,
                        None,
                        "branch",
                        biz.chain,
                        jur,
                        address=address,
                        branch="F",
                        company_type="Foreign Corporation",
                    )
                self.entity_of[bid] = brands[key]
                continue
            base, suffix = strip_legal_suffix(biz.name)
            suffix = suffix or _pick(seed, NEW_SUFFIXES.get(biz.category, DEFAULT_NEW_SUFFIXES), "sfx", bid)
            legal = f"{base} {suffix}"
            year = _n(seed, "year", bid, lo=1985, hi=2022)
            if _u(seed, "predecessor", bid) < OC_DISSOLVED_PREDECESSOR and year > 1990:
                old = _n(seed, "oldyear", bid, lo=1975, hi=year - 3)
                gone = _date(seed, year - 1, "gone", bid)
                self._add_entity(legal, jur, old, None, "old", bid, address=address, dissolution_date=gone)
            self.entity_of[bid] = self._add_entity(legal, jur, year, bid, "main", bid, address=address)
            if _u(seed, "lookalike", bid) < OC_LOOKALIKE:
                look_year = _n(seed, "lookyear", bid, lo=1990, hi=2023)
                self._add_entity(f"{base} Holdings LLC", jur, look_year, None, "look", bid, address=address)
            if _u(seed, "twin", bid) < OC_OTHER_STATE_TWIN:
                other = _pick(seed, tuple(c for c in CITIES if c.state != biz.region), "twincity", bid)
                twin_year = _n(seed, "twinyear", bid, lo=1990, hi=2023)
                twin_addr = (
                    f"{_n(seed, 'twinno', bid, lo=100, hi=9999)} Main Street, {other.name}, {other.state}"
                )
                self._add_entity(
                    legal, f"us_{other.state.lower()}", twin_year, None, "twin", bid, address=twin_addr
                )
        self.oc_records = [e.record() for e in self.entities]
        for i, rec in enumerate(self.oc_records):
            if self.entities[i].business_id and _u(seed, "ocdrift", str(i)) < DRIFT_RATE:
                rec["incorporation_date"] = int(rec["incorporation_date"].replace("-", ""))  # drift: a number
                self.malformed.add((OPENCORPORATES, f"{rec['jurisdiction_code']}/{rec['company_number']}"))

    def search_entities(self, q: str, jurisdiction: str | None) -> list[int]:
        """Entities whose name holds every query word, best first: exact names, then active, then by name."""
        wanted = name_tokens(q)
        if not wanted:
            return []
        hits = set.intersection(*(self._token_index.get(t, set()) for t in wanted))
        if jurisdiction:
            hits = {i for i in hits if self.entities[i].jurisdiction_code == jurisdiction}
        return sorted(
            hits,
            key=lambda i: (
                self.entities[i].tokens != wanted,
                not self.entities[i].active,
                self.entities[i].name,
                self.entities[i].company_number,
            ),
        )

    # ---- People Data Labs -------------------------------------------------------------------------
    def _build_pdl(self) -> None:
        seed = self.seed
        for biz in self.world.businesses:
            bid = biz.business_id
            domain = website_domain(biz.website)
            if biz.chain and domain in self.pdl_by_domain:
                self.pdl_of[bid] = self.pdl_by_domain[domain]
                continue
            if domain and self.business_by_domain.get(domain) is not biz:
                continue  # a second business on a name-collided domain: PDL knows only the first
            if not biz.chain and _u(seed, "pdl", bid) >= PDL_COVERAGE:
                continue
            record = self._pdl_record(biz, domain)
            pos = len(self.pdl_records)
            self.pdl_records.append(record)
            self.pdl_of[bid] = pos
            if domain:
                self.pdl_by_domain[domain] = pos
            self.pdl_by_name.setdefault(name_tokens(record["display_name"]), []).append(pos)
            if _u(seed, "pdldrift", bid) < DRIFT_RATE:
                record["employee_count"] = f"{record['employee_count']:,} employees"  # drift: text
                self.malformed.add((PDL, record["id"]))

    def _pdl_record(self, biz: Business, domain: str | None) -> dict[str, Any]:
        seed, bid = self.seed, biz.business_id
        city = next(c for c in CITIES if c.name == biz.city)
        display = biz.chain or strip_legal_suffix(biz.name)[0]
        if biz.chain:
            count = _n(seed, "emp", biz.chain, lo=250, hi=4000)
            founded = _n(seed, "brand", biz.chain, lo=1978, hi=2005)  # the parent's incorporation year
        else:
            median = MEDIAN_EMPLOYEES[biz.category]
            count = max(1, round(median * 2 ** ((_u(seed, "emp", bid) - 0.5) * 5)))
            founded = int(self.entities[self.entity_of[bid]].incorporation_date[:4])
        food = biz.category in ("bakery", "cafe")
        tags = list(CATEGORY_TAGS[biz.category][: _n(seed, "ntags", bid, lo=1, hi=3)])
        tags += [t for t, shares in TECH_TAGS.items() if _u(seed, "tech", t, bid) < shares[0 if food else 1]]
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
            "linkedin_id": str(_n(seed, "li", bid, lo=1_000_000, hi=99_999_999)),
            "linkedin_url": f"linkedin.com/company/{handle}",
            "facebook_url": f"facebook.com/{handle.replace('-', '')}" if _u(seed, "fb", bid) < 0.6 else None,
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

    def pdl_match(
        self, website: str | None, name: str | None, locality: str | None, region: str | None
    ) -> tuple[int, int] | None:
        """(record position, likelihood) for an enrichment request, or None (404)."""
        if website:
            pos = self.pdl_by_domain.get(website_domain(website) or "")
            return (pos, 10) if pos is not None else None
        if not name:
            return None
        candidates = self.pdl_by_name.get(name_tokens(name), [])
        region_l = (region or "").strip().lower()
        locality_l = (locality or "").strip().lower()
        best: tuple[int, int] | None = None
        for pos in candidates:
            loc = self.pdl_records[pos]["location"]
            state_code = next((c.state for c in CITIES if c.state_name.lower() == loc["region"]), "")
            if region_l and region_l not in (loc["region"], state_code.lower()):
                continue
            if locality_l and locality_l != loc["locality"]:
                continue
            score = 4 + 3 * bool(region_l) + 2 * bool(locality_l)
            if best is None or score > best[1]:
                best = (pos, score)
        return best

    # ---- Hunter -----------------------------------------------------------------------------------
    def _build_hunter(self) -> None:
        """Decide coverage and drift now; email sets are built per domain on first request (costly)."""
        seed = self.seed
        for domain, biz in self.business_by_domain.items():
            if not biz.chain and _u(seed, "hunter", domain) >= HUNTER_COVERAGE:
                continue
            self.hunter_domains[domain] = biz
            if _u(seed, "hunterdrift", domain) < DRIFT_RATE:
                self.malformed.add((HUNTER, domain))

    def hunter(self, domain: str) -> dict[str, Any] | None:
        """Hunter's domain data (all emails), or None for a domain Hunter knows nothing about."""
        biz = self.hunter_domains.get(domain)
        if biz is None:
            return None
        with self._hunter_lock:
            found = self._hunter_cache.get(domain)
            if found is None:
                found = self._hunter_cache[domain] = self._hunter_data(domain, biz)
        return found

    def _hunter_data(self, domain: str, biz: Business) -> dict[str, Any]:
        seed = self.seed
        accept_all = _u(seed, "acceptall", domain) < HUNTER_ACCEPT_ALL
        pattern = _pick(seed, PATTERNS, "pattern", domain)
        people = (
            _n(seed, "people", domain, lo=12, hi=20) if biz.chain else _n(seed, "people", domain, lo=0, hi=5)
        )
        emails: list[dict[str, Any]] = []
        used: set[str] = set()
        for k in range(people):
            first = _pick(seed, FIRST_NAMES, "first", domain, str(k))
            last = _pick(seed, SURNAMES, "last", domain, str(k))
            local = pattern.format(
                first=first.lower(), last=last.lower(), f=first[0].lower(), l=last[0].lower()
            )
            if local in used:
                continue
            used.add(local)
            if k < len(LEADERS):
                position, seniority, department = LEADERS[k]
            else:
                position = _pick(seed, POSITIONS[biz.category], "pos", domain, str(k))
                seniority, department = (
                    _pick(seed, ("senior", "junior", None), "sen", domain, str(k)),
                    "operations",
                )
            email = self._email(domain, local, "personal", accept_all, str(k))
            email |= {"first_name": first, "last_name": last, "position": position}
            email |= {"seniority": seniority, "department": department}
            emails.append(email)
        emails.sort(key=lambda e: (-e["confidence"], e["value"]))
        generic = ["info"] + [
            box for box in ("contact", "office", "sales", "support") if _u(seed, "box", box, domain) < 0.35
        ]
        for box in generic:
            email = self._email(domain, box, "generic", accept_all, box)
            email |= {"first_name": None, "last_name": None, "position": None}
            email |= {"seniority": None, "department": "support" if box == "support" else None}
            emails.append(email)
        if (HUNTER, domain) in self.malformed:
            emails[0]["confidence"] = "high"  # drift: a word where a number belongs (info@ is always there)
        return {
            "domain": domain,
            "disposable": False,
            "webmail": False,
            "accept_all": accept_all,
            "pattern": pattern,
            "organization": biz.chain or strip_legal_suffix(biz.name)[0],
            "description": None,
            "industry": PDL_INDUSTRY[biz.category].title(),
            "twitter": None,
            "facebook": None,
            "linkedin": None,
            "instagram": None,
            "youtube": None,
            "technologies": [],
            "country": "US",
            "state": biz.region,
            "city": biz.city,
            "postal_code": biz.postal,
            "street": biz.address_line1,
            "headcount": None,
            "company_type": "privately held",
            "emails": emails,
            "linked_domains": [],
        }

    def _email(self, domain: str, local: str, kind: str, accept_all: bool, key: str) -> dict[str, Any]:
        seed = self.seed
        u = _u(seed, "verify", domain, key)
        if u < 0.08:
            verification: dict[str, Any] = {"date": None, "status": None}
        else:
            status = (
                "accept_all" if accept_all else ("valid" if u < 0.8 else "unknown" if u < 0.94 else "invalid")
            )
            verification = {"date": _date(seed, 2024, "vdate", domain, key), "status": status}
        seen = _date(seed, 2024, "seen", domain, key)
        page = "contact" if kind == "generic" else "about"
        return {
            "value": f"{local}@{domain}",
            "type": kind,
            "confidence": _n(seed, "conf", domain, key, lo=70 if kind == "generic" else 45, hi=99),
            "sources": [
                {
                    "domain": domain,
                    "uri": f"http://{domain}/{page}",
                    "extracted_on": _date(seed, 2023, "extracted", domain, key),
                    "last_seen_on": seen,
                    "still_on_page": True,
                }
            ],
            "linkedin": None,
            "twitter": None,
            "phone_number": None,
            "verification": verification,
        }


_DATA_LOCK = threading.Lock()


def data(app: SandboxServer) -> EnrichmentData:
    """The server's enrichment data, built on first use (cheap worlds need not pay for it)."""
    built = getattr(app, "_enrichment_data", None)
    if built is None:
        with _DATA_LOCK:
            built = getattr(app, "_enrichment_data", None)
            if built is None:
                with gc_paused():  # many small acyclic objects: cyclic GC passes would double the build time
                    built = EnrichmentData(app.world)
                app._enrichment_data = built  # type: ignore[attr-defined]
    return built


def _int_arg(req: Request, name: str, default: int) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


# ---- OpenCorporates ---------------------------------------------------------------------------------
def oc_error(status: int, message: str) -> Response:
    """An OpenCorporates error body."""
    return Response(status, {"error": {"message": message}})


def oc_rate_limited() -> Response:
    return oc_error(429, "Rate limit exceeded. Please wait before making further requests.")


def oc_unavailable(code: int) -> Response:
    return oc_error(code, "Sorry, something went wrong. Please try again later.")


def _oc_check(app: SandboxServer, req: Request) -> Response | None:
    """`api_token` query parameter; missing or wrong is 401 Invalid Api Token."""
    if req.arg("api_token") != app.keys.opencorporates:
        return oc_error(401, "Invalid Api Token")
    return None


def oc_search(app: SandboxServer, req: Request) -> Response:
    """GET /v0.4/companies/search."""
    denied = _oc_check(app, req)
    if denied:
        return denied
    page, per_page = _int_arg(req, "page", 1), _int_arg(req, "per_page", OC_DEFAULT_PER_PAGE)
    if page is None or per_page is None or page < 1 or per_page < 1:
        return oc_error(400, "page and per_page must be positive integers")
    per_page = min(per_page, OC_MAX_PER_PAGE)  # OpenCorporates silently caps per_page
    d = data(app)
    hits = d.search_entities(req.arg("q") or "", (req.arg("jurisdiction_code") or "").lower() or None)
    # No truncated-page fault here: with page-number paging a short page would lose items for good.
    start = (page - 1) * per_page
    companies = [{"company": d.oc_records[i]} for i in hits[start : start + per_page]]
    results = {
        "companies": companies,
        "page": page,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(len(hits) / per_page)) if hits else 0,
        "total_count": len(hits),
    }
    return Response(200, {"api_version": "0.4", "results": results})


def oc_company(app: SandboxServer, req: Request) -> Response:
    """GET /v0.4/companies/{jurisdiction_code}/{company_number}."""
    denied = _oc_check(app, req)
    if denied:
        return denied
    d = data(app)
    pos = d.entity_by_number.get((req.params["jurisdiction"].lower(), req.params["number"]))
    if pos is None:
        return oc_error(404, "No company found with that jurisdiction/company number")
    return Response(200, {"api_version": "0.4", "results": {"company": d.oc_records[pos]}})


# ---- People Data Labs -------------------------------------------------------------------------------
def pdl_error(status: int, kind: str, message: str) -> Response:
    """A PDL v5 error body."""
    return Response(status, {"status": status, "error": {"type": kind, "message": message}})


def pdl_rate_limited() -> Response:
    return pdl_error(429, "rate_limit_error", "An error occurred due to requests hitting the API too quick")


def pdl_unavailable(code: int) -> Response:
    return pdl_error(code, "error", "An unexpected error occurred on our end. Please try again.")


def pdl_enrich(app: SandboxServer, req: Request) -> Response:
    """GET /v5/company/enrich: `X-Api-Key` header (or `api_key` parameter); 404 when nothing matches."""
    key = req.headers.get("X-Api-Key") or req.arg("api_key")
    if not key:
        return pdl_error(401, "authentication_error", "No API key was provided")
    if key == PDL_NO_CREDITS_KEY:
        return pdl_error(402, "payment_required", "You have hit your account maximum for company enrichment")
    if key != app.keys.pdl:
        return pdl_error(401, "authentication_error", "Invalid API key")
    website, name = req.arg("website"), req.arg("name")
    if not website and not name and not req.arg("profile") and not req.arg("ticker"):
        return pdl_error(
            400, "invalid_request_error", "You must include at least one of website, name, profile, ticker"
        )
    min_likelihood = _int_arg(req, "min_likelihood", 2)
    if min_likelihood is None or not 0 <= min_likelihood <= 10:
        return pdl_error(400, "invalid_request_error", "min_likelihood must be an integer from 0 to 10")
    d = data(app)
    found = d.pdl_match(website, name, req.arg("locality"), req.arg("region"))
    if found is None or found[1] < min_likelihood:
        return pdl_error(404, "not_found", "No records were found matching your request")
    pos, likelihood = found
    return Response(200, {**d.pdl_records[pos], "likelihood": likelihood})


# ---- Hunter -----------------------------------------------------------------------------------------
def hunter_error(status: int, ident: str, details: str) -> Response:
    """A Hunter v2 error body."""
    return Response(status, {"errors": [{"id": ident, "code": status, "details": details}]})


def hunter_rate_limited() -> Response:
    return hunter_error(429, "too_many_requests", "You have reached the rate limit for this API endpoint")


def hunter_unavailable(code: int) -> Response:
    return hunter_error(code, "internal_server_error", "Something went wrong on our side. Please try again.")


def hunter_domain_search(app: SandboxServer, req: Request) -> Response:
    """GET /v2/domain-search: `api_key` parameter; an unknown domain is a 200 with no emails."""
    key = req.arg("api_key") or req.headers.get("X-API-KEY")
    if key != app.keys.hunter:
        return hunter_error(401, "authentication_failed", "No user found for the API key supplied")
    raw = (req.arg("domain") or "").strip().lower()
    if not raw:
        return hunter_error(400, "wrong_params", "You are missing the domain or company parameter")
    domain = website_domain(raw) or raw
    if "." not in domain:
        return hunter_error(400, "invalid_domain", "The domain parameter is not a valid domain")
    limit, offset = _int_arg(req, "limit", HUNTER_DEFAULT_LIMIT), _int_arg(req, "offset", 0)
    if limit is None or offset is None or not 1 <= limit <= HUNTER_MAX_LIMIT or offset < 0:
        return hunter_error(400, "pagination_error", f"limit must be 1-{HUNTER_MAX_LIMIT} and offset >= 0")
    kind = req.arg("type")
    if kind not in (None, "", "personal", "generic"):
        return hunter_error(400, "wrong_params", "type must be personal or generic")
    found = data(app).hunter(domain)
    emails = [e for e in (found or {}).get("emails", []) if not kind or e["type"] == kind]
    take = limit
    if app.draw_truncation() and take > 1:
        take = max(1, take // 2)
    body: dict[str, Any] = {
        "domain": domain,
        "disposable": False,
        "webmail": domain in WEBMAIL,
        "accept_all": False,
        "pattern": None,
        "organization": None,
    }
    if found:
        body = {k: v for k, v in found.items() if k != "emails"}
    body["emails"] = emails[offset : offset + take]
    meta = {
        "results": len(emails),
        "limit": limit,
        "offset": offset,
        "params": {
            "domain": domain,
            "company": None,
            "type": kind or None,
            "seniority": None,
            "department": None,
        },
    }
    return Response(200, {"data": body, "meta": meta})


def not_found(provider: str, req: Request) -> Response:
    """Each provider's answer to a path it does not serve."""
    if provider == OPENCORPORATES:
        return oc_error(404, f"Not found: {req.path}")
    if provider == PDL:
        return pdl_error(404, "not_found", f"Endpoint {req.path} does not exist")
    return hunter_error(404, "not_found", f"The requested endpoint {req.path} does not exist")


ERRORS: dict[str, tuple[Callable[[], Response], Callable[[int], Response], tuple[int, ...]]] = {
    OPENCORPORATES: (oc_rate_limited, oc_unavailable, (500, 502, 503)),
    PDL: (pdl_rate_limited, pdl_unavailable, (500, 503)),
    HUNTER: (hunter_rate_limited, hunter_unavailable, (500, 503)),
}

ROUTES = [
    route(OPENCORPORATES, "GET", r"/v0.4/companies/search", "opencorporates.search", oc_search, paged=True),
    route(
        OPENCORPORATES,
        "GET",
        r"/v0.4/companies/(?P<jurisdiction>[a-z_]+)/(?P<number>[^/]+)",
        "opencorporates.company",
        oc_company,
    ),
    route(PDL, "GET", r"/v5/company/enrich", "pdl.company_enrich", pdl_enrich),
    route(HUNTER, "GET", r"/v2/domain-search", "hunter.domain_search", hunter_domain_search, paged=True),
]
