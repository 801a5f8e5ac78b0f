import json
import logging
import logging.config

import pytest

from app.core.logging import gunicorn_logconfig, json_formatter, request_id_var


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
