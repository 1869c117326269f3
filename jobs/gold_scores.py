"""spark-submit entry point: silver.leads -> gold.scored_leads.

spark-submit jobs/gold_scores.py             # settings from LEADLAKE_* environment variables
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict


def main() -> int:
    from leadlake.runtime.resources import run_gold

    print(json.dumps(asdict(run_gold()), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
