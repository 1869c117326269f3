"""Stage-level test helpers: run one registered stage, scratch resources, hand-written lake contents.

Import by name (`from support.pipeline import stage, resources_for`); tests/ is on sys.path via conftest.
The writers put rows straight into a delta-rs lakehouse in the shapes the stages read, so that a test
can start a stage from literal inputs instead of running the stages before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from leadlake.core.campaign import Area, CampaignSpec, Destination
from leadlake.core.settings import get_settings
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import SILVER_LEADS
from leadlake.runtime.resources import Resources
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.stages.bronze.landing import RAW_SCHEMA, content_hash, record_campaign

# Gold rows in delivery's shape: one definition (the package's), shared with benchmarks/bench_delivery.py.
from leadlake.stages.delivery import gold_rows
from leadlake.stages.delivery.gold_rows import (  # noqa: F401 - re-exported
    GOLD_LEAD_SCHEMA,
    write_gold_leads,
)

UNREACHABLE = "http://127.0.0.1:9"  # no connector is called: a stage that needs none never goes there


def stage(res: Resources, name: str, run_id: str = "r") -> Any:
    """Run one registered stage on `res` and return the stage's own report."""
    return run_stage(get_stage(name), res, run_id).details


def resources_for(
    lake_root: str, sandbox_url: str = UNREACHABLE, campaigns: tuple = (), spark: Any = None
) -> Resources:
    """Resources on a scratch lakehouse; nothing in os.environ changes. `spark`: share this session."""
    settings = get_settings().model_copy(update={"lakehouse_uri": lake_root})
    res = Resources.for_sandbox(sandbox_url, settings, campaigns)
    return replace(res, _spark=spark) if spark is not None else res


# ---- campaigns --------------------------------------------------------------------------------------------
DENVER = Area(city="Denver", region="CO", country="US", lat=39.7392, lon=-104.9903, radius_km=40)
SEATTLE = Area(city="Seattle", region="WA", country="US", lat=47.6062, lon=-122.3321, radius_km=25)


def campaign(
    campaign_id: str,
    vertical: str,
    areas: Sequence[Area] = (DENVER,),
    sources: Sequence[str] = (),
    enrichment: Sequence[str] = (),
    destinations: Sequence[tuple[str, str] | tuple[str, str, Any]] = (("hubspot", "C"),),
) -> CampaignSpec:
    """A campaign spec with only what a test cares about; its leads go to HubSpot at tier C unless told.

    `destinations`: (type, min tier) or (type, min tier, field mapping: a YAML path or inline keys)."""
    return CampaignSpec(
        destinations=[
            Destination(type=d[0], min_tier=d[1], mapping=d[2] if len(d) > 2 else None) for d in destinations
        ],
        campaign_id=campaign_id,
        name=campaign_id.replace("_", " "),
        vertical=vertical,
        areas=list(areas),
        keywords=["plumber"],
        sources=list(sources),
        enrichment=list(enrichment),
    )


def record_campaigns(lake: Lakehouse, specs: Iterable[CampaignSpec]) -> None:
    """bronze.campaigns rows, as ingestion records them."""
    for spec in specs:
        record_campaign(lake, spec)


# ---- bronze -----------------------------------------------------------------------------------------------
def yelp_business(
    key: str,
    name: str,
    *,
    phone: str | None = "+13035550101",
    rating: float = 4.5,
    review_count: int = 20,
    address: str = "100 Main St",
    city: str = "Denver",
    state: str = "CO",
    zip_code: str = "80202",
    lat: float = 39.74,
    lon: float = -104.99,
) -> dict[str, Any]:
    """A Yelp Fusion business search item (the fields Yelp documents that silver reads)."""
    return {
        "id": key,
        "alias": key,
        "name": name,
        "phone": phone,
        "rating": rating,
        "review_count": review_count,
        "categories": [{"alias": "plumbing", "title": "Plumbing"}],
        "coordinates": {"latitude": lat, "longitude": lon},
        "location": {
            "address1": address,
            "city": city,
            "state": state,
            "zip_code": zip_code,
            "country": "US",
        },
    }


def bronze_row(
    provider: str,
    key: str,
    payload: Mapping[str, Any] | str,
    fetched_at: datetime,
    campaign_id: str = "denver_home_services",
    run_id: str = "r",
) -> dict[str, Any]:
    """One raw bronze row (RAW_SCHEMA) holding `payload` as fetched at `fetched_at`."""
    text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
    return {
        "provider": provider,
        "provider_key": key,
        "campaign_id": campaign_id,
        "run_id": run_id,
        "request_fingerprint": f"test:{key}",
        "fetched_at": fetched_at,
        "payload": text,
        "content_hash": content_hash(text),
    }


def land(lake: Lakehouse, table: str, rows: list[dict[str, Any]]) -> None:
    """Append raw rows to a bronze table (insert-only on the bronze keys, as landing does)."""
    lake.merge(
        table,
        pa.Table.from_pylist(rows, schema=RAW_SCHEMA),
        keys=["campaign_id", "provider_key", "content_hash"],
        update=False,
        partition_by=["campaign_id"],
    )


def at(hour: int) -> datetime:
    """A fixed UTC instant on one test day (payload fetch times)."""
    return datetime(2025, 3, 1, hour, tzinfo=UTC)


# ---- silver / gold ----------------------------------------------------------------------------------------
SILVER_LEAD_SCHEMA = pa.schema(
    [
        ("lead_id", pa.string()),
        ("name", pa.string()),
        ("name_norm", pa.string()),
        ("website", pa.string()),
        ("domain", pa.string()),
        ("phone_e164", pa.string()),
        ("phone_is_toll_free", pa.bool_()),
        ("address_line1", pa.string()),
        ("city", pa.string()),
        ("region", pa.string()),
        ("postal", pa.string()),
        ("country", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("rating", pa.float64()),
        ("review_count", pa.int64()),
        ("categories", pa.list_(pa.string())),
        ("providers", pa.list_(pa.string())),
        ("source_record_ids", pa.list_(pa.string())),
        ("source_count", pa.int64()),
        ("provenance", pa.string()),
        ("campaign_ids", pa.list_(pa.string())),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def silver_lead(lead_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """A silver.leads row: a Denver business with no website, phone or rating unless given."""
    row: dict[str, Any] = {f.name: None for f in SILVER_LEAD_SCHEMA}
    row |= {
        "lead_id": lead_id,
        "name": name,
        "name_norm": name.lower(),
        "phone_is_toll_free": False,
        "city": "Denver",
        "region": "CO",
        "country": "US",
        "categories": [],
        "providers": ["yelp"],
        "source_record_ids": [f"yelp:{lead_id}"],
        "source_count": 1,
        "provenance": "[]",
        "campaign_ids": ["denver_home_services"],
        "updated_at": at(0),
    }
    return row | fields


def write_silver_leads(lake: Lakehouse, rows: list[dict[str, Any]]) -> None:
    """Replace silver.leads with these rows (no key check: a test may write what a broken stage would)."""
    lake.overwrite(SILVER_LEADS, pa.Table.from_pylist(rows, schema=SILVER_LEAD_SCHEMA))


def gold_leads(n: int, tier: str = "B") -> list[dict[str, Any]]:
    """n distinct gold rows, L0000..., with hand-checkable CRM fields, found on Yelp."""
    return gold_rows.gold_leads(n, tier, providers=("yelp",))
