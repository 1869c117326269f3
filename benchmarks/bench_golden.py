"""Benchmark silver's golden rows (`build_leads`) on synthetic records shaped like silver's own.

Records come as silver reads them from bronze (str text with some blanks and None, float64 geo and
rating, int64 review counts, bool toll-free flags, categories as object arrays), four providers, about
1.6 records per lead (300k records: ~190k leads) and a few chain-sized leads. `--reference` also times
the per-lead implementation build_leads replaced (kept in its unit test) and checks both frames equal.

Usage: python benchmarks/bench_golden.py [--records 300000 30000] [--repeats 3] [--reference]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadlake.stages.silver.resolve.golden import build_leads  # noqa: E402

REFERENCE_TEST = ROOT / "tests/unit/stages/silver/resolve/test_resolve_golden.py"
PROVIDERS = np.array(["google_places", "yelp", "hunter", "pdl"], dtype=object)
CATEGORIES = np.array(["plumber", "bakery", "dentist", "cafe", "roofing", "lawyer", "florist"], dtype=object)


def _text(rng: np.random.Generator, n: int, pool: list[str], missing: float) -> np.ndarray:
    """n strings drawn from pool, with `missing` of them None or blank."""
    out = np.array(pool, dtype=object)[rng.integers(len(pool), size=n)]
    roll = rng.random(n)
    out[roll < missing] = None
    out[(roll >= missing) & (roll < missing * 1.1)] = " "
    return out


def synthetic(records: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, links): ~1.6 records per lead, a few leads of 20-60 records (chains)."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 1, 2, 2, 3], size=records)
    sizes[rng.random(records) < 0.0005] = rng.integers(20, 61)
    lead_of = np.repeat(np.arange(len(sizes)), sizes)[:records]
    provider = PROVIDERS[rng.integers(len(PROVIDERS), size=records)]
    record_id = np.array([f"{p}:{i:09d}" for p, i in zip(provider, rng.permutation(records), strict=True)])
    names = [f"Business {i}" for i in range(5000)]
    frame = pd.DataFrame(
        {
            "record_id": record_id,
            "provider": provider,
            "name": _text(rng, records, names, 0.01),
            "name_norm": _text(rng, records, [n.lower() for n in names], 0.01),
            "website": _text(rng, records, [f"https://b{i}.example" for i in range(3000)], 0.4),
            "domain": _text(rng, records, [f"b{i}.example" for i in range(3000)], 0.4),
            "phone_e164": _text(rng, records, [f"+1303555{i:04d}" for i in range(9000)], 0.2),
            "phone_is_toll_free": rng.random(records) < 0.05,
            "address_line1": _text(rng, records, [f"{i} Main St" for i in range(4000)], 0.1),
            "city": _text(rng, records, ["Denver", "Austin", "Philadelphia"], 0.05),
            "region": _text(rng, records, ["CO", "TX", "PA"], 0.05),
            "postal": _text(rng, records, [f"{80200 + i}" for i in range(50)], 0.1),
            "country": _text(rng, records, ["US"], 0.02),
            "lat": np.where(rng.random(records) < 0.05, np.nan, rng.uniform(25, 48, records)),
            "lon": np.where(rng.random(records) < 0.05, np.nan, rng.uniform(-120, -70, records)),
            "rating": np.where(rng.random(records) < 0.2, np.nan, np.round(rng.uniform(1, 5, records), 1)),
            "review_count": rng.integers(0, 2000, records),
            "categories": [
                CATEGORIES[rng.integers(len(CATEGORIES), size=k)] for k in rng.integers(0, 4, records)
            ],
            "campaign_ids": [np.array(["bench"], dtype=object)] * records,
        }
    )
    links = pd.DataFrame({"record_id": record_id, "lead_id": [f"lead-{i:09d}" for i in lead_of]})
    order = rng.permutation(records)
    return frame.iloc[order].reset_index(drop=True), links


def _reference() -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """The per-lead build_leads that the vectorised one replaced, from its unit test."""
    spec = importlib.util.spec_from_file_location("golden_reference", REFERENCE_TEST)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._reference_build_leads


def _timed(fn: Callable[[], pd.DataFrame], repeats: int) -> tuple[list[float], list[float], pd.DataFrame]:
    """(wall seconds, process CPU seconds, the last result) of `repeats` runs."""
    wall, cpu, out = [], [], pd.DataFrame()
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu, out


def _summary(wall: list[float], cpu: list[float]) -> str:
    # CPU seconds as well: on a shared machine the wall clock mostly measures the other processes.
    return " | ".join(
        f"{name} min {min(t):.3f}s median {statistics.median(t):.3f}s max {max(t):.3f}s"
        for name, t in (("wall", wall), ("cpu", cpu))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[300_000, 30_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference", action="store_true", help="also time the per-lead implementation")
    parser.add_argument(
        "--reference-repeats", type=int, help="repeats of the per-lead one (default --repeats)"
    )
    args = parser.parse_args(argv)
    reference = _reference() if args.reference else None
    for n in args.records:
        records, links = synthetic(n, args.seed)
        wall, cpu, new = _timed(lambda r=records, k=links: build_leads(r, k), args.repeats)
        print(f"records={n} leads={len(new)} build_leads: {_summary(wall, cpu)}", flush=True)
        if reference is not None:
            repeats = args.reference_repeats or args.repeats
            ref_wall, ref_cpu, old = _timed(lambda r=records, k=links: reference(r, k), repeats)
            pd.testing.assert_frame_equal(new, old, check_exact=True)
            assert new["provenance"].tolist() == old["provenance"].tolist()
            speedup = statistics.median(ref_cpu) / statistics.median(cpu)
            print(
                f"records={n} per-lead: {_summary(ref_wall, ref_cpu)} identical: yes, cpu x{speedup:.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
