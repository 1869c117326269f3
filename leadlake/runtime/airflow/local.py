"""Run the leadlake DAGs with Airflow 3 on this machine: one Airflow home per lakehouse, its `airflow.cfg`
pointing at the project's DAGs, the DAGs synced to its metadata DB, and in-process runs with `dag.test()`.

`prepare()` writes what matters into the home's `airflow.cfg` (not only into this process's environment),
so any later `airflow ...` command run with `AIRFLOW_HOME=<home>` sees the project's DAGs, no examples, the
same sqlite DB and the same execution API URL as `leadlake demo` and `leadlake airflow` do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from leadlake.core.settings import PROJECT_ROOT, Settings
from leadlake.runtime.resources import ConfigError

log = logging.getLogger("leadlake.runtime.airflow.local")

DAGS_FOLDER = PROJECT_ROOT / "dags"
DEFAULT_API_PORT = 8080
ADMIN_USER = "admin"
_PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
LEADLAKE_SECTION = "leadlake"  # our own section of airflow.cfg: which lakehouse this home describes
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


class DagRunFailed(RuntimeError):
    """A DAG run that did not succeed; the message names the DAG, the failed task and where its log is."""


class AirflowSetupError(ConfigError):
    """Airflow could not be prepared (migration, config, a clash with an already imported Airflow)."""


def pools() -> dict[str, int]:
    """One Airflow pool per connector, sized by its spec."""
    from leadlake.connectors.registry import connectors

    return {spec.pool: spec.pool_slots for spec in connectors()}


# ---- configuration ----------------------------------------------------------------------------------------
def execution_api_url(port: int) -> str:
    """Where task runners reach the API server's execution API."""
    return f"http://127.0.0.1:{port}/execution/"


_EXPORTED: dict[str, str] = {}  # what prepare() put in os.environ (not the user's own settings)


def _user_env(name: str) -> str | None:
    """An environment variable the user set (not one prepare() exported)."""
    value = os.environ.get(name)
    return None if value is None or _EXPORTED.get(name) == value else value


def sql_alchemy_conn(home: Path) -> str:
    """The metadata DB: the user's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN when set, else sqlite in the home."""
    return _user_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{home / 'airflow.db'}"


def config_values(settings: Settings, api_port: int = DEFAULT_API_PORT) -> dict[str, dict[str, str]]:
    """What leadlake fixes in the home's airflow.cfg, by section."""
    home = settings.resolved_airflow_home
    values = {
        "core": {
            "dags_folder": str(DAGS_FOLDER),
            "load_examples": "False",
            "executor": "LocalExecutor",
            "auth_manager": SIMPLE_AUTH_MANAGER,
            "execution_api_server_url": execution_api_url(api_port),
            "dagbag_import_timeout": "120",
        },
        "database": {"sql_alchemy_conn": sql_alchemy_conn(home)},
        "api": {"host": "127.0.0.1", "port": str(api_port)},
        LEADLAKE_SECTION: {
            "lakehouse_uri": settings.lakehouse_root,
            "project_dir": str(settings.project_dir),
        },
    }
    if _user_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        del values["database"]  # a DB given in the environment stays there (it may carry a password)
    return values


def airflow_env(settings: Settings, api_port: int | None = None) -> dict[str, str]:
    """Environment for Airflow in this project: the same values prepare() writes to airflow.cfg."""
    home = settings.resolved_airflow_home
    port = api_port or configured_api_port(home)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": execution_api_url(port),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn(home),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }


def configured_api_port(home: Path) -> int:
    """The API port the home's airflow.cfg names (what `leadlake airflow --port` last wrote), else 8080."""
    value = read_config(home).get("api", {}).get("port", "")
    return int(value) if value.isdigit() else DEFAULT_API_PORT


def read_config(home: Path) -> dict[str, dict[str, str]]:
    """The home's airflow.cfg as plain strings (no interpolation); empty when it does not exist."""
    import configparser

    cfg = configparser.RawConfigParser(strict=False)
    path = home / "airflow.cfg"
    if path.is_file():
        cfg.read(path)
    return {s: dict(cfg.items(s)) for s in cfg.sections()}


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=")


