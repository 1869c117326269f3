"""spark-submit entry point: silver.leads (+ enrichment) -> gold.scored_leads.

spark-submit jobs/gold_scores.py             # settings from LEADLAKE_* environment variables
python jobs/gold_scores.py                   # the same, local Spark

Runs the registry's "gold" stage on Resources.from_settings() and prints its report as JSON; the exit
status is 1 when the stage failed.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from leadlake.observe.reports import plain
    from leadlake.runtime.resources import Resources, new_run_id
    from leadlake.runtime.stages import get_stage, run_stage

    report = run_stage(get_stage("gold"), Resources.from_settings(), new_run_id("job"))
    print(json.dumps(plain(report), default=str))
    return 1 if report.status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
