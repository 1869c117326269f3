"""`leadlake deliver` as a user runs it against a served sandbox CRM: a dry run, a real run, a re-run."""

from __future__ import annotations

from pathlib import Path

import httpx
from cli_support import ServedSandbox, cli, one_line_error, scratch_env
from support.pipeline import gold_leads, write_gold_leads

from leadlake.lakehouse import Lakehouse


def _crm_ids(url: str) -> set[str]:
    companies = httpx.get(f"{url}/_sandbox/crm/companies", timeout=10).json()
    rows = (
        companies if isinstance(companies, list) else companies.get("results", companies.get("companies", []))
    )
    return {c["properties"].get("leadlake_id") for c in rows}


def test_dry_run_then_deliver_then_nothing_new(tmp_path: Path, served_sandbox: ServedSandbox) -> None:
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=served_sandbox.url)
    leads = gold_leads(3)
    for lead in leads:
        lead["lead_id"] = f"cli-deliver-{lead['lead_id']}"
    write_gold_leads(Lakehouse(str(tmp_path / "lake")), leads)
    ids = {lead["lead_id"] for lead in leads}

    dry = cli("deliver", "--destination", "hubspot", "--dry-run", "--format", "csv", env=env)
    assert dry.returncode == 0, dry.stderr
    assert {line.split(",")[0] for line in dry.stdout.splitlines()[1:4]} == ids
    assert "3 would be sent" in dry.stdout
    assert not ids & _crm_ids(served_sandbox.url)

    done = cli("deliver", "--destination", "hubspot", env=env)
    assert done.returncode == 0, done.stderr
    assert "hubspot: 3 sent (3 created, 0 updated)" in done.stdout
    assert ids <= _crm_ids(served_sandbox.url)

    again = cli("deliver", "--destination", "hubspot", env=env)
    assert again.returncode == 0, again.stderr
    assert "hubspot: 0 sent" in again.stdout and "3 unchanged" in again.stdout


def test_a_provider_is_not_a_destination(tmp_path: Path) -> None:
    one_line_error(
        cli("deliver", "--destination", "yelp", env=scratch_env(tmp_path)), "yelp", "not a destination"
    )
    # A misspelt destination is named as one, with the destinations (not every provider of every kind).
    line = one_line_error(
        cli("deliver", "--destination", "hubspto", env=scratch_env(tmp_path)), "unknown destination 'hubspto'"
    )
    assert "destinations: hubspot, salesforce" in line and "yelp" not in line, line
