"""`leadlake train` and `leadlake score`: the lead scorer's learning loop from the command line.

train: fit on labelled leads (gold.scored_leads joined to silver.lead_outcomes, or a CSV of past leads with
an `outcome` column), log the run to MLflow, register the version and promote it to champion if it wins.
score: re-score gold.scored_leads with the champion (or the rules baseline when there is none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leadlake.cli.common import console, errors, fail, first_line, quiet_logs, settings

if TYPE_CHECKING:
    import pandas as pd

    from leadlake.lakehouse import Lakehouse

OUTCOME = "outcome"
POSITIVE = {"1", "1.0", "won", "win", "true", "yes", "y", "t", "positive"}
NEGATIVE = {"0", "0.0", "lost", "loss", "false", "no", "n", "f", "negative"}
LIST_COLUMNS = ("categories", "tech_signals", "campaign_ids", "providers")
# The gold columns the rules baseline writes; re-scoring recomputes them from the lead columns.
RULES_OUTPUT = ("vertical", "scored_campaign_id", "lead_score", "priority_tier", "score_reasons")


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


# ---- training data -------------------------------------------------------------------------------------


def _outcome(values: pd.Series, path: Path) -> pd.Series:
    """1/0 from 1/0, won/lost, true/false (any case); an unknown or missing value is a one-line error."""
    text = values.map(lambda v: "" if v is None or v != v else str(v).strip().lower())
    bad = sorted(set(text) - POSITIVE - NEGATIVE)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:3]) + (", ..." if len(bad) > 3 else "")
        fail(f"{path}: `{OUTCOME}` must be 1/0, won/lost or true/false; found {shown}")
    return text.isin(POSITIVE).astype("int64")


def _as_list(value: Any) -> Any:
    """A list column read from CSV: a JSON list, or items separated by ';' or '|'."""
    if not isinstance(value, str):
        return value if isinstance(value, list) else []
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(x) for x in parsed]
    for sep in (";", "|"):
        if sep in text:
            return [p.strip() for p in text.split(sep) if p.strip()]
    return [text] if text else []


def csv_rows(path: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Leads, labels and as_of times from a CSV of past leads (canonical lead columns + `outcome`).

    The time split uses `as_of` or `delivered_at` when the file has one, else the row order (oldest first).
    """
    import pandas as pd

    if not path.is_file():
        fail(f"--labels {path}: no such file")
    try:
        df = pd.read_csv(path, dtype={"lead_id": str})
    except Exception as exc:  # noqa: BLE001 - an unreadable CSV is the user's to fix: one line
        fail(f"--labels {path}: cannot read it as CSV: {first_line(exc)}")
    if OUTCOME not in df.columns:
        cols = ", ".join(df.columns[:8]) + (", ..." if len(df.columns) > 8 else "")
        fail(f"--labels {path}: no `{OUTCOME}` column (1/0, won/lost, true/false); columns: {cols or 'none'}")
    labels = _outcome(df.pop(OUTCOME), path)
    if "lead_id" not in df.columns:
        df.insert(0, "lead_id", [f"row{i}" for i in range(len(df))])
    df["lead_id"] = df["lead_id"].astype(str)
    for col in LIST_COLUMNS:
        if col in df.columns:
            df[col] = df[col].map(_as_list)
    time_col = next((c for c in ("as_of", "delivered_at") if c in df.columns), None)
    if time_col is not None:
        as_of = pd.to_datetime(df[time_col], utc=True, errors="coerce")
    else:  # row order: one second apart, so the newest rows are the last ones
        as_of = pd.Series(pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(range(len(df)), unit="s"))
    return df.reset_index(drop=True), labels.reset_index(drop=True), as_of.reset_index(drop=True)


