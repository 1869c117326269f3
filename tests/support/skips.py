"""Prerequisites of production paths, and the one rule for skipping a test.

A test that needs something the machine may lack (Delta's Spark jars, terraform, Java) declares it:

    @pytest.mark.requires_delta_spark          # or requires_terraform, or needs("java", "terraform")
    def test_publish(...): ...

    needs("delta-spark")                       # the same, from inside a fixture or a test

When the prerequisite is missing the test FAILS, naming what is missing and how to get it, unless the
environment variable LEADLAKE_TEST_ALLOW_SKIP lists it (`delta-spark,terraform`, or `all`): then it skips
with that reason. Any other skip (a stray pytest.skip, a skipif mark, importorskip of a module the
project needs) fails the same way unless LEADLAKE_TEST_ALLOW_SKIP lists `other`. conftest.py applies
the rule to every report and prints the skipped tests, grouped by reason, as the run's last line.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ALLOW_ENV = "LEADLAKE_TEST_ALLOW_SKIP"
ALL = "all"
OTHER = "other"  # a skip that no prerequisite declared
REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "jars" / "pom.xml"
# Written by `make jars` next to the jars: the file names Maven copied (the transitive ones too).
JARS_MANIFEST = ".fetched"

# Where a Terraform provider filesystem mirror is usually found; LEADLAKE_TF_PLUGIN_MIRROR wins when set.
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws/5.100.0"


@dataclass(frozen=True)
class Prerequisite:
    """Something a test needs from the machine; `check` returns None when present, else what to do."""

    key: str  # what LEADLAKE_TEST_ALLOW_SKIP lists to skip instead of failing
    label: str  # short, for the summary: "delta-spark jars missing"
    check: Callable[[], str | None]


# -- the checks -------------------------------------------------------------------------------------------


def expected_delta_jars() -> list[str]:
    """Jar file names `make jars` must leave in jars_dir(): jars/pom.xml's direct dependencies, plus every
    name the last successful fetch recorded in its manifest."""
    from leadlake.lakehouse.spark import jars_dir

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()
    props = {el.tag.split("}")[1]: (el.text or "") for el in root.find("m:properties", ns) or []}

    def resolve(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), text)

    names = [
        f"{resolve(dep.findtext('m:artifactId', '', ns))}-{resolve(dep.findtext('m:version', '', ns))}.jar"
        for dep in root.findall("m:dependencies/m:dependency", ns)
    ]
    manifest = jars_dir() / JARS_MANIFEST
    if manifest.is_file():
        names += [ln.strip() for ln in manifest.read_text().splitlines() if ln.strip().endswith(".jar")]
    return sorted(set(names))


def delta_spark_missing() -> str | None:
    """None when every expected Delta jar is in jars_dir(), else which are missing and how to get them."""
    from leadlake.lakehouse.spark import jars_dir

    folder = jars_dir()
    present = {p.name for p in folder.glob("*.jar")} if folder.is_dir() else set()
    missing = [name for name in expected_delta_jars() if name not in present]
    if not missing:
        return None
    where = f"{folder} (LEADLAKE_JARS_DIR)" if os.environ.get("LEADLAKE_JARS_DIR") else str(folder)
    text = f"Delta's Spark jars are missing from {where}: {', '.join(missing)}. "
    text += "They are pinned in jars/pom.xml; fetch them with `make jars` (needs Maven and Maven Central)"
    unavailable, log = folder / ".unavailable", folder / "mvn.log"
    if unavailable.is_file() and unavailable.read_text().strip():
        text += f"; the last fetch said: {unavailable.read_text().strip().splitlines()[0]}"
    if log.is_file():
        text += f"; Maven's log: {log}"
    return text


def java_missing() -> str | None:
    """None when a `java` is on PATH or under JAVA_HOME (Spark's JVM), else how to get one."""
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (home and (Path(home) / "bin" / "java").is_file()):
        return None
    return "no `java` on PATH and no JAVA_HOME: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)"


def mirror_candidates() -> list[str]:
    """Where the AWS provider's filesystem mirror is looked for, LEADLAKE_TF_PLUGIN_MIRROR first."""
    return [
        c
        for c in (
            os.environ.get("LEADLAKE_TF_PLUGIN_MIRROR", ""),
            "/opt/tf-plugins",
            str(Path.home() / ".terraform.d" / "plugins"),
            "/usr/local/share/terraform/plugins",
            "/usr/share/terraform/plugins",
        )
        if c
    ]


def find_mirror() -> str | None:
    """The first candidate holding the pinned AWS provider, or None."""
    for cand in mirror_candidates():
        if (Path(cand) / AWS_PROVIDER).is_dir():
            return cand
    return None


def terraform_missing() -> str | None:
    """None when terraform is on PATH and the AWS provider mirror exists, else what to install."""
    if shutil.which("terraform") is None:
        return (
            "terraform is not on PATH: install Terraform >= 1.11 (developer.hashicorp.com/terraform/install)"
        )
    if find_mirror() is None:
        return (
            f"no provider filesystem mirror with {AWS_PROVIDER} in {mirror_candidates()}: create one with "
            "`terraform providers mirror <dir>` on a connected machine, then set LEADLAKE_TF_PLUGIN_MIRROR"
        )
    return None


PREREQUISITES: dict[str, Prerequisite] = {
    p.key: p
    for p in (
        Prerequisite("delta-spark", "delta-spark jars missing", delta_spark_missing),
        Prerequisite("java", "java missing", java_missing),
        Prerequisite("terraform", "terraform or its provider mirror missing", terraform_missing),
    )
}
# Markers that declare prerequisites (the `spark` marker means the one delta-spark session: see conftest).
MARKER_NEEDS: dict[str, tuple[str, ...]] = {
    "requires_delta_spark": ("java", "delta-spark"),
    "requires_terraform": ("terraform",),
    "spark": ("java", "delta-spark"),
}


def register(prerequisite: Prerequisite) -> None:
    """Add a prerequisite a later test module needs (its key becomes valid in LEADLAKE_TEST_ALLOW_SKIP)."""
    PREREQUISITES[prerequisite.key] = prerequisite


# -- the rule ---------------------------------------------------------------------------------------------


def allowed() -> frozenset[str]:
    """The keys LEADLAKE_TEST_ALLOW_SKIP lists (lower-cased)."""
    raw = os.environ.get(ALLOW_ENV, "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def unknown_allowed() -> list[str]:
    """Keys in LEADLAKE_TEST_ALLOW_SKIP that name nothing (typos would silently allow nothing)."""
    return sorted(allowed() - set(PREREQUISITES) - {ALL, OTHER})


def is_allowed(key: str) -> bool:
    keys = allowed()
    return ALL in keys or key in keys


def skip_reason(label: str, key: str, detail: str) -> str:
    """The one shape of an allowed skip's reason; group_head() cuts the part the summary groups by."""
    return f"{label} ({ALLOW_ENV}={key}): {detail}"


def failure_text(label: str, key: str, detail: str) -> str:
    return (
        f"{label}: {detail}\n"
        f"A missing prerequisite of a production path fails the run. To skip these tests on purpose, "
        f"set {ALLOW_ENV}={key} (or {ALLOW_ENV}={ALL})."
    )


class MissingPrerequisite(pytest.fail.Exception):  # type: ignore[misc, name-defined]
    """A test failed because the machine lacks a prerequisite it declared (summarised at the end)."""

    def __init__(self, key: str, label: str, text: str) -> None:
        super().__init__(text, pytrace=False)
        self.key, self.label = key, label


def summary_head(key: str) -> str:
    """How the run's last line names failures for a missing prerequisite (or an undeclared skip)."""
    if key in PREREQUISITES:
        return f"{PREREQUISITES[key].label} (set {ALLOW_ENV}={key} to skip)"
    return f"skipped without a declared prerequisite (set {ALLOW_ENV}={OTHER} to allow)"


def needs(*keys: str) -> None:
    """Fail (or, when LEADLAKE_TEST_ALLOW_SKIP lists it, skip) unless every named prerequisite is present."""
    for key in keys:
        try:
            pre = PREREQUISITES[key]
        except KeyError:
            raise pytest.UsageError(
                f"needs({key!r}): unknown prerequisite; known: {sorted(PREREQUISITES)}"
            ) from None
        detail = pre.check()
        if detail is None:
            continue
        if is_allowed(key):
            pytest.skip(skip_reason(pre.label, key, detail))
        raise MissingPrerequisite(key, pre.label, failure_text(pre.label, key, detail))


def needs_of(markers: Iterable[pytest.Mark]) -> list[str]:
    """The prerequisite keys a test's markers declare, in order, without repeats."""
    keys: list[str] = []
    for mark in markers:
        declared = MARKER_NEEDS.get(mark.name, mark.args if mark.name == "needs" else ())
        keys += [k for k in declared if k not in keys]
    return keys


_TAGGED = re.compile(rf"^(?P<label>.+?) \({ALLOW_ENV}=(?P<key>[\w-]+)\): ")


def classify(reason: str) -> tuple[str, str, str]:
    """(key, label, detail) of a skip reason: needs()'s, a known prerequisite's own wording, or other."""
    m = _TAGGED.match(reason)
    if m:
        return m.group("key"), m.group("label"), reason[m.end() :]
    # Modules that skip on leadlake.lakehouse.spark.delta_unavailable_reason() use that exact text.
    try:
        from leadlake.lakehouse.spark import delta_unavailable_reason

        delta_reason = delta_unavailable_reason()
    except ImportError:
        delta_reason = None
    if delta_reason and delta_reason in reason:
        pre = PREREQUISITES["delta-spark"]
        return pre.key, pre.label, pre.check() or reason
    return OTHER, "skipped without a declared prerequisite", reason


def judge_skip(reason: str) -> tuple[bool, str, str]:
    """For one skip: (allowed, key, the text to report: an allowed skip's reason or the failure)."""
    key, label, detail = classify(reason)
    if is_allowed(key):
        return True, key, skip_reason(label, key, detail)
    if key == OTHER:
        text = (
            f"{label}: {detail}\n"
            "A skip that no prerequisite declared (a stray pytest.skip, a skipif mark, importorskip of a "
            "module the project needs) fails the run. Declare what the test needs with needs(...) or a "
            f"requires_* marker (tests/support/skips.py), or set {ALLOW_ENV}={OTHER} to allow such skips."
        )
        return False, key, text
    return False, key, failure_text(label, key, detail)


def group_head(reason: str) -> str:
    """'delta-spark jars missing (LEADLAKE_TEST_ALLOW_SKIP=delta-spark)' from a tagged skip reason."""
    m = _TAGGED.match(reason)
    return reason[: m.end() - 2] if m else reason