def patch_config(path: Path, values: dict[str, dict[str, str]]) -> bool:
    """Set `values` in an ini file in place, keeping everything else (comments included); True if changed.

    A key that is present is rewritten on its line, a missing one is added under its section's header,
    a missing section is appended. `%` is escaped as Airflow's parser interpolates values.
    """
    text = path.read_text() if path.is_file() else ""
    lines = text.splitlines()
    present: set[tuple[str, str]] = set()
    section = None
    for line in lines:
        if m := _SECTION.match(line):
            section = m.group(1)
        elif (k := _KEY.match(line)) and section is not None:
            present.add((section, k.group(1)))

    def render(key: str, value: str) -> str:
        return f"{key} = {value.replace('%', '%%')}"

    out: list[str] = []
    seen_sections: set[str] = set()
    section = None
    for line in lines:
        if m := _SECTION.match(line):
            section = m.group(1)
            out.append(line)
            if section in values and section not in seen_sections:
                out += [render(k, v) for k, v in values[section].items() if (section, k) not in present]
            seen_sections.add(section)
            continue
        k = _KEY.match(line)
        if k and section in values and k.group(1) in values[section]:
            out.append(render(k.group(1), values[section][k.group(1)]))
            continue
        out.append(line)
    for name, items in values.items():
        if name not in seen_sections:
            out += ["", f"[{name}]", *(render(k, v) for k, v in items.items())]
    new = "\n".join(out) + "\n"
    if new == text:
        return False
    path.write_text(new)
    return True


# ---- preparation ------------------------------------------------------------------------------------------
def _check_not_imported_elsewhere(home: Path) -> None:
    """Airflow reads AIRFLOW_HOME once, when first imported: refuse to work on another home silently."""
    loaded = sys.modules.get("airflow.configuration")
    if loaded is None:
        return
    current = Path(getattr(loaded, "AIRFLOW_HOME", str(home))).expanduser().resolve()
    if current != home.resolve():
        raise AirflowSetupError(
            f"Airflow was already imported in this process with AIRFLOW_HOME={current}; "
            f"leadlake needs {home} (import Airflow only after prepare(), or set AIRFLOW_HOME first)"
        )


def _airflow_bin() -> Path:
    """The `airflow` executable next to this interpreter (the project's venv)."""
    return Path(sys.executable).with_name("airflow")


def _migrated_marker(home: Path) -> Path:
    return home / ".leadlake-migrated"


def _needs_migration(home: Path, env: dict[str, str]) -> bool:
    """True unless this home's DB was migrated by this Airflow version (and, for sqlite, still exists)."""
    from importlib.metadata import version

    marker = _migrated_marker(home)
    conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if conn.startswith("sqlite:///") and not Path(conn.removeprefix("sqlite:///")).is_file():
        return True
    return not marker.is_file() or marker.read_text().strip() != f"{version('apache-airflow')} {conn}"


