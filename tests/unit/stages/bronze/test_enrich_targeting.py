"""Enrichment's targeting and waterfall rules: which leads are looked up, where, and in what order."""

from __future__ import annotations

from typing import Any

import pytest

from leadlake.core.campaign import Area, CampaignSpec, Destination
from leadlake.stages.bronze.enrichment import waves
from leadlake.stages.bronze.targeting import (
    BEST_VALUES,
    EnrichPolicy,
    WaterfallStep,
    default_steps,
    needed_tier,
    passes_filters,
    target,
    upper_bound_score,
    wanted_fields,
    waterfall,
)
from leadlake.stages.gold.score import score_lead, tier_for

DENVER = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=40)
POLICY = EnrichPolicy(default_steps(), score=score_lead, tier=tier_for)


def spec(
    vertical: str = "local_services",
    tiers: tuple[str, ...] = ("A",),
    min_rating: float | None = None,
    min_reviews: int | None = None,
    cid: str = "c1",
) -> CampaignSpec:
    return CampaignSpec(
        campaign_id=cid,
        name=cid,
        vertical=vertical,
        areas=[DENVER],
        keywords=["plumber"],
        sources=[],
        enrichment=["pdl", "hunter", "opencorporates"],
        min_rating=min_rating,
        min_reviews=min_reviews,
        destinations=[Destination(type="hubspot", min_tier=t) for t in tiers],
    )


def lead(**fields: Any) -> dict[str, Any]:
    """A Denver lead 100 km out of the area centre: no points unless given."""
    base = {"lead_id": "L1", "name": "Acme Plumbing", "lat": 40.6, "lon": -104.99}
    return base | fields


STRONG = {
    "rating": 4.6,
    "review_count": 120,
    "website": "https://acme.com",
    "domain": "acme.com",
}  # 40 points


# ---- filters and tiers ---------------------------------------------------------------------------------
def test_filters_fail_on_a_low_or_unknown_value() -> None:
    s = spec(min_rating=4.0, min_reviews=10)
    assert passes_filters(lead(rating=4.2, review_count=10), s)
    assert not passes_filters(lead(rating=3.9, review_count=50), s)
    assert not passes_filters(lead(rating=4.5, review_count=None), s), "unknown reviews fail a min_reviews"
    assert not passes_filters(lead(rating=float("nan"), review_count=50), s)
    assert passes_filters(lead(), spec()), "no filters: everything passes"


def test_needed_tier_is_the_most_permissive_destination() -> None:
    assert needed_tier(spec(tiers=("A", "B"))) == "B"
    assert needed_tier(spec(tiers=("A",))) == "A"
    assert needed_tier(spec(tiers=())) == "C", "no destination: analysts see every tier"
    assert needed_tier(spec(tiers=()), no_destination_tier="A") == "A"


# ---- the upper bound -----------------------------------------------------------------------------------
def test_upper_bound_puts_only_answerable_features_at_their_best() -> None:
    s = spec()
    known = score_lead(lead(**STRONG), s.vertical, s.areas).lead_score
    assert known == 40
    assert upper_bound_score(lead(**STRONG), [s], set(), score_lead) == 40
    assert upper_bound_score(lead(**STRONG), [s], {"email_verified_domain"}, score_lead) == 55
    # Shopify scores only for ecommerce, a company size only for b2b_saas: best values are per vertical.
    assert upper_bound_score(lead(**STRONG), [spec("ecommerce")], {"tech_signals"}, score_lead) == 50
    assert upper_bound_score(lead(**STRONG), [spec("b2b_saas")], {"employees_range"}, score_lead) == 50
    assert upper_bound_score(lead(**STRONG), [spec("b2b_saas")], {"tech_signals"}, score_lead) == 40


