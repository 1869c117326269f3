"""The World: ground truth plus each provider's noisy, overlapping view, generated in one seeded pass."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from leadlake.sandbox.world.businesses import BusinessMaker
from leadlake.sandbox.world.drift import apply_drift
from leadlake.sandbox.world.geography import CITIES, City
from leadlake.sandbox.world.noise import NoiseProfile, Noiser
from leadlake.sandbox.world.records import GOOGLE, YELP, Business, RecordMeta
from leadlake.sandbox.world.views import ProviderViews
from leadlake.sandbox.world.vocabulary import CATEGORIES


@dataclass
class World:
    """Ground truth plus each provider's noisy, overlapping view of it."""

    seed: int
    businesses: list[Business]
    google_places: list[dict]
    yelp_businesses: list[dict]
    truth: dict[tuple[str, str], str]
    malformed: set[tuple[str, str]] = field(default_factory=set)
    google_meta: list[RecordMeta] = field(default_factory=list, repr=False)
    yelp_meta: list[RecordMeta] = field(default_factory=list, repr=False)
    noise: NoiseProfile = field(default_factory=NoiseProfile.off)
    # Which phenomena of `noise` touched each provider record / each business (tags in world.noise).
    record_noise: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict, repr=False)
    business_noise: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(
        cls,
        seed: int = 42,
        businesses: int = 500,
        malformed_rate: float = 0.005,
        noise: NoiseProfile | None = None,
    ) -> World:
        """Build the world; the same arguments always give byte-identical records.

        `noise` adds real provider overlap (name variants, moves, shared phones, duplicates...); None, the
        default, is `NoiseProfile.off()`: the providers' baseline habits only. `NoiseProfile()` is realistic.
        """
        with gc_paused():
            return _build(seed, businesses, malformed_rate, noise or NoiseProfile.off())

    def cities(self) -> list[City]:
        """The metros businesses live in."""
        return list(CITIES)

    def categories(self) -> list[str]:
        """Leadlake's category ids."""
        return list(CATEGORIES)

    def records(self, provider: str) -> list[dict]:
        """The provider's records in world order."""
        return self.google_places if provider == GOOGLE else self.yelp_businesses

    def meta(self, provider: str) -> list[RecordMeta]:
        """Clean index values parallel to `records(provider)`."""
        return self.google_meta if provider == GOOGLE else self.yelp_meta


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause cyclic GC: building millions of small acyclic objects would otherwise trigger pass after pass."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(seed: int, n: int, malformed_rate: float, profile: NoiseProfile) -> World:
    # One random stream for everything, consumed in a fixed order: businesses, then views, then drift.
    # Reordering any draw changes every later record, so the stages below must keep this sequence.
    # The noise profile draws from its own stream, so with every rate at zero the world is unchanged.
    rng = random.Random(seed)
    maker = BusinessMaker(rng)
    views = ProviderViews(seed, maker)
    city_weights = [c.weight for c in CITIES]
    city_idx = rng.choices(range(len(CITIES)), weights=city_weights, k=n)
    businesses: list[Business] = []
    units: list[str | None] = []
    chain_branches: dict[tuple[str, int], int] = {}
    for i in range(n):
        biz, unit = maker.business(i, CITIES[city_idx[i]], chain_branches)
        businesses.append(biz)
        units.append(unit)
    noiser = Noiser(seed, profile, maker) if profile.active else None
    if noiser is not None:
        noiser.shape_truth(businesses, units, city_idx)
    world = World(
        seed=seed, businesses=businesses, google_places=[], yelp_businesses=[], truth={}, noise=profile
    )
    alias_counts: dict[str, int] = {}
    for i, biz in enumerate(businesses):
        in_google = rng.random() < 0.75
        in_yelp = rng.random() < 0.75
        city = CITIES[city_idx[i]]
        if in_google:
            place, meta = views.google(i, biz, units[i], city, city_idx[i])
            _add(world, GOOGLE, place, meta, biz, noiser, i, units[i], city, alias_counts)
        if in_yelp:
            ybiz, meta = views.yelp(i, biz, units[i], city, city_idx[i], alias_counts)
            _add(world, YELP, ybiz, meta, biz, noiser, i, units[i], city, alias_counts)
    records = {GOOGLE: world.google_places, YELP: world.yelp_businesses}
    apply_drift(rng, records, world.malformed, malformed_rate)
    if noiser is not None:
        world.record_noise = {k: frozenset(v) for k, v in noiser.record_noise.items()}
        world.business_noise = {k: frozenset(v) for k, v in noiser.business_noise.items()}
    return world


def _add(
    world: World,
    provider: str,
    rec: dict,
    meta: RecordMeta,
    biz: Business,
    noiser: Noiser | None,
    i: int,
    unit: str | None,
    city: City,
    alias_counts: dict[str, int],
) -> None:
    """Append a provider record (noised, and perhaps listed twice) with its meta and truth."""
    if noiser is not None:
        meta = noiser.record(provider, rec, meta, i, biz, unit, city)
    listings = [(rec, meta)]
    if noiser is not None and (dup := noiser.duplicate(provider, rec, meta, biz, city, alias_counts)):
        listings.append(dup)
    for r, m in listings:
        world.records(provider).append(r)
        world.meta(provider).append(m)
        world.truth[(provider, r["id"])] = biz.business_id
