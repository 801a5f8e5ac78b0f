"""Exports: a resource's rows written to CSV off the request path, by the worker. The job's
record lives in Postgres (the source of truth); the queue message carries only its id. A
resource offers an export by registering a ``CsvExport`` (app/items/export.py does)."""
