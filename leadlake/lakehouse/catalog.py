"""The lakehouse's layers and the tables the stages own, by name: one home, so a rename is one edit.

Raw provider tables are named by their adapters (`SourceAdapter.bronze_table`). Every table name is
`layer.table` with the layer one of LAYERS; the `ops` layer holds what the platform records about itself.
"""

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "ops")

BRONZE_QUARANTINE = "bronze.quarantine"
BRONZE_INGEST_LOG = "bronze.ingest_log"
BRONZE_CAMPAIGNS = "bronze.campaigns"
SILVER_SOURCE_RECORDS = "silver.source_records"
SILVER_LEADS = "silver.leads"
SILVER_LEAD_LINKS = "silver.lead_links"
SILVER_QUARANTINE = "silver.quarantine"
GOLD_SCORED_LEADS = "gold.scored_leads"
GOLD_CRM_DELIVERIES = "gold.crm_deliveries"

# One row per stage per run, keyed by (run_id, stage).
OPS_STAGE_RUNS = "ops.stage_runs"
OPS_STAGE_RUNS_KEYS: tuple[str, ...] = ("run_id", "stage")
# Column -> Arrow type, in table order (timestamps in UTC; details_json is a JSON object as text).
OPS_STAGE_RUNS_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "stage": "string",
    "status": "string",
    "started_at": "timestamp[us, tz=UTC]",
    "finished_at": "timestamp[us, tz=UTC]",
    "seconds": "double",
    "rows_in": "int64",
    "rows_out": "int64",
    "rows_quarantined": "int64",
    "error": "string",
    "details_json": "string",
}
