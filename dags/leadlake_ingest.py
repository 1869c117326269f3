"""
### Ingest: provider APIs -> bronze

One DAG per campaign file in `campaigns/` (`leadlake_ingest__<campaign id>`), on the campaign's cron.
Each provider the campaign names runs as its own task in its own Airflow pool, lands every raw payload
in its bronze table exactly once (`bronze.places_raw`, `bronze.yelp_businesses_raw`, ...) and updates
that table's Asset, which schedules the silver DAG. Keys come from the environment, an Airflow
connection `leadlake_<provider>`, or the sandbox; the DAG holds no business logic.
"""

from __future__ import annotations

from leadlake.core.campaign import campaign_files, load_campaign
from leadlake.core.settings import get_settings
from leadlake.runtime.airflow.dags import stage_dag

for _path in campaign_files(get_settings().resolved_campaigns_dir):
    _campaign = load_campaign(_path)
    stage_dag(
        "leadlake_ingest",
        doc_md=__doc__,
        schedule=_campaign.cron,
        tags=["bronze", "ingest", _campaign.vertical],
        campaign=_campaign,
        campaign_file=str(_path),
        description=f"Ingest '{_campaign.name}' from {', '.join(_campaign.sources)} into bronze",
    )
