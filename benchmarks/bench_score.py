"""Benchmark the lead score against CRM outcomes: the rules baseline, the trained champion and the ceiling.

A seeded sandbox world (realistic provider noise) becomes gold's rows through the pipeline's own code
(leadlake.runtime.sandbox_history, which also writes them as `leadlake sandbox history`'s CSV):
provider payloads -> each adapter's `normalize` -> golden leads (`build_leads`, clustered by the world's
truth: entity resolution has its own benchmark) -> the sandbox PDL's and Hunter's answers landed in bronze
and joined by gold's `enrichment_features` -> gold's rules score (`score_frame`) -> gold's feature rows
(`lead_features`: campaign context and the default feature set, as gold.lead_features holds them).
Each lead is delivered on one of `--days` simulated days; the sandbox CRM's `OutcomeSimulator` plays out
its life and silver's `qualified_or_won_90d` rule labels it. `leadlake.ml.train` trains on the oldest
deliveries (time-based split, MLflow in a temporary sqlite registry); on the newest, held out, the bench
prints AUC, PR-AUC, precision@top-N and Brier of the rules, the champion and the ceiling: the hidden
propensity, P(qualify | the business's true attributes), the best ranking any model could reach.

Between them, `informed`: the same training on the same leads, given each business's true attributes
instead of what the providers showed. Ceiling - informed is what the model loses to learning from this many
leads; informed - champion is what it loses to what the providers do not show (missing or noisy fields).

N is the campaign's N: the leads sales works first, leadlake.ml.train.TOP_N (50), the N at which
`leadlake train` logs precision_at_top_n.

Goals: champion AUC within 0.02 of the ceiling and >= 0.05 above the rules; champion precision@top-N >= 0.7.

Usage: python benchmarks/bench_score.py [--businesses 12000] [--seed 7] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadlake.ml.evaluate import METRICS, metrics  # noqa: E402
from leadlake.ml.spec import FeatureSet  # noqa: E402
from leadlake.ml.train import TOP_N, time_split, train  # noqa: E402
from leadlake.runtime.sandbox_history import LABEL, gold_rows, outcomes, silver_leads  # noqa: E402
from leadlake.sandbox.world import NoiseProfile, World  # noqa: E402

HOLDOUT_FRACTION = 0.2
GOALS = {
    "ceiling_gap": 0.02,  # ceiling AUC - champion AUC <= this
    "lift_over_rules": 0.05,  # champion AUC - rules AUC >= this
    "precision_at_top_n": 0.7,  # champion precision@top-N >= this
}
SCORES = ("rules", "champion", "informed", "ceiling")
# The true attributes a propensity is a function of (leadlake.sandbox.outcomes.Traits), as model inputs.
TRUTH = FeatureSet(
    version="truth",
    numeric=("rating", "review_count", "has_website", "has_phone", "chain", "employee_count", "distance_km"),
    categorical=("primary_category",),
    multi=("tech_signals",),
)
log = logging.getLogger("bench_score")


def one_run(seed: int, businesses: int, days: int, top_n: int, tmp: Path) -> dict[str, Any]:
    """Build the world, train through leadlake.ml.train, and measure the three scores on held-out rows."""
    t0 = time.perf_counter()
    world = World.generate(seed=seed, businesses=businesses, noise=NoiseProfile())
    gold, features = gold_rows(world, silver_leads(world), tmp / "lake")
    out, truth = outcomes(world, gold, days, seed)
    rows = features.merge(gold[["lead_id", "rules_score"]], on="lead_id", validate="one_to_one")
    rows = rows.merge(out, on="lead_id", how="inner", validate="one_to_one")
    rows = rows.sort_values(["delivered_at", "lead_id"], kind="stable").reset_index(drop=True)
    rules = rows.pop("rules_score")
    built = time.perf_counter() - t0
    y = rows.pop(LABEL)
    propensity = rows.pop("propensity")
    as_of = rows.pop("delivered_at")
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(
            rows,
            y,
            as_of=as_of,
            tracking_uri=f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
            data_versions={},
            top_n=top_n,
            holdout_fraction=HOLDOUT_FRACTION,
        )
        order = rows[["lead_id"]].merge(truth, on="lead_id", how="left", validate="one_to_one")
        informed = train(
            order,
            y,
            as_of=as_of,
            feature_set=TRUTH,
            tracking_uri=f"sqlite:///{tmp / 'mlflow-truth' / 'mlflow.db'}",
            data_versions={},
            top_n=top_n,
            holdout_fraction=HOLDOUT_FRACTION,
        )
    trained = time.perf_counter() - t1
    _, hold = time_split(as_of, HOLDOUT_FRACTION)
    y_hold = y.to_numpy()[hold]
    held = rows.iloc[hold]
    scores = {
        "rules": np.clip(rules.to_numpy(dtype="float64")[hold] / 100.0, 0.0, 1.0),
        "champion": result.scorer.predict_proba(held),
        "informed": informed.scorer.predict_proba(order.iloc[hold]),
        "ceiling": propensity.to_numpy()[hold],
    }
    figures = {name: metrics(y_hold, p, top_n) for name, p in scores.items()}
    if abs(figures["champion"]["auc"] - result.metrics["auc"]) > 1e-9:
        raise AssertionError("the champion's held-out AUC differs from the one train() logged")
    return {
        "seed": seed,
        "leads": len(rows),
        "positives": int(y.sum()),
        "base_rate": round(float(y.mean()), 4),
        "n_train": result.n_train,
        "n_holdout": result.n_holdout,
        "holdout_base_rate": round(float(y_hold.mean()), 4),
        "model_version": result.scorer.model_version,
        "full_auc_ceiling": metrics(y.to_numpy(), propensity.to_numpy(), top_n)["auc"],
        "figures": figures,
        "gap_parts": gap_parts(figures),
        "seconds_build": round(built, 1),
        "seconds_train": round(trained, 1),
    }


def gap_parts(figures: dict[str, dict[str, float]]) -> dict[str, float]:
    """The champion's AUC gap to the ceiling, split: what learning from this many leads costs (ceiling -
    informed) and what the providers' missing or noisy fields cost (informed - champion)."""
    auc = {name: figures[name]["auc"] for name in ("champion", "informed", "ceiling")}
    return {
        "gap": auc["ceiling"] - auc["champion"],
        "learning": auc["ceiling"] - auc["informed"],
        "observation": auc["informed"] - auc["champion"],
    }


