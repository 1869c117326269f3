"""Airflow Assets for the lakehouse tables that hand work from one DAG to the next."""

from __future__ import annotations

from airflow.sdk import Asset

from leadlake.settings import get_settings
from leadlake.tables import GOLD_SCORED_LEADS as _GOLD_SCORED_LEADS
from leadlake.tables import SILVER_LEADS as _SILVER_LEADS


def table_asset(name: str) -> Asset:
    """The Asset of a lakehouse table, named like the table, its URI where the table lives."""
    layer, table = name.split(".")
    root = get_settings().lakehouse_root
    uri = root if root.startswith("s3://") else f"file://{root}"
    return Asset(name=name, uri=f"{uri}/{layer}/{table}", group="leadlake")


BRONZE_PLACES = table_asset("bronze.places_raw")
BRONZE_YELP = table_asset("bronze.yelp_businesses_raw")
BRONZE_BY_PROVIDER = {"google_places": BRONZE_PLACES, "yelp": BRONZE_YELP}
SILVER_LEADS = table_asset(_SILVER_LEADS)
GOLD_SCORED_LEADS = table_asset(_GOLD_SCORED_LEADS)

# Kept here as plain names so DAG files need not import the adapters to declare one task (and pool) each.
ENRICHMENT_PROVIDERS = ("pdl", "hunter", "opencorporates")

DEFAULT_ARGS = {"owner": "leadlake", "retries": 2}
