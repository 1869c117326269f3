"""
### Feedback: CRM outcomes -> bronze.crm_outcomes -> silver.lead_outcomes (nightly)

Every night, reads what sales did with delivered leads (HubSpot lifecycle stage changes through the CRM v3
search API, since the watermark in `ops.watermarks`) into `bronze.crm_outcomes`, exactly once by content
hash, and rebuilds `silver.lead_outcomes` with the label rules (e.g. qualified-or-won within 90 days) the
model trains on.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_feedback", doc_md=__doc__, schedule="0 4 * * *", tags=["feedback", "crm", "ml"])
