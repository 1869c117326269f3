"""Shared fixtures and the suite's rules: one Spark session, isolated environments, honest skips, lanes.

Rules every test gets without asking:

* Skips. A test that needs something the machine may lack declares it (`@pytest.mark.requires_delta_spark`,
  `@pytest.mark.requires_terraform`, `@pytest.mark.needs("java")`, or `needs(...)` from
  tests/support/skips.py). A missing prerequisite FAILS the test, naming what is missing and how to get
  it, unless LEADLAKE_TEST_ALLOW_SKIP lists it (`delta-spark,terraform`, or `all`). Every other skip
  (pytest.skip, a skipif mark, importorskip) fails too unless LEADLAKE_TEST_ALLOW_SKIP lists `other`.
  The run's last line lists the skipped tests grouped by reason, or says "no tests skipped".
* Spark. The `spark` fixture owns the run's one SparkSession (local[2], Delta and Splink's jar, a scratch
  warehouse), created on first use and stopped when the run ends. Code under test that calls
  leadlake.lakehouse.spark.get_spark() during the run gets that same session on purpose (getOrCreate),
  whichever test comes first; a test that reaches Spark must be marked `spark` (using the `spark` or
  `spark_lake` fixture marks it automatically), otherwise it fails: the fast lane would run it. Marked
  `spark` means needing Delta's jars: the silver/gold publish path is delta-spark.
* Isolation. os.environ and the working directory are restored after every test, every module and the
  run, cached settings are reset, and named loggers get their levels and handlers back after every test;
  each test module gets its own LEADLAKE_STATE_DIR and LEADLAKE_LAKEHOUSE_URI under pytest's tmp dir,
  so no test reads what another one (or a developer's `make demo`) left behind.
* Lanes. Tests are marked by what they need: `spark`, `s3` (moto server), `airflow`, `e2e` (whole
  pipeline / subprocess), `integration` (tests/integration/), `slow`; fixtures and folders mark most of
  them here (FIXTURE_MARKS, FOLDER_MARKS, PENDING_LANES). `make test-fast` deselects all of those.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.skips import (
    ALLOW_ENV,
    MARKER_NEEDS,
    OTHER,
    PREREQUISITES,
    MissingPrerequisite,
    group_head,
    judge_skip,
    needs,
    needs_of,
    summary_head,
    unknown_allowed,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from leadlake.lakehouse import Lakehouse

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
if os.environ.get("PYTEST_XDIST_WORKER") and not hasattr(sys.modules["__main__"], "__file__"):
    # An xdist worker's __main__ has no __file__; pyspark.sql.connect (imported by Great Expectations when
    # pyspark is installed) takes that for a doctest run and calls sys.exit(0) unless the session looks
    # interactive. Nothing else here reads sys.ps1 (python-dotenv already treats such a __main__ so).
    sys.ps1 = ">>> "

S3_REGION = "us-east-1"
S3_KEY_ID = "testing"
S3_SECRET = "testing"

# Fixtures that put a test in a lane, so nobody has to remember the marker (closures are followed, so a
# fixture built on one of these carries its lane too; spark_lake reaches `spark` through getfixturevalue).
FIXTURE_MARKS: dict[str, str] = {"spark": "spark", "spark_lake": "spark", "moto_server": "s3"}
# Folders that are a lane by definition (tests mirror the package: unit/, integration/, dags/).
FOLDER_MARKS: dict[str, str] = {"integration": "integration", "dags": "airflow"}
TESTS_DIR = Path(__file__).resolve().parent
# Lanes of tests whose files do not say yet what they need (node id, or a prefix ending at "::" / "[").
# Transitional: each entry should become a marker in its file (or the file moves to integration/ or
# dags/); the run's summary lists entries that have become redundant or name a file that is gone.
PENDING_LANES: dict[str, tuple[str, ...]] = {
    "tests/test_pipeline.py": ("e2e",),
    "tests/test_pipeline.py::test_faults_change_nothing_in_gold": ("spark",),
    "tests/test_pipeline.py::test_end_to_end_to_the_crm_exactly_once": ("spark",),
    "tests/test_campaign.py::test_the_cron_presets_are_airflows": ("airflow",),
    "tests/test_campaign.py::test_crons_we_accept_make_an_airflow_timetable_and_those_we_refuse_do_not": (
        "airflow",
    ),
    "tests/test_campaign.py::test_the_cli_prints_one_line": ("e2e",),
    "tests/test_planning.py::test_campaign_plan_prints_enrichment_and_the_default_budget": ("e2e",),
    "tests/test_sandbox_world.py::test_generation_of_100k_businesses_is_timed": ("slow",),
    "tests/test_enrichment_adapters.py::test_429_retry_after_is_honoured_and_nothing_is_lost": ("slow",),
    "tests/test_adapters.py::test_429_retry_after_honoured_and_nothing_lost": ("slow",),
    "tests/test_lakehouse.py::test_concurrent_process_merges": ("slow",),
    "tests/test_lakehouse.py::test_two_processes_create_and_append_the_same_new_table": ("slow",),
    "tests/test_resolve.py::test_em_rules_without_pairs_are_skipped_and_priors_back_the_rest": ("slow",),
    "tests/test_resolve.py::test_sandbox_world_precision_recall": ("slow",),
    "tests/unit/connectors/test_ratelimit.py::test_the_limit_holds_across_processes_only_when_shared": (
        "slow",
    ),
    "tests/unit/stages/bronze/test_budget_ledger.py::test_processes_racing_for_one_budget_never_overspend": (
        "slow",
    ),
}

# -- isolation: environment, working directory, settings -----------------------------------------------


def _reset_settings() -> None:
    from leadlake.core.settings import reset_settings

    reset_settings()


def _restore(saved_env: dict[str, str], saved_cwd: str) -> None:
    for key in [k for k in os.environ if k not in saved_env]:
        del os.environ[key]
    for key, value in saved_env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    if os.getcwd() != saved_cwd:
        os.chdir(saved_cwd)
    _reset_settings()


@pytest.fixture(scope="session", autouse=True)
def _run_environment() -> Iterator[None]:
    """What the whole run changed in os.environ (session fixtures included) is undone at the end."""
    saved, cwd = dict(os.environ), os.getcwd()
    yield
    _restore(saved, cwd)


@pytest.fixture(scope="module", autouse=True)
def _module_environment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A scratch state dir and default lakehouse per test module; module fixtures' env changes end with it."""
    saved, cwd = dict(os.environ), os.getcwd()
    scratch = tmp_path_factory.mktemp(f"env-{request.module.__name__.rsplit('.', 1)[-1]}")
    os.environ["LEADLAKE_STATE_DIR"] = str(scratch / "state")
    os.environ["LEADLAKE_LAKEHOUSE_URI"] = str(scratch / "lakehouse")
    _reset_settings()
    yield
    _restore(saved, cwd)


