"""The small rules delivery's merge handling rests on: chains end at the live lead, what counts as refused."""

from __future__ import annotations

import pytest

from leadlake.connectors.destinations.hubspot import DeliveryError
from leadlake.stages.delivery.deliver import live_survivor


def test_a_chain_of_merges_ends_at_the_lead_that_still_lives() -> None:
    survivor_of = {"A": "B", "B": "C", "X": "Y"}
    assert [live_survivor(x, survivor_of) for x in ("A", "B", "C", "X", "Z")] == ["C", "C", "C", "Y", "Z"]


def test_a_loop_of_merges_stops_instead_of_spinning() -> None:
    assert live_survivor("A", {"A": "B", "B": "A"}) == "B"
    assert live_survivor("A", {"A": "A"}) == "A"


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        (400, True),
        (404, True),
        (409, True),
        (408, False),
        (429, False),
        (500, False),
        (503, False),
        (None, False),
    ],
)
def test_only_a_definite_no_from_the_crm_counts_as_refused(status: int | None, refused: bool) -> None:
    assert DeliveryError("hubspot merge failed", status).refused is refused
    assert DeliveryError("hubspot merge failed").status is None
