"""Logging: JSON lines on stdout, each carrying the id of the request it belongs to.

Records are handed to a queue and written by a background thread, so a slow stdout (a full
pipe to the container runtime) never blocks the event loop.
"""

import atexit
import logging
import logging.handlers
import queue
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

LOG_FORMAT = "%(levelname)s %(name)s %(message)s"
LOG_RENAMES = {"levelname": "level", "name": "logger"}
LOG_TIMESTAMP = "time"  # ISO 8601 in UTC

_listener: logging.handlers.QueueListener | None = None


_base_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamps each record, as it is created, with the id of the request being served."""
    record = _base_record_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    return record


class DropColorMessage(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of its message: noise in a JSON line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


class InProcessQueueHandler(logging.handlers.QueueHandler):
    """Queues records for the writer thread without flattening them.

    The stock QueueHandler prepares records for pickling and folds the traceback into the
    message; in-process there is no pickling, so the traceback stays its own JSON field.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg = record.getMessage()  # freeze the arguments as they are now
        record.args = None
        return record


def json_formatter() -> JsonFormatter:
    return JsonFormatter(LOG_FORMAT, rename_fields=LOG_RENAMES, timestamp=LOG_TIMESTAMP)


def _writes_to_console(handler: logging.Handler) -> bool:
    if isinstance(handler, InProcessQueueHandler):
        return True
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return isinstance(handler, logging.StreamHandler) and handler.stream in consoles


def _stop_listener() -> None:
    """Flush what is queued; at exit, so the last lines of a stopping process are not lost."""
    if _listener is not None:
        _listener.stop()


atexit.register(_stop_listener)


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger, uvicorn's and gunicorn's through one JSON stdout handler."""
    global _listener  # noqa: PLW0603 - one listener per process, replaced on reconfigure
    _stop_listener()
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(json_formatter())
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    to_queue = InProcessQueueHandler(log_queue)
    to_queue.addFilter(DropColorMessage())
    logging.setLogRecordFactory(_record_with_request_id)
    _listener = logging.handlers.QueueListener(log_queue, stdout, respect_handler_level=False)
    _listener.start()

    root = logging.getLogger()
    # Replace console handlers (gunicorn's, a previous call's); keep any other, such as an
    # error tracker's or pytest's.
    root.handlers[:] = [h for h in root.handlers if not _writes_to_console(h)] + [to_queue]
    root.setLevel(level)
    # uvicorn's access log is replaced by ours (one line with request id and duration).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """The same JSON shape for gunicorn's master process, as a dictConfig."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": LOG_FORMAT,
                "rename_fields": LOG_RENAMES,
                "timestamp": LOG_TIMESTAMP,
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": True},
        },
    }
