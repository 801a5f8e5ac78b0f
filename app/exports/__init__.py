"""Exports, an add-on: a resource's rows written to CSV off the request path, by the job
worker. The job's record lives in Postgres (the source of truth); the queue message carries only
its id. A resource opts in with an entry in ``registry.EXPORTS``."""
