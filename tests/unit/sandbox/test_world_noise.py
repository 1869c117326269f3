"""The sandbox world's NoiseProfile: each phenomenon appears at about its rate, and the truth stays right."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict

import pytest

from leadlake.connectors.sources.google_places import GooglePlace, GooglePlacesAdapter
from leadlake.connectors.sources.yelp import YelpAdapter, YelpBusiness
from leadlake.sandbox.world import GOOGLE, YELP, NoiseProfile, World, haversine_m

N = 4000
PROFILE = NoiseProfile()


def _dump(world: World) -> str:
    return json.dumps(
        {
            "businesses": [asdict(b) for b in world.businesses],
            "google": world.google_places,
            "yelp": world.yelp_businesses,
            "truth": sorted([*k, v] for k, v in world.truth.items() if k[1] is not None),
            "records": sorted([*k, sorted(v)] for k, v in world.record_noise.items()),
        },
        sort_keys=True,
    )


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=13, businesses=N, noise=PROFILE)


def _records(world: World) -> dict[tuple[str, str], dict]:
    return {(p, r["id"]): r for p in (GOOGLE, YELP) for r in world.records(p) if r.get("id")}


def _tagged(world: World, tag: str, provider: str | None = None) -> int:
    return sum(tag in t and (provider is None or k[0] == provider) for k, t in world.record_noise.items())


def _business_tagged(world: World, tag: str) -> list[str]:
    return [b for b, t in world.business_noise.items() if tag in t]


def _about(observed: float, expected: float) -> bool:
    return 0.6 * expected <= observed <= 1.5 * expected


def test_noise_is_deterministic_per_seed() -> None:
    a = World.generate(seed=5, businesses=600, noise=PROFILE)
    assert _dump(a) == _dump(World.generate(seed=5, businesses=600, noise=PROFILE))
    assert _dump(a) != _dump(World.generate(seed=6, businesses=600, noise=PROFILE))


def test_off_profile_is_the_default_world() -> None:
    plain = World.generate(seed=5, businesses=600)
    assert plain.noise == NoiseProfile.off() and not plain.record_noise and not plain.business_noise
    assert _dump(plain) == _dump(World.generate(seed=5, businesses=600, noise=NoiseProfile.off()))


def test_profile_validates_and_scales() -> None:
    with pytest.raises(ValueError):
        NoiseProfile(typo=1.5)
    assert NoiseProfile().scaled(2).typo == pytest.approx(2 * NoiseProfile().typo)
    assert NoiseProfile().scaled(100).moved == 1.0
    assert not NoiseProfile.off().active and NoiseProfile().active


def test_defaults_are_realistic_not_a_torture_test() -> None:
    p = NoiseProfile()
    assert all(
        0 < getattr(p, f) <= 0.06 for f in asdict(p) if f not in ("chain_shared_contact", "suite_line1")
    )


@pytest.mark.parametrize(
    ("tag", "rate"),
    [
        ("name_variant", PROFILE.name_variant),
        ("typo", PROFILE.typo),
        ("dba", PROFILE.dba),
        ("stale_phone", PROFILE.stale_phone),
        ("missing_phone", PROFILE.missing_phone),
        ("missing_coordinates", PROFILE.missing_coordinates),
    ],
)
def test_record_phenomena_follow_their_rates(world: World, tag: str, rate: float) -> None:
    records = len(world.google_places) + len(world.yelp_businesses)
    dups = _tagged(world, "duplicate") // 2  # a second listing draws its own variant; do not count those
    assert _about(_tagged(world, tag) - dups * rate, records * rate), (tag, _tagged(world, tag))


def test_provider_only_phenomena_follow_their_rates(world: World) -> None:
    assert _about(
        _tagged(world, "missing_website", GOOGLE), len(world.google_places) * PROFILE.missing_website
    )
    assert _about(
        _tagged(world, "missing_address", YELP), len(world.yelp_businesses) * PROFILE.missing_address
    )
    assert _tagged(world, "missing_website", YELP) == _tagged(world, "missing_address", GOOGLE) == 0
    clean = [r for r in world.yelp_businesses if isinstance(r["location"], dict)]
    with_suite = sum(1 for r in clean if r["location"]["address2"]) + _tagged(world, "suite_line1", YELP)
    assert _about(_tagged(world, "suite_line1", YELP), with_suite * PROFILE.suite_line1)


def test_records_show_their_phenomena(world: World) -> None:
    by_key = _records(world)
    for (provider, key), tags in world.record_noise.items():
        rec = by_key.get((provider, key))
        if rec is None or (provider, key) in world.malformed:
            continue
        if "missing_address" in tags:
            assert rec["location"]["address1"] == "" and rec["location"]["address2"] == ""
        elif "suite_line1" in tags and provider == YELP:
            assert rec["location"]["address2"] == "" and (
                "Ste " in rec["location"]["address1"] or "#" in rec["location"]["address1"]
            )
        elif "suite_line1" in tags:
            assert not any("subpremise" in c["types"] for c in rec["addressComponents"])
        if "missing_phone" in tags and "stale_phone" not in tags:
            assert not (rec.get("internationalPhoneNumber") if provider == GOOGLE else rec["phone"])
        if "dba" in tags:
            name = rec["displayName"]["text"] if provider == GOOGLE else rec["name"]
            assert " LLC" in name


def test_duplicate_listings_map_to_one_business(world: World) -> None:
    by_biz: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (provider, key), business_id in world.truth.items():
        if "duplicate" in world.record_noise.get((provider, key), ()):
            by_biz[(provider, business_id)].append(key)
    assert by_biz and all(len(keys) == 2 for keys in by_biz.values())
    listed = sum(len(world.records(p)) for p in (GOOGLE, YELP)) - len(by_biz)
    assert _about(len(by_biz), listed * PROFILE.duplicate)
    assert len(world.truth) == len(world.google_places) + len(world.yelp_businesses)
    yelp_aliases = [r["alias"] for r in world.yelp_businesses]
    assert len(set(yelp_aliases)) == len(yelp_aliases)


def test_chain_branches_share_contacts_but_stay_distinct(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    shared = [by_id[b] for b in _business_tagged(world, "chain_shared")]
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for b in shared:
        groups[(b.chain, b.city)].append(b)
    multi = [bs for bs in groups.values() if len(bs) > 1]
    assert multi
    for bs in multi:
        assert len({b.phone for b in bs}) == 1 and len({b.website for b in bs}) == 1
        assert len({b.business_id for b in bs}) == len(bs)
        assert len({b.address_line1 for b in bs}) == len(bs)
    chains = [b for b in world.businesses if b.chain]
    assert 0.3 <= len(shared) / len(chains) <= 0.7


def test_franchisees_share_a_brand_not_an_owner(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    fr = [by_id[b] for b in _business_tagged(world, "franchise")]
    non_chain = sum(1 for b in world.businesses if not b.chain)
    assert _about(len(fr), non_chain * PROFILE.franchise)
    by_name: dict[str, list] = defaultdict(list)
    for b in fr:
        by_name[b.name].append(b)
    same = [bs for bs in by_name.values() if len(bs) > 1]
    assert same
    for bs in same:
        phones = [b.phone for b in bs if b.phone]
        assert len(set(phones)) == len(phones) and len({b.business_id for b in bs}) == len(bs)


def test_co_located_businesses_are_distinct_at_one_address(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    co = [by_id[b] for b in _business_tagged(world, "co_located")]
    buildings: dict[tuple[str, str, str], list] = defaultdict(list)
    for b in co:
        line = b.address_line1
        for kind in ("Suite", "Unit", "Ste"):
            if f" {kind} " in line:
                line = line.split(f" {kind} ")[0]
        buildings[(line, b.city, b.postal)].append(b)
    shared = [bs for bs in buildings.values() if len(bs) > 1]
    assert shared and _about(len(co) - len(shared), N * PROFILE.co_located)
    for bs in shared:
        assert len({b.business_id for b in bs}) == len(bs) and len({b.category for b in bs}) > 1
        assert max(haversine_m(bs[0].lat, bs[0].lon, b.lat, b.lon) for b in bs) < 20
    assert any(len({b.phone for b in bs}) < len(bs) for bs in shared)  # sometimes one phone for the building


def test_moved_business_is_stale_in_exactly_one_provider(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    moved = _business_tagged(world, "moved")
    assert _about(len(moved), N * PROFILE.moved)
    stale = [(k, world.truth[k]) for k, t in world.record_noise.items() if "moved" in t and k in world.truth]
    assert stale
    by_key = _records(world)
    for (provider, key), business_id in stale:
        rec, biz = by_key.get((provider, key)), by_id[business_id]
        if rec is None or (provider, key) in world.malformed:
            continue
        assert "moved" in world.business_noise[business_id]
        pos = rec["location"] if provider == GOOGLE else rec["coordinates"]
        if "missing_coordinates" not in world.record_noise[(provider, key)]:
            assert haversine_m(pos["latitude"], pos["longitude"], biz.lat, biz.lon) > 300
    providers_per_biz = Counter(world.truth[k] for k, t in world.record_noise.items() if "moved" in t)
    assert all(n <= 2 for n in providers_per_biz.values())  # one provider (and perhaps its second listing)


def test_name_variants_cover_every_kind(world: World) -> None:
    by_id = {b.business_id: b for b in world.businesses}
    kinds: Counter[str] = Counter()
    for p in (GOOGLE, YELP):
        for r in world.records(p):
            key = (p, r.get("id"))
            if "name_variant" not in world.record_noise.get(key, ()) or key in world.malformed:
                continue
            name = r["displayName"]["text"] if p == GOOGLE else r["name"]
            truth = by_id[world.truth[key]].name
            kinds["abbreviation"] += any(a in name for a in ("St.", "Mt.", "Bros.", "Intl", "Assoc.", "Ctr."))
            kinds["and"] += (" and " in name) != (" and " in truth)
            kinds["suffix"] += any(s in name for s in ("LLC", "Inc.", "Corp.", "DDS", "PC", "LLP")) != any(
                s in truth for s in ("LLC", "Inc.", "Corp.", "DDS", "PC", "LLP")
            )
    assert all(kinds[k] > 0 for k in ("abbreviation", "and", "suffix")), kinds
    typos = [k for k, t in world.record_noise.items() if "typo" in t]
    assert typos


def test_every_clean_payload_stays_valid_for_the_adapters(world: World) -> None:
    for provider, model, adapter in (
        (GOOGLE, GooglePlace, GooglePlacesAdapter),
        (YELP, YelpBusiness, YelpAdapter),
    ):
        for rec in world.records(provider):
            if rec.get("id") is None or (provider, rec["id"]) in world.malformed:
                continue
            model.model_validate(rec)
            sr = adapter.normalize(rec)
            assert sr.record_id == f"{provider}:{rec['id']}" and sr.lat is not None and sr.name


def test_truth_is_consistent(world: World) -> None:
    by_id = {b.business_id for b in world.businesses}
    assert set(world.truth.values()) <= by_id
    keys = [k for k in world.truth if k[1] is not None]
    assert len(keys) == len(set(keys))
    # Every record's meta points at the business the truth names.
    for provider in (GOOGLE, YELP):
        for rec, meta in zip(world.records(provider), world.meta(provider), strict=True):
            if rec.get("id"):
                assert world.truth[(provider, rec["id"])] == world.businesses[meta.business_index].business_id


def test_independent_businesses_never_share_a_domain() -> None:
    """A name taken in another city gets its own domain (city, then a number), as a second registrant's
    would: at 40,000 businesses names repeat hundreds of times. Chains and franchisees still share their
    brand's site (the tests above)."""
    world = World.generate(seed=5, businesses=40_000, noise=PROFILE)
    owners: dict[str, set[str]] = defaultdict(set)
    names: Counter[str] = Counter()
    for biz in world.businesses:
        if biz.chain is None and biz.website:
            host = biz.website.split("/")[2].removeprefix("www.")
            if biz.website.count("/") == 2:  # a site of its own, not a page of a brand's site
                owners[host].add(biz.business_id)
                names[biz.name] += 1
    assert max(len(ids) for ids in owners.values()) == 1
    assert names.most_common(1)[0][1] > 50  # the names do repeat: the rule was needed
