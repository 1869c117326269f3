"""Benchmark the lead score against CRM outcomes: the rules baseline, the trained champion and the ceiling.

A seeded sandbox world (realistic provider noise) becomes gold's rows through the pipeline's own code:
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
import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadlake.connectors.sources import ADAPTERS, ENRICHMENT_ADAPTERS  # noqa: E402
from leadlake.core.campaign import Area, CampaignSpec  # noqa: E402
from leadlake.lakehouse import Lakehouse  # noqa: E402
from leadlake.ml.evaluate import METRICS, metrics  # noqa: E402
from leadlake.ml.spec import DEFAULT_FEATURE_SET, FeatureSet  # noqa: E402
from leadlake.ml.train import TOP_N, time_split, train  # noqa: E402
from leadlake.sandbox.enrichment import EnrichmentData  # noqa: E402
from leadlake.sandbox.outcomes import OutcomeSimulator, Traits  # noqa: E402
from leadlake.sandbox.world import CITIES, PROVIDERS, NoiseProfile, World  # noqa: E402
from leadlake.stages.gold.build import context_rows, score_frame  # noqa: E402
from leadlake.stages.gold.features import enrichment_features  # noqa: E402
from leadlake.stages.gold.lead_features import lead_features  # noqa: E402
from leadlake.stages.silver.outcomes import STAGE_COLUMNS, parse_label_rules  # noqa: E402
from leadlake.stages.silver.resolve.golden import build_leads  # noqa: E402

HOLDOUT_FRACTION = 0.2
LABEL = "qualified_or_won_90d"
CAMPAIGN_ID = "bench_local_services"
START = datetime(2026, 1, 5, tzinfo=UTC)
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


def campaign() -> CampaignSpec:
    """One local-services campaign over every world city, 25 km around each centre."""
    return CampaignSpec(
        campaign_id=CAMPAIGN_ID,
        name="Local services, every metro",
        vertical="local_services",
        areas=[Area(city=c.name, region=c.state, lat=c.lat, lon=c.lon, radius_km=25) for c in CITIES],
        keywords=["local services"],
        sources=list(PROVIDERS),
        enrichment=["pdl", "hunter"],
    )


def silver_leads(world: World) -> pd.DataFrame:
    """Golden leads from every provider record an adapter can normalise (the rest silver quarantines)."""
    rows, links = [], []
    for provider in PROVIDERS:
        normalize = ADAPTERS[provider].normalize
        for rec in world.records(provider):
            try:
                r = normalize(rec)
            except Exception:  # noqa: BLE001 - a drifted payload silver would quarantine
                continue
            row = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r)
            rows.append(row)
            links.append({"record_id": row["record_id"], "lead_id": world.truth[(provider, rec["id"])]})
    leads = build_leads(pd.DataFrame(rows), pd.DataFrame(links))
    leads["campaign_ids"] = [[CAMPAIGN_ID] for _ in range(len(leads))]
    return leads


def _land(lake: Lakehouse, provider: str, payloads: dict[str, dict[str, Any]]) -> None:
    table = ENRICHMENT_ADAPTERS[provider].bronze_table
    now = datetime.now(UTC)
    rows = [
        {"provider_key": k, "run_id": "bench", "payload": json.dumps(p), "fetched_at": now}
        for k, p in sorted(payloads.items())
    ]
    schema = pa.schema(
        [
            ("provider_key", pa.string()),
            ("run_id", pa.string()),
            ("payload", pa.string()),
            ("fetched_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    lake.append(table, pa.Table.from_pylist(rows, schema=schema))


def gold_rows(world: World, leads: pd.DataFrame, lake_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold's rules-scored rows and its feature rows (gold.lead_features, the default feature set) of the
    leads, with the sandbox PDL's and Hunter's answers landed in bronze and joined the way gold joins them."""
    data = EnrichmentData.build(world)
    pdl, hunter = {}, {}
    for lead in leads.to_dict("records"):
        found = data.pdl_match(lead["website"], lead["name"], lead["city"], lead["region"])
        if found is not None:  # what GET /v5/company/enrich answers
            record = data.pdl_records[found[0]]
            pdl[record["id"]] = {**record, "likelihood": found[1]}
        if lead["domain"] and (h := data.hunter(lead["domain"])) is not None:  # GET /v2/domain-search
            hunter[lead["domain"]] = dict(h)
    lake = Lakehouse(str(lake_root))
    _land(lake, "pdl", pdl)
    _land(lake, "hunter", hunter)
    enriched = leads.merge(enrichment_features(lake, leads), on="lead_id", how="left")
    campaigns = {CAMPAIGN_ID: campaign()}
    scored = score_frame(enriched, campaigns)
    scored["rules_score"] = scored["lead_score"]  # as gold keeps it beside the champion's score
    features = lead_features(context_rows(enriched, scored), campaigns, [DEFAULT_FEATURE_SET], "bench")
    return scored, features


def truth_row(lead_id: str, t: Traits) -> dict[str, Any]:
    """A lead's true attributes as TRUTH's inputs."""
    return {
        "lead_id": lead_id,
        "rating": t.rating,
        "review_count": t.review_count,
        "has_website": float(t.has_website),
        "has_phone": float(t.has_phone),
        "chain": float(t.chain),
        "employee_count": t.employees,
        "distance_km": t.distance_km,
        "primary_category": t.category,
        "tech_signals": list(t.tech),
    }


def outcomes(world: World, gold: pd.DataFrame, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per lead: its delivery time (one of `days` days, seeded order), the propensity and the 0/1 label;
    and its business's true attributes (TRUTH's inputs)."""
    sim = OutcomeSimulator(world)
    businesses = {b.business_id: b for b in world.businesses}
    rules = {r.name: r for r in parse_label_rules()}
    rule = rules[LABEL]
    order = np.random.default_rng(seed).permutation(len(gold))
    as_of_all = START + timedelta(days=days + rule.within_days + 1)  # every window has closed
    rows, truth = [], []
    for rank, pos in enumerate(order):
        lead = gold.iloc[pos]
        props = {
            "name": lead["name"] or "",
            "city": lead["city"] or "",
            "phone": lead["phone_e164"] or "",
            "domain": lead["domain"] or "",
            "leadlake_id": lead["lead_id"],
        }
        # A lead's id is its business's (silver_leads clusters by the truth): its life is that business's.
        # The served CRM finds the business from the company's properties, and picks another for ~6% of
        # leads (a namesake in the same city, a stale phone): outcomes the lead's own features cannot explain.
        biz, key, traits = sim.company(props, lead["lead_id"], businesses.get(lead["lead_id"]))
        life = sim.life_of(biz, key, traits)
        truth.append(truth_row(lead["lead_id"], traits))
        delivered = START + timedelta(days=rank * days // len(gold), minutes=rank % 1440)
        record: dict[str, Any] = {"delivered_at": delivered}
        for stage, column in STAGE_COLUMNS.items():
            day = next((d for d, p in life.events if p.get("lifecyclestage") == stage), None)
            record[column] = None if day is None else delivered + timedelta(days=day)
        rows.append(
            {
                "lead_id": lead["lead_id"],
                "delivered_at": pd.Timestamp(delivered),
                "propensity": life.propensity,
                LABEL: int(bool(rule.label(record, as_of_all))),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(truth)


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
