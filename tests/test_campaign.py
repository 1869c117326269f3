"""Campaign specs: schema validation with errors that name the field, and the typed model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leadlake.core.campaign import CampaignError, campaign_files, load_campaign

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def base_doc() -> dict:
    return {
        "name": "Denver plumbers",
        "vertical": "local_services",
        "geo": {"city": "Denver", "region": "CO", "lat": 39.7, "lon": -104.9, "radius_km": 30},
        "keywords": ["plumber"],
        "sources": ["google_places", "yelp"],
    }


def test_shipped_campaigns_are_valid() -> None:
    files = campaign_files(ROOT / "campaigns")
    assert files, "the repo ships example campaigns"
    ids = [load_campaign(p).campaign_id for p in files]
    assert len(ids) == len(set(ids))


def test_minimal_campaign_gets_defaults(tmp_path: Path) -> None:
    spec = load_campaign(write(tmp_path, base_doc()))
    assert spec.campaign_id == "denver_plumbers"
    assert spec.areas[0].country == "US" and spec.areas[0].radius_km == 30
    assert spec.destinations == [] and spec.cron == "0 2 * * *"


def test_geo_list_gives_several_areas(tmp_path: Path) -> None:
    doc = base_doc() | {"geo": [{"city": "Austin", "region": "TX"}, {"city": "Dallas", "region": "TX"}]}
    assert [a.city for a in load_campaign(write(tmp_path, doc)).areas] == ["Austin", "Dallas"]


def test_unknown_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"keywrds.*allowed fields"):
        load_campaign(write(tmp_path, base_doc() | {"keywrds": ["x"]}))


def test_unknown_provider_is_named(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"sources\.1.*'foursquare'.*google_places"):
        load_campaign(write(tmp_path, base_doc() | {"sources": ["yelp", "foursquare"]}))


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    doc = base_doc()
    doc["geo"]["radius_km"] = "far"
    with pytest.raises(CampaignError, match="geo"):
        load_campaign(write(tmp_path, doc))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="not found"):
        load_campaign(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaign(bad)