def lake_rows(lake: Lakehouse, label: str) -> tuple[pd.DataFrame, pd.Series, pd.Series, dict[str, int]]:
    """Delivered leads of gold.scored_leads with a known `label` from silver.lead_outcomes, oldest first."""
    import pandas as pd

    from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, SILVER_LEAD_OUTCOMES
    from leadlake.ml.spec import LABEL_RULES, labelled_rows
    from leadlake.stages.silver.outcomes import BASE_SCHEMA

    for table, how in (
        (GOLD_SCORED_LEADS, "run the pipeline first (leadlake run), or train from --labels FILE.csv"),
        (
            SILVER_LEAD_OUTCOMES,
            "pull CRM outcomes first (leadlake feedback pull), or train from --labels FILE.csv",
        ),
    ):
        if not lake.exists(table):
            fail(f"{table} does not exist yet: {how}")
    versions = {t: int(lake.version(t)) for t in (GOLD_SCORED_LEADS, SILVER_LEAD_OUTCOMES)}
    leads = lake.read(GOLD_SCORED_LEADS).to_pandas()
    outcomes = lake.read(SILVER_LEAD_OUTCOMES).to_pandas()
    if label in outcomes.columns:
        known = outcomes.dropna(subset=["lead_id", label])
        per_lead = known.groupby("lead_id").agg(y=(label, "max"), as_of=("delivered_at", "min"))
        rows = leads[leads["lead_id"].isin(per_lead.index)].copy()
        rows["__as_of"] = pd.to_datetime(rows["lead_id"].map(per_lead["as_of"]), utc=True)
        rows = rows.sort_values(["__as_of", "lead_id"], kind="stable").reset_index(drop=True)
        as_of = rows.pop("__as_of").rename("as_of")
        y = rows["lead_id"].map(per_lead["y"]).astype(bool).astype("int64").rename(label)
        return rows, y, as_of, versions
    if {"stage", "stage_at", "delivered_at"} <= set(outcomes.columns) and label in LABEL_RULES:
        rows, y, as_of = labelled_rows(leads, outcomes, LABEL_RULES[label])
        return rows, y, as_of, versions
    known_labels = [c for c in outcomes.columns if c not in BASE_SCHEMA.names]  # one per label rule
    fail(
        f"{SILVER_LEAD_OUTCOMES} has no label column {label!r}"
        + (f" (label columns: {', '.join(known_labels)})" if known_labels else "")
    )


# ---- output --------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.4f}"


def _decision(result: Any, margin: float) -> str:
    """Whether the new version became champion, and why, in one sentence."""
    auc = _fmt(result.metrics.get("auc", float("nan")))
    prev = result.previous_champion
    champ_auc = _fmt((result.champion_metrics or {}).get("auc", float("nan")))
    if result.decision == "first_champion":
        return f"promoted to champion: v{result.version} is the first champion (there was none)"
    if result.decision == "promoted":
        return (
            f"promoted to champion: auc {auc} vs champion v{prev}'s {champ_auc} on the same held-out rows "
            f"(margin {margin})"
        )
    if result.decision == "replaced_unloadable_champion":
        return f"promoted to champion: champion v{prev} no longer loads"
    return (
        f"not promoted: auc {auc} does not beat champion v{prev}'s {champ_auc} by the margin {margin} "
        f"on the same held-out rows; v{result.champion_version} stays champion"
    )


# ---- commands ------------------------------------------------------------------------------------------


def train(
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="A CSV of past leads: canonical lead columns and an `outcome` column (1/0, won/lost, "
            "true/false) [default: gold.scored_leads joined to silver.lead_outcomes]",
        ),
    ] = None,
    label: Annotated[
        str, typer.Option("--label", help="The label rule (a boolean column of silver.lead_outcomes)")
    ] = "qualified_or_won_90d",
    margin: Annotated[
        float, typer.Option("--margin", help="AUC the new model must gain over the champion to replace it")
    ] = 0.005,
) -> None:
    """Train the lead scorer, log it to MLflow, register it, and promote it if it beats the champion.

    Prints the held-out metrics, the registered version and whether it became champion and why; exits 2
    with one line when the data cannot train a model.
    """
    quiet_logs()
    with errors():
        from leadlake.ml.train import TOP_N, TrainingRefused
        from leadlake.ml.train import train as fit
        from leadlake.runtime.resources import lakehouse

        s = settings()
        if labels is not None:
            rows, y, as_of = csv_rows(labels)
            versions: dict[str, int] = {}
            source = f"csv:{labels.name}"
        else:
            lake = lakehouse(s)
            lake.check_reachable()
            rows, y, as_of, versions = lake_rows(lake, label)
            source = "lakehouse"
        try:
            result = fit(
                rows,
                y,
                as_of=as_of,
                tracking_uri=s.tracking_uri,
                data_versions=versions,
                top_n=TOP_N,
                promote_margin=margin,
                tags={"label": label if labels is None else OUTCOME, "source": source},
            )
        except TrainingRefused as exc:
            fail(f"cannot train: {exc}")
        m = result.metrics
        _say(
            f"trained {result.scorer.model_version if result.scorer else 'v' + result.version} on "
            f"{result.n_train} leads, held out the newest {result.n_holdout} ({int(y.sum())} positives)"
        )
        _say(
            f"metrics (held-out): auc {_fmt(m['auc'])}, pr_auc {_fmt(m['pr_auc'])}, "
            f"precision_at_top_n {_fmt(m['precision_at_top_n'])} (top {TOP_N}), brier {_fmt(m['brier'])}"
        )
        _say(f"version: {result.version} (run {result.run_id})")
        _say(_decision(result, margin))


