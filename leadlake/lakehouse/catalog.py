"""The lakehouse tables the stages own, by name: one home, so a rename is one edit.

Raw provider tables are named by their adapters (`SourceAdapter.bronze_table`).
"""

BRONZE_QUARANTINE = "bronze.quarantine"
BRONZE_INGEST_LOG = "bronze.ingest_log"
BRONZE_CAMPAIGNS = "bronze.campaigns"
SILVER_SOURCE_RECORDS = "silver.source_records"
SILVER_LEADS = "silver.leads"
SILVER_LEAD_LINKS = "silver.lead_links"
SILVER_QUARANTINE = "silver.quarantine"
GOLD_SCORED_LEADS = "gold.scored_leads"
GOLD_CRM_DELIVERIES = "gold.crm_deliveries"
OPS_STAGE_RUNS = "ops.stage_runs"