def test_upper_bound_is_never_below_the_score_any_answer_gives() -> None:
    """Whatever the providers answer, the enriched score stays at or under the bound (it is a bound)."""
    answers = [
        {},
        {"email_verified_domain": True},
        {"email_verified_domain": False, "tech_signals": ["wordpress"]},
        {"tech_signals": ["shopify", "stripe"], "employees_range": "51-200", "email_verified_domain": True},
        {"employees_range": "1-10"},
    ]
    for vertical in ("local_services", "ecommerce", "b2b_saas", "other"):
        s = spec(vertical)
        for silver in (lead(), lead(**STRONG), lead(phone_e164="+13035550101", **STRONG)):
            bound = upper_bound_score(silver, [s], set(BEST_VALUES), score_lead)
            for a in answers:
                assert score_lead(silver | a, vertical, s.areas).lead_score <= bound


# ---- the targeting decision ----------------------------------------------------------------------------
def test_a_lead_that_can_still_reach_the_tier_is_targeted() -> None:
    s = spec(tiers=("A",))
    # 40 known + 15 possible from a verified email: can reach A (50).
    d = target(lead(**STRONG), [s], {"email_verified_domain"}, POLICY)
    assert d.targeted and d.bound == 55
    # Without a provider that could verify an email, 40 is the best it gets: never A.
    assert target(lead(**STRONG), [s], {"legal_name"}, POLICY).reason == "tier"


def test_a_lead_that_cannot_reach_any_destination_is_skipped() -> None:
    d = target(
        lead(website="https://acme.com", domain="acme.com"), [spec(tiers=("A",))], set(BEST_VALUES), POLICY
    )
    assert not d.targeted and d.reason == "tier" and d.bound == 30
    assert target(lead(), [spec(tiers=("C",))], set(BEST_VALUES), POLICY).targeted, "every lead reaches C"
    # A second campaign of the lead with a lower bar makes it worth enriching.
    both = [spec(tiers=("A",)), spec(tiers=("B",), cid="c2")]
    assert target(
        lead(website="https://acme.com", domain="acme.com"), both, set(BEST_VALUES), POLICY
    ).targeted


def test_filters_and_providers_come_before_the_score() -> None:
    s = spec(tiers=("C",), min_rating=4.0)
    assert target(lead(rating=3.0), [s], set(BEST_VALUES), POLICY).reason == "filters"
    assert target(lead(rating=4.5), [s], set(), POLICY).reason == "no_provider"
    assert target(lead(rating=4.5), [s], set(BEST_VALUES), POLICY).targeted
    unfiltered = EnrichPolicy(POLICY.steps, score=score_lead, tier=tier_for, apply_filters=False)
    assert target(lead(rating=3.0), [s], set(BEST_VALUES), unfiltered).targeted


# ---- the waterfall -------------------------------------------------------------------------------------
TWO_SIZES = EnrichPolicy(
    (
        WaterfallStep("pricey", ("employees_range", "industry"), 0.10),
        WaterfallStep("cheap", ("employees_range",), 0.01),
        WaterfallStep("emails", ("email_verified_domain",), 0.02, stop_when_found=False),
    )
)


def test_steps_run_cheapest_first() -> None:
    assert [s.provider for s in TWO_SIZES.ordered()] == ["cheap", "emails", "pricey"]
    registry = [s.provider for s in POLICY.ordered()]
    assert registry == sorted(
        registry, key=lambda p: next(s.cost_usd for s in POLICY.steps if s.provider == p)
    )


def test_a_found_answer_stops_the_later_steps_for_that_field() -> None:
    can = {"pricey": True, "cheap": True, "emails": True}
    wanted = {"employees_range", "email_verified_domain"}
    # Nothing known yet: the plan asks every step that could answer a wanted field.
    assert waterfall(wanted, can, TWO_SIZES) == ["cheap", "emails", "pricey"]
    # The cheap step answered the size: the pricey one is not asked (industry is not wanted).
    assert waterfall(wanted, can, TWO_SIZES, found={"cheap": {"employees_range"}}) == ["cheap", "emails"]
    # It did not: the next source is asked for it.
    assert waterfall(wanted, can, TWO_SIZES, found={"cheap": set()}) == ["cheap", "emails", "pricey"]
    # A step without the lead's lookup key (no domain, say) is skipped.
    assert waterfall(wanted, can | {"cheap": False}, TWO_SIZES) == ["emails", "pricey"]


