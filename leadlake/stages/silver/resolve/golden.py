"""Golden records: one row per lead, each field group from its most trusted record, with provenance."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

LEAD_COLUMNS = [
    "lead_id", "name", "name_norm", "website", "domain", "phone_e164", "phone_is_toll_free",
    "address_line1", "city", "region", "postal", "country", "lat", "lon", "rating", "review_count",
    "categories", "providers", "source_record_ids", "source_count", "provenance",
]  # fmt: skip


def default_field_confidence() -> dict[str, dict[str, float]]:
    """Per golden field group and provider, how much a provider is trusted (its connector spec says)."""
    from leadlake.connectors.registry import connectors

    out: dict[str, dict[str, float]] = {}
    for spec in connectors("discovery"):
        for group, value in spec.field_confidence.items():
            out.setdefault(group, {})[spec.name] = value
    return out


UNKNOWN_PROVIDER_CONFIDENCE = 0.5

# Golden field groups: the fields of a group come from one record, so an address is never a mix.
FIELD_GROUPS: Mapping[str, tuple[str, ...]] = {
    "name": ("name", "name_norm"),
    "website": ("website", "domain"),
    "phone": ("phone_e164", "phone_is_toll_free"),
    "address": ("address_line1", "city", "region", "postal", "country"),
    "geo": ("lat", "lon"),
}

Record = dict[str, Any]
Confidence = Mapping[str, Mapping[str, float]]


def _present(value: object) -> bool:
    """False for None, NaN and blank text."""
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return True


def _plain(value: object) -> object:
    """numpy scalars to Python, NaN to None: golden rows are JSON-friendly."""
    if not _present(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _completeness(record: Mapping[str, object]) -> int:
    """How many golden group fields the record fills."""
    return sum(_present(record.get(f)) for group in FIELD_GROUPS.values() for f in group)


def _choose(
    group: str, fields: tuple[str, ...], members: list[Record], confidence: Confidence
) -> tuple[Record | None, float]:
    """The most confident record with this group's lead field present; completeness, then id, break ties."""
    trust = confidence.get(group, {})
    candidates = [m for m in members if _present(m.get(fields[0]))]
    if not candidates:
        return None, 0.0
    best = min(
        candidates,
        key=lambda m: (
            -trust.get(m["provider"], UNKNOWN_PROVIDER_CONFIDENCE),
            -_completeness(m),
            m["record_id"],
        ),
    )
    return best, trust.get(best["provider"], UNKNOWN_PROVIDER_CONFIDENCE)


def _rating(rated: list[Record]) -> float | None:
    """Mean rating weighted by review count (plain mean when no record has reviews), to 3 places."""
    if not rated:
        return None
    weights = [max(int(_plain(m.get("review_count")) or 0), 0) for m in rated]
    ratings = [float(m["rating"]) for m in rated]
    total = sum(weights)
    if total:
        return round(sum(r * w for r, w in zip(ratings, weights, strict=True)) / total, 3)
    return round(sum(ratings) / len(ratings), 3)


def _has_categories(record: Record) -> bool:
    """True when the record lists at least one category."""
    return record.get("categories") is not None and len(record["categories"]) > 0


def _categories(members: list[Record]) -> list[str]:
    """The sorted union of every member's categories."""
    return sorted(
        {str(c) for m in members for c in (m.get("categories") if m.get("categories") is not None else [])}
    )


def _contributions(group: str, contributors: list[Record], confidence: Confidence) -> list[dict[str, Any]]:
    """Provenance entries of an aggregated field: every provider that contributed, sorted."""
    trust = confidence.get(group, {})
    return [
        {"field": group, "provider": provider, "confidence": trust.get(provider, UNKNOWN_PROVIDER_CONFIDENCE)}
        for provider in sorted({m["provider"] for m in contributors})
    ]


def _golden(lead_id: str, members: list[Record], confidence: Confidence) -> Record:
    """One lead's golden row from its member records (sorted by record_id)."""
    row: Record = {"lead_id": lead_id}
    provenance: list[dict[str, Any]] = []
    for group, fields in FIELD_GROUPS.items():
        chosen, conf = _choose(group, fields, members, confidence)
        for f in fields:
            row[f] = _plain(chosen.get(f)) if chosen else None
        if chosen:
            provenance.append({"field": group, "provider": chosen["provider"], "confidence": conf})
    row["phone_is_toll_free"] = bool(row["phone_is_toll_free"]) if row["phone_e164"] else False

    rated = [m for m in members if _present(m.get("rating"))]
    counted = [m for m in members if _present(m.get("review_count"))]
    row["rating"] = _rating(rated)
    row["review_count"] = max(int(_plain(m.get("review_count"))) for m in counted) if counted else None  # type: ignore[arg-type]
    row["categories"] = _categories(members)
    for group, contributors in (
        ("rating", rated),
        ("review_count", counted),
        ("categories", [m for m in members if _has_categories(m)]),
    ):
        provenance.extend(_contributions(group, contributors, confidence))
    row["providers"] = sorted({m["provider"] for m in members})
    row["source_record_ids"] = sorted(m["record_id"] for m in members)
    row["source_count"] = len(members)
    row["provenance"] = json.dumps(provenance, sort_keys=True)
    return row


def build_leads(
    records: pd.DataFrame, links: pd.DataFrame, confidence: Confidence | None = None
) -> pd.DataFrame:
    """One golden row per lead: per field group the most trusted non-null value, with provenance."""
    if records.empty:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    confidence = default_field_confidence() if confidence is None else confidence
    joined = records.merge(
        links[["record_id", "lead_id"]], on="record_id", how="inner", validate="one_to_one"
    )
    if len(joined) != len(records):
        raise ValueError("every record needs exactly one link")
    by_lead: dict[str, list[Record]] = {}
    for rec in joined.sort_values("record_id", kind="stable").to_dict("records"):
        by_lead.setdefault(rec["lead_id"], []).append(rec)
    rows = [_golden(lead_id, by_lead[lead_id], confidence) for lead_id in sorted(by_lead)]
    leads = pd.DataFrame(rows, columns=LEAD_COLUMNS)
    return leads.astype({"source_count": "int64", "phone_is_toll_free": bool})
