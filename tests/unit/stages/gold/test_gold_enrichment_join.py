"""Gold joins a lead to the PDL answer it was given: by domain, or by name and region for a lead without a
website, even when PDL knows the company's domain and keys its record by it.

Before, a lead found by name (a Yelp lead: Yelp shows no website) lost its answer's size, industry and
technologies: the record was keyed by PDL's domain, which the lead does not have.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support.pipeline import at, bronze_row, land, silver_lead

from leadlake.connectors.registry import connector
from leadlake.lakehouse import Lakehouse
from leadlake.stages.gold.features import enrichment_features

PDL_TABLE = connector("pdl").bronze_table


def company(pdl_id: str, name: str, website: str | None, employees: int, region: str = "colorado") -> dict:
    """A PDL company-enrich answer (the fields gold reads)."""
    return {
        "id": pdl_id,
        "name": name.lower(),
        "display_name": name,
        "website": website,
        "size": "11-50",
        "employee_count": employees,
        "industry": "construction",
        "founded": 2004,
        "tags": ["plumbing", "google analytics"],
        "location": {"locality": "denver", "region": region},
    }


@pytest.fixture
def lake(tmp_path: Path) -> Lakehouse:
    lh = Lakehouse(str(tmp_path / "lake"))
    rows = [
        company("p-acme", "Acme Plumbing", "acme-plumbing.com", 23),
        company("p-bolt", "Bolt Electric", None, 7),  # PDL knows no website: keyed by name
        company("p-bolt-2", "Bolt Electric", "boltelectric.com", 55),  # the same name, keyed by its domain
        company("p-cedar", "Cedar Roofing", "cedar-roofing.com", 41, region="texas"),
        # Two Delta companies: a lead with a domain joins on it, one without on its name.
        company("p-delta-1", "Delta HVAC", "delta-hvac-denver.com", 12),
        company("p-delta-2", "Delta Heating", "deltahvac.com", 90),
    ]
    land(
        lh,
        PDL_TABLE,
        [bronze_row("pdl", r["id"], r, at(1), "_enrichment") for r in rows],
    )
    return lh


def features(lake: Lakehouse, *leads: dict) -> dict[str, dict]:
    out = enrichment_features(lake, pd.DataFrame(list(leads)))
    return {r["lead_id"]: r for r in out.to_dict("records")}


def test_a_lead_without_a_website_gets_the_answer_found_by_its_name(lake: Lakehouse) -> None:
    got = features(
        lake,
        silver_lead("L1", "Acme Plumbing LLC"),  # no website: asked PDL by name, PDL answered with its domain
        silver_lead("L2", "Acme Plumbing", website="https://acme-plumbing.com/"),
        silver_lead("L3", "Bolt Electric"),
    )
    assert got["L1"]["employee_count"] == 23 and got["L1"]["industry"] == "construction"
    assert got["L1"]["tech_signals"] == ["google analytics"]
    assert got["L2"]["employee_count"] == 23
    assert got["L3"]["employee_count"] == 7  # a record's own key wins over another's name


def test_the_name_key_stays_in_its_region_and_a_lead_with_a_domain_joins_on_it(lake: Lakehouse) -> None:
    got = features(
        lake,
        silver_lead("L1", "Cedar Roofing"),  # Denver, CO: PDL's Cedar Roofing is in Texas
        silver_lead("L2", "Cedar Roofing", region="TX"),
        silver_lead("L3", "Delta Heating", website="deltahvac.com"),  # its own domain decides
        silver_lead("L4", "Delta HVAC"),
    )
    assert got["L1"]["employee_count"] is None or pd.isna(got["L1"]["employee_count"])
    assert got["L2"]["employee_count"] == 41
    assert got["L3"]["employee_count"] == 90
    assert got["L4"]["employee_count"] == 12
