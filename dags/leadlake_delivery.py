"""
### Delivery: gold.scored_leads -> CRM (nightly)

Every night, pushes new and changed leads from `gold.scored_leads` to HubSpot with batch upserts on the
`leadlake_id` unique property. A ledger (`gold.crm_deliveries`) records what each lead's CRM payload was,
so a lead is sent exactly once per change; a failed batch is retried by the next run.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_delivery", doc_md=__doc__, schedule="0 3 * * *", tags=["delivery", "reverse-etl", "crm"])
