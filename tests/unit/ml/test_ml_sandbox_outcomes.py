"""The sandbox's CRM outcomes the learning loop learns from (leadlake.sandbox.outcomes): the propensity is
P(qualify | true attributes), so its AUC is the best any model can reach; companies are found again by the
properties leadlake delivers, including chain branches and names written differently."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from leadlake.sandbox.outcomes import OutcomeSimulator, Traits, log_odds, propensity, sigmoid
from leadlake.sandbox.world import NoiseProfile, World

TRAITS = Traits("hvac", 4.6, 120, True, True, False, 14, 5.0, ("google analytics",))


def test_the_propensity_integrates_the_hidden_need_out() -> None:
    from leadlake.sandbox.outcomes import HIDDEN_SD

    rng = random.Random(0)
    draws = [sigmoid(log_odds(TRAITS, rng.gauss(0.0, HIDDEN_SD))) for _ in range(200_000)]
    assert propensity(TRAITS) == pytest.approx(float(np.mean(draws)), abs=2e-3)
    worse = replace(TRAITS, rating=3.1, has_website=False)
    assert propensity(worse) < propensity(TRAITS), "monotone in the attributes' log-odds"


def test_lives_qualify_as_often_as_their_propensity_says() -> None:
    world = World.generate(seed=5, businesses=3000, noise=NoiseProfile())
    sim = OutcomeSimulator(world)
    sent = [{"name": b.name, "city": b.city, "phone": b.phone or "", "website": b.website or ""}
            for b in world.businesses]  # fmt: skip
    lives = [sim.life(props, b.business_id) for props, b in zip(sent, world.businesses, strict=True)]
    p = np.array([life.propensity for life in lives])
    y = np.array([life.qualified_in_window for life in lives])
    assert abs(y.mean() - p.mean()) < 0.02, (y.mean(), p.mean())  # calibrated: the hidden term is noise
    by_id = {b.business_id: b for b in world.businesses}
    other = [(by_id[life.business_id], b) for life, b in zip(lives, world.businesses, strict=True)
             if life.business_id != b.business_id]  # fmt: skip
    # Only a chain's branches in one city, without a phone of their own, are indistinguishable.
    assert all((o.name, o.city) == (b.name, b.city) and b.chain for o, b in other)
    assert len(other) < 0.05 * len(lives)


def test_a_delivered_company_is_found_by_what_leadlake_sends() -> None:
    world = World.generate(seed=5, businesses=3000, noise=NoiseProfile())
    sim = OutcomeSimulator(world)
    single = next(b for b in world.businesses if not b.chain and b.phone and " LLC" in b.name)
    stale = {"name": single.name.removesuffix(" LLC"), "city": single.city, "phone": "+15550000000"}
    assert sim.business_for(stale) is single, "legal suffix dropped, stale phone: found by name and city"
    branch = next(b for b in world.businesses if b.chain and b.phone)
    found = sim.business_for({"name": branch.name, "city": branch.city, "phone": branch.phone})
    assert found is branch, "a chain branch: its own phone among the brand's many"
    assert sim.business_for({"name": "Nobody Plumbing", "city": "Nowhere", "phone": ""}) is None
    assert sim.business_for({"name": single.name}) is None, "a name alone says too little"
