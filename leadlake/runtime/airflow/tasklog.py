"""A task log file for in-process runs (`dag.test()`, `leadlake demo`), where Airflow writes none.

Under a scheduler, Airflow's task supervisor writes every task's log to
`<AIRFLOW_HOME>/logs/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log`. A task run in-process by
`dag.test()` has no supervisor and no such file; this module writes one at that same path, as JSON lines in
Airflow's structured-log shape, so the DagRunFailed message can point at it and the Airflow UI shows it.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


def task_log_path(dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> Path:
    """Airflow's default log file of one task attempt (`[logging] log_filename_template`)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    base = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        base = base / f"map_index={map_index}"
    return base / f"attempt={max(try_number, 1)}.log"


def running_in_process() -> bool:
    """True when the current task runs inside `dag.test()` (no supervisor process writing its log)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - Airflow is there whenever a task runs
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ == "InProcessSupervisorComms"


class _JsonLines(logging.Handler):
    """Writes log records as Airflow structured-log JSON lines."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = {
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": record.getMessage(),
            }
            if record.exc_info:
                line["error_detail"] = "".join(traceback.format_exception(*record.exc_info))
            self.stream.write(json.dumps(line, default=str) + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break the task
            self.handleError(record)


class TaskLog:
    """Where an in-process task writes its own lines; `path` is None when Airflow keeps the log."""

    def __init__(self, path: Path | None, handler: _JsonLines | None) -> None:
        self.path = path
        self._handler = handler

    def write(self, event: str, level: str = "info", **extra: Any) -> None:
        """One line in the task log (a no-op under a supervisor, whose log has the task's output)."""
        if self._handler is None:
            return
        line = {
            "timestamp": datetime.now(UTC).isoformat(),
            "level": level,
            "logger": "leadlake",
            "event": event,
        }
        self._handler.stream.write(json.dumps(line | extra, default=str) + "\n")
        self._handler.stream.flush()

    def exception(self, exc: BaseException) -> None:
        """The exception and its traceback, as Airflow logs a failed task's error."""
        self.write(
            f"Task failed with exception: {type(exc).__name__}: {exc}",
            level="error",
            error_detail="".join(traceback.format_exception(exc)),
        )


@contextmanager
def task_log(context: Any) -> Iterator[TaskLog]:
    """The current task's log file while it runs in-process; a no-op TaskLog under a supervisor."""
    ti = context.get("ti") if context else None
    if ti is None or not running_in_process():
        yield TaskLog(None, None)
        return
    path = task_log_path(
        ti.dag_id, ti.run_id, ti.task_id, int(getattr(ti, "try_number", 1) or 1), getattr(ti, "map_index", -1)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as stream:
        handler = _JsonLines(stream)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield TaskLog(path, handler)
        finally:
            root.removeHandler(handler)
