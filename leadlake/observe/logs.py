"""PII and secrets never reach a log: every record is masked where it is made, whatever handler prints it.

A LogRecord factory (not a filter on one logger) because filters on a logger do not see records that
propagate from its children, and Airflow, Spark and the CLI each install their own handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_INSTALLED: list[Callable[..., logging.LogRecord]] = []
_mask: Callable[[str], str] | None = None


def _masker() -> Callable[[str], str]:
    # Imported on first use: phonenumbers and tldextract are not needed to import the package.
    global _mask
    if _mask is None:
        from leadlake.core.normalize import mask_for_log

        _mask = mask_for_log
    return _mask


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the record's message once, masked; the record keeps no raw args."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose args do not fit its format is logged as it came
        return record
    masked = _masker()(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    return record


def install_pii_masking() -> None:
    """Mask emails, phones and credential parameters in every log record of this process (idempotent)."""
    if _INSTALLED:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    _INSTALLED.append(previous)
    logging.setLogRecordFactory(factory)


def uninstall_pii_masking() -> None:
    """Restore the factory install_pii_masking replaced (tests)."""
    if _INSTALLED:
        logging.setLogRecordFactory(_INSTALLED.pop())


class MaskingFormatter(logging.Formatter):
    """Masks the formatted text too, so tracebacks (formatted late) are covered."""

    def format(self, record: logging.LogRecord) -> str:
        return _masker()(super().format(record))


def configure_logging(level: int = logging.WARNING) -> None:
    """The CLI's logging: masked records, one masked line per record on stderr."""
    install_pii_masking()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
