"""Which leads enrichment pays for, and in which order it asks the providers: both rules are data.

Targeting: a lead is looked up only when one of its campaigns' filters passes and the *upper bound* of its
rules score (the score with every enrichment-dependent feature a provider could answer for it at its
best, `EnrichPolicy.best_values`) still reaches the min tier of a destination of one of its campaigns.
A lead that cannot reach a destination even with the best answers never reaches one with the real
answers, so skipping it changes no delivered lead's score.

Waterfall: the steps (one per provider: the fields it answers, its price per lookup, whether a found
answer stops the later steps for that field) run cheapest first; a step is asked about a lead only for
fields the lead still lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from leadlake.core.campaign import Area, CampaignSpec
from leadlake.core.campaign import passes_filters as campaign_filters

TIER_ORDER: dict[str, int] = {"A": 0, "B": 1, "C": 2}  # lower is better, as delivery ranks them
# The enrichment features the rules score reads, at the value that scores most (gold/score.py):
# Shopify (+10 for ecommerce), a target company size (+10 for b2b_saas), a verified email (+15).
BEST_VALUES: dict[str, Any] = {
    "tech_signals": ["shopify"],
    "employees_range": "11-50",
    "email_verified_domain": True,
}
Fields = Literal["requested", "score"]
# The rules score (gold's `score_lead(lead, vertical, areas) -> .lead_score`) and its tiers (`tier_for`):
# handed in by whoever wires the stages (runtime/stages.py), since a stage never imports another.
ScoreRule = Callable[[Mapping[str, Any], str, Sequence[Area]], Any]
TierRule = Callable[[int], str]


@dataclass(frozen=True)
class WaterfallStep:
    """One provider's place in the waterfall: the fields it answers, its price per lookup, the stop rule."""

    provider: str
    answers: tuple[str, ...]
    cost_usd: float  # per lookup (a bulk request of n lookups costs n of these: PDL bills per match)
    stop_when_found: bool = True  # a value found here means later steps are not asked for that field


@dataclass(frozen=True)
class EnrichPolicy:
    """The targeting and waterfall rules of one enrichment run."""

    steps: tuple[WaterfallStep, ...]
    best_values: Mapping[str, Any] = field(default_factory=lambda: dict(BEST_VALUES))
    fields: Fields = "requested"  # "score": only the fields the rules score reads (best_values' keys)
    apply_filters: bool = True
    no_destination_tier: str = "C"  # a campaign without destinations feeds analysts: every tier counts
    target_leads: bool = True  # False: enrich every lead a provider can look up (the costly baseline)
    # The tier bound is the *rules* score's: when a registered model scores gold instead, no bound is
    # known, so only the filters target (and every requested field is wanted: the model reads them).
    tier_bound: bool = True
    score: ScoreRule | None = None  # without the rules, no bound: only the filters target
    tier: TierRule | None = None

    def ordered(self) -> list[WaterfallStep]:
        """Steps cheapest first (ties keep their given order)."""
        return sorted(self.steps, key=lambda s: s.cost_usd)


def default_steps(providers: Iterable[str] | None = None) -> tuple[WaterfallStep, ...]:
    """One step per registered enrichment provider (or just `providers`): its spec's features and price."""
    from leadlake.connectors.registry import connectors

    wanted = None if providers is None else set(providers)
    return tuple(
        WaterfallStep(s.name, tuple(s.features), float(s.price_per_call_usd))
        for s in connectors("enrichment")
        if wanted is None or s.name in wanted
    )


def passes_filters(lead: Mapping[str, Any], spec: CampaignSpec) -> bool:
    """The campaign's filters (min rating, min reviews) on what silver knows: core.campaign's rule."""
    return campaign_filters(lead, spec.min_rating, spec.min_reviews)


def needed_tier(spec: CampaignSpec, no_destination_tier: str = "C") -> str:
    """The lowest tier any of the campaign's destinations accepts."""
    tiers = [d.min_tier or "C" for d in spec.destinations] or [no_destination_tier]
    return max(tiers, key=lambda t: TIER_ORDER.get(t, 2))


