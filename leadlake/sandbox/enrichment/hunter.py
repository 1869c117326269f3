"""The email sets Hunter serves per company domain: named people by the domain's pattern, generic boxes."""

from __future__ import annotations

import threading
from typing import Any

from leadlake.sandbox.enrichment.common import (
    DRIFT_RATE,
    HUNTER,
    PDL_INDUSTRY,
    choice,
    day,
    integer,
    strip_legal_suffix,
    uniform,
)
from leadlake.sandbox.world import SURNAMES, Business, World

HUNTER_COVERAGE = 0.85
HUNTER_ACCEPT_ALL = 0.15
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


class HunterDataset:
    """Which domains Hunter covers (decided up front) and their email sets (built per domain when asked)."""

    def __init__(self, world: World, business_by_domain: dict[str, Business]) -> None:
        self.seed = world.seed
        self.domains: dict[str, Business] = {}  # covered domain -> the business it belongs to
        self.malformed: set[tuple[str, str]] = set()
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()
        for domain, biz in business_by_domain.items():
            if not biz.chain and uniform(self.seed, "hunter", domain) >= HUNTER_COVERAGE:
                continue
            self.domains[domain] = biz
            if uniform(self.seed, "hunterdrift", domain) < DRIFT_RATE:
                self.malformed.add((HUNTER, domain))

    def domain(self, domain: str) -> dict[str, Any] | None:
        """Hunter's domain data (all emails), or None for a domain Hunter knows nothing about."""
        biz = self.domains.get(domain)
        if biz is None:
            return None
        # Built lazily: a world has thousands of domains and a run asks for few of them.
        with self._lock:
            found = self._cache.get(domain)
            if found is None:
                found = self._cache[domain] = self._data(domain, biz)
        return found

    def _data(self, domain: str, biz: Business) -> dict[str, Any]:
        seed = self.seed
        accept_all = uniform(seed, "acceptall", domain) < HUNTER_ACCEPT_ALL
        pattern = choice(seed, PATTERNS, "pattern", domain)
        people = (
            integer(seed, "people", domain, lo=12, hi=20)
            if biz.chain
            else integer(seed, "people", domain, lo=0, hi=5)
        )
        emails: list[dict[str, Any]] = []
        used: set[str] = set()
        for k in range(people):
            first = choice(seed, FIRST_NAMES, "first", domain, str(k))
            last = choice(seed, SURNAMES, "last", domain, str(k))
            local = pattern.format(
                first=first.lower(), last=last.lower(), f=first[0].lower(), l=last[0].lower()
            )
            if local in used:
                continue
            used.add(local)
            if k < len(LEADERS):
                position, seniority, department = LEADERS[k]
            else:
                position = choice(seed, POSITIONS[biz.category], "pos", domain, str(k))
                seniority, department = (
                    choice(seed, ("senior", "junior", None), "sen", domain, str(k)),
                    "operations",
                )
            email = self._email(domain, local, "personal", accept_all, str(k))
            email |= {"first_name": first, "last_name": last, "position": position}
            email |= {"seniority": seniority, "department": department}
            emails.append(email)
        emails.sort(key=lambda e: (-e["confidence"], e["value"]))
        generic = ["info"] + [
            box
            for box in ("contact", "office", "sales", "support")
            if uniform(seed, "box", box, domain) < 0.35
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
        u = uniform(seed, "verify", domain, key)
        if u < 0.08:
            verification: dict[str, Any] = {"date": None, "status": None}
        else:
            status = (
                "accept_all" if accept_all else ("valid" if u < 0.8 else "unknown" if u < 0.94 else "invalid")
            )
            verification = {"date": day(seed, 2024, "vdate", domain, key), "status": status}
        seen = day(seed, 2024, "seen", domain, key)
        page = "contact" if kind == "generic" else "about"
        return {
            "value": f"{local}@{domain}",
            "type": kind,
            "confidence": integer(seed, "conf", domain, key, lo=70 if kind == "generic" else 45, hi=99),
            "sources": [
                {
                    "domain": domain,
                    "uri": f"http://{domain}/{page}",
                    "extracted_on": day(seed, 2023, "extracted", domain, key),
                    "last_seen_on": seen,
                    "still_on_page": True,
                }
            ],
            "linkedin": None,
            "twitter": None,
            "phone_number": None,
            "verification": verification,
        }
