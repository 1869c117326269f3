"""gold.lead_features rows: one per lead and feature set, built by the feature set's own code with the
campaign context, MERGEd on (lead_id, feature_set_version) and read back as the model gets them; and
gold.score_drift rows from a PSI table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support.pipeline import DENVER, campaign, silver_lead

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_LEAD_FEATURES, GOLD_SCORE_DRIFT
from leadlake.ml.spec import DEFAULT_FEATURE_SET, FEATURE_SETS, build_features
from leadlake.stages.gold.drift import drift_rows, publish_drift
from leadlake.stages.gold.lead_features import (
    features_schema,
    lead_features,
    publish_features,
    read_features,
)

CAMPAIGNS = {"denver_home_services": campaign("denver_home_services", "local_services", areas=(DENVER,))}


def rows() -> pd.DataFrame:
    """Gold's joined rows for three leads: one at the campaign centre, one 0.1 deg north, one nowhere."""
    leads = [
        silver_lead(
            "A",
            "Ace",
            lat=DENVER.lat,
            lon=DENVER.lon,
            website="https://ace.com",
            domain="ace.com",
            rating=4.5,
        ),
        silver_lead("B", "Bolt", lat=DENVER.lat + 0.1, lon=DENVER.lon, phone_e164="+13035550102"),
        silver_lead("C", "Cedar", categories=["roofer", "plumber"]),
    ]
    frame = pd.DataFrame(leads)
    frame["vertical"] = "local_services"
    frame["scored_campaign_id"] = "denver_home_services"
    return frame


def test_one_row_per_lead_and_feature_set_with_the_campaign_context() -> None:
    sets = list(FEATURE_SETS.values())
    out = lead_features(rows(), CAMPAIGNS, sets, "run-1")
    assert list(out.columns) == features_schema().names
    assert len(out) == 3 * len(sets)
    assert not out.duplicated(["lead_id", "feature_set_version"]).any()
    mine = out[out["feature_set_version"] == DEFAULT_FEATURE_SET.version].set_index("lead_id")
    assert mine.loc["A", "distance_km"] == pytest.approx(0.0, abs=1e-6)
    assert mine.loc["B", "distance_km"] == pytest.approx(11.1, abs=0.1)  # 0.1 degree of latitude
    assert pd.isna(mine.loc["C", "distance_km"])  # no coordinates
    assert mine.loc["A", "has_website"] == 1.0 and mine.loc["B", "has_phone"] == 1.0
    assert set(out["run_id"]) == {"run-1"} and set(out["scored_campaign_id"]) == {"denver_home_services"}


def test_the_rows_read_back_are_what_the_model_builds_from_the_leads(tmp_path: Path) -> None:
    """No train/serve skew: the table's rows, read back, are the feature set's own features of the leads."""
    lake = Lakehouse(str(tmp_path / "lake"))
    fs = DEFAULT_FEATURE_SET
    built = lead_features(rows(), CAMPAIGNS, [fs], "run-1")
    publish_features(lake, built, [fs])
    back, version = read_features(lake, fs)
    assert version == 0 and list(back.columns) == ["lead_id", *fs.columns]
    again = build_features(back, fs)  # building from built features changes nothing
    want = build_features(built, fs)
    pd.testing.assert_frame_equal(
        again.sort_values("lead_id").reset_index(drop=True).astype(object).where(again.notna(), None),
        want.sort_values("lead_id").reset_index(drop=True).astype(object).where(want.notna(), None),
        check_dtype=False,
    )


def test_a_second_run_merges_on_lead_and_feature_set(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    fs = DEFAULT_FEATURE_SET
    publish_features(lake, lead_features(rows(), CAMPAIGNS, [fs], "run-1"), [fs])
    changed = rows()
    changed.loc[0, "rating"] = 3.0
    publish_features(lake, lead_features(changed, CAMPAIGNS, [fs], "run-2"), [fs])
    table = lake.read(GOLD_LEAD_FEATURES).to_pandas().set_index("lead_id")
    assert len(table) == 3 and table.loc["A", "rating"] == 3.0
    # run_id says which run last changed a row: the unchanged leads keep run-1 (and are not rewritten).
    assert table["run_id"].to_dict() == {"A": "run-2", "B": "run-1", "C": "run-1"}
    back, _ = read_features(lake, fs, lead_ids=["A"])
    assert back["lead_id"].tolist() == ["A"]


def test_drift_rows_of_one_run(tmp_path: Path) -> None:
    psi = pd.DataFrame({"feature": ["rating", "lead_score"], "psi": [0.31, 0.05], "flagged": [True, False]})
    table = drift_rows(psi, run_id="r1", model_version="xgb-fs9-v3", champion_version="3", leads=40)
    assert table.num_rows == 2
    lake = Lakehouse(str(tmp_path / "lake"))
    publish_drift(lake, table)
    assert publish_drift(lake, table.slice(0, 0)) is None  # nothing to write, no commit
    got = {r["feature"]: r for r in lake.read(GOLD_SCORE_DRIFT).to_pylist()}
    assert got["rating"]["flagged"] and not got["lead_score"]["flagged"]
    assert got["rating"]["threshold"] == 0.2 and got["rating"]["leads"] == 40
    assert lake.version(GOLD_SCORE_DRIFT) == 0
