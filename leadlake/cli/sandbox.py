"""`leadlake sandbox serve`: the stand-in providers and CRM as a standalone server on 127.0.0.1;
`leadlake sandbox history`: a CRM export of past leads and their outcomes, to train a first model from."""

from __future__ import annotations

import errno
from pathlib import Path

import typer

from leadlake.cli.common import console, errors, fail, settings

sandbox_app = typer.Typer(help="The local provider/CRM sandbox.", no_args_is_help=True)


@sandbox_app.command("serve")
def sandbox_serve(
    port: int = typer.Option(8765, min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)"),
    seed: int = typer.Option(None, help="World seed [default: LEADLAKE_SANDBOX_SEED, 42]"),
    businesses: int = typer.Option(
        None, min=10, help="Businesses in the world [default: LEADLAKE_SANDBOX_BUSINESSES, 5000]"
    ),
    fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=0.9, help="Share of faulty responses"),
    state: Path = typer.Option(
        None,
        "--state",
        dir_okay=False,
        help="JSON file the CRM loads on start and saves after each write (companies, their lives, clock)",
    ),
) -> None:
    """Serve the sandbox until Ctrl-C; export LEADLAKE_SANDBOX_URL so other commands use it.

    The world defaults to the one `leadlake run` and `demo` would start (the same seed and size settings),
    so a run against this server lands the same records as one that starts its own sandbox.
    """
    with errors():
        from leadlake.runtime.resources import sandbox_world
        from leadlake.sandbox.server import serve

        s = settings()
        if seed is not None:
            s = s.model_copy(update={"sandbox_seed": seed})
        if businesses is not None:
            s = s.model_copy(update={"sandbox_businesses": businesses})
        try:
            serve(
                port=port,
                seed=s.sandbox_seed,
                businesses=s.sandbox_businesses,
                fault_rate=fault_rate,
                state_path=state,
                world=sandbox_world(s),
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                fail(
                    f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): choose another --port, or --port 0"
                )
            raise
        except ValueError as exc:  # an unreadable --state file
            fail(str(exc))


@sandbox_app.command("history")
def sandbox_history(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="CSV to write (replaced if it exists)"),
    seed: int = typer.Option(None, help="World seed [default: LEADLAKE_SANDBOX_SEED + 1000: a past world]"),
    businesses: int = typer.Option(3000, min=10, help="Businesses in the past world"),
    days: int = typer.Option(365, min=1, help="Days over which its leads were delivered"),
) -> None:
    """Write a CRM export of past leads and their outcomes, for `leadlake train --labels FILE.csv`.

    The leads of another sandbox world, as the pipeline would have held them (canonical columns, enrichment,
    rules score), each delivered on one of DAYS days; `outcome` is 1 when it qualified or was won within 90
    days, as the sandbox CRM plays its life out. Prints one line: the file, leads and positives.
    """
    with errors():
        from leadlake.runtime.sandbox_history import HISTORY_SEED_OFFSET, write_history

        world_seed = settings().sandbox_seed + HISTORY_SEED_OFFSET if seed is None else seed
        h = write_history(out, seed=world_seed, businesses=businesses, days=days)
        console.print(
            f"wrote {h.path}: {h.leads:,} past leads of world {h.seed}, {h.positives:,} qualified or won "
            f"within 90 days",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
