"""The Destination interface's outcome pull: which destinations report outcomes, and the clear refusal of
one that does not (before the feedback stage reads or writes anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadlake.connectors.destinations.base import (
    DeliveryError,
    Destination,
    FeedbackNotSupported,
    FeedbackSource,
    pull_feedback_of,
    reports_outcomes,
)
from leadlake.connectors.destinations.files import CsvDestination
from leadlake.connectors.destinations.hubspot import HubSpotDestination
from leadlake.connectors.destinations.webhook import WebhookDestination
from leadlake.connectors.registry import connector
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CRM_OUTCOMES, OPS_WATERMARKS
from leadlake.stages.bronze.feedback import pull_feedback


def test_only_hubspot_reports_outcomes_among_the_built_in_destinations() -> None:
    assert reports_outcomes(HubSpotDestination) and reports_outcomes(connector("hubspot").load())
    assert not reports_outcomes(CsvDestination) and not reports_outcomes(WebhookDestination)


def test_a_destination_without_feedback_is_refused_by_name(tmp_path: Path) -> None:
    dest = CsvDestination(tmp_path / "out", run_id="r1")
    assert isinstance(dest, Destination) and not isinstance(dest, FeedbackSource)
    with pytest.raises(FeedbackNotSupported, match=r"destination 'csv' does not report outcomes") as info:
        pull_feedback_of(dest, None)
    assert isinstance(info.value, DeliveryError) and info.value.destination == "csv"


def test_the_stage_refuses_it_before_touching_the_lakehouse(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    with pytest.raises(FeedbackNotSupported, match="does not report outcomes"):
        pull_feedback(lake, CsvDestination(tmp_path / "out", run_id="r1"), "f1")  # type: ignore[arg-type]
    assert not lake.exists(BRONZE_CRM_OUTCOMES) and not lake.exists(OPS_WATERMARKS)
