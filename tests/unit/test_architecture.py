"""The shape of the package: imports point one way, stages meet only through tables, and the provider list
and the stage order each exist once (in their registries)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "leadlake"
# Top to bottom: a module may import its own layer or any layer below it, never one above.
LAYERS = [
    "cli",
    "runtime",
    "stages",
    "ml",
    "governance",
    "observe",
    "quality",
    "connectors",
    "lakehouse",
    "core",
    "sandbox",
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every leadlake module `name` imports: top level, in functions and under TYPE_CHECKING alike."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("leadlake")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.startswith("leadlake"):
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_imports_and_finds_a_cycle() -> None:
    assert "leadlake.runtime.resources" in GRAPH["leadlake.runtime.stages"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_no_upward_import() -> None:
    upward = [
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if _layer(m) and _layer(d) and LAYERS.index(_layer(d)) < LAYERS.index(_layer(m))
    ]
    assert upward == []


def test_no_stage_imports_another_stage() -> None:
    def stage_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "stages" else None

    crossing = [
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if stage_of(m) and stage_of(d) and stage_of(m) != stage_of(d)
    ]
    assert crossing == []


# A name that is also a word of another vocabulary: HubSpot is one of the technologies PDL reports.
NOT_THE_CONNECTOR = {("hubspot", "leadlake/connectors/sources/pdl.py")}


def _literal_mentions(name: str) -> list[str]:
    """Files outside the registry, the connector's own module and the sandbox that spell a provider's name."""
    allowed = {
        PACKAGE / "connectors" / "registry.py",
        PACKAGE / "connectors" / "sources" / f"{name}.py",
        PACKAGE / "connectors" / "destinations" / f"{name}.py",
    }
    pattern = re.compile(rf"[\"']{name}[\"']")
    hits = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "dags").glob("*.py"), *(ROOT / "jobs").glob("*.py")]:
        if path in allowed or PACKAGE / "sandbox" in path.parents:
            continue
        if (name, str(path.relative_to(ROOT))) in NOT_THE_CONNECTOR:
            continue
        if pattern.search(path.read_text()):
            hits.append(str(path.relative_to(ROOT)))
    return hits


@pytest.mark.parametrize("name", ["google_places", "yelp", "pdl", "hunter", "opencorporates", "hubspot"])
def test_each_connector_is_named_in_one_place(name: str) -> None:
    from leadlake.connectors.registry import names

    assert name in names()
    assert _literal_mentions(name) == []


def test_lists_of_providers_derive_from_the_registry() -> None:
    from leadlake.connectors.registry import names
    from leadlake.connectors.sources import ADAPTERS, ENRICHMENT_ADAPTERS
    from leadlake.runtime.airflow.local import pools
    from leadlake.sandbox.server import SandboxKeys

    assert list(ADAPTERS) == names("discovery")
    assert list(ENRICHMENT_ADAPTERS) == names("enrichment")
    assert set(pools()) == {f"leadlake_{n}" for n in names()}
    keys = SandboxKeys()
    from leadlake.connectors.registry import connector

    served = [n for n in names() if not connector(n).extra.get("local")]  # files and webhooks are not
    assert {n: getattr(keys, n) for n in served} == {n: connector(n).sandbox_key for n in served}


def test_the_stage_order_exists_once() -> None:
    """No module but the registry lists the stage names in order."""
    from leadlake.runtime.stages import stage_names

    order = stage_names()
    assert order[:2] == ["bronze", "silver"] and order[-3:] == ["delivery", "feedback", "train"]
    spelled = re.compile(r"[\"']gold[\"']\s*,\s*[\"']delivery[\"']")
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*PACKAGE.rglob("*.py"), *(ROOT / "dags").glob("*.py"), *(ROOT / "jobs").glob("*.py")]
        if p != PACKAGE / "runtime" / "stages.py" and spelled.search(p.read_text())
    ]
    assert offenders == []
