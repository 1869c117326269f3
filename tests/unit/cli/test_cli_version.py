"""`leadlake --version`: what a user asks first of any command line tool."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from leadlake.cli.app import app


def test_version_prints_the_installed_package_version_and_exits_0() -> None:
    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"leadlake {version('leadlake')}"
    # The option lives beside the commands, not instead of them.
    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0 and "--version" in listed.output and "resolve" in listed.output
