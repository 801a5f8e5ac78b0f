"""The worker's and the scheduler's own settings (environment, or a file in /run/secrets)."""

from pydantic import PositiveFloat, PositiveInt

from app.core.config import SettingsBase


class WorkerSettings(SettingsBase):
    # Jobs one worker process runs at once, and messages it takes ahead of them.
    worker_concurrency: PositiveInt = 10
    worker_prefetch: PositiveInt = 10
    # On SIGTERM, running jobs get this long to finish; what is left is handed back (never
    # acknowledged), for another worker to take. Keep it under the stop grace period.
    worker_shutdown_timeout_seconds: PositiveInt = 20
    # A message taken by a worker that died is taken over by another once it has been
    # unacknowledged this long (Redis XAUTOCLAIM). Longer than any job's run.
    worker_reclaim_idle_seconds: PositiveInt = 600
    # The worker's (and the scheduler's) loop touches its heartbeat file this often; the
    # healthcheck fails once the file is older than the stale age.
    worker_heartbeat_seconds: PositiveFloat = 5.0
    worker_heartbeat_stale_seconds: PositiveFloat = 30.0
