"""`leadlake train` and `leadlake score`: the lead scorer's learning loop from the command line.

train: the registered `train` stage (leadlake.stages.gold.train): fit on labelled leads (gold.lead_features
joined to silver.lead_outcomes, or a CSV of past leads with an `outcome` column), log the run to MLflow,
register the version and promote it to champion if it wins.
score: re-score gold.scored_leads with the champion (or the rules baseline when there is none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from leadlake.cli.common import console, errors, fail, quiet_logs, settings


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


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
    from leadlake.ml.train import PROMOTE_CONFIDENCE

    stays = f"v{result.champion_version} stays champion"
    gain_low = getattr(result, "auc_gain_low", float("nan"))
    champ = (result.champion_metrics or {}).get("auc", float("nan"))
    if result.metrics.get("auc", float("nan")) >= champ + margin:
        return (
            f"not promoted: auc {auc} beats champion v{prev}'s {champ_auc} by the margin {margin}, but not "
            f"surely: on these {result.n_holdout} held-out rows the gain's {PROMOTE_CONFIDENCE:.0%} lower "
            f"bound is {_fmt(gain_low)}; {stays}"
        )
    return (
        f"not promoted: auc {auc} does not beat champion v{prev}'s {champ_auc} by the margin {margin} "
        f"on the same held-out rows; {stays}"
    )


# ---- commands ------------------------------------------------------------------------------------------


def train(
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="A CSV (or Excel workbook) of past leads: canonical lead columns (or a CRM export's names "
            "for them: Company name, Website URL, Number of Employees, ...) and an `outcome` column (1/0, "
            "won/lost, true/false; or a CRM stage column such as Lifecycle Stage: qualified or won is 1) "
            "[default: gold.lead_features joined to silver.lead_outcomes]",
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
        from leadlake.runtime.resources import Resources, new_run_id
        from leadlake.runtime.stages import get_stage, run_stage
        from leadlake.stages.gold.train import TrainingDataError

        s = settings()
        res = Resources.live(s)
        if labels is None:
            res.lakehouse.check_reachable()
        options = {"label": label, "margin": margin, "labels_csv": str(labels) if labels else None}
        try:
            done = run_stage(get_stage("train"), res, new_run_id("train"), options=options)
        except TrainingDataError as exc:
            fail(str(exc))
        r = done.details
        if r.notes:
            _say("columns: " + "; ".join(r.notes))
        if not r.trained:
            fail(r.reason or "nothing was trained")
        m = r.metrics
        _say(
            f"trained xgb-{r.feature_set}-v{r.version} on {r.n_train} leads, held out the newest "
            f"{r.n_holdout} ({r.positives} positives)"
        )
        _say(
            f"metrics (held-out): auc {_fmt(m['auc'])}, pr_auc {_fmt(m['pr_auc'])}, "
            f"precision_at_top_n {_fmt(m['precision_at_top_n'])} (top {r.top_n}), brier {_fmt(m['brier'])}"
        )
        if r.rules_metrics:
            b = r.rules_metrics
            _say(
                f"rules baseline (same rows): auc {_fmt(b['auc'])}, pr_auc {_fmt(b['pr_auc'])}, "
                f"precision_at_top_n {_fmt(b['precision_at_top_n'])}, brier {_fmt(b['brier'])}"
            )
        _say(f"version: {r.version} (run {r.mlflow_run_id})")
        _say(_decision(r, margin))


def score() -> None:
    """Re-score gold.scored_leads with the champion model (the rules baseline when there is none).

    Prints how many leads were scored, by which model version, and the features whose PSI against the
    champion's training data is flagged (every run's PSI is kept in gold.score_drift).
    """
    quiet_logs()
    with errors():
        from leadlake.ml.drift import PSI_THRESHOLD
        from leadlake.runtime.resources import lakehouse, new_run_id
        from leadlake.stages.gold.rescore import GoldNotReady, rescore

        s = settings()
        lake = lakehouse(s)
        lake.check_reachable()
        try:
            r = rescore(lake, s.tracking_uri, new_run_id("score"))
        except GoldNotReady as exc:
            fail(str(exc))
        by = f"champion v{r.champion} ({r.model_version})" if r.champion else f"the rules ({r.model_version})"
        _say(f"scored {r.leads} leads in gold.scored_leads with {by}")
        if r.champion is None:
            _say(f"no champion model: {r.fallback}")
        elif r.flagged:
            shown = ", ".join(f"{f} {p:.3f}" for f, p in r.flagged)
            _say(f"drift (PSI > {PSI_THRESHOLD} against the champion's training data): {shown}")
        else:
            _say(f"drift: no feature's PSI is over {PSI_THRESHOLD} (gold.score_drift, run {r.run_id})")
