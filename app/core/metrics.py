"""Every metric the service exports, defined once: the app's, the worker's, and what the core
and the kit count (cache lookups, rate-limit rejections, Redis availability).

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set in the image, never from Python) makes each
process write its values into files there; the master sums them for every worker at scrape time
(app/observability/multiprocess.py). Gauges say how a dead worker's value is combined: the
``live*`` modes drop it (gunicorn's child_exit), so an in-flight count never includes a dead
process. Without the variable (tests, the dev server) they are ordinary in-process metrics.

This module imports nothing of the app: core, kit and resources may all count through it.
app/observability serves these metrics; defining them is not serving them.
"""

import os

from prometheus_client import Counter, Gauge, Histogram

# prometheus-client writes a process's files as soon as a metric without labels is made: the
# directory must exist for any process that imports this (a probe run with `docker exec` too).
# gunicorn's master wipes it at start (multiprocess.py); this never removes anything.
if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(directory, exist_ok=True)

# An API's latencies: a few milliseconds (a cached read) to the 10 s past which clients gave up.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs run longer: an export streams every row.
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# The route label of a request no route matched (a 404, or one answered before routing, such
# as a 429): a fixed value, so made-up paths cannot add series.
UNMATCHED_ROUTE = "unmatched"

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to its response's last byte, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being served now, across the live workers.",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the live workers' pools.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "db_pool_connections_max",
    "Connections the live workers' pools may hold (pool size plus overflow).",
    multiprocess_mode="livesum",
)
REDIS_UP = Gauge(
    "redis_up",
    "1 while Redis is in use, 0 while the app does without it after a failure (its guard); "
    "the lowest of the live workers.",
    multiprocess_mode="livemin",
)
CACHE_LOOKUPS = Counter(
    "cache_lookups",
    "Cache-aside reads, by cache and result (hit, or miss: not cached, or Redis unavailable).",
    ["cache", "result"],
)
RATE_LIMITED = Counter(
    "rate_limit_rejections", "Requests refused with 429 by the per-client rate limit."
)
APP_INFO = Gauge(
    "app_build_info",
    "Always 1; the running version is its label.",
    ["version"],
    multiprocess_mode="max",
)

JOBS = Counter("jobs", "Jobs the worker ran, by task and outcome.", ["task", "outcome"])
JOB_DURATION = Histogram(
    "job_duration_seconds", "Time a job ran, by task.", ["task"], buckets=JOB_BUCKETS
)
# Computed from the queue store when scraped (app/observability/jobs.py), not counted here.
QUEUE_DEPTH = "queue_depth"
