"""A handful of records: the prior stays small, so a shared place alone never merges different businesses."""

from __future__ import annotations

import pandas as pd

from leadlake.stages.silver.resolve import ResolveSettings, resolve
from leadlake.stages.silver.resolve.link import prior_match_probability
from leadlake.stages.silver.resolve.prepare import prepare


def _one_building() -> pd.DataFrame:
    rows = [
        ("ace", "Ace Plumbing & Heating", "+13035550199", "100 Main St"),
        ("bolt", "Bolt Electric", "+13035550102", "200 Oak St"),
        ("cedar", "Cedar Roofing", "+13035550103", "300 Elm St"),
    ]
    return pd.DataFrame(
        [
            {
                "record_id": f"yelp:{key}", "provider": "yelp", "name": name, "phone_e164": phone,
                "address_line1": street, "city": "Denver", "region": "CO", "postal": "80202",
                "country": "US", "lat": 39.74, "lon": -104.99,
            }
            for key, name, phone, street in rows
        ]
    )  # fmt: skip


def test_three_businesses_at_one_point_stay_three_leads() -> None:
    got = resolve(_one_building(), ResolveSettings())
    assert got.links["lead_id"].nunique() == 3
    assert got.pairs.empty


def test_the_prior_is_capped_on_tiny_inputs() -> None:
    cfg = ResolveSettings()
    assert prior_match_probability(prepare(_one_building(), cfg), cfg) == cfg.max_prior


def test_the_same_business_twice_still_merges_on_a_handful_of_records() -> None:
    records = _one_building()
    twin = records.iloc[[1]].assign(record_id="yelp:bolt-2", name="Bolt Electric LLC")
    got = resolve(pd.concat([records, twin], ignore_index=True), ResolveSettings())
    lead = dict(zip(got.links["record_id"], got.links["lead_id"], strict=True))
    assert lead["yelp:bolt"] == lead["yelp:bolt-2"]
    assert got.links["lead_id"].nunique() == 3


def test_unlike_names_at_one_place_need_an_identifier_to_merge() -> None:
    records = _one_building()
    # Another business in the building shares Bolt's phone (a front desk): place and phone agree, names not.
    dentist = records.iloc[[1]].assign(record_id="yelp:dentist", name="Mile High Dental Care")
    got = resolve(pd.concat([records, dentist], ignore_index=True), ResolveSettings())
    lead = dict(zip(got.links["record_id"], got.links["lead_id"], strict=True))
    assert lead["yelp:bolt"] != lead["yelp:dentist"]
    # The same unlike name with Bolt's website is a DBA listing of Bolt: the identifier agrees.
    records["website"] = [None, "https://boltelectric.com", None]
    dba = dentist.assign(website="https://boltelectric.com", record_id="yelp:bolt-dba")
    got = resolve(pd.concat([records, dba], ignore_index=True), ResolveSettings())
    lead = dict(zip(got.links["record_id"], got.links["lead_id"], strict=True))
    assert lead["yelp:bolt"] == lead["yelp:bolt-dba"]


def test_a_listing_under_the_owners_registered_name_merges_on_phone_and_address() -> None:
    """ "Green Group LLC" names no trade: at Bolt's street address with Bolt's phone it is Bolt, listed
    under its owner. With either of the two different, it stays apart (an owner's office in the building,
    a front desk's phone)."""
    records = _one_building()
    bolt = records.iloc[[1]]
    owner = bolt.assign(record_id="yelp:owner", name="Green Group LLC", address_line1="200 Oak Street")
    other_phone = owner.assign(record_id="yelp:owner-phone", phone_e164="+13035550177")
    other_street = owner.assign(record_id="yelp:owner-street", address_line1="900 Pine St")
    for extra, together in ((owner, True), (other_phone, False), (other_street, False)):
        got = resolve(pd.concat([records, extra], ignore_index=True), ResolveSettings())
        lead = dict(zip(got.links["record_id"], got.links["lead_id"], strict=True))
        assert (lead["yelp:bolt"] == lead[extra["record_id"].iloc[0]]) is together, extra["record_id"]
        assert len({lead["yelp:ace"], lead["yelp:bolt"], lead["yelp:cedar"]}) == 3
