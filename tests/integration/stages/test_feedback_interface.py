"""HubSpot's `pull_feedback` (the Destination interface's outcome pull) against a real in-process sandbox:
it pages through the search API at its real page size and honours `since` on hs_lastmodifieddate."""

from __future__ import annotations

from datetime import UTC, datetime

from leadlake.connectors.destinations.base import FeedbackSource
from leadlake.connectors.destinations.hubspot import BATCH_LIMIT, MODIFIED, SEARCH_PAGE, HubSpotDestination
from leadlake.sandbox.server import SandboxKeys, SandboxServer

TOKEN = SandboxKeys().hubspot


def _deliver(dest: HubSpotDestination, prefix: str, n: int) -> set[str]:
    leads = [{"lead_id": f"{prefix}{i}", "name": f"Business {prefix}{i}", "city": "Denver"} for i in range(n)]
    ids: set[str] = set()
    for start in range(0, n, BATCH_LIMIT):
        ids |= set(dest.upsert(leads[start : start + BATCH_LIMIT]).crm_ids.values())
    return ids


def _stamp(company: dict) -> datetime:
    return datetime.fromisoformat(company["properties"][MODIFIED].replace("Z", "+00:00")).astimezone(UTC)


def test_hubspot_pull_feedback_pages_and_honours_since() -> None:
    with SandboxServer(seed=4, businesses=50) as server:
        dest = HubSpotDestination(TOKEN, server.url, max_retries=2)
        assert isinstance(dest, FeedbackSource)
        early = _deliver(dest, "early-", 120)
        server.advance(30)  # later writes carry a later hs_lastmodifieddate (the CRM's clock moved on)
        late = _deliver(dest, "late-", 130)

        everything = list(dest.pull_feedback())
        assert len(everything) == len(early) + len(late) > SEARCH_PAGE  # more than one page, none twice
        assert {c["id"] for c in everything} == early | late
        stamps = [_stamp(c) for c in everything]
        assert stamps == sorted(stamps)  # oldest change first

        since = min(_stamp(c) for c in everything if c["id"] in late)
        recent = list(dest.pull_feedback(since))
        assert {c["id"] for c in recent} == {c["id"] for c in everything if _stamp(c) >= since}
        assert late <= {c["id"] for c in recent} and not early <= {c["id"] for c in recent}
        assert list(dest.pull_changes(since)) == recent  # the former name answers the same
