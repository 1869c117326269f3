"""Score a file of leads with the champion (`leadlake score --input FILE`): a team that trained on a CRM
export (`leadlake train --labels`) scores its next list the same way, the file read as training reads it.

The output is the file as given (its own columns and text, in order) with the score columns gold.scored_leads
has: lead_score 0-100, priority_tier, score_reasons (in words, "; " between them) and model_version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.stages.gold.model import SCORED_COLUMNS, find_champion, psi_against_training
from leadlake.stages.gold.train import TrainingDataError, read_lead_file, with_campaign

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

REASONS_SEPARATOR = "; "


class NoChampion(ValueError):
    """No champion model to score a file with; the message says why and what to run."""


@dataclass
class ScoredFile:
    """The file's rows with their scores, the champion that scored them, and what the run should say."""

    frame: pd.DataFrame  # the file's columns as given, then SCORED_COLUMNS
    champion: str
    model_version: str
    missing: tuple[str, ...] = ()  # the champion's inputs the file has no column for (scored as unknown)
    flagged: list[tuple[str, float]] = field(default_factory=list)  # (feature, PSI) over the threshold
    notes: tuple[str, ...] = ()  # how the file's columns were read


def _quietly(fn: Any, *args: Any) -> Any:
    """fn(*args) with the registry's and gold's warnings kept from the console: the error says why."""
    names = ("leadlake.ml.registry", "leadlake.stages.gold.model")
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.propagate = False
    try:
        return fn(*args)
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.propagate = was


def _missing_inputs(feature_columns: tuple[str, ...], columns: set[str]) -> tuple[str, ...]:
    """The features neither given as a column nor derivable from one the file has (ml.spec.DERIVED)."""
    from leadlake.ml.spec import DERIVED

    return tuple(
        f for f in feature_columns if f not in columns and not (f in DERIVED and DERIVED[f][1] in columns)
    )


def score_file(
    path: Path,
    tracking_uri: str,
    encoding: str | None = None,
    sheet: str | None = None,
    campaign: CampaignSpec | None = None,
) -> ScoredFile:
    """Every row of the file scored by the registry's champion, in `campaign`'s context when given (its
    vertical and distance to its areas, as gold scores its leads); NoChampion when there is none (the rules
    baseline scores gold's rows under their campaigns), TrainingDataError for a bad file."""
    from leadlake.ml.score import score_frame

    leads = read_lead_file(path, encoding, sheet, option="--input")
    if campaign is not None:
        leads = with_campaign(leads, campaign)
    if leads.frame.empty:
        raise TrainingDataError(f"--input {path} has a header row and no leads; nothing to score")
    champion, why = _quietly(find_champion, tracking_uri)
    if champion is None:
        raise NoChampion(f"{path}: {why}; train a model first: leadlake train --labels FILE")
    missing = _missing_inputs(champion.feature_set.columns, set(leads.frame.columns))
    if len(missing) == len(champion.feature_set.columns):  # the wrong file or sheet: every lead would tie
        given = list(leads.given.values())
        shown = ", ".join(given[:8]) + (", ..." if len(given) > 8 else "")
        raise TrainingDataError(
            f"--input {path}: none of its columns ({shown}) is an input of champion v{champion.version}; "
            "give it lead columns such as website, phone, rating, review_count (--sheet for another sheet)"
        )
    scores = score_frame(champion.model, leads.frame)
    out = leads.text.copy()
    out["lead_score"] = scores["lead_score"].astype("int64").to_numpy()
    out["priority_tier"] = scores["priority_tier"].to_numpy()
    out["score_reasons"] = [REASONS_SEPARATOR.join(r) for r in scores["score_reasons"]]
    out["model_version"] = scores["model_version"].to_numpy()
    psi = psi_against_training(champion, leads.frame, scores["lead_score"])
    flagged = [(str(r.feature), float(r.psi)) for r in psi.itertuples() if bool(r.flagged)]
    return ScoredFile(
        out[[*leads.text.columns, *(c for c in SCORED_COLUMNS if c not in leads.text.columns)]],
        champion=champion.version,
        model_version=str(champion.model.model_version),
        missing=missing,
        flagged=flagged,
        notes=leads.notes,
    )
