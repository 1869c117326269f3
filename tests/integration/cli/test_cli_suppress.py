"""`leadlake suppress` as a user types it: add, list (piped as CSV), remove, and one-line errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cli_support import cli, one_line_error, scratch_env


def test_add_list_remove_from_another_folder(tmp_path: Path) -> None:
    env = scratch_env(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["--email", "Bob@Acme.com", "--reason", "opt-out"], ["--domain", "www.spam.io"]):
        done = cli("suppress", "add", *args, env=env, cwd=elsewhere)
        assert done.returncode == 0, done.stderr
    listed = cli("suppress", "list", "--format", "csv", env=env, cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert "\r" not in listed.stdout
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["kind"], r["value"], r["reason"]) for r in rows] == [
        ("domain", "spam.io", ""),
        ("email", "bob@acme.com", "opt-out"),
    ]
    assert cli("suppress", "remove", "--domain", "spam.io", env=env).returncode == 0
    one_line_error(
        cli("suppress", "remove", "--domain", "spam.io", env=env), "not on the suppression list", code=1
    )


def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    env = scratch_env(tmp_path)
    # The fix is said in words a masked log line keeps readable (no "+1******0100", "n***@domain.tld").
    line = one_line_error(cli("suppress", "add", "--phone", "12", env=env), "--phone", "country code")
    assert "*" not in line, line
    line = one_line_error(cli("suppress", "add", "--email", "bob", env=env), "--email", "example.com")
    assert "*" not in line, line
    one_line_error(
        cli("suppress", "add", "--email", "a@b.com", "--phone", "+13035550100", env=env), "exactly one"
    )
    listed = cli("suppress", "list", "--format", "json", env=env)
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"