_LoggingState = tuple[dict[str, tuple[int, bool, bool, tuple[logging.Handler, ...]]], int, int]


def _logging_state() -> _LoggingState:
    loggers = logging.Logger.manager.loggerDict.items()
    named = {
        n: (lg.level, lg.propagate, lg.disabled, tuple(lg.handlers))
        for n, lg in loggers
        if isinstance(lg, logging.Logger)
    }
    return named, logging.root.level, logging.root.manager.disable


def _restore_logging(saved: _LoggingState) -> None:
    """Levels, propagation, disabling and handlers of named loggers as they were (the root's handlers are
    pytest's own); a logger first made during the test keeps its handlers but loses a level it was given."""
    named, root_level, disable = saved
    changed = False
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        level, propagate, disabled, handlers = named.get(
            name, (logging.NOTSET, lg.propagate, lg.disabled, ())
        )
        if lg.level != level:
            lg.level, changed = level, True
        lg.propagate, lg.disabled = propagate, disabled
        if name in named and tuple(lg.handlers) != handlers:
            lg.handlers[:] = handlers
    if logging.root.level != root_level:
        logging.root.level, changed = root_level, True
    if logging.root.manager.disable != disable:
        logging.disable(disable)
    if changed:
        logging.Logger.manager._clear_cache()  # the levels loggers cached from their parents


