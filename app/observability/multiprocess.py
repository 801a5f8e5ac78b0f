"""The process side of metrics: one registry that sums every process's files, served on a port
of its own. Kept apart from metrics.py so gunicorn's master, which only serves and cleans up,
defines no metric of its own.

gunicorn.conf.py wires it: ``on_starting`` wipes the directory (a restart's leftovers would be
counted again), ``when_ready`` serves, ``child_exit`` drops a dead worker's live gauges. A dead
worker's counters and histograms stay in their files and keep being summed: nothing it counted
is lost, and its replacement writes files of its own pid, so nothing is counted twice.
"""

import os
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, MetricsHandler
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_directory() -> Path | None:
    """Where the image says processes write their values (its ENV); None: in-process only."""
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    return Path(directory) if directory else None


def reset_directory() -> None:
    """Empty the directory before the first worker starts (it is on the tmpfs)."""
    if (directory := multiprocess_directory()) is not None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)


def aggregating_registry() -> CollectorRegistry:
    """Every process's values summed (multiprocess mode), else this process's own."""
    directory = multiprocess_directory()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry


def serve(port: int, registry: CollectorRegistry) -> None:
    """/metrics (any path, in fact) on ``port``, from a daemon thread of this process:
    prometheus-client's handler in the standard library's threading HTTP server."""
    server = ThreadingHTTPServer(("", port), MetricsHandler.factory(registry))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def forget_process(pid: int) -> None:
    """A worker died: its live gauges (in flight, pool in use) no longer count."""
    if multiprocess_directory() is not None:
        mark_process_dead(pid)  # type: ignore[no-untyped-call]
