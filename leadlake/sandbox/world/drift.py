"""Persistent schema drift: a fixed, seeded share of each provider's records corrupted as real feeds drift."""

from __future__ import annotations

import random

from leadlake.sandbox.world.records import GOOGLE, YELP


def apply_drift(
    rng: random.Random, records: dict[str, list[dict]], malformed: set[tuple[str, str]], rate: float
) -> None:
    """Corrupt `rate` of each provider's records in place and note their (provider, id) in `malformed`."""
    for provider, recs in records.items():
        k = round(rate * len(recs))
        for j, pos in enumerate(sorted(rng.sample(range(len(recs)), k))):
            rec = recs[pos]
            malformed.add((provider, rec["id"]))  # noted before the drift: yelp's kind 0 nulls the id
            DRIFTS[provider](rec, j % 3)


def drift_google(place: dict, kind: int) -> None:
    """A location as a "lat,lon" string, a rating with words, or a bare displayName and a formatted count."""
    if kind == 0:
        loc = place["location"]
        place["location"] = f"{loc['latitude']},{loc['longitude']}"
    elif kind == 1:
        place["rating"] = f"{place.get('rating', 0)} stars"
    else:
        place["displayName"] = place["displayName"]["text"]
        place["userRatingCount"] = f"{place.get('userRatingCount', 0):,}"


def drift_yelp(ybiz: dict, kind: int) -> None:
    """No coordinates and a null id, a string rating and a null count, or a location flattened to text."""
    if kind == 0:
        del ybiz["coordinates"]
        ybiz["id"] = None
    elif kind == 1:
        ybiz["rating"] = str(ybiz["rating"])
        ybiz["review_count"] = None
    else:
        loc = ybiz["location"]
        ybiz["location"] = ", ".join(loc["display_address"])


DRIFTS = {GOOGLE: drift_google, YELP: drift_yelp}
