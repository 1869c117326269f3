"""The lakehouse package: one module per concern, the public names in one place, imports only downward."""

from __future__ import annotations

import ast
from pathlib import Path

import leadlake.lakehouse as lakehouse

PACKAGE = Path(lakehouse.__file__).parent
# What the rest of the code imports from `leadlake.lakehouse`; keep every one of them there.
PUBLIC = {
    "CommitConflict",
    "Lakehouse",
    "LakehouseError",
    "LakehouseUnreachable",
    "MergeStats",
    "SparkLakehouse",
    "TableInfo",
    "TableNotFound",
    "parse_name",
    "publish",
    "with_retries",
}
# Module -> the sibling modules it may import (base and catalog are the bottom of the package).
ALLOWED = {
    "catalog": set(),
    "base": {"catalog"},
    "sql": {"base", "catalog"},
    "delta_rs": {"base", "catalog", "sql"},
    "delta_spark": {"base", "catalog"},
}


def leadlake_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leadlake"):
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("leadlake")}
    return found


def test_public_names_are_importable_from_the_package() -> None:
    assert PUBLIC <= set(lakehouse.__all__)
    assert all(hasattr(lakehouse, name) for name in lakehouse.__all__)


def test_one_module_per_backend_and_no_leftover_delta_module() -> None:
    assert {p.stem for p in PACKAGE.glob("*.py")} >= {"base", "catalog", "sql", "delta_rs", "delta_spark"}
    assert not (PACKAGE / "delta.py").exists()
    assert lakehouse.Lakehouse.__module__ == "leadlake.lakehouse.delta_rs"
    assert lakehouse.SparkLakehouse.__module__ == "leadlake.lakehouse.delta_spark"


def test_modules_import_only_downward_and_never_above_the_lakehouse() -> None:
    wrong = []
    for module, allowed in ALLOWED.items():
        for name in leadlake_imports(PACKAGE / f"{module}.py"):
            parts = name.split(".")
            if parts[1] == "core":
                continue
            sibling = parts[2] if parts[1] == "lakehouse" and len(parts) > 2 else None
            if sibling is None or sibling not in allowed:
                wrong.append(f"{module} -> {name}")
    assert wrong == []
