"""Draining: the window between SIGTERM and a server process that stops accepting.

A load balancer or the edge learns that a replica is going away some time after the
orchestrator decides it (DNS records expire, probes run on an interval). For that long the
replica must keep answering whatever still reaches it, while telling probes it is no longer
ready. ``drain_on_sigterm`` (called by the app's lifespan) puts itself in front of the server's
own SIGTERM handler: the first SIGTERM starts the drain, and the server's handler runs once it
is over; a second SIGTERM, or a drain of 0 s, runs it at once. /health/ready and the request
middleware read ``draining``, a flag (an Event) rather than a function, so the request path
costs no call into this module. One flag per process: every server process receives SIGTERM
and drains alone.

Only the production server's processes drain: gunicorn.conf.py calls ``drain_this_process``
in each (post_worker_init). A reloading dev server, a test or a tool stops at once.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)

# Set from the first SIGTERM on, in a process that drains.
draining = threading.Event()
_wanted = False

SignalHandler = Callable[[int, FrameType | None], object]


def drain_this_process() -> None:
    """This process serves production traffic: drain it on SIGTERM."""
    global _wanted  # noqa: PLW0603 - one flag per process, by design
    _wanted = True


def reset() -> None:
    """Back to serving, in a process that does not drain (for tests)."""
    global _wanted  # noqa: PLW0603
    draining.clear()
    _wanted = False


def draining_handler(
    then: SignalHandler, seconds: float, loop: asyncio.AbstractEventLoop
) -> SignalHandler:
    """A SIGTERM handler that drains for ``seconds``, then calls ``then`` (the server's own)."""

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if draining.is_set() or seconds <= 0:
            then(sig, frame)
            return
        draining.set()
        # The moment the drain starts, for whoever reads the logs after a deploy (and the scale
        # suite, which checks that the edge stopped sending requests soon after it).
        logger.info("draining", extra={"drain_seconds": seconds})
        # Called from a signal handler: hand the timer to the loop in a signal-safe way.
        loop.call_soon_threadsafe(loop.call_later, seconds, then, sig, frame)

    return on_sigterm


def drain_on_sigterm(seconds: float) -> Callable[[], None]:
    """Drain on SIGTERM while serving; returns what undoes it. Only in a process that drains
    (``drain_this_process``), where a server handles SIGTERM itself (uvicorn does, from the main
    thread), and for a drain longer than 0 s: elsewhere it changes nothing."""
    server_handler = signal.getsignal(signal.SIGTERM)
    if not _wanted or seconds <= 0 or not callable(server_handler):
        return lambda: None
    loop = asyncio.get_running_loop()
    signal.signal(signal.SIGTERM, draining_handler(server_handler, seconds, loop))

    def restore() -> None:
        signal.signal(signal.SIGTERM, server_handler)

    return restore
