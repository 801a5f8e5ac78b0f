"""Logging: JSON lines on stdout, each carrying the id of the request it belongs to.

Records are formatted where they are made (a few microseconds) and written in batches by a
background thread, so a slow stdout (a full pipe to the container runtime) never blocks the
event loop, and a busy server pays for one write per batch instead of a thread wake-up per line.
"""

import atexit
import json
import logging
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The job the job worker is running (app.worker.broker sets it), on each of that job's lines.
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# The current trace's id, when tracing is on (app/observability/tracing.py installs it); while
# it is off, a line costs one check of this and nothing of OpenTelemetry is imported.
TraceIdSource = Callable[[], str | None]
_trace_id_source: TraceIdSource | None = None


def set_trace_id_source(source: TraceIdSource | None) -> None:
    global _trace_id_source  # noqa: PLW0603 - one source per process, set when tracing starts
    _trace_id_source = source


def line_fields(
    level: str,
    logger: str,
    message: str,
    fields: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Every log line's shape: the access line, ordinary records and the handler's own notices
    all come through here, so they carry the same keys in the same order. The request id is the
    current request's, unless ``fields`` names another (a record stamped where it was made)."""
    line = {
        "time": (at or datetime.now(UTC)).isoformat(),  # ISO 8601 in UTC
        "level": level,
        "logger": logger,
        "message": message,
        "request_id": request_id_var.get(),
    }
    if _trace_id_source is not None and (trace_id := _trace_id_source()) is not None:
        line["trace_id"] = trace_id
    if (job_id := job_id_var.get()) is not None:
        line["job_id"] = job_id
    return line | fields if fields else line


# What a LogRecord carries of its own; anything else on it came from ``extra=`` and is logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message"}


class JsonLineFormatter(logging.Formatter):
    """A record as one JSON line (see ``line_fields``); ``extra=`` fields are added as keys."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
        if record.exc_info:
            extra["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            extra["stack_info"] = self.formatStack(record.stack_info)
        fields = line_fields(
            record.levelname,
            record.name,
            record.getMessage(),
            extra,
            at=datetime.fromtimestamp(record.created, UTC),
        )
        return json.dumps(fields, default=str)


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


class BatchingStreamHandler(logging.Handler):
    """Buffers formatted lines; a writer thread writes them out every ``interval`` seconds.

    The buffer is bounded: if the stream stops draining, new lines are counted and dropped
    (and the count is logged once it drains) rather than growing memory without end.
    """

    def __init__(self, stream: TextIO, interval: float = 0.05, max_lines: int = 100_000) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._dropped = 0
        self._buffer_lock = threading.Lock()
        self._stopping = threading.Event()
        self._writer = threading.Thread(
            target=self._write_periodically, name="log-writer", daemon=True
        )
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted must not break the request
            self.handleError(record)
            return
        self.write_line(line)

    def flush(self) -> None:
        with self._buffer_lock:
            lines, self._lines = self._lines, []
            dropped, self._dropped = self._dropped, 0
        if dropped:
            notice = f"dropped {dropped} log lines: stdout did not keep up"
            lines.append(json.dumps(line_fields("WARNING", __name__, notice)))
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def write_line(self, line: str) -> None:
        """Queue an already formatted line (the access log's fast path)."""
        with self._buffer_lock:
            if len(self._lines) < self.max_lines:
                self._lines.append(line)
            else:
                self._dropped += 1

    def close(self) -> None:
        self._stopping.set()
        if self._writer.is_alive() and self._writer is not threading.current_thread():
            self._writer.join(timeout=5)
        self.flush()
        super().close()

    def _write_periodically(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()


ACCESS_LOGGER = "app.access"
access_logger = logging.getLogger(ACCESS_LOGGER)


# A path longer than this is logged cut, with its length: a client cannot flood the logs.
MAX_LOGGED_PATH = 1024


def log_access(  # noqa: PLR0913 - one argument per field of the line
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    *,
    client: str | None = None,
    key_id: str | None = None,
) -> None:
    """One access line per request, in the shape of every other line, without the cost of the
    generic path (a LogRecord, then a formatter that inspects it): this runs on every request.
    Honours the access logger's level like any other log call."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    if len(path) > MAX_LOGGED_PATH:
        path = f"{path[:MAX_LOGGED_PATH]}…({len(path)} characters)"
    # The client as the rate limit sees it: resolved through the trusted proxies (the edge).
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "client": client,
        # The caller's key id (never the key), when the route authenticated one.
        "key_id": key_id,
    }
    if _handler is None:  # logging not configured by us: take the ordinary path
        access_logger.info("request", extra=fields)
        return
    line = line_fields("INFO", ACCESS_LOGGER, "request", fields)
    _handler.write_line(json.dumps(line))


def json_formatter() -> JsonLineFormatter:
    return JsonLineFormatter()


_handler: BatchingStreamHandler | None = None


def stdout_handler() -> BatchingStreamHandler | None:
    """The handler configure_logging installed (tests read what it writes)."""
    return _handler


def _writes_to_console(handler: logging.Handler) -> bool:
    if isinstance(handler, BatchingStreamHandler):
        return True
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return isinstance(handler, logging.StreamHandler) and handler.stream in consoles


def _close_handler() -> None:
    """Write out what is buffered; at exit too, so the last lines of a process are not lost."""
    if _handler is not None:
        _handler.close()


atexit.register(_close_handler)


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger, uvicorn's and gunicorn's through one JSON stdout handler."""
    global _handler  # noqa: PLW0603 - one handler per process, replaced on reconfigure
    _close_handler()
    _handler = BatchingStreamHandler(sys.stdout)
    _handler.setFormatter(json_formatter())
    _handler.addFilter(DropColorMessage())
    logging.setLogRecordFactory(_record_with_request_id)

    root = logging.getLogger()
    # Replace console handlers (gunicorn's, a previous call's); keep any other, such as an
    # error tracker's or pytest's.
    root.handlers[:] = [h for h in root.handlers if not _writes_to_console(h)] + [_handler]
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
        "formatters": {"json": {"()": f"{__name__}.JsonLineFormatter"}},
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
