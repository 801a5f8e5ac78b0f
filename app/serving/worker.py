"""The gunicorn worker class: uvicorn's, with the bounded protocol and the connection limit,
and without a Server header (it tells an attacker which version to look up)."""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from app.core.config import get_settings
from app.serving.protocol import BoundedHttpToolsProtocol


# uvicorn_worker ships no type information.
class HardenedUvicornWorker(UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": BoundedHttpToolsProtocol,
        "server_header": False,
        "limit_concurrency": get_settings().max_connections_per_worker,
    }
