"""Cross-cutting plumbing: settings, logging, database, cache, errors, middleware."""
