"""`to_properties`: a gold row as HubSpot company properties, with literal expectations."""

from __future__ import annotations

import math

import numpy as np

from leadlake.connectors.destinations.hubspot import to_properties


def test_a_full_row_maps_to_hubspot_property_names() -> None:
    lead = {
        "lead_id": "L0001",
        "name": "Ace Plumbing & Heating",
        "domain": "aceplumbing.com",
        "website": "https://www.aceplumbing.com",
        "phone_e164": "+13035550101",
        "address_line1": "1550 Larimer St",
        "city": "Denver",
        "region": "CO",
        "postal": "80202",
        "country": "US",
        "lead_score": 60,
        "priority_tier": "A",
        "score_reasons": ["+25 high rating: 4.6 from 152 reviews", "+10 direct (not toll-free) phone"],
        "providers": ["google_places", "yelp"],
        "rating": 4.6,  # not a CRM field
    }
    assert to_properties(lead) == {
        "name": "Ace Plumbing & Heating",
        "domain": "aceplumbing.com",
        "website": "https://www.aceplumbing.com",
        "phone": "+13035550101",
        "address": "1550 Larimer St",
        "city": "Denver",
        "state": "CO",
        "zip": "80202",
        "country": "US",
        "leadlake_score": "60",
        "leadlake_tier": "A",
        "leadlake_score_reasons": "+25 high rating: 4.6 from 152 reviews; +10 direct (not toll-free) phone",
        "leadlake_sources": "google_places; yelp",
    }


def test_nan_and_none_are_left_out() -> None:
    lead = {
        "name": "Bolt Electric",
        "domain": None,
        "website": math.nan,
        "phone_e164": np.float64("nan"),  # what pandas holds for a missing value in a float column
        "postal": float("nan"),
        "city": "Aurora",
        "lead_score": np.int64(15),
        "priority_tier": "C",
    }
    assert to_properties(lead) == {
        "name": "Bolt Electric",
        "city": "Aurora",
        "leadlake_score": "15",
        "leadlake_tier": "C",
    }


def test_lists_from_arrow_or_numpy_are_joined_with_semicolons() -> None:
    lead = {
        "providers": np.array(["google_places", "yelp"], dtype=object),  # a pandas cell of a list column
        "score_reasons": ("+15 website on a registered domain (cedar.com)",),
    }
    assert to_properties(lead) == {
        "leadlake_sources": "google_places; yelp",
        "leadlake_score_reasons": "+15 website on a registered domain (cedar.com)",
    }
