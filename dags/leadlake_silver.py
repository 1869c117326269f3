"""
### Silver: bronze -> silver.leads

Runs whenever a discovery bronze table is updated. A Spark job normalises the newest payload of every
provider record into `silver.source_records`, quarantines what fails validation, resolves duplicates
across providers with Splink and publishes `silver.leads` and `silver.lead_links` with a Delta MERGE.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_silver", doc_md=__doc__, tags=["silver", "spark", "splink"])