def upper_bound_score(
    lead: Mapping[str, Any],
    specs: Sequence[CampaignSpec],
    answerable: Iterable[str],
    score: ScoreRule,
    best_values: Mapping[str, Any] = BEST_VALUES,
) -> int:
    """The best rules score the lead can get once enriched: `answerable` features at their best, the
    others as silver has them, under each of its campaigns (gold keeps the best campaign's score)."""
    best = {f: v for f, v in best_values.items() if f in set(answerable)}
    hoped = {**lead, **best}
    if not specs:
        return int(score(hoped, "other", ()).lead_score)
    return max(int(score(hoped, s.vertical, s.areas).lead_score) for s in specs)


@dataclass(frozen=True)
class Decision:
    """Whether a lead is enriched, and why (for the run's counts)."""

    targeted: bool
    reason: str  # "targeted", "filters", "tier" or "no_provider"
    bound: int | None = None


def target(
    lead: Mapping[str, Any],
    specs: Sequence[CampaignSpec],
    answerable: Iterable[str],
    policy: EnrichPolicy,
) -> Decision:
    """The targeting rule for one lead. `specs`: the lead's campaigns; `answerable`: the features a
    provider its campaigns ask for could answer for it (it has the key that provider looks up by)."""
    answerable = set(answerable)
    if not answerable:
        return Decision(False, "no_provider")
    if not policy.target_leads:
        return Decision(True, "targeted")
    open_ = [s for s in specs if not policy.apply_filters or passes_filters(lead, s)]
    if specs and not open_:
        return Decision(False, "filters")
    if not policy.tier_bound or policy.score is None or policy.tier is None:
        return Decision(True, "targeted")
    bound = upper_bound_score(lead, specs, answerable, policy.score, policy.best_values)
    rank = TIER_ORDER.get(policy.tier(bound), 2)
    needs = [needed_tier(s, policy.no_destination_tier) for s in open_] or [policy.no_destination_tier]
    if any(rank <= TIER_ORDER.get(t, 2) for t in needs):
        return Decision(True, "targeted", bound)
    return Decision(False, "tier", bound)


def wanted_fields(
    providers: Iterable[str],
    policy: EnrichPolicy,
    lead: Mapping[str, Any] | None = None,
    specs: Sequence[CampaignSpec] = (),
) -> set[str]:
    """The fields a lead wants from the providers its campaigns ask for, under the policy's field rule.

    "score": only fields that can change the lead's rules score under one of its campaigns (Shopify
    counts for an ecommerce campaign, a company size for a b2b_saas one); with the rules and the lead
    given, a field is kept when its best value raises some campaign's score, else every field the
    rules read is kept."""
    providers = set(providers)
    out = {f for s in policy.steps if s.provider in providers for f in s.answers}
    if policy.fields != "score":
        return out
    out &= set(policy.best_values)
    if lead is None or policy.score is None:
        return out
    runs = [(s.vertical, s.areas) for s in specs] or [("other", ())]
    base = [policy.score(lead, v, a).lead_score for v, a in runs]
    return {
        f
        for f in out
        if any(
            policy.score({**lead, f: policy.best_values[f]}, v, a).lead_score > b
            for (v, a), b in zip(runs, base, strict=True)
        )
    }


def waterfall(
    wanted: set[str],
    can_ask: Mapping[str, bool],
    policy: EnrichPolicy,
    found: Mapping[str, set[str]] | None = None,
) -> list[str]:
    """The providers to ask, cheapest first, for a lead wanting `wanted` fields.

    `can_ask[provider]`: the lead has that provider's lookup key. `found[provider]`: the fields an earlier
    answer of that provider holds for the lead (from the cache or an earlier step); a step whose stop rule
    says so ends the search for the fields it found. A step is asked only for fields still missing.
    """
    missing = set(wanted)
    out: list[str] = []
    for step in policy.ordered():
        if not can_ask.get(step.provider):
            continue
        useful = missing & set(step.answers)
        if not useful:
            continue
        out.append(step.provider)
        if found is not None and step.stop_when_found:
            missing -= set(found.get(step.provider, set())) & set(step.answers)
    return out
