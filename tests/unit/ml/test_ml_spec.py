"""The feature set and the label rule are data; features derive from raw lead columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadlake.ml.spec import FS1, LabelRule, build_features, label, labelled_rows


def test_features_derive_from_raw_lead_columns_and_building_twice_changes_nothing() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "rating": [4.5, None],
            "website": ["https://a.com", None],
            "categories": [np.array(["plumber", "roofer"]), None],
            "email_verified_domain": [True, None],
        }
    )
    f = build_features(leads, FS1)
    assert list(f.columns) == ["lead_id", *FS1.columns]
    assert f["has_website"].tolist() == [1.0, 0.0]
    assert f["primary_category"].tolist() == ["plumber", None]
    assert f["category_count"].tolist() == [2.0, 0.0]
    assert f["email_verified_domain"][0] == 1.0 and np.isnan(f["email_verified_domain"][1])
    assert np.isnan(f["rating"][1]) and np.isnan(f["employee_count"]).all()
    pd.testing.assert_frame_equal(build_features(f, FS1), f)


def test_label_rule_counts_positive_stages_within_the_window() -> None:
    rule = LabelRule("qualified_or_won_90d", ("qualified", "won"), 90)
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    outcomes = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "c", "d"],
            "stage": ["contacted", "Won", "qualified", "lost", "won"],
            "stage_at": [t0, t0 + pd.Timedelta(days=30), t0 + pd.Timedelta(days=120), t0, t0],
            "delivered_at": [t0] * 5,
        }
    )
    y = label(outcomes, rule)
    assert y.name == "qualified_or_won_90d"
    assert y.to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}


def test_labelled_rows_align_delivered_leads_labels_and_times() -> None:
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "rating": [4.0, 3.0, 5.0]})
    outcomes = pd.DataFrame(
        {
            "lead_id": ["b", "a", "a"],
            "stage": ["won", "contacted", "lost"],
            "stage_at": [t0 + pd.Timedelta(days=3), t0, t0 + pd.Timedelta(days=9)],
            "delivered_at": [t0 + pd.Timedelta(days=1), t0, t0],
        }
    )
    rows, y, as_of = labelled_rows(leads, outcomes)
    assert rows["lead_id"].tolist() == ["a", "b"], "c was never delivered; oldest first"
    assert y.tolist() == [0, 1] and as_of.tolist() == [t0, t0 + pd.Timedelta(days=1)]


def test_fs2_reads_lists_whole_and_whether_the_website_is_a_page_of_a_larger_site() -> None:
    from leadlake.ml.spec import FS2

    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "website": ["https://brand.com/locations/denver-3", "https://www.shop.com/", None],
            "categories": [np.array(["plumber", "establishment", "plumber"]), [], None],
            "tech_signals": [["stripe"], None, ["wix", ""]],
            "providers": [["yelp", "google_places"], ["yelp"], ["google_places"]],
        }
    )
    f = build_features(leads, FS2)
    assert list(f.columns) == ["lead_id", *FS2.columns]
    assert f["website_has_path"].iloc[:2].tolist() == [1.0, 0.0] and np.isnan(f["website_has_path"].iloc[2])
    assert f["categories"].tolist() == [["establishment", "plumber"], [], []]
    assert f["tech_signals"].tolist() == [["stripe"], [], ["wix"]]
    assert f["providers"].tolist() == [["google_places", "yelp"], ["yelp"], ["google_places"]]
    pd.testing.assert_frame_equal(build_features(f, FS2), f)


def test_a_feature_set_saved_before_multi_features_existed_loads_as_it_was() -> None:
    from leadlake.ml.spec import FS2, FeatureSet

    assert FeatureSet.from_dict(FS1.asdict()) == FS1 and "multi" not in FS1.asdict()
    assert FeatureSet.from_dict(FS2.asdict()) == FS2


def test_distance_is_to_the_nearest_centre_of_the_campaign_the_score_follows() -> None:
    from leadlake.core.campaign import Area, CampaignSpec
    from leadlake.ml.spec import campaign_distance_km, with_context

    def spec(cid: str, *centres: tuple[float, float]) -> CampaignSpec:
        areas = [Area(city="x", region="CO", lat=lat, lon=lon) for lat, lon in centres]
        return CampaignSpec(campaign_id=cid, name=cid, vertical="other", areas=areas, keywords=[], sources=[])

    campaigns = {
        "near": spec("near", (39.7392, -104.9903), (30.0, -97.0)),
        "far": spec("far", (47.6, -122.3)),
    }
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "lat": [39.7392, 39.7392, None, 30.0],
            "lon": [-104.9903, -104.9903, -104.9, -97.0],
            "scored_campaign_id": ["near", "far", "near", None],
        }
    )
    d = campaign_distance_km(leads, campaigns)
    assert d[0] == 0.0 and 1630 < d[1] < 1645, "Denver to Seattle is ~1,640 km"
    assert np.isnan(d[2]) and d[3] == 0.0, "no coordinates: NaN; no scored campaign: every centre"
    assert with_context(leads, campaigns)["distance_km"].tolist()[:2] == d.tolist()[:2]
    kept = with_context(leads.assign(distance_km=[5.0, 6.0, 7.0, 8.0]), campaigns)
    assert kept["distance_km"].tolist() == [5.0, 6.0, 7.0, 8.0], "a distance the row carries is kept"


def test_toll_free_derives_from_the_phone_as_the_adapters_type_it() -> None:
    # A CRM export carries the phone, seldom the flag: without it every past lead would read "missing"
    # while every scored lead reads 0 or 1 (train/serve skew).
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "phone_e164": ["+18005550100", "+13035550123", None, "(888) 555-0199"],
        }
    )
    f = build_features(leads, FS1)
    assert f["phone_is_toll_free"].tolist() == [1.0, 0.0, 0.0, 1.0]
    given = leads.assign(phone_is_toll_free=[False, True, False, False])  # a flag the row has wins
    assert build_features(given, FS1)["phone_is_toll_free"].tolist() == [0.0, 1.0, 0.0, 0.0]