@pytest.fixture(autouse=True)
def _test_environment() -> Iterator[None]:
    """Each test starts from fresh settings and leaves os.environ, the cwd and logging as it found them
    (e.g. the CLI quiets httpx and airflow loggers: a later test must still see their records)."""
    saved, cwd, logs = dict(os.environ), os.getcwd(), _logging_state()
    _reset_settings()
    yield
    _restore(saved, cwd)
    _restore_logging(logs)


# -- Spark: one session per run, owned here -------------------------------------------------------------


@dataclass
class _SparkOwner:
    """The run's one SparkSession and who reached for it through get_spark() without the `spark` marker."""

    session: Any = None
    warehouse: str | None = None
    original_get_spark: Any = None
    current: pytest.Item | None = None
    unmarked: set[str] = field(default_factory=set)

    def get(self) -> SparkSession:
        """The session, created on first use (again if a test stopped it)."""
        s = self.session
        if s is not None and s.sparkContext._jsc is not None:
            return s
        self.warehouse = self.warehouse or tempfile.mkdtemp(prefix="leadlake-tests-warehouse-")
        self.session = self.original_get_spark(
            "leadlake-tests",
            master="local[2]",
            extra_conf={"spark.sql.warehouse.dir": self.warehouse},  # not ./spark-warehouse in the checkout
        )
        return self.session

    def get_spark(
        self,
        app_name: str = "leadlake",
        master: str | None = None,
        extra_conf: dict[str, str] | None = None,
        driver_memory: str | None = None,
    ) -> SparkSession:
        """Stands in for leadlake.lakehouse.spark.get_spark during the run: the run's session, always."""
        if self.current is not None and self.current.get_closest_marker("spark") is None:
            self.unmarked.add(self.current.nodeid)
        self.get()
        # getOrCreate: the run's JVM is already up, so its heap is the one it started with
        return self.original_get_spark(
            app_name, master=master, extra_conf=extra_conf, driver_memory=driver_memory
        )

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None
        if self.warehouse:
            shutil.rmtree(self.warehouse, ignore_errors=True)
            self.warehouse = None


_SPARK = _SparkOwner()


@pytest.fixture(scope="session", autouse=True)
def _one_spark_session() -> Iterator[None]:
    """Route get_spark() to the run's session for the whole run; stop that session at the end."""
    import leadlake.lakehouse.spark as spark_module

    _SPARK.original_get_spark = spark_module.get_spark
    spark_module.get_spark = _SPARK.get_spark
    try:
        yield
    finally:
        spark_module.get_spark = _SPARK.original_get_spark
        _SPARK.stop()


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """The run's one local Spark session with Delta (needs Delta's jars: `make jars`) and Splink's jar."""
    needs(*MARKER_NEEDS["requires_delta_spark"])
    return _SPARK.get()


# -- S3: a moto server -----------------------------------------------------------------------------------


@dataclass
class MotoS3:
    """A running moto S3 endpoint on loopback, with the settings boto3 and delta-rs need to reach it."""

    endpoint_url: str
    region: str = S3_REGION
    buckets: list[str] = field(default_factory=list)

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs / object_store options for this endpoint (plain HTTP, dummy keys)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        }

    def client(self) -> Any:
        """A boto3 S3 client bound to this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        )

    def make_bucket(self, prefix: str = "lake") -> str:
        """Create a fresh, uniquely named bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name


# Run in its own process: delta-rs calls that block while holding the GIL would starve an in-process server.
_MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # the parent closes stdin to stop us
server.stop()
"""


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 (free port) in a child process for the whole run; stopped at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"moto server did not start (exit code {proc.poll()})")
        yield MotoS3(endpoint_url=endpoint)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_server: MotoS3) -> str:
    """A new empty bucket on the moto server for one test."""
    return moto_server.make_bucket()


@pytest.fixture
def lakehouse(tmp_path: Path) -> Lakehouse:
    """An empty local lakehouse under the test's tmp_path."""
    from leadlake.lakehouse import Lakehouse

    return Lakehouse(str(tmp_path / "lakehouse"))


# -- hooks: lanes, prerequisites, the skip rule, the summary ---------------------------------------------

