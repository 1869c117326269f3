"""Every log record made in a process that imported leadlake is masked where it is made, whatever handler
prints it: message and args, a traceback logged with exc_info, stack_info, and records of other libraries."""

from __future__ import annotations

import logging

import pytest

import leadlake  # noqa: F401 - installs the record factory, as any process that imports leadlake does
from leadlake.observe.logs import MaskingFormatter, mask_record, mask_text

EMAIL, PHONE, KEY = "jane.doe@example.com", "+1 303 555 0142", "sk-live-0123456789abcdef"
MASKED_EMAIL, MASKED_PHONE = "j***@example.com", "+1******0142"


def _raw_in(text: str) -> list[str]:
    return [raw for raw in (EMAIL, PHONE, "303 555 0142", "3035550142", KEY) if raw in text]


def test_message_args_are_masked_before_any_handler_sees_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="leadlake.test"):
        logging.getLogger("leadlake.test").info("lead %s, phone %s", EMAIL, PHONE)
    (record,) = caplog.records
    assert record.args is None and record.getMessage() == f"lead {MASKED_EMAIL}, phone {MASKED_PHONE}"
    assert not _raw_in(caplog.text)


def test_records_of_other_libraries_are_masked_too(caplog: pytest.LogCaptureFixture) -> None:
    url = f"https://hunter.example/v2/domain-search?domain=x.com&api_key={KEY}"
    # httpx's own logger level too: another library may have raised it (caplog sets the root's only)
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: GET %s "HTTP/1.1 200 OK"', url)
        logging.getLogger("airflow.task").warning("contact %s", EMAIL)
    assert "api_key=***" in caplog.text and MASKED_EMAIL in caplog.text
    assert not _raw_in(caplog.text)


def test_a_traceback_holding_pii_is_masked_for_every_handler(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("leadlake.test")
    with caplog.at_level(logging.ERROR, logger="leadlake.test"):
        try:
            raise ValueError(f"CRM refused {EMAIL} ({PHONE})")
        except ValueError:
            log.exception("delivery failed")
    (record,) = caplog.records
    # The raw exception is gone from the record, so no handler can render it; the masked text travels along.
    assert record.exc_info is None
    message = record.getMessage()
    assert message.startswith("delivery failed\nTraceback (most recent call last):")
    assert f"ValueError: CRM refused {MASKED_EMAIL} ({MASKED_PHONE})" in message
    assert not _raw_in(caplog.text)
    plain = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert "Traceback" in plain and not _raw_in(plain)


def test_a_traceback_without_pii_keeps_its_exception(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="leadlake.test"):
        try:
            raise KeyError("lead_id")
        except KeyError:
            logging.getLogger("leadlake.test").exception("lookup failed")
    (record,) = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert record.getMessage() == "lookup failed" and "KeyError: 'lead_id'" in caplog.text


def test_stack_info_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    def deliver(contact: str) -> None:
        logging.getLogger("leadlake.test").warning("slow for %s", contact, stack_info=True)

    with caplog.at_level(logging.WARNING, logger="leadlake.test"):
        deliver("jane.doe@example.com")  # this source line, with the literal, is part of the stack text
    (record,) = caplog.records
    assert record.stack_info and "Stack (most recent call last)" in record.stack_info
    assert not _raw_in(record.getMessage() + record.stack_info)


def test_delta_log_file_names_are_not_taken_for_phone_numbers() -> None:
    text = f"/lake/silver/leads/_delta_log/00000000000000000012.json is not valid JSON; call {PHONE}"
    assert (
        mask_text(text)
        == f"/lake/silver/leads/_delta_log/00000000000000000012.json is not valid JSON; call {MASKED_PHONE}"
    )
    checkpoint = "_delta_log/00000000000000000010.checkpoint.parquet"
    assert mask_text(checkpoint) == checkpoint


def test_masking_formatter_covers_records_made_before_the_factory() -> None:
    record = logging.LogRecord("leadlake.test", logging.WARNING, __file__, 1, "contact %s", (EMAIL,), None)
    assert MaskingFormatter("%(message)s").format(record) == f"contact {MASKED_EMAIL}"


def test_a_record_whose_args_do_not_fit_is_left_to_the_handler() -> None:
    record = logging.LogRecord("leadlake.test", logging.WARNING, __file__, 1, "%d items", ("many",), None)
    assert mask_record(record) is record and record.args == ("many",)


def test_an_exception_that_cannot_be_rendered_does_not_break_logging() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    try:
        raise Unprintable()
    except Unprintable as exc:
        record = logging.LogRecord(
            "leadlake.test", logging.ERROR, __file__, 1, "x", None, (type(exc), exc, exc.__traceback__)
        )
    mask_record(record)
    assert record.getMessage().startswith("x")
    assert "Unprintable" in logging.Formatter().format(record)


def test_digit_runs_inside_a_word_are_not_phones_a_path_stays_openable() -> None:
    """A hex hash in a folder name (the Airflow home's) once held 11 digits in a row: the log path a failed
    DAG's one-line error names came out masked, and nobody could open it."""
    path = "/p/.state/airflow/12345678901f4625f/logs/task_id=bronze/attempt=1.log"
    assert mask_text(f"log: {path}") == f"log: {path}"
    assert mask_text("run a1234567890b9") == "run a1234567890b9"
    # Phones standing alone are still masked, whatever surrounds them.
    assert mask_text("call 3035550142, or +1 (303) 555-0142.") == "call ******0142, or +1******0142."
    assert mask_text("phone=3035550142&x") == "phone=******0142&x"
