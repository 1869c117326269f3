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

from leadlake.sandbox.world import World  # noqa: E402
from leadlake.stages.silver.resolve import ResolveSettings, evaluate_links, resolve  # noqa: E402


def _normalizers() -> dict[str, Callable[[Any], Any]] | None:
    """The provider adapters' pure normalize(), or None while they are not written yet."""
    try:
        from leadlake.connectors.sources.google_places import GooglePlacesAdapter
        from leadlake.connectors.sources.yelp import YelpAdapter
    except ImportError:
        return None
    return {"google_places": GooglePlacesAdapter.normalize, "yelp": YelpAdapter.normalize}


def _fallback_record(provider: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A minimal stand-in for the adapters (same normalize helpers), used only until they exist."""
    from leadlake.core.normalize import is_toll_free, normalize_name, normalize_phone, registered_domain

    if provider == "google_places":
        comps = {t: c["shortText"] for c in raw.get("addressComponents", []) for t in c["types"]}
        line = raw["formattedAddress"].split(",")[0]
        name, phone, web = (
            raw["displayName"]["text"],
            raw.get("internationalPhoneNumber"),
            raw.get("websiteUri"),
        )
        loc, rating, count, cats = (
            raw["location"],
            raw.get("rating"),
            raw.get("userRatingCount"),
            raw["types"],
        )
        city, region, postal = (
            comps.get("locality"),
            comps.get("administrative_area_level_1"),
            comps.get("postal_code"),
        )
        lat, lon = loc["latitude"], loc["longitude"]
    else:
        loc = raw["location"]
        line, name, phone, web = loc["address1"], raw["name"], raw.get("phone") or None, None
        rating, count, cats = (
            float(raw["rating"]),
            int(raw["review_count"]),
            [c["alias"] for c in raw["categories"]],
        )
        city, region, postal = loc["city"], loc["state"], loc["zip_code"]
        lat, lon = raw["coordinates"]["latitude"], raw["coordinates"]["longitude"]
    e164 = normalize_phone(phone)
    return {
        "record_id": f"{provider}:{raw['id']}", "provider": provider, "provider_key": raw["id"],
        "name": name, "name_norm": normalize_name(name), "phone_e164": e164,
        "phone_is_toll_free": is_toll_free(e164), "website": web, "domain": registered_domain(web),
        "address_line1": line, "city": city, "region": region, "postal": postal, "country": "US",
        "lat": float(lat), "lon": float(lon), "rating": float(rating) if rating is not None else None,
        "review_count": count, "categories": list(cats),
    }  # fmt: skip


def world_records(world: World) -> tuple[pd.DataFrame, dict[str, str], str]:
    """Normalised records of both providers, truth by record_id, and which normaliser made them."""
    normalizers = _normalizers()
    rows: list[dict[str, Any]] = []
    for provider, raws in (("google_places", world.google_places), ("yelp", world.yelp_businesses)):
        for raw in raws:
            try:
                if normalizers is None:
                    rows.append(_fallback_record(provider, raw))
                else:
                    rec = normalizers[provider](raw)
                    rows.append(rec.asdict() if hasattr(rec, "asdict") else dict(rec))
            except Exception:  # noqa: BLE001 - malformed records are skipped, as the silver job does
                continue
    records = pd.DataFrame(rows)
    truth = {f"{prov}:{key}": biz for (prov, key), biz in world.truth.items() if key is not None}
    return records, truth, "adapters" if normalizers else "fallback"


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
        records, truth, source = world_records(World.generate(seed=args.seed, businesses=n))
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
                row = {"businesses": n, "records": len(records), "backend": backend, "source": source}
                print(
                    json.dumps({**row, "seconds": times, "training": result.training, **scores}), flush=True
                )
    if spark is not None:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
