"""Campaign specs: schema validation with errors that name the field, the typed model, and bad input
(encoding, names, crons, budgets) refused as one line naming the field and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leadlake.core.campaign import DEFAULT_MAX_COST_USD, CampaignError, campaign_files, load_campaign

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
    """The connector registry (imported by every command) checks provider names: there is no other list."""
    import leadlake.connectors.registry  # noqa: F401 - registers its campaign check

    with pytest.raises(CampaignError, match=r"sources.*'foursquare'.*google_places"):
        load_campaign(write(tmp_path, base_doc() | {"sources": ["yelp", "foursquare"]}))


AREA = {"city": "Denver", "region": "CO", "lat": 39.7, "lon": -104.9, "radius_km": 30}


@pytest.mark.parametrize(
    ("geo", "said"),
    [
        (AREA | {"radius_km": "far"}, "field 'geo.radius_km': 'far' is not of type 'number'"),
        (AREA | {"lat": 139.7}, "field 'geo.lat': 139.7 is greater than the maximum of 90"),
        (AREA | {"country": "United States"}, "a two-letter ISO 3166 country code in capitals, such as US"),
        ({"cty": "Denver", "region": "CO"}, "('cty' was unexpected) at 'geo'; allowed fields: city, country"),
        ([AREA, {"city": "Boulder", "region": "CO", "radius_km": -3}], "field 'geo.1.radius_km': -3"),
        ("Denver", "'Denver' is not an area ({city, region, country, lat, lon, radius_km}) or a list"),
    ],
)
def test_a_wrong_area_names_its_field_and_what_is_expected(tmp_path: Path, geo: object, said: str) -> None:
    """geo is one area or a list of them (oneOf): the error is the area's own, not "{...} is not valid under
    any of the given schemas" with the whole area printed."""
    with pytest.raises(CampaignError) as info:
        load_campaign(write(tmp_path, base_doc() | {"geo": geo}))
    assert said in str(info.value) and "given schemas" not in str(info.value), str(info.value)


def test_a_missing_field_is_named_with_where_and_what_is_required(tmp_path: Path) -> None:
    doc = base_doc()
    del doc["keywords"]
    with pytest.raises(CampaignError, match=r"missing field 'keywords'; required: name, vertical, geo"):
        load_campaign(write(tmp_path, doc))
    with pytest.raises(CampaignError, match=r"missing field 'city' in 'geo'; required: city, region$"):
        load_campaign(write(tmp_path, base_doc() | {"geo": {"region": "CO"}}))
    with pytest.raises(CampaignError, match=r"missing field 'type' in 'destinations.0'"):
        load_campaign(write(tmp_path, base_doc() | {"destinations": [{"min_tier": "A"}]}))


def test_a_field_with_a_pattern_says_what_it_expects(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"field 'id'.*expected a stable campaign id of 2-63 lowercase"):
        load_campaign(write(tmp_path, base_doc() | {"id": "Denver Plumbers"}))
    with pytest.raises(CampaignError, match=r"'sources.0'.*such as google_places or yelp"):
        load_campaign(write(tmp_path, base_doc() | {"sources": ["Google Places"]}))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="not found"):
        load_campaign(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaign(bad)
    # Where and what, on one line; a tab (as an editor may indent) is named with the fix.
    bad.write_text(yaml.safe_dump(base_doc()).replace("- yelp", "\t- yelp"))
    line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1) if "yelp" in ln)
    with pytest.raises(CampaignError) as info:
        load_campaign(bad)
    assert f"not valid YAML on line {line}, column 1" in str(info.value), str(info.value)
    assert "indent with spaces" in str(info.value) and "\n" not in str(info.value)


# ---- bad input: one CampaignError line naming the field and the fix ------------------------------------
def test_a_file_that_is_not_utf8_names_the_byte_and_the_fix(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    doc = base_doc() | {"name": "Caf\u00e9s of Denver"}
    text = yaml.safe_dump(doc, allow_unicode=True)
    p.write_bytes(text.encode("latin-1"))
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "Caf" in ln)
    with pytest.raises(CampaignError) as info:
        load_campaign(p)
    msg = str(info.value)
    assert "not UTF-8" in msg and "0xe9" in msg and f"line {line})" in msg and "save the file as UTF-8" in msg
    assert "\n" not in msg


