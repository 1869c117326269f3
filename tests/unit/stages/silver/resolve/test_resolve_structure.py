"""The resolve package: modules import each other without cycles, and never through the package root."""

from __future__ import annotations

import ast
from pathlib import Path

import leadlake.stages.silver.resolve as resolve_pkg

PACKAGE = "leadlake.stages.silver.resolve"
ROOT = Path(resolve_pkg.__file__).parent


def _imports() -> dict[str, set[str]]:
    """module -> the sibling modules it imports (absolute or relative imports alike)."""
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        found: set[str] = set()
        for node in ast.walk(ast.parse((ROOT / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom):
                target = (
                    (node.module or "") if node.level == 0 else f"{PACKAGE}.{node.module or ''}".rstrip(".")
                )
                if target == PACKAGE:
                    found.add("__init__")
                elif target.startswith(f"{PACKAGE}."):
                    found.add(target.removeprefix(f"{PACKAGE}.").split(".")[0])
            elif isinstance(node, ast.Import):
                found |= {
                    a.name.removeprefix(f"{PACKAGE}.") for a in node.names if a.name.startswith(PACKAGE)
                }
        graph[name] = found
    return graph


def test_no_module_imports_the_package_root() -> None:
    assert {m for m, deps in _imports().items() if "__init__" in deps} == set()


def test_no_import_cycles_between_modules() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
    assert graph["settings"] == set()  # the leaf every other module reads


def test_every_exported_name_exists() -> None:
    assert [n for n in resolve_pkg.__all__ if not hasattr(resolve_pkg, n)] == []
