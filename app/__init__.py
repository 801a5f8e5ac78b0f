"""The service: a FastAPI application on PostgreSQL and Redis."""
