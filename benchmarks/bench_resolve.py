"""Benchmark entity resolution on the sandbox world: seconds, records/s, pairwise precision/recall.

Usage: python benchmarks/bench_resolve.py --businesses 2000 5000 --backends duckdb spark
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadlake.connectors.sources.google_places import GooglePlacesAdapter  # noqa: E402
from leadlake.connectors.sources.yelp import YelpAdapter  # noqa: E402
from leadlake.sandbox.world import World  # noqa: E402
from leadlake.stages.silver.resolve import ResolveSettings, evaluate_links, resolve  # noqa: E402

NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "google_places": GooglePlacesAdapter.normalize,
    "yelp": YelpAdapter.normalize,
}


def world_records(world: World) -> tuple[pd.DataFrame, dict[str, str], int]:
    """Both providers' records through the real adapters, truth by record_id, and how many they refused.

    Only an adapter's documented refusal (ValueError, as on a drifted payload) is counted; anything else
    stops the benchmark."""
    rows: list[dict[str, Any]] = []
    refused = 0
    for provider, raws in (("google_places", world.google_places), ("yelp", world.yelp_businesses)):
        for raw in raws:
            try:
                rows.append(NORMALIZERS[provider](raw).asdict())
            except ValueError:
                refused += 1
    truth = {f"{prov}:{key}": biz for (prov, key), biz in world.truth.items() if key is not None}
    return pd.DataFrame(rows), truth, refused


def spark_session() -> Any:
    """A local Spark session with Splink's similarity jar."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    return (
        SparkSession.builder.master("local[2]")
        .appName("bench_resolve")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )


def main(argv: list[str] | None = None) -> int:
    """Run each size through each backend; DuckDB three times (min/median/max)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--businesses", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--backends", nargs="+", default=["duckdb"], choices=["duckdb", "spark"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--training", default=ResolveSettings().training, choices=["em", "priors"])
    parser.add_argument("--json", action="store_true", help="also print one JSON line per result")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    spark = spark_session() if "spark" in args.backends else None
    print(f"{'businesses':>10} {'records':>8} {'backend':>7} {'train':>6} {'min s':>7} {'median s':>8} "
          f"{'max s':>7} {'rec/s':>8} {'precision':>9} {'recall':>7} {'f1':>6}")  # fmt: skip
    for n in args.businesses:
        world = World.generate(seed=args.seed, businesses=n)
        records, truth, refused = world_records(world)
        print(f"# {n} businesses: {refused} of {len(world.malformed)} drifted payloads refused", flush=True)
        for backend in args.backends:
            cfg = replace(ResolveSettings(), backend=backend, training=args.training)
            repeats = args.repeats if backend == "duckdb" else 1
            times, result = [], None
            for _ in range(repeats):
                started = time.perf_counter()
                result = resolve(records, cfg, spark=spark)
                times.append(time.perf_counter() - started)
            assert result is not None
            scores = evaluate_links(result.links, truth)
            median = statistics.median(times)
            line = (
                f"{n:>10} {len(records):>8} {backend:>7} {result.training:>6} {min(times):>7.2f} "
                f"{median:>8.2f} {max(times):>7.2f} {len(records) / median:>8.0f} "
                f"{scores['precision']:>9.4f} {scores['recall']:>7.4f} {scores['f1']:>6.4f}"
            )
            print(line, flush=True)
            if args.json:
                row = {"businesses": n, "records": len(records), "refused": refused, "backend": backend}
                print(
                    json.dumps({**row, "seconds": times, "training": result.training, **scores}), flush=True
                )
    if spark is not None:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
