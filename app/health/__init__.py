"""Liveness and readiness endpoints, used by Docker, Compose and orchestrators."""
