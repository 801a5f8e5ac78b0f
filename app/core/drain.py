"""Draining: the window between SIGTERM and a server process that stops accepting.

A load balancer or the edge learns that a replica is going away some time after the
orchestrator decides it (DNS records expire, probes run on an interval). For that long the
replica must keep answering whatever still reaches it, while telling probes it is no longer
ready. The server (app/serving/worker.py) starts the drain on SIGTERM; /health/ready reads it.
One flag per process: every gunicorn worker receives SIGTERM and drains on its own.
"""

import time

_draining_since: float | None = None


def start_draining() -> None:
    """Readiness fails from now on; idempotent (the first SIGTERM's moment is kept)."""
    global _draining_since  # noqa: PLW0603 - one flag per process, by design
    if _draining_since is None:
        _draining_since = time.monotonic()


def is_draining() -> bool:
    return _draining_since is not None


def reset() -> None:
    """For tests: back to serving."""
    global _draining_since  # noqa: PLW0603
    _draining_since = None
