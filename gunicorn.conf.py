"""gunicorn settings for the production image (read by CMD in the Dockerfile).

Every value comes from the app's validated Settings (app/core/config.py, their one home), so one
image serves every deployment and a bad value fails at start-up, naming itself.
"""

from app.core.config import get_settings
from app.core.logging import gunicorn_logconfig
from app.core.server import worker_count

settings = get_settings()

bind = settings.bind
# Async workers: one per CPU the container may use (cgroup quota), unless WEB_CONCURRENCY says.
workers = worker_count(settings.web_concurrency)
worker_class = "app.serving.worker.HardenedUvicornWorker"
graceful_timeout = settings.graceful_timeout
timeout = settings.worker_timeout
keepalive = settings.keepalive
# The heartbeat file must be on a writable filesystem: the root is read-only, /tmp is a tmpfs.
worker_tmp_dir = settings.worker_tmp_dir
forwarded_allow_ips = settings.forwarded_allow_ips

# The app writes its own access line (with request id and duration); gunicorn's is off.
accesslog = None
logconfig_dict = gunicorn_logconfig(settings.log_level)
