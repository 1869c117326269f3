"""spark-submit entry point: bronze -> silver.source_records, silver.lead_links, silver.leads.

spark-submit jobs/silver_leads.py            # settings from LEADLAKE_* environment variables
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict


def main() -> int:
    from leadlake.runtime.resources import run_silver

    print(json.dumps(asdict(run_silver()), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
