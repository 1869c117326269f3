"""Enrichment features for gold: each lead joined to its newest enrichment answers read from bronze."""

from __future__ import annotations

import logging

import pandas as pd
import pyarrow as pa

from leadlake.connectors.registry import connectors
from leadlake.connectors.sources import ENRICHMENT_ADAPTERS
from leadlake.connectors.sources.enrichment_base import lead_domain, merge_records, name_key
from leadlake.lakehouse import Lakehouse

log = logging.getLogger("leadlake.stages.gold.features")


def feature_sources() -> dict[str, tuple[str, ...]]:
    """Each enrichment feature and the providers that supply it (first non-empty wins), from the registry."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in connectors("enrichment"):
        for feature in spec.features:
            out[feature] = (*out.get(feature, ()), spec.name)
    return out


# The enrichment columns gold carries, with their types.
FEATURE_TYPES: dict[str, pa.DataType] = {
    "employees_range": pa.string(),
    "employee_count": pa.int64(),
    "industry": pa.string(),
    "founded_year": pa.int64(),
    "tech_signals": pa.list_(pa.string()),
    "email_verified_domain": pa.bool_(),
    "emails": pa.list_(pa.string()),  # contact addresses for the CRM (HubSpot contacts), best first
    "legal_name": pa.string(),
    "registration_id": pa.string(),
    "jurisdiction": pa.string(),
    "company_status": pa.string(),
}
# Which providers supply each column, in the column order above.
FEATURES: dict[str, tuple[str, ...]] = {f: feature_sources().get(f, ()) for f in FEATURE_TYPES}
STATUS_RANK = {"active": 0, "inactive": 1, "dissolved": 2}
MAX_EMAILS = 3  # contacts per company sent to a CRM: the named people first


def contact_emails(answers: object) -> list[str]:
    """A provider's emails ({value, type, verified}) as CRM contacts: never one proven invalid, personal
    before generic, verified before unknown, at most MAX_EMAILS."""
    if not isinstance(answers, list):
        return []
    usable = [e for e in answers if isinstance(e, dict) and e.get("value") and e.get("verified") is not False]
    usable.sort(key=lambda e: (e.get("type") != "personal", e.get("verified") is not True))
    return list(dict.fromkeys(str(e["value"]).lower() for e in usable))[:MAX_EMAILS]


def _records(lake: Lakehouse, provider: str) -> list[dict]:
    """Normalised enrichment records of one provider from its bronze table: per lookup key, every page of
    its newest answer (the run that fetched it last), folded into one record."""
    cls = ENRICHMENT_ADAPTERS[provider]
    if not lake.exists(cls.bronze_table):
        return []
    rows = lake.read(
        cls.bronze_table, columns=["provider_key", "run_id", "payload", "fetched_at"]
    ).to_pylist()
    newest_run: dict[str, tuple] = {}
    for r in rows:
        mark = (r["fetched_at"], r["run_id"])
        if r["provider_key"] not in newest_run or mark > newest_run[r["provider_key"]]:
            newest_run[r["provider_key"]] = mark
    latest = [r for r in rows if r["run_id"] == newest_run[r["provider_key"]][1]]
    parsed = []
    for r in sorted(latest, key=lambda r: (r["provider_key"], r["fetched_at"])):
        try:
            parsed.append(cls.normalize(r["payload"]))
        except Exception as exc:  # noqa: BLE001 - a payload bronze kept but cannot use is skipped, not fatal
            log.warning("%s %s: cannot normalise: %s", provider, r["provider_key"], exc)
    return [rec.asdict() for rec in merge_records(parsed)]


def _by_key(records: list[dict]) -> dict[str, dict]:
    """One record per lookup key, and per name key (a record found by name for a lead without a domain is
    keyed by its own domain); a record's own lookup key wins over another's name key, and registry
    entities prefer active over dissolved."""
    ranked = sorted(
        records,
        key=lambda r: (STATUS_RANK.get(r.get("company_status") or "", 3), r["provider_key"]),
        reverse=True,
    )
    best: dict[str, dict] = {rec["name_key"]: rec for rec in ranked if rec.get("name_key")}
    for rec in ranked:
        best[rec["lookup_key"]] = rec  # the last assignment is the best-ranked record
    return best


def enrichment_features(lake: Lakehouse, leads: pd.DataFrame) -> pd.DataFrame:
    """FEATURES for each lead (by lead_id), joined on its domain or its normalised name and region."""
    indexes = {p: _by_key(_records(lake, p)) for p in ENRICHMENT_ADAPTERS}
    rows = []
    for lead in leads.to_dict("records"):
        keys = [k for k in (lead_domain(lead), name_key(lead.get("name"), lead.get("region"))) if k]
        row: dict[str, object] = {"lead_id": lead["lead_id"]}
        for feature, providers in FEATURES.items():
            value = None
            for p in providers:
                rec = next((indexes[p][k] for k in keys if k in indexes[p]), None)
                if rec is not None and rec.get(feature) not in (None, [], ""):
                    value = rec[feature]
                    break
            row[feature] = value
        rows.append(row)
    out = pd.DataFrame(rows, columns=["lead_id", *FEATURES])
    # Missing (None/NaN) means "not verified"; numpy and Python booleans both count.
    out["email_verified_domain"] = [
        bool(v) if v is not None and v == v else False for v in out["email_verified_domain"]
    ]
    out["tech_signals"] = out["tech_signals"].apply(lambda v: list(v) if isinstance(v, list) else [])
    out["emails"] = out["emails"].apply(contact_emails)
    return out