def test_a_utf8_file_with_a_bom_loads(tmp_path: Path) -> None:
    p = tmp_path / "bom.yaml"
    p.write_bytes(
        b"\xef\xbb\xbf" + yaml.safe_dump(base_doc() | {"name": "Caf\u00e9s"}, allow_unicode=True).encode()
    )
    assert load_campaign(p).name == "Caf\u00e9s"


@pytest.mark.parametrize("name", ["!!!", "---", "a!!", "\u00e9\u00e9\u00e9"])
def test_a_name_that_gives_no_id_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(CampaignError, match=r"field 'name'.*set 'id'") as info:
        load_campaign(write(tmp_path, base_doc() | {"name": name}))
    assert "\n" not in str(info.value)


def test_an_explicit_id_rescues_any_name(tmp_path: Path) -> None:
    assert load_campaign(write(tmp_path, base_doc() | {"name": "!!!", "id": "bangs"})).campaign_id == "bangs"


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("61 * * * *", "out of range"),
        ("0 25 * * *", "out of range"),
        ("0 2 * * 8", "out of range"),
        ("every day", "columns"),
        ("*/0 * * * *", "step"),
        ("0 2 * * * *", "6 fields"),
        ("0 2 30 2 *", "never comes"),
        ("@continuous", "columns"),
        ("", "columns"),
    ],
)
def test_a_cron_airflow_cannot_schedule_is_refused(tmp_path: Path, cron: str, says: str) -> None:
    with pytest.raises(CampaignError) as info:
        load_campaign(write(tmp_path, base_doc() | {"schedule": {"cron": cron}}))
    msg = str(info.value)
    assert "field 'schedule.cron'" in msg and repr(cron) in msg and says in msg
    assert '"0 2 * * *"' in msg and "\n" not in msg


@pytest.mark.parametrize(
    "cron", ["30 2 * * 1", "*/15 6-18 * * MON-FRI", "@daily", "@quarterly", "@once", None]
)
def test_crons_airflow_accepts_load(tmp_path: Path, cron: str | None) -> None:
    assert load_campaign(write(tmp_path, base_doc() | {"schedule": {"cron": cron}})).cron == cron


def test_the_cron_presets_are_airflows() -> None:
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS as AIRFLOW_PRESETS

    from leadlake.core.campaign import CRON_PRESETS

    assert CRON_PRESETS == AIRFLOW_PRESETS


def test_crons_we_accept_make_an_airflow_timetable_and_those_we_refuse_do_not(tmp_path: Path) -> None:
    """The same verdict as Airflow 3.3's own CronTriggerTimetable.validate() for five-field expressions."""
    from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    for cron in ("30 2 * * 1", "@weekly", "61 * * * *", "0 2 * * 8", "every day"):
        try:
            CronTriggerTimetable(cron, timezone="UTC").validate()
            airflow_ok = True
        except AirflowTimetableInvalid:
            airflow_ok = False
        try:
            load_campaign(write(tmp_path, base_doc() | {"schedule": {"cron": cron}}))
            ours = True
        except CampaignError:
            ours = False
        assert ours == airflow_ok, cron


def test_a_campaign_without_a_budget_gets_the_default_cap(tmp_path: Path) -> None:
    spec = load_campaign(write(tmp_path, base_doc()))
    assert spec.max_cost_usd == DEFAULT_MAX_COST_USD and spec.budget_is_default
    capped = load_campaign(write(tmp_path, base_doc() | {"budget": {"max_cost_usd": 3}}))
    assert capped.max_cost_usd == 3.0 and not capped.budget_is_default


@pytest.mark.parametrize("budget", [0, -5])
def test_a_budget_must_be_positive(tmp_path: Path, budget: float) -> None:
    with pytest.raises(CampaignError, match="budget.max_cost_usd"):
        load_campaign(write(tmp_path, base_doc() | {"budget": {"max_cost_usd": budget}}))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"name: Caf\xe9\n", "not UTF-8"),
        (yaml.safe_dump(base_doc() | {"schedule": {"cron": "0 25 * * *"}}).encode(), "schedule.cron"),
        (yaml.safe_dump(base_doc() | {"name": "!!!"}).encode(), "field 'name'"),
    ],
    ids=["latin-1", "cron", "name"],
)
def test_the_cli_prints_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADLAKE_")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("leadlake")), "campaign", "validate", str(p)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    assert done.returncode != 0 and len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr
