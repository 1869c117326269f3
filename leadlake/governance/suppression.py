"""The suppression list: emails, domains and phones a lead must never be delivered with.

Values are kept normalised (lower-case email, registered domain, E.164 phone), so "WWW.Acme.com/contact"
and "acme.com" are one entry; `suppressed()` says which leads match and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

from leadlake.core.normalize import normalize_phone, registered_domain
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import OPS_SUPPRESSIONS

Kind = Literal["email", "domain", "phone"]
KINDS: tuple[Kind, ...] = ("email", "domain", "phone")
SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
        ("added_at", pa.timestamp("us", tz="UTC")),
    ]
)


class SuppressionError(ValueError):
    """A value that cannot be suppressed as given; the message names the kind and the fix."""


@dataclass(frozen=True)
class Entry:
    """One suppressed value."""

    kind: Kind
    value: str
    reason: str = ""


def normalise(kind: str, raw: str, default_region: str = "US") -> str:
    """The stored form of a value, or SuppressionError naming what is wrong with it."""
    text = (raw or "").strip()
    if kind == "email":
        local, at, host = text.lower().rpartition("@")
        if not at or not local or registered_domain(host) is None:
            # Examples in words: the log masking would print "n***@domain.tld" and "+1******0100".
            raise SuppressionError(
                f"--email {raw!r} is not an email address: expected a name, one @, then a domain such as "
                "example.com"
            )
        return f"{local}@{host}"
    if kind == "domain":
        domain = registered_domain(text)
        if domain is None:
            raise SuppressionError(f"--domain {raw!r} has no registrable domain: expected e.g. acme.com")
        return domain
    if kind == "phone":
        phone = normalize_phone(text, default_region)
        if phone is None:
            raise SuppressionError(
                f"--phone {raw!r} is not a valid phone number: "
                "expected + and its country code first (international E.164 form, +1 in the US)"
            )
        return phone
    raise SuppressionError(f"unknown suppression kind {kind!r}: use one of {', '.join(KINDS)}")


def add(lake: Lakehouse, entries: Iterable[Entry]) -> int:
    """Add (or re-reason) entries; returns how many were given."""
    now = datetime.now(UTC)
    rows = [{"kind": e.kind, "value": e.value, "reason": e.reason, "added_at": now} for e in entries]
    if rows:
        lake.merge(OPS_SUPPRESSIONS, pa.Table.from_pylist(rows, schema=SCHEMA), keys=["kind", "value"])
    return len(rows)


def remove(lake: Lakehouse, entry: Entry) -> bool:
    """Remove one entry; False when it was not on the list."""
    if not lake.exists(OPS_SUPPRESSIONS):
        return False
    kind, value = entry.kind, entry.value.replace("'", "''")
    return lake.delete(OPS_SUPPRESSIONS, f"kind = '{kind}' AND value = '{value}'") > 0


def entries(lake: Lakehouse) -> list[Entry]:
    """Every entry, sorted by kind and value."""
    if not lake.exists(OPS_SUPPRESSIONS):
        return []
    rows = lake.read(OPS_SUPPRESSIONS).to_pylist()
    return sorted(
        (Entry(r["kind"], r["value"], r["reason"] or "") for r in rows), key=lambda e: (e.kind, e.value)
    )


def _emails(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip().lower() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v).strip().lower() for v in value if v]


def suppressed(leads: Iterable[Mapping[str, Any]], listed: Iterable[Entry]) -> dict[str, str]:
    """lead_id -> why, for each lead whose domain, phone or any email (or email domain) is listed."""
    by_kind: dict[str, set[str]] = {k: set() for k in KINDS}
    for e in listed:
        by_kind[e.kind].add(e.value)
    out: dict[str, str] = {}
    for lead in leads:
        domain = (lead.get("domain") or "").lower()
        emails = _emails(lead.get("emails")) + _emails(lead.get("email"))
        if domain and domain in by_kind["domain"]:
            out[lead["lead_id"]] = f"domain {domain} is suppressed"
        elif lead.get("phone_e164") and lead["phone_e164"] in by_kind["phone"]:
            out[lead["lead_id"]] = "phone is suppressed"
        elif any(m in by_kind["email"] for m in emails):
            out[lead["lead_id"]] = "an email is suppressed"
        elif hit := next((m for m in emails if m.rpartition("@")[2] in by_kind["domain"]), None):
            out[lead["lead_id"]] = f"email domain {hit.rpartition('@')[2]} is suppressed"
    return out
