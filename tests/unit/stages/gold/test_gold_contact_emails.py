"""Which enrichment emails gold keeps as CRM contacts."""

from __future__ import annotations

from leadlake.stages.gold.features import FEATURES, MAX_EMAILS, contact_emails


def test_personal_verified_emails_come_first_and_invalid_ones_never() -> None:
    answers = [
        {"value": "info@acme.com", "type": "generic", "verified": True},
        {"value": "bad@acme.com", "type": "personal", "verified": False},
        {"value": "Jo@Acme.com", "type": "personal", "verified": None},
        {"value": "ann@acme.com", "type": "personal", "verified": True},
    ]
    assert contact_emails(answers) == ["ann@acme.com", "jo@acme.com", "info@acme.com"]


def test_at_most_max_emails_once_each_and_garbage_is_empty() -> None:
    many = [{"value": f"p{i}@acme.com", "type": "personal", "verified": True} for i in range(MAX_EMAILS + 3)]
    assert contact_emails(many + many) == [f"p{i}@acme.com" for i in range(MAX_EMAILS)]
    assert contact_emails(None) == [] and contact_emails("x@y.com") == [] and contact_emails([{}, 3]) == []


def test_hunter_supplies_the_emails_column() -> None:
    assert FEATURES["emails"] == ("hunter",)
