"""`leadlake sandbox serve`: the stand-in providers and CRM as a standalone server on 127.0.0.1."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(help="The local provider/CRM sandbox.", no_args_is_help=True)


@sandbox_app.command("serve")
def sandbox_serve(
    port: int = typer.Option(8765, help="Port on 127.0.0.1"),
    seed: int = typer.Option(42, help="World seed"),
    businesses: int = typer.Option(5000, help="Businesses in the world"),
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9, help="Share of faulty responses"),
) -> None:
    """Serve the sandbox until Ctrl-C; export LEADLAKE_SANDBOX_URL so other commands use it."""
    from leadlake.sandbox.server import serve

    serve(port=port, seed=seed, businesses=businesses, fault_rate=fault_rate)
