"""The `leadlake` command line: one Typer app, one module per noun."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from leadlake.cli import airflow, bench, delivery, lake, ml, resolve, run
from leadlake.cli.campaign import campaign_app
from leadlake.cli.config import config_app
from leadlake.cli.feedback import feedback_app
from leadlake.cli.sandbox import sandbox_app
from leadlake.cli.suppress import suppress_app

app = typer.Typer(
    help="leadlake: provider APIs -> bronze/silver/gold Delta tables -> CRM.", no_args_is_help=True
)


def _version(value: bool) -> None:
    """`leadlake --version`: the installed package's version, then exit."""
    if value:
        from importlib.metadata import version

        typer.echo(f"leadlake {version('leadlake')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print leadlake's version and exit."
        ),
    ] = False,
) -> None:
    """leadlake: provider APIs -> bronze/silver/gold Delta tables -> CRM."""


app.command()(run.demo)
app.command()(run.run)
app.command()(lake.tables)
app.command()(lake.sql)
app.command()(resolve.resolve)
app.command()(delivery.deliver)
app.command()(delivery.replay)
app.command()(bench.bench)
app.command()(airflow.airflow)
app.command()(ml.train)
app.command()(ml.score)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(config_app, name="config")
app.add_typer(campaign_app, name="campaign")
app.add_typer(suppress_app, name="suppress")
app.add_typer(feedback_app, name="feedback")


def _one_line_paragraphs(t: typer.Typer) -> None:
    """Each command's docstring as its help with every paragraph on one line: Typer keeps the line breaks of
    the paragraphs after the first, so `--help` would break sentences mid-line at the docstring's width."""
    import inspect

    for info in t.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))
    for group in t.registered_groups:
        if group.typer_instance is not None:
            _one_line_paragraphs(group.typer_instance)


_one_line_paragraphs(app)


def main(argv: list[str] | None = None) -> Callable[..., Any]:
    return app(argv)
