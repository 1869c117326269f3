"""The stages as callables: what DAG tasks, the CLI and the benchmark run. No business logic lives in DAGs."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from leadlake.campaign import CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.settings import Settings, get_settings, reset_settings
from leadlake.tables import GOLD_SCORED_LEADS, SILVER_LEADS, SILVER_SOURCE_RECORDS

log = logging.getLogger("leadlake.pipeline")

SANDBOX_ENV = "LEADLAKE_SANDBOX_URL"
AIRFLOW_CONN_PREFIX = "leadlake_"
SANDBOX_KEYS = {
    "google_places": "sandbox-google-places-key",
    "yelp": "sandbox-yelp-key",
    "hubspot": "sandbox-hubspot-token",
    "pdl": "sandbox-pdl-key",
    "hunter": "sandbox-hunter-key",
    "opencorporates": "sandbox-opencorporates-token",
}
KEY_ENV = {
    "google_places": "LEADLAKE_GOOGLE_PLACES_API_KEY",
    "yelp": "LEADLAKE_YELP_API_KEY",
    "hubspot": "LEADLAKE_HUBSPOT_ACCESS_TOKEN",
    "pdl": "LEADLAKE_PDL_API_KEY",
    "hunter": "LEADLAKE_HUNTER_API_KEY",
    "opencorporates": "LEADLAKE_OPENCORPORATES_API_TOKEN",
}


class ConfigError(RuntimeError):
    """Missing credentials or an unusable target; the message names the setting to fix."""


def new_run_id(prefix: str = "manual") -> str:
    """A sortable run id: prefix, UTC time, random suffix."""
    return f"{prefix}__{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:6]}"


def lakehouse(settings: Settings | None = None) -> Lakehouse:
    """The delta-rs lakehouse of the current settings."""
    s = settings or get_settings()
    return Lakehouse(s.lakehouse_root, s.storage_options())


@contextmanager
def sandbox(
    settings: Settings | None = None, *, fault_rate: float = 0.0, businesses: int | None = None
) -> Iterator[str | None]:
    """Yield the sandbox URL in use: LEADLAKE_SANDBOX_URL when set, else one started here for the block.

    Yields None when real provider keys are configured (no sandbox needed).
    """
    s = settings or get_settings()
    if s.sandbox_url or not s.uses_sandbox:
        yield s.sandbox_url
        return
    from leadlake.sandbox.server import Faults, SandboxServer

    server = SandboxServer(
        seed=s.sandbox_seed,
        businesses=businesses or s.sandbox_businesses,
        faults=Faults.from_rate(fault_rate, retry_after_s=1),
    ).start()
    os.environ[SANDBOX_ENV] = server.url
    reset_settings()
    try:
        yield server.url
    finally:
        server.stop()
        os.environ.pop(SANDBOX_ENV, None)
        reset_settings()


def credentials(settings: Settings, service: str) -> tuple[str, str]:
    """(key, base_url) for a provider or CRM: the configured key, else the sandbox's."""
    configured = {
        "google_places": (settings.google_places_api_key, settings.google_places_base_url),
        "yelp": (settings.yelp_api_key, settings.yelp_base_url),
        "hubspot": (settings.hubspot_access_token, settings.hubspot_base_url),
        "pdl": (settings.pdl_api_key, settings.pdl_base_url),
        "hunter": (settings.hunter_api_key, settings.hunter_base_url),
        "opencorporates": (settings.opencorporates_api_token, settings.opencorporates_base_url),
    }[service]
    if settings.sandbox_url:
        return SANDBOX_KEYS[service], settings.sandbox_url
    key, base = configured
    if key is not None:
        return key.get_secret_value(), base
    from_airflow = airflow_connection(service)
    if from_airflow is not None:
        return from_airflow[0], from_airflow[1] or base
    raise ConfigError(
        f"no credentials for {service}: set {KEY_ENV[service]} or the Airflow connection "
        f"'{AIRFLOW_CONN_PREFIX}{service}' (or LEADLAKE_SANDBOX_URL to use the sandbox)"
    )


def airflow_connection(service: str) -> tuple[str, str | None] | None:
    """(password, host) of the Airflow connection leadlake_<service>, when Airflow is in play and has one."""
    conn_id = f"{AIRFLOW_CONN_PREFIX}{service}"
    # Only consult Airflow inside a task or when the connection is given as AIRFLOW_CONN_*: importing
    # Airflow in a plain CLI run would cost seconds for nothing.
    if "airflow.sdk" not in sys.modules and f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ:
        return None
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends: no such connection
        return None
    if not conn.password:
        return None
    return conn.password, conn.host or None


