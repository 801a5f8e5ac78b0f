"""The gunicorn worker class: uvicorn's, with the bounded protocol and the connection limit,
without a Server header (it tells an attacker which version to look up), and with a drain on
SIGTERM (app/core/drain.py)."""

import asyncio
import logging
import signal
import sys
from types import FrameType
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn import Config, Server
from uvicorn_worker import UvicornWorker

from app.core import drain
from app.core.config import get_settings
from app.serving.protocol import BoundedHttpToolsProtocol

logger = logging.getLogger(__name__)


class DrainingServer(Server):
    """uvicorn's server, which on the first SIGTERM drains before it stops: readiness fails at
    once, every request is still served for ``drain_seconds``, then uvicorn's own graceful
    shutdown runs (stop accepting, finish in-flight requests). A second SIGTERM, or SIGINT, or
    a drain of 0 s, stops at once as before."""

    def __init__(self, config: Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_seconds <= 0 or drain.is_draining():
            super().handle_exit(sig, frame)
            return
        drain.start_draining()
        # The moment the drain starts, for whoever reads the logs after a deploy (and the scale
        # suite, which checks that the edge stopped sending requests soon after it).
        logger.info("draining", extra={"drain_seconds": self.drain_seconds})
        # Called from a signal handler: hand the timer to the loop in a signal-safe way.
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(
            loop.call_later, self.drain_seconds, super().handle_exit, sig, frame
        )


# uvicorn_worker ships no type information.
class HardenedUvicornWorker(UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": BoundedHttpToolsProtocol,
        "server_header": False,
        "limit_concurrency": get_settings().max_connections_per_worker,
    }

    async def _serve(self) -> None:
        # uvicorn_worker's own _serve, with the draining server in place of uvicorn's.
        self.config.app = self.wsgi
        server = DrainingServer(self.config, get_settings().drain_seconds)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
