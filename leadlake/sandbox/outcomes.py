"""What sales does with delivered companies: a hidden propensity of each business's TRUE attributes, and a
seeded life (contacted, replied, qualified, won or lost) the sandbox CRM plays out over simulated days.

A company's log-odds of reaching salesqualifiedlead (or beyond) within QUALIFY_WINDOW_DAYS of its delivery
is an additive function of the world's truth (category, rating, reviews, website and its tech, size,
distance from the city centre, chain, phone) plus a term no provider shows (how much the owner needs the
service right now, drawn per life). A life draws its outcome from that. The *propensity* is the exact
probability of qualifying given the true attributes alone (the hidden term integrated out): being a
monotone function of them, no model of the attributes can rank better, so its AUC against the outcomes is
the best achievable (the *ceiling*), about 0.8. The hidden term is noise no model can learn.

A company the world does not know (a hand-made test lead) gets attributes drawn from its own key, so every
delivered company has a life. Everything is a pure function of (world seed, company key): deterministic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadlake.sandbox.enrichment.common import name_tokens, uniform, website_domain
from leadlake.sandbox.enrichment.pdl import MEDIAN_EMPLOYEES, TECH_TAGS
from leadlake.sandbox.world import CATEGORIES, CITIES, DIRECTIONS, Business, World, haversine_m

# HubSpot's default lifecycle stages, in order; "other" is where lost and disqualified companies go.
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
QUALIFIED_STAGES = ("salesqualifiedlead", "opportunity", "customer")
QUALIFY_WINDOW_DAYS = 90
# The per-stage date property HubSpot keeps for each lifecycle stage (v2 "date entered" properties).
DATE_ENTERED = "hs_v2_date_entered_{stage}"

# Contribution of each category to the log-odds (trades with urgent, high-ticket work buy more readily).
CATEGORY_EFFECT: Mapping[str, float] = {
    "hvac": 0.55, "roofing": 0.45, "plumber": 0.35, "electrician": 0.25, "landscaping": 0.05,
    "dentist": 0.15, "auto_repair": -0.15, "law_firm": -0.35, "bakery": -0.55, "cafe": -0.7,
}  # fmt: skip
INTERCEPT = -1.5
SCALE = 1.5  # spread of the log-odds: sets the ceiling AUC (about 0.8)
HIDDEN_SD = 0.55  # the unobservable need (no provider shows it): noise on top of the propensity
# Gauss-Hermite nodes and weights (probabilists'), to integrate the hidden term out of the propensity.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
SLOW_BURN = 0.35  # share (relative to p) of non-qualifiers that qualify, but only after the window


@dataclass(frozen=True)
class Traits:
    """The true attributes a propensity is a function of."""

    category: str
    rating: float
    review_count: int
    has_website: bool
    has_phone: bool
    chain: bool
    employees: int
    distance_km: float
    tech: tuple[str, ...]


@dataclass
class Life:
    """One company's fate: its propensity (given its true attributes) and the dated events (day since
    delivery, property changes)."""

    key: str
    business_id: str | None
    propensity: float
    events: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    age: int = 0  # simulated days lived since delivery
    applied: int = 0  # events already written to the company

    @property
    def qualified_in_window(self) -> bool:
        """Destined to reach salesqualifiedlead (or beyond) within the window: the benchmark's label."""
        return any(
            day <= QUALIFY_WINDOW_DAYS and props.get("lifecyclestage") in QUALIFIED_STAGES
            for day, props in self.events
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "business_id": self.business_id,
            "propensity": self.propensity,
            "events": [[d, p] for d, p in self.events],
            "age": self.age,
            "applied": self.applied,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Life:
        return cls(
            doc["key"],
            doc.get("business_id"),
            float(doc["propensity"]),
            [(int(d), dict(p)) for d, p in doc["events"]],
            int(doc.get("age", 0)),
            int(doc.get("applied", 0)),
        )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def log_odds(t: Traits, hidden: float) -> float:
    """The propensity's log-odds: an additive function of the traits plus the hidden term."""
    median = MEDIAN_EMPLOYEES.get(t.category, 10)
    size = math.log2(max(1, t.employees) / median)  # about -2.5..2.5 for single sites
    z = CATEGORY_EFFECT.get(t.category, 0.0)
    z += 0.55 * (t.rating - 4.2) / 0.6
    z += 0.35 * (math.log1p(t.review_count) - 3.4) / 1.3
    z += 0.0 if t.has_website else -0.6
    z += 0.0 if t.has_phone else -0.5
    z += -0.9 if t.chain else 0.0
    z += 0.3 * size - 0.12 * size * size  # mid-sized shops buy most
    z += -0.025 * max(0.0, t.distance_km - 8.0)  # the far suburbs are harder to serve
    tech = set(t.tech)
    z += 0.3 * ("google analytics" in tech) + 0.2 * bool(tech & {"stripe", "square", "shopify"})
    z += -0.15 * bool(tech & {"wix", "squarespace"})
    return INTERCEPT + SCALE * (z + hidden)


def propensity(t: Traits) -> float:
    """P(qualifies within the window | true attributes): the hidden term integrated out (exactly, up to
    quadrature error ~1e-12). A monotone function of log_odds(t, 0): the ranking no model can beat."""
    z = log_odds(t, 0.0)
    return float(np.dot(_WEIGHTS, 1.0 / (1.0 + np.exp(-(z + SCALE * HIDDEN_SD * _NODES)))))


# How much each kind of key says: a phone or a name in its city is nearly unique, a domain may be a chain's,
# a street address tells namesakes in one city apart (co-located businesses share one).
KEY_WEIGHTS: Mapping[str, float] = {"phone": 4.0, "name": 3.0, "tokens": 2.5, "domain": 2.0, "street": 1.5}
_STREET_SKIP = {w.lower() for pair in DIRECTIONS.items() for w in pair}  # "north" and "n"


def street_key(address: str | None) -> str:
    """An address's house number and street name ("1234 N Oak Street Suite 210" -> "1234 oak"): what
    providers' spellings of one address share (they abbreviate and drop units); "" without both."""
    words = (address or "").strip().lower().replace(".", "").replace(",", " ").split()
    if len(words) < 2 or not words[0].isdigit():
        return ""
    rest = [w for w in words[1:] if w not in _STREET_SKIP]
    return f"{words[0]} {rest[0]}" if rest else ""


def _keys(
    name: str, city: str, phone: str | None, domain: str | None, address: str | None = None
) -> list[tuple[str, str]]:
    city_l = city.strip().lower()
    keys = [("phone", phone or ""), ("domain", domain or "")]
    if city_l and (street := street_key(address)):
        keys.append(("street", f"{street}|{city_l}"))
    if city_l and name.strip():
        keys.append(("name", f"{name.strip().lower()}|{city_l}"))
        keys.append(("tokens", " ".join(name_tokens(name)) + f"|{city_l}"))
    return [k for k in keys if k[1]]


class OutcomeSimulator:
    """Finds a delivered company's business in the world, its propensity and its life."""

    def __init__(self, world: World | None = None, seed: int | None = None) -> None:
        self.world = world
        self.seed = world.seed if world is not None else (42 if seed is None else seed)
        self._index: dict[tuple[str, str], list[Business]] | None = None

    # -- finding the business ------------------------------------------------------------------------------
    def _lookup(self) -> dict[tuple[str, str], list[Business]]:
        """Every business under each of its keys (phone, website domain, name and city, name tokens and
        city); a key several businesses share (a chain's domain, a shared phone) lists them all."""
        if self._index is None:
            index: dict[tuple[str, str], list[Business]] = {}
            for biz in self.world.businesses if self.world is not None else ():
                for key in _keys(
                    biz.name, biz.city, biz.phone, website_domain(biz.website), biz.address_line1
                ):
                    index.setdefault(key, []).append(biz)
            self._index = index
        return self._index

    def business_for(self, properties: Mapping[str, str]) -> Business | None:
        """The world's business behind a CRM company: the one agreeing on the most (weighted) keys among
        phone, domain, name and city (exact, or by name tokens: legal suffixes and "&" vary by provider),
        street address and city; ties go to the smallest business id. None when nothing agrees."""
        index = self._lookup()
        keys = _keys(
            properties.get("name") or "",
            properties.get("city") or "",
            properties.get("phone") or "",
            website_domain(properties.get("domain") or properties.get("website")),
            properties.get("address"),
        )
        votes: dict[str, float] = {}
        found: dict[str, Business] = {}
        for key in keys:
            for biz in index.get(key, ()):
                votes[biz.business_id] = votes.get(biz.business_id, 0.0) + KEY_WEIGHTS[key[0]]
                found[biz.business_id] = biz
        if not votes:
            return None
        best = min(votes, key=lambda bid: (-votes[bid], bid))
        return found[best]

    def traits(self, biz: Business) -> Traits:
        seed, bid = self.seed, biz.business_id
        city = next((c for c in CITIES if c.name == biz.city), CITIES[0])
        if biz.chain:
            employees = 20  # one branch of a chain
        else:
            median = MEDIAN_EMPLOYEES.get(biz.category, 10)
            employees = max(1, round(median * 2 ** ((uniform(seed, "emp", bid) - 0.5) * 5)))  # as PDL says
        food = biz.category in ("bakery", "cafe")
        tech = tuple(
            t
            for t, shares in TECH_TAGS.items()
            if biz.website and uniform(seed, "tech", t, bid) < shares[0 if food else 1]
        )
        return Traits(
            category=biz.category,
            rating=biz.rating,
            review_count=biz.review_count,
            has_website=bool(biz.website),
            has_phone=bool(biz.phone),
            chain=bool(biz.chain),
            employees=employees,
            distance_km=haversine_m(biz.lat, biz.lon, city.lat, city.lon) / 1000,
            tech=tech,
        )

    def made_up_traits(self, key: str) -> Traits:
        """Attributes for a company the world does not know, drawn from its key as the world would."""
        rng = random.Random(f"{self.seed}:traits:{key}")
        category = CATEGORIES[int(rng.random() * len(CATEGORIES))]
        median = MEDIAN_EMPLOYEES.get(category, 10)
        r_km = 25 * math.sqrt(rng.random()) if rng.random() < 0.85 else 25 + 35 * rng.random()
        return Traits(
            category=category,
            rating=min(5.0, max(1.0, round(rng.gauss(4.2, 0.6), 1))),
            review_count=min(25_000, int(math.exp(rng.gauss(3.4, 1.3)))),
            has_website=rng.random() < 0.85,
            has_phone=rng.random() < 0.96,
            chain=rng.random() < 0.1,
            employees=max(1, round(median * 2 ** ((rng.random() - 0.5) * 5))),
            distance_km=r_km,
            tech=tuple(t for t, shares in TECH_TAGS.items() if rng.random() < shares[1]),
        )

    # -- the life ------------------------------------------------------------------------------------------
    def company(
        self, properties: Mapping[str, str], fallback_key: str, business: Business | None = None
    ) -> tuple[Business | None, str, Traits]:
        """A delivered company's business in the world (`business` when the caller knows it, else found from
        the properties; None for one the world does not know), its life's key and the true attributes its
        propensity is a function of."""
        biz = business or self.business_for(properties)
        key = biz.business_id if biz else (properties.get("leadlake_id") or fallback_key)
        return biz, key, self.traits(biz) if biz else self.made_up_traits(key)

    def life(
        self, properties: Mapping[str, str], fallback_key: str, business: Business | None = None
    ) -> Life:
        """The propensity and seeded life of a newly delivered company (of `business`, when known)."""
        return self.life_of(*self.company(properties, fallback_key, business))

    def life_of(self, biz: Business | None, key: str, traits: Traits) -> Life:
        """The propensity and seeded life of a company already found (company())."""
        rng = random.Random(f"{self.seed}:life:{key}")
        hidden = rng.gauss(0.0, HIDDEN_SD)
        p = sigmoid(log_odds(traits, hidden))  # this life's odds, given its owner's hidden need
        return Life(key, biz.business_id if biz else None, round(propensity(traits), 6), _events(rng, p))


def _events(rng: random.Random, p: float) -> list[tuple[int, dict[str, str]]]:
    """Dated stage changes: day (since delivery, strictly increasing) -> HubSpot properties."""
    u = rng.random()
    events: list[tuple[int, dict[str, str]]] = []
    contacted = 1 + min(29, int(rng.expovariate(1 / 5)))

    def add(day: int, stage: str | None, status: str | None, **extra: str) -> int:
        day = max(day, events[-1][0] + 1) if events else day
        props = {
            **({"lifecyclestage": stage} if stage else {}),
            **({"hs_lead_status": status} if status else {}),
        }
        events.append((day, props | extra))
        return day

    if u < p:  # qualifies within the window
        day = add(contacted, "lead", "ATTEMPTED_TO_CONTACT")
        day = add(day + rng.randint(1, 10), "marketingqualifiedlead", "CONNECTED")
        day = add(min(QUALIFY_WINDOW_DAYS - 5, day + rng.randint(2, 20)), "salesqualifiedlead", "IN_PROGRESS")
        if rng.random() < 0.7:
            day = add(day + rng.randint(3, 20), "opportunity", "OPEN_DEAL")
            if rng.random() < 0.35 + 0.4 * p:
                add(day + rng.randint(10, 45), "customer", None, closedate="")
            else:
                add(day + rng.randint(10, 45), "other", "UNQUALIFIED")
        elif rng.random() < 0.5:
            add(day + rng.randint(15, 60), "other", "BAD_TIMING")
        return events
    if u < p * (1 + SLOW_BURN):  # qualifies, but only after the window
        day = add(contacted, "lead", "ATTEMPTED_TO_CONTACT")
        day = add(day + rng.randint(25, 70), "marketingqualifiedlead", "CONNECTED")
        day = add(
            max(QUALIFY_WINDOW_DAYS + 3, day + rng.randint(10, 40)), "salesqualifiedlead", "IN_PROGRESS"
        )
        if rng.random() < 0.5:
            add(day + rng.randint(5, 30), "opportunity", "OPEN_DEAL")
        return events
    if rng.random() < 0.12:
        return events  # never worked
    day = add(contacted, "lead", "ATTEMPTED_TO_CONTACT")
    if rng.random() < 0.4:  # replies, then is disqualified
        day = add(day + rng.randint(2, 15), "marketingqualifiedlead", "CONNECTED")
        add(day + rng.randint(5, 30), "other", "UNQUALIFIED")
    elif rng.random() < 0.6:
        add(day + rng.randint(20, 45), None, "UNQUALIFIED")
    return events


def auc(scores: Iterable[float], labels: Iterable[bool]) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda x: x[0])
    pos = sum(1 for _, y in pairs if y)
    neg = len(pairs) - pos
    if not pos or not neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie block
        rank_sum += mid * sum(1 for _, y in pairs[i:j] if y)
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