def adapter(name: str, settings: Settings):
    """A provider adapter with its credentials and rate limit.

    Against the sandbox the providers' documented request rates would only slow the demo down (the sandbox
    does not enforce them), so `sandbox_rate_per_s` applies there; `rate_limits` overrides either.
    """
    from leadlake.sources import build_adapter
    from leadlake.sources.base import RateLimitPolicy

    key, base = credentials(settings, name)
    rate = settings.rate_limits.get(name) or (settings.sandbox_rate_per_s if settings.sandbox_url else None)
    opts = {"rate": RateLimitPolicy(rate_per_s=rate, burst=max(1, int(rate)))} if rate else {}
    return build_adapter(name, api_key=key, base_url=base, **opts)


def build_adapters(campaign: CampaignSpec, settings: Settings) -> list:
    """One adapter per source the campaign names."""
    return [adapter(name, settings) for name in campaign.sources]


def run_ingest(
    campaign: CampaignSpec,
    run_id: str,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
):
    """Land a campaign's provider payloads in bronze (delta-rs, no JVM)."""
    from leadlake.bronze import ingest
    from leadlake.planning import enforce_budget, plan_campaign

    s = settings or get_settings()
    lake = lakehouse(s)
    lake.check_reachable()
    adapters = build_adapters(campaign, s)
    try:
        # A plan over budget is refused here, before any provider call is made.
        enforce_budget(plan_campaign(campaign, adapters))
        return ingest(
            campaign, adapters, lake, run_id, flush_rows=s.bronze_flush_rows, on_query_done=progress
        )
    finally:
        for a in adapters:
            a.close()


def run_enrichment(run_id: str, settings: Settings | None = None, only: str | None = None):
    """Look up every silver lead with the enrichment providers the campaigns ask for (or just `only`)."""
    from leadlake.enrich import enrich_leads, requested_providers

    s = settings or get_settings()
    lake = lakehouse(s)
    names = [n for n in requested_providers(lake) if only in (None, n)]
    adapters = [adapter(name, s) for name in names]
    try:
        return enrich_leads(lake, adapters, run_id, flush_rows=s.bronze_flush_rows)
    finally:
        for a in adapters:
            a.close()


def spark_session(settings: Settings | None = None):
    """The Spark session for the silver and gold jobs."""
    from leadlake.spark import get_spark

    s = settings or get_settings()
    return get_spark("leadlake", master=s.spark_master)


def run_silver(settings: Settings | None = None):
    """The silver Spark job: normalise and resolve bronze into silver.leads."""
    from leadlake.silver import build_silver

    s = settings or get_settings()
    return build_silver(spark_session(s), s)


def run_gold(settings: Settings | None = None):
    """The gold Spark job: score silver.leads into gold.scored_leads."""
    from leadlake.gold import build_gold

    s = settings or get_settings()
    return build_gold(spark_session(s), s)


def run_delivery(run_id: str, settings: Settings | None = None, min_tier: str = "C"):
    """Push new or changed gold leads to HubSpot exactly once."""
    from leadlake.delivery import deliver
    from leadlake.destinations.hubspot import HubSpotDestination

    s = settings or get_settings()
    token, base = credentials(s, "hubspot")
    return deliver(lakehouse(s), HubSpotDestination(token, base), run_id, min_tier=min_tier)


@dataclass
class Summary:
    """Figures the demo and `run` print at the end."""

    tables: list
    duplicates_merged: int
    top: list[dict]


def summarize(settings: Settings | None = None, top_n: int = 10) -> Summary:
    """Rows per table, duplicates merged and the top leads, read back from the lakehouse."""
    lake = lakehouse(settings)
    tables = lake.list_tables()
    dup = 0
    if lake.exists(SILVER_SOURCE_RECORDS) and lake.exists(SILVER_LEADS):
        dup = (
            lake.read(SILVER_SOURCE_RECORDS, columns=["record_id"]).num_rows
            - lake.read(SILVER_LEADS, columns=["lead_id"]).num_rows
        )
    top = []
    if lake.exists(GOLD_SCORED_LEADS):
        top = lake.sql(
            "select name, city, region, lead_score, priority_tier, score_reasons, source_count "
            "from gold.scored_leads order by lead_score desc, review_count desc nulls last, name "
            f"limit {top_n}"
        ).to_pylist()
    return Summary(tables, dup, top)
