"""`leadlake config show`: every resolved setting, and which project root was found."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from leadlake.cli.common import Format, emit, errors, settings

config_app = typer.Typer(help="Resolved settings.", no_args_is_help=True)


@config_app.command("show")
def config_show(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The resolved settings: project root, lakehouse, MLflow, Airflow, sandbox, Delta backend, Spark."""
    with errors():
        from leadlake.connectors.registry import connectors
        from leadlake.lakehouse.spark import delta_unavailable_reason
        from leadlake.lakehouse.stage_io import use_delta_spark
        from leadlake.runtime.resources import uses_sandbox

        s = settings()
        sandbox = uses_sandbox(s)
        rows = {
            "project_dir": str(s.project_dir),
            "lakehouse_uri": s.lakehouse_root,
            "s3_endpoint_url": s.s3_endpoint_url,
            "mlflow_tracking_uri": s.tracking_uri,
            "airflow_home": str(s.resolved_airflow_home),
            "campaigns_dir": str(s.resolved_campaigns_dir),
            "sandbox_url": s.sandbox_url or ("started per command" if sandbox else None),
            "providers": "sandbox" if sandbox or s.sandbox_url else "live APIs",
            "delta_backend": "delta-spark" if use_delta_spark(s) else "delta-rs",
            "delta_spark_jars": delta_unavailable_reason() or "present",
            "spark_master": s.spark_master,
            "resolve_backend": s.resolve_backend,
        }
        for spec in connectors():
            rows[spec.credential_env] = "set" if s.credential(spec.credential_env) else "not set"
        if fmt is Format.json:
            print(json.dumps(rows, indent=2))
        else:
            emit([{"setting": k, "value": v} for k, v in rows.items()], fmt)
