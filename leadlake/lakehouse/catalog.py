"""The lakehouse's layers and the tables the stages own, by name: one home, so a rename is one edit.

Raw provider tables are named by their adapters (`SourceAdapter.bronze_table`). Every table name is
`layer.table` with the layer one of LAYERS; the `ops` layer holds what the platform records about itself.
"""

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "ops")

BRONZE_QUARANTINE = "bronze.quarantine"
BRONZE_INGEST_LOG = "bronze.ingest_log"
BRONZE_CAMPAIGNS = "bronze.campaigns"
BRONZE_CRM_OUTCOMES = "bronze.crm_outcomes"  # raw CRM company changes, exactly once by content hash
SILVER_SOURCE_RECORDS = "silver.source_records"
SILVER_LEADS = "silver.leads"
SILVER_LEAD_LINKS = "silver.lead_links"
SILVER_QUARANTINE = "silver.quarantine"
# Lead identity: the match graph, merges of existing leads, every id event, and each run's trained model.
SILVER_LEAD_MATCHES = "silver.lead_matches"
SILVER_LEAD_MERGES = "silver.lead_merges"
SILVER_LEAD_ID_HISTORY = "silver.lead_id_history"
SILVER_RESOLVE_MODELS = "silver.resolve_models"
SILVER_LEAD_OUTCOMES = "silver.lead_outcomes"  # what sales did with each delivered lead, and its labels
GOLD_SCORED_LEADS = "gold.scored_leads"
# The model's inputs, one row per lead and feature-set version: what training and scoring both read.
GOLD_LEAD_FEATURES = "gold.lead_features"
GOLD_SCORE_DRIFT = "gold.score_drift"  # per scoring run, the PSI of each feature and of the score
GOLD_CRM_DELIVERIES = "gold.crm_deliveries"
GOLD_DELIVERY_DEAD_LETTERS = "gold.delivery_dead_letters"  # leads a destination refused, with its message

# One row per stage per run (run_id, stage, status, timings, rows in/out/quarantined, error, details):
# the row shape and its schema belong to leadlake.observe.reports, which writes the table.
OPS_STAGE_RUNS = "ops.stage_runs"
# Emails, domains and phones never to deliver (leadlake.governance.suppression owns the shape).
OPS_SUPPRESSIONS = "ops.suppressions"
OPS_WATERMARKS = "ops.watermarks"  # how far each incremental reader (CRM feedback, ...) has read
OPS_SYNC_LOG = "ops.sync_log"  # one row per lead per delivery run per destination: what happened to it
# One row per enrichment run per provider: lookups planned, cached, skipped by targeting, calls, cost.
OPS_ENRICHMENT_COSTS = "ops.enrichment_costs"
OPS_MODEL_RUNS = "ops.model_runs"  # one row per training run: registered version, decision, metrics
