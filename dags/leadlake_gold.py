"""
### Gold: silver.leads -> enrichment -> gold.lead_features -> gold.scored_leads

Runs whenever `silver.leads` changes (scoring follows the data). First the leads are looked up at the
enrichment providers the campaigns name (People Data Labs, Hunter, OpenCorporates; one task and pool each;
raw answers land in bronze exactly once). Then a Spark job joins the enrichment, scores every lead with the
rules baseline (tech spec appendix 19.1, kept as `rules_score`), computes each lead's model inputs once into
`gold.lead_features` (MERGE on lead id and feature-set version; training reads the same rows), re-scores
them partition by partition with the MLflow `champion` of `leadlake_lead_scorer` when there is one (the rules
when there is none or it fails to load), records the run's drift against the champion's training data in
`gold.score_drift`, validates and MERGEs `gold.scored_leads`.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_gold", doc_md=__doc__, tags=["gold", "spark", "scoring", "enrichment"])
