"""PII and secrets never reach a log: every record is masked where it is made, whatever handler prints it.

A LogRecord factory (not a filter on one logger) because filters on a logger do not see records that
propagate from its children, and Airflow, Spark and the CLI each install their own handlers. The factory
masks the message, the traceback of a record logged with exc_info, and its stack_info, so a handler that
formats records its own way (pytest's caplog, Airflow's structlog bridge) never sees the raw values.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

_INSTALLED: list[Callable[..., logging.LogRecord]] = []
_mask: Callable[[str], str] | None = None

# Delta log and checkpoint file names are 20-digit versions: file names a user needs to see, not phones.
_DELTA_FILE_RE = re.compile(r"\b\d{20}(?:\.checkpoint(?:\.\d+)*\.parquet|\.json|\.crc)\b")


def _masker() -> Callable[[str], str]:
    # Imported on first use: phonenumbers and tldextract are not needed to import the package.
    global _mask
    if _mask is None:
        from leadlake.core.normalize import mask_for_log

        _mask = mask_for_log
    return _mask


def mask_text(text: str) -> str:
    """Text safe to log or print: emails and phones masked, credential query parameters blanked.

    Delta log file names (00000000000000000001.json) are kept as they are.
    """
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    masked = _masker()(_DELTA_FILE_RE.sub(keep, text))
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], masked) if kept else masked


def _format_exception(exc_info: Any) -> str:
    # What logging.Formatter.formatException produces, without a formatter at hand.
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the record's message once, masked; the record keeps no raw args, traceback or stack text.

    A traceback is rendered and masked here; when masking changed it, the raw exception is dropped from
    the record (exc_info = None) and the masked text travels in the message, so every handler shows it.
    """
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose args do not fit its format is logged as it came
        return record
    masked = mask_text(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    exc_info = record.exc_info
    if exc_info and isinstance(exc_info, tuple) and exc_info[0] is not None:
        try:
            raw = _format_exception(exc_info)
        except Exception:  # noqa: BLE001 - an exception that cannot be rendered is left to the handler
            raw = None
        if raw is not None:
            text = mask_text(raw)
            if text != raw:
                record.msg = f"{record.msg}\n{text}" if record.msg else text
                record.exc_info, record.exc_text = None, None
            else:
                record.exc_text = raw
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
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
    """Masks the formatted text too: records made before the factory was installed are covered."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(level: int = logging.WARNING) -> None:
    """The CLI's logging: masked records, one masked line per record on stderr."""
    install_pii_masking()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
