"""HubSpot CRM v3 companies through the official client: batch upsert on a unique leadlake id property."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from urllib3.util.retry import Retry

log = logging.getLogger("leadlake.connectors.destinations.hubspot")

ID_PROPERTY = "leadlake_id"
BATCH_LIMIT = 100  # HubSpot's documented batch upsert maximum
# Canonical gold field -> HubSpot company property (mapping as data; custom properties start with leadlake_).
FIELD_MAP: Mapping[str, str] = {
    "name": "name",
    "domain": "domain",
    "website": "website",
    "phone_e164": "phone",
    "address_line1": "address",
    "city": "city",
    "region": "state",
    "postal": "zip",
    "country": "country",
    "lead_score": "leadlake_score",
    "priority_tier": "leadlake_tier",
    "score_reasons": "leadlake_score_reasons",
    "providers": "leadlake_sources",
}


class DeliveryError(RuntimeError):
    """A CRM call that failed after retries; names the destination and the CRM's message."""


@dataclass(frozen=True)
class UpsertResult:
    """CRM object ids for a delivered batch, keyed by lead id, and how many were new."""

    crm_ids: dict[str, str]
    created: int
    updated: int


def to_properties(lead: Mapping[str, Any]) -> dict[str, str]:
    """Gold row -> HubSpot property values (strings; lists joined; empty values left out)."""
    props = {}
    for field, prop in FIELD_MAP.items():
        value = lead.get(field)
        if hasattr(value, "tolist"):  # numpy arrays and scalars (np.int64 too) as plain Python values
            value = value.tolist()
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        props[prop] = str(value)
    return props


class HubSpotDestination:
    """Batch upserts of companies, idempotent on the leadlake_id unique property."""

    name = "hubspot"

    def __init__(
        self, access_token: str, base_url: str = "https://api.hubapi.com", max_retries: int = 6
    ) -> None:
        from hubspot import HubSpot

        retry = Retry(
            total=max_retries,
            backoff_factor=0.3,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # upsert is idempotent on the unique id, so POST may be retried
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._client = HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=retry)

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Upsert up to 100 leads in one call; returns the CRM id of each."""
        from hubspot.crm.companies import ApiException, BatchInputSimplePublicObjectBatchInputUpsert

        if len(leads) > BATCH_LIMIT:
            raise ValueError(f"a HubSpot batch holds at most {BATCH_LIMIT} inputs, got {len(leads)}")
        inputs = [
            {
                "idProperty": ID_PROPERTY,
                "id": lead["lead_id"],
                "properties": to_properties(lead) | {ID_PROPERTY: lead["lead_id"]},
            }
            for lead in leads
        ]
        try:
            resp = self._client.crm.companies.batch_api.upsert(
                BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
            )
        except ApiException as exc:
            raise DeliveryError(
                f"hubspot batch upsert failed: HTTP {exc.status}: {exc.body or exc.reason}"
            ) from None
        except Exception as exc:  # urllib3 MaxRetryError and friends, after the retries ran out
            raise DeliveryError(f"hubspot batch upsert failed: {type(exc).__name__}: {exc}") from None
        # A 200 whose body is not the documented batch reply (truncated JSON, no results list) fails this
        # batch only: the caller keeps it out of the ledger and the next run sends it again.
        results = getattr(resp, "results", None)
        if not isinstance(results, list):
            raise DeliveryError("hubspot batch upsert failed: malformed reply (a 200 without a results list)")
        crm_ids, created = {}, 0
        for result in results:
            props = result.properties or {}
            lead_id = props.get(ID_PROPERTY)
            if lead_id:
                crm_ids[lead_id] = result.id
            created += bool(getattr(result, "new", False))
        missing = {lead["lead_id"] for lead in leads} - set(crm_ids)
        if missing:
            raise DeliveryError(f"hubspot did not return {len(missing)} of {len(leads)} upserted companies")
        return UpsertResult(crm_ids, created, len(crm_ids) - created)
