"""
### Ingest: provider APIs -> bronze

One DAG per campaign file in `campaigns/` (`leadlake_ingest__<campaign id>`). Each provider named by the
campaign runs as its own task in its own Airflow pool, lands every raw payload in its bronze table exactly
once (`bronze.places_raw`, `bronze.yelp_businesses_raw`) and updates that table's Asset, which schedules
the silver DAG. Keys come from the environment or the sandbox; the DAG holds no business logic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from leadlake.assets import BRONZE_BY_PROVIDER, DEFAULT_ARGS
from leadlake.campaign import CampaignSpec, campaign_files, load_campaign
from leadlake.settings import get_settings


def ingest_dag(campaign: CampaignSpec, source_file: str) -> None:
    """Declare the ingestion DAG of one campaign."""

    @dag(
        dag_id=f"leadlake_ingest__{campaign.campaign_id}",
        description=f"Ingest '{campaign.name}' from {', '.join(campaign.sources)} into bronze",
        doc_md=__doc__,
        schedule=campaign.cron,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS | {"retry_delay": timedelta(minutes=5)},
        tags=["leadlake", "bronze", "ingest", campaign.vertical],
        params={"campaign_file": source_file},
    )
    def ingest_campaign() -> None:
        for provider in campaign.sources:

            @task(
                task_id=f"ingest_{provider}",
                pool=f"leadlake_{provider}",
                outlets=[BRONZE_BY_PROVIDER[provider]],
                execution_timeout=timedelta(hours=2),
            )
            def ingest_provider(provider: str = provider) -> dict:
                from leadlake.pipeline import run_ingest

                ctx = get_current_context()
                spec = load_campaign(ctx["params"]["campaign_file"])
                spec = spec.model_copy(update={"sources": [provider]})
                report = run_ingest(spec, run_id=ctx["run_id"])
                pr = report.providers[provider]
                if pr.failed_queries and pr.failed_queries == pr.queries:
                    raise RuntimeError(f"{provider}: every query failed: {pr.errors[0]}")
                return {"landed": pr.landed, "items": pr.items, "quarantined": pr.quarantined}

            ingest_provider()

    ingest_campaign()


for _path in campaign_files(get_settings().campaigns_dir):
    ingest_dag(load_campaign(_path), str(_path))
