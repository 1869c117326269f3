"""The ml tests' fixtures (their helpers are in ml_support)."""

from __future__ import annotations

import pytest
from ml_support import Labelled, synthetic_leads


@pytest.fixture(scope="session")
def labelled() -> Labelled:
    return synthetic_leads()