# Allowed skips and prerequisite failures, by reason -> node ids (filled on the xdist controller too).
_SKIPPED: dict[str, list[str]] = defaultdict(list)
_FAILED_NEEDS: dict[str, list[str]] = defaultdict(list)
_SKIP_PROP, _FAILED_PROP = "leadlake_skip", "leadlake_missing_prerequisite"


def pytest_configure(config: pytest.Config) -> None:
    bad = unknown_allowed()
    if bad:
        known = sorted([*PREREQUISITES, OTHER, "all"])
        raise pytest.UsageError(f"{ALLOW_ENV} names unknown prerequisites {bad}; known: {known}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Lanes by fixture use (`spark` -> spark, `moto_server` -> s3), by folder (integration/, dags/), and
    from PENDING_LANES."""
    for item in items:
        lanes = [FIXTURE_MARKS[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_MARKS]
        try:
            top = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:
            top = ""
        if top in FOLDER_MARKS:
            lanes.append(FOLDER_MARKS[top])
        for lane in dict.fromkeys(lanes):
            if item.get_closest_marker(lane) is None:
                item.add_marker(lane)
        for key, pending in PENDING_LANES.items():
            if item.nodeid == key or item.nodeid.startswith((f"{key}::", f"{key}[")):
                for lane in pending:
                    if item.get_closest_marker(lane) is None:
                        item.add_marker(lane)
                        _PENDING_USED.add(key)
                    else:
                        _PENDING_REDUNDANT.add(key)
    items[:] = heaviest_files_first(items)


# Lanes by the cost of their files: a file holding an e2e test (a whole demo or pipeline) costs minutes,
# a unit file a second. xdist hands whole files (--dist loadfile) to whichever worker is free, in this
# order (`make test` passes --no-loadscope-reorder; xdist's own reorder puts files with many tests first,
# which left the few-test demo files to one worker at the end while the other sat idle).
COST_LANES: tuple[str, ...] = ("e2e", "slow", "airflow", "spark", "integration")
# Within a lane, the files that took a worker longest in `make test` (its --durations; stop 21, machine
# loaded): the Airflow demos 1314 s, the CLI demo 686 s, the learning loop 457 s. Longest first.
LONGEST_FILES: tuple[str, ...] = (
    "integration/test_airflow_demos.py",
    "integration/cli/test_cli_demo.py",
    "integration/cli/test_cli_learning_loop.py",
)


def heaviest_files_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Items with their files ranked by COST_LANES (a file ranks by its costliest test), then
    LONGEST_FILES, then as collected; a file's items keep their order."""

    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, lane in enumerate(COST_LANES) if item.get_closest_marker(lane)), len(COST_LANES)
        )

    def longest(path: str) -> int:
        return next((i for i, tail in enumerate(LONGEST_FILES) if path.endswith(tail)), len(LONGEST_FILES))

    file_rank: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = str(item.path)
        first_seen.setdefault(path, index)
        file_rank[path] = min(file_rank.get(path, len(COST_LANES)), rank(item))

    def key(item: pytest.Item) -> tuple[int, int, int]:
        path = str(item.path)
        return file_rank[path], longest(path), first_seen[path]

    return sorted(items, key=key)  # stable: a file's items keep their order


_PENDING_USED: set[str] = set()
_PENDING_REDUNDANT: set[str] = set()


