"""Helpers shared by test modules (import as `support.<module>`; tests/ is on sys.path via conftest)."""

import pytest

# Plain `assert`s in the helpers report their operands like assertions in test modules do.
pytest.register_assert_rewrite("support.lake")
