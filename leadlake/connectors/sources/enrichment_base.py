"""Shared pieces of the enrichment adapters: the EnrichmentRecord, lead keys, secret-free request logging."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadlake.connectors.sources.base import ProviderQuery, clean_text
from leadlake.core.normalize import normalize_name, registered_domain

US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida",
    "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
    "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
_STATE_CODES = {name.lower(): code for code, name in US_STATES.items()}


@dataclass(frozen=True)
class EnrichmentRecord:
    """One provider's answer about one company, normalised; what a provider does not know stays empty."""

    provider: str
    provider_key: str
    lookup_key: str  # the domain, or "normalised name|REGION": what a lead is joined on
    # The company's name in its region ("normalised name|REGION") when lookup_key is its domain: a record
    # found by name answers leads that have no domain, which can only be joined on their name.
    name_key: str | None = None
    name: str | None = None  # the provider's display name of the company
    legal_name: str | None = None
    registration_id: str | None = None
    jurisdiction: str | None = None  # OpenCorporates style, e.g. "us_co"
    company_status: str | None = None  # "active", "inactive" or "dissolved"
    employees_range: str | None = None  # PDL size bucket, e.g. "11-50"
    employee_count: int | None = None
    industry: str | None = None
    founded_year: int | None = None
    tech_signals: list[str] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)  # {value, type, verified}
    email_verified_domain: bool = False  # at least one email on the domain verified "valid"

    def asdict(self) -> dict[str, Any]:
        """The record as a plain dict (fresh lists)."""
        return dataclasses.asdict(self)


ENRICHMENT_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EnrichmentRecord))


def region_code(region: Any) -> str | None:
    """A US state as its two-letter code ("colorado" or "co" -> "CO"); other regions upper-cased as given."""
    text = clean_text(region)
    if text is None:
        return None
    return _STATE_CODES.get(text.lower(), text.upper())


def jurisdiction_for(region: Any, country: Any = "US") -> str | None:
    """OpenCorporates jurisdiction code for a lead's region: "CO" -> "us_co"; None when not a US state."""
    code = region_code(region)
    country_code = (clean_text(country) or "US").upper()
    if country_code in ("US", "USA") and code in US_STATES:
        return f"us_{code.lower()}"
    return None


def lead_domain(lead: Mapping[str, Any]) -> str | None:
    """The registrable domain of a lead: its `domain` column, else derived from its `website`."""
    domain = clean_text(lead.get("domain"))
    return registered_domain(domain) if domain else registered_domain(clean_text(lead.get("website")))


def name_key(name: Any, region: Any) -> str | None:
    """The "normalised name|REGION" lookup key; None without a usable name."""
    norm = normalize_name(clean_text(name))
    if not norm:
        return None
    return f"{norm}|{region_code(region) or ''}"


def distinct_queries(queries: Iterable[ProviderQuery]) -> list[ProviderQuery]:
    """Queries in first-seen order, each fingerprint once (many leads share a domain or a name)."""
    seen: set[str] = set()
    out = []
    for q in queries:
        if q.fingerprint not in seen:
            seen.add(q.fingerprint)
            out.append(q)
    return out


def iter_leads(leads: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Leads that are mappings (a pandas `to_dict("records")` or Arrow `to_pylist()` row)."""
    for lead in leads:
        if isinstance(lead, Mapping):
            yield lead


def merge_records(records: Iterable[EnrichmentRecord]) -> list[EnrichmentRecord]:
    """One record per (provider, provider_key): pages of one lookup (Hunter offsets) folded together.

    Scalars keep the first non-None value; emails are unioned by address; the verified flag is OR-ed.
    """
    merged: dict[tuple[str, str], EnrichmentRecord] = {}
    for rec in records:
        key = (rec.provider, rec.provider_key)
        old = merged.get(key)
        if old is None:
            merged[key] = rec
            continue
        values = {
            f: getattr(old, f) if getattr(old, f) is not None else getattr(rec, f)
            for f in ENRICHMENT_RECORD_FIELDS
            if f not in ("tech_signals", "emails", "email_verified_domain")
        }
        seen = {e["value"] for e in old.emails}
        merged[key] = EnrichmentRecord(
            **values,
            tech_signals=sorted(set(old.tech_signals) | set(rec.tech_signals)),
            emails=[*old.emails, *(e for e in rec.emails if e["value"] not in seen)],
            email_verified_domain=old.email_verified_domain or rec.email_verified_domain,
        )
    return list(merged.values())
