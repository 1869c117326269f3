"""`leadlake suppress add|remove|list`: emails, domains and phones never to deliver."""

from __future__ import annotations

from typing import Annotated

import typer

from leadlake.cli.common import Format, console, emit, errors, fail, settings

suppress_app = typer.Typer(help="The suppression list: never deliver these.", no_args_is_help=True)

EmailOpt = Annotated[str | None, typer.Option("--email", help="An email address")]
DomainOpt = Annotated[str | None, typer.Option("--domain", help="A domain or website")]
PhoneOpt = Annotated[str | None, typer.Option("--phone", help="A phone number (E.164 or national)")]


def _entry(email: str | None, domain: str | None, phone: str | None, reason: str = "") -> object:
    from leadlake.governance.suppression import Entry, SuppressionError, normalise

    given = [(k, v) for k, v in (("email", email), ("domain", domain), ("phone", phone)) if v is not None]
    if len(given) != 1:
        fail("give exactly one of --email, --domain or --phone")
    kind, raw = given[0]
    try:
        return Entry(kind, normalise(kind, raw), reason)  # type: ignore[arg-type]
    except SuppressionError as exc:
        fail(str(exc))


@suppress_app.command("add")
def suppress_add(
    email: EmailOpt = None,
    domain: DomainOpt = None,
    phone: PhoneOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the entry)")] = "",
) -> None:
    """Add one value to the suppression list; leads with it are never sent to any destination."""
    with errors():
        from leadlake.governance.suppression import add
        from leadlake.runtime.resources import lakehouse

        entry = _entry(email, domain, phone, reason)
        add(lakehouse(settings()), [entry])  # type: ignore[list-item]
        console.print(f"suppressed {entry.kind} {entry.value}", highlight=False)  # type: ignore[attr-defined]


@suppress_app.command("remove")
def suppress_remove(email: EmailOpt = None, domain: DomainOpt = None, phone: PhoneOpt = None) -> None:
    """Remove one value from the suppression list (exit 1 when it was not on it)."""
    with errors():
        from leadlake.governance.suppression import remove
        from leadlake.runtime.resources import lakehouse

        entry = _entry(email, domain, phone)
        if not remove(lakehouse(settings()), entry):  # type: ignore[arg-type]
            fail(f"{entry.kind} {entry.value} is not on the suppression list", code=1)  # type: ignore[attr-defined]
        console.print(f"removed {entry.kind} {entry.value}", highlight=False)  # type: ignore[attr-defined]


@suppress_app.command("list")
def suppress_list(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Every suppressed value."""
    with errors():
        from leadlake.governance.suppression import entries
        from leadlake.runtime.resources import lakehouse

        rows = [
            {"kind": e.kind, "value": e.value, "reason": e.reason} for e in entries(lakehouse(settings()))
        ]
        emit(rows, fmt, title="suppression list", columns=("kind", "value", "reason"))
