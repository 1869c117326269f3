"""A campaign's per-destination field mapping is checked when the campaign loads: a missing file, an
unknown key, a bad field rule or a destination without mappings is one CampaignError naming
`destinations[i].mapping` and the fix; a good file or inline mapping loads (files as absolute paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

import leadlake.connectors.registry  # noqa: F401 - registers the campaign checks (providers, mappings)
from leadlake.connectors.destinations.salesforce import SalesforceDestination
from leadlake.core.campaign import CampaignError, load_campaign

HEAD = (
    "name: Mapped\nid: mapped\nvertical: local_services\ngeo: {city: Denver, region: CO, country: US}\n"
    "keywords: [plumber]\nsources: [yelp]\ndestinations:\n"
)


def write(folder: Path, destinations: str) -> Path:
    path = folder / "campaign.yaml"
    path.write_text(HEAD + destinations)
    return path


def test_a_mapping_file_next_to_the_campaign_and_an_inline_mapping_load(tmp_path: Path) -> None:
    (tmp_path / "sf.yaml").write_text(
        "object: Lead\nexternal_id: {column: lead_id, field: LeadLake_Id__c}\n"
        "fields: {name: Company, phone_e164: Phone}\nconstants: {LastName: x}\n"
    )
    spec = load_campaign(
        write(
            tmp_path,
            "  - {type: salesforce, min_tier: B, mapping: sf.yaml}\n"
            "  - {type: csv, mapping: {columns: {phone_e164: null, vertical: {column: trade}}}}\n",
        )
    )
    sf, csv = spec.destinations
    assert (sf.min_tier, sf.mapping) == ("B", str((tmp_path / "sf.yaml").resolve()))
    assert SalesforceDestination.load_mapping(sf.mapping).target_fields() == [
        "LeadLake_Id__c",
        "Company",
        "Phone",
        "LastName",
    ]
    assert csv.mapping == {"columns": {"phone_e164": None, "vertical": {"column": "trade"}}}


@pytest.mark.parametrize(
    ("destinations", "needles"),
    [
        (
            "  - {type: salesforce, mapping: nowhere.yaml}\n",
            ["'destinations[0].mapping'", "nowhere.yaml", "not a file", "relative to the campaign file"],
        ),
        (
            "  - {type: salesforce, mapping: {feilds: {name: Company}}}\n",
            ["'destinations[0].mapping' (salesforce)", "unknown key(s) feilds", "takes object"],
        ),
        (
            "  - {type: csv}\n"
            "  - {type: salesforce, mapping: {fields: {lead_score: {field: X__c, type: date}}}}\n",
            ["'destinations[1].mapping' (salesforce)", "type must be string or number", "fix the mapping"],
        ),
        (
            "  - {type: csv, mapping: {columns: {name: leadlake_run_id}}}\n",
            ["'destinations[0].mapping' (csv)", "reserved for leadlake's own column"],
        ),
        (
            "  - {type: webhook, mapping: 42}\n",
            ["'destinations.0.mapping'", "is not of type 'string', 'object'", "or the fields inline"],
        ),
    ],
)
def test_a_bad_mapping_names_the_field_and_the_fix(tmp_path: Path, destinations: str, needles: list) -> None:
    with pytest.raises(CampaignError) as err:
        load_campaign(write(tmp_path, destinations))
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_mapping_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("fields: [unclosed\n")
    with pytest.raises(CampaignError) as err:
        load_campaign(write(tmp_path, "  - {type: salesforce, mapping: broken.yaml}\n"))
    assert "'destinations[0].mapping' (salesforce)" in str(err.value)
    assert "broken.yaml: not valid YAML" in str(err.value)