def goals(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal: the measured value, its threshold and whether it passed."""
    f = run["figures"]
    gap = f["ceiling"]["auc"] - f["champion"]["auc"]
    lift = f["champion"]["auc"] - f["rules"]["auc"]
    prec = f["champion"]["precision_at_top_n"]
    return {
        "ceiling_gap": {
            "value": gap,
            "goal": f"<= {GOALS['ceiling_gap']}",
            "ok": gap <= GOALS["ceiling_gap"],
        },
        "lift_over_rules": {
            "value": lift,
            "goal": f">= {GOALS['lift_over_rules']}",
            "ok": lift >= GOALS["lift_over_rules"],
        },
        "precision_at_top_n": {
            "value": prec,
            "goal": f">= {GOALS['precision_at_top_n']}",
            "ok": prec >= GOALS["precision_at_top_n"],
        },
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _table(run: dict[str, Any], top_n: int) -> str:
    head = f"    {'score':<10}{'AUC':>8}{'PR-AUC':>9}{f'P@{top_n}':>8}{'Brier':>8}"
    lines = [head]
    for name in SCORES:
        m = run["figures"][name]
        p_at_n = m["precision_at_top_n"]
        lines.append(f"    {name:<10}{m['auc']:>8.4f}{m['pr_auc']:>9.4f}{p_at_n:>8.3f}{m['brier']:>8.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--businesses", type=int, default=12_000, help="businesses in the sandbox world")
    ap.add_argument("--days", type=int, default=120, help="simulated days over which leads are delivered")
    ap.add_argument("--seed", type=int, default=7, help="the first world's seed (repeat i uses seed + i)")
    ap.add_argument("--repeats", type=int, default=1, help="worlds to run: min/median/max over their seeds")
    ap.add_argument("--top-n", type=int, default=TOP_N, help="N of precision@top-N (the campaign's N)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # noqa: F401 - it configures its loggers on import: quieten them after that

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic", "leadlake.ml.train"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    print(
        f"lead score vs CRM outcomes: {args.businesses:,} businesses per world, delivered over {args.days} "
        f"days, label {LABEL}, newest {HOLDOUT_FRACTION:.0%} held out, N = {args.top_n}, "
        f"{args.repeats} world(s)",
        flush=True,
    )
    runs = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
            run = one_run(args.seed + i, args.businesses, args.days, args.top_n, Path(tmp))
        run["goals"] = goals(run)
        runs.append(run)
        print(
            f"  seed {run['seed']}: {run['leads']:,} delivered leads, base rate {run['base_rate']:.1%}, "
            f"train {run['n_train']:,} / held out {run['n_holdout']:,} "
            f"(held-out base rate {run['holdout_base_rate']:.1%}); ceiling AUC on all leads "
            f"{run['full_auc_ceiling']:.4f}; build {run['seconds_build']} s, train {run['seconds_train']} s\n"
            + _table(run, args.top_n)
            + "\n    AUC gap to the ceiling {gap:.4f} = learning {learning:.4f} + what providers do not show "
            "{observation:.4f}".format(**run["gap_parts"]),
            flush=True,
        )

    summary: dict[str, Any] = {
        "businesses": args.businesses,
        "days": args.days,
        "top_n": args.top_n,
        "label": LABEL,
        "holdout_fraction": HOLDOUT_FRACTION,
        "seeds": [r["seed"] for r in runs],
        "figures": {
            name: {m: spread([r["figures"][name][m] for r in runs]) for m in METRICS} for name in SCORES
        },
        "full_auc_ceiling": spread([r["full_auc_ceiling"] for r in runs]),
        "gap_parts": {
            k: spread([r["gap_parts"][k] for r in runs]) for k in ("gap", "learning", "observation")
        },
        "goals": {},
        "runs": runs,
    }
    print(f"\nmin / median / max over {len(runs)} world(s), held-out rows:")
    for name in SCORES:
        cells = []
        for m in METRICS:
            s = summary["figures"][name][m]
            cells.append(f"{m} {s['min']:.4f} / {s['median']:.4f} / {s['max']:.4f}")
        print(f"  {name:<9} " + "; ".join(cells))
    parts = summary["gap_parts"]
    print(
        "  AUC gap to the ceiling "
        + "; ".join(f"{k} {v['min']:.4f} / {v['median']:.4f} / {v['max']:.4f}" for k, v in parts.items())
        + " (learning: ceiling - informed; observation: informed - champion)"
    )
    ok = True
    for goal in GOALS:
        s = spread([r["goals"][goal]["value"] for r in runs])
        passed = all(r["goals"][goal]["ok"] for r in runs)
        ok &= passed
        summary["goals"][goal] = s | {"goal": runs[0]["goals"][goal]["goal"], "ok": passed}
        print(
            f"  {'PASS' if passed else 'FAIL'} {goal} {runs[0]['goals'][goal]['goal']}: "
            f"{s['min']:.4f} / {s['median']:.4f} / {s['max']:.4f}"
        )
    summary["ok"] = ok
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