def _pending_lane_notes(rootdir: Path) -> list[str]:
    """PENDING_LANES entries to delete: the test now carries the marker itself, or its file is gone."""
    notes = [f"{k}: already marked in its file" for k in sorted(_PENDING_REDUNDANT - _PENDING_USED)]
    notes += [f"{k}: no such file" for k in PENDING_LANES if not (rootdir / k.split("::")[0]).is_file()]
    return notes


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Declared prerequisites are checked before any fixture runs (no JVM start just to find no jars)."""
    keys = needs_of(item.iter_markers())
    if keys:
        needs(*keys)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    _SPARK.current = item
    try:
        return (yield)
    finally:
        _SPARK.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """Apply the skip rule to every report; fail a test that reached Spark without the `spark` marker."""
    rep: pytest.TestReport = yield
    if rep.skipped and not hasattr(rep, "wasxfail"):
        _judge_skip_report(rep, item.path)
    elif rep.failed and call.excinfo is not None and isinstance(call.excinfo.value, MissingPrerequisite):
        rep.user_properties.append((_FAILED_PROP, summary_head(call.excinfo.value.key)))
    if rep.when == "teardown" and item.nodeid in _SPARK.unmarked and not rep.failed:
        rep.outcome = "failed"
        rep.longrepr = (
            "this test reached Spark through get_spark() but is not marked `spark`, so the fast lane would "
            "run it and it cannot declare Delta's jars. Add `pytestmark = pytest.mark.spark` to its module "
            "(or @pytest.mark.spark, or use the `spark` fixture)."
        )
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[pytest.CollectReport]:
    """A module that skips itself (importorskip, pytest.skip(allow_module_level=True)) obeys the rule too."""
    rep: pytest.CollectReport = yield
    if rep.skipped:
        _judge_skip_report(rep, collector.path)
    return rep


def _judge_skip_report(rep: pytest.TestReport | pytest.CollectReport, path: Path | None) -> None:
    longrepr = rep.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    allowed, key, text = judge_skip(reason.removeprefix("Skipped: "))
    if allowed:
        where, lineno = (longrepr[0], longrepr[1]) if isinstance(longrepr, tuple) else (str(path), None)
        rep.longrepr = (where, lineno, f"Skipped: {text}")
        if isinstance(rep, pytest.TestReport):
            rep.user_properties.append((_SKIP_PROP, text))
    else:
        rep.outcome = "failed"
        rep.longrepr = text
        if isinstance(rep, pytest.TestReport):
            rep.user_properties.append((_FAILED_PROP, summary_head(key)))


_ALLOW_HINT = re.compile(rf"set {ALLOW_ENV}=([\w-]+)")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module's own skip, judged above, in the summary (xdist hands these reports to the controller)."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        _SKIPPED[group_head(str(longrepr[2]).removeprefix("Skipped: "))].append(report.nodeid)
    elif report.failed and (hint := _ALLOW_HINT.search(str(longrepr))):
        _FAILED_NEEDS[summary_head(hint.group(1))].append(report.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect allowed skips and prerequisite failures by reason (on the xdist controller too)."""
    for name, value in report.user_properties:
        if name == _SKIP_PROP and report.skipped:
            _SKIPPED[group_head(value)].append(report.nodeid)
        elif name == _FAILED_PROP and report.failed:
            _FAILED_NEEDS[value].append(report.nodeid)


def _by_file(nodeids: list[str]) -> str:
    files: dict[str, int] = defaultdict(int)
    for nodeid in sorted(set(nodeids)):
        files[nodeid.split("::", 1)[0]] += 1
    return ", ".join(f"{f} ({n})" for f, n in files.items())


def _groups(found: dict[str, list[str]]) -> tuple[int, str]:
    total = sum(len(set(ids)) for ids in found.values())
    return total, "; ".join(f"{head}: {_by_file(ids)}" for head, ids in sorted(found.items()))


def last_line() -> str:
    """'no tests skipped', or 'skipped N: <reason>: <file> (count), ...', plus prerequisite failures."""
    n, groups = _groups(_SKIPPED)
    line = f"skipped {n}: {groups}" if n else "no tests skipped"
    failed, fgroups = _groups(_FAILED_NEEDS)
    if failed:
        line += f" | failed {failed} for a missing prerequisite: {fgroups}"
    return line


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Every skipped test by reason; the run's last line repeats the groups with a count per file."""
    notes = _pending_lane_notes(config.rootpath)
    if notes:
        terminalreporter.section("tests/conftest.py PENDING_LANES entries to delete")
        for note in notes:
            terminalreporter.write_line(note)
    if not _SKIPPED:
        return
    terminalreporter.section("skipped tests, by reason")
    for head, ids in sorted(_SKIPPED.items()):
        terminalreporter.write_line(f"{head}:")
        for nodeid in sorted(set(ids)):
            terminalreporter.write_line(f"    {nodeid}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    """After pytest's own summary line, the run's last line: what was skipped and why."""
    result = yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(session.config, "workerinput"):
        reporter.write_line(last_line())
    return result