def _load_campaigns(lake: Lakehouse) -> dict[str, Any]:
    from leadlake.core.campaign import CampaignSpec
    from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS

    if not lake.exists(BRONZE_CAMPAIGNS):
        return {}
    rows = lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist()
    return {r["campaign_id"]: CampaignSpec.model_validate_json(r["spec"]) for r in rows}


def score() -> None:
    """Re-score gold.scored_leads with the champion model (the rules baseline when there is none).

    Prints how many leads were scored, by which model version, and the features whose PSI against the
    champion's training data is flagged.
    """
    quiet_logs()
    with errors():
        import pandas as pd
        import pyarrow as pa

        from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS
        from leadlake.ml.drift import PSI_THRESHOLD
        from leadlake.quality.gates import enforce
        from leadlake.runtime.resources import lakehouse
        from leadlake.stages.gold.build import GOLD_COLUMNS
        from leadlake.stages.gold.build import score_frame as rules_frame
        from leadlake.stages.gold.model import apply_champion

        s = settings()
        lake = lakehouse(s)
        lake.check_reachable()
        if not lake.exists(GOLD_SCORED_LEADS):
            fail(f"{GOLD_SCORED_LEADS} does not exist yet: run the pipeline first (leadlake run)")
        table = lake.read(GOLD_SCORED_LEADS)
        gold = table.to_pandas()
        missing = [c for c in GOLD_COLUMNS if c not in gold.columns]
        if missing:
            fail(f"{GOLD_SCORED_LEADS} lacks the columns {', '.join(missing)}: rebuild it (leadlake run)")
        leads = gold.drop(columns=[*RULES_OUTPUT, "model_version", "scored_at"])
        rescored = rules_frame(leads, _load_campaigns(lake))  # same rows, same order
        extra = [c for c in gold.columns if c not in rescored.columns]  # columns newer code added
        if extra:
            rescored = pd.concat([rescored, gold[extra].reset_index(drop=True)], axis=1)
        if "rules_score" in rescored:
            rescored["rules_score"] = rescored["lead_score"]
        result = apply_champion(rescored, s.tracking_uri)
        scored = result.frame[list(table.schema.names)]
        enforce(GOLD_SCORED_LEADS, scored)
        arrow = pa.Table.from_pandas(scored, schema=table.schema, preserve_index=False)
        lake.merge(GOLD_SCORED_LEADS, arrow, ["lead_id"], delete_missing=True)
        version = result.model_version or str(scored["model_version"].iloc[0] if len(scored) else "rules")
        by = f"champion v{result.champion} ({version})" if result.champion else f"the rules ({version})"
        _say(f"scored {len(scored)} leads in {GOLD_SCORED_LEADS} with {by}")
        if result.champion is None:
            _say(f"no champion model: {result.fallback}")
        elif result.flagged:
            shown = ", ".join(f"{r.feature} {r.psi:.3f}" for r in result.psi.itertuples() if bool(r.flagged))
            _say(f"drift (PSI > {PSI_THRESHOLD} against the champion's training data): {shown}")
        else:
            _say("drift: no feature's PSI is flagged")
