"""YAML parse errors as one line a user can act on (campaigns, field mappings, label rules)."""

from __future__ import annotations


def yaml_error_line(exc: Exception) -> str:
    """A YAML parse error as one line: where (line, column) and what, with the fix for a tab."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" on line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    fix = "; indent with spaces: YAML does not allow tabs" if "'\\t'" in problem else ""
    return f"not valid YAML{where}: {problem}{fix}"
