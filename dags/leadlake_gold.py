"""
### Gold: silver.leads -> enrichment -> gold.scored_leads

Runs whenever `silver.leads` changes. First the leads are looked up at the enrichment providers the
campaigns name (People Data Labs, Hunter, OpenCorporates; raw answers land in bronze exactly once), then
a Spark job joins the enrichment, scores every lead with the rules baseline (tech spec appendix 19.1),
attaches the reasons and a priority tier, validates and MERGEs `gold.scored_leads`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from leadlake.assets import DEFAULT_ARGS, ENRICHMENT_PROVIDERS, GOLD_SCORED_LEADS, SILVER_LEADS


@dag(
    dag_id="leadlake_gold",
    doc_md=__doc__,
    schedule=[SILVER_LEADS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS | {"retry_delay": timedelta(minutes=2)},
    tags=["leadlake", "gold", "spark", "scoring"],
)
def leadlake_gold() -> None:
    enrichment = []
    for provider in ENRICHMENT_PROVIDERS:

        @task(task_id=f"enrich_{provider}", pool=f"leadlake_{provider}", execution_timeout=timedelta(hours=2))
        def enrich_leads(provider: str = provider) -> dict:
            from leadlake.pipeline import run_enrichment

            report = run_enrichment(run_id=get_current_context()["run_id"], only=provider)
            return {name: pr.landed for name, pr in report.providers.items()}

        enrichment.append(enrich_leads())

    @task(outlets=[GOLD_SCORED_LEADS], execution_timeout=timedelta(hours=2))
    def score_leads() -> dict:
        from dataclasses import asdict

        from leadlake.pipeline import run_gold

        return asdict(run_gold())

    enrichment >> score_leads()


leadlake_gold()