def prepare(settings: Settings, api_port: int | None = None) -> Path:
    """Make the settings' Airflow home ready: airflow.cfg with the project's values, a migrated metadata DB,
    one pool per connector; exports the same values to this process. Returns the home.

    `api_port` is where `leadlake airflow` serves the API (task runners reach its execution API there); when
    not given, the port the home's airflow.cfg already names is kept.
    """
    from importlib.metadata import version

    home = settings.resolved_airflow_home
    home.mkdir(parents=True, exist_ok=True)
    _check_not_imported_elsewhere(home)
    port = api_port or configured_api_port(home)
    env = airflow_env(settings, port)
    values = config_values(settings, port)
    # This process syncs the DAGs it runs (load_dags, dag.test): when the lakehouse changed, the new asset
    # URIs must reach the metadata DB now, not after Airflow's 30 s "recently written" window.
    exported = env | {"AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0"}
    if "AIRFLOW__LOGGING__LOGGING_LEVEL" not in os.environ:
        exported["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ.update(exported)
    _EXPORTED.update(exported)
    cfg = home / "airflow.cfg"
    if not cfg.is_file() or _needs_migration(home, env):
        # The airflow CLI writes its default airflow.cfg (fernet key, JWT secret) on first use: migrate
        # first, then put the project's values into that file.
        done = subprocess.run(
            [str(_airflow_bin()), "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise AirflowSetupError(f"airflow db migrate failed in {home}: {' '.join(tail)}")
        _migrated_marker(home).write_text(
            f"{version('apache-airflow')} {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}"
        )
    patch_config(cfg, values)
    _ensure_pools()
    return home


def _ensure_pools() -> None:
    from airflow.models.pool import Pool

    for name, slots in pools().items():
        Pool.create_or_update_pool(
            name, slots=slots, description="leadlake provider concurrency", include_deferred=False
        )


def _core_option(home: Path, key: str, default: str) -> str:
    """A [core] option as Airflow resolves it: AIRFLOW__CORE__<KEY>, else airflow.cfg, else the default."""
    env = os.environ.get(f"AIRFLOW__CORE__{key.upper()}")
    return env if env is not None else read_config(home).get("core", {}).get(key, default)


def login(home: Path) -> tuple[str, str, Path] | None:
    """(user, password, file) to log in to the Airflow UI of this home; None when no login is needed
    (`[core] simple_auth_manager_all_admins = True`).

    Airflow 3's simple auth manager keeps its users' passwords in
    `<home>/simple_auth_manager_passwords.json.generated` and generates one for each configured user
    (`[core] simple_auth_manager_users`, default `admin:admin`) missing from it, printing it once in the API
    server's log. We add the missing ones first, so that we can print them; existing passwords are kept.
    """
    if _core_option(home, "simple_auth_manager_all_admins", "False").strip().lower() == "true":
        return None
    users = [u.split(":") for u in _core_option(home, "simple_auth_manager_users", "admin:admin").split(",")]
    users = [u for u in users if u and u[0].strip()]
    path = Path(_core_option(home, "simple_auth_manager_passwords_file", "") or home / _PASSWORDS_FILE)
    passwords: dict[str, str] = {}
    if path.is_file() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    missing = [u[0].strip() for u in users if u[0].strip() not in passwords]
    if missing:
        passwords |= {name: secrets.token_urlsafe(12) for name in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    admins = [u[0].strip() for u in users if len(u) > 1 and u[1].strip().lower() == "admin"]
    user = (admins or [u[0].strip() for u in users] or [ADMIN_USER])[0]
    return user, passwords[user], path


# ---- DAGs in the metadata DB ------------------------------------------------------------------------------
def load_dags(settings: Settings | None = None) -> dict:
    """Parse the project's DAG files, sync them to the metadata DB and bring their assets up to date.

    Raises DagRunFailed naming the file and error when one does not import.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = next(
        (b for b in manager.get_all_dag_bundles() if Path(b.path).resolve() == DAGS_FOLDER.resolve()), None
    )
    if bundle is None:
        raise AirflowSetupError(
            f"no Airflow DAG bundle serves {DAGS_FOLDER}; is [core] dags_folder overridden? "
            f"(AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME')})"
        )
    if not bundle.is_initialized:
        bundle.initialize()
    bag = BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=bundle.path, bundle_name=bundle.name)
    if bag.import_errors:
        path, err = next(iter(sorted(bag.import_errors.items())))
        raise DagRunFailed(f"DAG import error in {path}: {err.strip().splitlines()[-1]}")
    sync_bag_to_db(bag, bundle.name, bundle.version)
    activate_assets(bag.dags.values())
    return bag.dags


def dag_assets(dags: Iterable[Any]) -> set[tuple[str, str]]:
    """(name, uri) of every asset the DAGs schedule on, read or write."""
    from airflow.sdk import Asset

    found: set[tuple[str, str]] = set()
    for dag in dags:
        for t in dag.tasks:
            for a in [*t.inlets, *t.outlets]:
                if isinstance(a, Asset):
                    found.add((a.name, a.uri))
        found.update((a.name, a.uri) for a in schedule_assets(dag))
    return found


def schedule_assets(dag: Any) -> list[Any]:
    """The Assets a DAG's schedule waits on (through AssetAny / AssetAll), in order."""
    from airflow.sdk import Asset

    out: list[Any] = []
    todo = [getattr(dag.timetable, "asset_condition", None)]
    while todo:
        cond = todo.pop(0)
        if isinstance(cond, Asset):
            out.append(cond)
        elif cond is not None:
            todo = [*getattr(cond, "objects", ()), *todo]
    return out


def activate_assets(dags: Iterable[Any]) -> list[tuple[str, str]]:
    """Make the DAGs' assets the active ones for their names and URIs; returns the ones switched on.

    Airflow keeps one active asset per name and per URI. When the lakehouse moves (another
    LEADLAKE_LAKEHOUSE_URI in a shared AIRFLOW_HOME) our assets keep their names but get new URIs: the
    old row stays active until a scheduler notices it is orphaned, and until then every task that reads or
    writes the table fails with AirflowInactiveAssetInInletOrOutletException. `dag.test()` runs no
    scheduler, so do its part here for our own names and URIs.
    """
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, or_, select, tuple_

    wanted = dag_assets(dags)
    if not wanted:
        return []
    names = {n for n, _ in wanted}
    uris = {u for _, u in wanted}
    with create_session() as session:
        active = set(
            session.execute(
                select(AssetActive.name, AssetActive.uri).where(
                    or_(AssetActive.name.in_(names), AssetActive.uri.in_(uris))
                )
            ).all()
        )
        stale = {row for row in active if tuple(row) not in wanted}
        if stale:
            session.execute(delete(AssetActive).where(tuple_(AssetActive.name, AssetActive.uri).in_(stale)))
        known = {
            tuple(r)
            for r in session.execute(
                select(AssetModel.name, AssetModel.uri).where(
                    tuple_(AssetModel.name, AssetModel.uri).in_(wanted)
                )
            ).all()
        }
        missing = sorted((wanted & known) - {tuple(r) for r in active})
        session.add_all(AssetActive(name=n, uri=u) for n, u in missing)
    if stale:
        log.info("re-pointed %d assets to %s", len(stale), ", ".join(sorted(uris))[:200])
    return missing


# ---- in-process runs --------------------------------------------------------------------------------------
def pipeline_dag_ids(dags: dict) -> list[str]:
    """The project's DAG ids in pipeline order: each stage's DAG, the ingest DAG once per campaign."""
    from leadlake.runtime.stages import dag_ids

    ordered: list[str] = []
    for dag_id in dag_ids():
        ordered += sorted(d for d in dags if d == dag_id or d.startswith(f"{dag_id}__"))
    return ordered


def run_dag(
    dag_id: str, dags: dict, sandbox_url: str | None = None, *, retries: int | None = 0, quiet: bool = True
) -> str:
    """Run one DAG to completion in this process with `dag.test()`; returns its run id.

    Raises DagRunFailed naming the DAG, the first failed task and its log file. `retries` overrides the
    tasks' retries for this in-process run (default 0: a local run fails fast rather than sleeping through
    retry delays); None keeps the DAG's own. `quiet` keeps Airflow's log lines off the console: each
    task's log goes to its file under <AIRFLOW_HOME>/logs (tasklog.py), what Airflow itself printed to
    <AIRFLOW_HOME>/logs/dag_id=<dag>/run_id=<run>/dag_test.log.
    """
    if dag_id not in dags:
        raise DagRunFailed(f"no DAG '{dag_id}' in {DAGS_FOLDER}; known: {', '.join(sorted(dags))}")
    dag = dags[dag_id]
    if retries is not None:
        for t in dag.tasks:
            t.retries = retries
    activate_assets([dag])
    conf = {"sandbox_url": sandbox_url} if sandbox_url else None
    logs = Path(os.environ.get("AIRFLOW_HOME", ".")) / "logs" / f"dag_id={dag_id}"
    console_log = logs / f"dag_test.{os.getpid()}.{time.time_ns()}.log"
    with console_to(console_log) if quiet else contextlib.nullcontext():
        run = dag.test(run_conf=conf)
    run_log = None
    if quiet and console_log.is_file():
        run_log = logs / f"run_id={run.run_id}" / "dag_test.log"
        run_log.parent.mkdir(parents=True, exist_ok=True)
        console_log.replace(run_log)
    state = str(getattr(run.state, "value", run.state))
    if state != "success":
        raise DagRunFailed(failure_message(dag_id, run, run_log))
    return run.run_id


@contextlib.contextmanager
def console_to(path: Path) -> Iterator[Path]:
    """Send what Airflow would print on the console during the block to `path` instead: its stdlib
    console handler and its structlog loggers created in the block (the in-process task logger among
    them: "Task failed with exception" and the traceback). The CLI's own output is untouched."""
    import structlog

    path.parent.mkdir(parents=True, exist_ok=True)
    factory = structlog.get_config().get("logger_factory")
    binary = getattr(getattr(factory, "cls", None), "__name__", "") == "NamedBytesLogger"
    with contextlib.ExitStack() as stack:
        text = stack.enter_context(open(path, "a", buffering=1))
        out = stack.enter_context(open(path, "ab", buffering=0)) if binary else text
        handlers = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stdout, sys.stderr)
        ]
        streams = [h.setStream(text) for h in handlers]
        has_io = hasattr(factory, "io")
        io = getattr(factory, "io", None)
        if has_io:
            factory.io = out
        try:
            yield path
        finally:
            if has_io:
                factory.io = io
            for h, stream in zip(handlers, streams, strict=True):
                h.setStream(stream)


def failure_message(dag_id: str, run: Any, run_log: Path | None = None) -> str:
    """'DAG x failed at task y (run r; log: path)' from the run's task instances: the task's own log when
    it was written, else `run_log` (what the run printed: a task that failed before it started)."""
    from leadlake.runtime.airflow.tasklog import task_log_path

    state = str(getattr(run.state, "value", run.state))
    run_id = getattr(run, "run_id", "?")
    try:
        tis = list(run.get_task_instances())
    except Exception:  # noqa: BLE001 - the message is best effort; the state is what matters
        tis = []

    def state_of(ti: Any) -> str:
        return str(getattr(ti.state, "value", ti.state))

    failed = [ti for ti in tis if state_of(ti) == "failed"] or [
        ti for ti in tis if state_of(ti) not in ("success", "skipped")
    ]
    if not failed:
        return f"DAG {dag_id} {state} (run {run_id}); no failed task recorded"
    ti = failed[0]
    path = task_log_path(dag_id, run_id, ti.task_id, int(ti.try_number or 1), ti.map_index)
    if path.is_file():
        where = f"log: {path}"
    elif run_log is not None and run_log.is_file():
        where = f"log: {run_log}"
    else:
        where = f"no log was written; task logs go to {path.parent}"
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"DAG {dag_id} {state} at task {ti.task_id}{more} (run {run_id}; {where})"


def stage_reports(lake: object, run_ids: list[str]) -> list:
    """The stage reports the DAG runs recorded in ops.stage_runs, in run order."""
    from leadlake.lakehouse.catalog import OPS_STAGE_RUNS
    from leadlake.observe.reports import StageReport

    if not run_ids or not lake.exists(OPS_STAGE_RUNS):  # type: ignore[attr-defined]
        return []
    rows = lake.read(OPS_STAGE_RUNS).to_pylist()  # type: ignore[attr-defined]
    order = {r: i for i, r in enumerate(run_ids)}
    mine = sorted(
        (r for r in rows if r["run_id"] in order), key=lambda r: (order[r["run_id"]], r["started_at"])
    )
    return [
        StageReport(
            stage=r["stage"],
            run_id=r["run_id"],
            status=r["status"],
            started_at=r["started_at"],
            seconds=r["seconds"],
            rows_in=r["rows_in"],
            rows_out=r["rows_out"],
            rows_quarantined=r["rows_quarantined"],
            failures=list(r["failures"] or []),
            error=r["error"],
            scope=r["scope"],
            details=json.loads(r["details_json"]) if r["details_json"] else None,
        )
        for r in mine
    ]


def exported_env() -> dict[str, str]:
    """The variables prepare() set in this process's environment."""
    return dict(_EXPORTED)
