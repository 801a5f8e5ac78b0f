import io
import json
import logging
import logging.config

import pytest

from app.core.logging import (
    BatchingStreamHandler,
    gunicorn_logconfig,
    json_formatter,
    request_id_var,
)


def test_a_log_line_is_json_with_time_level_logger_and_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.getLogger("app.test").makeRecord(
            "app.test", logging.WARNING, __file__, 1, "disk %s", ("full",), None
        )
    finally:
        request_id_var.reset(token)

    line = json.loads(json_formatter().format(record))

    assert line["message"] == "disk full"
    assert line["level"] == "WARNING"
    assert line["logger"] == "app.test"
    assert line["request_id"] == "req-42"
    assert line["time"].endswith("+00:00")


def test_outside_a_request_the_request_id_is_null() -> None:
    record = logging.getLogger("app.test").makeRecord(
        "app.test", logging.INFO, __file__, 1, "boot", (), None
    )

    assert json.loads(json_formatter().format(record))["request_id"] is None


def test_gunicorn_logs_in_the_same_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test
    monkeypatch.setattr(root, "level", root.level)
    config = gunicorn_logconfig("WARNING")
    logging.config.dictConfig(config)  # must be a valid dictConfig
    formatter = root.handlers[0].formatter
    record = logging.getLogger("gunicorn.error").makeRecord(
        "gunicorn.error", logging.WARNING, __file__, 1, "worker timeout", (), None
    )

    assert formatter is not None
    line = json.loads(formatter.format(record))
    assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    assert config["root"]["level"] == "WARNING"


def test_a_batch_is_written_in_one_go_and_close_flushes_it() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=60)  # only close() will write
    handler.setFormatter(logging.Formatter("%(message)s"))
    for n in range(3):
        handler.handle(logging.makeLogRecord({"msg": f"line {n}"}))
    assert stream.getvalue() == ""

    handler.close()

    assert stream.getvalue() == "line 0\nline 1\nline 2\n"


def test_a_stalled_stream_costs_dropped_lines_not_memory_and_says_so() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=60, max_lines=2)
    for n in range(5):
        handler.write_line(f"line {n}")

    handler.close()

    *kept, notice = stream.getvalue().splitlines()
    assert kept == ["line 0", "line 1"]
    assert json.loads(notice)["message"] == "dropped 3 log lines: stdout did not keep up"


def test_a_record_that_cannot_be_formatted_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = BatchingStreamHandler(io.StringIO(), interval=60)
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)

    handler.handle(logging.makeLogRecord({"msg": "%d", "args": ("not a number",)}))
    handler.close()

    assert len(errors) == 1
