"""Benchmark reverse ETL throughput against the sandbox HubSpot at its configured rate limit.

N gold leads go to a fresh in-process sandbox CRM (the real `deliver()`, the real HubSpotDestination on the
official client, batches of 100 in flight up to the destination's `max_in_flight`, paced by the CRM's
X-HubSpot-RateLimit-* headers). Prints records/s, the limit in records/s (requests/s x 100), their ratio,
the 429s the CRM served and the duplicate companies it holds (must be 0): min/median/max over the repeats.
The first upsert goes out while the rest of gold is still being diffed (`first upsert at`); the CPU the
process used says how much of a core the run needed (the sandbox runs in the same process).

Usage: python benchmarks/bench_delivery.py [--leads 20000] [--rate 10] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadlake.connectors.destinations.hubspot import (  # noqa: E402
    BATCH_LIMIT,
    ID_PROPERTY,
    MAX_IN_FLIGHT,
    HubSpotDestination,
)
from leadlake.lakehouse import Lakehouse  # noqa: E402
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS  # noqa: E402
from leadlake.sandbox.server import Faults, SandboxServer  # noqa: E402
from leadlake.stages.delivery.deliver import deliver  # noqa: E402
from leadlake.stages.delivery.gold_rows import gold_leads, gold_table  # noqa: E402


def gold(n: int) -> pa.Table:
    """n distinct qualifying gold leads (tier B, no campaigns: the default destination takes them), in the
    shape the delivery tests use (`leadlake.stages.delivery.gold_rows`)."""
    return gold_table(gold_leads(n, prefix="B", width=6, providers=("yelp",)))


def one_run(leads: pa.Table, rate: float, in_flight: int, fault_rate: float, workdir: Path) -> dict[str, Any]:
    """One delivery of every lead to a fresh sandbox CRM limited to `rate` requests/s."""
    lake = Lakehouse(str(workdir / "lake"))
    lake.overwrite(GOLD_SCORED_LEADS, leads)
    faults = Faults.from_rate(fault_rate, retry_after_s=0) if fault_rate else Faults()
    with SandboxServer(seed=7, businesses=20, faults=faults) as sb:
        sb.crm.rate_limit.configure(rate)
        dest = HubSpotDestination(sb.keys["hubspot"], sb.url, max_in_flight=in_flight)
        sent_at: list[float] = []
        first: list[float] = []
        upsert = dest.upsert

        def timed(batch: Any) -> Any:
            if not first:
                first.append(time.perf_counter())
            return upsert(batch)

        dest.upsert = timed  # type: ignore[method-assign]
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = deliver(lake, dest, "bench", on_batch=lambda n: sent_at.append(time.perf_counter()))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stats = sb.stats()
        companies = sb.crm.companies()
    per_lead = Counter(c["properties"].get(ID_PROPERTY) for c in companies)
    ledger = lake.read(GOLD_CRM_DELIVERIES).num_rows
    return {
        "leads": leads.num_rows,
        "sent": report.sent,
        "failed": report.failed,
        "seconds": round(seconds, 3),
        # this process's CPU (delivery, the client and the in-process sandbox): on a busy machine a share
        # of a core it cannot get holds the rate down, whatever the CRM allows
        "cpu_seconds": round(cpu, 2),
        "first_request_s": round(first[0] - t0, 3) if first else None,
        "send_seconds": round((sent_at[-1] - first[0]) if sent_at else seconds, 3),
        "records_per_s": round(report.sent / seconds, 1),
        # at the CRM: from the first upsert to the last accepted batch (no lakehouse reads before it)
        "crm_records_per_s": round(report.sent / (sent_at[-1] - first[0]), 1) if len(sent_at) > 1 else None,
        "http_429": int(stats["status"].get("429", 0)),
        "upsert_requests": int(stats["routes"].get("hubspot.batchUpsert", 0)),
        "gate_wait_s": round(dest.gate.waited, 2),
        "crm_companies": len(companies),
        "duplicates": sum(n - 1 for n in per_lead.values() if n > 1),
        "missing": leads.num_rows - len(per_lead),
        "ledger_rows": ledger,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=20_000, help="gold leads to deliver [20000]")
    ap.add_argument("--rate", type=float, default=10.0, help="the sandbox CRM's limit, requests/s [10]")
    ap.add_argument("--repeats", type=int, default=3, help="runs, each on a fresh CRM and lakehouse [3]")
    ap.add_argument(
        "--in-flight", type=int, default=MAX_IN_FLIGHT, help=f"batches in flight [{MAX_IN_FLIGHT}]"
    )
    ap.add_argument("--fault-rate", type=float, default=0.0, help="sandbox 429/5xx/malformed share [0]")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("leadlake").setLevel(logging.CRITICAL)  # a faulted batch is reported below

    limit = args.rate * BATCH_LIMIT
    leads = gold(args.leads)
    print(
        f"delivery to the sandbox HubSpot: {args.leads:,} leads, limit {args.rate:g} requests/s "
        f"= {limit:,.0f} records/s, {args.in_flight} batches in flight, {args.repeats} runs",
        flush=True,
    )
    runs = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
            run = one_run(leads, args.rate, args.in_flight, args.fault_rate, Path(tmp))
        run["ratio"] = round(run["records_per_s"] / limit, 3)
        run["crm_ratio"] = round((run["crm_records_per_s"] or 0) / limit, 3)
        runs.append(run)
        print(
            f"  run {i + 1}: {run['records_per_s']:,.1f} records/s ({run['ratio']:.1%} of the limit) in "
            f"{run['seconds']:.2f} s; at the CRM {run['crm_records_per_s']:,.1f} records/s "
            f"({run['crm_ratio']:.1%}: first upsert at {run['first_request_s']:.2f} s, "
            f"{run['send_seconds']:.2f} s to the last batch); sent {run['sent']:,}, "
            f"failed {run['failed']}, 429s {run['http_429']}, duplicates {run['duplicates']}, "
            f"missing {run['missing']}; CPU {run['cpu_seconds']:.1f} s",
            flush=True,
        )

    def spread(key: str) -> dict[str, float]:
        values = [r[key] for r in runs]
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    summary = {
        "leads": args.leads,
        "rate_limit_requests_per_s": args.rate,
        "limit_records_per_s": limit,
        "in_flight": args.in_flight,
        "fault_rate": args.fault_rate,
        "records_per_s": spread("records_per_s"),
        "ratio": spread("ratio"),
        "crm_records_per_s": spread("crm_records_per_s"),
        "crm_ratio": spread("crm_ratio"),
        "http_429": spread("http_429"),
        "duplicates": sum(r["duplicates"] for r in runs),
        "runs": runs,
    }
    rps, ratio = summary["records_per_s"], summary["ratio"]
    crm, crm_ratio = summary["crm_records_per_s"], summary["crm_ratio"]
    print(
        f"records/s min/median/max: {rps['min']:,.1f} / {rps['median']:,.1f} / {rps['max']:,.1f} "
        f"against a limit of {limit:,.0f} records/s; ratio {ratio['min']:.1%} / {ratio['median']:.1%} / "
        f"{ratio['max']:.1%}\n"
        f"at the CRM (first upsert to last batch) min/median/max: {crm['min']:,.1f} / {crm['median']:,.1f} / "
        f"{crm['max']:,.1f} records/s; ratio {crm_ratio['min']:.1%} / {crm_ratio['median']:.1%} / "
        f"{crm_ratio['max']:.1%}\n"
        f"429s {summary['http_429']['median']:g} (median); duplicates in the CRM: {summary['duplicates']}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")
    ok = summary["duplicates"] == 0 and all(r["missing"] == 0 for r in runs if not r["failed"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
