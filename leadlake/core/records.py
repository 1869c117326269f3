"""The silver source record: one provider record normalised, the row every discovery adapter gives.

A leaf of plain data, here so that what reads the rows (a user's CSV made into them, the resolver) need
not load the adapters and their HTTP clients; `leadlake.connectors.sources` re-exports both names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    """A provider record normalised to the silver `source_records` row."""

    record_id: str
    provider: str
    provider_key: str
    name: str | None
    name_norm: str
    phone_e164: str | None
    phone_is_toll_free: bool
    website: str | None
    domain: str | None
    address_line1: str | None
    city: str | None
    region: str | None
    postal: str | None
    country: str | None
    lat: float | None
    lon: float | None
    rating: float | None
    review_count: int | None
    categories: list[str]

    def asdict(self) -> dict[str, Any]:
        """The row as a plain dict (a fresh categories list)."""
        return dataclasses.asdict(self)


SOURCE_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SourceRecord))
