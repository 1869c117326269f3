"""Synthetic labelled leads with a known signal: rating, reviews and a website raise the odds of a win.

A module of its own, not conftest: a test importing `conftest` gets whichever conftest pytest imported
first when several test folders are collected in one run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Labelled:
    leads: pd.DataFrame
    labels: pd.Series
    as_of: pd.Series


def synthetic_leads(n: int = 600, seed: int = 0, rating_shift: float = 0.0) -> Labelled:
    """label = Bernoulli(sigmoid(2.5*(rating-4) + 0.9*(log1p(reviews)-3.5) + 1.5*(website-0.6) + noise))."""
    rng = np.random.default_rng(seed)
    rating = np.clip(rng.normal(4.0 + rating_shift, 0.5, n), 1.0, 5.0).round(1)
    reviews = rng.lognormal(3.5, 1.0, n).astype("int64")
    has_site = rng.random(n) < 0.6
    vertical = rng.choice(["local_services", "ecommerce", "b2b_saas"], n)
    logit = (
        2.5 * (rating - 4.0)
        + 0.9 * (np.log1p(reviews) - 3.5)
        + 1.5 * (has_site - 0.6)
        + rng.normal(0.0, 0.5, n)
        - 0.3
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i:04d}" for i in range(n)],
            "rating": rating,
            "review_count": reviews,
            "website": [f"https://shop{i}.example.com" if s else None for i, s in enumerate(has_site)],
            "domain": [f"shop{i}.example.com" if s else None for i, s in enumerate(has_site)],
            "phone_e164": [f"+1303555{i:04d}" if i % 3 else None for i in range(n)],
            "phone_is_toll_free": [i % 7 == 0 for i in range(n)],
            "source_count": rng.integers(1, 4, n),
            "categories": [[rng.choice(["plumber", "electrician", "roofer"])] for _ in range(n)],
            "vertical": vertical,
            "distance_km": rng.uniform(0, 40, n).round(2),
        }
    )
    start = pd.Timestamp("2026-01-01", tz="UTC")
    as_of = pd.Series(start + pd.to_timedelta(rng.permutation(n), unit="h"))
    return Labelled(leads, pd.Series(y, name="label"), as_of)