def test_wanted_fields_follow_the_fields_rule() -> None:
    requested = wanted_fields({"pdl", "hunter", "opencorporates"}, POLICY)
    assert {"legal_name", "industry", "email_verified_domain", "employees_range"} <= requested
    score_only = EnrichPolicy(POLICY.steps, score=score_lead, tier=tier_for, fields="score")
    assert wanted_fields({"pdl", "hunter", "opencorporates"}, score_only) == set(BEST_VALUES)
    assert wanted_fields({"opencorporates"}, score_only) == set(), (
        "the registry answers nothing the score reads"
    )


@pytest.mark.parametrize("provider", ["pdl", "hunter", "opencorporates"])
def test_default_steps_come_from_the_registry(provider: str) -> None:
    from leadlake.connectors.registry import connector

    step = next(s for s in POLICY.steps if s.provider == provider)
    assert (
        step.answers == connector(provider).features
        and step.cost_usd == connector(provider).price_per_call_usd
    )


def test_without_the_rules_bound_only_filters_target() -> None:
    """A registered model scores gold: the rules' bound says nothing, so every lead passing filters counts;
    the baseline (target_leads off) looks up every lead a provider can."""
    weak = lead(website="https://acme.com", domain="acme.com", rating=4.0)
    s = spec(tiers=("A",), min_rating=3.5)
    assert target(weak, [s], set(BEST_VALUES), POLICY).reason == "tier"
    model = EnrichPolicy(POLICY.steps, score=score_lead, tier=tier_for, tier_bound=False)
    assert target(weak, [s], set(BEST_VALUES), model).targeted
    assert target(lead(rating=3.0), [s], set(BEST_VALUES), model).reason == "filters"
    everything = EnrichPolicy(POLICY.steps, score=score_lead, tier=tier_for, target_leads=False)
    assert target(lead(rating=3.0), [s], set(BEST_VALUES), everything).targeted
    assert target(lead(rating=3.0), [s], set(), everything).reason == "no_provider"


def test_score_fields_are_those_that_can_change_a_campaigns_score() -> None:
    score_only = EnrichPolicy(POLICY.steps, score=score_lead, tier=tier_for, fields="score")
    every = {"pdl", "hunter", "opencorporates"}
    site = lead(website="https://acme.com", domain="acme.com")
    assert wanted_fields(every, score_only, site, [spec("local_services")]) == {"email_verified_domain"}
    assert wanted_fields(every, score_only, site, [spec("ecommerce")]) == {
        "email_verified_domain",
        "tech_signals",
    }
    both = [spec("b2b_saas"), spec("ecommerce", cid="c2")]
    assert wanted_fields(every, score_only, site, both) == set(BEST_VALUES)
    assert wanted_fields({"hunter"}, score_only, site, both) == {"email_verified_domain"}


def test_waves_run_steps_at_once_only_when_they_answer_different_fields() -> None:
    steps = {
        "oc": WaterfallStep("oc", ("legal_name", "founded_year"), 0.01),
        "hunter": WaterfallStep("hunter", ("emails",), 0.02),
        "pdl": WaterfallStep("pdl", ("founded_year", "employees_range"), 0.10),
        "late": WaterfallStep("late", ("employees_range",), 0.20),
    }
    order = ["oc", "hunter", "pdl", "late", "no_step"]
    # pdl waits for oc (founded_year), late waits for pdl (employees_range); the rest start at once.
    assert waves(order, steps) == [["oc", "hunter", "no_step"], ["pdl"], ["late"]]
    assert waves([], steps) == []


def test_the_default_providers_answer_different_fields_so_they_run_at_once() -> None:
    steps = {s.provider: s for s in default_steps()}
    order = [s.provider for s in EnrichPolicy(default_steps()).ordered()]
    assert len(order) >= 3 and waves(order, steps) == [order]
