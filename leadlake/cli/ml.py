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

from leadlake.cli.common import (
    STDIO,
    check_output_file,
    console,
    err_console,
    errors,
    fail,
    quiet_logs,
    settings,
    stdin_to_file,
    write_stdout,
)


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
            help="A file of past leads (a CSV of any separator, compressed or not; Parquet; an Excel or "
            "OpenDocument workbook), as resolve --input reads them: canonical lead columns (or a CRM "
            "export's names for them: Company name, Website URL, Number of Employees, ...) and an `outcome` "
            "column (1/0, won/lost, true/false; or a CRM stage column such as Lifecycle Stage: qualified or "
            "won is 1) "
            "[default: gold.lead_features joined to silver.lead_outcomes]",
        ),
    ] = None,
    label: Annotated[
        str, typer.Option("--label", help="The label rule (a boolean column of silver.lead_outcomes)")
    ] = "qualified_or_won_90d",
    margin: Annotated[
        float, typer.Option("--margin", help="AUC the new model must gain over the champion to replace it")
    ] = 0.005,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="The --labels file's text encoding when not UTF-8, e.g. cp1252 (a CSV Excel saved on "
            "Windows)",
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            "--sheet", help="The sheet of an Excel or OpenDocument --labels workbook: its name or number"
        ),
    ] = None,
    campaign: Annotated[
        Path | None,
        typer.Option(
            "--campaign",
            help="Read the --labels leads in this campaign's context, as gold holds its own: its vertical "
            "where a row has none, and each lead's distance to its areas (from the file's lat and lon)",
        ),
    ] = None,
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
        if labels is None and (encoding or sheet or campaign):
            given = "--encoding" if encoding else "--sheet" if sheet else "--campaign"
            fail(f"{given} describes the --labels file; give --labels FILE")
        if campaign is not None:
            from leadlake.core.campaign import load_campaign

            load_campaign(campaign)  # a bad campaign file is one line now, before any training
        options = {
            "label": label,
            "margin": margin,
            "labels_csv": str(labels) if labels else None,
            "labels_encoding": encoding,
            "labels_sheet": sheet,
            "labels_campaign": str(campaign) if campaign else None,
        }
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
            f"precision_at_top_n {_fmt(m['precision_at_top_n'])} (top {min(r.top_n, r.n_holdout)}), "
            f"brier {_fmt(m['brier'])}"
        )
        if r.rules_metrics:
            b = r.rules_metrics
            _say(
                f"rules baseline (same rows): auc {_fmt(b['auc'])}, pr_auc {_fmt(b['pr_auc'])}, "
                f"precision_at_top_n {_fmt(b['precision_at_top_n'])}, brier {_fmt(b['brier'])}"
            )
        _say(f"version: {r.version} (run {r.mlflow_run_id})")
        _say(_decision(r, margin))


def _write_scored(frame: Any, fh: Any) -> None:
    frame.to_csv(fh, index=False, lineterminator="\n")


def _score_file(
    input_path: Path,
    output: Path | None,
    encoding: str | None,
    sheet: str | None,
    campaign: Path | None,
    tracking_uri: str,
) -> None:
    """`score --input`: the file's rows scored by the champion (the rules without one), to --output (a file,
    or - for stdout)."""
    import tempfile

    from leadlake.stages.gold.score_file import score_file
    from leadlake.stages.gold.train import TrainingDataError

    to_stdout = check_output_file(output, [input_path], "scored.csv", "scored leads")
    say = err_console if to_stdout else console  # stdout holds the CSV alone
    from leadlake.core.campaign import load_campaign

    spec = load_campaign(campaign) if campaign is not None else None
    with tempfile.TemporaryDirectory(prefix="leadlake-score-") as tmp:
        path = stdin_to_file(Path(tmp)) if str(input_path) == STDIO else input_path
        try:
            r = score_file(path, tracking_uri, encoding, sheet, spec)
        except TrainingDataError as exc:
            fail(str(exc))
    if r.notes:
        say.print("columns: " + "; ".join(r.notes), highlight=False, soft_wrap=True)
    if to_stdout:
        write_stdout(r.frame, _write_scored)
    else:
        with output.open("w", encoding="utf-8", newline="") as fh:  # type: ignore[union-attr]
            _write_scored(r.frame, fh)
    tiers = r.frame["priority_tier"].value_counts()
    shown = ", ".join(f"{t} {int(tiers[t]):,}" for t in sorted(tiers.index))
    where = "stdout" if to_stdout else str(output)
    by = f"champion v{r.champion} ({r.model_version})" if r.champion else f"the rules ({r.model_version})"
    say.print(f"scored {len(r.frame):,} leads with {by}: {shown} -> {where}", highlight=False, soft_wrap=True)
    if r.champion is None:
        say.print(f"no champion model: {r.fallback}", highlight=False, soft_wrap=True)
    if r.missing:
        say.print(
            f"not in the file (scored as unknown): {', '.join(r.missing)}", highlight=False, soft_wrap=True
        )
    if r.flagged:
        from leadlake.ml.drift import PSI_THRESHOLD

        drifted = ", ".join(f"{f} {p:.3f}" for f, p in r.flagged)
        say.print(
            f"drift (PSI > {PSI_THRESHOLD} against the champion's training data): {drifted}",
            highlight=False,
            soft_wrap=True,
        )


def score(
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="Score this file of leads instead of gold.scored_leads: any file --labels reads (the lead "
            "columns or a CRM export's names for them; - reads stdin); the output is the file's own columns "
            "and rows with lead_score, priority_tier, score_reasons and model_version",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --input: the scored CSV to write (- writes it to stdout)"),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="The --input file's text encoding when not UTF-8")
    ] = None,
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="The sheet of an --input workbook: its name or number")
    ] = None,
    campaign: Annotated[
        Path | None,
        typer.Option(
            "--campaign",
            help="Score the --input leads in this campaign's context, as gold scores its own: its vertical "
            "where a row has none, and each lead's distance to its areas (from the file's lat and lon)",
        ),
    ] = None,
) -> None:
    """Re-score gold.scored_leads with the champion model (the rules baseline when there is none).

    Prints how many leads were scored, by which model version, and the features whose PSI against the
    champion's training data is flagged (every run's PSI is kept in gold.score_drift). With --input, scores
    a file of leads the same way instead (the champion, else the rules) and leaves the lakehouse alone.
    """
    quiet_logs()
    if input_path is None and (output or encoding or sheet or campaign):
        given = "--output" if output else "--encoding" if encoding else "--sheet" if sheet else "--campaign"
        fail(f"{given} goes with --input FILE (a file of leads to score); leave it out to re-score gold")
    with errors():
        from leadlake.ml.drift import PSI_THRESHOLD
        from leadlake.runtime.resources import lakehouse, new_run_id
        from leadlake.stages.gold.rescore import GoldNotReady, rescore

        s = settings()
        if input_path is not None:
            _score_file(input_path, output, encoding, sheet, campaign, s.tracking_uri)
            return
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
        if r.champion is not None and r.unseen:
            _say(
                f"not weighed by champion v{r.champion} (no values in its training data; train again to use "
                f"them): {', '.join(r.unseen)}"
            )
