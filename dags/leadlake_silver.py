"""
### Silver: bronze -> silver.leads

Runs whenever a bronze table is updated. A Spark job normalises the newest payload of every provider
record into `silver.source_records`, quarantines what fails validation, resolves duplicates across
providers with Splink and publishes `silver.leads` and `silver.lead_links` with a Delta MERGE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from leadlake.assets import BRONZE_PLACES, BRONZE_YELP, DEFAULT_ARGS, SILVER_LEADS


@dag(
    dag_id="leadlake_silver",
    doc_md=__doc__,
    schedule=(BRONZE_PLACES | BRONZE_YELP),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS | {"retry_delay": timedelta(minutes=2)},
    tags=["leadlake", "silver", "spark", "splink"],
)
def leadlake_silver() -> None:
    @task(outlets=[SILVER_LEADS], execution_timeout=timedelta(hours=3))
    def build_silver_leads() -> dict:
        from dataclasses import asdict

        from leadlake.pipeline import run_silver

        return asdict(run_silver())

    build_silver_leads()


leadlake_silver()
