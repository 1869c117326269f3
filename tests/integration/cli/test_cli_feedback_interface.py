"""`leadlake feedback pull --destination X` for a destination without an outcome pull: one clear line."""

from __future__ import annotations

from pathlib import Path

from cli_support import cli, one_line_error, scratch_env


def test_a_destination_that_does_not_report_outcomes_is_refused(tmp_path: Path) -> None:
    one_line_error(
        cli("feedback", "pull", "--destination", "csv", env=scratch_env(tmp_path)),
        "'csv' does not report outcomes",
        "hubspot",
    )
