"""Score a file of leads with the champion (`leadlake score --input FILE`): a team that trained on a CRM
export (`leadlake train --labels`) scores its next list the same way, the file read as training reads it.
With no champion (none registered, or one that fails to load) the rules baseline scores it, as gold does.

The output is the file as given (its own columns and text, in order) with the score columns gold.scored_leads
has: lead_score 0-100, priority_tier, score_reasons (in words, "; " between them) and model_version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.stages.gold.model import SCORED_COLUMNS, find_champion, psi_against_training
from leadlake.stages.gold.train import LeadFile, TrainingDataError, read_lead_file, with_campaign

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec

REASONS_SEPARATOR = "; "


@dataclass
class ScoredFile:
    """The file's rows with their scores, the champion that scored them, and what the run should say."""

    frame: pd.DataFrame  # the file's columns as given, then SCORED_COLUMNS
    champion: str | None  # None: the rules baseline scored it
    model_version: str
    fallback: str = ""  # why there is no champion, when the rules scored
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


# The lead columns the rules baseline (gold.score, appendix 19.1) reads; a file with none of them is refused.
RULES_INPUTS = (
    "rating", "review_count", "website", "domain", "phone_e164", "email_verified_domain", "tech_signals",
    "employees_range", "distance_km",
)  # fmt: skip


def _present(v: Any) -> bool:
    return not (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or str(v).strip() == "")


def rules_scores(leads: pd.DataFrame) -> pd.DataFrame:
    """gold's rules baseline on a file's leads: each row's own vertical ("other" when blank) and distance_km
    (unknown when blank); the domain from the website and the phone's type when the file leaves them out."""
    from leadlake.core.normalize import is_toll_free, registered_domain
    from leadlake.stages.gold.score import MODEL_VERSION, score_at_distance

    scores: list[int] = []
    tiers: list[str] = []
    reasons: list[list[str]] = []
    for row in leads.to_dict("records"):
        lead = {k: v for k, v in row.items() if _present(v) or isinstance(v, list)}
        if "domain" not in lead and "website" in lead:
            lead["domain"] = registered_domain(str(lead["website"]))
        if "phone_is_toll_free" not in lead and "phone_e164" in lead:
            lead["phone_is_toll_free"] = is_toll_free(str(lead["phone_e164"]))
        for flag in ("email_verified_domain", "phone_is_toll_free"):
            lead[flag] = _truthy(lead.get(flag))
        dist = pd.to_numeric(lead.get("distance_km"), errors="coerce")
        vertical = str(lead.get("vertical") or "other")
        s = score_at_distance(lead, vertical, None if pd.isna(dist) else float(dist))
        scores.append(s.lead_score)
        tiers.append(s.priority_tier)
        reasons.append(s.score_reasons)
    columns = {"lead_score": scores, "priority_tier": tiers, "score_reasons": reasons}
    return pd.DataFrame({**columns, "model_version": MODEL_VERSION}, index=leads.index)


def _truthy(v: Any) -> bool:
    """A CSV's yes/no cell (true/false, yes/no, 1/0, or a bool) as a bool; blank is False."""
    if isinstance(v, bool | int | float) and not (isinstance(v, float) and math.isnan(v)):
        return bool(v)
    return str(v).strip().lower() in {"true", "t", "yes", "y", "1", "1.0"} if _present(v) else False


def _wrong_file(path: Path, leads: LeadFile, what: str) -> TrainingDataError:
    """The wrong file or sheet: none of its columns is an input of the scorer, so every lead would tie."""
    given = list(leads.given.values())
    shown = ", ".join(given[:8]) + (", ..." if len(given) > 8 else "")
    return TrainingDataError(
        f"--input {path}: none of its columns ({shown}) is an input of {what}; "
        "give it lead columns such as website, phone, rating, review_count (--sheet for another sheet)"
    )


def score_file(
    path: Path,
    tracking_uri: str,
    encoding: str | None = None,
    sheet: str | None = None,
    campaign: CampaignSpec | None = None,
) -> ScoredFile:
    """Every row of the file scored by the registry's champion, in `campaign`'s context when given (its
    vertical and distance to its areas, as gold scores its leads), or by the rules baseline when there is no
    champion; TrainingDataError for a bad file."""
    from leadlake.ml.score import score_frame

    leads = read_lead_file(path, encoding, sheet, option="--input")
    if campaign is not None:
        leads = with_campaign(leads, campaign)
    if leads.frame.empty:
        raise TrainingDataError(f"--input {path} has a header row and no leads; nothing to score")
    champion, why = _quietly(find_champion, tracking_uri)
    if champion is None:
        given = set(leads.frame.columns) | ({"domain"} if "website" in leads.frame.columns else set())
        missing = tuple(c for c in RULES_INPUTS if c not in given)  # the domain comes from the website
        if len(missing) == len(RULES_INPUTS):
            raise _wrong_file(path, leads, "the rules baseline")
        scores = rules_scores(leads.frame)
    else:
        missing = _missing_inputs(champion.feature_set.columns, set(leads.frame.columns))
        if len(missing) == len(champion.feature_set.columns):
            raise _wrong_file(path, leads, f"champion v{champion.version}")
        scores = score_frame(champion.model, leads.frame)
    out = leads.text.copy()
    out["lead_score"] = scores["lead_score"].astype("int64").to_numpy()
    out["priority_tier"] = scores["priority_tier"].to_numpy()
    out["score_reasons"] = [REASONS_SEPARATOR.join(r) for r in scores["score_reasons"]]
    out["model_version"] = scores["model_version"].to_numpy()
    flagged: list[tuple[str, float]] = []
    if champion is not None:
        psi = psi_against_training(champion, leads.frame, scores["lead_score"])
        flagged = [(str(r.feature), float(r.psi)) for r in psi.itertuples() if bool(r.flagged)]
    return ScoredFile(
        out[[*leads.text.columns, *(c for c in SCORED_COLUMNS if c not in leads.text.columns)]],
        champion=champion.version if champion is not None else None,
        model_version=str(out["model_version"].iloc[0]),
        fallback="" if champion is not None else str(why),
        missing=missing,
        flagged=flagged,
        notes=leads.notes,
    )
