"""
### Gold: silver.leads -> enrichment -> gold.scored_leads

Runs whenever `silver.leads` changes. First the leads are looked up at the enrichment providers the
campaigns name (People Data Labs, Hunter, OpenCorporates; one task and pool each; raw answers land in
bronze exactly once), then a Spark job joins the enrichment, scores every lead with the rules baseline
(tech spec appendix 19.1), attaches reasons and a priority tier, validates and MERGEs `gold.scored_leads`.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_gold", doc_md=__doc__, tags=["gold", "spark", "scoring", "enrichment"])
