"""
### Train: gold.lead_features x silver.lead_outcomes -> XGBoost in MLflow (weekly, and on demand)

Every Sunday (or whenever triggered: `airflow dags trigger leadlake_train`, the UI's trigger button, or
`leadlake train` from a shell), trains the lead scorer on the delivered leads whose outcome the CRM told us
(`silver.lead_outcomes`, label rule `qualified_or_won_90d`), reading their features from `gold.lead_features`
(the rows gold scores). The split is by time; the run is logged to MLflow with its metrics, plots and the
Delta versions it read, registered as a version of `leadlake_lead_scorer` with alias `challenger`, and made
`champion` only if it beats the champion on the same held-out rows. Each run is a row of `ops.model_runs`.
Too few labels train nothing (the run says why); gold scores with the new champion on its next run.
"""

from __future__ import annotations

from leadlake.runtime.airflow.dags import stage_dag

stage_dag("leadlake_train", doc_md=__doc__, schedule="0 5 * * 0", tags=["ml", "training", "mlflow"])
