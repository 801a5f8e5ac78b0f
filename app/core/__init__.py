"""What every process needs, one module per concern: settings, logging, the database, Redis,
errors and outages, API keys, middleware, the rate limit, metrics, the drain. It imports nothing
else of the app (pyproject.toml, [tool.importlinter])."""
