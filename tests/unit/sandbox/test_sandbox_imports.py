"""The sandbox import graph (every import, also under TYPE_CHECKING or in functions) has no cycle.

Nothing below the package root imports the server. Run as a script to print the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import leadlake.sandbox

ROOT = Path(leadlake.sandbox.__file__).parent
PACKAGE = "leadlake.sandbox"
SERVER = f"{PACKAGE}.server"
# The package root re-exports the server; the CLI (leadlake.cli, outside this package) starts it.
MAY_IMPORT_SERVER = {PACKAGE}


def _module_name(root: Path, package: str, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module of `package` -> the modules of `package` it imports anywhere in its source."""
    files = {_module_name(root, package, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule; `from mod import name` imports mod.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_sandbox_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 20 and f"{PACKAGE}.routes.google" in graph  # the walk found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_only_the_package_root_imports_the_server() -> None:
    importers = {m for m, deps in import_graph().items() if SERVER in deps}
    assert importers <= MAY_IMPORT_SERVER, importers


def test_routes_depend_on_the_state_protocol_not_on_the_server() -> None:
    graph = import_graph()
    routes = [m for m in graph if m.startswith(f"{PACKAGE}.routes.")]
    assert len(routes) >= 6
    forbidden = {SERVER, f"{PACKAGE}.registry", f"{PACKAGE}.admin", PACKAGE}
    for module in routes:
        assert not graph[module] & forbidden, (module, graph[module] & forbidden)
        assert f"{PACKAGE}.state" in graph[module], module


def test_the_checker_sees_type_checking_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n"
    )
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n    return c\n")
    (pkg / "c.py").write_text("from . import a\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


if __name__ == "__main__":
    g = import_graph()
    for mod in sorted(g):
        print(mod, "->", ", ".join(sorted(d.removeprefix(PACKAGE + ".") for d in g[mod])) or "-")
    print("cycle:", find_cycle(g))
