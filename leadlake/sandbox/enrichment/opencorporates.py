"""The company register OpenCorporates serves: each business's legal entity, its predecessors and decoys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadlake.sandbox.enrichment.common import (
    DRIFT_RATE,
    LEGAL_SUFFIX_TYPES,
    OPENCORPORATES,
    choice,
    day,
    integer,
    name_tokens,
    strip_legal_suffix,
    uniform,
)
from leadlake.sandbox.world import CITIES, World

# Shares of the synthetic data; settings as data so tests and docs can refer to them.
OC_DISSOLVED_PREDECESSOR = 0.12  # an older, dissolved entity with the same legal name
OC_LOOKALIKE = 0.06  # an unrelated active entity whose name contains the business's name
OC_OTHER_STATE_TWIN = 0.05  # an unrelated entity with the exact legal name in another state

NEW_SUFFIXES: dict[str, tuple[str, ...]] = {
    "dentist": ("PC", "PLLC", "LLC"),
    "law_firm": ("LLP", "PC", "PLLC"),
}
DEFAULT_NEW_SUFFIXES = ("LLC", "LLC", "LLC", "Inc.", "Corp.")


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
        """Not dissolved."""
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


class CompanyRegister:
    """Every legal entity of a World (a chain: a Delaware parent, foreign branches), indexed for search."""

    def __init__(self, world: World) -> None:
        self.seed = world.seed
        self.entities: list[LegalEntity] = []
        self.entity_of: dict[str, int] = {}  # business id -> its active entity
        self.malformed: set[tuple[str, str]] = set()
        self._numbers: set[tuple[str, str]] = set()
        self._build(world)
        self.records = [e.record() for e in self.entities]
        self._drift()
        self.by_number = {(e.jurisdiction_code, e.company_number): i for i, e in enumerate(self.entities)}
        self._token_index: dict[str, set[int]] = {}
        for i, e in enumerate(self.entities):
            for t in set(e.tokens):
                self._token_index.setdefault(t, set()).add(i)

    def search(self, q: str, jurisdiction: str | None) -> list[int]:
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

    def _number(self, jur: str, year: int, *parts: str) -> str:
        n = integer(self.seed, "ocnum", *parts, lo=1_000_000, hi=9_999_999)
        # A register issues each number once per jurisdiction: step past a collision deterministically.
        while (jur, f"{year}{n}") in self._numbers:
            n += 1
        self._numbers.add((jur, f"{year}{n}"))
        return f"{year}{n}"

    def _add(self, name: str, jur: str, year: int, business_id: str | None, *parts: str, **kw: Any) -> int:
        base, suffix = strip_legal_suffix(name)
        entity = LegalEntity(
            name=name,
            company_number=self._number(jur, year, *parts),
            jurisdiction_code=jur,
            incorporation_date=day(self.seed, year, "ocdate", *parts),
            dissolution_date=kw.get("dissolution_date"),
            company_type=kw.get("company_type") or LEGAL_SUFFIX_TYPES.get(suffix or "", "Corporation"),
            branch=kw.get("branch"),
            address=kw["address"],
            business_id=business_id,
            tokens=name_tokens(base),
        )
        self.entities.append(entity)
        return len(self.entities) - 1

    def _build(self, world: World) -> None:
        seed = self.seed
        brands: dict[tuple[str, str], int] = {}
        for biz in world.businesses:
            bid, jur = biz.business_id, f"us_{biz.region.lower()}"
            address = f"{biz.address_line1}, {biz.city}, {biz.region}, {biz.postal}"
            if biz.chain:
                key = (biz.chain, jur)
                if key not in brands:
                    if (biz.chain, "us_de") not in brands:
                        parent_year = integer(seed, "brand", biz.chain, lo=1978, hi=2005)
                        hq = f"251 Little Falls Drive, Wilmington, DE, 19808 ({biz.chain})"
                        brands[(biz.chain, "us_de")] = self._add(
                            f"{biz.chain}, Inc.", "us_de", parent_year, None, "brand", biz.chain, address=hq
                        )
                    year = integer(seed, "branch", biz.chain, jur, lo=2006, hi=2022)
                    brands[key] = self._add(
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
            suffix = suffix or choice(seed, NEW_SUFFIXES.get(biz.category, DEFAULT_NEW_SUFFIXES), "sfx", bid)
            legal = f"{base} {suffix}"
            year = integer(seed, "year", bid, lo=1985, hi=2022)
            if uniform(seed, "predecessor", bid) < OC_DISSOLVED_PREDECESSOR and year > 1990:
                old = integer(seed, "oldyear", bid, lo=1975, hi=year - 3)
                gone = day(seed, year - 1, "gone", bid)
                self._add(legal, jur, old, None, "old", bid, address=address, dissolution_date=gone)
            self.entity_of[bid] = self._add(legal, jur, year, bid, "main", bid, address=address)
            if uniform(seed, "lookalike", bid) < OC_LOOKALIKE:
                look_year = integer(seed, "lookyear", bid, lo=1990, hi=2023)
                self._add(f"{base} Holdings LLC", jur, look_year, None, "look", bid, address=address)
            if uniform(seed, "twin", bid) < OC_OTHER_STATE_TWIN:
                other = choice(seed, tuple(c for c in CITIES if c.state != biz.region), "twincity", bid)
                twin_year = integer(seed, "twinyear", bid, lo=1990, hi=2023)
                twin_no = integer(seed, "twinno", bid, lo=100, hi=9999)
                twin_addr = f"{twin_no} Main Street, {other.name}, {other.state}"
                self._add(legal, f"us_{other.state.lower()}", twin_year, None, "twin", bid, address=twin_addr)

    def _drift(self) -> None:
        for i, rec in enumerate(self.records):
            if self.entities[i].business_id and uniform(self.seed, "ocdrift", str(i)) < DRIFT_RATE:
                rec["incorporation_date"] = int(rec["incorporation_date"].replace("-", ""))  # drift: a number
                self.malformed.add((OPENCORPORATES, f"{rec['jurisdiction_code']}/{rec['company_number']}"))
