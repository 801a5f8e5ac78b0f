"""Metrics and traces that stay correct under gunicorn's pre-fork workers (README,
"Observability")."""
