"""Metrics served and traces exported correctly under gunicorn's pre-fork server processes
(docs/operations.md). The metrics themselves are defined in app/core/metrics.py."""
