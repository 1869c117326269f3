"""Appendix 19.1 `if email_verified_domain: score += 15`: only a verified email on the company's own domain.

From hand-written Hunter domain-search answers in bronze, through gold's enrichment features, to the score.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from support.pipeline import at, bronze_row, land, silver_lead

from leadlake.connectors.registry import connector
from leadlake.lakehouse import Lakehouse
from leadlake.stages.gold.features import enrichment_features
from leadlake.stages.gold.score import score_lead

HUNTER_TABLE = connector("hunter").bronze_table
REASON = "+15 verified email on the company domain"


def email(value: str, status: str | None, kind: str = "generic") -> dict:
    return {"value": value, "type": kind, "confidence": 90, "verification": {"date": None, "status": status}}


def answer(domain: str, *emails: dict) -> dict:
    """A Hunter v2 domain-search `data` object (what bronze keeps per page)."""
    return {
        "domain": domain,
        "accept_all": False,
        "organization": domain.split(".")[0],
        "emails": list(emails),
    }


def page(domain: str, offset: int, *emails: dict) -> dict:
    """One page of an answer as bronze keeps it (keyed domain#offset; later pages fetched later)."""
    return bronze_row(
        "hunter", f"{domain}#{offset}", answer(domain, *emails), at(1 + offset // 100), "_enrichment"
    )


def score(lake: Lakehouse, domain: str) -> tuple[bool, int, list[str]]:
    lead = silver_lead("L1", "Some Company", website=f"https://www.{domain}", domain=domain)
    features = enrichment_features(lake, pd.DataFrame([lead])).to_dict("records")[0]
    s = score_lead(lead | features, "local_services")
    return features["email_verified_domain"], s.lead_score, s.score_reasons


@pytest.fixture
def lake(tmp_path: Path) -> Lakehouse:
    lh = Lakehouse(str(tmp_path / "lake"))
    land(
        lh,
        HUNTER_TABLE,
        [
            page("acme-plumbing.com", 0, email("info@acme-plumbing.com", "valid")),
            page(
                "bolt-electric.com",
                0,
                email("boltelectric@gmail.com", "valid", "personal"),
                email("info@bolt-electric.com", "accept_all"),
            ),
            page(
                "cedar-roofing.com",
                0,
                email("owner@cedar-roofing.com", "unknown", "personal"),
                email("info@cedar-roofing.com", "invalid"),
                email("sales@cedar-roofing.com", None),
            ),
            page("delta-hvac.com", 0, email("joe@notdelta-hvac.com", "valid", "personal")),
            page("elm-dental.com", 0, email("frontdesk@mail.elm-dental.com.evil.io", "valid")),
        ],
    )
    return lh


def test_verified_email_on_the_own_domain_scores_15(lake: Lakehouse) -> None:
    verified, total, reasons = score(lake, "acme-plumbing.com")
    assert verified is True
    assert total == 30  # +15 website on a domain, +15 verified email
    assert REASON in reasons


@pytest.mark.parametrize(
    "domain",
    [
        "bolt-electric.com",  # verified, but a webmail address; the domain's own one is only accept_all
        "cedar-roofing.com",  # own domain, but unknown / invalid / never checked
        "delta-hvac.com",  # verified, on a look-alike domain
        "elm-dental.com",  # verified, on a domain that merely contains the company's
        "fir-bakery.com",  # Hunter knows nothing about the domain
    ],
)
def test_no_verified_email_on_the_own_domain_scores_nothing(lake: Lakehouse, domain: str) -> None:
    verified, total, reasons = score(lake, domain)
    assert verified is False
    assert total == 15  # the website rule only
    assert REASON not in reasons


def test_a_verified_email_on_any_page_of_the_answer_counts(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    land(
        lake,
        HUNTER_TABLE,
        [
            page("gum-garden.com", 0, email("info@gum-garden.com", "valid")),
            page("gum-garden.com", 100, email("jo@gum-garden.com", "unknown", "personal")),
        ],
    )
    assert score(lake, "gum-garden.com")[0] is True
