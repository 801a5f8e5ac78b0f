"""gunicorn settings for the production image (read by CMD in the Dockerfile).

Every value can be overridden from the environment, so one image serves every deployment.
"""

import os

from app.core.logging import gunicorn_logconfig
from app.core.server import worker_count

bind = os.environ.get("BIND", "0.0.0.0:8000")  # a container listens on all its interfaces
# Async workers: one per CPU the container may use (cgroup quota), unless WEB_CONCURRENCY says.
workers = worker_count(os.environ)
worker_class = "uvicorn_worker.UvicornWorker"

# On SIGTERM, workers stop accepting and get this long to finish in-flight requests.
# Keep it below the orchestrator's grace period (Compose: stop_grace_period).
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
# A worker silent for this long is killed and replaced.
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# Idle keep-alive connections close after this many seconds, so a shutdown is not held open.
keepalive = int(os.environ.get("KEEPALIVE", "5"))
# The heartbeat file must be on a writable filesystem: the root is read-only, /tmp is a tmpfs.
worker_tmp_dir = os.environ.get("WORKER_TMP_DIR", "/tmp")  # noqa: S108 - a tmpfs by design

# Proxy headers (X-Forwarded-For/Proto) are trusted only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The app writes its own access line (with request id and duration); gunicorn's is off.
accesslog = None
logconfig_dict = gunicorn_logconfig(os.environ.get("LOG_LEVEL", "INFO"))
