"""The suppression list: values normalised on the way in, matched against leads by domain, phone and email."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadlake.governance.suppression import (
    Entry,
    SuppressionError,
    add,
    entries,
    normalise,
    remove,
    suppressed,
)
from leadlake.lakehouse import Lakehouse


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("email", "  Bob@Acme.COM ", "bob@acme.com"),
        ("domain", "https://www.shop.acme.co.uk/contact", "acme.co.uk"),
        ("domain", "ACME.com", "acme.com"),
        ("phone", "(303) 555-0100", "+13035550100"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
    ],
)
def test_values_are_stored_normalised(kind: str, raw: str, stored: str) -> None:
    assert normalise(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "needle"),
    [("email", "bob", "--email"), ("domain", "localhost", "--domain"), ("phone", "12", "--phone")],
)
def test_bad_values_name_the_option_and_the_fix(kind: str, raw: str, needle: str) -> None:
    with pytest.raises(SuppressionError, match=needle) as info:
        normalise(kind, raw)
    assert "expected" in str(info.value) or "e.g." in str(info.value)


def test_leads_match_by_domain_phone_email_and_email_domain() -> None:
    listed = [
        Entry("domain", "acme.com"),
        Entry("phone", "+13035550100"),
        Entry("email", "jo@jo.com"),
        Entry("domain", "mail.example"),
    ]
    leads = [
        {"lead_id": "a", "domain": "acme.com", "phone_e164": None},
        {"lead_id": "b", "domain": "other.com", "phone_e164": "+13035550100"},
        {"lead_id": "c", "domain": None, "phone_e164": None, "emails": ["JO@jo.com"]},
        {"lead_id": "d", "domain": None, "phone_e164": None, "email": "x@mail.example"},
        {"lead_id": "e", "domain": "fine.com", "phone_e164": "+13035550199", "emails": ["a@fine.com"]},
    ]
    got = suppressed(leads, listed)
    assert set(got) == {"a", "b", "c", "d"}
    assert "acme.com" in got["a"] and "phone" in got["b"] and "email" in got["c"]


def test_add_list_remove_round_trip(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    add(lake, [Entry("domain", "acme.com", "asked"), Entry("phone", "+13035550100")])
    add(lake, [Entry("domain", "acme.com", "asked twice")])  # same value: one entry, new reason
    assert [(e.kind, e.value, e.reason) for e in entries(lake)] == [
        ("domain", "acme.com", "asked twice"),
        ("phone", "+13035550100", ""),
    ]
    assert remove(lake, Entry("domain", "acme.com")) is True
    assert remove(lake, Entry("domain", "acme.com")) is False
    assert [e.value for e in entries(lake)] == ["+13035550100"]
