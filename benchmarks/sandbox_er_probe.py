"""Entity-resolution accuracy on the sandbox world with realistic provider overlap, broken down by phenomenon.

Builds a world with a NoiseProfile (realistic by default), normalises both providers' records through the
real adapters, runs `resolve()` with default settings and prints pairwise precision/recall/F1 overall and per
phenomenon: recall over the true pairs that involve a record or business with the tag, precision over the
predicted pairs that do.

Usage: python benchmarks/sandbox_er_probe.py [--businesses 5000] [--seed 7] [--scale 1.0] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_resolve import world_records  # noqa: E402
from leadlake.sandbox.world import NoiseProfile, World  # noqa: E402
from leadlake.stages.silver.resolve import evaluate_links, resolve  # noqa: E402
from leadlake.stages.silver.resolve.evaluate import within_pairs  # noqa: E402


def record_tags(world: World) -> dict[str, frozenset[str]]:
    """record_id -> the phenomena touching it: its own (record_noise) and its business's (business_noise)."""
    out: dict[str, frozenset[str]] = {}
    for (provider, key), business_id in world.truth.items():
        if key is None:
            continue
        own = world.record_noise.get((provider, key), frozenset())
        out[f"{provider}:{key}"] = own | world.business_noise.get(business_id, frozenset())
    return out


def breakdown(
    links: object, truth: dict[str, str], tags: dict[str, frozenset[str]]
) -> dict[str, dict[str, float]]:
    """Per tag: true pairs / recall over them, predicted pairs / precision over them."""
    known = links[links["record_id"].isin(truth.keys())]  # type: ignore[index]
    groups_got: dict[str, list[str]] = defaultdict(list)
    groups_want: dict[str, list[str]] = defaultdict(list)
    for rid, lead in zip(known["record_id"], known["lead_id"], strict=True):
        groups_got[lead].append(rid)
        groups_want[truth[rid]].append(rid)
    got, want = within_pairs(groups_got), within_pairs(groups_want)
    by_tag: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pair in want:
        for tag in tags.get(pair[0], frozenset()) | tags.get(pair[1], frozenset()) | {"(any)"}:
            by_tag[tag]["true"] += 1
            by_tag[tag]["found"] += pair in got
    for pair in got:
        for tag in tags.get(pair[0], frozenset()) | tags.get(pair[1], frozenset()) | {"(any)"}:
            by_tag[tag]["predicted"] += 1
            by_tag[tag]["correct"] += pair in want
    out = {}
    for tag, c in sorted(by_tag.items()):
        out[tag] = {
            "true_pairs": c["true"],
            "recall": c["found"] / c["true"] if c["true"] else float("nan"),
            "predicted_pairs": c["predicted"],
            "precision": c["correct"] / c["predicted"] if c["predicted"] else float("nan"),
            "false_merges": c["predicted"] - c["correct"],
            "missed": c["true"] - c["found"],
        }
    return out


def probe(n: int, seed: int, profile: NoiseProfile, label: str) -> dict:
    """Build, normalise, resolve and score one world; print the table; the numbers as a dict."""
    started = time.perf_counter()
    world = World.generate(seed=seed, businesses=n, noise=profile)
    records, truth, refused = world_records(world)
    res = resolve(records)
    seconds = time.perf_counter() - started
    scores = evaluate_links(res.links, truth)
    rows = breakdown(res.links, truth, record_tags(world))
    print(
        f"\n== {label}: {n} businesses, seed {seed}, {len(records)} records ({refused} drifted refused), "
        f"training={res.training}, {seconds:.1f} s"
    )
    print(
        f"overall precision {scores['precision']:.4f} recall {scores['recall']:.4f} f1 {scores['f1']:.4f} "
        f"(true pairs {scores['true_pairs']:.0f}, predicted {scores['predicted_pairs']:.0f})"
    )
    print(
        f"{'phenomenon':<21} {'true':>6} {'recall':>7} {'missed':>6} "
        f"{'pred':>6} {'precision':>9} {'false':>6}"
    )
    for tag, r in rows.items():
        print(
            f"{tag:<21} {r['true_pairs']:>6} {r['recall']:>7.3f} {r['missed']:>6} "
            f"{r['predicted_pairs']:>6} {r['precision']:>9.3f} {r['false_merges']:>6}"
        )
    return {"label": label, "businesses": n, "seed": seed, "records": len(records), **scores, "by_tag": rows}


def main(argv: list[str] | None = None) -> int:
    """Probe the realistic world (and, with --baseline, the world without a noise profile)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--businesses", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every NoiseProfile rate")
    parser.add_argument("--baseline", action="store_true", help="also probe NoiseProfile.off()")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs = [(NoiseProfile().scaled(args.scale), f"NoiseProfile() x{args.scale:g}")]
    if args.baseline:
        runs.insert(0, (NoiseProfile.off(), "NoiseProfile.off() (baseline)"))
    for profile, label in runs:
        result = probe(args.businesses, args.seed, profile, label)
        if args.json:
            print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
