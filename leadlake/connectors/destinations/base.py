"""What every CRM destination offers the delivery stage: a typed Protocol and the shapes it returns.

`UpsertResult.failures` holds the leads the CRM refused one by one (with the CRM's own message) while the
rest of their batch committed, so the caller dead-letters those and ledgers the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class DeliveryError(RuntimeError):
    """A CRM call that failed after retries; names the destination and the CRM's message.

    `status` is the CRM's HTTP status when it answered with an error (None for a malformed reply or no
    answer at all); `refused` tells a definite no (a 4xx other than 408/429) from a failure worth retrying.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused(self) -> bool:
        """The CRM answered and said no: sending the same request again will not change its mind."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in (408, 429)


class MappingError(DeliveryError):
    """The field mapping names a field the CRM object does not have; raised before any write."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400)


@dataclass(frozen=True)
class UpsertResult:
    """CRM object ids for a delivered batch, keyed by lead id, and how many were new.

    `failures`: lead id -> the CRM's message, for leads it refused while the others were written.
    """

    crm_ids: dict[str, str]
    created: int
    updated: int
    created_ids: frozenset[str] = frozenset()  # the leads the CRM created (the rest it updated)
    failures: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Destination(Protocol):
    """A CRM the delivery stage writes gold leads to, idempotently on the lead id."""

    name: str

    def test_connection(self) -> None:
        """Authenticate and reach the CRM's object; raises DeliveryError saying what is wrong."""
        ...

    def describe_fields(self) -> set[str]:
        """The field (property) names the CRM object has."""
        ...

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Create or update one CRM object per lead (keyed by `lead_id`); per-lead refusals in `failures`.

        Raises DeliveryError when (part of) the batch could not be delivered after retries; some of it may
        have committed, and re-sending it all is safe: the write is an upsert on the lead id."""
        ...

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What the CRM holds for these leads: lead id -> its fields (leads it does not have are absent)."""
        ...
