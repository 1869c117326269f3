"""`leadlake feedback pull`: what sales did with delivered leads, from the CRM into bronze and silver."""

from __future__ import annotations

from typing import Annotated

import typer

from leadlake.cli.common import EXIT_FAILED, console, errors, fail, quiet_logs, settings

feedback_app = typer.Typer(help="Outcomes from the CRM: the learning loop's labels.", no_args_is_help=True)


def _destinations(only: str | None) -> list[str]:
    from leadlake.connectors.destinations.base import reports_outcomes
    from leadlake.connectors.registry import connector, connector_of_kind, names

    pullable = [n for n in names("destination") if reports_outcomes(connector(n).load())]
    if only is None:  # every destination that reports outcomes
        return pullable
    connector_of_kind(only, "destination")
    if only not in pullable:  # said before any sandbox or lakehouse is touched
        fail(
            f"--destination {only!r} does not report outcomes (it has no pull_feedback); "
            f"pull from one that does: {', '.join(pullable) or 'none installed'}"
        )
    return [only]


@feedback_app.command("pull")
def pull(
    destination: Annotated[
        str | None, typer.Option("--destination", help="A destination name [default: every destination]")
    ] = None,
) -> None:
    """Land CRM changes since the last pull in bronze.crm_outcomes, rebuild silver.lead_outcomes.

    Prints one line (per destination: read, landed, watermark; then the labels: positive+/negative-/open?);
    exits 1 with one line on stderr when a CRM refuses or fails.
    """
    quiet_logs()
    with errors():
        from leadlake.connectors.destinations.hubspot import DeliveryError
        from leadlake.runtime.resources import new_run_id, sandboxed
        from leadlake.stages.bronze.feedback import pull_feedback
        from leadlake.stages.silver.outcomes import build_outcomes

        run_id = new_run_id("feedback")
        parts = []
        with sandboxed(settings()) as res:
            res.lakehouse.check_reachable()
            for name in _destinations(destination):
                try:
                    report = pull_feedback(res.lakehouse, res.destination(name), run_id)
                except DeliveryError as exc:
                    fail(str(exc), EXIT_FAILED)
                mark = report.watermark_after.isoformat() if report.watermark_after else "none"
                parts.append(
                    f"{name}: {report.fetched} read, {report.landed} landed "
                    f"({report.unchanged} already landed), watermark {mark}"
                )
            built = build_outcomes(res.lakehouse, run_id)
        labels = ", ".join(
            f"{rule} {c['positive']}+/{c['negative']}-/{c['open']}?" for rule, c in built.labels.items()
        )
        parts.append(f"lead outcomes: {built.leads} leads ({labels})")
        console.print("; ".join(parts), highlight=False, soft_wrap=True)
