"""gunicorn settings for the production image (read by CMD in the Dockerfile).

Every value comes from the app's validated Settings (app/core/config.py, their one home), so one
image serves every deployment and a bad value fails at start-up, naming itself.
"""

from typing import Any

from app.core import drain
from app.core.config import get_settings
from app.core.logging import gunicorn_logconfig
from app.observability.multiprocess import (
    aggregating_registry,
    forget_process,
    reset_directory,
    serve,
)
from app.server import process_count, settle_garbage_collection

settings = get_settings()

bind = settings.bind
# Server processes (gunicorn's "workers"): one per CPU the container may use (cgroup quota),
# unless WEB_CONCURRENCY says; each runs uvicorn (app/server.py).
workers = process_count(settings.web_concurrency)
worker_class = "app.server.ServerProcess"
graceful_timeout = settings.graceful_timeout
timeout = settings.worker_timeout
keepalive = settings.keepalive
# The heartbeat file must be on a writable filesystem: the root is read-only, /tmp is a tmpfs.
worker_tmp_dir = settings.worker_tmp_dir
forwarded_allow_ips = settings.trusted_proxies

# No control socket (gunicornc): nothing here uses it, and its default path is under the
# non-root user's home, which a read-only root cannot hold (it logged an error at every start).
control_socket_disable = True

# The app writes its own access line (with request id and duration); gunicorn's is off.
accesslog = None
logconfig_dict = gunicorn_logconfig(settings.log_level)


# Metrics of every server process, summed (app/observability/multiprocess.py): each process
# writes its values into PROMETHEUS_MULTIPROC_DIR (the image's ENV, on the tmpfs), the master
# serves the sum on METRICS_PORT, never on the public port.
def on_starting(server: Any) -> None:
    reset_directory()  # a previous run's files would be counted again


def when_ready(server: Any) -> None:
    if settings.metrics_enabled:
        serve(settings.metrics_port, aggregating_registry())


def child_exit(server: Any, worker: Any) -> None:
    forget_process(worker.pid)


def post_worker_init(worker: Any) -> None:
    # Each server process drains on SIGTERM before it stops (app/core/drain.py).
    drain.drain_this_process()
    # The app is loaded: what is loaded so far is kept out of the collector's way (app/server.py).
    settle_garbage_collection()
