"""
### Delivery: gold.scored_leads -> CRM (nightly)

Every night, pushes new and changed leads from `gold.scored_leads` to HubSpot with batch upserts on the
`leadlake_id` unique property. A ledger (`gold.crm_deliveries`) records what each lead's CRM payload was,
so a lead is sent exactly once per change; a failed batch is retried by the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from leadlake.assets import DEFAULT_ARGS, GOLD_SCORED_LEADS


@dag(
    dag_id="leadlake_delivery",
    doc_md=__doc__,
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS | {"retry_delay": timedelta(minutes=10)},
    tags=["leadlake", "delivery", "reverse-etl", "hubspot"],
)
def leadlake_delivery() -> None:
    @task(inlets=[GOLD_SCORED_LEADS], pool="leadlake_hubspot", execution_timeout=timedelta(hours=1))
    def push_to_hubspot() -> dict:
        from dataclasses import asdict

        from leadlake.pipeline import run_delivery

        report = run_delivery(run_id=get_current_context()["run_id"])
        if report.failed:
            raise RuntimeError(f"{report.failed} leads not delivered: {report.errors[0]}")
        return asdict(report)

    push_to_hubspot()


leadlake_delivery()
