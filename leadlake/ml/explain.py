"""Why a lead scored what it did, in words: the top contributions (XGBoost SHAP values) as score points.

A feature's points are the score it would move from the model's base rate on its own:
100 * (sigmoid(bias + contribution) - sigmoid(bias)), rounded; reasons worth 0 points are left out.
Phrasing is data (REASON_TEMPLATES, and REASON_GROUPS for features that read as one reason, such as a
rating and its review count); a feature without a template reads "feature=value".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from leadlake.ml.model import LeadScorer

TOP_REASONS = 3

# Per feature: "true"/"false" for flags (0/1), "value" templates tried in order (str.format over the row's
# features; a template whose fields are missing is skipped), "missing" when the feature has no value.
REASON_TEMPLATES: dict[str, dict[str, Any]] = {
    "rating": {
        "value": ("{rating:.1f} stars from {review_count:.0f} reviews", "{rating:.1f} stars"),
        "missing": "no rating",
    },
    "review_count": {"value": ("{review_count:.0f} reviews",), "missing": "no reviews"},
    "source_count": {"value": ("found by {source_count:.0f} sources",), "missing": "sources unknown"},
    "has_website": {"true": "has a website", "false": "no website", "missing": "no website"},  # + has_domain
    "has_domain": {
        "true": "website on its own domain",
        "false": "no domain of its own",
        "missing": "no domain",
    },
    "has_phone": {"true": "phone listed", "false": "no phone", "missing": "no phone"},
    "phone_is_toll_free": {
        "true": "toll-free phone",
        "false": "direct (not toll-free) phone",
        "missing": "phone type unknown",
    },
    "email_verified_domain": {
        "true": "verified email on the company domain",
        "false": "no verified email",
        "missing": "no verified email",
    },
    "has_address": {"true": "street address listed", "false": "no street address", "missing": "no address"},
    "distance_km": {
        "value": ("{distance_km:.1f} km from the campaign centre",),
        "missing": "location unknown",
    },
    "employee_count": {"value": ("{employee_count:.0f} employees",), "missing": "company size unknown"},
    "founded_year": {"value": ("founded in {founded_year:.0f}",), "missing": "founding year unknown"},
    "tech_signal_count": {
        "value": ("{tech_signal_count:.0f} technologies detected",),
        "missing": "technologies unknown",
    },
    "category_count": {"value": ("{category_count:.0f} listed categories",), "missing": "no categories"},
    "vertical": {"value": ("{vertical} vertical",), "missing": "no campaign vertical"},
    "primary_category": {"value": ("category: {primary_category}",), "missing": "no category"},
    "employees_range": {"value": ("{employees_range} employees",), "missing": "company size unknown"},
    "industry": {"value": ("industry: {industry}",), "missing": "industry unknown"},
    "company_status": {"value": ("company {company_status}",), "missing": "company status unknown"},
    "website_has_path": {
        "true": "website is a page of a larger site",
        "false": "website on its own site",
        "missing": "no website",
    },
    "categories": {"value": ("listed as {categories}",), "missing": "no categories"},
    "tech_signals": {"value": ("runs {tech_signals}",), "missing": "no technologies detected"},
    "providers": {"value": ("listed by {providers}",), "missing": "no providers"},
}


# Features that read as one reason: their contributions add up under the first one's name and phrasing.
REASON_GROUPS: dict[str, tuple[str, ...]] = {
    "rating": ("rating", "review_count"),
    "has_website": ("has_website", "has_domain"),
}


def group_contributions(
    contributions: pd.DataFrame, groups: Mapping[str, tuple[str, ...]] = REASON_GROUPS
) -> pd.DataFrame:
    """Contributions with each group's members summed into the group's column."""
    out = contributions.copy()
    for name, members in groups.items():
        present = [m for m in members if m in out.columns]
        if not present:
            continue
        total = out[present].sum(axis=1)
        out = out.drop(columns=present)
        out[name] = total
    return out


def _missing(v: Any) -> bool:
    if isinstance(v, list | tuple | np.ndarray):
        return len(v) == 0  # an empty list (no categories, no technologies) reads as missing
    return v is None or (isinstance(v, float) and math.isnan(v))


def _listed(v: Any, most: int = 3) -> Any:
    """A list value in words ("a, b, c and 2 more"); anything else unchanged."""
    if not isinstance(v, list | tuple | np.ndarray):
        return v
    items = [str(x) for x in v]
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _plain(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def phrase(
    feature: str, row: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]] = REASON_TEMPLATES
) -> str:
    """The words for one feature of one row (its values by feature name, missing as None or NaN)."""
    value = row.get(feature)
    t = templates.get(feature, {})
    if _missing(value):
        return str(t.get("missing", f"{feature}=missing"))
    if "true" in t and "false" in t:
        return str(t["true"] if float(value) >= 0.5 else t["false"])
    ctx = {k: _listed(v) for k, v in row.items() if not _missing(v)}
    for template in t.get("value", ()):
        try:
            return str(template).format(**ctx)
        except (KeyError, ValueError, TypeError, IndexError):
            continue
    return f"{feature}={_plain(_listed(value))}"


def points(contribution: float, bias: float) -> int:
    """Score points (0-100 scale) a log-odds contribution moves the base rate by."""
    base = 1.0 / (1.0 + math.exp(-bias))
    return round(100.0 * (1.0 / (1.0 + math.exp(-(bias + contribution))) - base))


def reasons_from(
    contributions: pd.DataFrame,
    bias: np.ndarray,
    features: pd.DataFrame,
    top: int = TOP_REASONS,
    templates: Mapping[str, Mapping[str, Any]] = REASON_TEMPLATES,
    groups: Mapping[str, tuple[str, ...]] = REASON_GROUPS,
) -> list[list[str]]:
    """Per row: up to `top` reasons "+12: <words>", largest absolute contribution first."""
    out: list[list[str]] = []
    rows = features.to_dict("records")
    contributions = group_contributions(contributions, groups)
    contrib = contributions.to_numpy(dtype="float64")
    names = list(contributions.columns)
    for i, row in enumerate(rows):
        order = np.argsort(-np.abs(contrib[i]), kind="stable")
        reasons = []
        for j in order:
            if len(reasons) == top:
                break
            pts = points(float(contrib[i, j]), float(bias[i]))
            if pts == 0:
                continue
            reasons.append(f"{pts:+d}: {phrase(names[j], row, templates)}")
        out.append(reasons)
    return out


def explain(scorer: LeadScorer, frame: pd.DataFrame, top: int = TOP_REASONS) -> list[list[str]]:
    """Reasons in words for each row of `frame` (raw lead columns or built features)."""
    contributions, bias = scorer.contributions(frame)
    return reasons_from(contributions, bias, scorer.features(frame), top)
