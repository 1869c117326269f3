"""A lead reaches a destination through a campaign only at that campaign's tier and past its filters."""

from __future__ import annotations

from leadlake.stages.delivery.select import Route, route_of

FOUR_STARS = Route("C", min_rating=4.0, min_reviews=10)
ANYTHING = Route("B")


def lead(tier: str, rating: float | None, reviews: int | None, *campaigns: str) -> dict:
    return {"priority_tier": tier, "rating": rating, "review_count": reviews, "campaign_ids": list(campaigns)}


def test_a_lead_under_the_campaigns_rating_or_reviews_is_not_its_lead() -> None:
    routes = {"picky": FOUR_STARS}
    assert route_of(lead("C", 4.5, 12, "picky"), "C", routes) == FOUR_STARS
    assert route_of(lead("A", 3.9, 500, "picky"), "C", routes) is None
    assert route_of(lead("A", 4.8, 9, "picky"), "C", routes) is None


def test_an_unknown_rating_fails_a_rating_filter_and_nan_counts_as_unknown() -> None:
    routes = {"picky": FOUR_STARS}
    assert route_of(lead("A", None, 50, "picky"), "C", routes) is None
    assert route_of(lead("A", float("nan"), 50, "picky"), "C", routes) is None


def test_another_campaign_of_the_lead_can_still_send_it() -> None:
    routes = {"picky": FOUR_STARS, "wide": ANYTHING}
    assert route_of(lead("B", 2.0, 1, "picky", "wide"), "C", routes) == ANYTHING
    assert route_of(lead("C", 2.0, 1, "picky", "wide"), "C", routes) is None  # "wide" wants B or better
