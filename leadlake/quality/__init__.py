"""Quality gates (Great Expectations suites per table) and the one quarantine shape every stage writes."""

from leadlake.quality.gates import (
    EXPECTATIONS_DIR,
    QUARANTINE_COLUMN,
    TABLES,
    QualityGateFailed,
    QualityResult,
    enforce,
    split_valid,
    suite_path,
    validate,
)

__all__ = [
    "EXPECTATIONS_DIR",
    "QUARANTINE_COLUMN",
    "TABLES",
    "QualityGateFailed",
    "QualityResult",
    "enforce",
    "split_valid",
    "suite_path",
    "validate",
]
